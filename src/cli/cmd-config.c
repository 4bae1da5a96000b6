/* ferry config show|get|set|unset|edit|device (lxc/config.go,
 * config_device.go), for instances. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"
#include "instance.h"
#include "snapshot.h"
#include "common/yaml.h"

/* lxc 5.0 marshals the whole api.InstanceSnapshot: its fields in Go's
 * order, with zero values for what the daemon left out, maps sorted, and
 * times (time.Time, not strings) unquoted. */
static char *
snapshot_yaml (JsonObject *snap, gboolean expanded)
{
  g_autoptr (GString) out = g_string_new (NULL);
  JsonArray *profiles = ferry_obj_array (snap, "profiles");
  g_autoptr (JsonArray) no_profiles = json_array_new ();
  struct
  {
    const char *key;
    JsonNode *value; /* NULL: a time */
  } fields[] = {
    { "expires_at", NULL },
    { "architecture", json_node_init_string (json_node_alloc (), ferry_obj_string (snap, "architecture")) },
    { "config", ferry_sorted_copy (ferry_obj_object (snap, expanded ? "expanded_config" : "config"), FALSE) },
    { "created_at", NULL },
    { "devices", ferry_sorted_copy (ferry_obj_object (snap, expanded ? "expanded_devices" : "devices"), TRUE) },
    { "ephemeral", json_node_init_boolean (json_node_alloc (), ferry_obj_bool (snap, "ephemeral")) },
    { "expanded_config", ferry_sorted_copy (ferry_obj_object (snap, "expanded_config"), FALSE) },
    { "expanded_devices", ferry_sorted_copy (ferry_obj_object (snap, "expanded_devices"), TRUE) },
    { "last_used_at", NULL },
    { "name", json_node_init_string (json_node_alloc (), ferry_obj_string (snap, "name")) },
    { "profiles", json_node_init_array (json_node_alloc (), profiles != NULL ? profiles : no_profiles) },
    { "stateful", json_node_init_boolean (json_node_alloc (), ferry_obj_bool (snap, "stateful")) },
    { "size", json_node_init_int (json_node_alloc (), ferry_obj_int (snap, "size")) },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      if (fields[i].value == NULL)
        ferry_yaml_append_time (out, fields[i].key, ferry_obj_string (snap, fields[i].key));
      else
        ferry_yaml_append_member (out, fields[i].key, fields[i].value);
      g_clear_pointer (&fields[i].value, json_node_unref);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static int
show_snapshot (FerryClient *client, const char *instance, const char *snapshot, gboolean expanded, GError **error)
{
  g_autofree char *path = ferry_snapshot_path (instance, snapshot);
  g_autoptr (JsonObject) snap = ferry_client_get_object (client, path, NULL, error);
  g_autofree char *text = NULL;

  if (snap == NULL)
    return FERRY_EXIT_ERROR;
  text = snapshot_yaml (snap, expanded);
  fputs (text, stdout);
  return 0;
}

static int
cmd_config_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autoptr (JsonObject) inst = NULL;
  g_autoptr (JsonNode) put = NULL;
  g_autofree char *text = NULL;
  g_autofree char *instance = NULL;
  g_autofree char *snapshot = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (*name == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Server configuration is not supported yet");
      return FERRY_EXIT_ERROR;
    }
  if (!ferry_snapshot_parse (name, &instance, &snapshot, error))
    return FERRY_EXIT_ERROR;
  if (snapshot != NULL)
    return show_snapshot (client, instance, snapshot, ferry_args_get_bool (args, "expanded"), error);
  inst = ferry_instance_get (client, name, FALSE, NULL, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  put = ferry_instance_writable (inst);
  if (ferry_args_get_bool (args, "expanded"))
    {
      JsonObject *out = json_node_get_object (put);
      json_object_set_member (out, "config", ferry_sorted_copy (ferry_obj_object (inst, "expanded_config"), FALSE));
      json_object_set_member (out, "devices", ferry_sorted_copy (ferry_obj_object (inst, "expanded_devices"), TRUE));
    }
  text = ferry_yaml_write (put);
  fputs (text, stdout);
  return 0;
}

/* lxc's rule: "[remote:]key value" with a dotted key is a server key. */
static char *
server_key_target (const char *arg, char **key_out)
{
  const char *colon = strchr (arg, ':');
  const char *key = colon != NULL ? colon + 1 : arg;

  if (strchr (key, '.') == NULL)
    return NULL;
  *key_out = g_strdup (key);
  return colon != NULL ? g_strndup (arg, colon - arg + 1) : g_strdup ("");
}

static int
cmd_config_get (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL;
  g_autofree char *server_key = NULL;
  g_autofree char *server_target =
    ferry_args_n_positional (args) == 1 ? server_key_target (pos[0], &server_key) : NULL;
  FerryClient *client = ferry_cli_resolve (cli, server_target != NULL ? server_target : pos[0], &name, error);
  g_autoptr (JsonObject) inst = NULL;
  JsonObject *config;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (server_target != NULL)
    {
      JsonObject *server = ferry_client_server (client, error);
      if (server == NULL)
        return FERRY_EXIT_ERROR;
      printf ("%s\n", ferry_obj_string (ferry_obj_object (server, "config"), server_key));
      return 0;
    }
  if (ferry_args_n_positional (args) != 2)
    {
      ferry_cli_usage_error (error);
      return FERRY_EXIT_ERROR;
    }
  inst = ferry_instance_get (client, name, FALSE, NULL, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  config = ferry_obj_object (inst, ferry_args_get_bool (args, "expanded") ? "expanded_config" : "config");
  printf ("%s\n", ferry_obj_string (config, pos[1]));
  return 0;
}

/* PUT the instance's writable part (with the ETag of the GET, as lxc). */
static gboolean
update_instance (FerryClient *client, const char *name, JsonNode *put, const char *etag, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *path = g_strdup_printf ("/1.0/instances/%s", escaped);

  return ferry_client_await (client, ferry_client_operation_if_match (client, "PUT", path, put, etag, error), error);
}

/* Server keys (core.https_address...): PATCH /1.0; an empty value unsets. */
static int
change_server_config (FerryClient *client, GPtrArray *keys, GPtrArray *values, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonNode) result = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "config");
  json_builder_begin_object (b);
  for (guint i = 0; i < keys->len; i++)
    {
      json_builder_set_member_name (b, keys->pdata[i]);
      json_builder_add_string_value (b, values->pdata[i] != NULL ? values->pdata[i] : "");
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  result = ferry_client_query (client, "PATCH", "/1.0", body, NULL, NULL, error);
  return result != NULL ? 0 : FERRY_EXIT_ERROR;
}


/* Changes config keys: values NULL unset them. */
static int
change_config (FerryCli *cli, const char *target, GPtrArray *keys, GPtrArray *values, GError **error)
{
  g_autofree char *name = NULL;
  g_autofree char *etag = NULL;
  FerryClient *client = ferry_cli_resolve (cli, target, &name, error);
  g_autoptr (JsonObject) inst = NULL;
  g_autoptr (JsonNode) put = NULL;
  JsonObject *config;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (*name == '\0')
    return change_server_config (client, keys, values, error);
  inst = ferry_instance_get (client, name, FALSE, &etag, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  put = ferry_instance_writable (inst);
  config = json_object_get_object_member (json_node_get_object (put), "config");
  for (guint i = 0; i < keys->len; i++)
    {
      const char *key = keys->pdata[i];
      const char *value = values->pdata[i];

      if (value == NULL)
        {
          if (!json_object_has_member (config, key))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Can't unset key '%s', it's not currently set", key);
              return FERRY_EXIT_ERROR;
            }
          json_object_remove_member (config, key);
        }
      else
        json_object_set_string_member (config, key, value);
    }
  return update_instance (client, name, put, etag, error) ? 0 : FERRY_EXIT_ERROR;
}

static int
cmd_config_set (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  guint n = ferry_args_n_positional (args);
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);

  g_autofree char *server_target = NULL;
  g_autofree char *server_key = NULL;

  if (n == 2 && strchr (pos[1], '=') == NULL
      && (server_target = server_key_target (pos[0], &server_key)) != NULL)
    {
      g_ptr_array_add (keys, g_steal_pointer (&server_key));
      g_ptr_array_add (values, g_strdup (pos[1]));
      return change_config (cli, server_target, keys, values, error);
    }
  /* "c1 key value" or "c1 key=value..." */
  if (n == 3 && strchr (pos[1], '=') == NULL)
    {
      g_ptr_array_add (keys, g_strdup (pos[1]));
      g_ptr_array_add (values, g_strdup (pos[2]));
    }
  else
    for (guint i = 1; i < n; i++)
      {
        char *key;
        const char *value;
        if (!ferry_args_split_pair (pos[i], &key, &value, error))
          return FERRY_EXIT_ERROR;
        g_ptr_array_add (keys, key);
        g_ptr_array_add (values, g_strdup (value));
      }
  return change_config (cli, pos[0], keys, values, error);
}

static int
cmd_config_unset (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) values = g_ptr_array_new ();
  g_autofree char *server_target = NULL;
  g_autofree char *server_key = NULL;

  if (ferry_args_n_positional (args) == 1)
    {
      server_target = server_key_target (pos[0], &server_key);
      if (server_target == NULL)
        {
          ferry_cli_usage_error (error);
          return FERRY_EXIT_ERROR;
        }
      g_ptr_array_add (keys, g_steal_pointer (&server_key));
      g_ptr_array_add (values, NULL);
      return change_config (cli, server_target, keys, values, error);
    }
  g_ptr_array_add (keys, g_strdup (pos[1]));
  g_ptr_array_add (values, NULL);
  return change_config (cli, pos[0], keys, values, error);
}

