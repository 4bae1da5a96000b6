/* A local copy of an instance, or of one of its snapshots, as a new
 * instance (`lxc copy c1 c2`, `lxc copy c1/snap0 c3`): LXD's source type
 * "copy" of POST /1.0/instances. */
#pragma once

#include "daemon/instance.h"
#include "storage/driver.h"

/* Whether a config key of the source goes into the copy, as LXD's
 * shared.InstanceIncludeWhenCopying for a local copy: no volatile key but
 * volatile.base_image and volatile.last_state.idmap (the copy gets a new
 * uuid, MAC addresses and idmap). */
gboolean ferry_copy_keeps_key (const char *key);

/* Copies SRC (or its snapshot SNAPSHOT) into DST, a new instance not yet in
 * the database (creating), with SRC's snapshots unless INSTANCE_ONLY or
 * copying a snapshot. A running SRC is frozen while its rootfs is copied,
 * so the copy is one instant of it. The rows of DST and its snapshots are
 * the commit point: until they are inserted, DST's directories are an
 * orphan the next start removes (docs/durability.md). */
FerryOperation *ferry_instance_copy (FerryDaemon *d, FerryInstance *src, const char *snapshot, FerryInstance *dst,
                                     FerryStoragePool *pool, gboolean instance_only, GError **error);

/* The one place that copies a root file system from FROM (an instance's or
 * a snapshot's) to TO (not existing yet) in POOL, the copy's: by its
 * driver's copy (or, for a snapshot of the copy, its readonly snapshot), a
 * subvolume snapshot where FROM is on the same btrfs. Ferry keeps every rootfs
 * unshifted on disk (owners as seen inside the container; the container
 * mounts it idmapped), so a copy needs no shifting whatever its map. */
gboolean ferry_copy_instance_rootfs (FerryStoragePool *pool, const char *from, const char *to, gboolean snapshot,
                                     GError **error);

/* FROM, the rootfs of instance NAME, copied into TO as one instant of it
 * (ferry_copy_instance_rootfs; SNAPSHOT as there). RUN_DIR, the instance's
 * when it runs and the copy must freeze it, else NULL: then it is frozen
 * while it is copied (as LXD freezes a running container for its dir
 * driver's copies), and the dir driver's copy is made before the freeze and
 * only what changed since in it (checkpoint/rootfs-copy.h): the freeze was
 * the whole copy, seconds of a distribution's. CRASH_POINT is the test hook
 * in the freeze. */
gboolean ferry_copy_rootfs_frozen (FerryStoragePool *pool, const char *name, const char *run_dir, const char *from,
                                   const char *to, gboolean snapshot, const char *crash_point, GError **error);

/* SRC's run directory when it runs and a copy of its rootfs must freeze it
 * (not when it is frozen already: it stays as its user left it), else NULL. */
char *ferry_copy_run_dir_to_freeze (FerryDaemon *d, FerryInstance *src);

/* Recovery of a copy or snapshot (WHAT, for the log) that froze running SRC
 * and never thawed it (ferryd killed meanwhile): thaws it. */
void ferry_copy_recover_frozen (FerryDaemon *d, FerryInstance *src, const char *what);
