#include "config.h"

#include "instance.h"

#include "cli.h"
#include "common/error.h"

/* Instance status codes (shared/api/status_code.go). */
#define STATUS_STOPPED 102

JsonObject *
ferry_instance_get (FerryClient *client, const char *name, gboolean full, char **etag_out, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *path = g_strdup_printf ("/1.0/instances/%s%s", escaped, full ? "?recursion=1" : "");

  return ferry_client_get_object (client, path, etag_out, error);
}

JsonObject *
ferry_instance_state_change (FerryClient *client, const char *name, const char *action, gint64 timeout,
                             gboolean force, gboolean stateful, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *path = g_strdup_printf ("/1.0/instances/%s/state", escaped);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "action");
  json_builder_add_string_value (b, action);
  json_builder_set_member_name (b, "timeout");
  json_builder_add_int_value (b, timeout);
  json_builder_set_member_name (b, "force");
  json_builder_add_boolean_value (b, force);
  json_builder_set_member_name (b, "stateful");
  json_builder_add_boolean_value (b, stateful);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  return ferry_client_operation (client, "PUT", path, body, error);
}

JsonNode *
ferry_instance_writable (JsonObject *instance)
{
  g_autoptr (JsonObject) out = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  JsonArray *profiles = ferry_obj_array (instance, "profiles");

  json_object_set_string_member (out, "architecture", ferry_obj_string (instance, "architecture"));
  json_object_set_member (out, "config", ferry_sorted_copy (ferry_obj_object (instance, "config"), FALSE));
  json_object_set_member (out, "devices", ferry_sorted_copy (ferry_obj_object (instance, "devices"), TRUE));
  json_object_set_boolean_member (out, "ephemeral", ferry_obj_bool (instance, "ephemeral"));
  json_object_set_array_member (out, "profiles", profiles != NULL ? json_array_ref (profiles) : json_array_new ());
  json_object_set_boolean_member (out, "stateful", ferry_obj_bool (instance, "stateful"));
  json_object_set_string_member (out, "description", ferry_obj_string (instance, "description"));
  json_node_set_object (node, out);
  return node;
}

/* lxc's sequence: stop (forced) if running, lift security.protection.delete,
 * DELETE, wait. */
gboolean
ferry_instance_delete (FerryClient *client, const char *remote, const char *name, gboolean force, GError **error)
{
  g_autofree char *etag = NULL;
  g_autoptr (JsonObject) instance = ferry_instance_get (client, name, FALSE, &etag, error);
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *path = g_strdup_printf ("/1.0/instances/%s", escaped);
  gint64 code;

  if (instance == NULL)
    {
      g_prefix_error (error, "Failed checking instance exists \"%s:%s\": ", remote, name);
      return FALSE;
    }
  code = ferry_object_status_code (instance);
  if (code != 0 && code != STATUS_STOPPED)
    {
      if (!force)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "The instance is currently running, stop it first or pass --force");
          return FALSE;
        }
      if (!ferry_client_await (client, ferry_instance_state_change (client, name, "stop", -1, TRUE, FALSE, error),
                               error))
        return FALSE;
      /* an ephemeral instance is gone once stopped */
      if (ferry_obj_bool (instance, "ephemeral"))
        return TRUE;
    }
  if (g_strcmp0 (ferry_obj_string (ferry_obj_object (instance, "expanded_config"), "security.protection.delete"),
                 "true")
      == 0)
    {
      g_autoptr (JsonNode) put = ferry_instance_writable (instance);
      JsonObject *config = json_object_get_object_member (json_node_get_object (put), "config");
      g_autoptr (JsonNode) ignored = NULL;

      json_object_set_string_member (config, "security.protection.delete", "false");
      ignored = ferry_client_query (client, "PUT", path, put, etag, NULL, error);
      if (ignored == NULL)
        return FALSE;
    }
  return ferry_client_await (client, ferry_client_operation (client, "DELETE", path, NULL, error), error);
}
