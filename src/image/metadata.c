#include "image/metadata.h"
#include "common/error.h"
#include "common/json.h"
#include "common/yaml.h"

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
invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "metadata.yaml: %s", msg);
  return FALSE;
}

/* A member as text: NULL when absent or null; a collection is an error. */
static gboolean
member_text (JsonObject *root, const char *key, const char **out, GError **error)
{
  JsonNode *node = json_object_get_member (root, key);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return invalid (error, "%s must be a single value", key);
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
parse_seconds (JsonObject *root, const char *key, gint64 *out, GError **error)
{
  const char *text;
  guint64 v = 0;

  if (!member_text (root, key, &text, error))
    return FALSE;
  if (text == NULL || *text == '\0')
    {
      *out = 0;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64 / G_USEC_PER_SEC, &v, NULL))
    return invalid (error, "%s must be a number of seconds", key);
  *out = (gint64) v;
  return TRUE;
}

static gboolean
valid_architecture (const char *arch)
{
  if (arch == NULL || *arch == '\0' || strlen (arch) > 64)
    return FALSE;
  for (const char *p = arch; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return FALSE;
  return TRUE;
}

static gboolean
parse_properties (JsonObject *root, GHashTable *properties, GError **error)
{
  JsonNode *node = json_object_get_member (root, "properties");
  g_autoptr (JsonNode) strings = NULL;
  JsonObject *map;
  g_autoptr (GList) keys = NULL;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, "properties must be a map");
  strings = ferry_yaml_string_map (node, error);
  if (strings == NULL)
    {
      g_prefix_error (error, "metadata.yaml: properties: ");
      return FALSE;
    }
  map = json_node_get_object (strings);
  keys = json_object_get_members (map);
  for (GList *l = keys; l != NULL; l = l->next)
    g_hash_table_insert (properties, g_strdup (l->data), g_strdup (json_object_get_string_member (map, l->data)));
  return TRUE;
}

FerryImageMetadata *
ferry_image_metadata_parse (const char *data, gsize len, GError **error)
{
  g_autoptr (FerryImageMetadata) md = g_new0 (FerryImageMetadata, 1);
  g_autoptr (JsonNode) doc = NULL;
  JsonObject *root;
  const char *arch;

  md->properties = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (len > FERRY_IMAGE_METADATA_MAX)
    {
      invalid (error, "larger than %d bytes", FERRY_IMAGE_METADATA_MAX);
      return NULL;
    }
  if (memchr (data, '\0', len) != NULL || !g_utf8_validate_len (data, len, NULL))
    {
      invalid (error, "not UTF-8 text");
      return NULL;
    }
  /* As LXD decodes it into api.ImageMetadata: scalars as the strings they
   * were written as; templates and unknown keys are not ours to read. A
   * repeated key is refused rather than silently overridden. */
  doc = ferry_yaml_read (data, (gssize) len, FERRY_YAML_READ_TEXT | FERRY_YAML_READ_UNIQUE_KEYS, error);
  if (doc == NULL)
    {
      g_prefix_error (error, "metadata.yaml: ");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (doc))
    {
      invalid (error, "the document must be a map");
      return NULL;
    }
  root = json_node_get_object (doc);
  if (!member_text (root, "architecture", &arch, error))
    return NULL;
  if (arch == NULL && !json_object_has_member (root, "architecture"))
    {
      invalid (error, "no architecture");
      return NULL;
    }
  if (!valid_architecture (arch))
    {
      invalid (error, "architecture must be a name like x86_64");
      return NULL;
    }
  md->architecture = g_strdup (arch);
  if (!parse_seconds (root, "creation_date", &md->creation_date, error)
      || !parse_seconds (root, "expiry_date", &md->expiry_date, error)
      || !parse_properties (root, md->properties, error))
    return NULL;
  return g_steal_pointer (&md);
}

/* ---- an instance's metadata.yaml, as LXD's API shows it ---- */

