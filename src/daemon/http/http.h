/* Routing and LXD's response envelopes (sync, async, error). */
#pragma once

#include "daemon/daemon.h"

typedef struct
{
  FerryDaemon *daemon;
  SoupServerMessage *msg;
  const char *method;
  char **parts;       /* decoded path segments after "/1.0/" */
  guint n_parts;
  GHashTable *query;  /* decoded query parameters, may be NULL */
  GBytes *body;
  gboolean https;         /* came over the HTTPS listener (else the unix socket) */
  gboolean trusted;       /* unix socket (root), or a trusted client certificate */
  const char *peer_fingerprint; /* HTTPS: the client certificate's, or NULL */
} FerryRequest;

/* Query parameter or NULL. */
const char *ferry_request_query (FerryRequest *req, const char *key);
/* recursion=N, default 0. */
int ferry_request_recursion (FerryRequest *req);
/* Parses the body as a JSON object (error if it is not one). */
JsonObject *ferry_request_json (FerryRequest *req, gboolean allow_empty, GError **error);

void ferry_respond_sync (SoupServerMessage *msg, JsonNode *metadata);          /* takes metadata */
void ferry_respond_sync_etag (SoupServerMessage *msg, JsonNode *metadata, const char *etag);
void ferry_respond_error (SoupServerMessage *msg, const GError *error);
void ferry_respond_error_literal (SoupServerMessage *msg, int status, const char *message);
/* The text of an error envelope, for answers written outside libsoup. */
char *ferry_json_error_text (int status, const char *message);
/* 202 with the operation object OPERATION (taken), at URL (Location). */
void ferry_respond_async_json (SoupServerMessage *msg, const char *url, JsonNode *operation);
void ferry_respond_raw (SoupServerMessage *msg, const char *content_type, GBytes *bytes);

/* Request body: method-not-allowed, sent for unknown verbs on a known path. */
void ferry_respond_not_allowed (SoupServerMessage *msg);

/* Checks an incoming request is a valid websocket handshake and, if so,
 * answers it and calls ready() with the new connection once the upgrade
 * response is written. Returns FALSE (and responds with an error) when it is
 * not a websocket request. */
typedef void (*FerryWebsocketReady) (SoupWebsocketConnection *conn, gpointer user_data);
gboolean ferry_websocket_accept (SoupServerMessage *msg, FerryWebsocketReady ready, gpointer user_data);
/* The same, handing over the upgraded stream itself (migration channels are
 * read by worker threads, see wsconn.h). */
typedef void (*FerryWebsocketRawReady) (GIOStream *stream, gpointer user_data);
gboolean ferry_websocket_accept_raw (SoupServerMessage *msg, FerryWebsocketRawReady ready, gpointer user_data);

/* JSON builder shortcuts. */
JsonNode *ferry_json_string_list (const char *const *items);
JsonNode *ferry_json_url_list (const char *prefix, GPtrArray *names);

/* What answers a request once it is parsed and its client known (the API's
 * routes, src/daemon/api): set before ferry_http_start. */
typedef void (*FerryHttpHandler) (FerryRequest *req);
void ferry_http_set_handler (FerryHttpHandler handler);

gboolean ferry_http_start (FerryDaemon *d, GError **error);
/* The request handler of both the unix socket and the HTTPS listener. */
void ferry_http_handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                        gpointer user_data);
