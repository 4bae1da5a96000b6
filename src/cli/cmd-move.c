/* move and copy (lxc/move.go, lxc/copy.go, client/lxd_instances.go
 * CopyInstance): a rename on one remote, a local copy when both remotes
 * reach the same daemon, else a migration between two daemons in pull or
 * push mode, followed for a move by the delete of the source. The requests
 * themselves are built in migration.c. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "instance.h"
#include "migration.h"
#include "snapshot.h"

/* Instance status codes (shared/api/status_code.go). */
#define STATUS_RUNNING 103

typedef struct
{
  FerryCli *cli;
  gboolean is_move;
  gboolean stateless;
  gboolean instance_only;
  const char *mode; /* "pull" or "push" */
  const char *storage; /* -s: the pool the target puts it on, or NULL */

  const char *source_remote;
  const char *source_name;
  FerryClient *source;
  const char *target_remote;
  const char *target_name; /* "" = the server picks one (copy only) */
  FerryClient *target;

  JsonObject *final_op; /* the operation that carried the transfer */
  char *other_op_id; /* the peer operation, in case it holds the figures */
  FerryClient *other_op_client;
} Transfer;

static void
transfer_clear (Transfer *t)
{
  g_clear_pointer (&t->final_op, json_object_unref);
  g_clear_pointer (&t->other_op_id, g_free);
}

/* lxc's progress format for copies and moves. */
static void
transfer_progress (JsonObject *operation, gpointer user_data)
{
  FerryCli *cli = user_data;
  JsonObject *metadata = ferry_obj_object (operation, "metadata");
  g_autoptr (GList) members = metadata != NULL ? json_object_get_members (metadata) : NULL;

  for (GList *l = members; l != NULL; l = l->next)
    if (g_str_has_suffix (l->data, "_progress"))
      {
        const char *value = ferry_obj_string (metadata, l->data);
        g_autofree char *text = g_strdup_printf ("Transferring instance: %s", value);

        if (*value != '\0')
          ferry_cli_progress (cli, text);
      }
}

static JsonObject *
wait_transfer (Transfer *t, FerryClient *client, JsonObject *op, GError **error)
{
  JsonObject *done = ferry_client_wait (client, op, transfer_progress, t->cli, NULL, error);

  ferry_cli_progress_done (t->cli);
  return done;
}

/* Best effort: the operation may be gone already. */
static void
cancel_operation (FerryClient *client, JsonObject *op)
{
  g_autofree char *escaped = ferry_client_escape (ferry_obj_string (op, "id"));
  g_autofree char *path = g_strdup_printf ("/1.0/operations/%s", escaped);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) ignored = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, &error);

  if (ignored == NULL)
    g_debug ("cancelling operation %s: %s", ferry_obj_string (op, "id"), error->message);
}

static char *
source_path (Transfer *t)
{
  g_autofree char *escaped = ferry_client_escape (t->source_name);

  return g_strdup_printf ("/1.0/instances/%s", escaped);
}

/* Both remotes reach the same daemon: it copies by itself. */
static gboolean
transfer_local (Transfer *t, JsonObject *instance, GError **error)
{
  FerryMigrationSource source = {
    .mode = "copy",
    .instance_only = t->instance_only,
    .operation = t->source_name,
  };
  g_autoptr (JsonNode) body = ferry_migration_target_request (instance, t->target_name, t->is_move, &source);
  g_autoptr (JsonObject) op = ferry_client_operation (t->target, "POST", "/1.0/instances", body, error);

  if (op == NULL)
    return FALSE;
  t->final_op = wait_transfer (t, t->target, op, error);
  return t->final_op != NULL;
}

/* The daemon that listens opened LISTEN_OP (on LISTENER); the other one is
 * asked to dial it at each of ADDRESSES in turn (POST DIAL_PATH on DIALER,
 * whose operation the client then waits on), until one works or an error
 * other than a connection failure. */
typedef JsonNode *(*DialBody) (Transfer *t, const char *operation_url, JsonObject *secrets, gpointer data);

