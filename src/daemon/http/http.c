#include "config.h"
#include "daemon/http/http.h"
#include "daemon/http/request.h"
#include "daemon/http/http-guard.h"
#include "daemon/http/https-listener.h"
#include "daemon/http/route.h"
#include "daemon/http/tls.h"
#include "daemon/http/unix-listener.h"
#include "daemon/http/wsconn.h"
#include "common/error.h"
#include "common/json.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  FerryWebsocketReady ready;
  FerryWebsocketRawReady raw_ready;
  gpointer user_data;
} UpgradeData;

static void
upgrade_written (SoupServerMessage *msg, gpointer user_data)
{
  UpgradeData *data = user_data;
  GSocket *sock = ferry_https_conn_socket (msg) != NULL ? ferry_https_conn_socket (msg) : ferry_unix_conn_socket (msg);
  GIOStream *stream = soup_server_message_steal_connection (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  SoupWebsocketConnection *conn;

  if (data->raw_ready != NULL)
    {
      /* Migration channels carry request/response exchanges (rsync, CRIU's
       * page server): Nagle's delay would cost 40 ms a turn. */
      if (sock != NULL)
        {
          ferry_ws_tune_socket (g_socket_get_fd (sock));
          g_object_set_data (G_OBJECT (stream), "ferry-socket-fd", GINT_TO_POINTER (g_socket_get_fd (sock) + 1));
        }
      data->raw_ready (stream, data->user_data);
      g_object_unref (stream);
      return;
    }
  conn = soup_websocket_connection_new (stream, uri, SOUP_WEBSOCKET_CONNECTION_SERVER, NULL, NULL, NULL);
  g_object_unref (stream);
  /* Clients (lxc) may stay silent for hours on the events socket. */
  soup_websocket_connection_set_keepalive_interval (conn, 0);
  soup_websocket_connection_set_max_incoming_payload_size (conn, 16 * 1024 * 1024);
  data->ready (conn, data->user_data);
  g_object_unref (conn);
}

static void
free_upgrade_data (gpointer data, GClosure *closure)
{
  g_free (data);
}

static gboolean
websocket_accept (SoupServerMessage *msg, FerryWebsocketReady ready, FerryWebsocketRawReady raw_ready,
                  gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  UpgradeData *data;

  if (!soup_websocket_server_check_handshake (msg, NULL, NULL, NULL, &error))
    {
      ferry_respond_error_literal (msg, 400, "This endpoint expects a websocket upgrade");
      return FALSE;
    }
  /* A 101 keeps its connection: it is not "Connection: close" (see
   * ferry_http_handle). */
  soup_message_headers_remove (soup_server_message_get_response_headers (msg), "Connection");
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    {
      ferry_respond_error_literal (msg, 400, "Websocket handshake failed");
      return FALSE;
    }
  data = g_new0 (UpgradeData, 1);
  data->ready = ready;
  data->raw_ready = raw_ready;
  data->user_data = user_data;
  g_signal_connect_data (msg, "wrote-informational", G_CALLBACK (upgrade_written), data, free_upgrade_data, 0);
  return TRUE;
}

gboolean
ferry_websocket_accept (SoupServerMessage *msg, FerryWebsocketReady ready, gpointer user_data)
{
  return websocket_accept (msg, ready, NULL, user_data);
}

gboolean
ferry_websocket_accept_raw (SoupServerMessage *msg, FerryWebsocketRawReady ready, gpointer user_data)
{
  return websocket_accept (msg, NULL, ready, user_data);
}

static FerryHttpHandler api_handler;

/* "1.2.3.4:5678" or "[::1]:5678", as Go prints a remote address. */
static char *
remote_address_text (SoupServerMessage *msg)
{
  GSocketAddress *addr = soup_server_message_get_remote_address (msg);
  g_autofree char *ip = NULL;

  if (!G_IS_INET_SOCKET_ADDRESS (addr))
    return g_strdup ("");
  ip = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr)));
  if (strchr (ip, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", ip, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr)));
  return g_strdup_printf ("%s:%u", ip, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr)));
}

