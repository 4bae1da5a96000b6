/* ferry project list|show and ferry warning list|show (lxc/project.go,
 * lxc/warning.go): Ferry's one project and the host's warnings. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/yaml.h"

static const char *
feature (JsonObject *config, const char *key)
{
  const char *v = config ? json_object_get_string_member_with_default (config, key, "") : "";

  return strcmp (v, "true") == 0 ? "YES" : "NO";
}

static char **
project_row (JsonObject *p)
{
  JsonObject *config = ferry_obj_object (p, "config");
  JsonArray *used_by = ferry_obj_array (p, "used_by");
  const char *name = ferry_obj_string (p, "name");
  char **row = g_new0 (char *, 8);

  /* The remote's project is always the default one here. */
  row[0] = strcmp (name, "default") == 0 ? g_strdup ("default (current)") : g_strdup (name);
  row[1] = g_strdup (feature (config, "features.images"));
  row[2] = g_strdup (feature (config, "features.profiles"));
  row[3] = g_strdup (feature (config, "features.storage.volumes"));
  row[4] = g_strdup (feature (config, "features.networks"));
  row[5] = g_strdup (ferry_obj_string (p, "description"));
  row[6] = g_strdup_printf ("%u", used_by ? json_array_get_length (used_by) : 0);
  return row;
}

static int
cmd_project_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "NAME",     "IMAGES",      "PROFILES", "STORAGE VOLUMES",
                                         "NETWORKS", "DESCRIPTION", "USED BY",  NULL };
  return ferry_cli_list (cli, args, "/1.0/projects", headers, project_row, TRUE, error);
}

/* GET PREFIX/NAME printed as YAML with its keys sorted (go-yaml's order
 * of these structs is alphabetical). */
static int
show_object (FerryCli *cli, FerryArgs *args, const char *prefix, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *escaped = NULL, *path = NULL, *text = NULL;
  g_autoptr (JsonObject) o = NULL;
  g_autoptr (JsonNode) node = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (name);
  path = g_strdup_printf ("%s/%s", prefix, escaped);
  if ((o = ferry_client_get_object (client, path, NULL, error)) == NULL)
    return FERRY_EXIT_ERROR;
  node = ferry_sorted_copy (o, TRUE);
  text = ferry_yaml_write (node);
  fputs (text, stdout);
  return 0;
}

static int
cmd_project_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  return show_object (cli, args, "/1.0/projects", error);
}

static char **
warning_row (JsonObject *w)
{
  char **row = g_new0 (char *, 8);

  row[0] = g_strdup (ferry_obj_string (w, "uuid"));
  row[1] = g_strdup (ferry_obj_string (w, "type"));
  row[2] = g_strdup (ferry_obj_string (w, "status"));
  row[3] = g_strdup (ferry_obj_string (w, "severity"));
  row[4] = g_strdup_printf ("%" G_GINT64_FORMAT, ferry_obj_int (w, "count"));
  row[5] = g_strdup (ferry_obj_string (w, "project"));
  row[6] = ferry_format_time (ferry_obj_string (w, "last_seen_at"), "%Y/%m/%d %H:%M %Z", TRUE);
  return row;
}

static int
cmd_warning_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "UUID", "TYPE", "STATUS", "SEVERITY", "COUNT", "PROJECT", "LAST SEEN", NULL };
  return ferry_cli_list (cli, args, "/1.0/warnings", headers, warning_row, FALSE, error);
}

static int
cmd_warning_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  return show_object (cli, args, "/1.0/warnings", error);
}

static const FerryOption list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const char *const list_aliases[] = { "ls", NULL };

static const FerryCommand project_list = {
  .name = "list", .aliases = list_aliases, .summary = "List projects", .usage = "[<remote>:]",
  .options = list_options, .run = cmd_project_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand project_show = {
  .name = "show", .summary = "Show project options", .usage = "[<remote>:]<project>",
  .run = cmd_project_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const project_commands[] = { &project_list, &project_show, NULL };

const FerryCommand ferry_cmd_project = {
  .name = "project",
  .summary = "Manage projects (Ferry has one: default)",
  .subcommands = project_commands,
};

static const FerryCommand warning_list = {
  .name = "list", .aliases = list_aliases, .summary = "List warnings", .usage = "[<remote>:]",
  .options = list_options, .run = cmd_warning_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand warning_show = {
  .name = "show", .summary = "Show warning", .usage = "[<remote>:]<warning-uuid>",
  .run = cmd_warning_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const warning_commands[] = { &warning_list, &warning_show, NULL };

const FerryCommand ferry_cmd_warning = {
  .name = "warning",
  .summary = "Manage warnings",
  .subcommands = warning_commands,
};
