/* Certificates, fingerprints, trust password hashes and trust tokens. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "common/cert.h"
#include "common/error.h"

static void
test_generate_and_fingerprint (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-cert-XXXXXX", NULL);
  g_autofree char *crt = g_build_filename (dir, "server.crt", NULL);
  g_autofree char *key = g_build_filename (dir, "server.key", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsCertificate) cert = NULL;
  g_autofree char *pem = NULL, *fp = NULL, *fp2 = NULL, *subject = NULL;
  g_autoptr (GDateTime) after = NULL;
  GStatBuf st;

  g_assert_true (ferry_cert_generate (crt, key, FERRY_CERT_SERVER, "root@test", &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (key, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  cert = g_tls_certificate_new_from_files (crt, key, &error);
  g_assert_no_error (error);
  fp = ferry_cert_fingerprint (cert);
  g_assert_cmpuint (strlen (fp), ==, 64);
  pem = ferry_cert_pem (cert);
  fp2 = ferry_cert_fingerprint_pem (pem, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fp, ==, fp2);
  g_object_get (cert, "subject-name", &subject, "not-valid-after", &after, NULL);
  g_assert_nonnull (strstr (subject, "CN=root@test"));
  g_assert_cmpint (g_date_time_get_year (after), >=, g_date_time_get_year (g_date_time_new_now_utc ()) + 9);
  g_assert_null (ferry_cert_fingerprint_pem ("not a certificate", NULL));
  g_unlink (crt);
  g_unlink (key);
  g_rmdir (dir);
}

/* lxc sends base64 DER of any length; the PEM rebuilt from it must hold
 * exactly that DER whatever the length of its last line (each CN length
 * gives another DER length). The old loop read past the base64's NUL
 * when the last line was short, and the heap bytes after it sometimes went
 * into the PEM ("Base64 unexpected header error" 1 run in 10-30). */
