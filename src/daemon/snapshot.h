/* Snapshots of an instance made, deleted and renamed as LXD operations
 * (snapshot.c): the one code path of the API's requests and of the
 * snapshot scheduler (snapshot-schedule.c), with the intents of
 * docs/durability.md. Main thread only. */
#pragma once

#include "daemon/instance.h"

/* Starts the operation making snapshot NAME of INST (rootfs, and the
 * processes when STATEFUL), expiring at EXPIRES_AT (UNIX microseconds, 0:
 * never), with INST claimed; NULL with an error if the name is bad or
 * taken or INST is busy. The caller owns the reference returned. */
FerryOperation *ferry_snapshot_create (FerryDaemon *d, FerryInstance *inst, const char *name, gboolean stateful,
                                       gint64 expires_at, GError **error);
/* The operation deleting, or renaming, snapshot S of INST. */
FerryOperation *ferry_snapshot_delete (FerryDaemon *d, FerryInstance *inst, const FerryDbSnapshot *s,
                                       GError **error);
FerryOperation *ferry_snapshot_rename (FerryDaemon *d, FerryInstance *inst, const FerryDbSnapshot *s,
                                       const char *new_name, GError **error);

/* The name the next unnamed snapshot of INST takes: its snapshots.pattern
 * (default snap%d) rendered for NOW, with the next free index. */
char *ferry_snapshot_next_name (FerryDaemon *d, FerryInstance *inst, GDateTime *now, GError **error);
/* When a snapshot of INST taken at NOW expires by its snapshots.expiry: 0
 * when it has none. */
gboolean ferry_snapshot_config_expiry (FerryDaemon *d, FerryInstance *inst, GDateTime *now, gint64 *expires_at,
                                       GError **error);
