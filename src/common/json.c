#include "common/json.h"
#include "common/error.h"

#include <string.h>

/* Deepest nesting of objects and lists Ferry reads. json-glib's parser
 * recurses once per level: without a bound, "[[[[..." overflows the stack. */
#define MAX_JSON_DEPTH 64

/* json-glib 1.6 (Debian 12) reads more than JSON: C comments, single-quoted
 * strings, hex and octal numbers, raw tabs in strings. A guard counting
 * brackets in that larger language must skip exactly what json-glib skips (a
 * comment full of "]" once took the count below zero), so instead the text
 * is checked against RFC 8259's strict grammar, without recursion, and
 * json-glib only ever sees plain JSON nested at most MAX_JSON_DEPTH deep.
 * Like LXD's encoding/json, this refuses comments. */
typedef struct
{
  const char *p;
  const char *end;
  const char *why; /* the reason the text is not strict JSON */
} JsonScan;

static gboolean
scan_fail (JsonScan *s, const char *why)
{
  s->why = why;
  return FALSE;
}

static gboolean
at (JsonScan *s, char c)
{
  return s->p < s->end && *s->p == c;
}

static void
skip_space (JsonScan *s)
{
  while (at (s, ' ') || at (s, '\t') || at (s, '\n') || at (s, '\r'))
    s->p++;
}

/* Four hex digits: a UTF-16 code unit, or -1. */
static int
scan_hex4 (JsonScan *s)
{
  int unit = 0;

  if (s->end - s->p < 4)
    return -1;
  for (int i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (s->p[i]);
      if (digit < 0)
        return -1;
      unit = unit * 16 + digit;
    }
  s->p += 4;
  return unit;
}

/* After "\u". Strings leave json-glib as C strings, so "a\u0000b" would
 * silently become "a"; a lone surrogate has no UTF-8 form. */
static gboolean
scan_unicode_escape (JsonScan *s)
{
  int unit = scan_hex4 (s);

  if (unit < 0)
    return scan_fail (s, "a \\u escape needs four hex digits");
  if (unit == 0)
    return scan_fail (s, "NUL characters are not allowed");
  if (unit >= 0xDC00 && unit <= 0xDFFF)
    return scan_fail (s, "a UTF-16 low surrogate without its high surrogate");
  if (unit < 0xD800 || unit > 0xDBFF)
    return TRUE;
  if (!at (s, '\\') || s->end - s->p < 2 || s->p[1] != 'u')
    return scan_fail (s, "a UTF-16 high surrogate without its low surrogate");
  s->p += 2;
  unit = scan_hex4 (s);
  if (unit < 0xDC00 || unit > 0xDFFF)
    return scan_fail (s, "a UTF-16 high surrogate without its low surrogate");
  return TRUE;
}

static gboolean
scan_string (JsonScan *s)
{
  s->p++; /* the opening quote */
  while (s->p < s->end)
    {
      unsigned char c = *s->p++;
      if (c == '"')
        return TRUE;
      if (c < 0x20)
        return scan_fail (s, "control characters in strings must be escaped");
      if (c != '\\')
        continue;
      if (s->p == s->end)
        break;
      c = *s->p++;
      if (c == 'u')
        {
          if (!scan_unicode_escape (s))
            return FALSE;
        }
      else if (memchr ("\"\\/bfnrt", c, 8) == NULL)
        return scan_fail (s, "unknown escape in a string");
    }
  return scan_fail (s, "unterminated string");
}

static gboolean
scan_digits (JsonScan *s)
{
  const char *start = s->p;

  while (s->p < s->end && g_ascii_isdigit (*s->p))
    s->p++;
  return s->p > start;
}

static gboolean
scan_number (JsonScan *s)
{
  if (at (s, '-'))
    s->p++;
  if (at (s, '0'))
    s->p++;
  else if (!scan_digits (s))
    return scan_fail (s, "unexpected character where a value is due");
  if (at (s, '.'))
    {
      s->p++;
      if (!scan_digits (s))
        return scan_fail (s, "a number needs digits after its '.'");
    }
  if (at (s, 'e') || at (s, 'E'))
    {
      s->p++;
      if (at (s, '+') || at (s, '-'))
        s->p++;
      if (!scan_digits (s))
        return scan_fail (s, "a number needs digits in its exponent");
    }
  return TRUE;
}

static gboolean
scan_word (JsonScan *s, const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return scan_fail (s, "unexpected character where a value is due");
  s->p += n;
  return TRUE;
}

