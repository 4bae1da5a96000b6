/* Crash consistency: intents and what ferryd settles at start (see
 * recovery.h and docs/durability.md). */
#include "config.h"

#include "daemon/lifecycle.h"
#include "daemon/copy.h"
#include "daemon/storage.h"
#include "daemon/intent.h"
#include "daemon/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "daemon/instance.h"
#include "daemon/operations.h"
#include "runtime/rundir.h"

/* A checkpoint, start or restore the dead ferryd started may still be
 * running (ferry-monitor outlives ferryd): its busy lock is released once
 * its outcome is on disk. Bounded, so that a hung monitor cannot keep
 * ferryd from starting. */
static void
wait_for_monitor (FerryDaemon *d, const char *name)
{
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, name);

  if (ferry_rundir_wait_not_busy (run_dir, 0))
    return;
  g_message ("Waiting for the checkpoint, start or restore of %s that the previous ferryd started", name);
  if (!ferry_rundir_wait_not_busy (run_dir, 600))
    g_warning ("The monitor of %s is still busy after 10 minutes: going on without it", name);
}

static void
set_power (FerryDaemon *d, FerryInstance *inst, const char *power, gboolean stateful)
{
  inst->row->stateful = stateful;
  ferry_instance_set_power (d, inst, power);
}

static void
recover_stateful_stop (FerryDaemon *d, FerryInstance *inst)
{
  const char *name = inst->row->name;
  g_autofree char *state = ferry_layout_state_dir (d->layout, name);
  g_autofree char *state_tmp = g_strconcat (state, ".tmp", NULL);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", name);
  g_autoptr (GError) error = NULL;

  if (ferry_intent_dump_complete (state_tmp, !ferry_instance_is_running (d, inst))
      && (!ferry_rm_rf (state, &error) || !ferry_rename_durable (state_tmp, state, &error)))
    g_warning ("Keeping the saved state of %s: %s", name, error->message);
  if (ferry_checkpoint_marked_complete (state))
    {
      g_message ("Completed the stateful stop of %s that the previous ferryd started: it is stopped with its "
                 "state, `start` resumes it",
                 name);
      set_power (d, inst, "STOPPED", TRUE);
      ferry_events_lifecycle (d, "instance-stopped", url, NULL);
      return;
    }
  ferry_rm_rf (state_tmp, NULL);
  if (ferry_instance_is_running (d, inst))
    {
      g_message ("The stateful stop of %s that the previous ferryd started did not complete: it runs on", name);
      set_power (d, inst, "RUNNING", inst->row->stateful);
      return;
    }
  g_warning ("The stateful stop of %s that the previous ferryd started did not complete and its processes are "
             "gone: the incomplete state is dropped and the instance is stopped",
             name);
  set_power (d, inst, "STOPPED", FALSE);
  ferry_events_lifecycle (d, "instance-stopped", url, NULL);
}

static gboolean
snapshot_recorded (FerryDaemon *d, FerryInstance *inst, const char *snap)
{
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (d->db, inst->row->id, NULL);

  for (guint i = 0; snaps != NULL && i < snaps->len; i++)
    if (g_str_equal (((FerryDbSnapshot *) g_ptr_array_index (snaps, i))->name, snap))
      return TRUE;
  return FALSE;
}

static void
recover_snapshot (FerryDaemon *d, FerryInstance *inst, const char *snap)
{
  g_autofree char *dir = NULL;

  if (snap == NULL || snapshot_recorded (d, inst, snap))
    return;
  dir = ferry_layout_snapshot_dir (d->layout, inst->row->name, snap);
  g_message ("Removing snapshot %s of %s, which the previous ferryd did not finish", snap, inst->row->name);
  ferry_rm_rf (dir, NULL);
}

/* A restore from saved state: once the processes run, the state is spent. */
static void
recover_start_from_state (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *state = ferry_layout_state_dir (d->layout, inst->row->name);

  if (!ferry_instance_is_running (d, inst))
    return; /* the state stays: `start` retries */
  g_message ("%s was restored from its state before the previous ferryd died: the state is spent",
             inst->row->name);
  ferry_rm_rf (state, NULL);
  set_power (d, inst, "RUNNING", FALSE);
}

