/* Instance life cycle: launch, init, start, stop, restart, pause, delete,
 * rename (lxc/init.go, launch.go, action.go, delete.go, move.go). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"
#include "instance.h"
#include "snapshot.h"
#include "common/yaml.h"

/* Instance status codes (shared/api/status_code.go). */
#define STATUS_STOPPED 102
#define STATUS_RUNNING 103
#define STATUS_FROZEN 110

/* ---- init / launch ---- */

static const FerryOption init_options[] = {
  { "config", 'c', FERRY_OPT_STRV, "Config key/value to apply to the new instance" },
  { "empty", 0, FERRY_OPT_BOOL, "Create an empty instance" },
  { "ephemeral", 'e', FERRY_OPT_BOOL, "Ephemeral instance" },
  { "network", 'n', FERRY_OPT_STRING, "Network name" },
  { "no-profiles", 0, FERRY_OPT_BOOL, "Create the instance with no profiles applied" },
  { "profile", 'p', FERRY_OPT_STRV, "Profile to apply to the new instance" },
  { "storage", 's', FERRY_OPT_STRING, "Storage pool name" },
  { "type", 't', FERRY_OPT_STRING, "Instance type" },
  { "vm", 0, FERRY_OPT_BOOL, "Create a virtual machine" },
  { NULL },
};

/* Resolves an image argument on the daemon: an alias, else a fingerprint
 * (prefix); returns the image object. */
static JsonObject *
resolve_image (FerryClient *client, const char *image, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (image);
  g_autofree char *alias_path = g_strdup_printf ("/1.0/images/aliases/%s", escaped);
  g_autoptr (JsonObject) alias = ferry_client_get_object (client, alias_path, NULL, NULL);
  const char *target = alias != NULL ? ferry_obj_string (alias, "target") : image;
  g_autofree char *escaped_fp = ferry_client_escape (*target != '\0' ? target : image);
  g_autofree char *image_path = g_strdup_printf ("/1.0/images/%s", escaped_fp);
  g_autoptr (GError) local_error = NULL;
  JsonObject *object;

  object = ferry_client_get_object (client, image_path, NULL, &local_error);
  if (object == NULL)
    {
      if (g_error_matches (local_error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND))
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Image not found");
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
    }
  return object;
}

/* When stdin is not a terminal, lxc init/launch read the instance config as
 * YAML from it. */
static JsonObject *
read_stdin_config (GError **error)
{
  g_autoptr (GIOChannel) channel = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (JsonNode) node = NULL;

  if (isatty (STDIN_FILENO))
    return NULL;
  channel = g_io_channel_unix_new (STDIN_FILENO);
  if (g_io_channel_set_encoding (channel, NULL, error) != G_IO_STATUS_NORMAL
      || g_io_channel_read_to_end (channel, &text, &len, error) != G_IO_STATUS_NORMAL)
    return NULL;
  if (len == 0)
    return json_object_new ();
  node = ferry_yaml_read (text, (gssize) len, FERRY_YAML_READ_TYPED, error);
  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return json_object_new ();
  return json_object_ref (json_node_get_object (node));
}

