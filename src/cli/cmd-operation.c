/* ferry operation list|show|delete (lxc/operation.go). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/json.h"
#include "common/yaml.h"

static int
cmd_operation_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "ID", "TYPE", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED", NULL };
  char **pos = ferry_args_positional (args);
  g_autofree char *rest = NULL;
  g_autoptr (JsonObject) by_status = NULL;
  g_autoptr (JsonArray) all = json_array_new ();
  g_autoptr (FerryTable) table = ferry_table_new (headers);
  g_autoptr (JsonNode) raw = json_node_new (JSON_NODE_ARRAY);
  g_autoptr (GList) statuses = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0] != NULL ? pos[0] : "", &rest, error);
  FerryFormat format;

  if (client == NULL || !ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  /* /1.0/operations?recursion=1 maps status ("running", "success"...) to
   * lists of operations. */
  by_status = ferry_client_get_object (client, "/1.0/operations?recursion=1", NULL, error);
  if (by_status == NULL)
    return FERRY_EXIT_ERROR;
  statuses = json_object_get_members (by_status);
  for (GList *l = statuses; l != NULL; l = l->next)
    {
      JsonArray *ops = ferry_obj_array (by_status, l->data);

      for (guint i = 0; ops != NULL && i < json_array_get_length (ops); i++)
        {
          JsonObject *op = json_array_get_object_element (ops, i);
          char **row = g_new0 (char *, 7);

          if (op == NULL)
            {
              g_free (row);
              continue;
            }
          json_array_add_element (all, json_node_copy (json_array_get_element (ops, i)));
          row[0] = g_strdup (ferry_obj_string (op, "id"));
          row[1] = g_ascii_strup (ferry_obj_string (op, "class"), -1);
          row[2] = g_strdup (ferry_obj_string (op, "description"));
          row[3] = g_ascii_strup (ferry_obj_string (op, "status"), -1);
          row[4] = g_strdup (ferry_obj_bool (op, "may_cancel") ? "YES" : "NO");
          row[5] = ferry_format_time (ferry_obj_string (op, "created_at"), "%Y/%m/%d %H:%M %Z", TRUE);
          ferry_table_add_row (table, row);
        }
    }
  ferry_table_sort (table);
  json_node_set_array (raw, all);
  ferry_output_print (format, table, raw);
  return 0;
}

/* Go decodes metadata into map[string]any, and go-yaml writes maps with
 * their keys sorted, at every depth. */
static JsonNode *
sorted_deep_copy (JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr (JsonObject) out = json_object_new ();
      GList *members = ferry_json_sorted_members (object);

      for (GList *l = members; l != NULL; l = l->next)
        json_object_set_member (out, l->data, sorted_deep_copy (json_object_get_member (object, l->data)));
      g_list_free (members);
      return json_node_init_object (json_node_alloc (), out);
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      g_autoptr (JsonArray) out = json_array_new ();

      for (guint i = 0; i < json_array_get_length (array); i++)
        json_array_add_element (out, sorted_deep_copy (json_array_get_element (array, i)));
      return json_node_init_array (json_node_alloc (), out);
    }
  return json_node_copy (node);
}

/* api.Operation as lxc marshals it: fields in Go's order, times plain, a
 * null map as "{}". */
char *
ferry_operation_yaml (JsonObject *op)
{
  static const char *const fields[] = { "id", "class", "description", "created_at", "updated_at", "status",
                                        "status_code", "resources", "metadata", "may_cancel", "err", "location" };
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (JsonObject) empty = json_object_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      JsonNode *value = json_object_get_member (op, fields[i]);
      g_autoptr (JsonNode) shown = NULL;

      if (g_str_has_suffix (fields[i], "_at"))
        {
          ferry_yaml_append_time (out, fields[i], ferry_obj_string (op, fields[i]));
          continue;
        }
      if (strcmp (fields[i], "resources") == 0 || strcmp (fields[i], "metadata") == 0)
        shown = value != NULL && JSON_NODE_HOLDS_OBJECT (value) ? sorted_deep_copy (value)
                                                                : json_node_init_object (json_node_alloc (), empty);
      else if (strcmp (fields[i], "status_code") == 0)
        shown = json_node_init_int (json_node_alloc (), ferry_obj_int (op, fields[i]));
      else if (strcmp (fields[i], "may_cancel") == 0)
        shown = json_node_init_boolean (json_node_alloc (), ferry_obj_bool (op, fields[i]));
      else
        shown = json_node_init_string (json_node_alloc (), ferry_obj_string (op, fields[i]));
      ferry_yaml_append_member (out, fields[i], shown);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static int
cmd_operation_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *id = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &id, error);
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonObject) op = NULL;
  g_autofree char *text = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (id);
  path = g_strdup_printf ("/1.0/operations/%s", escaped);
  op = ferry_client_get_object (client, path, NULL, error);
  if (op == NULL)
    return FERRY_EXIT_ERROR;
  text = ferry_operation_yaml (op);
  fputs (text, stdout);
  return 0;
}

static int
cmd_operation_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *id = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &id, error);
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) result = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (id);
  path = g_strdup_printf ("/1.0/operations/%s", escaped);
  result = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error);
  if (result == NULL)
    return FERRY_EXIT_ERROR;
  if (!cli->quiet)
    printf ("Operation %s deleted\n", id);
  return 0;
}

static const FerryOption operation_list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };
static const char *const delete_aliases[] = { "cancel", "rm", NULL };

static const FerryCommand operation_delete = {
  .name = "delete", .aliases = delete_aliases, .summary = "Delete a background operation (will attempt to cancel)",
  .usage = "[<remote>:]<operation>", .run = cmd_operation_delete, .min_args = 1, .max_args = 1,
};
static const FerryCommand operation_list = {
  .name = "list", .aliases = list_aliases, .summary = "List background operations", .usage = "[<remote>:]",
  .options = operation_list_options, .run = cmd_operation_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand operation_show = {
  .name = "show", .summary = "Show details on a background operation", .usage = "[<remote>:]<operation>",
  .run = cmd_operation_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const operation_commands[] = { &operation_delete, &operation_list, &operation_show, NULL };

const FerryCommand ferry_cmd_operation = {
  .name = "operation",
  .summary = "List, show and delete background operations",
  .subcommands = operation_commands,
};