static gboolean
scan_scalar (JsonScan *s)
{
  switch (*s->p)
    {
    case '"':
      return scan_string (s);
    case 't':
      return scan_word (s, "true");
    case 'f':
      return scan_word (s, "false");
    case 'n':
      return scan_word (s, "null");
    default:
      return scan_number (s);
    }
}

/* A member name and its colon, after "{" or ",". */
static gboolean
scan_member_name (JsonScan *s)
{
  skip_space (s);
  if (!at (s, '"'))
    return scan_fail (s, "expected a member name in double quotes");
  if (!scan_string (s))
    return FALSE;
  skip_space (s);
  if (!at (s, ':'))
    return scan_fail (s, "expected ':' after a member name");
  s->p++;
  return TRUE;
}

/* The whole text must be one JSON value. Open containers are kept on a
 * fixed stack instead of the C stack, so no input makes this recurse. */
static gboolean
scan_json (JsonScan *s)
{
  char closer[MAX_JSON_DEPTH]; /* the bracket that closes each open container */
  int depth = 0;

  for (;;)
    {
      /* A value is due. */
      skip_space (s);
      if (s->p == s->end)
        return scan_fail (s, "unexpected end of the text");
      if (at (s, '{') || at (s, '['))
        {
          char close = *s->p == '{' ? '}' : ']';
          if (depth == MAX_JSON_DEPTH)
            return scan_fail (s, "nested deeper than " G_STRINGIFY (MAX_JSON_DEPTH) " levels");
          closer[depth++] = close;
          s->p++;
          skip_space (s);
          if (!at (s, close))
            {
              if (close == '}' && !scan_member_name (s))
                return FALSE;
              continue;
            }
          s->p++;
          depth--;
        }
      else if (!scan_scalar (s))
        return FALSE;

      /* After a value: a comma, closing brackets, or the end of the text. */
      for (;;)
        {
          skip_space (s);
          if (depth == 0)
            return s->p == s->end || scan_fail (s, "unexpected text after the JSON value");
          if (at (s, ','))
            {
              s->p++;
              if (closer[depth - 1] == '}' && !scan_member_name (s))
                return FALSE;
              break;
            }
          if (!at (s, closer[depth - 1]))
            return scan_fail (s, closer[depth - 1] == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
          s->p++;
          depth--;
        }
    }
}

JsonNode *
ferry_json_parse (const char *data, gssize len, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  JsonScan scan = { 0 };

  if (data == NULL)
    data = "";
  if (len < 0)
    len = (gssize) strlen (data);
  if (!g_utf8_validate_len (data, (gsize) len, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Invalid JSON: the text is not UTF-8 or holds NUL characters");
      return NULL;
    }
  scan.p = data;
  scan.end = data + len;
  if (!scan_json (&scan))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid JSON at byte %td: %s", scan.p - data,
                   scan.why);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, len, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid JSON: %s", local->message);
      return NULL;
    }
  return json_parser_steal_root (parser);
}

JsonObject *
ferry_json_parse_object (const char *data, gsize len, gboolean allow_empty, GError **error)
{
  g_autoptr (JsonNode) root = NULL;

  if (data == NULL || len == 0)
    {
      if (allow_empty)
        return json_object_new ();
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Empty text where a JSON object is expected");
      return NULL;
    }
  root = ferry_json_parse (data, (gssize) len, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "A JSON object is expected");
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
      /* Range first: converting 1e999 (or NaN) to gint64 is undefined. */
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double) (gint64) d)
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

static gboolean
is_string_map (JsonNode *node)
{
  JsonObjectIter iter;
  JsonNode *value;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, NULL, &value))
    if (!JSON_NODE_HOLDS_NULL (value)
        && (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING))
      return FALSE;
  return TRUE;
}

/* The phrase for a wrong type, or NULL when NODE has TYPE. */
static const char *
type_mismatch (JsonNode *node, FerryJsonType type)
{
  switch (type)
    {
    case FERRY_JSON_STRING:
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        return NULL;
      return "a string";
    case FERRY_JSON_BOOL:
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN)
        return NULL;
      return "true or false";
    case FERRY_JSON_STRING_MAP:
      return is_string_map (node) ? NULL : "an object whose values are strings";
    }
  g_assert_not_reached ();
}

gboolean
ferry_json_check_fields (JsonObject *obj, const char *prefix, const FerryJsonField *fields, gsize n_fields,
                         GError **error)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      JsonNode *node = member_or_null (obj, fields[i].member);
      const char *expected = node != NULL ? type_mismatch (node, fields[i].type) : NULL;
      if (expected != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"%s%s\" must be %s", prefix ? prefix : "",
                       fields[i].member, expected);
          return FALSE;
        }
    }
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