static JsonNode *
build_create_request (FerryArgs *args, const char *name, JsonObject *image, JsonObject *stdin_config,
                      GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) config = NULL;
  g_autoptr (JsonNode) devices = NULL;
  const char *const *profiles = ferry_args_get_strv (args, "profile");
  const char *storage = ferry_args_get_string (args, "storage", NULL);
  const char *network = ferry_args_get_string (args, "network", NULL);

  config = ferry_yaml_string_map (json_object_get_member (stdin_config, "config"), error);
  if (config == NULL)
    return NULL;
  devices = ferry_sorted_copy (ferry_obj_object (stdin_config, "devices"), TRUE);
  for (const char *const *kv = ferry_args_get_strv (args, "config"); *kv != NULL; kv++)
    {
      g_autofree char *key = NULL;
      const char *value;

      if (!ferry_args_split_pair (*kv, &key, &value, error))
        return NULL;
      json_object_set_string_member (json_node_get_object (config), key, value);
    }
  if (storage != NULL)
    {
      g_autoptr (JsonObject) root = json_object_new ();
      json_object_set_string_member (root, "type", "disk");
      json_object_set_string_member (root, "path", "/");
      json_object_set_string_member (root, "pool", storage);
      json_object_set_object_member (json_node_get_object (devices), "root", g_steal_pointer (&root));
    }
  if (network != NULL)
    {
      g_autoptr (JsonObject) nic = json_object_new ();
      json_object_set_string_member (nic, "name", "eth0");
      json_object_set_string_member (nic, "type", "nic");
      json_object_set_string_member (nic, "network", network);
      json_object_set_object_member (json_node_get_object (devices), "eth0", g_steal_pointer (&nic));
    }

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "config");
  json_builder_add_value (b, g_steal_pointer (&config));
  json_builder_set_member_name (b, "devices");
  json_builder_add_value (b, g_steal_pointer (&devices));
  json_builder_set_member_name (b, "ephemeral");
  json_builder_add_boolean_value (b, ferry_args_get_bool (args, "ephemeral") || ferry_obj_bool (stdin_config, "ephemeral"));
  json_builder_set_member_name (b, "profiles");
  if (ferry_args_get_bool (args, "no-profiles"))
    {
      json_builder_begin_array (b);
      json_builder_end_array (b);
    }
  else if (profiles[0] != NULL)
    {
      json_builder_begin_array (b);
      for (guint i = 0; profiles[i] != NULL; i++)
        json_builder_add_string_value (b, profiles[i]);
      json_builder_end_array (b);
    }
  else if (ferry_obj_array (stdin_config, "profiles") != NULL)
    json_builder_add_value (b, json_node_copy (json_object_get_member (stdin_config, "profiles")));
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "stateful");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, ferry_obj_string (stdin_config, "description"));
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name != NULL ? name : "");
  json_builder_set_member_name (b, "source");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  if (image == NULL)
    json_builder_add_string_value (b, "none");
  else
    {
      json_builder_add_string_value (b, "image");
      json_builder_set_member_name (b, "certificate");
      json_builder_add_string_value (b, "");
      json_builder_set_member_name (b, "fingerprint");
      json_builder_add_string_value (b, ferry_obj_string (image, "fingerprint"));
    }
  json_builder_set_member_name (b, "allow_inconsistent");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "instance_type");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, image != NULL && *ferry_obj_string (image, "type") != '\0'
                                      ? ferry_obj_string (image, "type")
                                      : "container");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
has_nic (JsonObject *instance)
{
  JsonObject *devices = ferry_obj_object (instance, "expanded_devices");
  g_autoptr (GList) members = devices != NULL ? json_object_get_members (devices) : NULL;

  for (GList *l = members; l != NULL; l = l->next)
    if (g_strcmp0 (ferry_obj_string (ferry_obj_object (devices, l->data), "type"), "nic") == 0)
      return TRUE;
  return FALSE;
}

/* Creates the instance; returns its name (the server's choice when none was
 * given). */
