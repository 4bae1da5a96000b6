#include "daemon/lifecycle.h"
#include "daemon/api/api.h"
#include "daemon/intent.h"
#include "daemon/storage.h"
#include "common/testhook.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
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
  const FerryStorageDriver *driver; /* of the instance's pool */
  char *snap_dir;
  char *new_snap_dir;
  GPtrArray *checkpoint_argv; /* stateful: ferry-monitor checkpoint ... */
  char *stats_file;
  char *log;
  gboolean stateful;
  gint64 expires_at;
  gint64 snapshot_id;
  gint64 intent; /* recovery.h */
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
  gboolean ok;

  if (data->checkpoint_argv == NULL)
    ok = data->driver->snapshot_volume (data->rootfs, snap_rootfs, error) && ferry_syncfs (data->snap_dir, error);
  else
    {
      /* CRIU freezes the container; ferry-monitor copies the rootfs while it
       * is frozen, so the files and the memory image are the same instant. */
      ok = ferry_run_monitor (data->daemon, (const char *const *) data->checkpoint_argv->pdata, NULL, error);
      if (!ok)
        {
          g_prefix_error (error, "Stateful snapshot of %s failed, the instance keeps running: ", data->instance);
          ferry_error_add_log (error, data->log);
        }
      else
        ferry_instance_record_stats (data->daemon, data->instance, "dump", "snapshot", data->snapshot,
                                     data->stats_file);
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

static char *
next_snapshot_name (GPtrArray *snaps)
{
  for (guint i = 0;; i++)
    {
      char *name = g_strdup_printf ("snap%u", i);
      if (find_snapshot (snaps, name) == NULL)
        return name;
      g_free (name);
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
  data->log = ferry_layout_criu_log (d->layout, inst->row->name, "snapshot_dump");
  data->stats_file = ferry_layout_stats_file (d->layout);
  data->checkpoint_argv = g_ptr_array_new_with_free_func (g_free);
  const char *args[] = { "checkpoint", "--run-dir", run_dir, "--images", images, "--log", data->log,
                         "--leave-running",
                         data->driver->instant_snapshots ? "--rootfs-snapshot" : "--rootfs-copy", data->rootfs,
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
prepare_snapshot (FerryDaemon *d, FerryInstance *inst, const char *name, gboolean stateful, const char *expires,
                  GError **error)
{
  SnapshotData *data = g_new0 (SnapshotData, 1);

  data->daemon = d;
  data->instance = g_strdup (inst->row->name);
  data->snapshot = g_strdup (name);
  data->stateful = stateful;
  data->rootfs = ferry_layout_rootfs (d->layout, inst->row->name);
  data->driver = ferry_storage_pool_of_instance (d, inst->row->name)->driver;
  data->snap_dir = ferry_layout_snapshot_dir (d->layout, inst->row->name, name);
  if (expires != NULL && *expires != '\0')
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (expires, NULL);
      if (dt == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid expires_at \"%s\"", expires);
          snapshot_data_free (data);
          return NULL;
        }
      data->expires_at = g_date_time_to_unix (dt) > 0 ? g_date_time_to_unix (dt) * G_USEC_PER_SEC : 0;
    }
  ferry_rm_rf (data->snap_dir, NULL); /* a leftover of a crash, never a known snapshot */
  if (!ferry_mkdir_p (data->snap_dir, 0700, error))
    {
      snapshot_data_free (data);
      return NULL;
    }
  if (stateful && !add_checkpoint_argv (d, inst, data, error))
    {
      ferry_rm_rf (data->snap_dir, NULL);
      snapshot_data_free (data);
      return NULL;
    }
  return data;
}

static void
create_snapshot (FerryRequest *req, FerryInstance *inst, GPtrArray *snaps)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, TRUE, &error);
  const char *name = NULL, *expires = NULL;
  gboolean stateful = FALSE;
  g_autofree char *chosen = NULL, *url = NULL, *snapshot_url = NULL;
  SnapshotData *data;
  FerryOperation *op;

  if (body == NULL || !ferry_json_get_string (body, "name", &name, &error)
      || !ferry_json_get_bool (body, "stateful", &stateful, &error)
      || !ferry_json_get_string (body, "expires_at", &expires, &error))
    goto fail;
  if (name == NULL || *name == '\0')
    name = chosen = next_snapshot_name (snaps);
  if (!ferry_name_validate_snapshot (name, &error))
    goto fail;
  if (find_snapshot (snaps, name) != NULL)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Snapshot \"%s\" of %s already exists", name,
                   inst->row->name);
      goto fail;
    }
  if (inst->busy != NULL)
    {
      ferry_instance_claim (inst, NULL, NULL, &error);
      goto fail;
    }
  if (stateful && !ferry_instance_check_checkpointable (d, inst, &error))
    {
      g_prefix_error (&error, "Unable to create a stateful snapshot: ");
      goto fail;
    }
  if ((data = prepare_snapshot (d, inst, name, stateful, expires, &error)) == NULL)
    goto fail;
  if ((data->intent = ferry_intent_begin (d, inst->row->name, "snapshot", name, &error)) == 0)
    {
      ferry_rm_rf (data->snap_dir, NULL);
      snapshot_data_free (data);
      goto fail;
    }
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, stateful ? "Snapshotting instance statefully"
                                                             : "Snapshotting instance");
  url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  snapshot_url = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", inst->row->name, name);
  ferry_operation_add_resource (op, "instances", url);
  ferry_operation_add_resource (op, "instances_snapshots", snapshot_url);
  ferry_instance_claim (inst, op, "snapshot", NULL);
  ferry_operation_run (op, create_work, create_done, data, (GDestroyNotify) snapshot_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
  return;

fail:
  ferry_respond_error (req->msg, error);
}

