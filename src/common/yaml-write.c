/* Writing JSON values as lxc does: go-yaml v2 picks a style for each scalar
 * and hands it to its port of libyaml's emitter, so libyaml given the same
 * events writes the same bytes. */
#include "config.h"

#include "common/yaml.h"
#include "common/yaml-internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* go-yaml v2.4's default line width: long plain and quoted scalars are
 * folded at spaces past column 80. */
#define GO_YAML_WIDTH 80

typedef struct
{
  yaml_emitter_t emitter;
  GString *out;
  gboolean failed;
} Writer;

static int
append_output (void *data, unsigned char *buffer, size_t size)
{
  g_string_append_len (data, (const char *) buffer, (gssize) size);
  return 1;
}

/* libyaml refuses only malformed event sequences or text, which the
 * callers below never produce: a refusal is a bug here. */
static void
emit (Writer *w, yaml_event_t *event)
{
  if (w->failed)
    {
      yaml_event_delete (event);
      return;
    }
  if (!yaml_emitter_emit (&w->emitter, event))
    {
      w->failed = TRUE;
      g_critical ("libyaml refused an event: %s", w->emitter.problem != NULL ? w->emitter.problem : "?");
    }
}

static void
writer_begin (Writer *w, GString *out)
{
  yaml_event_t event;

  w->out = out;
  w->failed = FALSE;
  yaml_emitter_initialize (&w->emitter);
  yaml_emitter_set_output (&w->emitter, append_output, out);
  yaml_emitter_set_unicode (&w->emitter, 1);
  yaml_emitter_set_width (&w->emitter, GO_YAML_WIDTH);
  yaml_stream_start_event_initialize (&event, YAML_UTF8_ENCODING);
  emit (w, &event);
  yaml_document_start_event_initialize (&event, NULL, NULL, NULL, 1);
  emit (w, &event);
}

static void
writer_end (Writer *w)
{
  yaml_event_t event;

  yaml_document_end_event_initialize (&event, 1);
  emit (w, &event);
  yaml_stream_end_event_initialize (&event);
  emit (w, &event);
  yaml_emitter_flush (&w->emitter);
  yaml_emitter_delete (&w->emitter);
  /* libyaml 0.2 ends a stream whose last scalar is a "|+" block with "...";
   * go-yaml's older port does not. */
  if (g_str_has_suffix (w->out->str, "\n...\n"))
    g_string_truncate (w->out, w->out->len - 4);
}

static void
emit_scalar (Writer *w, const char *text, yaml_scalar_style_t style)
{
  yaml_event_t event;

  yaml_scalar_event_initialize (&event, NULL, NULL, (yaml_char_t *) text, (int) strlen (text), 1, 1, style);
  emit (w, &event);
}

/* go-yaml's stringv: a multi-line string asks for a literal block, one that
 * would read back as something else for double quotes, the rest for plain;
 * libyaml then falls back to quotes where that style cannot hold it. */
static void
emit_string (Writer *w, const char *s)
{
  g_autofree char *valid = NULL;

  /* JSON strings are UTF-8; anything else would make libyaml refuse. */
  if (!g_utf8_validate (s, -1, NULL))
    s = valid = g_utf8_make_valid (s, -1);
  if (strchr (s, '\n') != NULL)
    emit_scalar (w, s, YAML_LITERAL_SCALAR_STYLE);
  else if (ferry_yaml_plain_is_string (s))
    emit_scalar (w, s, YAML_PLAIN_SCALAR_STYLE);
  else
    emit_scalar (w, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void
emit_node (Writer *w, JsonNode *node)
{
  yaml_event_t event;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    emit_scalar (w, "null", YAML_PLAIN_SCALAR_STYLE);
  else if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (object);

      yaml_mapping_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
      emit (w, &event);
      for (GList *l = members; l != NULL; l = l->next)
        {
          emit_string (w, l->data);
          emit_node (w, json_object_get_member (object, l->data));
        }
      yaml_mapping_end_event_initialize (&event);
      emit (w, &event);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      yaml_sequence_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
      emit (w, &event);
      for (guint i = 0; i < json_array_get_length (array); i++)
        emit_node (w, json_array_get_element (array, i));
      yaml_sequence_end_event_initialize (&event);
      emit (w, &event);
    }
  else if (json_node_get_value_type (node) == G_TYPE_STRING)
    emit_string (w, json_node_get_string (node));
  else
    {
      g_autofree char *text = ferry_yaml_scalar_text (node);
      emit_scalar (w, text, YAML_PLAIN_SCALAR_STYLE);
    }
}

char *
ferry_yaml_write (JsonNode *node)
{
  GString *out = g_string_new (NULL);
  Writer w;

  writer_begin (&w, out);
  emit_node (&w, node);
  writer_end (&w);
  return g_string_free (out, FALSE);
}

/* A one-member map written on its own is the "key: value" lines of that
 * member in a top-level map. */
static void
append_one_member (GString *out, const char *key, JsonNode *value, const char *plain_value)
{
  yaml_event_t event;
  Writer w;

  writer_begin (&w, out);
  yaml_mapping_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
  emit (&w, &event);
  emit_string (&w, key);
  if (plain_value != NULL)
    emit_scalar (&w, plain_value, YAML_PLAIN_SCALAR_STYLE);
  else
    emit_node (&w, value);
  yaml_mapping_end_event_initialize (&event);
  emit (&w, &event);
  writer_end (&w);
}

void
ferry_yaml_append_member (GString *out, const char *key, JsonNode *value)
{
  append_one_member (out, key, value, NULL);
}

void
ferry_yaml_append_time (GString *out, const char *key, const char *rfc3339)
{
  append_one_member (out, key, NULL,
                     rfc3339 != NULL && *rfc3339 != '\0' ? rfc3339 : "0001-01-01T00:00:00Z");
}

FerryYamlStyle
ferry_yaml_string_style (const char *text)
{
  g_autoptr (JsonNode) value = json_node_init_string (json_node_alloc (), text);
  g_autoptr (GString) out = g_string_new (NULL);

  append_one_member (out, "k", value, NULL);
  /* what libyaml wrote after "k: " */
  switch (out->str[3])
    {
    case '\'': return FERRY_YAML_SINGLE;
    case '"': return FERRY_YAML_DOUBLE;
    case '|': return FERRY_YAML_LITERAL;
    default: return FERRY_YAML_PLAIN;
    }
}

char *
ferry_yaml_format_float (double value)
{
  char digits[G_ASCII_DTOSTR_BUF_SIZE];
  int precision;
  int exponent;

  if (isnan (value))
    return g_strdup (".nan");
  if (isinf (value))
    return g_strdup (value > 0 ? ".inf" : "-.inf");
  /* the fewest significant digits that read back as the same double */
  for (precision = 1; precision < 17; precision++)
    {
      g_autofree char *format = g_strdup_printf ("%%.%de", precision - 1);
      if (g_ascii_strtod (g_ascii_formatd (digits, sizeof digits, format, value), NULL) == value)
        break;
    }
  {
    g_autofree char *format = g_strdup_printf ("%%.%de", precision - 1);
    g_ascii_formatd (digits, sizeof digits, format, value);
  }
  exponent = atoi (strchr (digits, 'e') + 1);
  /* Go's shortest 'g' writes 1e+06 and 1e-05 with an exponent... */
  if (exponent < -4 || exponent >= 6)
    return g_strdup (digits);
  /* ...and otherwise writes the digits out */
  {
    g_autofree char *format = g_strdup_printf ("%%.%df", MAX (precision - 1 - exponent, 0));
    return g_strdup (g_ascii_formatd (digits, sizeof digits, format, value));
  }
}