static char *
create_instance (FerryCli *cli, FerryArgs *args, FerryClient **client_out, gboolean *no_network_out,
                 GError **error)
{
  char **pos = ferry_args_positional (args);
  guint n = ferry_args_n_positional (args);
  g_autofree char *image_name = NULL;
  g_autofree char *name = NULL;
  g_autoptr (JsonObject) image = NULL;
  g_autoptr (JsonObject) stdin_config = NULL;
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonObject) op = NULL;
  g_autoptr (JsonObject) done = NULL;
  g_autoptr (JsonObject) instance = NULL;
  FerryClient *client;
  JsonArray *created;
  gboolean empty = ferry_args_get_bool (args, "empty");

  if (ferry_args_get_bool (args, "vm") || g_strcmp0 (ferry_args_get_string (args, "type", NULL), NULL) != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Requested instance type not supported by server");
      return NULL;
    }
  if (empty ? n > 1 : (n < 1 || n > 2))
    {
      ferry_cli_usage_error (error);
      return NULL;
    }
  if (empty && n == 1)
    client = ferry_cli_resolve (cli, pos[0], &name, error);
  else if (n == 2)
    client = ferry_cli_resolve (cli, pos[1], &name, error);
  else
    {
      g_autofree char *remote = ferry_remote_default ();
      client = ferry_cli_client (cli, remote, error);
    }
  if (client == NULL)
    return NULL;
  if (name != NULL && *name == '\0')
    g_clear_pointer (&name, g_free);
  stdin_config = read_stdin_config (error);
  if (stdin_config == NULL && error != NULL && *error != NULL)
    return NULL;
  if (stdin_config == NULL)
    stdin_config = json_object_new ();

  /* lxc announces the instance before it looks the image up */
  if (!cli->quiet)
    {
      if (name == NULL)
        printf ("Creating the instance\n");
      else
        printf ("Creating %s\n", name);
      fflush (stdout);
    }
  if (!empty)
    {
      FerryClient *image_client = ferry_cli_resolve (cli, pos[0], &image_name, error);
      if (image_client == NULL)
        return NULL;
      image = resolve_image (image_client, image_name, error);
      if (image == NULL)
        return NULL;
    }
  body = build_create_request (args, name, image, stdin_config, error);
  if (body == NULL)
    return NULL;
  op = ferry_client_operation (client, "POST", "/1.0/instances", body, error);
  if (op == NULL)
    return NULL;
  done = ferry_client_wait (client, op, ferry_cli_operation_progress, cli, NULL, error);
  ferry_cli_progress_done (cli);
  if (done == NULL)
    return NULL;
  created = ferry_obj_array (ferry_obj_object (done, "resources"), "instances");
  if (created == NULL)
    created = ferry_obj_array (ferry_obj_object (done, "resources"), "containers");
  if (created == NULL || json_array_get_length (created) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                   "Didn't get any affected image, instance or snapshot from server");
      return NULL;
    }
  if (name == NULL)
    {
      name = g_strdup (ferry_url_last_part (json_array_get_string_element (created, 0)));
      if (!cli->quiet)
        printf ("Instance name is: %s\n", name);
    }

  instance = ferry_instance_get (client, name, FALSE, NULL, NULL);
  *no_network_out = instance != NULL && !has_nic (instance);
  *client_out = client;
  return g_steal_pointer (&name);
}

/* lxc prints this once the instance exists (and, for launch, runs). */
static void
warn_no_network (FerryCli *cli, gboolean no_network)
{
  if (no_network && !cli->quiet)
    printf ("\nThe instance you are starting doesn't have any network attached to it.\n"
            "  To create a new network, use: ferry network create\n"
            "  To attach a network to an instance, use: ferry network attach\n");
}

static int
cmd_init (FerryCli *cli, FerryArgs *args, GError **error)
{
  FerryClient *client = NULL;
  gboolean no_network = FALSE;
  g_autofree char *name = create_instance (cli, args, &client, &no_network, error);

  if (name == NULL)
    return FERRY_EXIT_ERROR;
  warn_no_network (cli, no_network);
  return 0;
}

/* Runs a state change and waits. Like lxc, a failed operation (not a
 * refused request) gets the hint about the instance's log. */
static gboolean
change_state (FerryCli *cli, FerryClient *client, const char *name, const char *action, gint64 timeout,
              gboolean force, gboolean stateful, GError **error)
{
  g_autoptr (JsonObject) op = NULL;
  g_autoptr (JsonObject) done = NULL;
  g_autoptr (GError) wait_error = NULL;
  gboolean ended_before_wait = FALSE;

  op = ferry_instance_state_change (client, name, action, timeout, force, stateful, error);
  if (op == NULL)
    return FALSE;
  done = ferry_client_wait (client, op, ferry_cli_operation_progress, cli, &ended_before_wait, &wait_error);
  ferry_cli_progress_done (cli);
  if (done == NULL && ended_before_wait)
    {
      g_propagate_error (error, g_steal_pointer (&wait_error));
      return FALSE;
    }
  if (done == NULL)
    {
      g_set_error (error, wait_error->domain, wait_error->code, "%s\nTry `ferry info --show-log %s` for more info",
                   wait_error->message, name);
      return FALSE;
    }
  return TRUE;
}

