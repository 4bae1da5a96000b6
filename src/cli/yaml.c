#include "config.h"

#include "yaml.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* ---- scalar resolution (YAML 1.1 as go-yaml v2 resolves plain scalars) ---- */

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

/* A plain scalar with this text would not read back as the same string. */
static gboolean
resolves_to_non_string (const char *s)
{
  gint64 i;
  double d;

  return *s == '\0' || is_null_word (s) || bool_word (s) >= 0 || parse_int (s, &i) || parse_float (s, &d)
         || looks_like_timestamp (s) || strcmp (s, "<<") == 0;
}

FerryYamlStyle
ferry_yaml_string_style (const char *s)
{
  gsize len = strlen (s);
  gboolean block_indicator = FALSE;
  gboolean special = FALSE;

  if (strchr (s, '\n') != NULL)
    return s[0] == ' ' ? FERRY_YAML_DOUBLE : FERRY_YAML_LITERAL;
  if (resolves_to_non_string (s))
    return FERRY_YAML_DOUBLE;
  for (const char *p = s; *p != '\0'; p++)
    if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
      special = TRUE;
  if (!g_utf8_validate (s, -1, NULL))
    special = TRUE;
  if (special)
    return FERRY_YAML_DOUBLE;
  /* libyaml's yaml_emitter_analyze_scalar for block context */
  if (g_str_has_prefix (s, "---") || g_str_has_prefix (s, "..."))
    block_indicator = TRUE;
  if (strchr ("#,[]{}&*!|>'\"%@`", s[0]) != NULL)
    block_indicator = TRUE;
  if ((s[0] == '?' || s[0] == ':' || s[0] == '-') && (s[1] == ' ' || s[1] == '\t' || s[1] == '\0'))
    block_indicator = TRUE;
  for (gsize i = 1; i < len; i++)
    {
      if (s[i] == ':' && (s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\0'))
        block_indicator = TRUE;
      if (s[i] == '#' && (s[i - 1] == ' ' || s[i - 1] == '\t'))
        block_indicator = TRUE;
    }
  if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
    block_indicator = TRUE;
  return block_indicator ? FERRY_YAML_SINGLE : FERRY_YAML_PLAIN;
}

/* ---- writer ---- */

static void
indent (GString *out, guint n)
{
  for (guint i = 0; i < n; i++)
    g_string_append_c (out, ' ');
}

static void
write_double_quoted (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0'; p++)
    {
      unsigned char c = *p;
      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\r': g_string_append (out, "\\r"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\x%02X", c);
          else
            g_string_append_c (out, c);
        }
    }
  g_string_append_c (out, '"');
}

/* Writes a string scalar after "key: " or "- "; a literal block continues on
 * the next lines at level + 2. */
static void
write_string (GString *out, const char *s, guint level)
{
  switch (ferry_yaml_string_style (s))
    {
    case FERRY_YAML_PLAIN:
      g_string_append (out, s);
      break;
    case FERRY_YAML_SINGLE:
      g_string_append_c (out, '\'');
      for (const char *p = s; *p != '\0'; p++)
        {
          if (*p == '\'')
            g_string_append_c (out, '\'');
          g_string_append_c (out, *p);
        }
      g_string_append_c (out, '\'');
      break;
    case FERRY_YAML_DOUBLE:
      write_double_quoted (out, s);
      break;
    case FERRY_YAML_LITERAL:
      {
        gsize len = strlen (s);
        gsize trailing = 0;
        g_auto (GStrv) lines = NULL;
        guint n;

        while (trailing < len && s[len - 1 - trailing] == '\n')
          trailing++;
        g_string_append (out, trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+");
        lines = g_strsplit (s, "\n", -1);
        n = g_strv_length (lines);
        /* the last element after a trailing newline is empty: not a line */
        if (trailing > 0)
          n--;
        for (guint i = 0; i < n; i++)
          {
            g_string_append_c (out, '\n');
            if (lines[i][0] != '\0')
              {
                indent (out, level + 2);
                g_string_append (out, lines[i]);
              }
          }
      }
      break;
    }
}

static void
write_scalar (GString *out, JsonNode *node, guint level)
{
  GType type;

  if (JSON_NODE_HOLDS_NULL (node))
    {
      g_string_append (out, "null");
      return;
    }
  type = json_node_get_value_type (node);
  if (type == G_TYPE_BOOLEAN)
    g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
  else if (type == G_TYPE_INT64)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
  else if (type == G_TYPE_DOUBLE)
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_string_append (out, g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node)));
    }
  else
    write_string (out, json_node_get_string (node), level);
}

