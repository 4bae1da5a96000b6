/* Reading YAML into JSON values from libyaml's event stream. Input may be
 * untrusted (image metadata.yaml): the tree is built without recursion,
 * nesting is bounded, and aliases are counted by the nodes they stand for,
 * so a "billion laughs" document fails instead of growing. */
#include "config.h"

#include "common/yaml.h"
#include "common/yaml-internal.h"

#include <string.h>
#include <yaml.h>

#include "common/error.h"

/* As deep as ferry_json_parse lets JSON nest. */
#define MAX_DEPTH 64

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct
{
  JsonNode *node; /* the map or sequence being built */
  char *anchor;
  guint height;   /* collection levels inside it */
  gsize size;     /* nodes in it, aliases counted by what they stand for */
  /* a map's key whose value comes next (NULL: a key comes next), whether
   * it is the merge key "<<", and the keys that came from merges */
  char *key;
  yaml_mark_t key_mark;
  gboolean merge;
  GHashTable *merged;
} Frame;

typedef struct
{
  JsonNode *node;
  guint height;
  gsize size;
} Anchor;

typedef struct
{
  FerryYamlReadFlags flags;
  GArray *stack;        /* of Frame */
  GHashTable *anchors;  /* name -> Anchor */
  gsize budget;         /* nodes left */
  JsonNode *root;
  gboolean root_is_empty; /* "---" and nothing else */
  GError **error;
} Reader;

static void
frame_clear (Frame *f)
{
  g_clear_pointer (&f->node, json_node_unref);
  g_clear_pointer (&f->anchor, g_free);
  g_clear_pointer (&f->key, g_free);
  g_clear_pointer (&f->merged, g_hash_table_unref);
}

static void
anchor_free (Anchor *a)
{
  json_node_unref (a->node);
  g_free (a);
}

static gboolean
fail_at (Reader *r, const yaml_mark_t *mark, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail_at (Reader *r, const yaml_mark_t *mark, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (r->error, FERRY_ERROR, FERRY_ERROR_INVALID, "yaml: line %zu, column %zu: %s", mark->line + 1,
               mark->column + 1, msg);
  return FALSE;
}

static gboolean
fail_parser (Reader *r, const yaml_parser_t *parser)
{
  const char *problem = parser->problem != NULL ? parser->problem : "cannot parse the document";

  if (parser->error == YAML_MEMORY_ERROR)
    problem = "out of memory";
  if (parser->context != NULL)
    return fail_at (r, &parser->problem_mark, "%s (%s at line %zu, column %zu)", problem, parser->context,
                    parser->context_mark.line + 1, parser->context_mark.column + 1);
  return fail_at (r, &parser->problem_mark, "%s", problem);
}

static Frame *
top (Reader *r)
{
  return r->stack->len > 0 ? &g_array_index (r->stack, Frame, r->stack->len - 1) : NULL;
}

static gboolean
expects_key (Reader *r)
{
  Frame *f = top (r);
  return f != NULL && JSON_NODE_HOLDS_OBJECT (f->node) && f->key == NULL;
}

static gboolean
spend (Reader *r, gsize nodes, const yaml_mark_t *mark)
{
  if (nodes > r->budget)
    return fail_at (r, mark, "aliases expand the document to too many nodes");
  r->budget -= nodes;
  return TRUE;
}

/* Members of SOURCE not in TARGET yet; earlier merges and explicit keys win. */
static gboolean
merge_map (Reader *r, Frame *f, JsonNode *source, const yaml_mark_t *mark)
{
  JsonObject *target = json_node_get_object (f->node);
  JsonObject *from;
  g_autoptr (GList) members = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (source))
    return fail_at (r, mark, "map merge requires a map or a sequence of maps as the value");
  from = json_node_get_object (source);
  members = json_object_get_members (from);
  if (f->merged == NULL)
    f->merged = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (GList *l = members; l != NULL; l = l->next)
    if (!json_object_has_member (target, l->data))
      {
        json_object_set_member (target, l->data, json_node_copy (json_object_get_member (from, l->data)));
        g_hash_table_add (f->merged, g_strdup (l->data));
      }
  return TRUE;
}

/* A later anchor of the same name hides the earlier one. */
static void
remember_anchor (Reader *r, const char *name, JsonNode *node, guint height, gsize size)
{
  Anchor *a = g_new (Anchor, 1);

  a->node = json_node_ref (node);
  a->height = height;
  a->size = size;
  g_hash_table_replace (r->anchors, g_strdup (name), a);
}

