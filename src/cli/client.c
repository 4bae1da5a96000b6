#include "config.h"

#include "client.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"

/* Operation status codes (shared/api/status_code.go). */
#define STATUS_SUCCESS 200

struct FerryClient
{
  SoupSession *session;
  char *base_url; /* "http://unix.socket" or the remote's "https://host:port" */
  char *ws_base;  /* "ws://unix.socket" or "wss://host:port" */
  char *where;    /* the socket path or URL, for errors */
  gboolean https;
  GTlsCertificate *pinned;      /* HTTPS: servercerts/NAME.crt, the only trusted one */
  GTlsCertificate *client_cert; /* HTTPS: client.crt + client.key */
  char *project;
  JsonObject *server;

  SoupWebsocketConnection *events;
  gboolean events_failed;
  GError *events_error; /* set when the events socket closed under us */
  GHashTable *final_ops; /* id -> JsonObject of final operations seen */
  char *waiting_id;
  FerryOperationProgress progress;
  gpointer progress_data;
};

static FerryClient *
https_client_new (const FerryRemote *remote, GError **error)
{
  FerryClient *client = g_new0 (FerryClient, 1);
  g_autoptr (GError) local = NULL;

  client->session = soup_session_new_with_options ("user-agent", "Ferry " FERRY_VERSION, "timeout", 0, NULL);
  client->base_url = g_strdup (remote->addr);
  client->ws_base = g_strconcat ("wss", remote->addr + strlen ("https"), NULL);
  client->where = g_strdup (remote->addr);
  client->https = TRUE;
  if (remote->server_cert != NULL && g_file_test (remote->server_cert, G_FILE_TEST_EXISTS))
    {
      client->pinned = g_tls_certificate_new_from_file (remote->server_cert, &local);
      if (client->pinned == NULL)
        goto fail;
      /* With no database every handshake fails validation, so accept_pinned
       * decides on every connection: a certificate the system CAs vouch for
       * is no substitute for the pinned one (lxc trusts only the pin too). */
      soup_session_set_tls_database (client->session, NULL);
    }
  if (remote->client_cert != NULL && g_file_test (remote->client_cert, G_FILE_TEST_EXISTS))
    {
      client->client_cert = g_tls_certificate_new_from_files (remote->client_cert, remote->client_key, &local);
      if (client->client_cert == NULL)
        goto fail;
    }
  return client;

fail:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Remote \"%s\": %s", remote->name, local->message);
  ferry_client_free (client);
  return NULL;
}

FerryClient *
ferry_client_new (const FerryRemote *remote, const char *project, GError **error)
{
  g_autoptr (GSocketAddress) address = NULL;
  FerryClient *client;

  if (remote->addr != NULL && g_str_has_prefix (remote->addr, "https://"))
    {
      client = https_client_new (remote, error);
      if (client == NULL)
        return NULL;
    }
  else if (remote->socket_path == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Remote \"%s\" has no address", remote->name);
      return NULL;
    }
  else
    {
      address = g_unix_socket_address_new (remote->socket_path);
      client = g_new0 (FerryClient, 1);
      client->session = soup_session_new_with_options ("remote-connectable", address, "user-agent",
                                                       "Ferry " FERRY_VERSION, "timeout", 0, NULL);
      client->base_url = g_strdup ("http://unix.socket");
      client->ws_base = g_strdup ("ws://unix.socket");
      client->where = g_strdup (remote->socket_path);
    }
  if (project != NULL && *project != '\0' && g_strcmp0 (project, "default") != 0)
    client->project = g_strdup (project);
  client->final_ops = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_object_unref);
  return client;
}

/* Over HTTPS only the pinned certificate is trusted (as lxc, whose TLS
 * name check is against the certificate's own SAN, not the dialled host).
 * Called for every handshake when there is a pin (see https_client_new);
 * without a pin, only when the system CAs refuse the server. */
static gboolean
accept_pinned (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer user_data)
{
  FerryClient *client = user_data;

  return client->pinned != NULL && g_tls_certificate_is_same (cert, client->pinned);
}

static SoupMessage *
client_message (FerryClient *client, const char *method, const char *url)
{
  SoupMessage *msg = soup_message_new (method, url);

  if (msg == NULL || !client->https)
    return msg;
  if (client->client_cert != NULL)
    soup_message_set_tls_client_certificate (msg, client->client_cert);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_pinned), client);
  return msg;
}