gboolean
ferry_image_template_name_valid (const char *name)
{
  return name != NULL && *name != '\0' && strchr (name, '/') == NULL && strcmp (name, ".") != 0
         && strcmp (name, "..") != 0 && strlen (name) <= 255;
}

static gboolean
wrong_type (GError **error, const char *what, const char *type)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Metadata member \"%s\" must be %s", what, type);
  return FALSE;
}

static gboolean
norm_string (JsonNode *in, const char *what, JsonNode **out, GError **error)
{
  if (in == NULL || JSON_NODE_HOLDS_NULL (in))
    {
      *out = json_node_init_string (json_node_alloc (), "");
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (in) || json_node_get_value_type (in) != G_TYPE_STRING)
    return wrong_type (error, what, "a string");
  *out = json_node_init_string (json_node_alloc (), json_node_get_string (in));
  return TRUE;
}

static gboolean
norm_int (JsonNode *in, FerryMetadataSource source, const char *what, JsonNode **out, GError **error)
{
  gint64 v = 0;

  if (in != NULL && !JSON_NODE_HOLDS_NULL (in))
    {
      if (!JSON_NODE_HOLDS_VALUE (in))
        return wrong_type (error, what, "a number");
      if (json_node_get_value_type (in) == G_TYPE_INT64)
        v = json_node_get_int (in);
      else if (source == FERRY_METADATA_FROM_YAML && json_node_get_value_type (in) == G_TYPE_STRING)
        {
          if (!g_ascii_string_to_signed (json_node_get_string (in), 10, G_MININT64, G_MAXINT64, &v, NULL))
            return wrong_type (error, what, "a number");
        }
      else
        return wrong_type (error, what, "a number");
    }
  *out = json_node_init_int (json_node_alloc (), v);
  return TRUE;
}

static gboolean
norm_bool (JsonNode *in, FerryMetadataSource source, const char *what, JsonNode **out, GError **error)
{
  gboolean v = FALSE;

  if (in != NULL && !JSON_NODE_HOLDS_NULL (in))
    {
      const char *s;

      if (!JSON_NODE_HOLDS_VALUE (in))
        return wrong_type (error, what, "true or false");
      if (json_node_get_value_type (in) == G_TYPE_BOOLEAN)
        v = json_node_get_boolean (in);
      else if (source == FERRY_METADATA_FROM_YAML && json_node_get_value_type (in) == G_TYPE_STRING)
        {
          /* YAML 1.1's booleans, as go-yaml v2 decodes them into a bool. */
          static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y" };
          static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N" };
          gboolean known = FALSE;

          s = json_node_get_string (in);
          for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
            {
              if (strcmp (s, yes[i]) == 0)
                v = known = TRUE;
              if (strcmp (s, no[i]) == 0)
                known = TRUE;
            }
          if (!known)
            return wrong_type (error, what, "true or false");
        }
      else
        return wrong_type (error, what, "true or false");
    }
  *out = json_node_init_boolean (json_node_alloc (), v);
  return TRUE;
}

/* A map of strings, or null. */
static gboolean
norm_string_map (JsonNode *in, const char *what, JsonNode **out, GError **error)
{
  JsonObject *o, *copy;
  g_autoptr (GList) keys = NULL;

  if (in == NULL || JSON_NODE_HOLDS_NULL (in))
    {
      *out = json_node_init_null (json_node_alloc ());
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (in))
    return wrong_type (error, what, "a map of strings");
  o = json_node_get_object (in);
  copy = json_object_new ();
  keys = ferry_json_sorted_members (o);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      JsonNode *v = json_object_get_member (o, l->data);
      if (JSON_NODE_HOLDS_NULL (v))
        {
          json_object_set_string_member (copy, l->data, "");
          continue;
        }
      if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
        {
          json_object_unref (copy);
          return wrong_type (error, what, "a map of strings");
        }
      json_object_set_string_member (copy, l->data, json_node_get_string (v));
    }
  *out = json_node_init_object (json_node_alloc (), copy);
  json_object_unref (copy);
  return TRUE;
}

