/* X.509 certificates of the HTTPS API: generation (server and client, as LXD
 * makes them) and SHA-256 fingerprints, the identity trust is keyed on. */
#pragma once

#include <gio/gio.h>

typedef enum
{
  FERRY_CERT_SERVER, /* DNS SAN = hostname, EKU serverAuth + clientAuth */
  FERRY_CERT_CLIENT, /* no SAN, EKU clientAuth (lxc's client.crt) */
} FerryCertKind;

/* Writes a self-signed EC P-384 certificate valid for 10 years (PEM) and its
 * key (mode 0600). common_name is "root@host" style. */
gboolean ferry_cert_generate (const char *cert_path, const char *key_path, FerryCertKind kind,
                              const char *common_name, GError **error);

/* SHA-256 of the certificate's DER, lowercase hex. */
char *ferry_cert_fingerprint (GTlsCertificate *cert);
/* Same for a PEM text; NULL and an error if it is not a certificate. */
char *ferry_cert_fingerprint_pem (const char *pem, GError **error);
/* The PEM text of a certificate. */
char *ferry_cert_pem (GTlsCertificate *cert);
/* A certificate as POST /1.0/certificates carries it: PEM, or the base64 of
 * its DER (what lxc sends). NULL and an error if it is not a certificate. */
GTlsCertificate *ferry_cert_parse (const char *text, GError **error);

/* core.trust_password is stored as a salted scrypt hash, as LXD does:
 * hex (salt || scrypt (password, salt)). */
char *ferry_trust_hash_password (const char *password);
gboolean ferry_trust_password_matches (const char *stored, const char *password);

/* Trust tokens (lxc config trust add / lxc remote add NAME TOKEN): base64 of
 * {"client_name","fingerprint","addresses","secret","expires_at"}. */
char *ferry_trust_token_encode (const char *client_name, const char *fingerprint, const char *const *addresses,
                                const char *secret, const char *expires_at);
typedef struct
{
  char *client_name;
  char *fingerprint;
  char **addresses;
  char *secret;
  char *expires_at;
} FerryTrustToken;
void ferry_trust_token_free (FerryTrustToken *token);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryTrustToken, ferry_trust_token_free)
/* NULL (with an error) when text is not a token. */
FerryTrustToken *ferry_trust_token_decode (const char *text, GError **error);
