#include "common/cert.h"
#include "common/error.h"
#include "common/json.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <unistd.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BIGNUM, BN_free)

static gboolean
openssl_fail (GError **error, const char *what)
{
  char buf[256] = "unknown error";
  unsigned long e = ERR_get_error ();

  if (e != 0)
    ERR_error_string_n (e, buf, sizeof buf);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Generating certificate: %s: %s", what, buf);
  return FALSE;
}

static gboolean
add_extension (X509 *cert, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509_EXTENSION *ext;
  int ok;

  X509V3_set_ctx_nodb (&ctx);
  X509V3_set_ctx (&ctx, cert, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid (NULL, &ctx, nid, value);
  if (ext == NULL)
    return FALSE;
  ok = X509_add_ext (cert, ext, -1);
  X509_EXTENSION_free (ext);
  return ok == 1;
}

static gboolean
write_pem (const char *path, mode_t mode, gboolean is_key, EVP_PKEY *key, X509 *cert, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  FILE *f;
  int ok;

  if (fd < 0 || (f = fdopen (fd, "w")) == NULL)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  ok = is_key ? PEM_write_PrivateKey (f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509 (f, cert);
  if (fclose (f) != 0 || !ok || rename (tmp, path) < 0)
    {
      unlink (tmp);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s failed", path);
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_cert_generate (const char *cert_path, const char *key_path, FerryCertKind kind, const char *common_name,
                     GError **error)
{
  g_autoptr (EVP_PKEY) key = EVP_EC_gen ("P-384");
  g_autoptr (X509) cert = X509_new ();
  g_autoptr (BIGNUM) serial = BN_new ();
  X509_NAME *subject;
  g_autofree char *san = NULL;

  if (key == NULL || cert == NULL || serial == NULL)
    return openssl_fail (error, "key");
  if (!X509_set_version (cert, 2) || !BN_rand (serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
      || BN_to_ASN1_INTEGER (serial, X509_get_serialNumber (cert)) == NULL)
    return openssl_fail (error, "serial");
  X509_gmtime_adj (X509_getm_notBefore (cert), -60);
  X509_gmtime_adj (X509_getm_notAfter (cert), 10L * 365 * 24 * 3600);
  subject = X509_get_subject_name (cert);
  X509_NAME_add_entry_by_txt (subject, "O", MBSTRING_UTF8, (const unsigned char *) "Ferry", -1, -1, 0);
  X509_NAME_add_entry_by_txt (subject, "CN", MBSTRING_UTF8, (const unsigned char *) common_name, -1, -1, 0);
  X509_set_issuer_name (cert, subject);
  X509_set_pubkey (cert, key);
  if (!add_extension (cert, NID_basic_constraints, "critical,CA:FALSE")
      || !add_extension (cert, NID_key_usage, "critical,digitalSignature,keyEncipherment"))
    return openssl_fail (error, "extensions");
  if (kind == FERRY_CERT_SERVER)
    {
      /* lxc sets the TLS server name to the first DNS SAN and verifies it;
       * an EKU list must include serverAuth (lxd-client-api.md 7). clientAuth
       * too, so the daemon can present it to another ferryd. */
      san = g_strdup_printf ("DNS:%s", g_get_host_name ());
      if (!add_extension (cert, NID_ext_key_usage, "serverAuth,clientAuth")
          || !add_extension (cert, NID_subject_alt_name, san))
        return openssl_fail (error, "extensions");
    }
  else if (!add_extension (cert, NID_ext_key_usage, "clientAuth"))
    return openssl_fail (error, "extensions");
  if (X509_sign (cert, key, EVP_sha384 ()) == 0)
    return openssl_fail (error, "signing");
  return write_pem (key_path, 0600, TRUE, key, NULL, error) && write_pem (cert_path, 0644, FALSE, NULL, cert, error);
}

char *
ferry_cert_fingerprint (GTlsCertificate *cert)
{
  g_autoptr (GByteArray) der = NULL;

  g_object_get (cert, "certificate", &der, NULL);
  if (der == NULL)
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, der->data, der->len);
}

char *
ferry_cert_fingerprint_pem (const char *pem, GError **error)
{
  g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_pem (pem, -1, error);

  if (cert == NULL)
    return NULL;
  return ferry_cert_fingerprint (cert);
}

char *
ferry_cert_pem (GTlsCertificate *cert)
{
  char *pem = NULL;

  g_object_get (cert, "certificate-pem", &pem, NULL);
  return pem;
}

GTlsCertificate *
ferry_cert_parse (const char *text, GError **error)
{
  g_autofree guchar *der = NULL;
  g_autofree char *b64 = NULL;
  g_autoptr (GString) pem = NULL;
  gsize len = 0, b64_len;

  if (g_str_has_prefix (text, "-----BEGIN"))
    return g_tls_certificate_new_from_pem (text, -1, error);
  der = g_base64_decode (text, &len);
  if (len == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid certificate");
      return NULL;
    }
  /* GIO takes PEM only: the DER re-encoded in 64-character lines. The bound
   * is the length, not a NUL looked for at each step of 64: a last line
   * shorter than 64 would step past the NUL and read the heap after it. */
  b64 = g_base64_encode (der, len);
  b64_len = strlen (b64);
  pem = g_string_new ("-----BEGIN CERTIFICATE-----\n");
  for (gsize i = 0; i < b64_len; i += 64)
    {
      g_string_append_len (pem, b64 + i, (gssize) MIN (64, b64_len - i));
      g_string_append_c (pem, '\n');
    }
  g_string_append (pem, "-----END CERTIFICATE-----\n");
  return g_tls_certificate_new_from_pem (pem->str, -1, error);
}

#define SALT_LEN 32
#define HASH_LEN 64

static gboolean
scrypt_hash (const char *password, const guint8 *salt, guint8 *out)
{
  /* LXD's parameters: scrypt.Key (password, salt, 1<<14, 8, 1, 64). */
  return EVP_PBE_scrypt (password, strlen (password), salt, SALT_LEN, 1 << 14, 8, 1, 0, out, HASH_LEN) == 1;
}

static char *
to_hex (const guint8 *data, gsize len)
{
  GString *s = g_string_sized_new (len * 2);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

char *
ferry_trust_hash_password (const char *password)
{
  guint8 buf[SALT_LEN + HASH_LEN];

  if (RAND_bytes (buf, SALT_LEN) != 1 || !scrypt_hash (password, buf, buf + SALT_LEN))
    return NULL;
  return to_hex (buf, sizeof buf);
}

gboolean
ferry_trust_password_matches (const char *stored, const char *password)
{
  guint8 buf[SALT_LEN + HASH_LEN];
  guint8 hash[HASH_LEN];

  if (stored == NULL || password == NULL || strlen (stored) != 2 * sizeof buf)
    return FALSE;
  for (gsize i = 0; i < sizeof buf; i++)
    {
      int hi = g_ascii_xdigit_value (stored[2 * i]), lo = g_ascii_xdigit_value (stored[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return FALSE;
      buf[i] = (guint8) (hi << 4 | lo);
    }
  if (!scrypt_hash (password, buf, hash))
    return FALSE;
  return CRYPTO_memcmp (hash, buf + SALT_LEN, HASH_LEN) == 0;
}

char *
ferry_trust_token_encode (const char *client_name, const char *fingerprint, const char *const *addresses,
                          const char *secret, const char *expires_at)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "client_name");
  json_builder_add_string_value (b, client_name);
  json_builder_set_member_name (b, "fingerprint");
  json_builder_add_string_value (b, fingerprint);
  json_builder_set_member_name (b, "addresses");
  json_builder_begin_array (b);
  for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++)
    json_builder_add_string_value (b, addresses[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "secret");
  json_builder_add_string_value (b, secret);
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_string_value (b, expires_at != NULL ? expires_at : "0001-01-01T00:00:00Z");
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  return g_base64_encode ((const guchar *) text, strlen (text));
}

void
ferry_trust_token_free (FerryTrustToken *token)
{
  if (token == NULL)
    return;
  g_free (token->client_name);
  g_free (token->fingerprint);
  g_strfreev (token->addresses);
  g_free (token->secret);
  g_free (token->expires_at);
  g_free (token);
}

/* A token's members, read with the type checks: "secret": 5 must make the
 * token invalid, not a NULL string. */
static FerryTrustToken *
token_from_object (JsonObject *o)
{
  g_autoptr (FerryTrustToken) token = g_new0 (FerryTrustToken, 1);
  const char *client_name = "", *fingerprint = "", *secret = "", *expires_at = "";
  JsonArray *addrs = NULL;
  guint n = 0;

  if (!ferry_json_get_string (o, "client_name", &client_name, NULL)
      || !ferry_json_get_string (o, "fingerprint", &fingerprint, NULL)
      || !ferry_json_get_string (o, "secret", &secret, NULL)
      || !ferry_json_get_string (o, "expires_at", &expires_at, NULL)
      || !ferry_json_get_array (o, "addresses", &addrs, NULL) || secret[0] == '\0')
    return NULL;
  token->client_name = g_strdup (client_name);
  token->fingerprint = g_strdup (fingerprint);
  token->secret = g_strdup (secret);
  token->expires_at = g_strdup (expires_at);
  token->addresses = g_new0 (char *, (addrs ? json_array_get_length (addrs) : 0) + 1);
  for (guint i = 0; addrs != NULL && i < json_array_get_length (addrs); i++)
    {
      JsonNode *e = json_array_get_element (addrs, i);
      if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
        token->addresses[n++] = g_strdup (json_node_get_string (e));
    }
  return g_steal_pointer (&token);
}

FerryTrustToken *
ferry_trust_token_decode (const char *text, GError **error)
{
  g_autofree guchar *raw = NULL;
  g_autoptr (JsonObject) o = NULL;
  FerryTrustToken *token;
  gsize len = 0;

  /* g_base64_decode never fails: check the alphabet first. */
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
      goto invalid;
  raw = g_base64_decode (text, &len);
  if (len == 0 || (o = ferry_json_parse_object ((const char *) raw, len, FALSE, NULL)) == NULL
      || (token = token_from_object (o)) == NULL)
    goto invalid;
  return token;

invalid:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid trust token");
  return NULL;
}