static gboolean
delete_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SnapshotData *data = user_data;
  return ferry_rm_rf (data->snap_dir, error);
}

static void
delete_done (FerryOperation *op, gpointer user_data, GError **error)
{
  SnapshotData *data = user_data;
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", data->instance, data->snapshot);

  ferry_instance_release_by_name (data->daemon, data->instance);
  if (*error == NULL && ferry_db_snapshot_delete (data->daemon->db, data->snapshot_id, error))
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
  ferry_events_lifecycle (d, "instance-snapshot-renamed", source, NULL);
}

static void
run_on_snapshot (FerryRequest *req, FerryInstance *inst, FerryDbSnapshot *s, const char *description,
                 FerryOperationWork work, FerryOperationDone done, const char *new_name)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  SnapshotData *data;
  FerryOperation *op;

  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, description);
  if (!ferry_instance_claim (inst, op, "snapshot", &error))
    {
      ferry_operation_unref (op);
      ferry_respond_error (req->msg, error);
      return;
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
  {
    g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
    ferry_operation_add_resource (op, "instances", url);
  }
  ferry_operation_run (op, work, done, data, (GDestroyNotify) snapshot_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
}

static const char *
snapshot_name (gpointer item)
{
  return ((FerryDbSnapshot *) item)->name;
}

static JsonNode *
snapshot_item_json (gpointer item, gpointer inst)
{
  return ferry_snapshot_to_json (inst, item);
}

void
ferry_api_snapshots_list (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (req->daemon->db, inst->row->id, &error);
  g_autofree char *prefix = NULL;

  if (snaps == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  prefix = g_strdup_printf ("/1.0/%s/%s/snapshots/", req->parts[0], inst->row->name);
  ferry_api_respond_collection (req, snaps, prefix, snapshot_name, snapshot_item_json, inst);
}

void
ferry_api_snapshots_create (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (req->daemon->db, inst->row->id, &error);

  if (snaps == NULL)
    ferry_respond_error (req->msg, error);
  else
    create_snapshot (req, inst, snaps);
}

/* The snapshot /1.0/instances/NAME/snapshots/SNAP names, from SNAPS (read
 * here); NULL once it answered why not. */
static FerryDbSnapshot *
lookup_snapshot (FerryRequest *req, FerryInstance *inst, GPtrArray **snaps)
{
  g_autoptr (GError) error = NULL;
  FerryDbSnapshot *s;

  *snaps = ferry_db_snapshot_list (req->daemon->db, inst->row->id, &error);
  if (*snaps == NULL)
    {
      ferry_respond_error (req->msg, error);
      return NULL;
    }
  s = find_snapshot (*snaps, req->parts[3]);
  if (s == NULL)
    ferry_respond_error_literal (req->msg, 404, "Snapshot not found");
  return s;
}

void
ferry_api_snapshot_get (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);

  if (s != NULL)
    ferry_respond_sync (req->msg, ferry_snapshot_to_json (inst, s));
}

void
ferry_api_snapshot_delete (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);

  if (s != NULL)
    run_on_snapshot (req, inst, s, "Deleting snapshot", delete_work, delete_done, NULL);
}

/* POST: a rename (a snapshot's migration is not supported). */
void
ferry_api_snapshot_post (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);
  const char *name = NULL;
  gboolean migration = FALSE;

  if (s == NULL)
    return;
  body = ferry_request_json (req, FALSE, &error);
  if (body == NULL || !ferry_json_get_string (body, "name", &name, &error)
      || !ferry_json_get_bool (body, "migration", &migration, &error) || !ferry_name_validate_snapshot (name, &error))
    ferry_respond_error (req->msg, error);
  else if (migration)
    ferry_respond_error_literal (req->msg, 400, "Snapshot migration isn't supported yet");
  else if (find_snapshot (snaps, name) != NULL)
    ferry_respond_error_literal (req->msg, 409, "A snapshot by that name already exists");
  else
    run_on_snapshot (req, inst, s, "Renaming snapshot", rename_work, rename_done, name);
}

/* PUT/PATCH: description and expires_at. */
void
ferry_api_snapshot_update (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);
  const char *description = NULL, *expires = NULL;

  if (s == NULL)
    return;
  body = ferry_request_json (req, FALSE, &error);
  if (body == NULL || !ferry_json_get_string (body, "description", &description, &error)
      || !ferry_json_get_string (body, "expires_at", &expires, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (expires != NULL && *expires != '\0')
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (expires, NULL);
      if (dt == NULL)
        {
          ferry_respond_error_literal (req->msg, 400, "Invalid expires_at");
          return;
        }
      s->expires_at = g_date_time_to_unix (dt) > 0 ? g_date_time_to_unix (dt) * G_USEC_PER_SEC : 0;
    }
  if (description != NULL)
    {
      g_free (s->description);
      s->description = g_strdup (description);
    }
  if (ferry_db_snapshot_update (req->daemon->db, s, &error))
    ferry_respond_sync (req->msg, NULL);
  else
    ferry_respond_error (req->msg, error);
}
