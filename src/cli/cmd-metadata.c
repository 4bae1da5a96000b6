/* ferry config metadata show|edit and ferry config template
 * list|show|create|edit|delete (lxc/config_metadata.go and
 * config_template.go of LXD 5.0): an instance's image metadata and its
 * template files. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"
#include "common/json.h"
#include "common/yaml.h"

static FerryClient *
instance_client (FerryCli *cli, FerryArgs *args, char **name, GError **error)
{
  return ferry_cli_resolve (cli, ferry_args_positional (args)[0], name, error);
}

static char *
metadata_path (const char *name)
{
  g_autofree char *escaped = ferry_client_escape (name);

  return g_strdup_printf ("/1.0/instances/%s/metadata", escaped);
}

static char *
template_path (const char *name, const char *template)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *t = template != NULL ? g_uri_escape_string (template, NULL, FALSE) : NULL;

  return t != NULL ? g_strdup_printf ("/1.0/instances/%s/metadata/templates?path=%s", escaped, t)
                   : g_strdup_printf ("/1.0/instances/%s/metadata/templates", escaped);
}

static char *
read_stdin (GError **error)
{
  g_autoptr (GIOChannel) channel = g_io_channel_unix_new (STDIN_FILENO);
  char *text = NULL;
  gsize len;

  if (g_io_channel_read_to_end (channel, &text, &len, error) != G_IO_STATUS_NORMAL)
    return NULL;
  return text;
}

/* ---- metadata ---- */

/* A text scalar as a number or a boolean where api.ImageMetadata has one
 * (the YAML is read as text, as Go decodes it into typed fields). */
static gboolean
retype (JsonObject *o, const char *member, gboolean boolean, GError **error)
{
  JsonNode *n = json_object_get_member (o, member);
  const char *s;
  gint64 v;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return TRUE;
  s = json_node_get_string (n);
  if (boolean)
    {
      gboolean yes = strcmp (s, "true") == 0 || strcmp (s, "yes") == 0 || strcmp (s, "on") == 0;
      if (!yes && strcmp (s, "false") != 0 && strcmp (s, "no") != 0 && strcmp (s, "off") != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s must be true or false, not \"%s\"", member, s);
          return FALSE;
        }
      json_object_set_boolean_member (o, member, yes);
      return TRUE;
    }
  if (!g_ascii_string_to_signed (s, 10, G_MININT64, G_MAXINT64, &v, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s must be a number, not \"%s\"", member, s);
      return FALSE;
    }
  json_object_set_int_member (o, member, v);
  return TRUE;
}

static JsonNode *
parse_metadata (const char *text, GError **error)
{
  g_autoptr (JsonNode) doc = ferry_yaml_read (text, -1, FERRY_YAML_READ_TEXT, error);
  JsonObject *o;
  JsonNode *templates;

  if (doc == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (doc))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The metadata must be a map");
      return NULL;
    }
  o = json_node_get_object (doc);
  if (!retype (o, "creation_date", FALSE, error) || !retype (o, "expiry_date", FALSE, error))
    return NULL;
  templates = json_object_get_member (o, "templates");
  if (templates != NULL && JSON_NODE_HOLDS_OBJECT (templates))
    {
      g_autoptr (GList) paths = json_object_get_members (json_node_get_object (templates));
      for (GList *l = paths; l != NULL; l = l->next)
        {
          JsonNode *t = json_object_get_member (json_node_get_object (templates), l->data);
          if (JSON_NODE_HOLDS_OBJECT (t) && !retype (json_node_get_object (t), "create_only", TRUE, error))
            return NULL;
        }
    }
  return g_steal_pointer (&doc);
}

static int
cmd_metadata_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = instance_client (cli, args, &name, error);
  g_autofree char *path = NULL;
  g_autoptr (JsonObject) md = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *yaml = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = metadata_path (name);
  md = ferry_client_get_object (client, path, NULL, error);
  if (md == NULL)
    return FERRY_EXIT_ERROR;
  node = json_node_init_object (json_node_alloc (), md);
  yaml = ferry_yaml_write (node);
  fputs (yaml, stdout);
  return 0;
}

static const char metadata_header[] =
  "### This is a YAML representation of the instance metadata.\n"
  "### Any line starting with a '# will be ignored.\n"
  "###\n";

typedef struct
{
  FerryClient *client;
  const char *path;
  char *etag; /* of what the editor started from; NULL from stdin */
} MetadataEdit;

static char *
metadata_edit_initial (gpointer data, GError **error)
{
  MetadataEdit *e = data;
  JsonObject *md = ferry_client_get_object (e->client, e->path, &e->etag, error);
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *yaml = NULL;

  if (md == NULL)
    return NULL;
  node = json_node_init_object (json_node_alloc (), md);
  json_object_unref (md);
  yaml = ferry_yaml_write (node);
  return g_strconcat (metadata_header, yaml, NULL);
}

static gboolean
metadata_edit_apply (const char *text, gpointer data, GError **error)
{
  MetadataEdit *e = data;
  g_autoptr (JsonNode) put = parse_metadata (text, error);
  g_autoptr (JsonNode) answer = NULL;

  if (put == NULL)
    return FALSE;
  answer = ferry_client_query (e->client, "PUT", e->path, put, e->etag, NULL, error);
  return answer != NULL;
}