static gboolean
norm_when (JsonNode *in, const char *what, JsonNode **out, GError **error)
{
  JsonArray *a, *copy;

  if (in == NULL || JSON_NODE_HOLDS_NULL (in))
    {
      *out = json_node_init_null (json_node_alloc ());
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (in))
    return wrong_type (error, what, "a list of strings");
  a = json_node_get_array (in);
  copy = json_array_new ();
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *v = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
        {
          json_array_unref (copy);
          return wrong_type (error, what, "a list of strings");
        }
      json_array_add_string_element (copy, json_node_get_string (v));
    }
  *out = json_node_init_array (json_node_alloc (), copy);
  json_array_unref (copy);
  return TRUE;
}

static void
set_taken (JsonObject *o, const char *member, JsonNode *value)
{
  json_object_set_member (o, member, value);
}

static gboolean
norm_template (JsonNode *in, FerryMetadataSource source, const char *path, JsonNode **out, GError **error)
{
  g_autoptr (JsonObject) t = json_object_new ();
  g_autofree char *prefix = g_strdup_printf ("templates.%s", path);
  g_autofree char *w_when = g_strconcat (prefix, ".when", NULL);
  g_autofree char *w_create = g_strconcat (prefix, ".create_only", NULL);
  g_autofree char *w_template = g_strconcat (prefix, ".template", NULL);
  g_autofree char *w_props = g_strconcat (prefix, ".properties", NULL);
  static const char *const ids[] = { "uid", "gid", "mode" };
  JsonObject *o = NULL;
  JsonNode *v = NULL;

  if (in != NULL && !JSON_NODE_HOLDS_NULL (in))
    {
      if (!JSON_NODE_HOLDS_OBJECT (in))
        return wrong_type (error, prefix, "a map");
      o = json_node_get_object (in);
    }
#define MEMBER(name) (o != NULL ? json_object_get_member (o, name) : NULL)
  if (!norm_when (MEMBER ("when"), w_when, &v, error))
    return FALSE;
  set_taken (t, "when", v);
  if (!norm_bool (MEMBER ("create_only"), source, w_create, &v, error))
    return FALSE;
  set_taken (t, "create_only", v);
  if (!norm_string (MEMBER ("template"), w_template, &v, error))
    return FALSE;
  if (!ferry_image_template_name_valid (json_node_get_string (v)))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Metadata member \"%s\" must name a file of the templates directory (no '/', not \"..\")", w_template);
      json_node_unref (v);
      return FALSE;
    }
  set_taken (t, "template", v);
  if (!norm_string_map (MEMBER ("properties"), w_props, &v, error))
    return FALSE;
  set_taken (t, "properties", v);
  /* Later LXDs' owner and mode of a created file, kept when given. */
  for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *what = g_strconcat (prefix, ".", ids[i], NULL);
      JsonNode *in_id = MEMBER (ids[i]);
      guint64 n;
      if (in_id == NULL || JSON_NODE_HOLDS_NULL (in_id))
        continue;
      if (!norm_string (in_id, what, &v, error))
        return FALSE;
      if (*json_node_get_string (v) != '\0'
          && !g_ascii_string_to_unsigned (json_node_get_string (v), i == 2 ? 8 : 10, 0,
                                          i == 2 ? 07777 : G_MAXUINT32 - 1, &n, NULL))
        {
          json_node_unref (v);
          return wrong_type (error, what, i == 2 ? "an octal mode" : "a number");
        }
      set_taken (t, ids[i], v);
    }
#undef MEMBER
  *out = json_node_init_object (json_node_alloc (), t);
  return TRUE;
}