static gboolean
is_empty_collection (JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    return json_object_get_size (json_node_get_object (node)) == 0;
  if (JSON_NODE_HOLDS_ARRAY (node))
    return json_array_get_length (json_node_get_array (node)) == 0;
  return FALSE;
}

static void write_block (GString *out, JsonNode *node, guint level, gboolean first_inline);

/* A value after "key:" or "- ". */
static void
write_value_after (GString *out, JsonNode *value, guint level, gboolean in_sequence)
{
  if (JSON_NODE_HOLDS_OBJECT (value) || JSON_NODE_HOLDS_ARRAY (value))
    {
      if (is_empty_collection (value))
        {
          g_string_append (out, JSON_NODE_HOLDS_OBJECT (value) ? " {}\n" : " []\n");
          return;
        }
      if (in_sequence)
        {
          /* "- key: v" continues on the same line */
          g_string_append_c (out, ' ');
          write_block (out, value, level + 2, TRUE);
          return;
        }
      g_string_append_c (out, '\n');
      /* go-yaml does not indent a sequence under a map key */
      write_block (out, value, JSON_NODE_HOLDS_ARRAY (value) ? level : level + 2, FALSE);
      return;
    }
  g_string_append_c (out, ' ');
  write_scalar (out, value, level);
  g_string_append_c (out, '\n');
}

static void
write_block (GString *out, JsonNode *node, guint level, gboolean first_inline)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autoptr (GList) members = json_object_get_members (json_node_get_object (node));
      gboolean first = TRUE;

      for (GList *l = members; l != NULL; l = l->next)
        {
          JsonNode *value = json_object_get_member (json_node_get_object (node), l->data);

          if (!(first && first_inline))
            indent (out, level);
          first = FALSE;
          write_string (out, l->data, level);
          g_string_append_c (out, ':');
          write_value_after (out, value, level, FALSE);
        }
      return;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          if (!(i == 0 && first_inline))
            indent (out, level);
          g_string_append_c (out, '-');
          write_value_after (out, json_array_get_element (array, i), level, TRUE);
        }
      return;
    }
  write_scalar (out, node, level);
  g_string_append_c (out, '\n');
}

char *
ferry_yaml_write (JsonNode *node)
{
  GString *out = g_string_new (NULL);

  if (node == NULL)
    g_string_append (out, "null\n");
  else if (is_empty_collection (node))
    g_string_append (out, JSON_NODE_HOLDS_OBJECT (node) ? "{}\n" : "[]\n");
  else
    write_block (out, node, 0, FALSE);
  return g_string_free (out, FALSE);
}

void
ferry_yaml_append_member (GString *out, const char *key, JsonNode *value)
{
  write_string (out, key, 0);
  g_string_append_c (out, ':');
  write_value_after (out, value, 0, FALSE);
}

void
ferry_yaml_append_time (GString *out, const char *key, const char *rfc3339)
{
  write_string (out, key, 0);
  g_string_append_printf (out, ": %s\n", rfc3339 != NULL && *rfc3339 != '\0' ? rfc3339 : "0001-01-01T00:00:00Z");
}

/* ---- reader ---- */

typedef struct
{
  char **lines;
  guint n;
  guint pos;
  GError **error;
} Reader;

static guint
line_indent (const char *line)
{
  guint n = 0;
  while (line[n] == ' ')
    n++;
  return n;
}

static gboolean
line_is_blank (const char *line)
{
  const char *p = line + line_indent (line);
  return *p == '\0' || *p == '#' || strcmp (p, "---") == 0;
}

static void
skip_blank (Reader *r)
{
  while (r->pos < r->n && line_is_blank (r->lines[r->pos]))
    r->pos++;
}

static gboolean
fail (Reader *r, const char *what)
{
  g_set_error (r->error, FERRY_ERROR, FERRY_ERROR_INVALID, "yaml: line %u: %s", r->pos + 1, what);
  return FALSE;
}

/* Removes a trailing " # comment" outside quotes. */
static char *
strip_comment (const char *text)
{
  char quote = 0;

  for (const char *p = text; *p != '\0'; p++)
    {
      if (quote != 0)
        {
          if (*p == quote)
            quote = 0;
          continue;
        }
      if ((*p == '\'' || *p == '"') && (p == text || p[-1] == ' '))
        quote = *p;
      else if (*p == '#' && p > text && (p[-1] == ' ' || p[-1] == '\t'))
        return g_strstrip (g_strndup (text, p - text));
    }
  return g_strstrip (g_strdup (text));
}

