/* Snapshots of an instance made, deleted and renamed as LXD operations:
 * one code path for the API (api/snapshots.c) and the scheduler
 * (snapshot-schedule.c). See snapshot.h. */
#include "daemon/snapshot.h"
#include "daemon/copy.h"
#include "daemon/lifecycle.h"
#include "daemon/intent.h"
#include "daemon/storage.h"
#include "image/image.h"
#include "common/testhook.h"
#include "common/error.h"
#include "common/expiry.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/snapshot-pattern.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  FerryDaemon *daemon;
  char *instance;
  char *snapshot;
  char *new_name;
  char *rootfs;       /* the instance's */
  FerryStoragePool *pool;     /* the instance's (pools outlive ferryd's operations) */
  char *snap_dir;
  char *new_snap_dir;
  GPtrArray *checkpoint_argv; /* stateful: ferry-monitor checkpoint ... */
  char *run_dir;              /* the instance's: stateful, or running and frozen for the copy */
  gboolean was_frozen;        /* stateful: frozen by its user before */
  char *stats_file;
  char *log;
  gboolean stateful;
  gint64 expires_at;
  gint64 snapshot_id;
  gint64 intent; /* recovery.h */
  gboolean committed;  /* delete: the row is gone */
  GError *commit_error;
} SnapshotData;

static void
snapshot_data_free (SnapshotData *data)
{
  g_free (data->instance);
  g_free (data->snapshot);
  g_free (data->new_name);
  g_free (data->rootfs);
  g_free (data->snap_dir);
  g_free (data->new_snap_dir);
  g_clear_pointer (&data->checkpoint_argv, g_ptr_array_unref);
  if (data->stats_file)
    unlink (data->stats_file);
  g_free (data->stats_file);
  g_free (data->log);
  g_free (data->run_dir);
  g_clear_error (&data->commit_error);
  g_free (data);
}

static FerryDbSnapshot *
find_snapshot (GPtrArray *snaps, const char *name)
{
  for (guint i = 0; snaps && i < snaps->len; i++)
    {
      FerryDbSnapshot *s = g_ptr_array_index (snaps, i);
      if (strcmp (s->name, name) == 0)
        return s;
    }
  return NULL;
}

static gboolean
create_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SnapshotData *data = user_data;
  g_autofree char *snap_rootfs = ferry_layout_dir_rootfs (data->snap_dir);
  g_autofree char *instance_dir = g_path_get_dirname (data->rootfs);
  gboolean ok;

  /* As LXD's snapshot of the whole volume: the image metadata.yaml and
   * templates/ beside the rootfs are the snapshot's too. A running instance
   * is frozen for its copy: the snapshot is one instant of its files, as
   * LXD's of a running container on its dir driver. */
  if (data->checkpoint_argv == NULL)
    ok = ferry_copy_rootfs_frozen (data->pool, data->instance, data->run_dir, data->rootfs, snap_rootfs, TRUE,
                                   "snapshot-while-frozen", error)
         && ferry_image_copy_metadata (instance_dir, data->snap_dir, error) && ferry_syncfs (data->snap_dir, error);
  else
    {
      /* CRIU freezes the container; ferry-monitor copies the rootfs while it
       * is frozen, so the files and the memory image are the same instant. */
      ok = ferry_run_monitor (data->daemon, (const char *const *) data->checkpoint_argv->pdata, NULL, error);
      if (!ok)
        {
          ferry_instance_thaw_after_failed_dump (data->run_dir, data->instance, data->was_frozen);
          g_prefix_error (error, "Stateful snapshot of %s failed, the instance keeps running: ", data->instance);
          ferry_error_add_log (error, data->log);
        }
      else
        {
          ferry_instance_record_stats (data->daemon, data->instance, "dump", "snapshot", data->snapshot,
                                       data->stats_file);
          ok = ferry_image_copy_metadata (instance_dir, data->snap_dir, error) && ferry_syncfs (data->snap_dir, error);
        }
    }
  if (!ok)
    ferry_rm_rf (data->snap_dir, NULL);
  ferry_test_crash_point ("snapshot-after-dump");
  return ok;
}

