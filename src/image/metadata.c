#include "image/metadata.h"
#include "common/error.h"

#include <string.h>

void
ferry_image_metadata_free (FerryImageMetadata *md)
{
  if (md == NULL)
    return;
  g_free (md->architecture);
  g_clear_pointer (&md->properties, g_hash_table_unref);
  g_free (md);
}

static gboolean
fail (GError **error, guint line, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, guint line, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "metadata.yaml line %u: %s", line, msg);
  return FALSE;
}

/* After a scalar only blanks and a comment may follow. */
static gboolean
only_trailer (const char *p, guint line, GError **error)
{
  while (*p == ' ')
    p++;
  if (*p != '\0' && *p != '#')
    return fail (error, line, "unexpected text after a quoted value");
  return TRUE;
}

static gboolean
append_hex_char (GString *out, const char **pp, int digits, guint line, GError **error)
{
  gunichar c = 0;

  for (int i = 0; i < digits; i++)
    {
      int v = g_ascii_xdigit_value ((*pp)[i]);
      if (v < 0)
        return fail (error, line, "bad escape sequence in a double-quoted value");
      c = c * 16 + (gunichar) v;
    }
  if (c == 0 || !g_unichar_validate (c))
    return fail (error, line, "escape sequence names an invalid character");
  g_string_append_unichar (out, c);
  *pp += digits;
  return TRUE;
}

