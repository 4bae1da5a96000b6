/* ferry profile list|show (lxc/profile.go). */
#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "common/yaml.h"

static char **
profile_row (JsonObject *profile)
{
  JsonArray *used_by = ferry_obj_array (profile, "used_by");
  char **row = g_new0 (char *, 4);

  row[0] = g_strdup (ferry_obj_string (profile, "name"));
  row[1] = g_strdup (ferry_obj_string (profile, "description"));
  row[2] = g_strdup_printf ("%u", used_by != NULL ? json_array_get_length (used_by) : 0);
  return row;
}

static int
cmd_profile_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "NAME", "DESCRIPTION", "USED BY", NULL };
  return ferry_cli_list (cli, args, "/1.0/profiles", headers, profile_row, TRUE, error);
}

/* api.Profile in go-yaml order: config, description, devices, name, used_by. */
static int
cmd_profile_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonObject) profile = NULL;
  g_autoptr (JsonObject) out = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;
  JsonArray *used_by;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (name);
  path = g_strdup_printf ("/1.0/profiles/%s", escaped);
  profile = ferry_client_get_object (client, path, NULL, error);
  if (profile == NULL)
    return FERRY_EXIT_ERROR;
  used_by = ferry_obj_array (profile, "used_by");
  json_object_set_member (out, "config", ferry_sorted_copy (ferry_obj_object (profile, "config"), FALSE));
  json_object_set_string_member (out, "description", ferry_obj_string (profile, "description"));
  json_object_set_member (out, "devices", ferry_sorted_copy (ferry_obj_object (profile, "devices"), TRUE));
  json_object_set_string_member (out, "name", ferry_obj_string (profile, "name"));
  json_object_set_array_member (out, "used_by", used_by != NULL ? json_array_ref (used_by) : json_array_new ());
  json_node_set_object (node, out);
  text = ferry_yaml_write (node);
  fputs (text, stdout);
  return 0;
}

static const FerryOption profile_list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };

static const FerryCommand profile_list = {
  .name = "list", .aliases = list_aliases, .summary = "List profiles", .usage = "[<remote>:]",
  .options = profile_list_options, .run = cmd_profile_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand profile_show = {
  .name = "show", .summary = "Show profile configurations", .usage = "[<remote>:]<profile>",
  .run = cmd_profile_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const profile_commands[] = { &profile_list, &profile_show, NULL };

const FerryCommand ferry_cmd_profile = {
  .name = "profile",
  .summary = "Manage profiles",
  .subcommands = profile_commands,
};
