/* ferry network list|show|create|delete|list-leases (lxc/network.go). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/yaml.h"

static char *
first_address (JsonObject *config, const char *key)
{
  const char *v = config ? json_object_get_string_member_with_default (config, key, "") : "";
  return g_strdup (strcmp (v, "none") == 0 ? "" : v);
}

static char **
network_row (JsonObject *n)
{
  JsonArray *used_by = ferry_obj_array (n, "used_by");
  JsonObject *config = ferry_obj_object (n, "config");
  char **row = g_new0 (char *, 9);

  row[0] = g_strdup (ferry_obj_string (n, "name"));
  row[1] = g_strdup (ferry_obj_string (n, "type"));
  row[2] = g_strdup (json_object_get_boolean_member_with_default (n, "managed", FALSE) ? "YES" : "NO");
  row[3] = first_address (config, "ipv4.address");
  row[4] = first_address (config, "ipv6.address");
  row[5] = g_strdup (ferry_obj_string (n, "description"));
  row[6] = g_strdup_printf ("%u", used_by != NULL ? json_array_get_length (used_by) : 0);
  row[7] = g_ascii_strup (ferry_obj_string (n, "status") ? ferry_obj_string (n, "status") : "", -1);
  return row;
}

static int
cmd_network_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "NAME", "TYPE", "MANAGED", "IPV4", "IPV6", "DESCRIPTION", "USED BY",
                                         "STATE", NULL };
  return ferry_cli_list (cli, args, "/1.0/networks", headers, network_row, TRUE, error);
}

static int
cmd_network_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *escaped = NULL, *path = NULL, *text = NULL;
  g_autoptr (JsonObject) n = NULL;
  g_autoptr (JsonObject) out = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  JsonArray *used_by, *locations;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (name);
  path = g_strdup_printf ("/1.0/networks/%s", escaped);
  if ((n = ferry_client_get_object (client, path, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  used_by = ferry_obj_array (n, "used_by");
  locations = ferry_obj_array (n, "locations");
  /* api.Network in go-yaml order, as lxc prints it. */
  json_object_set_member (out, "config", ferry_sorted_copy (ferry_obj_object (n, "config"), FALSE));
  json_object_set_string_member (out, "description", ferry_obj_string (n, "description"));
  json_object_set_string_member (out, "name", ferry_obj_string (n, "name"));
  json_object_set_string_member (out, "type", ferry_obj_string (n, "type"));
  json_object_set_array_member (out, "used_by", used_by ? json_array_ref (used_by) : json_array_new ());
  json_object_set_boolean_member (out, "managed", json_object_get_boolean_member_with_default (n, "managed", FALSE));
  json_object_set_string_member (out, "status", ferry_obj_string (n, "status"));
  json_object_set_array_member (out, "locations", locations ? json_array_ref (locations) : json_array_new ());
  json_node_set_object (node, out);
  text = ferry_yaml_write (node);
  fputs (text, stdout);
  return 0;
}

static int
cmd_network_create (FerryCli *cli, FerryArgs *args, GError **error)
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
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, ferry_args_get_string (args, "type", "bridge"));
  json_builder_set_member_name (b, "config");
  json_builder_begin_object (b);
  for (int i = 1; pos[i] != NULL; i++)
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
  if ((result = ferry_client_query (client, "POST", "/1.0/networks", body, NULL, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  printf ("Network %s created\n", name);
  return 0;
}

static int
cmd_network_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *escaped = NULL, *path = NULL;
  g_autoptr (JsonNode) result = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (name);
  path = g_strdup_printf ("/1.0/networks/%s", escaped);
  if ((result = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  printf ("Network %s deleted\n", name);
  return 0;
}

/* LXD's columns; LOCATION only in a cluster, so never here. */
static int
cmd_network_list_leases (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "HOSTNAME", "MAC ADDRESS", "IP ADDRESS", "TYPE", NULL };
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *escaped = NULL, *path = NULL;
  g_autoptr (JsonArray) leases = NULL;
  g_autoptr (FerryTable) table = ferry_table_new (headers);
  g_autoptr (JsonNode) raw = json_node_new (JSON_NODE_ARRAY);
  FerryFormat format;

  if (client == NULL || !ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (name);
  path = g_strdup_printf ("/1.0/networks/%s/leases", escaped);
  if ((leases = ferry_client_get_array (client, path, error)) == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < json_array_get_length (leases); i++)
    {
      JsonObject *l = json_array_get_object_element (leases, i);
      const char *type = l ? ferry_obj_string (l, "type") : NULL;
      char **row = g_new0 (char *, 5);

      row[0] = g_strdup (l ? ferry_obj_string (l, "hostname") : "");
      row[1] = g_strdup (l ? ferry_obj_string (l, "hwaddr") : "");
      row[2] = g_strdup (l ? ferry_obj_string (l, "address") : "");
      row[3] = g_ascii_strup (type ? type : "", -1);
      ferry_table_add_row (table, row);
    }
  ferry_table_sort (table);
  json_node_set_array (raw, leases);
  ferry_output_print (format, table, raw);
  return 0;
}

static const FerryOption network_list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const FerryOption network_create_options[] = {
  { "type", 't', FERRY_OPT_STRING, "Network type (bridge)" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };
static const char *const delete_aliases[] = { "rm", NULL };

static const FerryCommand network_list = {
  .name = "list", .aliases = list_aliases, .summary = "List available networks", .usage = "[<remote>:]",
  .options = network_list_options, .run = cmd_network_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand network_show = {
  .name = "show", .summary = "Show network configurations", .usage = "[<remote>:]<network>",
  .run = cmd_network_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand network_create = {
  .name = "create", .summary = "Create new networks", .usage = "[<remote>:]<network> [key=value...]",
  .options = network_create_options, .run = cmd_network_create, .min_args = 1, .max_args = -1,
};
static const FerryCommand network_delete = {
  .name = "delete", .aliases = delete_aliases, .summary = "Delete networks", .usage = "[<remote>:]<network>",
  .run = cmd_network_delete, .min_args = 1, .max_args = 1,
};
static const FerryCommand network_list_leases = {
  .name = "list-leases", .summary = "List DHCP leases", .usage = "[<remote>:]<network>",
  .options = network_list_options, .run = cmd_network_list_leases, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const network_commands[] = { &network_list, &network_show, &network_create,
                                                        &network_delete, &network_list_leases, NULL };

const FerryCommand ferry_cmd_network = {
  .name = "network",
  .summary = "Manage and attach instances to networks",
  .subcommands = network_commands,
};
