#include "config.h"

#include "migration.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/json.h"
#include "instance.h"
#include "output.h"

/* shared.IsConnectionError: the prefix of Go's dial errors, which a target
 * daemon also uses when it cannot reach the source. */
#define CONNECT_ERROR_PREFIX "Unable to connect to"

static void
add_string_map (JsonBuilder *b, JsonObject *map)
{
  g_autoptr (JsonNode) sorted = ferry_sorted_copy (map, FALSE);

  json_builder_add_value (b, g_steal_pointer (&sorted));
}

JsonNode *
ferry_migration_source_request (gboolean live, gboolean instance_only, const char *target_certificate,
                                const char *target_operation, JsonObject *target_secrets)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "migration");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "live");
  json_builder_add_boolean_value (b, live);
  json_builder_set_member_name (b, "instance_only");
  json_builder_add_boolean_value (b, instance_only);
  json_builder_set_member_name (b, "container_only");
  json_builder_add_boolean_value (b, instance_only);
  json_builder_set_member_name (b, "target");
  if (target_certificate == NULL)
    json_builder_add_null_value (b);
  else
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "certificate");
      json_builder_add_string_value (b, target_certificate);
      if (target_operation != NULL && *target_operation != '\0')
        {
          json_builder_set_member_name (b, "operation");
          json_builder_add_string_value (b, target_operation);
        }
      if (target_secrets != NULL && json_object_get_size (target_secrets) > 0)
        {
          json_builder_set_member_name (b, "secrets");
          add_string_map (b, target_secrets);
        }
      json_builder_end_object (b);
    }
  json_builder_set_member_name (b, "pool");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "project");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "allow_inconsistent");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
ferry_migration_set_root_pool (JsonObject *instance, const char *pool)
{
  JsonObject *devices = ferry_obj_object (instance, "devices");
  g_autoptr (GList) names = NULL;
  JsonObject *root;

  if (devices == NULL)
    {
      devices = json_object_new ();
      json_object_set_object_member (instance, "devices", devices);
    }
  names = json_object_get_members (devices);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonObject *dev = ferry_obj_object (devices, l->data);
      if (g_strcmp0 (ferry_obj_string (dev, "type"), "disk") == 0 && g_strcmp0 (ferry_obj_string (dev, "path"), "/") == 0)
        {
          json_object_set_string_member (dev, "pool", pool);
          return;
        }
    }
  root = json_object_new ();
  json_object_set_string_member (root, "type", "disk");
  json_object_set_string_member (root, "path", "/");
  json_object_set_string_member (root, "pool", pool);
  json_object_set_object_member (devices, "root", root);
}

/* shared.InstanceIncludeWhenCopying (remote copy): of the volatile keys
 * only volatile.base_image helps the target. */
static void
strip_volatile (JsonObject *config, gboolean is_move)
{
  g_autoptr (GList) members = json_object_get_members (config);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;

      if (strcmp (key, "volatile.last_state.power") == 0
          || (!is_move && g_str_has_prefix (key, "volatile.") && strcmp (key, "volatile.base_image") != 0))
        json_object_remove_member (config, key);
    }
}

static void
add_optional_string (JsonBuilder *b, const char *member, const char *value)
{
  if (value == NULL || *value == '\0')
    return;
  json_builder_set_member_name (b, member);
  json_builder_add_string_value (b, value);
}

static void
add_true (JsonBuilder *b, const char *member, gboolean value)
{
  if (!value)
    return;
  json_builder_set_member_name (b, member);
  json_builder_add_boolean_value (b, TRUE);
}

