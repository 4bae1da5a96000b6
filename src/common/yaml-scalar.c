/* YAML 1.1 scalar resolution as go-yaml v2 does it: what an untagged plain
 * scalar means when read, and therefore which strings must be quoted when
 * written. */
#include "config.h"

#include "common/yaml.h"
#include "common/yaml-internal.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"

static gboolean
is_null_word (const char *s)
{
  return strcmp (s, "~") == 0 || strcmp (s, "null") == 0 || strcmp (s, "Null") == 0 || strcmp (s, "NULL") == 0;
}

static int
bool_word (const char *s)
{
  static const char *const yes[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL };
  static const char *const no[] = { "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL };

  if (g_strv_contains (yes, s))
    return 1;
  if (g_strv_contains (no, s))
    return 0;
  return -1;
}

static gboolean
parse_int (const char *s, gint64 *out)
{
  g_autofree char *clean = NULL;
  char *end = NULL;
  const char *p;
  int base = 10;
  gboolean negative = FALSE;
  guint64 value;
  GString *digits = g_string_new (NULL);

  for (p = s; *p != '\0'; p++)
    if (*p != '_')
      g_string_append_c (digits, *p);
  clean = g_string_free (digits, FALSE);
  p = clean;
  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  if (*p == '\0')
    return FALSE;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    base = 16, p += 2;
  else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
    base = 2, p += 2;
  else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
    base = 8, p += 2;
  else if (p[0] == '0' && p[1] != '\0')
    base = 8, p += 1;
  if (*p == '\0' || !g_ascii_isxdigit (*p))
    return FALSE;
  errno = 0;
  value = g_ascii_strtoull (p, &end, base);
  if (*end != '\0' || errno != 0)
    return FALSE;
  *out = negative ? -(gint64) value : (gint64) value;
  return TRUE;
}

static gboolean
parse_float (const char *s, double *out)
{
  static const char *const special[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
                                         "-.INF", ".nan", ".NaN", ".NAN", NULL };
  char *end = NULL;
  gboolean digit = FALSE;

  if (g_strv_contains (special, s))
    {
      *out = 0;
      return TRUE;
    }
  for (const char *p = s; *p != '\0'; p++)
    {
      if (g_ascii_isdigit (*p))
        digit = TRUE;
      else if (strchr ("+-.eE_", *p) == NULL)
        return FALSE;
    }
  if (!digit)
    return FALSE;
  *out = g_ascii_strtod (s, &end);
  return end != s && *end == '\0';
}

static gboolean
looks_like_timestamp (const char *s)
{
  /* go-yaml resolves "2006-01-02..." as a timestamp. */
  return strlen (s) >= 10 && g_ascii_isdigit (s[0]) && g_ascii_isdigit (s[1]) && g_ascii_isdigit (s[2])
         && g_ascii_isdigit (s[3]) && s[4] == '-' && g_ascii_isdigit (s[5]) && g_ascii_isdigit (s[6]) && s[7] == '-'
         && g_ascii_isdigit (s[8]) && g_ascii_isdigit (s[9]);
}

/* go-yaml's isBase60Float: "1:20" is a YAML 1.1 sexagesimal number, so a
 * string like it is quoted. */
static gboolean
is_base60_float (const char *s)
{
  return g_regex_match_simple ("^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\\.[0-9_]*)?$", s, 0, 0);
}

gboolean
ferry_yaml_plain_is_null (const char *s)
{
  return *s == '\0' || is_null_word (s);
}

gboolean
ferry_yaml_plain_is_string (const char *s)
{
  gint64 i;
  double d;

  return !(ferry_yaml_plain_is_null (s) || bool_word (s) >= 0 || parse_int (s, &i) || parse_float (s, &d)
           || looks_like_timestamp (s) || strcmp (s, "<<") == 0 || is_base60_float (s));
}

JsonNode *
ferry_yaml_resolve_plain (const char *s)
{
  JsonNode *node;
  gint64 i;
  double d;
  int b;

  if (ferry_yaml_plain_is_null (s))
    return json_node_new (JSON_NODE_NULL);
  node = json_node_new (JSON_NODE_VALUE);
  if ((b = bool_word (s)) >= 0)
    json_node_set_boolean (node, b);
  else if (parse_int (s, &i))
    json_node_set_int (node, i);
  else if (parse_float (s, &d) && strchr (s, '.') != NULL)
    json_node_set_double (node, d);
  else
    json_node_set_string (node, s);
  return node;
}

/* ---- decoding into Go strings ---- */

static char *
scalar_to_string (JsonNode *node)
{
  GType type = json_node_get_value_type (node);

  if (type == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  if (type == G_TYPE_BOOLEAN)
    return g_strdup (json_node_get_boolean (node) ? "true" : "false");
  if (type == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  if (type == G_TYPE_DOUBLE)
    return ferry_yaml_format_float (json_node_get_double (node));
  return g_strdup ("");
}

char *
ferry_yaml_scalar_text (JsonNode *node)
{
  if (JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("");
  if (!JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  return scalar_to_string (node);
}

JsonNode *
ferry_yaml_string_map (JsonNode *node, GError **error)
{
  g_autoptr (JsonObject) out = json_object_new ();
  JsonNode *result;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      JsonObject *in;
      g_autoptr (GList) members = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "yaml: expected a map of strings");
          return NULL;
        }
      in = json_node_get_object (node);
      members = json_object_get_members (in);
      for (GList *l = members; l != NULL; l = l->next)
        {
          g_autofree char *text = ferry_yaml_scalar_text (json_object_get_member (in, l->data));

          if (text == NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "yaml: cannot unmarshal a collection into the string value of \"%s\"",
                           (const char *) l->data);
              return NULL;
            }
          json_object_set_string_member (out, l->data, text);
        }
    }
  result = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (result, out);
  return result;
}
