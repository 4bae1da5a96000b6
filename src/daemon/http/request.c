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

/* A copy of NODE whose objects list their members in sorted order, so that
 * its text depends on its values only (json-glib writes members in the
 * order they were added, which follows the stored texts and hash tables). */
static JsonNode *
sorted_copy (JsonNode *node)
{
  JsonNode *copy;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *from = json_node_get_object (node);
      JsonObject *to = json_object_new ();
      g_autoptr (GList) names = ferry_json_sorted_members (from);

      for (GList *l = names; l != NULL; l = l->next)
        json_object_set_member (to, l->data, sorted_copy (json_object_get_member (from, l->data)));
      copy = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (copy, to);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *from = json_node_get_array (node);
      JsonArray *to = json_array_new ();

      for (guint i = 0; i < json_array_get_length (from); i++)
        json_array_add_element (to, sorted_copy (json_array_get_element (from, i)));
      copy = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (copy, to);
    }
  else
    copy = json_node_copy (node);
  return copy;
}

char *
ferry_etag_of (JsonNode *object, const char *const *writable)
{
  JsonObject *from = json_node_get_object (object);
  g_autoptr (JsonArray) fields = json_array_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
  g_autofree char *text = NULL;

  /* An array in WRITABLE's order, as LXD hashes a list of fields; an
   * absent member counts as null. */
  if (writable == NULL)
    json_array_add_element (fields, sorted_copy (object));
  for (guint i = 0; writable != NULL && writable[i] != NULL; i++)
    {
      JsonNode *member = json_object_get_member (from, writable[i]);
      json_array_add_element (fields, member != NULL ? sorted_copy (member) : json_node_new (JSON_NODE_NULL));
    }
  json_node_set_array (root, fields);
  text = ferry_json_to_string (root, FALSE);
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
}

gboolean
ferry_request_if_match (FerryRequest *req, JsonNode *object, const char *const *writable, GError **error)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (req->msg), "If-Match");
  g_autofree char *given = NULL;
  g_autofree char *etag = NULL;
  gsize len;

  if (header == NULL || *header == '\0')
    return TRUE;
  /* As LXD: the quotes lxc sends back are optional, and nothing else of
   * RFC 9110's syntax (weak tags, lists, "*") is understood. */
  len = strlen (header);
  while (len > 0 && header[len - 1] == '"')
    len--;
  while (len > 0 && *header == '"')
    header++, len--;
  given = g_strndup (header, len);
  etag = ferry_etag_of (object, writable);
  if (strcmp (etag, given) == 0)
    return TRUE;
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_PRECONDITION, "ETag doesn't match: %s vs %s", etag, given);
  return FALSE;
}

static void
respond_sync_full (SoupServerMessage *msg, int status, JsonNode *metadata, const char *etag)
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
    {
      /* Quoted, as LXD sends it and as lxc sends it back. */
      g_autofree char *quoted = g_strdup_printf ("\"%s\"", etag);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "ETag", quoted);
    }
  respond_json (msg, status, root);
}

static void
respond_sync_with_etag (SoupServerMessage *msg, JsonNode *metadata, const char *etag)
{
  respond_sync_full (msg, 200, metadata, etag);
}

void
ferry_respond_sync_location (SoupServerMessage *msg, const char *collection, const char *name)
{
  g_autofree char *escaped = g_uri_escape_string (name, NULL, FALSE);
  g_autofree char *location = g_strdup_printf ("/1.0/%s/%s", collection, escaped);

  /* LXD's SyncResponseLocation: 201, metadata null. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location", location);
  respond_sync_full (msg, 201, NULL, NULL);
}

void
ferry_respond_sync (SoupServerMessage *msg, JsonNode *metadata)
{
  respond_sync_with_etag (msg, metadata, NULL);
}

void
ferry_respond_sync_etag (SoupServerMessage *msg, JsonNode *object, const char *const *writable)
{
  g_autofree char *etag = ferry_etag_of (object, writable);

  respond_sync_with_etag (msg, object, etag);
}

void
ferry_respond_sync_empty (SoupServerMessage *msg)
{
  JsonNode *empty = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (empty, json_object_new ());
  respond_sync_with_etag (msg, empty, NULL);
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
  /* LXD's words and status for a method its route does not have. */
  ferry_respond_error_literal (msg, 501, "not implemented");
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