static int
cmd_metadata_edit (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = instance_client (cli, args, &name, error);
  g_autofree char *path = NULL;
  MetadataEdit e = { .client = client };
  int status;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = metadata_path (name);
  e.path = path;
  status = ferry_cli_edit (metadata_edit_initial, metadata_edit_apply, &e, error);
  g_free (e.etag);
  return status;
}

/* ---- templates ---- */

static int
cmd_template_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = instance_client (cli, args, &name, error);
  g_autofree char *path = NULL;
  g_autoptr (JsonArray) list = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = template_path (name, NULL);
  list = ferry_client_get_array (client, path, error);
  if (list == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < json_array_get_length (list); i++)
    printf ("%s\n", json_array_get_string_element (list, i));
  return 0;
}

static int
cmd_template_show (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = instance_client (cli, args, &name, error);
  g_autofree char *path = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize len = 0;
  const char *data;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = template_path (name, ferry_args_positional (args)[1]);
  bytes = ferry_client_get_raw (client, path, error);
  if (bytes == NULL)
    return FERRY_EXIT_ERROR;
  data = g_bytes_get_data (bytes, &len);
  if (len > 0)
    fwrite (data, 1, len, stdout);
  return 0;
}

static gboolean
send_template (FerryClient *client, const char *name, const char *template, const char *text, GError **error)
{
  g_autofree char *path = template_path (name, template);
  g_autoptr (GInputStream) body = g_memory_input_stream_new_from_data (g_strdup (text), (gssize) strlen (text), g_free);
  g_autoptr (GHashTable) headers = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (JsonNode) answer = NULL;

  g_hash_table_insert (headers, (gpointer) "Content-Type", (gpointer) "application/octet-stream");
  answer = ferry_client_send_stream (client, "POST", path, body, (goffset) strlen (text), headers, error);
  return answer != NULL;
}

/* create: stdin's text when it is not a terminal, else an empty file;
 * edit: the same, or the editor on the current text. */
static int
template_write (FerryCli *cli, FerryArgs *args, gboolean edit, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = instance_client (cli, args, &name, error);
  const char *template = ferry_args_positional (args)[1];
  g_autofree char *text = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (!isatty (STDIN_FILENO))
    text = read_stdin (error);
  else if (!edit)
    text = g_strdup ("");
  else
    {
      g_autofree char *path = template_path (name, template);
      g_autoptr (GBytes) bytes = ferry_client_get_raw (client, path, error);
      g_autofree char *current = NULL;
      gsize len = 0;
      const char *data;

      if (bytes == NULL)
        return FERRY_EXIT_ERROR;
      data = g_bytes_get_data (bytes, &len);
      current = g_strndup (data != NULL ? data : "", len);
      text = ferry_cli_run_editor (current, error);
    }
  if (text == NULL)
    return FERRY_EXIT_ERROR;
  return send_template (client, name, template, text, error) ? 0 : FERRY_EXIT_ERROR;
}

static int
cmd_template_create (FerryCli *cli, FerryArgs *args, GError **error)
{
  return template_write (cli, args, FALSE, error);
}

static int
cmd_template_edit (FerryCli *cli, FerryArgs *args, GError **error)
{
  return template_write (cli, args, TRUE, error);
}

static int
cmd_template_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = instance_client (cli, args, &name, error);
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) answer = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  path = template_path (name, ferry_args_positional (args)[1]);
  answer = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error);
  return answer != NULL ? 0 : FERRY_EXIT_ERROR;
}

static const FerryCommand metadata_edit = {
  .name = "edit", .summary = "Edit instance metadata files", .usage = "[<remote>:]<instance>",
  .run = cmd_metadata_edit, .min_args = 1, .max_args = 1,
};
static const FerryCommand metadata_show = {
  .name = "show", .summary = "Show instance metadata files", .usage = "[<remote>:]<instance>",
  .run = cmd_metadata_show, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const metadata_commands[] = { &metadata_edit, &metadata_show, NULL };

const FerryCommand ferry_cmd_config_metadata = {
  .name = "metadata", .summary = "Manage instance metadata files", .subcommands = metadata_commands,
};

static const char *const list_aliases[] = { "ls", NULL };
static const FerryCommand template_create = {
  .name = "create", .summary = "Create new instance file templates", .usage = "[<remote>:]<instance> <template>",
  .run = cmd_template_create, .min_args = 2, .max_args = 2,
};
static const FerryCommand template_delete = {
  .name = "delete", .summary = "Delete instance file templates", .usage = "[<remote>:]<instance> <template>",
  .run = cmd_template_delete, .min_args = 2, .max_args = 2,
};
static const FerryCommand template_edit = {
  .name = "edit", .summary = "Edit instance file templates", .usage = "[<remote>:]<instance> <template>",
  .run = cmd_template_edit, .min_args = 2, .max_args = 2,
};
static const FerryCommand template_list = {
  .name = "list", .aliases = list_aliases, .summary = "List instance file templates", .usage = "[<remote>:]<instance>",
  .run = cmd_template_list, .min_args = 1, .max_args = 1,
};
static const FerryCommand template_show = {
  .name = "show", .summary = "Show content of instance file templates", .usage = "[<remote>:]<instance> <template>",
  .run = cmd_template_show, .min_args = 2, .max_args = 2,
};
static const FerryCommand *const template_commands[] = { &template_create, &template_delete, &template_edit,
                                                         &template_list, &template_show, NULL };

const FerryCommand ferry_cmd_config_template = {
  .name = "template", .summary = "Manage instance file templates", .subcommands = template_commands,
};
