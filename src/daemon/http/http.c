#include "config.h"
#include "daemon/http/http.h"
#include "daemon/http/http-guard.h"
#include "daemon/http/https-listener.h"
#include "daemon/http/route.h"
#include "daemon/http/tls.h"
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

const char *
ferry_request_query (FerryRequest *req, const char *key)
{
  return req->query ? g_hash_table_lookup (req->query, key) : NULL;
}

int
ferry_request_recursion (FerryRequest *req)
{
  const char *r = ferry_request_query (req, "recursion");

  if (r == NULL)
    return 0;
  return (int) CLAMP (g_ascii_strtoll (r, NULL, 10), 0, 2);
}

JsonObject *
ferry_request_json (FerryRequest *req, gboolean allow_empty, GError **error)
{
  gsize len = 0;
  const char *data = req->body ? g_bytes_get_data (req->body, &len) : NULL;

  return ferry_json_parse_object (data, len, allow_empty, error);
}

static void
respond_json (SoupServerMessage *msg, int status, JsonNode *envelope)
{
  g_autofree char *text = ferry_json_to_string (envelope, FALSE);
  gsize len = strlen (text);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, g_strconcat (text, "\n", NULL),
                                    len + 1);
}

void
ferry_respond_sync_etag (SoupServerMessage *msg, JsonNode *metadata, const char *etag)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "sync");
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "Success");
  json_builder_set_member_name (b, "status_code");
  json_builder_add_int_value (b, 200);
  json_builder_set_member_name (b, "operation");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "error_code");
  json_builder_add_int_value (b, 0);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "metadata");
  json_builder_add_value (b, metadata ? metadata : json_node_new (JSON_NODE_NULL));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  if (etag != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "ETag", etag);
  respond_json (msg, 200, root);
}

void
ferry_respond_sync (SoupServerMessage *msg, JsonNode *metadata)
{
  ferry_respond_sync_etag (msg, metadata, NULL);
}

static JsonNode *
error_envelope (int status, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "error");
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
  json_builder_set_member_name (b, "error_code");
  json_builder_add_int_value (b, status);
  json_builder_set_member_name (b, "metadata");
  json_builder_add_null_value (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
ferry_json_error_text (int status, const char *message)
{
  g_autoptr (JsonNode) root = error_envelope (status, message);
  g_autofree char *text = ferry_json_to_string (root, FALSE);

  return g_strconcat (text, "\n", NULL);
}

void
ferry_respond_error_literal (SoupServerMessage *msg, int status, const char *message)
{
  g_autoptr (JsonNode) root = error_envelope (status, message);

  respond_json (msg, status, root);
}

void
ferry_respond_error (SoupServerMessage *msg, const GError *error)
{
  int status = ferry_error_http_status (error);

  if (status >= 500)
    g_warning ("%s %s: %s", soup_server_message_get_method (msg),
               g_uri_get_path (soup_server_message_get_uri (msg)), error->message);
  ferry_respond_error_literal (msg, status, error->message);
}

void
ferry_respond_not_allowed (SoupServerMessage *msg)
{
  ferry_respond_error_literal (msg, 405, "Method not allowed");
}

void
ferry_respond_async_json (SoupServerMessage *msg, const char *url, JsonNode *operation)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "async");
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "Operation created");
  json_builder_set_member_name (b, "status_code");
  json_builder_add_int_value (b, 100);
  json_builder_set_member_name (b, "operation");
  json_builder_add_string_value (b, url);
  json_builder_set_member_name (b, "error_code");
  json_builder_add_int_value (b, 0);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "metadata");
  json_builder_add_value (b, operation);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location", url);
  respond_json (msg, 202, root);
}

void
ferry_respond_raw (SoupServerMessage *msg, const char *content_type, GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, data ? data : "", len);
}

JsonNode *
ferry_json_string_list (const char *const *items)
{
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; items != NULL && items[i] != NULL; i++)
    json_array_add_string_element (arr, items[i]);
  json_node_take_array (node, arr);
  return node;
}

JsonNode *
ferry_json_url_list (const char *prefix, GPtrArray *names)
{
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; names != NULL && i < names->len; i++)
    {
      g_autofree char *escaped = g_uri_escape_string (g_ptr_array_index (names, i), NULL, FALSE);
      g_autofree char *url = g_strconcat (prefix, escaped, NULL);
      json_array_add_string_element (arr, url);
    }
  json_node_take_array (node, arr);
  return node;
}

/* Websocket upgrade done by hand so that any route (events, operation
 * websockets) can accept one after checking its own authorisation. */
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
  GSocket *sock = ferry_https_conn_socket (msg) != NULL ? ferry_https_conn_socket (msg)
                                                        : soup_server_message_get_socket (msg);
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

  api_handler (&req);
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
  soup_server_add_handler (d->server, NULL, ferry_http_handle, d, NULL);
  ferry_http_guard_attach (d, d->server);

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
  if (!soup_server_listen_socket (d->server, sock, 0, &local))
    goto fail;
  return TRUE;

fail:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Listening on %s: %s", d->layout->socket, local->message);
  return FALSE;
}