/* ---- edit ---- */

static const char edit_header[] =
  "### This is a YAML representation of the configuration.\n"
  "### Any line starting with a '# will be ignored.\n"
  "###\n"
  "### A sample configuration looks like:\n"
  "### name: instance1\n"
  "### profiles:\n"
  "### - default\n"
  "### config:\n"
  "###   volatile.eth0.hwaddr: 00:16:3e:e9:f8:7f\n"
  "### devices:\n"
  "###   homedir:\n"
  "###     path: /extra\n"
  "###     source: /home/user\n"
  "###     type: disk\n"
  "### ephemeral: false\n"
  "###\n"
  "### Note that the name is shown but cannot be changed\n\n";

/* The edited YAML as the body of PUT /1.0/instances/NAME: string maps for
 * config and devices, as Go decodes them (their scalars as written: "1.0"
 * stays "1.0", yes stays yes), typed values for the other fields. */
static JsonNode *
parse_instance_put (const char *text, GError **error)
{
  g_autoptr (JsonNode) doc = ferry_yaml_read (text, -1, FERRY_YAML_READ_TYPED, error);
  g_autoptr (JsonNode) doc_text = NULL;
  g_autoptr (JsonObject) out = json_object_new ();
  g_autoptr (JsonObject) devices_out = json_object_new ();
  JsonObject *in;
  JsonObject *as_text;
  JsonObject *devices;
  JsonNode *config;
  JsonNode *result;

  if (doc == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (doc))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "yaml: the document must be a map");
      return NULL;
    }
  doc_text = ferry_yaml_read (text, -1, FERRY_YAML_READ_TEXT, error);
  if (doc_text == NULL)
    return NULL;
  as_text = json_node_get_object (doc_text);
  config = ferry_yaml_string_map (json_object_get_member (as_text, "config"), error);
  if (config == NULL)
    return NULL;
  devices = ferry_obj_object (as_text, "devices");
  if (devices != NULL)
    {
      g_autoptr (GList) names = json_object_get_members (devices);
      for (GList *l = names; l != NULL; l = l->next)
        {
          JsonNode *device = ferry_yaml_string_map (json_object_get_member (devices, l->data), error);
          if (device == NULL)
            return NULL;
          json_object_set_member (devices_out, l->data, device);
        }
    }
  in = json_node_get_object (doc);
  json_object_set_string_member (out, "architecture", ferry_obj_string (in, "architecture"));
  json_object_set_member (out, "config", config);
  json_object_set_object_member (out, "devices", g_steal_pointer (&devices_out));
  json_object_set_boolean_member (out, "ephemeral", ferry_obj_bool (in, "ephemeral"));
  if (ferry_obj_array (in, "profiles") != NULL)
    {
      g_autoptr (JsonArray) profiles = json_array_new ();
      JsonArray *src = ferry_obj_array (in, "profiles");
      for (guint i = 0; i < json_array_get_length (src); i++)
        {
          JsonNode *p = json_array_get_element (src, i);
          g_autoptr (JsonNode) as_map = NULL;
          if (!JSON_NODE_HOLDS_VALUE (p))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "yaml: profiles must be a list of names");
              return NULL;
            }
          json_array_add_string_element (profiles, json_node_get_value_type (p) == G_TYPE_STRING
                                                     ? json_node_get_string (p)
                                                     : "");
        }
      json_object_set_array_member (out, "profiles", g_steal_pointer (&profiles));
    }
  else
    json_object_set_array_member (out, "profiles", json_array_new ());
  json_object_set_boolean_member (out, "stateful", ferry_obj_bool (in, "stateful"));
  json_object_set_string_member (out, "description", ferry_obj_string (in, "description"));
  result = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (result, out);
  return result;
}