static void
create_done (FerryOperation *op, gpointer user_data, GError **error)
{
  SnapshotData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, data->instance);
  FerryDbSnapshot row = { 0 };
  g_autofree char *source = NULL;

  if (inst == NULL || *error != NULL)
    {
      ferry_intent_settle (d, data->intent);
      return;
    }
  row.instance_id = inst->row->id;
  row.name = data->snapshot;
  row.description = (char *) "";
  row.stateful = data->stateful;
  row.created_at = ferry_time_now ();
  row.expires_at = data->expires_at;
  row.config_json = inst->row->config_json;
  row.devices_json = inst->row->devices_json;
  row.profiles_json = inst->row->profiles_json;
  row.architecture = inst->row->architecture;
  row.ephemeral = inst->row->ephemeral;
  if (!ferry_db_snapshot_insert (d->db, &row, error))
    ferry_rm_rf (data->snap_dir, NULL);
  ferry_intent_settle (d, data->intent);
  if (*error != NULL)
    return;
  source = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", data->instance, data->snapshot);
  ferry_events_lifecycle (d, "instance-snapshot-created", source, NULL);
  {
    g_autofree char *stats = NULL;
    g_autofree char *path = g_strdup_printf ("%s/%s/last_dump.json", d->layout->logs, data->instance);
    g_autoptr (JsonObject) obj = NULL;
    gsize len = 0;
    if (data->stateful && g_file_get_contents (path, &stats, &len, NULL)
        && (obj = ferry_json_parse_object (stats, len, FALSE, NULL)) != NULL)
      {
        JsonNode *node = json_node_new (JSON_NODE_OBJECT);
        json_node_set_object (node, obj);
        ferry_operation_set_metadata_node (op, "checkpoint", node);
      }
  }
}

/* `ferry-monitor checkpoint --leave-running` of a stateful snapshot: the
 * images into SNAP/state, the rootfs copied into SNAP/rootfs while the
 * container is frozen. */
static gboolean
add_checkpoint_argv (FerryDaemon *d, FerryInstance *inst, SnapshotData *data, GError **error)
{
  g_autofree char *images = ferry_layout_dir_state (data->snap_dir);
  g_autofree char *snap_rootfs = ferry_layout_dir_rootfs (data->snap_dir);
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);

  if (!ferry_mkdir_p (images, 0700, error))
    return FALSE;
  data->run_dir = g_strdup (run_dir);
  data->was_frozen = ferry_instance_frozen_now (run_dir);
  data->log = ferry_layout_criu_log (d->layout, inst->row->name, "snapshot_dump");
  data->stats_file = ferry_layout_stats_file (d->layout);
  data->checkpoint_argv = g_ptr_array_new_with_free_func (g_free);
  const char *args[] = { "checkpoint", "--run-dir", run_dir, "--images", images, "--log", data->log,
                         "--leave-running",
                         data->pool->driver->instant_snapshots ? "--rootfs-snapshot" : "--rootfs-copy", data->rootfs,
                         snap_rootfs, "--stats",
                         data->stats_file, NULL };
  for (int i = 0; args[i] != NULL; i++)
    g_ptr_array_add (data->checkpoint_argv, g_strdup (args[i]));
  g_ptr_array_add (data->checkpoint_argv, NULL);
  return TRUE;
}

/* The work of snapshot NAME, its (empty) directory made; NULL with
 * nothing left behind on failure. */
static SnapshotData *
prepare_snapshot (FerryDaemon *d, FerryInstance *inst, const char *name, gboolean stateful, gint64 expires_at,
                  GError **error)
{
  SnapshotData *data = g_new0 (SnapshotData, 1);

  data->daemon = d;
  data->instance = g_strdup (inst->row->name);
  data->snapshot = g_strdup (name);
  data->stateful = stateful;
  data->rootfs = ferry_layout_rootfs (d->layout, inst->row->name);
  data->pool = ferry_storage_pool_of_instance (d, inst->row->name);
  data->snap_dir = ferry_layout_snapshot_dir (d->layout, inst->row->name, name);
  data->expires_at = expires_at;
  ferry_rm_rf (data->snap_dir, NULL); /* a leftover of a crash, never a known snapshot */
  if (!ferry_mkdir_p (data->snap_dir, 0700, error))
    {
      snapshot_data_free (data);
      return NULL;
    }
  if (!stateful)
    data->run_dir = ferry_copy_run_dir_to_freeze (d, inst);
  if (stateful && !add_checkpoint_argv (d, inst, data, error))
    {
      ferry_rm_rf (data->snap_dir, NULL);
      snapshot_data_free (data);
      return NULL;
    }
  return data;
}