static gboolean
accept_any (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer user_data)
{
  GTlsCertificate **out = user_data;

  g_set_object (out, cert);
  return TRUE;
}

GTlsCertificate *
ferry_client_fetch_certificate (const char *addr, GError **error)
{
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 30, NULL);
  g_autofree char *url = g_strconcat (addr, "/", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) local = NULL;
  GTlsCertificate *cert = NULL;

  if (msg == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid address: %s", addr);
      return NULL;
    }
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any), &cert);
  body = soup_session_send_and_read (session, msg, NULL, &local);
  if (cert == NULL)
    cert = soup_message_get_tls_peer_certificate (msg) ? g_object_ref (soup_message_get_tls_peer_certificate (msg))
                                                       : NULL;
  if (cert == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "Unable to connect to: %s (%s)", addr,
                   local != NULL ? local->message : "no certificate");
      return NULL;
    }
  return cert;
}

void
ferry_client_free (FerryClient *client)
{
  if (client == NULL)
    return;
  if (client->events != NULL)
    {
      g_signal_handlers_disconnect_by_data (client->events, client);
      g_object_unref (client->events);
    }
  g_clear_error (&client->events_error);
  g_hash_table_unref (client->final_ops);
  g_clear_pointer (&client->server, json_object_unref);
  g_object_unref (client->session);
  g_clear_object (&client->pinned);
  g_clear_object (&client->client_cert);
  g_free (client->where);
  g_free (client->base_url);
  g_free (client->ws_base);
  g_free (client->project);
  g_free (client->waiting_id);
  g_free (client);
}

char *
ferry_client_escape (const char *segment)
{
  return g_uri_escape_string (segment, NULL, TRUE);
}

const char *
ferry_url_last_part (const char *url)
{
  const char *slash = strrchr (url, '/');
  return slash != NULL ? slash + 1 : url;
}

gint64
ferry_object_status_code (JsonObject *object)
{
  JsonNode *node = json_object_get_member (object, "status_code");

  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE)
    return 0;
  return json_node_get_int (node);
}

static char *
client_url (FerryClient *client, const char *base, const char *path)
{
  if (client->project == NULL)
    return g_strconcat (base, path, NULL);
  return g_strdup_printf ("%s%s%cproject=%s", base, path, strchr (path, '?') != NULL ? '&' : '?',
                          client->project);
}

/* LXD's envelope rules (client/lxd.go lxdParseResponse): a body that is not
 * a JSON object is an error only when the status is not 200; "type":"error"
 * is the error; otherwise only metadata matters. */
static JsonNode *
parse_envelope (SoupMessage *msg, const char *url, GBytes *body, GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);
  g_autoptr (JsonNode) root = len > 0 ? ferry_json_parse (data, (gssize) len, NULL) : NULL;
  JsonObject *envelope = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *metadata;
  guint status = soup_message_get_status (msg);
  const char *type = "";
  const char *message = "Unknown error";
  gint64 code = status;

  /* A server's "error": 5 must not become a NULL message. */
  if (envelope == NULL || !ferry_json_get_string (envelope, "type", &type, NULL)
      || !ferry_json_get_string (envelope, "error", &message, NULL)
      || !ferry_json_get_int (envelope, "error_code", &code, NULL))
    {
      if (status != SOUP_STATUS_OK)
        {
          g_set_error (error, FERRY_ERROR, status >= 400 && status < 600 ? (int) status : FERRY_ERROR_FAILED,
                       "Failed to fetch %s: %u %s", url, status, soup_message_get_reason_phrase (msg));
          return NULL;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Failed to parse the response from %s", url);
      return NULL;
    }
  if (g_str_equal (type, "error"))
    {
      g_set_error_literal (error, FERRY_ERROR, code > 0 && code <= G_MAXINT ? (int) code : FERRY_ERROR_FAILED,
                           message);
      return NULL;
    }
  metadata = json_object_get_member (envelope, "metadata");
  if (metadata == NULL)
    return json_node_new (JSON_NODE_NULL);
  return json_node_copy (metadata);
}

/* ferryd's unix socket queues at most SOMAXCONN connections; past that a
 * connect fails with EAGAIN before anything is sent, and trying again a
 * little later is safe. Returns TRUE (error cleared, after a pause) when
 * the caller should send again. */
#define CONNECT_RETRIES 100
#define CONNECT_RETRY_MAX_PAUSE_MS 200