static void
test_parse_base64_der (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-cert-XXXXXX", NULL);
  g_autofree char *crt = g_build_filename (dir, "client.crt", NULL);
  g_autofree char *key = g_build_filename (dir, "client.key", NULL);
  guint residues = 0;

  /* The CN grows the DER a byte at a time up to 64 characters, and ECDSA
   * signatures vary in length too: rounds until every length was seen. */
  for (guint attempt = 0; residues != 0xffff && attempt < 640; attempt++)
    {
      g_autofree char *cn = g_strnfill (1 + attempt % 64, 'c');
      g_autoptr (GError) error = NULL;
      g_autoptr (GTlsCertificate) cert = NULL, parsed = NULL, from_pem = NULL;
      g_autoptr (GByteArray) der = NULL, parsed_der = NULL;
      g_autofree char *b64 = NULL, *pem = NULL;

      g_assert_true (ferry_cert_generate (crt, key, FERRY_CERT_CLIENT, cn, &error));
      g_assert_no_error (error);
      cert = g_tls_certificate_new_from_file (crt, &error);
      g_assert_no_error (error);
      g_object_get (cert, "certificate", &der, NULL);
      b64 = g_base64_encode (der->data, der->len);
      residues |= 1u << (strlen (b64) % 64 / 4);
      parsed = ferry_cert_parse (b64, &error);
      g_assert_no_error (error);
      g_object_get (parsed, "certificate", &parsed_der, NULL);
      g_assert_cmpmem (parsed_der->data, parsed_der->len, der->data, der->len);
      pem = ferry_cert_pem (cert);
      from_pem = ferry_cert_parse (pem, &error);
      g_assert_no_error (error);
      g_assert_true (g_tls_certificate_is_same (from_pem, cert));
    }
  /* Every length of last line (base64 comes in fours) was tried. */
  g_assert_cmpuint (residues, ==, 0xffff);
  g_assert_null (ferry_cert_parse ("!!!!", NULL));
  g_assert_null (ferry_cert_parse ("AAAA", NULL));
  g_assert_null (ferry_cert_parse ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", NULL));
  g_unlink (crt);
  g_unlink (key);
  g_rmdir (dir);
}

static void
test_password_hash (void)
{
  g_autofree char *a = ferry_trust_hash_password ("sekret");
  g_autofree char *b = ferry_trust_hash_password ("sekret");

  g_assert_nonnull (a);
  g_assert_cmpstr (a, !=, b); /* salted */
  g_assert_null (strstr (a, "sekret"));
  g_assert_true (ferry_trust_password_matches (a, "sekret"));
  g_assert_true (ferry_trust_password_matches (b, "sekret"));
  g_assert_false (ferry_trust_password_matches (a, "wrong"));
  g_assert_false (ferry_trust_password_matches (a, ""));
  g_assert_false (ferry_trust_password_matches ("zz", "sekret"));
  g_assert_false (ferry_trust_password_matches (NULL, "sekret"));
}

static void
test_token_round_trip (void)
{
  const char *addresses[] = { "192.0.2.1:8443", "[2001:db8::1]:8443", NULL };
  g_autofree char *text = ferry_trust_token_encode ("dakara", "abcd", addresses, "s3cret", NULL);
  g_autoptr (FerryTrustToken) token = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree guchar *json = NULL;
  gsize len;

  token = ferry_trust_token_decode (text, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token->client_name, ==, "dakara");
  g_assert_cmpstr (token->fingerprint, ==, "abcd");
  g_assert_cmpstr (token->secret, ==, "s3cret");
  g_assert_cmpstr (token->expires_at, ==, "0001-01-01T00:00:00Z");
  g_assert_cmpuint (g_strv_length (token->addresses), ==, 2);
  g_assert_cmpstr (token->addresses[1], ==, "[2001:db8::1]:8443");
  /* The exact member names lxc decodes (shared/api/certificate.go). */
  json = g_base64_decode (text, &len);
  g_assert_nonnull (strstr ((char *) json, "\"client_name\":\"dakara\""));
  g_assert_nonnull (strstr ((char *) json, "\"expires_at\""));
}

static void
test_token_decode_lxd (void)
{
  /* A token as LXD 5.0 prints it (fields in Go's struct order). */
  const char *json = "{\"client_name\":\"c\",\"fingerprint\":\"ff\",\"addresses\":[\"10.0.0.1:8443\"],"
                     "\"secret\":\"x\",\"expires_at\":\"0001-01-01T00:00:00Z\"}";
  g_autofree char *text = g_base64_encode ((const guchar *) json, strlen (json));
  g_autoptr (FerryTrustToken) token = ferry_trust_token_decode (text, NULL);

  g_assert_nonnull (token);
  g_assert_cmpstr (token->addresses[0], ==, "10.0.0.1:8443");
  g_assert_null (ferry_trust_token_decode ("127.0.0.1:8443", NULL));
  g_assert_null (ferry_trust_token_decode ("sekret", NULL));
  g_assert_null (ferry_trust_token_decode ("", NULL));
}

/* Issue 9: a token is untrusted JSON too (POST /1.0/certificates decodes
 * the password as one): deep nesting, comments and wrong types are
 * "Invalid trust token", not a crash. */
static void
test_token_decode_hostile (void)
{
  g_autoptr (GString) deep = g_string_new (NULL);
  const char *hostile[] = {
    "{\"secret\":5}",
    "{\"secret\":\"x\",\"client_name\":[]}",
    "{\"secret\":\"x\",\"addresses\":\"10.0.0.1\"}",
    "/* */ {\"secret\":\"x\"}",
    "{'secret':'x'}",
  };

  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  {
    g_autofree char *text = g_base64_encode ((const guchar *) deep->str, deep->len);
    g_autoptr (GError) error = NULL;
    g_assert_null (ferry_trust_token_decode (text, &error));
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (hostile); i++)
    {
      g_autofree char *text = g_base64_encode ((const guchar *) hostile[i], strlen (hostile[i]));
      g_autoptr (GError) error = NULL;
      g_assert_null (ferry_trust_token_decode (text, &error));
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cert/generate-fingerprint", test_generate_and_fingerprint);
  g_test_add_func ("/cert/parse-base64-der", test_parse_base64_der);
  g_test_add_func ("/cert/password-hash", test_password_hash);
  g_test_add_func ("/cert/token-round-trip", test_token_round_trip);
  g_test_add_func ("/cert/token-decode-lxd", test_token_decode_lxd);
  g_test_add_func ("/cert/token-decode-hostile", test_token_decode_hostile);
  return g_test_run ();
}
