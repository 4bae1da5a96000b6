/* ferry snapshot and ferry restore (lxc/snapshot.go, lxc/restore.go).
 * Deleting, renaming and showing snapshots live with their instance verbs
 * (delete, rename, config show), as in lxc. */
#include "config.h"

#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "snapshot.h"

/* --reuse: drop an existing snapshot of that name first. Like lxc, a failed
 * lookup just means there is nothing to drop. */
static gboolean
delete_existing_snapshot (FerryClient *client, const char *instance, const char *snapshot, GError **error)
{
  g_autofree char *path = ferry_snapshot_path (instance, snapshot);
  g_autoptr (JsonObject) existing = ferry_client_get_object (client, path, NULL, NULL);

  if (existing == NULL)
    return TRUE;
  return ferry_client_await (client, ferry_client_operation (client, "DELETE", path, NULL, error), error);
}

static int
cmd_snapshot (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  const char *snapshot = pos[1] != NULL ? pos[1] : "";
  g_autofree char *instance = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) body = NULL;
  FerryClient *client;

  if (strchr (snapshot, '/') != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "'/' not allowed in snapshot name");
      return FERRY_EXIT_ERROR;
    }
  client = ferry_cli_resolve (cli, pos[0], &instance, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (*instance == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Missing instance name");
      return FERRY_EXIT_ERROR;
    }
  if (ferry_args_get_bool (args, "reuse") && *snapshot != '\0'
      && !delete_existing_snapshot (client, instance, snapshot, error))
    return FERRY_EXIT_ERROR;

  escaped = ferry_client_escape (instance);
  path = g_strdup_printf ("/1.0/instances/%s/snapshots", escaped);
  body = ferry_snapshot_create_request (snapshot, ferry_args_get_bool (args, "stateful"),
                                        ferry_args_get_bool (args, "no-expiry"));
  return ferry_client_await (client, ferry_client_operation (client, "POST", path, body, error), error)
           ? 0
           : FERRY_EXIT_ERROR;
}

static int
cmd_restore (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *instance = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) body = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &instance, error);

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (instance);
  path = g_strdup_printf ("/1.0/instances/%s", escaped);
  body = ferry_restore_request (instance, pos[1], ferry_args_get_bool (args, "stateful"));
  return ferry_client_await (client, ferry_client_operation (client, "PUT", path, body, error), error)
           ? 0
           : FERRY_EXIT_ERROR;
}

static const FerryOption snapshot_options[] = {
  { "no-expiry", 0, FERRY_OPT_BOOL, "Ignore any configured auto-expiry for the instance" },
  { "reuse", 0, FERRY_OPT_BOOL, "If the snapshot name already exists, delete and create a new one" },
  { "stateful", 0, FERRY_OPT_BOOL, "Whether or not to snapshot the instance's running state" },
  { NULL },
};

static const FerryOption restore_options[] = {
  { "stateful", 0, FERRY_OPT_BOOL,
    "Whether or not to restore the instance's running state from snapshot (if available)" },
  { NULL },
};

const FerryCommand ferry_cmd_snapshot = {
  .name = "snapshot",
  .summary = "Create instance snapshots",
  .description = "Create instance snapshots\n\n"
                 "When --stateful is used, Ferry checkpoints the instance's running state with CRIU\n"
                 "(process tree, memory, open files, pipes, sockets) while the instance keeps running.\n"
                 "Without it, only the root filesystem is saved.",
  .usage = "[<remote>:]<instance> [<snapshot name>]",
  .examples = "ferry snapshot u1 snap0\n    Create a snapshot of \"u1\" called \"snap0\".\n\n"
              "ferry snapshot u1 snap1 --stateful\n    Also save the running processes of \"u1\".",
  .options = snapshot_options,
  .run = cmd_snapshot,
  .min_args = 1,
  .max_args = 2,
};

const FerryCommand ferry_cmd_restore = {
  .name = "restore",
  .summary = "Restore instances from snapshots",
  .description = "Restore instances from snapshots\n\n"
                 "If --stateful is passed, then the running state will be restored too.\n\n"
                 "On Ferry, restoring a stateful snapshot always restores its processes: the daemon\n"
                 "decides from the snapshot. --stateful is accepted for compatibility with lxc.",
  .usage = "[<remote>:]<instance> <snapshot>",
  .examples = "ferry snapshot u1 snap0\n    Create the snapshot.\n\nferry restore u1 snap0\n    Restore the snapshot.",
  .options = restore_options,
  .run = cmd_restore,
  .min_args = 2,
  .max_args = 2,
};