static gboolean
retry_busy_socket (FerryClient *client, GError **error, guint *attempt)
{
  if (client->https || *error == NULL || !g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)
      || *attempt >= CONNECT_RETRIES)
    return FALSE;
  g_clear_error (error);
  g_usleep (MIN (5u << MIN (*attempt, 8u), CONNECT_RETRY_MAX_PAUSE_MS) * 1000);
  (*attempt)++;
  return TRUE;
}

static GBytes *
send_and_read (FerryClient *client, SoupMessage *msg, GError **error)
{
  GBytes *response;
  guint attempt = 0;

  do
    response = soup_session_send_and_read (client->session, msg, NULL, error);
  while (response == NULL && retry_busy_socket (client, error, &attempt));
  return response;
}

static SoupMessage *
new_message (FerryClient *client, const char *method, const char *path, char **url_out)
{
  g_autofree char *url = client_url (client, client->base_url, path);
  SoupMessage *msg = client_message (client, method, url);

  if (msg == NULL)
    return NULL;
  if (url_out != NULL)
    *url_out = g_steal_pointer (&url);
  return msg;
}

static JsonNode *
send_message (FerryClient *client, SoupMessage *msg, const char *url, char **etag_out, GError **error)
{
  g_autoptr (GBytes) response = NULL;
  g_autoptr (GError) local_error = NULL;

  response = send_and_read (client, msg, &local_error);
  if (response == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "Failed to connect to the daemon at %s: %s",
                   client->where,
                   local_error->message);
      return NULL;
    }
  if (etag_out != NULL)
    *etag_out = g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (msg), "ETag"));
  return parse_envelope (msg, url, response, error);
}

JsonNode *
ferry_client_query (FerryClient *client, const char *method, const char *path, JsonNode *body,
                    const char *if_match, char **etag_out, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = new_message (client, method, path, &url);

  if (msg == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid request path: %s", path);
      return NULL;
    }
  if (body != NULL)
    {
      g_autoptr (JsonGenerator) gen = json_generator_new ();
      g_autofree char *text = NULL;
      g_autofree char *line = NULL;
      gsize len;

      json_generator_set_root (gen, body);
      text = json_generator_to_data (gen, NULL);
      line = g_strconcat (text, "\n", NULL);
      len = strlen (line);
      soup_message_set_request_body_from_bytes (msg, "application/json", g_bytes_new_take (g_steal_pointer (&line), len));
    }
  if (if_match != NULL && *if_match != '\0')
    soup_message_headers_replace (soup_message_get_request_headers (msg), "If-Match", if_match);
  return send_message (client, msg, url, etag_out, error);
}

JsonObject *
ferry_client_get_object (FerryClient *client, const char *path, char **etag_out, GError **error)
{
  g_autoptr (JsonNode) node = ferry_client_query (client, "GET", path, NULL, NULL, etag_out, error);

  if (node == NULL)
    return NULL;
  if (JSON_NODE_TYPE (node) != JSON_NODE_OBJECT)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Unexpected response to GET %s: not an object", path);
      return NULL;
    }
  return json_object_ref (json_node_get_object (node));
}

JsonArray *
ferry_client_get_array (FerryClient *client, const char *path, GError **error)
{
  g_autoptr (JsonNode) node = ferry_client_query (client, "GET", path, NULL, NULL, NULL, error);

  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_NULL (node))
    return json_array_new ();
  if (JSON_NODE_TYPE (node) != JSON_NODE_ARRAY)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Unexpected response to GET %s: not a list", path);
      return NULL;
    }
  return json_array_ref (json_node_get_array (node));
}

GBytes *
ferry_client_get_raw (FerryClient *client, const char *path, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = new_message (client, "GET", path, &url);
  g_autoptr (GError) local_error = NULL;
  GBytes *response;
  guint status;

  response = send_and_read (client, msg, &local_error);
  if (response == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "Failed to connect to the daemon: %s",
                   local_error->message);
      return NULL;
    }
  status = soup_message_get_status (msg);
  if (status != SOUP_STATUS_OK)
    {
      /* Errors still come as an envelope. */
      g_autoptr (JsonNode) ignored = parse_envelope (msg, url, response, error);
      g_bytes_unref (response);
      if (ignored != NULL)
        g_set_error (error, FERRY_ERROR, (int) status, "Failed to fetch %s: %u %s", url, status,
                     soup_message_get_reason_phrase (msg));
      return NULL;
    }
  return response;
}