char *
ferry_cli_run_editor (const char *text, GError **error)
{
  const char *editor = g_getenv ("VISUAL");
  g_autofree char *path = NULL;
  g_autofree char *command = NULL;
  char *edited = NULL;
  int fd;
  int status;

  if (editor == NULL || *editor == '\0')
    editor = g_getenv ("EDITOR");
  if (editor == NULL || *editor == '\0')
    editor = g_file_test ("/usr/bin/editor", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/bin/editor" : "vi";
  fd = g_file_open_tmp ("ferry_editor_XXXXXX.yaml", &path, error);
  if (fd < 0)
    return NULL;
  close (fd);
  if (!g_file_set_contents (path, text, -1, error))
    goto out;
  {
    g_autofree char *quoted = g_shell_quote (path);
    command = g_strdup_printf ("%s %s", editor, quoted);
  }
  status = system (command);
  if (status != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Editor %s failed", editor);
      goto out;
    }
  if (!g_file_get_contents (path, &edited, NULL, error))
    edited = NULL;
out:
  unlink (path);
  return edited;
}

int
ferry_cli_edit (FerryEditInitial initial, FerryEditApply apply, gpointer data, GError **error)
{
  g_autofree char *text = NULL;

  if (!isatty (STDIN_FILENO))
    {
      g_autoptr (GIOChannel) channel = g_io_channel_unix_new (STDIN_FILENO);
      gsize len;

      if (g_io_channel_read_to_end (channel, &text, &len, error) != G_IO_STATUS_NORMAL)
        return FERRY_EXIT_ERROR;
      return apply (text, data, error) ? 0 : FERRY_EXIT_ERROR;
    }
  if ((text = initial (data, error)) == NULL)
    return FERRY_EXIT_ERROR;
  for (;;)
    {
      g_autofree char *edited = ferry_cli_run_editor (text, error);
      g_autoptr (GError) local_error = NULL;
      char line[16];

      if (edited == NULL)
        return FERRY_EXIT_ERROR;
      if (apply (edited, data, &local_error))
        return 0;
      fprintf (stderr, "Config parsing error: %s\n", local_error->message);
      printf ("Press enter to open the editor again or ctrl+c to abort change");
      fflush (stdout);
      if (fgets (line, sizeof line, stdin) == NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FERRY_EXIT_ERROR;
        }
      g_free (text);
      text = g_steal_pointer (&edited);
    }
}

typedef struct
{
  FerryClient *client;
  const char *name;
  char *etag; /* of what the editor started from; NULL from stdin */
} InstanceEdit;

static char *
instance_edit_initial (gpointer data, GError **error)
{
  InstanceEdit *e = data;
  g_autoptr (JsonObject) inst = ferry_instance_get (e->client, e->name, FALSE, &e->etag, error);
  g_autoptr (JsonNode) current = NULL;
  g_autofree char *yaml = NULL;

  if (inst == NULL)
    return NULL;
  current = ferry_instance_writable (inst);
  yaml = ferry_yaml_write (current);
  return g_strconcat (edit_header, yaml, NULL);
}

static gboolean
instance_edit_apply (const char *text, gpointer data, GError **error)
{
  InstanceEdit *e = data;
  g_autoptr (JsonNode) put = parse_instance_put (text, error);

  return put != NULL && update_instance (e->client, e->name, put, e->etag, error);
}

static int
cmd_config_edit (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  InstanceEdit e = { .client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error) };
  int status;

  if (e.client == NULL)
    return FERRY_EXIT_ERROR;
  e.name = name;
  status = ferry_cli_edit (instance_edit_initial, instance_edit_apply, &e, error);
  g_free (e.etag);
  return status;
}