static JsonNode *
typed_plain_scalar (const char *s)
{
  JsonNode *node;
  gint64 i;
  double d;
  int b;

  if (*s == '\0' || is_null_word (s))
    return json_node_new (JSON_NODE_NULL);
  if ((b = bool_word (s)) >= 0)
    {
      node = json_node_new (JSON_NODE_VALUE);
      json_node_set_boolean (node, b);
      return node;
    }
  if (parse_int (s, &i))
    {
      node = json_node_new (JSON_NODE_VALUE);
      json_node_set_int (node, i);
      return node;
    }
  if (parse_float (s, &d) && strchr (s, '.') != NULL)
    {
      node = json_node_new (JSON_NODE_VALUE);
      json_node_set_double (node, d);
      return node;
    }
  node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, s);
  return node;
}

static JsonNode *
string_node (const char *s)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, s);
  return node;
}

/* Parses a quoted scalar at *p; *p moves past the closing quote. */
static char *
parse_quoted (Reader *r, const char **p)
{
  char quote = **p;
  GString *out = g_string_new (NULL);
  const char *s = *p + 1;

  for (; *s != '\0'; s++)
    {
      if (*s == quote)
        {
          if (quote == '\'' && s[1] == '\'')
            {
              g_string_append_c (out, '\'');
              s++;
              continue;
            }
          *p = s + 1;
          return g_string_free (out, FALSE);
        }
      if (quote == '"' && *s == '\\' && s[1] != '\0')
        {
          s++;
          switch (*s)
            {
            case 'n': g_string_append_c (out, '\n'); break;
            case 't': g_string_append_c (out, '\t'); break;
            case 'r': g_string_append_c (out, '\r'); break;
            case '0': g_string_append_c (out, '\0'); break;
            case 'x':
            case 'u':
            case 'U':
              {
                int digits = *s == 'x' ? 2 : *s == 'u' ? 4 : 8;
                char hex[9] = { 0 };
                gunichar c;

                if ((int) strlen (s + 1) < digits)
                  break;
                memcpy (hex, s + 1, digits);
                c = (gunichar) strtoul (hex, NULL, 16);
                g_string_append_unichar (out, c);
                s += digits;
              }
              break;
            default: g_string_append_c (out, *s); break;
            }
          continue;
        }
      g_string_append_c (out, *s);
    }
  g_string_free (out, TRUE);
  fail (r, "found unexpected end of stream in a quoted scalar");
  return NULL;
}

static JsonNode *parse_inline_value (Reader *r, const char *text);

/* Flow collections: "{}", "[]", "[a, b]", "{a: b, c: d}" (no nesting). */
static JsonNode *
parse_flow (Reader *r, const char *text)
{
  gboolean is_map = text[0] == '{';
  gsize len = strlen (text);
  g_autofree char *inner = NULL;
  g_auto (GStrv) items = NULL;
  JsonNode *node;

  if (text[len - 1] != (is_map ? '}' : ']'))
    {
      fail (r, "did not find expected ',' or ']'");
      return NULL;
    }
  inner = g_strstrip (g_strndup (text + 1, len - 2));
  node = json_node_new (is_map ? JSON_NODE_OBJECT : JSON_NODE_ARRAY);
  if (is_map)
    json_node_take_object (node, json_object_new ());
  else
    json_node_take_array (node, json_array_new ());
  if (*inner == '\0')
    return node;
  items = g_strsplit (inner, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);
      JsonNode *value;

      if (is_map)
        {
          char *colon = strstr (item, ": ");
          g_autofree char *key = NULL;

          if (colon == NULL)
            {
              json_node_unref (node);
              fail (r, "did not find expected ':' in a flow mapping");
              return NULL;
            }
          key = g_strstrip (g_strndup (item, colon - item));
          value = parse_inline_value (r, colon + 2);
          if (value == NULL)
            {
              json_node_unref (node);
              return NULL;
            }
          json_object_set_member (json_node_get_object (node), key, value);
        }
      else
        {
          value = parse_inline_value (r, item);
          if (value == NULL)
            {
              json_node_unref (node);
              return NULL;
            }
          json_array_add_element (json_node_get_array (node), value);
        }
    }
  return node;
}