/* Who asks, as LXD names them in lifecycle events: the local socket only
 * lets root in ("unix", "root", "@"); a TLS client is its certificate's
 * fingerprint at its address. */
static JsonNode *
request_requestor (FerryRequest *req)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *address = req->https ? remote_address_text (req->msg) : g_strdup ("@");

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, req->https ? (req->peer_fingerprint ? req->peer_fingerprint : "") : "root");
  json_builder_set_member_name (b, "protocol");
  json_builder_add_string_value (b, req->https ? "tls" : "unix");
  json_builder_set_member_name (b, "address");
  json_builder_add_string_value (b, address);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
ferry_http_setup_server (FerryDaemon *d, SoupServer *server)
{
  soup_server_add_handler (server, NULL, ferry_http_handle, d, NULL);
  ferry_http_guard_attach (d, server);
}

void
ferry_http_set_handler (FerryHttpHandler handler)
{
  api_handler = handler;
}

void
ferry_http_handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                   gpointer user_data)
{
  FerryDaemon *d = user_data;
  FerryRequest req = { 0 };
  g_autoptr (GPtrArray) parts = NULL;
  g_autoptr (GError) route_error = NULL;

  const char *peer_fingerprint = NULL;

  /* libsoup 3.2 never closes a kept-alive connection whose client goes
   * away between two requests (fixed in 3.3.0, d20c6601): one request per
   * connection, so that every connection ends with its response. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
  ferry_http_guard_request_read (msg);
  req.https = server != d->server;
  req.trusted = ferry_http_guard_trusted (msg, &peer_fingerprint);
  req.peer_fingerprint = peer_fingerprint;
  if (!req.https && !req.trusted)
    {
      ferry_respond_error_literal (msg, 403, "Only root may use the local socket");
      return;
    }

  req.daemon = d;
  req.msg = msg;
  req.method = soup_server_message_get_method (msg);
  req.query = query;

  if (g_strcmp0 (path, "/") == 0 || g_strcmp0 (path, "") == 0)
    {
      const char *urls[] = { "/1.0", NULL };
      ferry_respond_sync (msg, ferry_json_string_list (urls));
      return;
    }
  parts = ferry_route_split_path (path, &route_error);
  if (parts == NULL)
    {
      ferry_respond_error (msg, route_error);
      return;
    }
  req.parts = (char **) parts->pdata;
  req.n_parts = parts->len - 1;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  /* An upload streamed to a file (http-guard.c) has no body in memory. */
  req.body = body && soup_message_body_get_accumulate (body) ? soup_message_body_flatten (body) : NULL;

  d->requestor = request_requestor (&req);
  api_handler (&req);
  g_clear_pointer (&d->requestor, json_node_unref);
  g_clear_pointer (&req.body, g_bytes_unref);
}

gboolean
ferry_http_start (FerryDaemon *d, GError **error)
{
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (GError) local = NULL;

  /* raw-paths: libsoup would decode the path once before ferry_route_split_path. */
  d->server = soup_server_new ("server-header", "ferryd/" FERRY_VERSION, "raw-paths", TRUE, NULL);
  ferry_http_setup_server (d, d->server);

  /* A socket left by a previous ferryd (crashed, SIGKILLed) is stale: remove it. */
  if (unlink (d->layout->socket) < 0 && errno != ENOENT)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing old socket %s: %s", d->layout->socket,
                   g_strerror (errno));
      return FALSE;
    }
  sock = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &local);
  if (sock == NULL)
    goto fail;
  addr = g_unix_socket_address_new (d->layout->socket);
  /* Bursts of clients (parallel launches and execs) must queue, not fail
   * with EAGAIN as they did with GLib's default backlog of 10. */
  g_socket_set_listen_backlog (sock, SOMAXCONN);
  /* 0600 from ferryd's umask (0077, set once at start): root only. */
  if (!g_socket_bind (sock, addr, TRUE, &local) || !g_socket_listen (sock, &local))
    goto fail;
  ferry_unix_listener_start (d->server, sock);
  return TRUE;

fail:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Listening on %s: %s", d->layout->socket, local->message);
  return FALSE;
}
