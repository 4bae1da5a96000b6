/* ferry export / ferry import: instance backups as lxc makes them (a backup
 * made on the server, downloaded, then removed there; an import uploads
 * the tarball as the body of an instance create). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/timeutil.h"

/* The backup name out of the operation's resource, "/1.0/backups/NAME". */
static char *
backup_name_of (JsonObject *op)
{
  JsonArray *backups = ferry_obj_array (ferry_obj_object (op, "resources"), "backups");
  const char *url;

  if (backups == NULL || json_array_get_length (backups) == 0)
    return NULL;
  url = json_array_get_string_element (backups, 0);
  return url != NULL ? g_strdup (strrchr (url, '/') != NULL ? strrchr (url, '/') + 1 : url) : NULL;
}

static int
cmd_export (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *instance = NULL, *escaped = NULL, *backup = NULL, *path = NULL, *expires = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonObject) op = NULL, done = NULL;
  const char *file = pos[1] != NULL ? pos[1] : "backup.tar.gz";
  const char *compression = ferry_args_get_string (args, "compression", "");
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &instance, error);
  gboolean ok;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (instance);
  /* As lxc: the server drops it after a day if the client never does. */
  expires = ferry_time_rfc3339 (ferry_time_now () + (gint64) 24 * 3600 * G_USEC_PER_SEC);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_string_value (b, expires);
  json_builder_set_member_name (b, "instance_only");
  json_builder_add_boolean_value (b, ferry_args_get_bool (args, "instance-only"));
  json_builder_set_member_name (b, "optimized_storage");
  json_builder_add_boolean_value (b, ferry_args_get_bool (args, "optimized-storage"));
  json_builder_set_member_name (b, "compression_algorithm");
  json_builder_add_string_value (b, compression);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  path = g_strdup_printf ("/1.0/instances/%s/backups", escaped);
  op = ferry_client_operation (client, "POST", path, body, error);
  if (op == NULL)
    return FERRY_EXIT_ERROR;
  done = ferry_client_wait (client, op, ferry_cli_operation_progress, cli, NULL, error);
  ferry_cli_progress_done (cli);
  if (done == NULL)
    return FERRY_EXIT_ERROR;
  backup = backup_name_of (done);
  if (backup == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The server did not name the backup it made");
      return FERRY_EXIT_ERROR;
    }
  g_free (path);
  path = g_strdup_printf ("/1.0/instances/%s/backups/%s/export", escaped, backup);
  ok = ferry_client_download (client, path, file, NULL, error);
  /* Removed on the server whether the download worked or not, as lxc does. */
  g_free (path);
  path = g_strdup_printf ("/1.0/instances/%s/backups/%s", escaped, backup);
  {
    g_autoptr (GError) delete_error = NULL;
    if (!ferry_client_await (client, ferry_client_operation (client, "DELETE", path, NULL, &delete_error),
                             &delete_error)
        && ok)
      g_printerr ("Warning: removing backup %s on the server: %s\n", backup, delete_error->message);
  }
  if (!ok)
    return FERRY_EXIT_ERROR;
  if (!cli->quiet)
    printf ("Backup exported successfully!\n");
  return 0;
}

static int
cmd_import (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *remote = ferry_remote_default ();
  g_autoptr (GHashTable) headers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr (JsonObject) op = NULL, done = NULL;
  const char *storage = ferry_args_get_string (args, "storage", "");
  FerryClient *client;
  guint i = 0;

  if (pos[0] != NULL && g_str_has_suffix (pos[0], ":"))
    {
      g_autofree char *rest = NULL;
      g_clear_pointer (&remote, g_free);
      if (!ferry_remote_parse (pos[0], &remote, &rest, error))
        return FERRY_EXIT_ERROR;
      i++;
    }
  if (pos[i] == NULL || (pos[i + 1] != NULL && pos[i + 2] != NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Usage: ferry import [<remote>:] <backup file> [<instance>]");
      return FERRY_EXIT_ERROR;
    }
  if (pos[i + 1] != NULL)
    g_hash_table_insert (headers, "X-LXD-name", g_strdup (pos[i + 1]));
  if (*storage != '\0')
    g_hash_table_insert (headers, "X-LXD-pool", g_strdup (storage));
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  op = ferry_client_operation_upload (client, "/1.0/instances", pos[i], headers, error);
  if (op == NULL)
    return FERRY_EXIT_ERROR;
  done = ferry_client_wait (client, op, ferry_cli_operation_progress, cli, NULL, error);
  ferry_cli_progress_done (cli);
  return done != NULL ? 0 : FERRY_EXIT_ERROR;
}

static const FerryOption export_options[] = {
  { "instance-only", 0, FERRY_OPT_BOOL, "Whether or not to only backup the instance (without snapshots)" },
  { "optimized-storage", 0, FERRY_OPT_BOOL, "Use storage driver optimized format (ignored: a dir pool has none)" },
  { "compression", 0, FERRY_OPT_STRING, "Compression algorithm: gzip (default), none, bzip2, xz, lzma, zstd, lz4" },
  { NULL },
};

static const FerryOption import_options[] = {
  { "storage", 's', FERRY_OPT_STRING, "Storage pool name (Ferry has one: default)" },
  { NULL },
};

const FerryCommand ferry_cmd_export = {
  .name = "export",
  .summary = "Export instance backups",
  .description = "Export instances as backup tarballs (LXD's layout: backup/index.yaml, backup/container/,\n"
                 "backup/snapshots/), stateful snapshots with their saved processes.",
  .usage = "[<remote>:]<instance> [target] [--instance-only] [--compression=ALGO]",
  .examples = "ferry export c1 /tmp/c1.tar.gz\n    Download a backup tarball of the c1 instance.",
  .options = export_options,
  .run = cmd_export,
  .min_args = 1,
  .max_args = 2,
};

const FerryCommand ferry_cmd_import = {
  .name = "import",
  .summary = "Import instance backups",
  .description = "Import backups of instances including their snapshots.",
  .usage = "[<remote>:] <backup file> [<instance name>]",
  .examples = "ferry import backup0.tar.gz\n    Create a new instance using backup0.tar.gz as the source.\n\n"
              "ferry import c1.tar.gz c2\n    The same, naming the instance c2.",
  .options = import_options,
  .run = cmd_import,
  .min_args = 1,
  .max_args = 3,
};