static JsonNode *
parse_inline_value (Reader *r, const char *raw)
{
  g_autofree char *text = strip_comment (raw);

  if (text[0] == '\'' || text[0] == '"')
    {
      const char *p = text;
      g_autofree char *s = parse_quoted (r, &p);

      if (s == NULL)
        return NULL;
      if (*p != '\0')
        {
          fail (r, "did not find expected key");
          return NULL;
        }
      return string_node (s);
    }
  if (text[0] == '{' || text[0] == '[')
    return parse_flow (r, text);
  return typed_plain_scalar (text);
}

/* "|", "|-", "|+", ">" block scalars: the lines below indented deeper than
 * parent_indent. */
static JsonNode *
parse_block_scalar (Reader *r, const char *header, guint parent_indent)
{
  gboolean folded = header[0] == '>';
  char chomp = header[1] == '-' || header[1] == '+' ? header[1] : 0;
  GString *out = g_string_new (NULL);
  guint block_indent = 0;
  guint trailing_blank = 0;
  gboolean first = TRUE;
  g_autofree char *value = NULL;

  while (r->pos < r->n)
    {
      const char *line = r->lines[r->pos];
      guint ind = line_indent (line);

      if (line[ind] == '\0')
        {
          trailing_blank++;
          r->pos++;
          continue;
        }
      if (ind <= parent_indent)
        break;
      if (block_indent == 0)
        block_indent = ind;
      if (ind < block_indent)
        break;
      if (!first)
        g_string_append_c (out, folded && trailing_blank == 0 ? ' ' : '\n');
      for (guint i = 0; i < trailing_blank; i++)
        g_string_append_c (out, '\n');
      trailing_blank = 0;
      g_string_append (out, line + block_indent);
      first = FALSE;
      r->pos++;
    }
  if (chomp == '+')
    {
      g_string_append_c (out, '\n');
      for (guint i = 0; i < trailing_blank; i++)
        g_string_append_c (out, '\n');
    }
  else if (chomp == 0 && out->len > 0)
    g_string_append_c (out, '\n');
  value = g_string_free (out, FALSE);
  return string_node (value);
}

static JsonNode *parse_node (Reader *r, guint indent);

/* The value part of "key: value" or "- value" whose line has indent ind. */
static JsonNode *
parse_value (Reader *r, const char *rest, guint ind, gboolean in_sequence)
{
  if (*rest == '\0' || *rest == '#')
    {
      guint next;

      skip_blank (r);
      if (r->pos >= r->n)
        return json_node_new (JSON_NODE_NULL);
      next = line_indent (r->lines[r->pos]);
      if (next > ind)
        return parse_node (r, next);
      /* a sequence may sit at the same indentation as its key */
      if (!in_sequence && next == ind && r->lines[r->pos][next] == '-'
          && (r->lines[r->pos][next + 1] == ' ' || r->lines[r->pos][next + 1] == '\0'))
        return parse_node (r, next);
      return json_node_new (JSON_NODE_NULL);
    }
  if (rest[0] == '|' || rest[0] == '>')
    return parse_block_scalar (r, rest, ind);
  return parse_inline_value (r, rest);
}

/* Finds the ':' ending a mapping key on this line content, or NULL. */
static const char *
find_key_colon (const char *content)
{
  if (content[0] == '\'' || content[0] == '"')
    {
      char quote = content[0];
      const char *p = content + 1;
      for (; *p != '\0'; p++)
        if (*p == quote)
          {
            if (quote == '\'' && p[1] == '\'')
              {
                p++;
                continue;
              }
            break;
          }
      if (*p == '\0')
        return NULL;
      p++;
      while (*p == ' ')
        p++;
      return *p == ':' ? p : NULL;
    }
  for (const char *p = content; *p != '\0'; p++)
    if (*p == ':' && (p[1] == ' ' || p[1] == '\0' || p[1] == '\t'))
      return p;
    else if (*p == ' ' && p[1] == '#')
      return NULL;
  return NULL;
}

static JsonNode *
parse_mapping (Reader *r, guint indent)
{
  g_autoptr (JsonObject) object = json_object_new ();
  JsonNode *node;

  for (;;)
    {
      const char *line;
      const char *content;
      const char *colon;
      g_autofree char *key = NULL;
      JsonNode *value;

      skip_blank (r);
      if (r->pos >= r->n)
        break;
      line = r->lines[r->pos];
      if (line_indent (line) < indent)
        break;
      if (line_indent (line) > indent)
        {
          fail (r, "mapping values are not allowed in this context");
          return NULL;
        }
      content = line + indent;
      if (content[0] == '-' && (content[1] == ' ' || content[1] == '\0'))
        break;
      colon = find_key_colon (content);
      if (colon == NULL)
        {
          fail (r, "could not find expected ':'");
          return NULL;
        }
      if (content[0] == '\'' || content[0] == '"')
        {
          const char *p = content;
          key = parse_quoted (r, &p);
          if (key == NULL)
            return NULL;
        }
      else
        key = g_strstrip (g_strndup (content, colon - content));
      r->pos++;
      value = parse_value (r, g_strchug ((char *) colon + 1), indent, FALSE);
      if (value == NULL)
        return NULL;
      json_object_set_member (object, key, value);
    }
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, object);
  return node;
}