/* The restore swapped the rootfs (its marker is there, rootfs.incoming is
 * not) but died before it committed the snapshot's config: the config is
 * committed now, so the rootfs and the config are the snapshot's both. */
static void
finish_restore_config (FerryDaemon *d, FerryInstance *inst, const char *snap)
{
  g_autofree char *marker = ferry_instance_restore_marker (d, inst->row->name);
  g_autofree char *rootfs = ferry_layout_rootfs (d->layout, inst->row->name);
  g_autofree char *incoming = g_strconcat (rootfs, ".incoming", NULL);
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_file_test (marker, G_FILE_TEST_EXISTS))
    return;
  if (!g_file_test (incoming, G_FILE_TEST_EXISTS) && (snaps = ferry_db_snapshot_list (d->db, inst->row->id, &error)))
    for (guint i = 0; i < snaps->len; i++)
      {
        FerryDbSnapshot *s = g_ptr_array_index (snaps, i);
        if (!g_str_equal (s->name, snap))
          continue;
        g_message ("The restore of %s to snapshot %s had put its rootfs in place: its config is restored too",
                   inst->row->name, snap);
        if (!ferry_instance_restore_config (d, inst, s, &error))
          {
            g_warning ("%s", error->message);
            return; /* the marker stays: the next start tries again */
          }
      }
  if (error != NULL)
    {
      g_warning ("Finishing the restore of %s: %s", inst->row->name, error->message);
      return;
    }
  unlink (marker);
}

/* A snapshot restore: the instance runs (the snapshot's processes, or the
 * old ones if it died before stopping them), or it is stopped, and not
 * started again at this start as if nothing had happened: the user asked
 * for the snapshot, and the retry gives it. */
static void
recover_restore (FerryDaemon *d, FerryInstance *inst, const char *snap)
{
  const char *name = inst->row->name;
  g_autofree char *state = ferry_layout_state_dir (d->layout, name);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", name);

  finish_restore_config (d, inst, snap);
  if (ferry_instance_is_running (d, inst))
    {
      g_message ("The restore of %s to snapshot %s that the previous ferryd started: %s runs", name, snap, name);
      set_power (d, inst, "RUNNING", FALSE);
      return;
    }
  g_warning ("The restore of %s to snapshot %s that the previous ferryd started did not complete: %s is stopped "
             "(`restore %s %s` retries)",
             name, snap, name, name, snap);
  set_power (d, inst, "STOPPED", inst->row->stateful && ferry_checkpoint_marked_complete (state));
  ferry_events_lifecycle (d, "instance-stopped", url, NULL);
}

static void
move_back (const char *from, const char *to)
{
  g_autoptr (GError) error = NULL;

  if (g_file_test (from, G_FILE_TEST_EXISTS) && !g_file_test (to, G_FILE_TEST_EXISTS)
      && !ferry_rename_durable (from, to, &error))
    g_warning ("%s", error->message);
}

/* A rename commits in the database: until then the directories go back. */
static void
recover_rename (FerryDaemon *d, const char *from, const char *to)
{
  gboolean committed = !g_hash_table_contains (d->instances, from) && g_hash_table_contains (d->instances, to);
  char *old_dirs[3], *new_dirs[3];

  if (to == NULL)
    return;
  ferry_layout_instance_dirs (d->layout, from, old_dirs);
  ferry_layout_instance_dirs (d->layout, to, new_dirs);
  g_message ("Settling the rename of %s to %s that the previous ferryd started: %s", from, to,
             committed ? "done" : "undone");
  for (int i = 0; i < 3; i++)
    {
      if (committed)
        move_back (old_dirs[i], new_dirs[i]);
      else
        move_back (new_dirs[i], old_dirs[i]);
      g_free (old_dirs[i]);
      g_free (new_dirs[i]);
    }
}

/* A delete commits in the database: until then its directories, moved
 * aside, go back; after, what is aside goes. */
static void
recover_delete (FerryDaemon *d, const char *name)
{
  gboolean committed = !g_hash_table_contains (d->instances, name);
  char *dirs[3];

  ferry_layout_instance_dirs (d->layout, name, dirs);
  g_message ("Settling the delete of %s that the previous ferryd started: %s", name, committed ? "done" : "undone");
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *aside = ferry_intent_aside_path (dirs[i]);
      if (committed)
        ferry_rm_rf (aside, NULL);
      else
        move_back (aside, dirs[i]);
      g_free (dirs[i]);
    }
}

