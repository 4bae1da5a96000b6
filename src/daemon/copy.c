/* Local copies of instances and snapshots (copy.h). */
#include "daemon/copy.h"
#include "daemon/intent.h"
#include "daemon/lifecycle.h"
#include "daemon/storage.h"
#include "storage/layout.h"
#include "checkpoint/rootfs-copy.h"
#include "image/image.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/testhook.h"
#include "common/timeutil.h"
#include "runtime/runtime.h"

#include <string.h>

typedef struct
{
  FerryDaemon *daemon;
  char *source;        /* the source instance's name */
  char *name;          /* the copy's */
  FerryStoragePool *pool; /* the copy's (pools outlive ferryd's operations) */
  char *from_rootfs;   /* the instance's or the snapshot's rootfs */
  char *run_dir;       /* the source's, when it runs and is frozen here */
  GPtrArray *snapshots; /* FerryDbSnapshot rows of the copy, instance_id unset */
  gint64 intent;
} CopyData;

static void
copy_data_free (CopyData *data)
{
  g_free (data->source);
  g_free (data->name);
  g_free (data->from_rootfs);
  g_free (data->run_dir);
  g_clear_pointer (&data->snapshots, g_ptr_array_unref);
  g_free (data);
}

gboolean
ferry_copy_keeps_key (const char *key)
{
  return !g_str_has_prefix (key, "volatile.") || strcmp (key, "volatile.base_image") == 0
         || strcmp (key, "volatile.last_state.idmap") == 0;
}

gboolean
ferry_copy_instance_rootfs (FerryStoragePool *pool, const char *from, const char *to, gboolean snapshot,
                            GError **error)
{
  const FerryStorageDriver *driver = pool->driver;

  if (!(snapshot ? driver->snapshot_volume (from, to, error) : driver->copy_volume (from, to, error)))
    {
      g_prefix_error (error, "Copying the root file system %s: ", from);
      return FALSE;
    }
  return TRUE;
}

static FerryDbSnapshot *
snapshot_row_dup (const FerryDbSnapshot *s)
{
  FerryDbSnapshot *c = g_new0 (FerryDbSnapshot, 1);

  c->name = g_strdup (s->name);
  c->description = g_strdup (s->description);
  c->stateful = s->stateful;
  c->created_at = s->created_at;
  c->expires_at = s->expires_at;
  c->config_json = g_strdup (s->config_json);
  c->devices_json = g_strdup (s->devices_json);
  c->profiles_json = g_strdup (s->profiles_json);
  c->architecture = g_strdup (s->architecture);
  c->ephemeral = s->ephemeral;
  return c;
}

gboolean
ferry_copy_rootfs_frozen (FerryStoragePool *pool, const char *name, const char *run_dir, const char *from,
                          const char *to, gboolean snapshot, const char *crash_point, GError **error)
{
  g_autoptr (GError) thaw_error = NULL;
  g_autofree char *tasks = NULL;
  FerryRootfsCopy *before = NULL;
  gboolean ok;

  if (run_dir != NULL && !pool->driver->instant_snapshots && (tasks = ferry_runtime_freezer_dir (run_dir)) != NULL)
    before = ferry_rootfs_copy_start (from, to, tasks);
  if (run_dir != NULL && !ferry_runtime_freeze (run_dir, error))
    {
      if (before != NULL)
        {
          ferry_rootfs_copy_cancel (before);
          ferry_rm_rf (to, NULL);
        }
      g_prefix_error (error, "Freezing %s to copy it: ", name);
      return FALSE;
    }
  if (before == NULL)
    ok = ferry_copy_instance_rootfs (pool, from, to, snapshot, error);
  else if (!(ok = ferry_rootfs_copy_finish (before, error)))
    {
      ferry_rm_rf (to, NULL);
      g_prefix_error (error, "Copying the root file system %s: ", from);
    }
  if (run_dir == NULL)
    return ok;
  ferry_test_crash_point (crash_point);
  if (!ferry_runtime_unfreeze (run_dir, &thaw_error))
    g_warning ("Thawing %s after copying it: %s", name, thaw_error->message);
  return ok;
}

