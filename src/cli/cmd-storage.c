/* ferry storage list|show|info|create|delete (lxc/storage.go). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/yaml.h"

static char *
pool_path (FerryClient *client, const char *name, const char *suffix)
{
  g_autofree char *escaped = ferry_client_escape (name);
  return g_strdup_printf ("/1.0/storage-pools/%s%s", escaped, suffix);
}

static char **
pool_row (JsonObject *p)
{
  JsonArray *used_by = ferry_obj_array (p, "used_by");
  JsonObject *config = ferry_obj_object (p, "config");
  const char *status = ferry_obj_string (p, "status");
  char **row = g_new0 (char *, 7);

  row[0] = g_strdup (ferry_obj_string (p, "name"));
  row[1] = g_strdup (ferry_obj_string (p, "driver"));
  row[2] = g_strdup (config ? json_object_get_string_member_with_default (config, "source", "") : "");
  row[3] = g_strdup (ferry_obj_string (p, "description"));
  row[4] = g_strdup_printf ("%u", used_by != NULL ? json_array_get_length (used_by) : 0);
  row[5] = g_ascii_strup (status ? status : "", -1);
  return row;
}

static int
cmd_storage_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE", NULL };
  return ferry_cli_list (cli, args, "/1.0/storage-pools", headers, pool_row, TRUE, error);
}

static int
cmd_storage_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL, *path = NULL, *text = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autoptr (JsonObject) p = NULL;
  g_autoptr (JsonObject) out = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  JsonArray *used_by, *locations;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = pool_path (client, name, "");
  if ((p = ferry_client_get_object (client, path, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  used_by = ferry_obj_array (p, "used_by");
  locations = ferry_obj_array (p, "locations");
  /* api.StoragePool in go-yaml order, as lxc prints it. */
  json_object_set_member (out, "config", ferry_sorted_copy (ferry_obj_object (p, "config"), FALSE));
  json_object_set_string_member (out, "description", ferry_obj_string (p, "description"));
  json_object_set_string_member (out, "name", ferry_obj_string (p, "name"));
  json_object_set_string_member (out, "driver", ferry_obj_string (p, "driver"));
  json_object_set_array_member (out, "used_by", used_by ? json_array_ref (used_by) : json_array_new ());
  json_object_set_string_member (out, "status", ferry_obj_string (p, "status"));
  json_object_set_array_member (out, "locations", locations ? json_array_ref (locations) : json_array_new ());
  json_node_set_object (node, out);
  text = ferry_yaml_write (node);
  fputs (text, stdout);
  return 0;
}

static int
cmd_storage_info (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL, *path = NULL, *res_path = NULL, *used = NULL, *total = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autoptr (JsonObject) p = NULL, res = NULL;
  JsonObject *space;
  JsonArray *used_by;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = pool_path (client, name, "");
  res_path = pool_path (client, name, "/resources");
  if ((p = ferry_client_get_object (client, path, NULL, error)) == NULL
      || (res = ferry_client_get_object (client, res_path, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  space = ferry_obj_object (res, "space");
  used = ferry_size_iec (space ? json_object_get_int_member_with_default (space, "used", 0) : 0);
  total = ferry_size_iec (space ? json_object_get_int_member_with_default (space, "total", 0) : 0);
  printf ("info:\n  description: \"%s\"\n  driver: %s\n  name: %s\n  space used: %s\n  total space: %s\n",
          ferry_obj_string (p, "description"), ferry_obj_string (p, "driver"), ferry_obj_string (p, "name"), used,
          total);
  printf ("used by:\n");
  used_by = ferry_obj_array (p, "used_by");
  for (guint i = 0; used_by != NULL && i < json_array_get_length (used_by); i++)
    printf ("  - %s\n", json_array_get_string_element (used_by, i));
  return 0;
}

static int
cmd_storage_create (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &name, error);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL, result = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "driver");
  json_builder_add_string_value (b, pos[1]);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, ferry_args_get_string (args, "description", ""));
  json_builder_set_member_name (b, "config");
  json_builder_begin_object (b);
  for (int i = 2; pos[i] != NULL; i++)
    {
      g_autofree char *key = NULL;
      const char *value;
      if (!ferry_args_split_pair (pos[i], &key, &value, error))
        return FERRY_EXIT_ERROR;
      json_builder_set_member_name (b, key);
      json_builder_add_string_value (b, value);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  if ((result = ferry_client_query (client, "POST", "/1.0/storage-pools", body, NULL, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  printf ("Storage pool %s created\n", name);
  return 0;
}

static int
cmd_storage_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL, *path = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autoptr (JsonNode) result = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = pool_path (client, name, "");
  if ((result = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  printf ("Storage pool %s deleted\n", name);
  return 0;
}

static const FerryOption storage_list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const FerryOption storage_create_options[] = {
  { "description", 0, FERRY_OPT_STRING, "Storage pool description" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };
static const char *const delete_aliases[] = { "rm", NULL };

static const FerryCommand storage_list = {
  .name = "list", .aliases = list_aliases, .summary = "List available storage pools", .usage = "[<remote>:]",
  .options = storage_list_options, .run = cmd_storage_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand storage_show = {
  .name = "show", .summary = "Show storage pool configurations and resources", .usage = "[<remote>:]<pool>",
  .run = cmd_storage_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand storage_info = {
  .name = "info", .summary = "Show useful information about storage pools", .usage = "[<remote>:]<pool>",
  .run = cmd_storage_info, .min_args = 1, .max_args = 1,
};
static const FerryCommand storage_create = {
  .name = "create", .summary = "Create storage pools", .usage = "[<remote>:]<pool> <driver> [key=value...]",
  .options = storage_create_options, .run = cmd_storage_create, .min_args = 2, .max_args = -1,
};
static const FerryCommand storage_delete = {
  .name = "delete", .aliases = delete_aliases, .summary = "Delete storage pools", .usage = "[<remote>:]<pool>",
  .run = cmd_storage_delete, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const storage_commands[] = { &storage_list, &storage_show, &storage_info,
                                                        &storage_create, &storage_delete, NULL };

const FerryCommand ferry_cmd_storage = {
  .name = "storage",
  .summary = "Manage storage pools and volumes",
  .subcommands = storage_commands,
};