static void
settle_intents (FerryDaemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) intents = ferry_db_intent_list (d->db, &error);

  if (intents == NULL)
    {
      g_warning ("Reading the intents: %s", error->message);
      return;
    }
  for (guint i = 0; i < intents->len; i++)
    {
      FerryDbIntent *it = g_ptr_array_index (intents, i);
      FerryInstance *inst = g_hash_table_lookup (d->instances, it->instance);
      g_autoptr (JsonObject) data = ferry_json_parse_object (it->data_json, strlen (it->data_json), TRUE, NULL);
      const char *arg = NULL;

      if (data != NULL)
        ferry_json_get_string (data, "name", &arg, NULL);
      if (g_str_equal (it->op, "rename"))
        recover_rename (d, it->instance, arg);
      else if (g_str_equal (it->op, "delete"))
        recover_delete (d, it->instance);
      else if (inst == NULL)
        ; /* gone since: nothing of it to settle */
      else if (g_str_equal (it->op, "stop-stateful"))
        recover_stateful_stop (d, inst);
      else if (g_str_equal (it->op, "snapshot"))
        recover_snapshot (d, inst, arg);
      else if (g_str_equal (it->op, "snapshot-frozen"))
        {
          recover_snapshot (d, inst, arg);
          ferry_copy_recover_frozen (d, inst, "snapshot");
        }
      else if (g_str_equal (it->op, "start-state"))
        recover_start_from_state (d, inst);
      else if (g_str_equal (it->op, "restore") && arg != NULL)
        recover_restore (d, inst, arg);
      else if (g_str_equal (it->op, "copy-frozen"))
        ferry_copy_recover_frozen (d, inst, "copy");
      else if (g_str_equal (it->op, "copy"))
        ; /* the copy's directories without a row are swept as orphans below */
      else
        g_warning ("Unknown intent \"%s\" on %s left by a previous ferryd: ignored", it->op, it->instance);
      ferry_intent_settle (d, it->id);
    }
}

/* ---- what no instance owns ---- */

static gboolean
is_incoming (FerryDaemon *d, const char *name)
{
  g_autofree char *marker = ferry_layout_incoming_marker (d->layout, name);
  return g_file_test (marker, G_FILE_TEST_EXISTS);
}

static void
remove_orphan (const char *what, const char *path)
{
  g_autoptr (GError) error = NULL;

  g_message ("Removing %s, which no instance owns (an operation that never completed)", path);
  if (!ferry_storage_remove_linked (path, &error))
    g_warning ("Removing %s %s: %s", what, path, error->message);
}

/* Directories of DIR named for no instance (nor an incoming migration). */
static void
sweep_top (FerryDaemon *d, const char *dir, const char *what)
{
  GDir *gd = g_dir_open (dir, 0, NULL);

  for (const char *e; gd != NULL && (e = g_dir_read_name (gd)) != NULL;)
    {
      g_autofree char *path = g_build_filename (dir, e, NULL);
      g_autofree char *base = g_str_has_suffix (e, FERRY_INTENT_ASIDE_SUFFIX) ? g_strndup (e, strlen (e) - strlen (FERRY_INTENT_ASIDE_SUFFIX))
                                                                  : g_strdup (e);
      if (!g_file_test (path, G_FILE_TEST_IS_DIR) || is_incoming (d, base))
        continue;
      if (!g_hash_table_contains (d->instances, e))
        remove_orphan (what, path);
    }
  if (gd != NULL)
    g_dir_close (gd);
}

/* Inside an instance's directories: the rootfs a snapshot restore moved
 * aside before its copy took its place comes back when that never
 * happened; a dump that never completed, and snapshots never recorded, go. */