static int
cmd_launch (FerryCli *cli, FerryArgs *args, GError **error)
{
  FerryClient *client = NULL;
  gboolean no_network = FALSE;
  g_autofree char *name = create_instance (cli, args, &client, &no_network, error);

  if (name == NULL)
    return FERRY_EXIT_ERROR;
  if (!cli->quiet)
    {
      printf ("Starting %s\n", name);
      fflush (stdout);
    }
  if (!change_state (cli, client, name, "start", -1, FALSE, FALSE, error))
    return FERRY_EXIT_ERROR;
  warn_no_network (cli, no_network);
  return 0;
}

const FerryCommand ferry_cmd_init = {
  .name = "init",
  .summary = "Create instances from images",
  .usage = "[<remote>:]<image> [<remote>:][<name>]",
  .examples = "ferry init busybox c1\n\nferry init busybox c1 < config.yaml\n    Create the instance with configuration from config.yaml",
  .options = init_options,
  .run = cmd_init,
  .min_args = 0,
  .max_args = -1,
};

const FerryCommand ferry_cmd_launch = {
  .name = "launch",
  .summary = "Create and start instances from images",
  .usage = "[<remote>:]<image> [<remote>:][<name>]",
  .examples = "ferry launch busybox c1\n\nferry launch busybox c1 < config.yaml\n    Create and start a container with configuration from config.yaml",
  .options = init_options,
  .run = cmd_launch,
  .min_args = 0,
  .max_args = -1,
};

/* ---- start / stop / restart / pause ---- */

typedef struct
{
  const char *verb;
  const char *action;
  gint64 default_timeout;
} ActionKind;

static const ActionKind action_start = { "start", "start", 0 };
static const ActionKind action_stop = { "stop", "stop", -1 };
static const ActionKind action_restart = { "restart", "restart", -1 };
static const ActionKind action_pause = { "pause", "freeze", -1 };

static gboolean
run_action (FerryCli *cli, const ActionKind *kind, FerryArgs *args, const char *arg, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, arg, &name, error);
  const char *action = kind->action;
  gboolean stateful = ferry_args_get_bool (args, "stateful");
  gint64 timeout = ferry_args_get_int (args, "timeout", kind->default_timeout);

  if (client == NULL)
    return FALSE;
  if (kind == &action_start)
    {
      g_autoptr (JsonObject) instance = ferry_instance_get (client, name, FALSE, NULL, error);

      if (instance == NULL)
        return FALSE;
      if (ferry_object_status_code (instance) == STATUS_FROZEN)
        action = "unfreeze";
      /* a stateful stop left state behind: start from it */
      stateful = ferry_obj_bool (instance, "stateful") && !ferry_args_get_bool (args, "stateless");
    }
  return change_state (cli, client, name, action, timeout, ferry_args_get_bool (args, "force"), stateful, error);
}

/* --all: every instance in the state the action applies to. */
static GPtrArray *
all_instances (FerryCli *cli, const ActionKind *kind, GError **error)
{
  g_autofree char *remote = ferry_remote_default ();
  FerryClient *client = ferry_cli_client (cli, remote, error);
  g_autoptr (JsonArray) list = NULL;
  GPtrArray *names;

  if (client == NULL)
    return NULL;
  list = ferry_client_get_array (client, "/1.0/instances?recursion=1", error);
  if (list == NULL)
    return NULL;
  names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *inst = json_array_get_object_element (list, i);
      gint64 code = ferry_object_status_code (inst);
      gboolean wanted = kind == &action_start ? code == STATUS_STOPPED || code == STATUS_FROZEN
                                              : code == STATUS_RUNNING;
      if (wanted)
        g_ptr_array_add (names, g_strdup (ferry_obj_string (inst, "name")));
    }
  return names;
}