/* Reads what is left of an answer that is not the expected file: it should
 * be an error envelope. */
static void
set_download_error (SoupMessage *msg, const char *url, GInputStream *body, GError **error)
{
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (JsonNode) node = NULL;

  if (g_output_stream_splice (mem, body, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0)
    return;
  bytes = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
  node = parse_envelope (msg, url, bytes, error);
  if (node != NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Unexpected response from %s: %u %s (%s)", url,
                 soup_message_get_status (msg), soup_message_get_reason_phrase (msg),
                 soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL));
}

static gssize
save_stream (GInputStream *body, const char *file, GError **error)
{
  g_autofree char *part_name = g_strconcat (file, ".part", NULL);
  g_autoptr (GFile) part = g_file_new_for_path (part_name);
  g_autoptr (GFile) target = g_file_new_for_path (file);
  g_autoptr (GFileOutputStream) out = g_file_replace (part, NULL, FALSE, G_FILE_CREATE_NONE, NULL, error);
  gssize copied;

  if (out == NULL)
    return -1;
  copied = g_output_stream_splice (G_OUTPUT_STREAM (out), body,
                                   G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL,
                                   error);
  if (copied < 0 || !g_file_move (part, target, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error))
    {
      g_output_stream_close (G_OUTPUT_STREAM (out), NULL, NULL);
      g_file_delete (part, NULL, NULL);
      return -1;
    }
  return copied;
}

gboolean
ferry_client_download (FerryClient *client, const char *path, const char *file, goffset *size_out, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = new_message (client, "GET", path, &url);
  g_autoptr (GInputStream) body = NULL;
  g_autoptr (GError) local_error = NULL;
  const char *content_type;
  gssize copied;
  guint attempt = 0;

  if (msg == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid request path: %s", path);
      return FALSE;
    }
  do
    body = soup_session_send (client->session, msg, NULL, &local_error);
  while (body == NULL && retry_busy_socket (client, &local_error, &attempt));
  if (body == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "Failed to connect to the daemon: %s",
                   local_error->message);
      return FALSE;
    }
  content_type = soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL);
  if (soup_message_get_status (msg) != SOUP_STATUS_OK || g_strcmp0 (content_type, "application/json") == 0)
    {
      set_download_error (msg, url, body, error);
      return FALSE;
    }
  copied = save_stream (body, file, error);
  if (copied < 0)
    {
      g_prefix_error (error, "Failed to save %s: ", file);
      return FALSE;
    }
  if (size_out != NULL)
    *size_out = copied;
  return TRUE;
}

GInputStream *
ferry_client_get_stream (FerryClient *client, const char *path, SoupMessageHeaders **headers_out, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = new_message (client, "GET", path, &url);
  g_autoptr (GInputStream) body = NULL;
  g_autoptr (GError) local_error = NULL;
  guint attempt = 0;

  if (msg == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid request path: %s", path);
      return NULL;
    }
  do
    body = soup_session_send (client->session, msg, NULL, &local_error);
  while (body == NULL && retry_busy_socket (client, &local_error, &attempt));
  if (body == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "Failed to connect to the daemon: %s",
                   local_error->message);
      return NULL;
    }
  if (soup_message_get_status (msg) != SOUP_STATUS_OK)
    {
      set_download_error (msg, url, body, error);
      return NULL;
    }
  *headers_out = soup_message_headers_ref (soup_message_get_response_headers (msg));
  return g_steal_pointer (&body);
}

JsonNode *
ferry_client_send_stream (FerryClient *client, const char *method, const char *path, GInputStream *body,
                          goffset size, GHashTable *headers, GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = new_message (client, method, path, &url);
  GHashTableIter iter;
  gpointer key, value;

  if (msg == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid request path: %s", path);
      return NULL;
    }
  soup_message_set_request_body (msg, "application/octet-stream", body, size);
  if (headers != NULL)
    {
      g_hash_table_iter_init (&iter, headers);
      while (g_hash_table_iter_next (&iter, &key, &value))
        soup_message_headers_replace (soup_message_get_request_headers (msg), key, value);
    }
  return send_message (client, msg, url, NULL, error);
}

JsonObject *
ferry_client_server (FerryClient *client, GError **error)
{
  if (client->server == NULL)
    client->server = ferry_client_get_object (client, "/1.0", NULL, error);
  return client->server;
}