JsonNode *
ferry_image_metadata_normalise (JsonNode *doc, FerryMetadataSource source, GError **error)
{
  g_autoptr (JsonObject) md = json_object_new ();
  JsonObject *in;
  JsonNode *v = NULL, *templates;

  if (doc == NULL || !JSON_NODE_HOLDS_OBJECT (doc))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Metadata must be a map");
      return NULL;
    }
  in = json_node_get_object (doc);
  if (!norm_string (json_object_get_member (in, "architecture"), "architecture", &v, error))
    return NULL;
  set_taken (md, "architecture", v);
  if (!norm_int (json_object_get_member (in, "creation_date"), source, "creation_date", &v, error))
    return NULL;
  set_taken (md, "creation_date", v);
  if (!norm_int (json_object_get_member (in, "expiry_date"), source, "expiry_date", &v, error))
    return NULL;
  set_taken (md, "expiry_date", v);
  if (!norm_string_map (json_object_get_member (in, "properties"), "properties", &v, error))
    return NULL;
  set_taken (md, "properties", v);
  templates = json_object_get_member (in, "templates");
  if (templates == NULL || JSON_NODE_HOLDS_NULL (templates))
    set_taken (md, "templates", json_node_init_null (json_node_alloc ()));
  else
    {
      g_autoptr (JsonObject) out = json_object_new ();
      g_autoptr (GList) paths = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (templates))
        {
          wrong_type (error, "templates", "a map");
          return NULL;
        }
      paths = ferry_json_sorted_members (json_node_get_object (templates));
      for (GList *l = paths; l != NULL; l = l->next)
        {
          if (!norm_template (json_object_get_member (json_node_get_object (templates), l->data), source, l->data, &v,
                              error))
            return NULL;
          json_object_set_member (out, l->data, v);
        }
      set_taken (md, "templates", json_node_init_object (json_node_alloc (), out));
    }
  return json_node_init_object (json_node_alloc (), md);
}

JsonNode *
ferry_image_metadata_read_json (const char *data, gsize len, GError **error)
{
  g_autoptr (JsonNode) doc = NULL;

  if (data == NULL)
    {
      g_autoptr (JsonNode) empty = json_node_init_object (json_node_alloc (), json_object_new ());
      json_object_unref (json_node_get_object (empty));
      return ferry_image_metadata_normalise (empty, FERRY_METADATA_FROM_JSON, error);
    }
  if (len > FERRY_IMAGE_METADATA_MAX)
    {
      invalid (error, "larger than %d bytes", FERRY_IMAGE_METADATA_MAX);
      return NULL;
    }
  doc = ferry_yaml_read (data, (gssize) len, FERRY_YAML_READ_TEXT | FERRY_YAML_READ_UNIQUE_KEYS, error);
  if (doc == NULL)
    {
      g_prefix_error (error, "metadata.yaml: ");
      return NULL;
    }
  return ferry_image_metadata_normalise (doc, FERRY_METADATA_FROM_YAML, error);
}

/* go-yaml writes a nil map as {} and a nil slice as []. */
static JsonNode *
yaml_ready (JsonNode *node, gboolean list)
{
  if (JSON_NODE_HOLDS_NULL (node))
    {
      if (list)
        return json_node_init_array (json_node_alloc (), json_array_new ());
      return json_node_init_object (json_node_alloc (), json_object_new ());
    }
  return json_node_copy (node);
}

char *
ferry_image_metadata_write_yaml (JsonNode *md)
{
  g_autoptr (JsonNode) out = json_node_copy (md);
  JsonObject *o = json_node_get_object (out);
  JsonNode *templates;

  json_object_set_member (o, "properties", yaml_ready (json_object_get_member (o, "properties"), FALSE));
  templates = yaml_ready (json_object_get_member (o, "templates"), FALSE);
  json_object_set_member (o, "templates", templates);
  {
    JsonObject *t = json_node_get_object (templates);
    g_autoptr (GList) paths = json_object_get_members (t);
    for (GList *l = paths; l != NULL; l = l->next)
      {
        JsonObject *one = json_object_get_object_member (t, l->data);
        json_object_set_member (one, "when", yaml_ready (json_object_get_member (one, "when"), TRUE));
        json_object_set_member (one, "properties", yaml_ready (json_object_get_member (one, "properties"), FALSE));
      }
  }
  return ferry_yaml_write (out);
}