JsonNode *
ferry_migration_target_request (JsonObject *instance, const char *name, gboolean is_move,
                                const FerryMigrationSource *source)
{
  g_autoptr (JsonNode) writable = ferry_instance_writable (instance);
  JsonObject *put = json_node_get_object (writable);
  JsonObject *config = json_object_get_object_member (put, "config");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GList) members = NULL;
  gboolean is_copy = strcmp (source->mode, "copy") == 0;
  const char *type = ferry_obj_string (instance, "type");

  strip_volatile (config, is_move);
  json_builder_begin_object (b);
  /* api.InstancePut first, in its field order */
  members = json_object_get_members (put);
  for (GList *l = members; l != NULL; l = l->next)
    {
      json_builder_set_member_name (b, l->data);
      json_builder_add_value (b, json_node_copy (json_object_get_member (put, l->data)));
    }
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "source");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, is_copy ? "copy" : "migration");
  json_builder_set_member_name (b, "certificate");
  json_builder_add_string_value (b, source->certificate != NULL ? source->certificate : "");
  add_optional_string (b, "base-image", ferry_obj_string (ferry_obj_object (instance, "config"), "volatile.base_image"));
  if (!is_copy)
    {
      add_optional_string (b, "mode", source->mode);
      add_optional_string (b, "operation", source->operation);
      if (source->secrets != NULL && json_object_get_size (source->secrets) > 0)
        {
          json_builder_set_member_name (b, "secrets");
          add_string_map (b, source->secrets);
        }
    }
  else
    add_optional_string (b, "source", source->operation);
  add_true (b, "live", source->live);
  add_true (b, "instance_only", source->instance_only);
  add_true (b, "container_only", source->instance_only);
  json_builder_set_member_name (b, "allow_inconsistent");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "instance_type");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, *type != '\0' ? type : "container");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

GStrv
ferry_migration_addresses (const char *https_url, JsonObject *server)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  JsonArray *addresses = ferry_obj_array (ferry_obj_object (server, "environment"), "addresses");

  if (https_url != NULL)
    g_ptr_array_add (seen, g_strdup (https_url));
  for (guint i = 0; addresses != NULL && i < json_array_get_length (addresses); i++)
    {
      JsonNode *node = json_array_get_element (addresses, i);
      g_autofree char *url = NULL;
      const char *addr;

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        continue;
      addr = json_node_get_string (node);
      if (*addr == '\0' || *addr == ':')
        continue;
      url = g_strconcat ("https://", addr, NULL);
      if (!g_ptr_array_find_with_equal_func (seen, url, g_str_equal, NULL))
        g_ptr_array_add (seen, g_steal_pointer (&url));
    }
  for (guint i = 0; i < seen->len; i++)
    g_strv_builder_add (builder, seen->pdata[i]);
  return g_strv_builder_end (builder);
}

char *
ferry_migration_operation_url (const char *address, const char *operation_id)
{
  g_autofree char *escaped = g_uri_escape_string (operation_id, NULL, TRUE);

  return g_strdup_printf ("%s/1.0/operations/%s", address, escaped);
}

JsonObject *
ferry_migration_secrets (JsonObject *operation, GError **error)
{
  JsonObject *metadata = ferry_obj_object (operation, "metadata");
  g_autoptr (JsonObject) secrets = json_object_new ();
  g_autoptr (GList) members = NULL;

  if (metadata == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The migration operation carries no secrets");
      return NULL;
    }
  members = json_object_get_members (metadata);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (metadata, l->data);

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                       "The migration operation's metadata \"%s\" is not a string secret", (char *) l->data);
          return NULL;
        }
      json_object_set_string_member (secrets, l->data, json_node_get_string (value));
    }
  return g_steal_pointer (&secrets);
}

gboolean
ferry_migration_is_connection_error (const GError *error)
{
  return error != NULL && strstr (error->message, CONNECT_ERROR_PREFIX) != NULL;
}

void
ferry_migration_set_error (GError **error, const char *what, GPtrArray *addresses, GPtrArray *errors)
{
  g_autoptr (GString) text = NULL;
  gboolean identical = TRUE;

  g_return_if_fail (errors->len > 0 && addresses->len == errors->len);
  for (guint i = 1; i < errors->len; i++)
    if (g_strcmp0 (((GError *) errors->pdata[i])->message, ((GError *) errors->pdata[0])->message) != 0)
      identical = FALSE;
  if (identical)
    {
      const GError *first = errors->pdata[0];
      g_set_error (error, first->domain, first->code, "%s: %s", what, first->message);
      return;
    }
  text = g_string_new (what);
  g_string_append_c (text, ':');
  for (guint i = 0; i < errors->len; i++)
    g_string_append_printf (text, "\n - %s: %s", (char *) addresses->pdata[i],
                            ((GError *) errors->pdata[i])->message);
  g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, text->str);
}

/* ---- --verbose figures ---- */

typedef struct
{
  const char *key;
  const char *label;
  const char *unit;
} Figure;