static JsonNode *
parse_sequence (Reader *r, guint indent)
{
  g_autoptr (JsonArray) array = json_array_new ();
  JsonNode *node;

  for (;;)
    {
      char *line;
      char *rest;
      JsonNode *value;

      skip_blank (r);
      if (r->pos >= r->n)
        break;
      line = r->lines[r->pos];
      if (line_indent (line) != indent || line[indent] != '-' || (line[indent + 1] != ' ' && line[indent + 1] != '\0'))
        break;
      rest = line + indent + 1;
      while (*rest == ' ')
        rest++;
      if (*rest != '\0' && *rest != '#' && *rest != '\'' && *rest != '"' && *rest != '{' && *rest != '['
          && *rest != '|' && *rest != '>' && (find_key_colon (rest) != NULL || (rest[0] == '-' && rest[1] == ' ')))
        {
          /* "- key: v": the item is a block at the column of "key";
           * blank out "- " so the line reads as part of it. */
          guint column = rest - line;
          memset (line + indent, ' ', column - indent);
          value = parse_node (r, column);
        }
      else
        {
          g_autofree char *copy = g_strdup (rest);
          r->pos++;
          value = parse_value (r, copy, indent, TRUE);
        }
      if (value == NULL)
        return NULL;
      json_array_add_element (array, value);
    }
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (node, array);
  return node;
}

static JsonNode *
parse_node (Reader *r, guint indent)
{
  const char *content;

  skip_blank (r);
  if (r->pos >= r->n)
    return json_node_new (JSON_NODE_NULL);
  content = r->lines[r->pos] + indent;
  if (content[0] == '-' && (content[1] == ' ' || content[1] == '\0'))
    return parse_sequence (r, indent);
  if (find_key_colon (content) == NULL)
    {
      /* a lone scalar document or flow collection */
      JsonNode *node;
      g_autofree char *copy = g_strdup (content);

      r->pos++;
      node = parse_value (r, copy, indent, FALSE);
      return node;
    }
  return parse_mapping (r, indent);
}

JsonNode *
ferry_yaml_read (const char *text, GError **error)
{
  g_autofree char *normalized = NULL;
  g_auto (GStrv) lines = NULL;
  Reader r = { 0 };
  JsonNode *node;

  normalized = g_strdup (text);
  for (char *p = normalized; *p != '\0'; p++)
    if (*p == '\r')
      *p = ' ';
  lines = g_strsplit (normalized, "\n", -1);
  r.lines = lines;
  r.n = g_strv_length (lines);
  r.error = error;
  for (guint i = 0; i < r.n; i++)
    if (strchr (lines[i], '\t') != NULL && line_indent (lines[i]) < strlen (lines[i])
        && lines[i][line_indent (lines[i])] == '\t')
      {
        r.pos = i;
        fail (&r, "found character that cannot start any token");
        return NULL;
      }
  skip_blank (&r);
  if (r.pos >= r.n)
    {
      node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (node, json_object_new ());
      return node;
    }
  node = parse_node (&r, line_indent (lines[r.pos]));
  if (node == NULL)
    return NULL;
  skip_blank (&r);
  if (r.pos < r.n)
    {
      json_node_unref (node);
      fail (&r, "did not find expected key");
      return NULL;
    }
  return node;
}

/* ---- typed helpers ---- */

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
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      return g_strdup (g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node)));
    }
  return g_strdup ("");
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
          JsonNode *value = json_object_get_member (in, l->data);
          g_autofree char *text = NULL;

          if (JSON_NODE_HOLDS_NULL (value))
            {
              json_object_set_string_member (out, l->data, "");
              continue;
            }
          if (!JSON_NODE_HOLDS_VALUE (value))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "yaml: cannot unmarshal a collection into the string value of \"%s\"",
                           (const char *) l->data);
              return NULL;
            }
          text = scalar_to_string (value);
          json_object_set_string_member (out, l->data, text);
        }
    }
  result = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (result, out);
  return result;
}
