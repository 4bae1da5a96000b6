#include "image/metadata.h"
#include "common/error.h"
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