static void
sweep_instance (FerryDaemon *d, FerryInstance *inst)
{
  const char *name = inst->row->name;
  g_autofree char *inst_dir = ferry_layout_instance_dir (d->layout, name);
  g_autofree char *rootfs = ferry_layout_rootfs (d->layout, name);
  g_autofree char *state = ferry_layout_state_dir (d->layout, name);
  g_autofree char *state_tmp = g_strconcat (state, ".tmp", NULL);
  g_autofree char *incoming = g_strconcat (rootfs, ".incoming", NULL);
  g_autofree char *snaps_dir = ferry_layout_snapshots_dir (d->layout, name);
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (d->db, inst->row->id, NULL);
  GDir *gd;

  if (!g_file_test (rootfs, G_FILE_TEST_IS_DIR) && (gd = g_dir_open (inst_dir, 0, NULL)) != NULL)
    {
      g_autofree char *prefix = g_strdup ("rootfs.discarded-");
      for (const char *e; (e = g_dir_read_name (gd)) != NULL;)
        if (g_str_has_prefix (e, prefix))
          {
            g_autofree char *aside = g_build_filename (inst_dir, e, NULL);
            g_message ("Putting back the root file system of %s that an unfinished snapshot restore moved aside",
                       name);
            move_back (aside, rootfs);
            break;
          }
      g_dir_close (gd);
    }
  if (g_file_test (incoming, G_FILE_TEST_EXISTS))
    remove_orphan ("the copy of", incoming);
  if (g_file_test (state_tmp, G_FILE_TEST_EXISTS))
    remove_orphan ("the incomplete dump", state_tmp);
  if (g_file_test (state, G_FILE_TEST_EXISTS) && !inst->row->stateful && !ferry_checkpoint_marked_complete (state)
      && !ferry_instance_is_running (d, inst))
    remove_orphan ("the incomplete state", state);
  gd = snaps != NULL ? g_dir_open (snaps_dir, 0, NULL) : NULL;
  for (const char *e; gd != NULL && (e = g_dir_read_name (gd)) != NULL;)
    {
      gboolean known = FALSE;
      for (guint i = 0; i < snaps->len && !known; i++)
        known = g_str_equal (((FerryDbSnapshot *) g_ptr_array_index (snaps, i))->name, e);
      if (!known)
        {
          g_autofree char *path = g_build_filename (snaps_dir, e, NULL);
          remove_orphan ("the snapshot", path);
        }
    }
  if (gd != NULL)
    g_dir_close (gd);
}

/* The image store: temporaries of an import, an upload or an unpack that
 * never finished, and image files the database never recorded (an import
 * that died between storing the file and recording it: its retry would
 * find the file and refuse). */
static gboolean
image_temporary (const char *e)
{
  return (g_str_has_prefix (e, ".import-") || g_str_has_prefix (e, "upload-") || strstr (e, ".rootfs.tmp-") != NULL
          || (g_str_has_prefix (e, ".busybox-") && !g_str_equal (e, ".busybox-build")));
}

static void
sweep_images (FerryDaemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rows = ferry_db_image_list (d->db, &error);
  g_autoptr (GHashTable) known = g_hash_table_new (g_str_hash, g_str_equal);
  GDir *gd;

  if (rows == NULL)
    {
      g_warning ("Listing images: %s (their store is not swept)", error->message);
      return;
    }
  for (guint i = 0; i < rows->len; i++)
    g_hash_table_add (known, ((FerryDbImage *) g_ptr_array_index (rows, i))->fingerprint);
  if ((gd = g_dir_open (d->layout->images, 0, NULL)) == NULL)
    return;
  for (const char *e; (e = g_dir_read_name (gd)) != NULL;)
    {
      g_autofree char *path = g_build_filename (d->layout->images, e, NULL);
      g_autofree char *fingerprint = g_strndup (e, strcspn (e, "."));
      gboolean image_file = strlen (fingerprint) == 64 && strspn (fingerprint, "0123456789abcdef") == 64;
      if (image_temporary (e) || (image_file && !g_hash_table_contains (known, fingerprint)))
        remove_orphan ("the image file", path);
    }
  g_dir_close (gd);
}

void
ferry_recovery_run (FerryDaemon *d)
{
  GHashTableIter iter;
  gpointer v;
  g_autofree char *snapshots = g_strdup (d->layout->snapshots);

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    wait_for_monitor (d, ((FerryInstance *) v)->row->name);
  settle_intents (d);
  sweep_top (d, d->layout->containers, "instance directory");
  sweep_top (d, snapshots, "snapshots of");
  sweep_top (d, d->layout->logs, "logs of");
  sweep_images (d);
  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    sweep_instance (d, v);
}
