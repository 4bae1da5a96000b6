/* The HTTPS API: the server certificate (ROOT/server.crt, made at first
 * start), the listener on core.https_address, its concrete addresses, and
 * the trust store checks every HTTPS request goes through. */
#pragma once

#include "daemon/daemon.h"

typedef struct FerryHttpsListener FerryHttpsListener;
typedef struct FerryPasswordGuard FerryPasswordGuard;

/* A pending trust token (api/certificates.c). */
typedef struct FerryTrustTokenEntry FerryTrustTokenEntry;
void ferry_trust_token_entry_free (FerryTrustTokenEntry *entry);

/* Serves a new HTTPS server with ferryd's handler and guards
 * (ferry_http_setup_server). */
typedef void (*FerryHttpsServerSetup) (FerryDaemon *d, SoupServer *server);

typedef struct FerryHttps
{
  FerryHttpsServerSetup setup;
  GTlsCertificate *cert; /* with its private key */
  char *cert_pem;
  char *fingerprint;
  SoupServer *server; /* NULL when core.https_address is unset */
  FerryHttpsListener *listener; /* its sockets (https-listener.c) */
  char *address;      /* the configured core.https_address */
  GPtrArray *tokens;  /* FerryTrustTokenEntry of pending trust tokens */
  FerryPasswordGuard *passwords; /* core.trust_password checks */
} FerryHttps;

/* Loads (or makes) the server certificate and opens the listener configured
 * in the DB. Also restricts TLS to 1.3, as lxc requires. */
gboolean ferry_https_init (FerryDaemon *d, FerryHttpsServerSetup setup, GError **error);
void ferry_https_shutdown (FerryDaemon *d);

/* Starts, moves or (address NULL/"") stops the listener. On error the old
 * listener keeps running. */
gboolean ferry_https_set_address (FerryDaemon *d, const char *address, GError **error);

/* Validates a core.https_address value. */
gboolean ferry_https_address_valid (const char *address, GError **error);

/* environment.addresses: host:port a client can dial (wildcards expanded to
 * the host's global addresses, as LXD does); empty when not listening. */
JsonNode *ferry_https_addresses_json (FerryDaemon *d);

/* The client certificate of msg's TLS connection, or NULL. */
GTlsCertificate *ferry_https_peer_certificate (SoupServerMessage *msg);
/* The client's IP address ("unknown" if msg did not come over HTTPS). */
const char *ferry_https_peer_address (SoupServerMessage *msg);

/* Trust: whether the TLS peer of msg presented a trusted client certificate.
 * fingerprint_out (may be NULL) gets the peer's fingerprint or NULL. */
gboolean ferry_trust_check (FerryDaemon *d, SoupServerMessage *msg, char **fingerprint_out);