static int
cmd_action (FerryCli *cli, const ActionKind *kind, FerryArgs *args, GError **error)
{
  g_autoptr (GPtrArray) names = NULL;
  gboolean success = TRUE;

  if (ferry_args_get_bool (args, "all"))
    {
      if (ferry_args_n_positional (args) > 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Both --all and instance name given");
          return FERRY_EXIT_ERROR;
        }
      names = all_instances (cli, kind, error);
      if (names == NULL)
        return FERRY_EXIT_ERROR;
    }
  else
    {
      names = g_ptr_array_new_with_free_func (g_free);
      for (char **p = ferry_args_positional (args); *p != NULL; p++)
        g_ptr_array_add (names, g_strdup (*p));
      if (names->len == 0)
        {
          ferry_cli_usage_error (error);
          return FERRY_EXIT_ERROR;
        }
    }
  if (names->len == 1)
    return run_action (cli, kind, args, names->pdata[0], error) ? 0 : FERRY_EXIT_ERROR;

  /* lxc's batch rendering: one line per failure, then a summary error. */
  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (GError) local_error = NULL;
      g_auto (GStrv) lines = NULL;

      if (run_action (cli, kind, args, names->pdata[i], &local_error))
        continue;
      success = FALSE;
      lines = g_strsplit (local_error->message, "\n", -1);
      for (guint l = 0; lines[l] != NULL; l++)
        g_printerr ("%s: %s%s\n", (char *) names->pdata[i], l == 0 ? "error: " : "", lines[l]);
    }
  if (!success)
    {
      g_printerr ("\n");
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Some instances failed to %s", kind->verb);
      return FERRY_EXIT_ERROR;
    }
  return 0;
}

static int
cmd_start (FerryCli *cli, FerryArgs *args, GError **error)
{
  return cmd_action (cli, &action_start, args, error);
}

static int
cmd_stop (FerryCli *cli, FerryArgs *args, GError **error)
{
  return cmd_action (cli, &action_stop, args, error);
}

static int
cmd_restart (FerryCli *cli, FerryArgs *args, GError **error)
{
  return cmd_action (cli, &action_restart, args, error);
}

static int
cmd_pause (FerryCli *cli, FerryArgs *args, GError **error)
{
  return cmd_action (cli, &action_pause, args, error);
}

static const FerryOption start_options[] = {
  { "all", 0, FERRY_OPT_BOOL, "Run against all instances" },
  { "stateless", 0, FERRY_OPT_BOOL, "Ignore the instance state" },
  { NULL },
};

static const FerryOption stop_options[] = {
  { "all", 0, FERRY_OPT_BOOL, "Run against all instances" },
  { "force", 'f', FERRY_OPT_BOOL, "Force the instance to shutdown" },
  { "stateful", 0, FERRY_OPT_BOOL, "Store the instance state" },
  { "timeout", 0, FERRY_OPT_INT, "Time to wait for the instance before killing it (default -1)" },
  { NULL },
};

static const FerryOption restart_options[] = {
  { "all", 0, FERRY_OPT_BOOL, "Run against all instances" },
  { "force", 'f', FERRY_OPT_BOOL, "Force the instance to shutdown" },
  { "timeout", 0, FERRY_OPT_INT, "Time to wait for the instance before killing it (default -1)" },
  { NULL },
};

static const FerryOption pause_options[] = {
  { "all", 0, FERRY_OPT_BOOL, "Run against all instances" },
  { NULL },
};

#define ACTION_USAGE "[<remote>:]<instance> [[<remote>:]<instance>...]"

const FerryCommand ferry_cmd_start = {
  .name = "start", .summary = "Start instances", .usage = ACTION_USAGE,
  .options = start_options, .run = cmd_start, .min_args = -1,
};
const FerryCommand ferry_cmd_stop = {
  .name = "stop", .summary = "Stop instances", .usage = ACTION_USAGE,
  .options = stop_options, .run = cmd_stop, .min_args = -1,
};
const FerryCommand ferry_cmd_restart = {
  .name = "restart", .summary = "Restart instances", .usage = ACTION_USAGE,
  .description = "Restart instances\n\nThe opposite of \"ferry pause\" is \"ferry start\".",
  .options = restart_options, .run = cmd_restart, .min_args = -1,
};
const FerryCommand ferry_cmd_pause = {
  .name = "pause", .summary = "Pause instances", .usage = ACTION_USAGE,
  .options = pause_options, .run = cmd_pause, .min_args = -1,
};