static gboolean
delete_commit (gpointer user_data)
{
  SnapshotData *data = user_data;

  data->committed = ferry_db_snapshot_delete (data->daemon->db, data->snapshot_id, &data->commit_error);
  return G_SOURCE_REMOVE;
}

/* The row goes first (the commit point): a ferryd killed while the files
 * go leaves a directory with no row, which its next start sweeps, never a
 * snapshot row whose files are half gone. */
static gboolean
delete_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SnapshotData *data = user_data;
  g_autoptr (GError) rm_error = NULL;

  ferry_operation_call_main (delete_commit, data);
  if (!data->committed)
    {
      g_propagate_error (error, g_steal_pointer (&data->commit_error));
      return FALSE;
    }
  ferry_test_crash_point ("snapshot-delete-after-commit");
  if (!ferry_rm_rf (data->snap_dir, &rm_error))
    g_warning ("Snapshot %s/%s deleted, its files left for the next start: %s", data->instance, data->snapshot,
               rm_error->message);
  return TRUE;
}

static void
delete_done (FerryOperation *op, gpointer user_data, GError **error)
{
  SnapshotData *data = user_data;
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", data->instance, data->snapshot);

  ferry_instance_release_by_name (data->daemon, data->instance);
  if (*error == NULL)
    ferry_events_lifecycle (data->daemon, "instance-snapshot-deleted", source, NULL);
}

static gboolean
rename_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SnapshotData *data = user_data;

  if (g_file_test (data->snap_dir, G_FILE_TEST_EXISTS) && rename (data->snap_dir, data->new_snap_dir) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Renaming %s: %s", data->snap_dir, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static void
rename_done (FerryOperation *op, gpointer user_data, GError **error)
{
  SnapshotData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, data->instance);
  g_autoptr (GPtrArray) snaps = NULL;
  FerryDbSnapshot *s;

  if (*error != NULL || inst == NULL)
    return;
  snaps = ferry_db_snapshot_list (d->db, inst->row->id, error);
  s = snaps ? find_snapshot (snaps, data->snapshot) : NULL;
  if (s == NULL)
    return;
  g_free (s->name);
  s->name = g_strdup (data->new_name);
  if (!ferry_db_snapshot_update (d->db, s, error))
    {
      (void) rename (data->new_snap_dir, data->snap_dir);
      return;
    }
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", data->instance, data->new_name);
  g_autofree char *old_name = g_strdup_printf ("%s/%s", data->instance, data->snapshot);
  ferry_events_lifecycle (d, "instance-snapshot-renamed", source, ferry_events_context ("old_name", old_name, NULL));
}

/* The operation of WORK and DONE on snapshot S, the instance claimed. */
static FerryOperation *
run_on_snapshot (FerryDaemon *d, FerryInstance *inst, const FerryDbSnapshot *s, const char *description,
                 FerryOperationWork work, FerryOperationDone done, const char *new_name, GError **error)
{
  /* LXD names the snapshot ("c1/snap0" under instances) when deleting it,
   * its instance otherwise. */
  g_autofree char *url = work == delete_work
                           ? g_strdup_printf ("/1.0/instances/%s/%s", inst->row->name, s->name)
                           : g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  SnapshotData *data;
  FerryOperation *op;

  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, description);
  if (!ferry_instance_claim (inst, op, "snapshot", error))
    {
      ferry_operation_unref (op);
      return NULL;
    }
  data = g_new0 (SnapshotData, 1);
  data->daemon = d;
  data->instance = g_strdup (inst->row->name);
  data->snapshot = g_strdup (s->name);
  data->snapshot_id = s->id;
  data->snap_dir = ferry_layout_snapshot_dir (d->layout, inst->row->name, s->name);
  if (new_name != NULL)
    {
      data->new_name = g_strdup (new_name);
      data->new_snap_dir = ferry_layout_snapshot_dir (d->layout, inst->row->name, new_name);
    }
  ferry_operation_add_resource (op, "instances", url);
  ferry_operation_run (op, work, done, data, (GDestroyNotify) snapshot_data_free);
  return op;
}

