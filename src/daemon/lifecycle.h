/* The lifecycle of an instance, run as operations through ferry-monitor:
 * start, stop (stateful too), restart, restore, freeze (lifecycle.c);
 * delete and rename (delete-rename.c); running and watching ferry-monitor
 * (monitor-watch.c); loading at start (instances-load.c). */
#pragma once

#include "daemon/instance.h"

/* Lifecycle operations (return an operation already running).
 * start: with saved state (a stateful stop, or a failed stateful restore)
 * and stateful TRUE, the processes are restored; stateful FALSE discards the
 * state and boots cold. stop with stateful dumps the processes with CRIU. */
FerryOperation *ferry_instance_start (FerryDaemon *d, FerryInstance *inst, gboolean stateful, GError **error);
FerryOperation *ferry_instance_stop (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force,
                                     gboolean stateful, GError **error);
/* Restores snapshot snap (its rootfs, and its processes when stateful). */
FerryOperation *ferry_instance_restore (FerryDaemon *d, FerryInstance *inst, const char *snap, GError **error);
FerryOperation *ferry_instance_restart (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force,
                                        GError **error);
FerryOperation *ferry_instance_freeze (FerryDaemon *d, FerryInstance *inst, gboolean freeze, GError **error);
FerryOperation *ferry_instance_delete (FerryDaemon *d, FerryInstance *inst, GError **error);
FerryOperation *ferry_instance_rename (FerryDaemon *d, FerryInstance *inst, const char *new_name, GError **error);

/* An action LXD refuses inside its operation (start a running instance...):
 * an operation on INSTANCE that fails with MESSAGE once its 202 is written.
 * STATE_CHANGE: a PUT .../state, whose operation names no "containers". */
FerryOperation *ferry_lifecycle_refused (FerryDaemon *d, const char *instance, const char *description,
                                         gboolean state_change, const char *message);
/* Refuses a checkpoint while an exec session is attached (CRIU can't dump it). */
gboolean ferry_instance_check_checkpointable (FerryDaemon *d, FerryInstance *inst, GError **error);
/* Stores CRIU statistics (JSON file from ferry-monitor --stats) as the
 * instance's last dump or restore (kind "dump" or "restore"). */
void ferry_instance_record_stats (FerryDaemon *d, const char *name, const char *kind, const char *action,
                                  const char *snapshot, const char *stats_file);

/* For migrations: the arguments of `ferry-monitor start` (or `restore` from
 * IMAGES), and the bookkeeping of an instance found running or stopped. */
GPtrArray *ferry_instance_start_argv (FerryDaemon *d, FerryInstance *inst, const char *images, const char *log,
                                      const char *stats, GError **error);
/* volatile.last_state.power (RUNNING, STOPPED) recorded, with the row. */
void ferry_instance_set_power (FerryDaemon *d, FerryInstance *inst, const char *power);
void ferry_instance_mark_running (FerryDaemon *d, FerryInstance *inst);
void ferry_instance_mark_stopped (FerryDaemon *d, FerryInstance *inst);

/* Runs `ferry-monitor ARGS...`; on failure the error carries its stderr. */
gboolean ferry_run_monitor (FerryDaemon *d, const char *const *argv, char **stdout_text, GError **error);
/* The same in two steps: started (FD3, unless -1, taken as its fd 3), then
 * waited for (its stdout in *STDOUT_TEXT). */
GSubprocess *ferry_spawn_monitor (FerryDaemon *d, const char *const *argv, int fd3, GError **error);
gboolean ferry_monitor_finish (FerryDaemon *d, GSubprocess *proc, char **stdout_text, GError **error);

/* Moves DIR aside (its name, a random suffix) and removes it in a thread: a
 * crash meanwhile leaves an aside the next start removes. */
void ferry_discard_in_background (const char *dir, const char *name);

/* TRUE when the container of RUN_DIR is frozen now (paused by its user,
 * say): a failed dump must leave it so, and only so. */
gboolean ferry_instance_frozen_now (const char *run_dir);

/* After a failed dump of the container of RUN_DIR (NAME): once CRIU has
 * ended, thaws it unless it was frozen before the dump (WAS_FROZEN). The
 * ferry-monitor that froze it for the dump may have died before thawing
 * it (killed mid-dump): without this the container stays frozen. */
void ferry_instance_thaw_after_failed_dump (const char *run_dir, const char *name, gboolean was_frozen);

/* Loads every instance from the database and re-attaches to running ones;
 * starts those that were running when the host went down. */
gboolean ferry_instances_load (FerryDaemon *d, GError **error);

/* A restore of snapshot S (LXD's Restore): the snapshot's config, devices,
 * profiles, description, architecture and ephemeral flag become INST's, in
 * one database write (the commit point of the restore's config); INST's
 * volatile keys stay. */
gboolean ferry_instance_restore_config (FerryDaemon *d, FerryInstance *inst, const FerryDbSnapshot *s,
                                        GError **error);
/* The file that says a restore's rootfs swap may have happened before its
 * config was committed (recovery.c finishes it). */
char *ferry_instance_restore_marker (FerryDaemon *d, const char *instance);