const char *
ferry_client_https_url (FerryClient *client)
{
  return client->https ? client->base_url : NULL;
}

char *
ferry_client_certificate_pem (FerryClient *client)
{
  char *pem = NULL;
  JsonObject *server;
  JsonNode *environment;

  if (client->https)
    {
      if (client->pinned != NULL)
        g_object_get (client->pinned, "certificate-pem", &pem, NULL);
      return pem != NULL ? pem : g_strdup ("");
    }
  server = ferry_client_server (client, NULL);
  environment = server != NULL ? json_object_get_member (server, "environment") : NULL;
  if (environment == NULL || !JSON_NODE_HOLDS_OBJECT (environment))
    return g_strdup ("");
  return g_strdup (
    json_object_get_string_member_with_default (json_node_get_object (environment), "certificate", ""));
}

gboolean
ferry_client_same_server (FerryClient *a, FerryClient *b)
{
  return a == b || (strcmp (a->base_url, b->base_url) == 0 && strcmp (a->where, b->where) == 0);
}

gboolean
ferry_client_has_extension (FerryClient *client, const char *extension)
{
  JsonObject *server = ferry_client_server (client, NULL);
  JsonArray *extensions;

  if (server == NULL || !json_object_has_member (server, "api_extensions")
      || JSON_NODE_TYPE (json_object_get_member (server, "api_extensions")) != JSON_NODE_ARRAY)
    return FALSE;
  extensions = json_object_get_array_member (server, "api_extensions");
  for (guint i = 0; i < json_array_get_length (extensions); i++)
    if (g_strcmp0 (json_array_get_string_element (extensions, i), extension) == 0)
      return TRUE;
  return FALSE;
}

/* ---- websockets ---- */

typedef struct
{
  SoupWebsocketConnection *conn;
  GError *error;
  gboolean done;
} WsConnect;

static void
ws_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WsConnect *state = user_data;

  state->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &state->error);
  state->done = TRUE;
}

/* Opens the websocket of url (a new message each try), running the main
 * loop meanwhile. */
static SoupWebsocketConnection *
websocket_open (FerryClient *client, const char *url, GError **error)
{
  guint attempt = 0;
  WsConnect state = { 0 };

  do
    {
      g_autoptr (SoupMessage) msg = client_message (client, "GET", url);

      if (msg == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid websocket URL: %s", url);
          return NULL;
        }
      state = (WsConnect){ 0 };
      soup_session_websocket_connect_async (client->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                            ws_connected, &state);
      while (!state.done)
        g_main_context_iteration (NULL, TRUE);
    }
  while (state.conn == NULL && retry_busy_socket (client, &state.error, &attempt));
  if (state.conn == NULL)
    g_propagate_error (error, state.error);
  return state.conn;
}

static SoupWebsocketConnection *
websocket_connect (FerryClient *client, const char *path, GError **error)
{
  g_autofree char *url = client_url (client, client->ws_base, path);
  g_autoptr (GError) local = NULL;
  SoupWebsocketConnection *conn = websocket_open (client, url, &local);

  if (conn == NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "Failed to connect to websocket %s: ", path);
      return NULL;
    }
  /* Exec output and events can be large; lxc does not limit them. */
  soup_websocket_connection_set_max_incoming_payload_size (conn, 0);
  soup_websocket_connection_set_keepalive_interval (conn, 0);
  return conn;
}

SoupWebsocketConnection *
ferry_client_operation_websocket (FerryClient *client, const char *operation_id, const char *secret,
                                  GError **error)
{
  g_autofree char *id = ferry_client_escape (operation_id);
  g_autofree char *sec = ferry_client_escape (secret);
  g_autofree char *path = g_strdup_printf ("/1.0/operations/%s/websocket?secret=%s", id, sec);
  /* Operation websocket URLs never carry project= (client/lxd.go). */
  g_autofree char *url = g_strconcat (client->ws_base, path, NULL);
  g_autoptr (GError) local = NULL;
  SoupWebsocketConnection *conn = websocket_open (client, url, &local);

  if (conn == NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                  "Failed to connect to the operation websocket: ");
      return NULL;
    }
  soup_websocket_connection_set_max_incoming_payload_size (conn, 0);
  soup_websocket_connection_set_keepalive_interval (conn, 0);
  return conn;
}

/* ---- events and operation waits ---- */

static gboolean
operation_is_final (JsonObject *op)
{
  return ferry_object_status_code (op) >= STATUS_SUCCESS;
}

