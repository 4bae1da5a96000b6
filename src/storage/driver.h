/* Storage pools and their drivers. A pool is a place where instances'
 * rootfs volumes and their snapshots live; its driver says how a volume is
 * made, snapshotted, copied and removed. Drivers plug in through one struct
 * of functions, as LXC's storage backends and crun's cgroup managers do.
 *
 *   dir    the pool "default": ROOT/containers/NAME/rootfs and
 *          ROOT/snapshots/NAME/SNAP/rootfs are plain directories, copied
 *          file by file (what Ferry always did).
 *   btrfs  a btrfs file system mounted at ROOT/storage-pools/POOL, either a
 *          loop file ROOT/disks/POOL.img (config "size") or an existing
 *          mounted btrfs (config "source"). Its instances' directories live
 *          there, POOL/containers/NAME and POOL/containers-snapshots/NAME,
 *          reached from ROOT/containers/NAME and ROOT/snapshots/NAME by
 *          symlinks (as LXD's); each rootfs is a subvolume, each snapshot's
 *          a readonly subvolume snapshot. */
#pragma once

#include "storage/layout.h"

#include <glib.h>

typedef struct FerryStoragePool FerryStoragePool;

typedef struct
{
  const char *name;
  /* Config keys the driver accepts on create (NULL-terminated). */
  const char *const *keys;
  /* Makes the pool's backing store (loop file, file system) and mounts it. */
  gboolean (*create_pool) (FerryStoragePool *pool, GError **error);
  /* Unmounts and removes what create_pool made (the pool is unused). */
  gboolean (*delete_pool) (FerryStoragePool *pool, GError **error);
  /* Makes the pool usable when ferryd starts (mounts it, unless it still
   * is: ferryd leaves its pools mounted at exit, as running containers
   * use them, and a btrfs cannot be mounted twice from two loop devices). */
  gboolean (*mount_pool) (FerryStoragePool *pool, GError **error);
  /* An empty rootfs volume at PATH (which must not exist), mode 0755. */
  gboolean (*create_volume) (const char *path, GError **error);
  /* Removes volume PATH and everything in it (nested subvolumes too). */
  gboolean (*delete_volume) (const char *path, GError **error);
  /* The readonly snapshot TO of rootfs volume FROM (TO must not exist). */
  gboolean (*snapshot_volume) (const char *from, const char *to, GError **error);
  /* A writable copy TO of FROM: a restore's new rootfs, an instance copy. */
  gboolean (*copy_volume) (const char *from, const char *to, GError **error);
  /* TRUE when a frozen container's rootfs is snapshotted, not copied. */
  gboolean instant_snapshots;
} FerryStorageDriver;

struct FerryStoragePool
{
  char *name;
  char *description;
  const FerryStorageDriver *driver;
  GHashTable *config; /* key -> value */
  /* Where the pool's volumes live: ROOT for "default" (ROOT/containers,
   * ROOT/snapshots), ROOT/storage-pools/NAME for the others. */
  char *path;
  char *loop_file; /* ROOT/disks/NAME.img of a loop pool, else NULL */
};

const FerryStorageDriver *ferry_storage_driver_find (const char *name);
extern const FerryStorageDriver ferry_storage_driver_dir;
extern const FerryStorageDriver ferry_storage_driver_btrfs;

/* A pool of DRIVER named NAME under layout L, CONFIG copied (NULL: none). */
FerryStoragePool *ferry_storage_pool_new (const FerryLayout *l, const char *name, const char *description,
                                          const FerryStorageDriver *driver, GHashTable *config);
void ferry_storage_pool_free (FerryStoragePool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryStoragePool, ferry_storage_pool_free)

/* The directories of instance NAME inside POOL (new strings):
 * POOL/containers/NAME, POOL/containers-snapshots/NAME. */
char *ferry_storage_pool_instance_dir (const FerryStoragePool *pool, const char *name);
char *ferry_storage_pool_snapshots_dir (const FerryStoragePool *pool, const char *name);

/* Space of the file system holding POOL's volumes, in bytes. */
gboolean ferry_storage_pool_space (const FerryStoragePool *pool, guint64 *used, guint64 *total, GError **error);
/* Inodes of the pool's file system, used and in all (as LXD's resources). */
gboolean ferry_storage_pool_inodes (const FerryStoragePool *pool, guint64 *used, guint64 *total, GError **error);

/* Parses LXD's sizes ("5GiB", "500MB", "1073741824"): FALSE when not one. */
gboolean ferry_storage_parse_size (const char *text, guint64 *bytes);

/* ROOT/storage-pools and ROOT/disks. */
char *ferry_storage_pools_dir (const FerryLayout *l);
char *ferry_storage_disks_dir (const FerryLayout *l);
