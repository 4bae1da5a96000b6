/* What a request may send, decided from its headers before its body is read:
 * who the client is (root on the unix socket, a trusted certificate over
 * HTTPS), and a cap on its body. A request refused there (403, 413) is
 * answered at once and its connection closed, its body never read. Image
 * uploads and backup imports (lxc import) are the bodies without a cap:
 * they stream to a file, stopped before they fill the disk. */
#pragma once

#include "daemon/daemon.h"

/* Bodies of untrusted clients (a certificate and a password or token). */
#define FERRY_HTTP_UNTRUSTED_BODY_MAX (64 * 1024)
/* Bodies of trusted clients, image uploads excepted (JSON documents). */
#define FERRY_HTTP_TRUSTED_BODY_MAX (16 * 1024 * 1024)

/* Guards every request of server (the unix socket or an HTTPS listener). */
void ferry_http_guard_attach (FerryDaemon *d, SoupServer *server);

/* The client's standing, decided when msg's headers arrived. fingerprint_out
 * (may be NULL) gets the client certificate's fingerprint (HTTPS), owned by
 * msg. */
gboolean ferry_http_guard_trusted (SoupServerMessage *msg, const char **fingerprint_out);

/* Called by the handler: the request is read, the server's turn. */
void ferry_http_guard_request_read (SoupServerMessage *msg);

/* The file an image upload's body was streamed to (under ROOT/images), now
 * the caller's to use and remove, and its size; NULL if msg had none. */
char *ferry_http_guard_steal_upload (SoupServerMessage *msg, goffset *size_out);