/* ---- devices ---- */

static int
cmd_device_add (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL;
  g_autofree char *etag = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &name, error);
  g_autoptr (JsonObject) inst = NULL;
  g_autoptr (JsonNode) put = NULL;
  g_autoptr (JsonObject) device = json_object_new ();
  JsonObject *devices;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  inst = ferry_instance_get (client, name, FALSE, &etag, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  put = ferry_instance_writable (inst);
  devices = json_object_get_object_member (json_node_get_object (put), "devices");
  if (json_object_has_member (devices, pos[1]))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "The device already exists");
      return FERRY_EXIT_ERROR;
    }
  json_object_set_string_member (device, "type", pos[2]);
  for (guint i = 3; pos[i] != NULL; i++)
    {
      g_autofree char *key = NULL;
      const char *value;

      if (!ferry_args_split_pair (pos[i], &key, &value, error))
        return FERRY_EXIT_ERROR;
      json_object_set_string_member (device, key, value);
    }
  json_object_set_object_member (devices, pos[1], g_steal_pointer (&device));
  if (!update_instance (client, name, put, etag, error))
    return FERRY_EXIT_ERROR;
  if (!cli->quiet)
    printf ("Device %s added to %s\n", pos[1], name);
  return 0;
}

static int
cmd_device_remove (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL;
  g_autofree char *etag = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &name, error);
  g_autoptr (JsonObject) inst = NULL;
  g_autoptr (JsonNode) put = NULL;
  JsonObject *devices;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  inst = ferry_instance_get (client, name, FALSE, &etag, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  put = ferry_instance_writable (inst);
  devices = json_object_get_object_member (json_node_get_object (put), "devices");
  for (guint i = 1; pos[i] != NULL; i++)
    {
      if (!json_object_has_member (devices, pos[i]))
        {
          if (json_object_has_member (ferry_obj_object (inst, "expanded_devices"), pos[i]))
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                         "Device from profile(s) cannot be removed from individual instance. Override device or modify profile instead");
          else
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Device doesn't exist");
          return FERRY_EXIT_ERROR;
        }
      json_object_remove_member (devices, pos[i]);
    }
  if (!update_instance (client, name, put, etag, error))
    return FERRY_EXIT_ERROR;
  if (!cli->quiet)
    for (guint i = 1; pos[i] != NULL; i++)
      printf ("Device %s removed from %s\n", pos[i], name);
  return 0;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