static gboolean
dial_listener (Transfer *t, FerryClient *listener, JsonObject *listen_op, FerryClient *dialer, const char *dial_path,
               char **addresses, DialBody make_body, gpointer data, const char *what, GError **error)
{
  g_autoptr (JsonObject) secrets = ferry_migration_secrets (listen_op, error);
  g_autoptr (GPtrArray) tried = g_ptr_array_new ();
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);

  if (secrets == NULL)
    {
      cancel_operation (listener, listen_op);
      return FALSE;
    }
  for (guint i = 0; addresses[i] != NULL; i++)
    {
      g_autofree char *operation = ferry_migration_operation_url (addresses[i], ferry_obj_string (listen_op, "id"));
      g_autoptr (JsonNode) body = make_body (t, operation, secrets, data);
      g_autoptr (JsonObject) op = NULL;
      GError *attempt_error = NULL;

      g_ptr_array_add (tried, addresses[i]);
      op = ferry_client_operation (dialer, "POST", dial_path, body, &attempt_error);
      if (op == NULL)
        {
          g_ptr_array_add (errors, attempt_error);
          continue;
        }
      t->final_op = wait_transfer (t, dialer, op, &attempt_error);
      if (t->final_op != NULL)
        {
          t->other_op_id = g_strdup (ferry_obj_string (listen_op, "id"));
          t->other_op_client = listener;
          return TRUE;
        }
      g_ptr_array_add (errors, attempt_error);
      if (!ferry_migration_is_connection_error (attempt_error))
        break;
    }
  ferry_migration_set_error (error, what, tried, errors);
  cancel_operation (listener, listen_op);
  return FALSE;
}

typedef struct
{
  JsonObject *instance;
  gboolean live;
  const char *certificate;
} DialData;

static JsonNode *
pull_target_body (Transfer *t, const char *operation_url, JsonObject *secrets, gpointer data)
{
  DialData *d = data;
  FerryMigrationSource source = {
    .mode = "pull",
    .live = d->live,
    .instance_only = t->instance_only,
    .certificate = d->certificate,
    .operation = operation_url,
    .secrets = secrets,
  };

  return ferry_migration_target_request (d->instance, t->target_name, t->is_move, &source);
}

static JsonNode *
push_source_body (Transfer *t, const char *operation_url, JsonObject *secrets, gpointer data)
{
  DialData *d = data;

  return ferry_migration_source_request (d->live, t->instance_only, d->certificate, operation_url, secrets);
}

/* Pull mode: the source daemon opens a migration operation; the target
 * daemon connects to it, trying each of the source's addresses. The client
 * waits on the target only. */
static gboolean
transfer_pull (Transfer *t, JsonObject *instance, gboolean live, char **addresses, GError **error)
{
  g_autofree char *certificate = ferry_client_certificate_pem (t->source);
  g_autofree char *path = source_path (t);
  g_autoptr (JsonNode) source_body = ferry_migration_source_request (live, t->instance_only, NULL, NULL, NULL);
  g_autoptr (JsonObject) source_op = ferry_client_operation (t->source, "POST", path, source_body, error);
  DialData d = { .instance = instance, .live = live, .certificate = certificate };

  return source_op != NULL
         && dial_listener (t, t->source, source_op, t->target, "/1.0/instances", addresses, pull_target_body, &d,
                           "Failed instance creation", error);
}

/* Push mode: the target daemon opens a migration operation; the source
 * daemon connects to it, trying each of the target's addresses. The client
 * waits on the source. */
static gboolean
transfer_push (Transfer *t, JsonObject *instance, gboolean live, char **addresses, GError **error)
{
  g_autofree char *certificate = ferry_client_certificate_pem (t->target);
  g_autofree char *path = source_path (t);
  FerryMigrationSource source = {
    .mode = "push",
    .live = live,
    .instance_only = t->instance_only,
  };
  g_autoptr (JsonNode) target_body = ferry_migration_target_request (instance, t->target_name, t->is_move, &source);
  g_autoptr (JsonObject) target_op = ferry_client_operation (t->target, "POST", "/1.0/instances", target_body, error);
  DialData d = { .instance = instance, .live = live, .certificate = certificate };

  return target_op != NULL
         && dial_listener (t, t->target, target_op, t->source, path, addresses, push_source_body, &d,
                           "Failed instance migration", error);
}

/* Where the daemon that the other one connects to is reached: the source
 * in pull mode, the target in push mode. lxc finds out that there is no
 * such address only after it created the source operation (and leaves it
 * behind); nothing needs to be sent to know it. */
static GStrv
peer_addresses (Transfer *t, GError **error)
{
  gboolean push = strcmp (t->mode, "push") == 0;
  FerryClient *listener = push ? t->target : t->source;
  GStrv addresses = ferry_migration_addresses (ferry_client_https_url (listener),
                                               ferry_client_server (listener, NULL));

  if (addresses[0] == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The %s server isn't listening on the network (set core.https_address on remote \"%s\")",
                   push ? "target" : "source", push ? t->target_remote : t->source_remote);
      g_strfreev (addresses);
      return NULL;
    }
  return addresses;
}