static char *
parse_double_quoted (const char *p, guint line, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_assert (*p == '"');
  p++;
  for (;;)
    {
      char c = *p++;
      if (c == '\0')
        {
          fail (error, line, "unterminated double-quoted value (multi-line values are not supported)");
          return NULL;
        }
      if (c == '"')
        break;
      if (c != '\\')
        {
          g_string_append_c (out, c);
          continue;
        }
      c = *p++;
      switch (c)
        {
        case '\\': g_string_append_c (out, '\\'); break;
        case '"': g_string_append_c (out, '"'); break;
        case '/': g_string_append_c (out, '/'); break;
        case ' ': g_string_append_c (out, ' '); break;
        case 'n': g_string_append_c (out, '\n'); break;
        case 't': g_string_append_c (out, '\t'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 'x':
          if (!append_hex_char (out, &p, 2, line, error))
            return NULL;
          break;
        case 'u':
          if (!append_hex_char (out, &p, 4, line, error))
            return NULL;
          break;
        case 'U':
          if (!append_hex_char (out, &p, 8, line, error))
            return NULL;
          break;
        default:
          fail (error, line, "unsupported escape sequence in a double-quoted value");
          return NULL;
        }
    }
  if (!only_trailer (p, line, error))
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
parse_single_quoted (const char *p, guint line, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_assert (*p == '\'');
  p++;
  for (;;)
    {
      char c = *p++;
      if (c == '\0')
        {
          fail (error, line, "unterminated single-quoted value (multi-line values are not supported)");
          return NULL;
        }
      if (c == '\'')
        {
          if (*p != '\'')
            break;
          p++;
        }
      g_string_append_c (out, c);
    }
  if (!only_trailer (p, line, error))
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* A scalar value: text after "key:" (may be empty, giving ""). */
static char *
parse_scalar (const char *p, guint line, GError **error)
{
  const char *end;

  while (*p == ' ')
    p++;
  if (*p == '"')
    return parse_double_quoted (p, line, error);
  if (*p == '\'')
    return parse_single_quoted (p, line, error);
  if (*p != '\0' && strchr ("[]{}|>&*!%@`,", *p) != NULL)
    {
      fail (error, line, "unsupported YAML construct '%c' (only plain and quoted scalars are accepted)", *p);
      return NULL;
    }
  if (p[0] == '-' && (p[1] == ' ' || p[1] == '\0'))
    {
      fail (error, line, "a list is not accepted here");
      return NULL;
    }
  /* A plain scalar ends at " #" (comment); ": " inside it is a YAML error. */
  end = p;
  while (*end != '\0' && !(*end == '#' && end > p && end[-1] == ' '))
    {
      if (*end == ':' && (end[1] == ' ' || end[1] == '\0'))
        {
          fail (error, line, "unexpected ':' in a plain value (quote it)");
          return NULL;
        }
      end++;
    }
  while (end > p && end[-1] == ' ')
    end--;
  return g_strndup (p, (gsize) (end - p));
}

/* Splits "key: value" (the key plain or quoted). On success *key is set and
 * *value points at the text after the colon. */
static gboolean
parse_key (const char *p, guint line, char **key, const char **value, GError **error)
{
  if (*p == '"' || *p == '\'')
    {
      /* Quoted key: parse up to the closing quote, then require ':'. */
      char quote = *p;
      const char *q = p + 1;
      g_autofree char *copy = NULL;

      while (*q != '\0' && *q != quote)
        q += (quote == '"' && *q == '\\' && q[1] != '\0') ? 2 : 1;
      if (*q != quote || q[1] != ':' || (q[2] != ' ' && q[2] != '\0'))
        return fail (error, line, "expected a \"key: value\" line");
      copy = g_strndup (p, (gsize) (q - p + 1));
      *key = quote == '"' ? parse_double_quoted (copy, line, error) : parse_single_quoted (copy, line, error);
      if (*key == NULL)
        return FALSE;
      *value = q + 2;
      return TRUE;
    }
  if (*p == '\0' || strchr ("-?[]{}|>&*!%@`,:#", *p) != NULL)
    return fail (error, line, "expected a \"key: value\" line");
  for (const char *q = p; *q != '\0'; q++)
    {
      if (*q == ':' && (q[1] == ' ' || q[1] == '\0'))
        {
          const char *end = q;
          while (end > p && end[-1] == ' ')
            end--;
          *key = g_strndup (p, (gsize) (end - p));
          *value = q + 1;
          return TRUE;
        }
      if (*q == '#' && q[-1] == ' ')
        break;
    }
  return fail (error, line, "expected a \"key: value\" line");
}

static gboolean
is_blank_value (const char *value)
{
  while (*value == ' ')
    value++;
  return *value == '\0' || *value == '#';
}

static gboolean
is_empty_flow_map (const char *value)
{
  while (*value == ' ')
    value++;
  if (value[0] != '{' || value[1] != '}')
    return FALSE;
  return is_blank_value (value + 2);
}

static gboolean
parse_seconds (const char *key, const char *value, guint line, gint64 *out, GError **error)
{
  g_autofree char *text = parse_scalar (value, line, error);
  guint64 v = 0;

  if (text == NULL)
    return FALSE;
  if (*text == '\0')
    {
      *out = 0;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64 / G_USEC_PER_SEC, &v, NULL))
    return fail (error, line, "%s must be a number of seconds", key);
  *out = (gint64) v;
  return TRUE;
}

static gboolean
valid_architecture (const char *arch)
{
  if (*arch == '\0' || strlen (arch) > 64)
    return FALSE;
  for (const char *p = arch; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return FALSE;
  return TRUE;
}

enum section
{
  SECTION_TOP,
  SECTION_PROPERTIES,
  SECTION_SKIP,
};

FerryImageMetadata *
ferry_image_metadata_parse (const char *data, gsize len, GError **error)
{
  g_autoptr (FerryImageMetadata) md = g_new0 (FerryImageMetadata, 1);
  g_autoptr (GHashTable) seen_top = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) lines = NULL;
  g_autofree char *text = NULL;
  enum section section = SECTION_TOP;
  gsize props_indent = 0;
  gboolean any_key = FALSE;

  md->properties = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (len > FERRY_IMAGE_METADATA_MAX)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "metadata.yaml is larger than %d bytes",
                   FERRY_IMAGE_METADATA_MAX);
      return NULL;
    }
  if (memchr (data, '\0', len) != NULL || !g_utf8_validate_len (data, len, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "metadata.yaml is not UTF-8 text");
      return NULL;
    }
  text = g_strndup (data, len);
  /* A UTF-8 byte-order mark is allowed by YAML. */
  lines = g_strsplit (g_str_has_prefix (text, "\xef\xbb\xbf") ? text + 3 : text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      guint lineno = i + 1;
      char *line = lines[i];
      gsize n = strlen (line);
      gsize indent = 0;
      const char *rest;
      g_autofree char *key = NULL;
      const char *value = NULL;

      if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
      while (line[indent] == ' ')
        indent++;
      rest = line + indent;
      if (*rest == '\t')
        return fail (error, lineno, "tabs are not allowed for indentation"), NULL;
      if (*rest == '\0' || *rest == '#')
        continue;

      if (section == SECTION_SKIP)
        {
          /* A nested block (templates:) is ignored up to the next top-level key;
             YAML lets its lists start at column 0. */
          if (indent > 0 || (rest[0] == '-' && (rest[1] == ' ' || rest[1] == '\0')))
            continue;
          section = SECTION_TOP;
        }
      else if (section == SECTION_PROPERTIES && indent > 0)
        {
          g_autofree char *pvalue = NULL;

          if (props_indent == 0)
            props_indent = indent;
          else if (indent != props_indent)
            return fail (error, lineno, "properties must be a flat map of scalars (bad indentation)"), NULL;
          if (!parse_key (rest, lineno, &key, &value, error))
            return NULL;
          pvalue = parse_scalar (value, lineno, error);
          if (pvalue == NULL)
            return NULL;
          if (g_hash_table_contains (md->properties, key))
            return fail (error, lineno, "duplicate property \"%s\"", key), NULL;
          g_hash_table_insert (md->properties, g_steal_pointer (&key), g_steal_pointer (&pvalue));
          continue;
        }
      else if (section == SECTION_PROPERTIES)
        section = SECTION_TOP;

      if (indent > 0)
        return fail (error, lineno, "unexpected indentation"), NULL;
      if (!any_key && (strcmp (rest, "---") == 0 || g_str_has_prefix (rest, "--- ")))
        continue;
      if (strcmp (rest, "...") == 0)
        break;
      if (!parse_key (rest, lineno, &key, &value, error))
        return NULL;
      any_key = TRUE;
      if (g_hash_table_contains (seen_top, key))
        return fail (error, lineno, "duplicate key \"%s\"", key), NULL;
      g_hash_table_add (seen_top, g_strdup (key));

      if (strcmp (key, "architecture") == 0)
        {
          g_autofree char *arch = parse_scalar (value, lineno, error);
          if (arch == NULL)
            return NULL;
          if (!valid_architecture (arch))
            return fail (error, lineno, "architecture must be a name like x86_64"), NULL;
          md->architecture = g_steal_pointer (&arch);
        }
      else if (strcmp (key, "creation_date") == 0)
        {
          if (!parse_seconds (key, value, lineno, &md->creation_date, error))
            return NULL;
        }
      else if (strcmp (key, "expiry_date") == 0)
        {
          if (!parse_seconds (key, value, lineno, &md->expiry_date, error))
            return NULL;
        }
      else if (strcmp (key, "properties") == 0)
        {
          if (is_empty_flow_map (value))
            continue;
          if (!is_blank_value (value))
            return fail (error, lineno, "properties must be a map"), NULL;
          section = SECTION_PROPERTIES;
          props_indent = 0;
        }
      else if (is_blank_value (value) || is_empty_flow_map (value))
        section = SECTION_SKIP; /* templates: or an unknown map: not ours to read */
      else
        {
          /* An unknown scalar key: ignored as LXD does, but still well-formed. */
          g_autofree char *ignored = parse_scalar (value, lineno, error);
          if (ignored == NULL)
            return NULL;
        }
    }

  if (md->architecture == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "metadata.yaml has no architecture");
      return NULL;
    }
  return g_steal_pointer (&md);
}
