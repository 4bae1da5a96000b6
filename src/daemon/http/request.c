/* A request's parts, and LXD's response envelopes (request.h). */
#include "daemon/http/request.h"
#include "common/error.h"
#include "common/json.h"

#include <string.h>

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

  /* LXD's error envelope carries the sync envelope's keys too, empty. */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "error");
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "status_code");
  json_builder_add_int_value (b, 0);
  json_builder_set_member_name (b, "operation");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "error_code");
  json_builder_add_int_value (b, status);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
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