static gboolean
change_state (FerryClient *client, const char *name, const char *action, gboolean force, GError **error)
{
  return ferry_client_await (client, ferry_instance_state_change (client, name, action, -1, force, FALSE, error),
                             error);
}

/* The source of a transfer: an instance, or for a local copy a snapshot
 * ("c1/snap0"), as lxc copy reads it. */
static JsonObject *
get_source (Transfer *t, gboolean same_server, GError **error)
{
  g_autofree char *instance = NULL, *snapshot = NULL, *path = NULL;

  if (strchr (t->source_name, '/') == NULL)
    return ferry_instance_get (t->source, t->source_name, FALSE, NULL, error);
  if (t->is_move || !same_server)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Copying or moving a snapshot (%s) to another server isn't supported", t->source_name);
      return NULL;
    }
  if (!ferry_snapshot_parse (t->source_name, &instance, &snapshot, error))
    return NULL;
  path = ferry_snapshot_path (instance, snapshot);
  return ferry_client_get_object (t->source, path, NULL, error);
}

/* Copies the instance to the target. For a move of a running instance with
 * --stateless, Ferry stops it first (cleanly), so that the copy is
 * consistent, and starts it again on the source if the transfer fails;
 * *stopped_source tells the caller to start the new copy. */
static gboolean
transfer_instance (Transfer *t, gboolean *stopped_source, GError **error)
{
  gboolean same_server = ferry_client_same_server (t->source, t->target);
  g_autoptr (JsonObject) instance = get_source (t, same_server, error);
  g_autoptr (GError) local_error = NULL;
  g_auto (GStrv) addresses = NULL;
  gboolean running;
  gboolean live;
  gboolean ok;

  *stopped_source = FALSE;
  if (instance == NULL)
    return FALSE;
  if (!same_server)
    {
      addresses = peer_addresses (t, error);
      if (addresses == NULL)
        return FALSE;
    }
  running = ferry_object_status_code (instance) == STATUS_RUNNING;
  live = running && !t->stateless;
  if (t->is_move && running && t->stateless)
    {
      if (!change_state (t->source, t->source_name, "stop", FALSE, error))
        {
          g_prefix_error (error, "Failed to stop %s:%s before moving it: ", t->source_remote, t->source_name);
          return FALSE;
        }
      *stopped_source = TRUE;
      g_clear_pointer (&instance, json_object_unref);
      instance = ferry_instance_get (t->source, t->source_name, FALSE, NULL, error);
      if (instance == NULL)
        return FALSE;
    }

  if (t->storage != NULL)
    ferry_migration_set_root_pool (instance, t->storage);
  if (same_server)
    ok = transfer_local (t, instance, &local_error);
  else if (strcmp (t->mode, "push") == 0)
    ok = transfer_push (t, instance, live, addresses, &local_error);
  else
    ok = transfer_pull (t, instance, live, addresses, &local_error);
  if (ok)
    return TRUE;

  if (*stopped_source)
    {
      g_autoptr (GError) start_error = NULL;

      if (!change_state (t->source, t->source_name, "start", FALSE, &start_error))
        {
          g_set_error (error, local_error->domain, local_error->code,
                       "%s\n%s:%s was stopped for the move and could not be started again: %s", local_error->message,
                       t->source_remote, t->source_name, start_error->message);
          return FALSE;
        }
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static void
print_figures (Transfer *t)
{
  g_autofree char *table = ferry_migration_figures (ferry_obj_object (t->final_op, "metadata"));

  if (table == NULL && t->other_op_id != NULL)
    {
      g_autofree char *escaped = ferry_client_escape (t->other_op_id);
      g_autofree char *path = g_strdup_printf ("/1.0/operations/%s", escaped);
      g_autoptr (JsonObject) other = ferry_client_get_object (t->other_op_client, path, NULL, NULL);

      table = ferry_migration_figures (ferry_obj_object (other, "metadata"));
    }
  if (table != NULL)
    fputs (table, stdout);
}

/* Parses "[remote:]name" and checks that the remote exists, before anything
 * is sent anywhere. */
static gboolean
parse_endpoint (const char *arg, char **remote_out, char **name_out, GError **error)
{
  g_autoptr (FerryRemote) remote = NULL;

  if (!ferry_remote_parse (arg, remote_out, name_out, error))
    return FALSE;
  remote = ferry_remote_lookup (*remote_out, error);
  return remote != NULL;
}

static gboolean
parse_mode (FerryArgs *args, const char **mode_out, GError **error)
{
  const char *mode = ferry_args_get_string (args, "mode", "pull");

  if (strcmp (mode, "pull") != 0 && strcmp (mode, "push") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid transfer mode \"%s\": ferry supports %s", mode,
                   strcmp (mode, "relay") == 0 ? "pull and push (not relay)" : "pull and push");
      return FALSE;
    }
  *mode_out = mode;
  return TRUE;
}

/* The same remote on both sides: a rename (of an instance or a snapshot). */
static int
rename_in_place (FerryCli *cli, const char *remote, const char *old_name, const char *new_name, GError **error)
{
  FerryClient *client;
  g_autoptr (JsonNode) body = NULL;
  g_autofree char *path = NULL;

  if (*new_name == '\0' || strcmp (old_name, new_name) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The source and the destination are both %s:%s; give another name or another remote", remote,
                   old_name);
      return FERRY_EXIT_ERROR;
    }
  body = ferry_rename_request (old_name, new_name, &path, error);
  if (body == NULL)
    return FERRY_EXIT_ERROR;
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  return ferry_client_await (client, ferry_client_operation (client, "POST", path, body, error), error)
           ? 0
           : FERRY_EXIT_ERROR;
}