FerryOperation *
ferry_snapshot_create (FerryDaemon *d, FerryInstance *inst, const char *name, gboolean stateful, gint64 expires_at,
                       GError **error)
{
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (d->db, inst->row->id, error);
  g_autofree char *url = NULL;
  SnapshotData *data;
  FerryOperation *op;

  if (snaps == NULL || !ferry_name_validate_snapshot (name, error))
    return NULL;
  /* LXD finds these inside the operation, which then fails. */
  if (find_snapshot (snaps, name) != NULL)
    {
      g_autofree char *message = g_strdup_printf (
          "Failed creating instance snapshot record \"%s\": Add snapshot info to the database: "
          "This \"instances_snapshots\" entry already exists", name);
      return ferry_lifecycle_refused (d, inst->row->name, "Snapshotting instance", FALSE, message);
    }
  if (stateful && !ferry_instance_is_running (d, inst))
    return ferry_lifecycle_refused (d, inst->row->name, "Snapshotting instance", FALSE,
                                    "Unable to create a stateful snapshot. The instance isn't running");
  if (inst->busy != NULL)
    {
      ferry_instance_claim (inst, NULL, NULL, error);
      return NULL;
    }
  if (stateful && !ferry_instance_check_checkpointable (d, inst, error))
    {
      g_prefix_error (error, "Unable to create a stateful snapshot: ");
      return NULL;
    }
  if ((data = prepare_snapshot (d, inst, name, stateful, expires_at, error)) == NULL)
    return NULL;
  /* A ferryd killed while the instance is frozen for the copy thaws it at
   * its next start. */
  if ((data->intent = ferry_intent_begin (d, inst->row->name, !stateful && data->run_dir != NULL ? "snapshot-frozen"
                                                                                                 : "snapshot",
                                          name, error))
      == 0)
    {
      ferry_rm_rf (data->snap_dir, NULL);
      snapshot_data_free (data);
      return NULL;
    }
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, stateful ? "Snapshotting instance statefully"
                                                             : "Snapshotting instance");
  url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  ferry_operation_add_resource (op, "instances", url);
  ferry_instance_claim (inst, op, "snapshot", NULL);
  ferry_operation_run (op, create_work, create_done, data, (GDestroyNotify) snapshot_data_free);
  return op;
}

char *
ferry_snapshot_next_name (FerryDaemon *d, FerryInstance *inst, GDateTime *now, GError **error)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (d->db, inst->row->id, error);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const char *pattern = g_hash_table_lookup (config, "snapshots.pattern");
  g_autofree char *rendered = NULL;

  if (snaps == NULL)
    return NULL;
  if (pattern == NULL || *pattern == '\0')
    pattern = "snap%d";
  rendered = ferry_snapshot_pattern_render (pattern, now, error);
  if (rendered == NULL)
    return NULL;
  for (guint i = 0; i < snaps->len; i++)
    g_ptr_array_add (names, ((FerryDbSnapshot *) g_ptr_array_index (snaps, i))->name);
  g_ptr_array_add (names, NULL);
  return ferry_snapshot_pattern_next (rendered, (const char *const *) names->pdata);
}

gboolean
ferry_snapshot_config_expiry (FerryDaemon *d, FerryInstance *inst, GDateTime *now, gint64 *expires_at,
                              GError **error)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  g_autoptr (GDateTime) expires = NULL;

  *expires_at = 0;
  if (!ferry_expiry_apply (g_hash_table_lookup (config, "snapshots.expiry"), now, &expires, error))
    return FALSE;
  if (expires != NULL)
    *expires_at = g_date_time_to_unix (expires) * G_USEC_PER_SEC;
  return TRUE;
}

FerryOperation *
ferry_snapshot_delete (FerryDaemon *d, FerryInstance *inst, const FerryDbSnapshot *s, GError **error)
{
  return run_on_snapshot (d, inst, s, "Deleting snapshot", delete_work, delete_done, NULL, error);
}

FerryOperation *
ferry_snapshot_rename (FerryDaemon *d, FerryInstance *inst, const FerryDbSnapshot *s, const char *new_name,
                       GError **error)
{
  return run_on_snapshot (d, inst, s, "Renaming snapshot", rename_work, rename_done, new_name, error);
}
