#include "common/json.h"
#include "common/error.h"

#include <string.h>

/* Deepest nesting of objects and lists a request may have. json-glib's
 * parser recurses once per level: without a bound, "[[[[..." from an
 * untrusted client overflows the daemon's stack. */
#define MAX_JSON_DEPTH 64

/* One pass over the raw text before json-glib sees it: refuses nesting
 * deeper than MAX_JSON_DEPTH, and NUL characters (json-glib hands strings
 * out as C strings, so "a\u0000b" would silently become "a"). */
static gboolean
check_raw_json (const char *data, gsize len, GError **error)
{
  int depth = 0;
  gboolean in_string = FALSE;

  if (memchr (data, '\0', len) != NULL)
    goto nul;
  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if (c == '"')
            in_string = FALSE;
          else if (c == '\\' && i + 1 < len)
            {
              if (data[i + 1] == 'u' && i + 5 < len && memcmp (data + i + 2, "0000", 4) == 0)
                goto nul;
              i++; /* the escaped character */
            }
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '{' || c == '[')
        {
          if (++depth > MAX_JSON_DEPTH)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "Invalid JSON in request body: nested deeper than %d levels", MAX_JSON_DEPTH);
              return FALSE;
            }
        }
      else if (c == '}' || c == ']')
        depth--;
    }
  return TRUE;

nul:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid JSON in request body: NUL characters are not allowed");
  return FALSE;
}

JsonObject *
ferry_json_parse_object (const char *data, gsize len, gboolean allow_empty, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  JsonNode *root;

  if (data == NULL || len == 0)
    {
      if (allow_empty)
        return json_object_new ();
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Request body is empty; a JSON object is expected");
      return NULL;
    }
  if (!check_raw_json (data, len, error))
    return NULL;
  if (!json_parser_load_from_data (parser, data, (gssize) len, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid JSON in request body: %s", local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Request body must be a JSON object");
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static JsonNode *
member_or_null (JsonObject *obj, const char *member)
{
  JsonNode *node;

  if (obj == NULL || !json_object_has_member (obj, member))
    return NULL;
  node = json_object_get_member (obj, member);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return node;
}

static gboolean
wrong_type (const char *member, const char *expected, GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"%s\" must be %s", member, expected);
  return FALSE;
}

gboolean
ferry_json_get_string (JsonObject *obj, const char *member, const char **out, GError **error)
{
  JsonNode *node = member_or_null (obj, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return wrong_type (member, "a string", error);
  *out = json_node_get_string (node);
  return TRUE;
}

gboolean
ferry_json_get_bool (JsonObject *obj, const char *member, gboolean *out, GError **error)
{
  JsonNode *node = member_or_null (obj, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return wrong_type (member, "true or false", error);
  *out = json_node_get_boolean (node);
  return TRUE;
}

gboolean
ferry_json_get_int (JsonObject *obj, const char *member, gint64 *out, GError **error)
{
  JsonNode *node = member_or_null (obj, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return wrong_type (member, "a number", error);
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    {
      *out = json_node_get_int (node);
      return TRUE;
    }
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    {
      double d = json_node_get_double (node);
      if (d != (double) (gint64) d)
        return wrong_type (member, "a whole number", error);
      *out = (gint64) d;
      return TRUE;
    }
  return wrong_type (member, "a number", error);
}

gboolean
ferry_json_get_object (JsonObject *obj, const char *member, JsonObject **out, GError **error)
{
  JsonNode *node = member_or_null (obj, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return wrong_type (member, "an object", error);
  *out = json_node_get_object (node);
  return TRUE;
}

gboolean
ferry_json_get_array (JsonObject *obj, const char *member, JsonArray **out, GError **error)
{
  JsonNode *node = member_or_null (obj, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return wrong_type (member, "a list", error);
  *out = json_node_get_array (node);
  return TRUE;
}

GHashTable *
ferry_json_string_map (JsonObject *obj, const char *what, GError **error)
{
  g_autoptr (GHashTable) map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  if (obj == NULL)
    return g_steal_pointer (&map);
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (JSON_NODE_HOLDS_NULL (value))
        continue;
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s value of \"%s\" must be a string", what, key);
          return NULL;
        }
      g_hash_table_insert (map, g_strdup (key), g_strdup (json_node_get_string (value)));
    }
  return g_steal_pointer (&map);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

GList *
ferry_json_sorted_members (JsonObject *object)
{
  return g_list_sort (json_object_get_members (object), compare_names);
}

char *
ferry_json_to_string (JsonNode *node, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();

  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

JsonNode *
ferry_json_from_string_map (GHashTable *map)
{
  JsonObject *obj = json_object_new ();
  g_autofree gpointer *keys = NULL;
  guint n = 0;

  if (map != NULL)
    {
      keys = g_hash_table_get_keys_as_array (map, &n);
      qsort (keys, n, sizeof (gpointer), compare_strings);
      for (guint i = 0; i < n; i++)
        json_object_set_string_member (obj, keys[i], g_hash_table_lookup (map, keys[i]));
    }
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, obj);
  return node;
}