static gboolean
check_source_name (const char *name, GError **error)
{
  if (*name == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "You must specify a source instance name");
      return FALSE;
    }
  if (strchr (name, '/') != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Copying or moving a snapshot (%s) to another instance isn't supported", name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
connect_both (Transfer *t, GError **error)
{
  t->source = ferry_cli_client (t->cli, t->source_remote, error);
  if (t->source == NULL)
    return FALSE;
  t->target = ferry_cli_client (t->cli, t->target_remote, error);
  return t->target != NULL;
}

static int
cmd_move (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *source_remote = NULL, *source_name = NULL, *target_remote = NULL, *target_name = NULL;
  Transfer t = { .cli = cli, .is_move = TRUE };
  gboolean stopped_source = FALSE;
  g_autoptr (GError) delete_error = NULL;
  int status = FERRY_EXIT_ERROR;

  t.stateless = ferry_args_get_bool (args, "stateless");
  t.instance_only = ferry_args_get_bool (args, "instance-only");
  t.storage = ferry_args_get_string (args, "storage", NULL);
  if (!parse_mode (args, &t.mode, error) || !parse_endpoint (pos[0], &source_remote, &source_name, error)
      || !parse_endpoint (pos[1], &target_remote, &target_name, error))
    return FERRY_EXIT_ERROR;
  if (*source_name == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "You must specify a source instance name");
      return FERRY_EXIT_ERROR;
    }
  if (strcmp (source_remote, target_remote) == 0 && t.storage != NULL)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "Moving an instance to another pool of the same server isn't supported (copy it with -s)");
      return FERRY_EXIT_ERROR;
    }
  if (strcmp (source_remote, target_remote) == 0)
    return rename_in_place (cli, source_remote, source_name, target_name, error);
  if (!check_source_name (source_name, error))
    return FERRY_EXIT_ERROR;

  t.source_remote = source_remote;
  t.source_name = source_name;
  t.target_remote = target_remote;
  t.target_name = *target_name != '\0' ? target_name : source_name;
  if (!connect_both (&t, error) || !transfer_instance (&t, &stopped_source, error))
    goto out;

  /* A live move arrives running; a stateless one is started by the
   * client, as lxc does. */
  if (stopped_source && !change_state (t.target, t.target_name, "start", FALSE, error))
    {
      g_prefix_error (error,
                      "The instance was copied to %s:%s but could not be started there; %s:%s is kept, stopped: ",
                      t.target_remote, t.target_name, t.source_remote, t.source_name);
      goto out;
    }
  if (!ferry_instance_delete (t.source, t.source_remote, t.source_name, TRUE, &delete_error))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Failed to delete original instance after copying it: %s",
                   delete_error->message);
      goto out;
    }
  if (cli->verbose)
    print_figures (&t);
  status = 0;

out:
  transfer_clear (&t);
  return status;
}