static int
cmd_device_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autoptr (JsonObject) inst = NULL;
  JsonObject *devices;
  GList *names;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  inst = ferry_instance_get (client, name, FALSE, NULL, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  devices = ferry_obj_object (inst, "devices");
  if (devices == NULL)
    return 0;
  names = g_list_sort (json_object_get_members (devices), compare_strings);
  for (GList *l = names; l != NULL; l = l->next)
    printf ("%s\n", (const char *) l->data);
  g_list_free (names);
  return 0;
}

static int
cmd_device_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autoptr (JsonObject) inst = NULL;
  g_autoptr (JsonNode) devices = NULL;
  g_autofree char *text = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  inst = ferry_instance_get (client, name, FALSE, NULL, error);
  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  devices = ferry_sorted_copy (ferry_obj_object (inst, "devices"), TRUE);
  text = ferry_yaml_write (devices);
  fputs (text, stdout);
  return 0;
}

static const FerryOption expanded_options[] = {
  { "expanded", 'e', FERRY_OPT_BOOL, "Show the expanded configuration" },
  { NULL },
};
static const FerryOption get_options[] = {
  { "expanded", 'e', FERRY_OPT_BOOL, "Access the expanded configuration" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };
static const char *const remove_aliases[] = { "rm", NULL };

static const FerryCommand device_add = {
  .name = "add", .summary = "Add instance devices",
  .usage = "[<remote>:]<instance> <device> <type> [key=value...]", .run = cmd_device_add,
  .examples = "ferry config device add [<remote>:]instance1 <device-name> disk source=/share/c1 path=/opt\n"
              "    Will mount the host's /share/c1 onto /opt in the instance.",
  .min_args = 3, .max_args = -1,
};
static const FerryCommand device_list = {
  .name = "list", .aliases = list_aliases, .summary = "List instance devices", .usage = "[<remote>:]<instance>",
  .run = cmd_device_list, .min_args = 1, .max_args = 1,
};
static const FerryCommand device_remove = {
  .name = "remove", .aliases = remove_aliases, .summary = "Remove instance devices",
  .usage = "[<remote>:]<instance> <name>...", .run = cmd_device_remove, .min_args = 2, .max_args = -1,
};
static const FerryCommand device_show = {
  .name = "show", .summary = "Show full device configuration", .usage = "[<remote>:]<instance>",
  .run = cmd_device_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const device_commands[] = { &device_add, &device_list, &device_remove, &device_show, NULL };
static const FerryCommand config_device = {
  .name = "device", .summary = "Manage devices", .subcommands = device_commands,
};

static const FerryCommand config_edit = {
  .name = "edit", .summary = "Edit instance or server configurations as YAML", .usage = "[<remote>:][<instance>]",
  .examples = "ferry config edit <instance> < instance.yaml\n    Update the instance configuration from config.yaml.",
  .run = cmd_config_edit, .min_args = 1, .max_args = 1,
};
static const FerryCommand config_get = {
  .name = "get", .summary = "Get values for instance or server configuration keys",
  .usage = "[<remote>:][<instance>] <key>", .options = get_options, .run = cmd_config_get, .min_args = 1,
  .max_args = 2,
};
static const FerryCommand config_set = {
  .name = "set", .summary = "Set instance or server configuration keys",
  .usage = "[<remote>:][<instance>] <key>=<value>...",
  .examples = "ferry config set [<remote>:]<instance> limits.cpu=2\n    Will set a CPU limit of \"2\" for the instance.",
  .run = cmd_config_set, .min_args = 2, .max_args = -1,
};
static const FerryCommand config_show = {
  .name = "show", .summary = "Show instance or server configurations", .usage = "[<remote>:][<instance>[/<snapshot>]]",
  .options = expanded_options, .run = cmd_config_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand config_unset = {
  .name = "unset", .summary = "Unset instance or server configuration keys", .usage = "[<remote>:][<instance>] <key>",
  .run = cmd_config_unset, .min_args = 1, .max_args = 2,
};
static const FerryCommand *const config_commands[] = { &config_device, &config_edit, &config_get,
                                                       &ferry_cmd_config_metadata, &config_set, &config_show,
                                                       &ferry_cmd_config_template, &ferry_cmd_config_trust,
                                                       &config_unset, NULL };

const FerryCommand ferry_cmd_config = {
  .name = "config",
  .summary = "Manage instance and server configuration options",
  .subcommands = config_commands,
};