/* Hands a finished node (owned) to its parent, or makes it the root. */
static gboolean
add_node (Reader *r, JsonNode *node, const char *anchor, guint height, gsize size, const yaml_mark_t *mark)
{
  g_autoptr (JsonNode) owned = node;
  Frame *f = top (r);

  if (anchor != NULL)
    remember_anchor (r, anchor, node, height, size);
  if (f == NULL)
    {
      if (r->root == NULL)
        r->root = g_steal_pointer (&owned);
      return TRUE;
    }
  f->height = MAX (f->height, height + 1);
  f->size += size;
  if (JSON_NODE_HOLDS_ARRAY (f->node))
    {
      json_array_add_element (json_node_get_array (f->node), g_steal_pointer (&owned));
      return TRUE;
    }
  g_assert (f->key != NULL);
  if (f->merge)
    {
      if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *maps = json_node_get_array (node);
          for (guint i = 0; i < json_array_get_length (maps); i++)
            if (!merge_map (r, f, json_array_get_element (maps, i), mark))
              return FALSE;
        }
      else if (!merge_map (r, f, node, mark))
        return FALSE;
    }
  else
    {
      JsonObject *object = json_node_get_object (f->node);
      gboolean was_merged = f->merged != NULL && g_hash_table_remove (f->merged, f->key);

      if ((r->flags & FERRY_YAML_READ_UNIQUE_KEYS) && !was_merged && json_object_has_member (object, f->key))
        return fail_at (r, &f->key_mark, "key \"%s\" already set in this map", f->key);
      json_object_set_member (object, f->key, g_steal_pointer (&owned));
    }
  g_clear_pointer (&f->key, g_free);
  f->merge = FALSE;
  return TRUE;
}

static JsonNode *
string_node (const char *text)
{
  return json_node_init_string (json_node_alloc (), text);
}

static gboolean
is_core_tag (const char *tag, const char *name)
{
  return tag != NULL && g_str_has_prefix (tag, TAG_PREFIX) && strcmp (tag + strlen (TAG_PREFIX), name) == 0;
}

/* A !!binary scalar is base64; Go decodes it into the bytes, which must
 * be text here. */
static JsonNode *
binary_node (Reader *r, const char *text, const yaml_mark_t *mark)
{
  g_autofree char *clean = g_strdup (text);
  g_autofree guchar *bytes = NULL;
  g_autofree char *decoded = NULL;
  gsize len = 0;
  char *p = clean;

  for (const char *s = text; *s != '\0'; s++)
    if (!g_ascii_isspace (*s))
      *p++ = *s;
  *p = '\0';
  bytes = g_base64_decode (clean, &len);
  if (memchr (bytes, '\0', len) != NULL || !g_utf8_validate_len ((const char *) bytes, len, NULL))
    {
      fail_at (r, mark, "a !!binary value must decode to UTF-8 text");
      return NULL;
    }
  decoded = g_strndup ((const char *) bytes, len);
  return string_node (decoded);
}

/* What a scalar means: core tags are honoured, an untagged plain scalar
 * resolves as YAML 1.1 (or stays text), anything else is a string. */
static JsonNode *
scalar_node (Reader *r, const yaml_event_t *event)
{
  const char *text = (const char *) event->data.scalar.value;
  const char *tag = (const char *) event->data.scalar.tag;
  gboolean typed = !(r->flags & FERRY_YAML_READ_TEXT);
  gboolean plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

  if (tag == NULL && plain)
    {
      if (typed)
        return ferry_yaml_resolve_plain (text);
      return ferry_yaml_plain_is_null (text) ? json_node_new (JSON_NODE_NULL) : string_node (text);
    }
  if (is_core_tag (tag, "null"))
    return json_node_new (JSON_NODE_NULL);
  if (is_core_tag (tag, "binary"))
    return binary_node (r, text, &event->start_mark);
  if (typed && (is_core_tag (tag, "bool") || is_core_tag (tag, "int") || is_core_tag (tag, "float")))
    {
      JsonNode *node = ferry_yaml_resolve_plain (text);
      GType want = is_core_tag (tag, "bool") ? G_TYPE_BOOLEAN : is_core_tag (tag, "int") ? G_TYPE_INT64 : G_TYPE_DOUBLE;
      GType got = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;

      if (got == want)
        return node;
      if (want == G_TYPE_DOUBLE && got == G_TYPE_INT64)
        {
          json_node_set_double (node, (double) json_node_get_int (node));
          return node;
        }
      json_node_unref (node);
      fail_at (r, &event->start_mark, "cannot decode %s as %s", text, tag + strlen (TAG_PREFIX));
      return NULL;
    }
  return string_node (text);
}