/* ---- delete ---- */

static gboolean
confirm_delete (const char *name, GError **error)
{
  char line[64];

  printf ("Remove %s (yes/no): ", name);
  fflush (stdout);
  if (fgets (line, sizeof line, stdin) == NULL)
    line[0] = '\0';
  g_strstrip (line);
  if (g_strcmp0 (line, "yes") != 0 && g_strcmp0 (line, "y") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "User aborted delete operation");
      return FALSE;
    }
  return TRUE;
}

/* lxc checks that the snapshot exists before it deletes it. */
static gboolean
delete_snapshot (FerryClient *client, const char *remote, const char *instance, const char *snapshot,
                 GError **error)
{
  g_autofree char *path = ferry_snapshot_path (instance, snapshot);
  g_autoptr (JsonObject) existing = ferry_client_get_object (client, path, NULL, error);

  if (existing == NULL)
    {
      g_prefix_error (error, "Failed checking instance snapshot exists \"%s:%s/%s\": ", remote, instance, snapshot);
      return FALSE;
    }
  return ferry_client_await (client, ferry_client_operation (client, "DELETE", path, NULL, error), error);
}

static int
cmd_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  for (char **p = ferry_args_positional (args); *p != NULL; p++)
    {
      g_autofree char *remote = NULL;
      g_autofree char *name = NULL;
      g_autofree char *instance = NULL;
      g_autofree char *snapshot = NULL;
      FerryClient *client;

      if (!ferry_remote_parse (*p, &remote, &name, error)
          || !ferry_snapshot_parse (name, &instance, &snapshot, error))
        return FERRY_EXIT_ERROR;
      client = ferry_cli_client (cli, remote, error);
      if (client == NULL)
        return FERRY_EXIT_ERROR;
      if (ferry_args_get_bool (args, "interactive") && !confirm_delete (*p, error))
        return FERRY_EXIT_ERROR;
      if (snapshot != NULL ? !delete_snapshot (client, remote, instance, snapshot, error)
                           : !ferry_instance_delete (client, remote, name, ferry_args_get_bool (args, "force"), error))
        return FERRY_EXIT_ERROR;
    }
  return 0;
}

static const FerryOption delete_options[] = {
  { "force", 'f', FERRY_OPT_BOOL, "Force the removal of running instances" },
  { "interactive", 'i', FERRY_OPT_BOOL, "Require user confirmation" },
  { NULL },
};

static const char *const delete_aliases[] = { "rm", NULL };

const FerryCommand ferry_cmd_delete = {
  .name = "delete",
  .aliases = delete_aliases,
  .summary = "Delete instances and snapshots",
  .usage = "[<remote>:]<instance>[/<snapshot>] [[<remote>:]<instance>[/<snapshot>]...]",
  .options = delete_options,
  .run = cmd_delete,
  .min_args = 1,
  .max_args = -1,
};

/* ---- rename ---- */

static int
cmd_rename (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *old_name = NULL;
  g_autofree char *new_remote = NULL;
  g_autofree char *new_name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &old_name, error);
  g_autoptr (JsonNode) body = NULL;
  g_autofree char *path = NULL;

  if (client == NULL || !ferry_remote_parse (pos[1], &new_remote, &new_name, error))
    return FERRY_EXIT_ERROR;
  body = ferry_rename_request (old_name, new_name, &path, error);
  if (body == NULL)
    return FERRY_EXIT_ERROR;
  return ferry_client_await (client, ferry_client_operation (client, "POST", path, body, error), error)
           ? 0
           : FERRY_EXIT_ERROR;
}

const FerryCommand ferry_cmd_rename = {
  .name = "rename",
  .summary = "Rename instances and snapshots",
  .usage = "[<remote>:]<instance>[/<snapshot>] <instance>[/<snapshot>]",
  .run = cmd_rename,
  .min_args = 2,
  .max_args = 2,
};