static void
events_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  FerryClient *client = user_data;
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);
  g_autoptr (JsonObject) event = ferry_json_parse_object (data, len, FALSE, NULL);
  JsonObject *op = NULL;
  const char *kind = "";
  const char *id = "";

  if (event == NULL || !ferry_json_get_string (event, "type", &kind, NULL) || !g_str_equal (kind, "operation")
      || !ferry_json_get_object (event, "metadata", &op, NULL) || op == NULL
      || !ferry_json_get_string (op, "id", &id, NULL))
    return;
  if (operation_is_final (op))
    g_hash_table_replace (client->final_ops, g_strdup (id), json_object_ref (op));
  else if (client->progress != NULL && g_strcmp0 (id, client->waiting_id) == 0)
    client->progress (op, client->progress_data);
}

static void
events_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  FerryClient *client = user_data;

  if (client->events_error == NULL)
    g_set_error (&client->events_error, FERRY_ERROR, FERRY_ERROR_FAILED, "The events websocket was closed");
}

static void
events_error (SoupWebsocketConnection *conn, GError *err, gpointer user_data)
{
  FerryClient *client = user_data;

  if (client->events_error == NULL)
    client->events_error = g_error_copy (err);
}

/* Opening the events socket may fail; the wait then falls back to
 * /1.0/operations/<id>/wait (lxc would fail instead). */
static void
ensure_events (FerryClient *client)
{
  g_autoptr (GError) error = NULL;

  if (client->events != NULL || client->events_failed)
    return;
  client->events = websocket_connect (client, "/1.0/events?type=operation", &error);
  if (client->events == NULL)
    {
      g_debug ("events websocket unavailable: %s", error->message);
      client->events_failed = TRUE;
      return;
    }
  g_signal_connect (client->events, "message", G_CALLBACK (events_message), client);
  g_signal_connect (client->events, "closed", G_CALLBACK (events_closed), client);
  g_signal_connect (client->events, "error", G_CALLBACK (events_error), client);
}

static JsonObject *
operation_from_node (JsonNode *node, GError **error)
{
  JsonObject *op;

  if (node == NULL)
    return NULL;
  if (JSON_NODE_TYPE (node) != JSON_NODE_OBJECT
      || json_object_get_string_member_with_default (json_node_get_object (node), "id", NULL) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The server did not return an operation");
      return NULL;
    }
  op = json_node_get_object (node);
  return json_object_ref (op);
}

JsonObject *
ferry_client_operation (FerryClient *client, const char *method, const char *path, JsonNode *body,
                        GError **error)
{
  return ferry_client_operation_if_match (client, method, path, body, NULL, error);
}

JsonObject *
ferry_client_operation_if_match (FerryClient *client, const char *method, const char *path, JsonNode *body,
                                 const char *if_match, GError **error)
{
  g_autoptr (JsonNode) node = NULL;

  ensure_events (client);
  node = ferry_client_query (client, method, path, body, if_match, NULL, error);
  return operation_from_node (node, error);
}

JsonObject *
ferry_client_operation_upload (FerryClient *client, const char *path, const char *file, GHashTable *headers,
                               GError **error)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GFile) gfile = g_file_new_for_path (file);
  g_autoptr (GFileInputStream) stream = NULL;
  g_autoptr (GFileInfo) info = NULL;
  g_autoptr (JsonNode) node = NULL;
  GHashTableIter iter;
  gpointer key, value;

  stream = g_file_read (gfile, NULL, error);
  if (stream == NULL)
    return NULL;
  info = g_file_input_stream_query_info (stream, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, error);
  if (info == NULL)
    return NULL;
  ensure_events (client);
  msg = new_message (client, "POST", path, &url);
  /* Streamed from disk with a Content-Length: images can be large. */
  soup_message_set_request_body (msg, "application/octet-stream", G_INPUT_STREAM (stream),
                                 g_file_info_get_size (info));
  if (headers != NULL)
    {
      g_hash_table_iter_init (&iter, headers);
      while (g_hash_table_iter_next (&iter, &key, &value))
        soup_message_headers_replace (soup_message_get_request_headers (msg), key, value);
    }
  node = send_message (client, msg, url, NULL, error);
  return operation_from_node (node, error);
}

static JsonObject *
finish_operation (JsonObject *op, GError **error)
{
  const char *err = json_object_get_string_member_with_default (op, "err", "");

  if (err != NULL && *err != '\0')
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, err);
      return NULL;
    }
  return json_object_ref (op);
}