static const Figure known_figures[] = {
  { "migration_freeze_ms", "Freeze", "ms" },
  { "migration_dump_ms", "Dump", "ms" },
  { "migration_transfer_bytes", "Transferred", "bytes" },
  { "migration_transfer_mbps", "Transfer rate", "MB/s" },
  { "migration_restore_ms", "Restore", "ms" },
  { "migration_total_ms", "Total", "ms" },
  { "migration_downtime_ms", "Downtime", "ms" },
  { "migration_final_sync_bytes", "Final sync sent", "bytes" },
};

static const struct
{
  const char *suffix;
  const char *unit;
} unit_suffixes[] = {
  { "_ms", "ms" }, { "_bytes", "bytes" }, { "_mbps", "MB/s" }, { "_s", "s" },
};

/* A figure the daemon added later: "migration_page_faults" → "Page faults". */
static char *
label_for_key (const char *key, const char **unit_out)
{
  g_autofree char *rest = g_strdup (key + strlen ("migration_"));

  *unit_out = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (unit_suffixes); i++)
    if (g_str_has_suffix (rest, unit_suffixes[i].suffix) && strlen (rest) > strlen (unit_suffixes[i].suffix))
      {
        rest[strlen (rest) - strlen (unit_suffixes[i].suffix)] = '\0';
        *unit_out = unit_suffixes[i].unit;
        break;
      }
  g_strdelimit (rest, "_", ' ');
  rest[0] = g_ascii_toupper (rest[0]);
  return g_steal_pointer (&rest);
}

/* The daemon sends strings (lxc would panic on numbers in migration
 * metadata), but a number is shown rather than dropped. */
static char *
figure_value (JsonNode *node, const char *unit)
{
  g_autofree char *text = NULL;
  char *end = NULL;
  gint64 bytes;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      text = g_strdup (json_node_get_string (node));
      break;
    case G_TYPE_INT64:
      text = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
      break;
    case G_TYPE_DOUBLE:
      text = g_strdup_printf ("%.1f", json_node_get_double (node));
      break;
    default:
      return NULL;
    }
  if (unit == NULL || *text == '\0')
    return g_steal_pointer (&text);
  if (strcmp (unit, "bytes") == 0)
    {
      bytes = g_ascii_strtoll (text, &end, 10);
      if (end != NULL && *end == '\0' && end != text && bytes >= 1024)
        {
          g_autofree char *human = ferry_size_iec (bytes);
          return g_strdup_printf ("%s bytes (%s)", text, human);
        }
    }
  return g_strdup_printf ("%s %s", text, unit);
}

char *
ferry_migration_figures (JsonObject *metadata)
{
  g_autoptr (GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GList) members = NULL;
  g_autoptr (GString) out = NULL;
  gsize width = 0;

  if (metadata == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (known_figures); i++)
    {
      JsonNode *node = json_object_get_member (metadata, known_figures[i].key);
      char *value = node != NULL ? figure_value (node, known_figures[i].unit) : NULL;

      if (value == NULL)
        continue;
      g_ptr_array_add (labels, g_strdup (known_figures[i].label));
      g_ptr_array_add (values, value);
    }
  members = ferry_json_sorted_members (metadata);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      const char *unit = NULL;
      gboolean known = FALSE;
      char *value;

      if (!g_str_has_prefix (key, "migration_") || strlen (key) == strlen ("migration_"))
        continue;
      for (gsize i = 0; i < G_N_ELEMENTS (known_figures); i++)
        known = known || strcmp (key, known_figures[i].key) == 0;
      if (known)
        continue;
      g_ptr_array_add (labels, label_for_key (key, &unit));
      value = figure_value (json_object_get_member (metadata, key), unit);
      g_ptr_array_add (values, value != NULL ? value : g_strdup ("?"));
    }
  if (labels->len == 0)
    return NULL;
  for (guint i = 0; i < labels->len; i++)
    width = MAX (width, strlen (labels->pdata[i]) + 1);
  out = g_string_new (NULL);
  for (guint i = 0; i < labels->len; i++)
    {
      g_autofree char *label = g_strconcat (labels->pdata[i], ":", NULL);
      g_string_append_printf (out, "%-*s %s\n", (int) width, label, (char *) values->pdata[i]);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
