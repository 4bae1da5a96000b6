/* ferry publish (lxc/publish.go): an image from an instance or a snapshot,
 * made by the daemon (POST /1.0/images, source type instance or snapshot),
 * then named with the aliases, moved from another image if need be, as lxc
 * does (ensureImageAliases). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "instance.h"

#define STATUS_STOPPED 102

static JsonNode *
publish_request (const char *name, gboolean public_, GHashTable *properties)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer k, v;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "source");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, strchr (name, '/') != NULL ? "snapshot" : "instance");
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "public");
  json_builder_add_boolean_value (b, public_);
  json_builder_set_member_name (b, "properties");
  json_builder_begin_object (b);
  g_hash_table_iter_init (&iter, properties);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      json_builder_set_member_name (b, k);
      json_builder_add_string_value (b, v);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* An alias that names another image is moved to this one. */
static gboolean
ensure_alias (FerryClient *client, const char *alias, const char *fingerprint, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (alias);
  g_autofree char *path = g_strdup_printf ("/1.0/images/aliases/%s", escaped);
  g_autoptr (JsonObject) existing = ferry_client_get_object (client, path, NULL, NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL, result = NULL;

  if (existing != NULL)
    {
      g_autoptr (JsonNode) deleted = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error);
      if (deleted == NULL)
        return FALSE;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, alias);
  json_builder_set_member_name (b, "target");
  json_builder_add_string_value (b, fingerprint);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, "");
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  result = ferry_client_query (client, "POST", "/1.0/images/aliases", body, NULL, NULL, error);
  return result != NULL;
}

/* key=value arguments. */
static GHashTable *
parse_properties (char **pos, GError **error)
{
  g_autoptr (GHashTable) props = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (; pos != NULL && *pos != NULL; pos++)
    {
      g_autofree char *key = NULL;
      const char *value;
      if (!ferry_args_split_pair (*pos, &key, &value, error))
        return NULL;
      if (*key == '\0')
        {
          /* A property needs a name. */
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Bad key=value pair: %s", *pos);
          return NULL;
        }
      g_hash_table_insert (props, g_steal_pointer (&key), g_strdup (value));
    }
  return g_steal_pointer (&props);
}

static gboolean
set_ephemeral (FerryClient *client, const char *name, gboolean ephemeral, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *path = g_strdup_printf ("/1.0/instances/%s", escaped);
  g_autoptr (JsonNode) body = json_from_string (ephemeral ? "{\"ephemeral\":true}" : "{\"ephemeral\":false}", NULL);
  g_autoptr (JsonNode) result = ferry_client_query (client, "PATCH", path, body, NULL, NULL, error);

  return result != NULL;
}

/* lxc publish --force: a running instance is stopped for the publish (its
 * ephemeral flag cleared meanwhile, or the stop would delete it). */
static gboolean
stop_for_publish (FerryClient *client, const char *name, gboolean force, gboolean *was_running,
                  gboolean *was_ephemeral, GError **error)
{
  g_autoptr (JsonObject) inst = ferry_instance_get (client, name, FALSE, NULL, error);
  gint64 status;

  if (inst == NULL)
    return FALSE;
  status = ferry_object_status_code (inst);
  *was_running = status != 0 && status != STATUS_STOPPED;
  *was_ephemeral = json_object_get_boolean_member_with_default (inst, "ephemeral", FALSE);
  if (!*was_running)
    return TRUE;
  if (!force)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The instance is currently running. Use --force to have it stopped and restarted");
      return FALSE;
    }
  if (*was_ephemeral && !set_ephemeral (client, name, FALSE, error))
    return FALSE;
  return ferry_client_await (client, ferry_instance_state_change (client, name, "stop", -1, TRUE, FALSE, error),
                             error);
}

static gboolean
restart_after_publish (FerryClient *client, const char *name, gboolean was_ephemeral, GError **error)
{
  if (!ferry_client_await (client, ferry_instance_state_change (client, name, "start", -1, FALSE, FALSE, error),
                           error))
    return FALSE;
  return !was_ephemeral || set_ephemeral (client, name, TRUE, error);
}