static gboolean
on_scalar (Reader *r, const yaml_event_t *event)
{
  const char *text = (const char *) event->data.scalar.value;
  const char *anchor = (const char *) event->data.scalar.anchor;
  Frame *f = top (r);
  JsonNode *node;

  if (memchr (text, '\0', event->data.scalar.length) != NULL)
    return fail_at (r, &event->start_mark, "a value contains a NUL character");
  if (!spend (r, 1, &event->start_mark))
    return FALSE;
  node = scalar_node (r, event);
  if (node == NULL)
    return FALSE;
  if (expects_key (r))
    {
      /* A key is the text as written, as Go decodes it into a string. */
      f->key = g_strdup (text);
      f->key_mark = event->start_mark;
      f->merge = strcmp (text, "<<") == 0 && event->data.scalar.tag == NULL
                 && event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      if (anchor != NULL)
        remember_anchor (r, anchor, node, 0, 1);
      json_node_unref (node);
      return TRUE;
    }
  if (f == NULL && event->data.scalar.length == 0 && event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    r->root_is_empty = TRUE;
  return add_node (r, node, anchor, 0, 1, &event->start_mark);
}

static gboolean
on_alias (Reader *r, const yaml_event_t *event)
{
  const char *name = (const char *) event->data.alias.anchor;
  Anchor *a = g_hash_table_lookup (r->anchors, name);
  Frame *f = top (r);

  /* A collection's anchor is known once it ends: an alias inside it is
   * unknown too, as go-yaml refuses a value that contains itself. */
  if (a == NULL)
    return fail_at (r, &event->start_mark, "unknown anchor '%s' referenced", name);
  if (expects_key (r))
    {
      f->key = ferry_yaml_scalar_text (a->node);
      f->key_mark = event->start_mark;
      if (f->key == NULL)
        return fail_at (r, &event->start_mark, "a map key must be a scalar");
      return TRUE;
    }
  if (r->stack->len + a->height + 1 > MAX_DEPTH)
    return fail_at (r, &event->start_mark, "the document nests deeper than %d levels", MAX_DEPTH);
  if (!spend (r, a->size, &event->start_mark))
    return FALSE;
  /* json_node_copy shares the alias's maps and lists: nothing built later
   * changes a finished node. */
  return add_node (r, json_node_copy (a->node), NULL, a->height, a->size, &event->start_mark);
}

static gboolean
on_collection_start (Reader *r, const yaml_event_t *event)
{
  gboolean is_map = event->type == YAML_MAPPING_START_EVENT;
  const yaml_char_t *anchor = is_map ? event->data.mapping_start.anchor : event->data.sequence_start.anchor;
  Frame f = { 0 };

  if (expects_key (r))
    return fail_at (r, &event->start_mark, "a map key must be a scalar");
  if (r->stack->len + 1 > MAX_DEPTH)
    return fail_at (r, &event->start_mark, "the document nests deeper than %d levels", MAX_DEPTH);
  if (!spend (r, 1, &event->start_mark))
    return FALSE;
  if (is_map)
    {
      f.node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (f.node, json_object_new ());
    }
  else
    {
      f.node = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (f.node, json_array_new ());
    }
  f.anchor = g_strdup ((const char *) anchor);
  f.size = 1;
  g_array_append_val (r->stack, f);
  return TRUE;
}

static gboolean
on_collection_end (Reader *r, const yaml_event_t *event)
{
  /* libyaml pairs every end with its start */
  Frame *f = &g_array_index (r->stack, Frame, r->stack->len - 1);
  JsonNode *node = g_steal_pointer (&f->node);
  g_autofree char *anchor = g_steal_pointer (&f->anchor);
  guint height = f->height;
  gsize size = f->size;

  g_array_set_size (r->stack, r->stack->len - 1);
  return add_node (r, node, anchor, height, size, &event->start_mark);
}

/* Feeds one event to the tree; *done once the first document has ended. */
static gboolean
on_event (Reader *r, const yaml_event_t *event, gboolean *done)
{
  switch (event->type)
    {
    case YAML_SCALAR_EVENT: return on_scalar (r, event);
    case YAML_ALIAS_EVENT: return on_alias (r, event);
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: return on_collection_start (r, event);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT: return on_collection_end (r, event);
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT: *done = TRUE; return TRUE;
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    default: return TRUE;
    }
}

JsonNode *
ferry_yaml_read (const char *text, gssize len, FerryYamlReadFlags flags, GError **error)
{
  gsize length = len < 0 ? strlen (text) : (gsize) len;
  yaml_parser_t parser;
  Reader r = {
    .flags = flags,
    .stack = g_array_new (FALSE, TRUE, sizeof (Frame)),
    .anchors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) anchor_free),
    /* Without aliases a document holds at most one node per two bytes. */
    .budget = 65536 + 2 * length,
    .error = error,
  };
  gboolean done = FALSE;
  gboolean ok = TRUE;

  g_array_set_clear_func (r.stack, (GDestroyNotify) frame_clear);
  yaml_parser_initialize (&parser);
  yaml_parser_set_input_string (&parser, (const unsigned char *) text, length);
  yaml_parser_set_encoding (&parser, YAML_UTF8_ENCODING);
  while (ok && !done)
    {
      yaml_event_t event;

      if (!yaml_parser_parse (&parser, &event))
        {
          ok = fail_parser (&r, &parser);
          break;
        }
      ok = on_event (&r, &event, &done);
      yaml_event_delete (&event);
    }
  yaml_parser_delete (&parser);
  g_array_unref (r.stack);
  g_hash_table_unref (r.anchors);
  if (!ok)
    {
      g_clear_pointer (&r.root, json_node_unref);
      return NULL;
    }
  /* No document, or one with nothing in it: an empty map, not null. */
  if (r.root == NULL || r.root_is_empty)
    {
      g_clear_pointer (&r.root, json_node_unref);
      r.root = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (r.root, json_object_new ());
    }
  return r.root;
}