static int
cmd_copy (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *source_remote = NULL, *source_name = NULL, *target_remote = NULL, *target_name = NULL;
  Transfer t = { .cli = cli, .is_move = FALSE };
  gboolean stopped_source = FALSE;
  gboolean name_given = ferry_args_n_positional (args) == 2;
  int status = FERRY_EXIT_ERROR;

  t.stateless = ferry_args_get_bool (args, "stateless");
  t.instance_only = ferry_args_get_bool (args, "instance-only");
  t.storage = ferry_args_get_string (args, "storage", NULL);
  if (!parse_mode (args, &t.mode, error) || !parse_endpoint (pos[0], &source_remote, &source_name, error)
      || (name_given && !parse_endpoint (pos[1], &target_remote, &target_name, error)))
    return FERRY_EXIT_ERROR;
  if (*source_name == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "You must specify a source instance name");
      return FERRY_EXIT_ERROR;
    }
  if (!name_given)
    {
      target_remote = g_strdup (source_remote);
      target_name = g_strdup ("");
    }
  /* "ferry copy c1 r2:" keeps the name; only "ferry copy c1" lets the
   * server choose one. */
  else if (*target_name == '\0')
    {
      g_free (target_name);
      target_name = g_strdup (source_name);
    }

  t.source_remote = source_remote;
  t.source_name = source_name;
  t.target_remote = target_remote;
  t.target_name = target_name;
  if (!connect_both (&t, error) || !transfer_instance (&t, &stopped_source, error))
    goto out;
  if (!name_given)
    {
      JsonObject *resources = ferry_obj_object (t.final_op, "resources");
      JsonArray *created = ferry_obj_array (resources, "instances");

      if (created == NULL)
        created = ferry_obj_array (resources, "containers");
      if (created == NULL || json_array_get_length (created) != 1)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Failed to get the new instance name");
          goto out;
        }
      printf ("Instance name is: %s\n", ferry_url_last_part (json_array_get_string_element (created, 0)));
    }
  if (cli->verbose)
    print_figures (&t);
  status = 0;

out:
  transfer_clear (&t);
  return status;
}

#define TRANSFER_MODES                                                                                           \
  "Transfer modes (--mode):\n"                                                                                   \
  " - pull: Target server pulls the data from the source server (source must listen on network)\n"             \
  " - push: Source server pushes the data to the target server (target must listen on network)\n\n"             \
  "The pull transfer mode is the default as it is compatible with all LXD versions.\n"

static const FerryOption move_options[] = {
  { "instance-only", 0, FERRY_OPT_BOOL, "Move the instance without its snapshots" },
  { "mode", 0, FERRY_OPT_STRING, "Transfer mode. One of pull or push (default \"pull\")" },
  { "stateless", 0, FERRY_OPT_BOOL, "Move a running instance by stopping it, moving it and starting it" },
  { "storage", 's', FERRY_OPT_STRING, "Storage pool name (on the target)" },
  { NULL },
};

static const char *const move_aliases[] = { "mv", NULL };

const FerryCommand ferry_cmd_move = {
  .name = "move",
  .aliases = move_aliases,
  .summary = "Move instances within or in between servers",
  .description = "Move instances within or in between servers\n\n" TRANSFER_MODES
                 "\nA running instance moves live (CRIU) unless --stateless is given; with --stateless it is\n"
                 "stopped, moved and started again on the target. With --verbose, the migration figures\n"
                 "the daemons report (freeze, dump, transfer, restore, total, downtime) are printed.",
  .usage = "[<remote>:]<instance>[/<snapshot>] [<remote>:][<instance>[/<snapshot>]]",
  .examples = "ferry move [<remote>:]<source instance> [<remote>:][<destination instance>] [--instance-only]\n"
              "    Move an instance between two hosts, renaming it if destination name differs.\n\n"
              "ferry move <old name> <new name> [--instance-only]\n"
              "    Rename a local instance.\n\n"
              "ferry move <instance>/<old snapshot name> <instance>/<new snapshot name>\n"
              "    Rename a snapshot.",
  .options = move_options,
  .run = cmd_move,
  .min_args = 2,
  .max_args = 2,
};

static const FerryOption copy_options[] = {
  { "instance-only", 0, FERRY_OPT_BOOL, "Copy the instance without its snapshots" },
  { "mode", 0, FERRY_OPT_STRING, "Transfer mode. One of pull or push (default \"pull\")" },
  { "stateless", 0, FERRY_OPT_BOOL, "Copy a stateful instance stateless" },
  { "storage", 's', FERRY_OPT_STRING, "Storage pool name (on the target)" },
  { NULL },
};

static const char *const copy_aliases[] = { "cp", NULL };

const FerryCommand ferry_cmd_copy = {
  .name = "copy",
  .aliases = copy_aliases,
  .summary = "Copy instances within or in between servers",
  .description = "Copy instances within or in between servers\n\n" TRANSFER_MODES
                 "\nThe copy is not started; the volatile keys (but volatile.base_image) are not copied.",
  .usage = "[<remote>:]<source> [[<remote>:]<destination>]",
  .options = copy_options,
  .run = cmd_copy,
  .min_args = 1,
  .max_args = 2,
};
