/* btrfs subvolumes through their ioctls: what the btrfs storage driver and
 * ferry-monitor's frozen snapshot of a stateful snapshot need, and what
 * ferry_rm_rf needs to remove a tree that holds subvolumes. */
#pragma once

#include <glib.h>

/* TRUE when PATH is on a btrfs file system. */
gboolean ferry_btrfs_is_btrfs (const char *path);
/* TRUE when PATH is the root of a btrfs subvolume. */
gboolean ferry_btrfs_is_subvolume (const char *path);
/* TRUE when PATH is the root of a readonly subvolume (what btrfs send takes). */
gboolean ferry_btrfs_is_readonly_subvolume (const char *path);
/* Creates the subvolume PATH (its parent must exist, PATH must not). */
gboolean ferry_btrfs_subvolume_create (const char *path, GError **error);
/* Snapshots subvolume FROM as DST (which must not exist), readonly or not. */
gboolean ferry_btrfs_snapshot (const char *from, const char *dst, gboolean readonly, GError **error);
/* Destroys every subvolume under PATH (PATH included if it is one), the
 * innermost first: what a container made inside its rootfs (systemd makes
 * some) must not stop a delete. Crosses no mount point. */
gboolean ferry_btrfs_destroy_subvolumes (const char *path, GError **error);