static int
cmd_publish (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  const char *const *aliases = ferry_args_get_strv (args, "alias");
  g_autofree char *name = NULL;
  g_autoptr (GHashTable) props = NULL;
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonObject) op = NULL, done = NULL;
  g_autoptr (GError) restart_error = NULL;
  gboolean was_running = FALSE, was_ephemeral = FALSE, ok;
  const char *fingerprint;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &name, error);
  char **rest = pos + 1;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  /* "remote:" as the second argument names where the image goes. */
  if (*rest != NULL && strchr (*rest, '=') == NULL)
    {
      g_autofree char *target = NULL;
      FerryClient *target_client = ferry_cli_resolve (cli, *rest, &target, error);
      if (target_client == NULL)
        return FERRY_EXIT_ERROR;
      if (target_client != client || *target != '\0')
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Publishing to another remote isn't supported: publish, then `ferry image copy`");
          return FERRY_EXIT_ERROR;
        }
      rest++;
    }
  if (*name == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Missing instance name");
      return FERRY_EXIT_ERROR;
    }
  if ((props = parse_properties (rest, error)) == NULL)
    return FERRY_EXIT_ERROR;
  if (strchr (name, '/') == NULL
      && !stop_for_publish (client, name, ferry_args_get_bool (args, "force"), &was_running, &was_ephemeral, error))
    return FERRY_EXIT_ERROR;

  body = publish_request (name, ferry_args_get_bool (args, "public"), props);
  op = ferry_client_operation (client, "POST", "/1.0/images", body, error);
  done = op != NULL ? ferry_client_wait (client, op, ferry_cli_operation_progress, cli, NULL, error) : NULL;
  ferry_cli_progress_done (cli);
  fingerprint = done != NULL ? ferry_obj_string (ferry_obj_object (done, "metadata"), "fingerprint") : "";
  ok = done != NULL;
  for (; ok && aliases != NULL && *aliases != NULL; aliases++)
    ok = ensure_alias (client, *aliases, fingerprint, error);
  if (was_running && !restart_after_publish (client, name, was_ephemeral, &restart_error))
    {
      if (!ok)
        {
          fprintf (stderr, "Error: starting %s again: %s\n", name, restart_error->message);
          return FERRY_EXIT_ERROR;
        }
      g_propagate_prefixed_error (error, g_steal_pointer (&restart_error), "Starting %s again: ", name);
      return FERRY_EXIT_ERROR;
    }
  if (!ok)
    return FERRY_EXIT_ERROR;
  printf ("Instance published with fingerprint: %s\n", fingerprint);
  return 0;
}

static const FerryOption publish_options[] = {
  { "alias", 0, FERRY_OPT_STRV, "New alias to define at target" },
  { "compression", 0, FERRY_OPT_STRING, "Compression algorithm to use (Ferry always uses gzip)" },
  { "force", 'f', FERRY_OPT_BOOL, "Stop the instance if currently running" },
  { "public", 0, FERRY_OPT_BOOL, "Make the image public" },
  { NULL },
};

const FerryCommand ferry_cmd_publish = {
  .name = "publish",
  .summary = "Publish instances as images",
  .description = "Publish instances as images\n\n"
                 "The image is an LXD unified tarball (metadata.yaml and rootfs/) that `ferry image export`\n"
                 "and LXD's `lxc image import` take; a running instance is refused unless --force,\n"
                 "which stops it for the publish and starts it again.",
  .usage = "[<remote>:]<instance>[/<snapshot>] [<remote>:] [flags] [key=value...]",
  .examples = "ferry publish c1 --alias myimg\n    An image of the stopped instance c1, named myimg.\n\n"
              "ferry publish c1/snap0 --alias x description=foo\n    An image of a snapshot, with a property.",
  .options = publish_options,
  .run = cmd_publish,
  .min_args = 1,
  .max_args = -1,
};
