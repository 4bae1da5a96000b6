/* A stateful snapshot's copy of the rootfs (the dir driver's; btrfs takes a
 * snapshot instead) is the tree at the freeze, as the memory image is. It
 * was made whole inside the freeze: ~20 ms of a busybox container's, the
 * larger part of a distribution's freeze. Now the tree is copied before
 * CRIU starts, its state taken before the copy reads it
 * (common/tree-state.h), and once the tree is frozen only what changed
 * since is copied again (common/tree-changes.h), beside the memory dump.
 *
 * A change the tree state cannot see is a write through a shared writable
 * mapping into a page already dirty (it sets no ctime): every file a task
 * of the tree maps shared and writable is copied again in the freeze, as
 * if listed. Whatever goes wrong (an entry the state cannot read, such a
 * file with other names) makes the copy whole again in the freeze, as
 * before. */
#pragma once

#include <glib.h>

typedef struct FerryRootfsCopy FerryRootfsCopy;

/* Copies the tree at SRC to DST (which must not exist), its state taken
 * first; a thread then waits to catch up with the frozen tree.
 * TASKS_CGROUP: the cgroup directory whose tasks (in it and below) may map
 * files of the tree. */
FerryRootfsCopy *ferry_rootfs_copy_start (const char *src, const char *dst, const char *tasks_cgroup);
/* The tree is frozen: the copy may catch up with it (in its thread). */
void ferry_rootfs_copy_frozen (FerryRootfsCopy *c);
/* With the tree frozen: waits for the copy, then DST is SRC as it stands,
 * made whole again here when catching up failed. Frees C. On failure DST
 * may hold a partial copy (the caller removes it). */
gboolean ferry_rootfs_copy_finish (FerryRootfsCopy *c, GError **error);
/* The dump failed: waits for the thread and frees C (DST stays, partial). */
void ferry_rootfs_copy_cancel (FerryRootfsCopy *c);