/* A snapshot: its rootfs and, for a stateful one, its CRIU images. */
static gboolean
copy_snapshot_dir (CopyData *data, const FerryDbSnapshot *s, GError **error)
{
  const FerryLayout *l = data->daemon->layout;
  g_autofree char *from_dir = ferry_layout_snapshot_dir (l, data->source, s->name);
  g_autofree char *to_dir = ferry_layout_snapshot_dir (l, data->name, s->name);
  g_autofree char *from_rootfs = ferry_layout_dir_rootfs (from_dir);
  g_autofree char *to_rootfs = ferry_layout_dir_rootfs (to_dir);
  g_autofree char *from_state = ferry_layout_dir_state (from_dir);
  g_autofree char *to_state = ferry_layout_dir_state (to_dir);

  if (!ferry_mkdir_p (to_dir, 0700, error) || !ferry_copy_instance_rootfs (data->pool, from_rootfs, to_rootfs, TRUE, error)
      || !ferry_image_copy_metadata (from_dir, to_dir, error))
    return FALSE;
  if (s->stateful && g_file_test (from_state, G_FILE_TEST_IS_DIR) && !ferry_copy_tree (from_state, to_state, error))
    {
      g_prefix_error (error, "Copying the state of snapshot %s: ", s->name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
copy_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  CopyData *data = user_data;
  const FerryLayout *l = data->daemon->layout;
  g_autofree char *instance_dir = ferry_layout_instance_dir (l, data->name);
  g_autofree char *rootfs = ferry_layout_rootfs (l, data->name);
  g_autofree char *snaps_dir = ferry_layout_snapshots_dir (l, data->name);

  if (!ferry_storage_prepare_instance (data->daemon, data->pool, data->name, error)
      || !ferry_layout_make_instance_dir (instance_dir, error)
      || !ferry_copy_rootfs_frozen (data->pool, data->source, data->run_dir, data->from_rootfs, rootfs, FALSE,
                                    "copy-while-frozen", error))
    return FALSE;
  /* The image metadata and templates beside the rootfs go with it (a
   * snapshot taken before Ferry kept them: the instance's). */
  {
    g_autofree char *from_dir = g_path_get_dirname (data->from_rootfs);
    g_autofree char *from_md = g_build_filename (from_dir, "metadata.yaml", NULL);
    if (!g_file_test (from_md, G_FILE_TEST_IS_REGULAR))
      {
        g_free (from_dir);
        from_dir = ferry_layout_instance_dir (l, data->source);
      }
    if (!ferry_image_copy_metadata (from_dir, instance_dir, error))
      {
        g_prefix_error (error, "Copying the metadata of %s: ", data->source);
        return FALSE;
      }
  }
  if (data->snapshots->len > 0 && !ferry_mkdir_p (snaps_dir, 0700, error))
    return FALSE;
  for (guint i = 0; i < data->snapshots->len; i++)
    if (!copy_snapshot_dir (data, g_ptr_array_index (data->snapshots, i), error))
      return FALSE;
  /* On disk before the database records it (docs/durability.md). */
  if (!ferry_syncfs (instance_dir, error) || (data->snapshots->len > 0 && !ferry_syncfs (snaps_dir, error)))
    return FALSE;
  ferry_test_crash_point ("copy-after-tree");
  return TRUE;
}

/* The commit point: the copy's row and its snapshots' in one transaction. */
static gboolean
record_copy (FerryDaemon *d, FerryInstance *inst, GPtrArray *snapshots, GError **error)
{
  if (!ferry_db_begin (d->db, error))
    return FALSE;
  inst->row->created_at = ferry_time_now ();
  if (!ferry_db_instance_insert (d->db, inst->row, error))
    goto fail;
  for (guint i = 0; i < snapshots->len; i++)
    {
      FerryDbSnapshot *s = g_ptr_array_index (snapshots, i);
      s->instance_id = inst->row->id;
      if (!ferry_db_snapshot_insert (d->db, s, error))
        goto fail;
    }
  if (ferry_db_commit (d->db, error))
    return TRUE;
fail:
  ferry_db_rollback (d->db);
  return FALSE;
}

static void
copy_done (FerryOperation *op, gpointer user_data, GError **error)
{
  CopyData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->name);
  char *dirs[3];

  ferry_instance_release_by_name (d, data->source);
  if (inst != NULL && *error == NULL && record_copy (d, inst, data->snapshots, error))
    {
      inst->creating = FALSE;
      ferry_intent_settle (d, data->intent);
      ferry_events_lifecycle (d, "instance-created", source,
                              ferry_events_context ("storage-pool", ferry_storage_pool_of_instance (d, data->name)->name,
                                                    "type", "container", NULL));
      return;
    }
  /* Failed: nothing of the copy may remain. */
  ferry_layout_instance_dirs (d->layout, data->name, dirs);
  for (int i = 0; i < 3; i++)
    {
      g_autoptr (GError) cleanup_error = NULL;
      if (!ferry_storage_remove_linked (dirs[i], &cleanup_error))
        g_warning ("Cleaning up the failed copy %s: %s", data->name, cleanup_error->message);
      g_free (dirs[i]);
    }
  ferry_intent_settle (d, data->intent);
  if (inst != NULL)
    g_hash_table_remove (d->instances, data->name);
}

/* The snapshots to copy along, as new rows. */
static GPtrArray *
snapshots_to_copy (FerryDaemon *d, FerryInstance *src, gboolean with_snapshots, GError **error)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_db_snapshot_free);
  g_autoptr (GPtrArray) snaps = NULL;

  if (!with_snapshots)
    return rows;
  snaps = ferry_db_snapshot_list (d->db, src->row->id, error);
  if (snaps == NULL)
    {
      g_ptr_array_unref (rows);
      return NULL;
    }
  for (guint i = 0; i < snaps->len; i++)
    g_ptr_array_add (rows, snapshot_row_dup (g_ptr_array_index (snaps, i)));
  return rows;
}