typedef struct
{
  GBytes *body;
  GError *error;
  gboolean done;
} AsyncRead;

static void
async_read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncRead *state = user_data;

  state->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &state->error);
  state->done = TRUE;
}

/* GET /1.0/operations/<id>[/wait]. The long wait runs the main loop, so exec
 * streams keep flowing while it is pending. */
static JsonObject *
get_operation (FerryClient *client, const char *id, gboolean wait, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (id);
  g_autofree char *path = g_strdup_printf ("/1.0/operations/%s%s", escaped, wait ? "/wait?timeout=-1" : "");
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (JsonNode) node = NULL;
  AsyncRead state = { 0 };
  guint attempt = 0;

  if (!wait)
    {
      node = ferry_client_query (client, "GET", path, NULL, NULL, NULL, error);
      return operation_from_node (node, error);
    }
  msg = new_message (client, "GET", path, &url);
  do
    {
      state = (AsyncRead){ 0 };
      soup_session_send_and_read_async (client->session, msg, G_PRIORITY_DEFAULT, NULL, async_read_done, &state);
      while (!state.done)
        g_main_context_iteration (NULL, TRUE);
    }
  while (state.body == NULL && retry_busy_socket (client, &state.error, &attempt));
  if (state.body == NULL)
    {
      g_propagate_prefixed_error (error, state.error, "Failed to wait for operation %s: ", id);
      return NULL;
    }
  node = parse_envelope (msg, url, state.body, error);
  g_bytes_unref (state.body);
  return operation_from_node (node, error);
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
ferry_client_await (FerryClient *client, JsonObject *operation, GError **error)
{
  g_autoptr (JsonObject) op = operation;
  g_autoptr (JsonObject) done = NULL;

  if (op == NULL)
    return FALSE;
  done = ferry_client_wait (client, op, NULL, NULL, NULL, error);
  return done != NULL;
}

JsonObject *
ferry_client_wait (FerryClient *client, JsonObject *operation, FerryOperationProgress progress,
                   gpointer user_data, gboolean *ended_before_wait, GError **error)
{
  if (ended_before_wait != NULL)
    *ended_before_wait = TRUE;

  const char *id = json_object_get_string_member_with_default (operation, "id", "");
  g_autoptr (JsonObject) current = NULL;
  JsonObject *final_op;

  if (operation_is_final (operation))
    return finish_operation (operation, error);

  ensure_events (client);
  if (client->events == NULL)
    {
      g_autoptr (JsonObject) waited;

      if (ended_before_wait != NULL)
        *ended_before_wait = FALSE;
      waited = get_operation (client, id, TRUE, error);
      if (waited == NULL)
        return NULL;
      return finish_operation (waited, error);
    }

  /* Catch an operation that ended before we listened (lxc does this too). */
  current = get_operation (client, id, FALSE, error);
  if (current == NULL)
    return NULL;
  if (operation_is_final (current))
    return finish_operation (current, error);

  if (ended_before_wait != NULL)
    *ended_before_wait = FALSE;
  g_free (client->waiting_id);
  client->waiting_id = g_strdup (id);
  client->progress = progress;
  client->progress_data = user_data;
  /* Events are the way; a look at the operation every second is the
   * safety net (over TLS, libsoup's websocket client has been seen sitting
   * on an event already received until the next one arrived). */
  while ((final_op = g_hash_table_lookup (client->final_ops, id)) == NULL && client->events_error == NULL)
    {
      gboolean tick = FALSE;
      guint timer = g_timeout_add_seconds (1, set_flag, &tick);
      while (!tick && g_hash_table_lookup (client->final_ops, id) == NULL && client->events_error == NULL)
        g_main_context_iteration (NULL, TRUE);
      if (!tick)
        g_source_remove (timer);
      else
        {
          g_autoptr (GError) poll_error = NULL;
          JsonObject *polled = get_operation (client, id, FALSE, &poll_error);
          if (polled != NULL && operation_is_final (polled))
            g_hash_table_insert (client->final_ops, g_strdup (id), polled);
          else if (polled != NULL)
            json_object_unref (polled);
        }
    }
  client->progress = NULL;
  g_clear_pointer (&client->waiting_id, g_free);
  if (final_op == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s", client->events_error->message);
      return NULL;
    }
  return finish_operation (final_op, error);
}
