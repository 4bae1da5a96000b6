/* Shared by the files of an instance's lifecycle (lifecycle.c,
 * monitor-watch.c, delete-rename.c, instances-load.c) only. */
#pragma once

#include "daemon/lifecycle.h"

/* One lifecycle operation is a list of steps, each optional, done in this
 * order in a worker thread: stop, checkpoint (stateful stop), rootfs swap
 * (restore of a snapshot), discard saved state, start or restore. */
typedef struct
{
  FerryDaemon *daemon;
  char *name;
  char *new_name;
  char *action;          /* for stats and events: "start", "stop", "restore"... */
  char *snapshot;        /* the snapshot restored, if any */
  GPtrArray *stop_argv;  /* ferry-monitor arguments, built in the main thread */
  GPtrArray *checkpoint_argv;
  GPtrArray *start_argv; /* `start` or `restore` */
  gboolean start_is_restore;
  char *run_dir;
  char *state_dir;       /* containers/NAME/state */
  char *state_tmp;       /* where a stateful stop dumps before it is complete */
  char *swap_from;       /* snapshot rootfs to put in place of the instance's */
  /* How: the copy_volume of the instance's storage driver. */
  gboolean (*swap_copy) (const char *from, const char *to, GError **error);
  char *rootfs;
  char *snapshot_state;  /* the snapshot's CRIU images (stateful restore) */
  FerryDbSnapshot *restore_row; /* a restore: the snapshot whose config comes back */
  char *snapshot_idmap;  /* a stateful restore: its checkpoint's map */
  char *stats_file;
  gboolean discard_state;
  gboolean was_frozen;      /* stateful stop: frozen by its user before */
  gboolean state_saved;     /* result: a stateful stop completed */
  gboolean state_consumed;  /* result: a stateful start restored and dropped its state */
  gboolean state_kept;      /* result: a failed restore left state to retry from */
  gboolean first_start;     /* LXD reports container_progress then (its first remap) */
  gboolean restart_after;   /* stateless snapshot restore of a running instance */
  gint64 intent;            /* settled in the done callback (recovery.h) */
  gint64 id;                /* delete: the row, committed from the work */
  gboolean committed;
  GError *commit_error;
  char *paths[4];           /* delete / rename */
  char *new_paths[4];
  gboolean freeze;
  gboolean internal;
  struct FerryTemplateJob *templates; /* a start: the image templates to apply first */
} LifecycleData;

LifecycleData *ferry_lifecycle_data_new (FerryDaemon *d, FerryInstance *inst, const char *action);
void ferry_lifecycle_data_free (LifecycleData *data);
/* Creates an operation on inst, claims the instance and runs work/done. */
FerryOperation *ferry_lifecycle_operation (FerryDaemon *d, FerryInstance *inst, const char *description,
                                           const char *what, FerryOperationWork work, FerryOperationDone done,
                                           LifecycleData *data, GError **error);
/* Watches the instance's monitor: its exit marks the instance stopped. */
void ferry_instance_watch (FerryDaemon *d, FerryInstance *inst);
void ferry_instance_unwatch (FerryInstance *inst);
FerryOperation *ferry_instance_start_op (FerryDaemon *d, FerryInstance *inst, gboolean stateful, const char *action,
                                         GError **error);
FerryOperation *ferry_instance_delete_op (FerryDaemon *d, FerryInstance *inst, gboolean internal, GError **error);
/* Removes what discards left behind by a crash (names with a discard suffix). */
void ferry_lifecycle_discard_leftovers (FerryDaemon *d);
