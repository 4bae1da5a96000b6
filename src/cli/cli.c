#include "config.h"

#include "cli.h"

#include <stdio.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "remote.h"

FerryClient *
ferry_cli_client (FerryCli *cli, const char *remote_name, GError **error)
{
  FerryClient *client = g_hash_table_lookup (cli->clients, remote_name);
  g_autoptr (FerryRemote) remote = NULL;

  if (client != NULL)
    return client;
  remote = ferry_remote_lookup (remote_name, error);
  if (remote == NULL)
    return NULL;
  client = ferry_client_new (remote, cli->project, error);
  if (client == NULL)
    return NULL;
  /* Like lxc, every command starts with GET /1.0: it also tells whether the
   * daemon is there at all. */
  if (ferry_client_server (client, error) == NULL)
    {
      ferry_client_free (client);
      return NULL;
    }
  g_hash_table_insert (cli->clients, g_strdup (remote_name), client);
  return client;
}

FerryClient *
ferry_cli_resolve (FerryCli *cli, const char *arg, char **name_out, GError **error)
{
  g_autofree char *remote = NULL;
  g_autofree char *name = NULL;
  FerryClient *client;

  if (!ferry_remote_parse (arg, &remote, &name, error))
    return NULL;
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return NULL;
  if (name_out != NULL)
    *name_out = g_steal_pointer (&name);
  return client;
}

int
ferry_cli_list (FerryCli *cli, FerryArgs *args, const char *collection, const char *const *headers,
                FerryListRow row, gboolean sort, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *rest = NULL, *path = NULL;
  g_autoptr (JsonArray) objects = NULL;
  g_autoptr (FerryTable) table = ferry_table_new (headers);
  g_autoptr (JsonNode) raw = json_node_new (JSON_NODE_ARRAY);
  FerryClient *client = ferry_cli_resolve (cli, pos[0] != NULL ? pos[0] : "", &rest, error);
  FerryFormat format;

  if (client == NULL || !ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  path = g_strdup_printf ("%s?recursion=1", collection);
  if ((objects = ferry_client_get_array (client, path, error)) == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < json_array_get_length (objects); i++)
    {
      JsonObject *o = json_array_get_object_element (objects, i);

      if (o != NULL)
        ferry_table_add_row (table, row (o));
    }
  if (sort)
    ferry_table_sort (table);
  json_node_set_array (raw, objects);
  ferry_output_print (format, table, raw);
  return 0;
}

void
ferry_cli_usage_error (GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid number of arguments");
}

static gsize progress_len;

void
ferry_cli_progress (FerryCli *cli, const char *text)
{
  if (cli != NULL && cli->quiet)
    return;
  if (!isatty (STDOUT_FILENO))
    return;
  printf ("\r%-*s", (int) progress_len, text);
  progress_len = MAX (progress_len, strlen (text));
  fflush (stdout);
}

void
ferry_cli_progress_done (FerryCli *cli)
{
  if (progress_len == 0)
    return;
  printf ("\r%*s\r", (int) progress_len, "");
  fflush (stdout);
  progress_len = 0;
}

/* Any "*_progress" string in the operation's metadata, as lxc's UpdateOp. */
void
ferry_cli_operation_progress (JsonObject *operation, gpointer user_data)
{
  FerryCli *cli = user_data;
  JsonObject *metadata = ferry_obj_object (operation, "metadata");
  g_autoptr (GList) members = NULL;

  if (metadata == NULL)
    return;
  members = json_object_get_members (metadata);
  for (GList *l = members; l != NULL; l = l->next)
    if (g_str_has_suffix (l->data, "_progress"))
      {
        JsonNode *value = json_object_get_member (metadata, l->data);
        if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
          ferry_cli_progress (cli, json_node_get_string (value));
      }
}

const char *
ferry_obj_string (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return "";
  return json_node_get_string (node);
}

gint64
ferry_obj_int (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return 0;
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    return (gint64) json_node_get_double (node);
  if (json_node_get_value_type (node) != G_TYPE_INT64)
    return 0;
  return json_node_get_int (node);
}

gboolean
ferry_obj_bool (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;
  return json_node_get_boolean (node);
}

JsonObject *
ferry_obj_object (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_node_get_object (node);
}

JsonArray *
ferry_obj_array (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  return json_node_get_array (node);
}

JsonNode *
ferry_sorted_copy (JsonObject *object, gboolean recursive)
{
  g_autoptr (JsonObject) out = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  if (object != NULL)
    {
      GList *members = ferry_json_sorted_members (object);

      for (GList *l = members; l != NULL; l = l->next)
        {
          JsonNode *value = json_object_get_member (object, l->data);
          if (recursive && JSON_NODE_HOLDS_OBJECT (value))
            json_object_set_member (out, l->data, ferry_sorted_copy (json_node_get_object (value), FALSE));
          else
            json_object_set_member (out, l->data, json_node_copy (value));
        }
      g_list_free (members);
    }
  json_node_set_object (node, out);
  return node;
}
