/* The REST client: requests over the daemon's unix socket, LXD's response
 * envelope, operations waited through /1.0/events, operation websockets. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "remote.h"

typedef struct FerryClient FerryClient;

FerryClient *ferry_client_new (const FerryRemote *remote, const char *project, GError **error);
void ferry_client_free (FerryClient *client);

/* The certificate an HTTPS server presents (GET / without verification and
 * without a client certificate, as lxc remote add does). */
GTlsCertificate *ferry_client_fetch_certificate (const char *addr, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryClient, ferry_client_free)

/* Sends a request and returns the envelope's "metadata" (a JSON null node
 * when there is none). body may be NULL. A "type":"error" envelope becomes a
 * FERRY_ERROR whose code is the HTTP status and whose message is LXD's. */
JsonNode *ferry_client_query (FerryClient *client, const char *method, const char *path, JsonNode *body,
                              const char *if_match, char **etag_out, GError **error);

/* Shorthands for GET returning an object / array (error when the metadata has
 * another type). */
JsonObject *ferry_client_get_object (FerryClient *client, const char *path, char **etag_out, GError **error);
JsonArray *ferry_client_get_array (FerryClient *client, const char *path, GError **error);

/* A raw (non-JSON) GET, such as a log file. */
GBytes *ferry_client_get_raw (FerryClient *client, const char *path, GError **error);

/* A GET whose successful answer is a file (not JSON), saved as file: it is
 * written beside it as "<file>.part" and renamed once complete, so a failed
 * download leaves nothing. An error answer is LXD's JSON envelope, as for
 * any request; a JSON answer that is not an error is refused too (the
 * endpoint is missing or answered something else). size_out may be NULL. */
gboolean ferry_client_download (FerryClient *client, const char *path, const char *file, goffset *size_out,
                                GError **error);

/* A GET whose 200 answer is read as a stream (LXD's file API: a file's
 * bytes, or a directory's listing as JSON): the body, and the answer's
 * headers in *HEADERS_OUT (a new reference). An error answer is LXD's
 * envelope, turned into ERROR. */
GInputStream *ferry_client_get_stream (FerryClient *client, const char *path, SoupMessageHeaders **headers_out,
                                       GError **error);
/* A request whose body is streamed from BODY (SIZE bytes; -1: unknown), with
 * HEADERS (may be NULL); returns the envelope's metadata. */
JsonNode *ferry_client_send_stream (FerryClient *client, const char *method, const char *path, GInputStream *body,
                                    goffset size, GHashTable *headers, GError **error);

/* The remote's "https://host:port", or NULL for a unix socket remote. */
const char *ferry_client_https_url (FerryClient *client);
/* The certificate a migration peer must pin to reach this daemon (lxc's
 * GetConnectionInfo): the pinned servercerts/<remote>.crt of an HTTPS
 * remote, the daemon's own environment.certificate over the unix socket;
 * "" when there is none. */
char *ferry_client_certificate_pem (FerryClient *client);
/* Whether two clients reach the same daemon the same way (URL and socket),
 * so that a copy between them is a local copy. */
gboolean ferry_client_same_server (FerryClient *a, FerryClient *b);

/* GET /1.0, cached. */
JsonObject *ferry_client_server (FerryClient *client, GError **error);
gboolean ferry_client_has_extension (FerryClient *client, const char *extension);

/* Starts a request that returns an operation: opens the events websocket
 * first, like lxc, so that no event is missed. Returns the operation object. */
JsonObject *ferry_client_operation (FerryClient *client, const char *method, const char *path, JsonNode *body,
                                    GError **error);
/* Same, sent with If-Match: IF_MATCH (the ETag of the GET the change was
 * made from; NULL: none), so that the server refuses it with 412 when the
 * object changed meanwhile. */
JsonObject *ferry_client_operation_if_match (FerryClient *client, const char *method, const char *path,
                                             JsonNode *body, const char *if_match, GError **error);
/* Same, but the request body is a file streamed from disk. */
JsonObject *ferry_client_operation_upload (FerryClient *client, const char *path, const char *file,
                                           GHashTable *headers, GError **error);

/* Called with each update of the operation while waiting (progress). */
typedef void (*FerryOperationProgress) (JsonObject *operation, gpointer user_data);

/* Waits until the operation is final: one GET /1.0/operations/<id>, then the
 * operation's events (falling back to /1.0/operations/<id>/wait when the
 * events websocket cannot be opened). Returns the final operation object, or
 * NULL with the operation's "err" as the error message. An operation that is
 * already final in the response returns at once. ended_before_wait (may be
 * NULL) tells whether the operation had ended before any waiting: lxc
 * reports such failures without its "Try `lxc info --show-log`" hint. */
JsonObject *ferry_client_wait (FerryClient *client, JsonObject *operation, FerryOperationProgress progress,
                               gpointer user_data, gboolean *ended_before_wait, GError **error);
/* ferry_client_wait for a request's operation, taken (NULL: the request
 * failed, ERROR is set): TRUE when the operation succeeded. */
gboolean ferry_client_await (FerryClient *client, JsonObject *operation, GError **error);

/* Opens /1.0/operations/<id>/websocket?secret=<secret>. */
SoupWebsocketConnection *ferry_client_operation_websocket (FerryClient *client, const char *operation_id,
                                                           const char *secret, GError **error);

/* Percent-encodes one path segment (alias names may contain '/'). */
char *ferry_client_escape (const char *segment);

/* The last '/'-separated part of an API URL ("/1.0/instances/c1" → "c1"). */
const char *ferry_url_last_part (const char *url);

/* Status code of an operation or instance object (0 when absent). */
gint64 ferry_object_status_code (JsonObject *object);
