#include "config.h"

#include "snapshot.h"

#include <string.h>

#include "client.h"
#include "common/error.h"

gboolean
ferry_snapshot_parse (const char *name, char **instance_out, char **snapshot_out, GError **error)
{
  const char *slash = strchr (name, '/');

  if (slash == NULL)
    {
      *instance_out = g_strdup (name);
      *snapshot_out = NULL;
      return TRUE;
    }
  if (slash == name || slash[1] == '\0' || strchr (slash + 1, '/') != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Invalid snapshot name \"%s\": expected <instance>/<snapshot>", name);
      return FALSE;
    }
  *instance_out = g_strndup (name, slash - name);
  *snapshot_out = g_strdup (slash + 1);
  return TRUE;
}

char *
ferry_snapshot_path (const char *instance, const char *snapshot)
{
  g_autofree char *inst_escaped = ferry_client_escape (instance);
  g_autofree char *snap_escaped = ferry_client_escape (snapshot);

  return g_strdup_printf ("/1.0/instances/%s/snapshots/%s", inst_escaped, snap_escaped);
}

JsonNode *
ferry_snapshot_create_request (const char *name, gboolean stateful, gboolean no_expiry)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name != NULL ? name : "");
  json_builder_set_member_name (b, "stateful");
  json_builder_add_boolean_value (b, stateful);
  json_builder_set_member_name (b, "expires_at");
  /* Go encodes a pointer to a zero time.Time this way */
  if (no_expiry)
    json_builder_add_string_value (b, "0001-01-01T00:00:00Z");
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
ferry_restore_request (const char *instance, const char *snapshot, gboolean stateful)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *restore
    = strchr (snapshot, '/') != NULL ? g_strdup (snapshot) : g_strdup_printf ("%s/%s", instance, snapshot);

  /* Every field of api.InstancePut in Go's order: the daemon must see a
   * restore, not a config replace (config and devices are null). */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "config");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "devices");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "ephemeral");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "profiles");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "restore");
  json_builder_add_string_value (b, restore);
  json_builder_set_member_name (b, "stateful");
  json_builder_add_boolean_value (b, stateful);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, "");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
ferry_rename_request (const char *old_name, const char *new_name, char **path_out, GError **error)
{
  g_autofree char *old_instance = NULL;
  g_autofree char *old_snapshot = NULL;
  g_autofree char *new_instance = NULL;
  g_autofree char *new_snapshot = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  if (!ferry_snapshot_parse (old_name, &old_instance, &old_snapshot, error)
      || !ferry_snapshot_parse (new_name, &new_instance, &new_snapshot, error))
    return NULL;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  if (old_snapshot != NULL)
    {
      if (new_snapshot == NULL || strcmp (old_instance, new_instance) != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Invalid new snapshot name, parent must be the same as source");
          return NULL;
        }
      json_builder_add_string_value (b, new_snapshot);
      *path_out = ferry_snapshot_path (old_instance, old_snapshot);
    }
  else
    {
      g_autofree char *escaped = ferry_client_escape (old_name);

      if (new_snapshot != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid instance name: %s", new_name);
          return NULL;
        }
      json_builder_add_string_value (b, new_name);
      json_builder_set_member_name (b, "migration");
      json_builder_add_boolean_value (b, FALSE);
      *path_out = g_strdup_printf ("/1.0/instances/%s", escaped);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