char *
ferry_copy_run_dir_to_freeze (FerryDaemon *d, FerryInstance *src)
{
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, src->row->name);
  FerryRuntimeState st = { 0 };

  if (!ferry_runtime_read_state (run_dir, &st, NULL) || !st.running || st.frozen)
    return NULL;
  return g_steal_pointer (&run_dir);
}

FerryOperation *
ferry_instance_copy (FerryDaemon *d, FerryInstance *src, const char *snapshot, FerryInstance *dst,
                     FerryStoragePool *pool, gboolean instance_only, GError **error)
{
  g_autofree char *src_url = g_strdup_printf ("/1.0/instances/%s", src->row->name);
  g_autofree char *dst_url = g_strdup_printf ("/1.0/instances/%s", dst->row->name);
  CopyData *data = g_new0 (CopyData, 1);
  FerryOperation *op;

  data->daemon = d;
  data->source = g_strdup (src->row->name);
  data->name = g_strdup (dst->row->name);
  data->pool = pool;
  data->snapshots = snapshots_to_copy (d, src, snapshot == NULL && !instance_only, error);
  if (data->snapshots == NULL)
    {
      copy_data_free (data);
      return NULL;
    }
  if (snapshot != NULL)
    {
      g_autofree char *snap_dir = ferry_layout_snapshot_dir (d->layout, src->row->name, snapshot);
      data->from_rootfs = ferry_layout_dir_rootfs (snap_dir);
    }
  else
    {
      data->from_rootfs = ferry_layout_rootfs (d->layout, src->row->name);
      data->run_dir = ferry_copy_run_dir_to_freeze (d, src);
    }
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Creating instance");
  if (!ferry_instance_claim (src, op, "copy", error))
    {
      ferry_operation_unref (op);
      copy_data_free (data);
      return NULL;
    }
  /* A ferryd killed while SRC is frozen must thaw it at its next start. */
  data->intent = ferry_intent_begin (d, src->row->name, data->run_dir != NULL ? "copy-frozen" : "copy", data->name,
                                     error);
  if (data->intent == 0)
    {
      ferry_instance_release (src);
      ferry_operation_unref (op);
      copy_data_free (data);
      return NULL;
    }
  ferry_instance_claim (dst, op, "create", NULL);
  ferry_operation_add_resource (op, "instances", dst_url);
  ferry_operation_add_resource (op, "instances", src_url);
  ferry_operation_run (op, copy_work, copy_done, data, (GDestroyNotify) copy_data_free);
  return op;
}

void
ferry_copy_recover_frozen (FerryDaemon *d, FerryInstance *src, const char *what)
{
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, src->row->name);
  g_autoptr (GError) error = NULL;
  FerryRuntimeState st = { 0 };

  if (!ferry_runtime_read_state (run_dir, &st, NULL) || !st.running || !st.frozen)
    return;
  g_message ("Thawing %s, frozen by a %s that the previous ferryd started", src->row->name, what);
  if (!ferry_runtime_unfreeze (run_dir, &error))
    g_warning ("Thawing %s: %s", src->row->name, error->message);
}
