/* Instances: the model (DB row + expanded config), its JSON in LXD's shape,
 * validation of user config, and lifecycle steps run as operations. */
#pragma once

#include "daemon/daemon.h"
#include "daemon/operations.h"

struct FerryInstance
{
  FerryDbInstance *row;
  FerryOperation *busy;   /* the operation changing this instance, or NULL */
  char *busy_what;        /* "start", "stop", ... for the "busy" error */
  gboolean creating;      /* not in the database yet */
  int monitor_pidfd;
  guint monitor_watch;
  int exec_sessions;      /* exec sessions attached from outside */
};

/* The name reserved by a rename in progress: not an instance to show. */
gboolean ferry_instance_is_rename_placeholder (FerryInstance *inst);
FerryInstance *ferry_instance_lookup (FerryDaemon *d, const char *name, GError **error);
void ferry_instance_free (FerryInstance *inst);

/* Loads every instance from the database and re-attaches to running ones;
 * starts those that were running when the host went down. */
gboolean ferry_instances_load (FerryDaemon *d, GError **error);

/* The instance object as LXD returns it; with_state adds "state",
 * "snapshots" and "backups" (recursion=1 of one instance). */
JsonNode *ferry_instance_to_json (FerryDaemon *d, FerryInstance *inst, gboolean with_state);
JsonNode *ferry_snapshot_to_json (FerryInstance *inst, const FerryDbSnapshot *snap);
JsonNode *ferry_instance_state_json (FerryDaemon *d, FerryInstance *inst);
gboolean ferry_instance_is_running (FerryDaemon *d, FerryInstance *inst);

/* While a list renders many instances, they share one reading of the
 * profiles (parsed once) and of every instance's snapshots (one query),
 * instead of three profile queries and a snapshot query per instance. */
void ferry_instance_render_cache_begin (FerryDaemon *d);
void ferry_instance_render_cache_end (FerryDaemon *d);

/* Expanded config and devices: profiles in order, then the instance's own. */
GHashTable *ferry_instance_expanded_config (FerryDaemon *d, FerryInstance *inst);
JsonObject *ferry_instance_expanded_devices (FerryDaemon *d, FerryInstance *inst);

/* Validation of user-supplied config keys/values and devices. */
gboolean ferry_config_validate (GHashTable *config, gboolean from_profile, GError **error);
/* lxc.signal.halt of a raw.lxc value: the signal, 0 if unset, -1 (with an
 * error) for anything else raw.lxc holds. */
int ferry_config_raw_lxc_halt_signal (const char *raw, GError **error);
gboolean ferry_devices_validate (JsonObject *devices, GError **error);
gboolean ferry_parse_size (const char *text, gint64 *bytes, GError **error);

/* Moves DIR aside (its name, a random suffix) and removes it in a thread: a
 * crash meanwhile leaves an aside the next start removes. */
void ferry_discard_in_background (const char *dir, const char *name);

/* Marks the instance busy for op; FALSE with CONFLICT if it already is. */
gboolean ferry_instance_claim (FerryInstance *inst, FerryOperation *op, const char *what, GError **error);
void ferry_instance_release (FerryInstance *inst);
/* In an operation's done callback: the instance NAME it had claimed,
 * released; NULL if it is gone. */
FerryInstance *ferry_instance_release_by_name (FerryDaemon *d, const char *name);

/* The instance's own config (not expanded), as a new string map, and its
 * replacement. */
GHashTable *ferry_instance_own_config (FerryInstance *inst);
void ferry_instance_set_own_config (FerryInstance *inst, GHashTable *config);

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

/* Saves the row of an instance. */
gboolean ferry_instance_save (FerryDaemon *d, FerryInstance *inst, GError **error);

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
