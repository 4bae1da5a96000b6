/* The unix socket and the handler of both listeners: a request parsed
 * (request.h), its client known, handed to the API; websocket upgrades. */
#pragma once

#include "daemon/daemon.h"
#include "daemon/http/request.h"

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


/* What answers a request once it is parsed and its client known (the API's
 * routes, src/daemon/api): set before ferry_http_start. */
typedef void (*FerryHttpHandler) (FerryRequest *req);
void ferry_http_set_handler (FerryHttpHandler handler);
/* Serves SERVER (the unix socket's, or the HTTPS listener's) with ferryd's
 * handler and guards. */
void ferry_http_setup_server (FerryDaemon *d, SoupServer *server);

gboolean ferry_http_start (FerryDaemon *d, GError **error);
/* The request handler of both the unix socket and the HTTPS listener. */
void ferry_http_handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                        gpointer user_data);
