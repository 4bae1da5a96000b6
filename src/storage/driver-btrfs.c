/* The btrfs driver: a rootfs is a subvolume, a snapshot a readonly
 * subvolume snapshot, a copy a writable one: instant, whatever the size.
 * The pool is a loop file made here (config "size") or an existing btrfs
 * (config "source"), mounted at the pool's path by ferryd. */
#include "storage/driver.h"
#include "common/btrfs.h"
#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_LOOP_SIZE "5GiB"
/* mkfs.btrfs refuses less than about 114 MiB. */
#define MIN_LOOP_SIZE (128ULL << 20)

static gboolean
run_tool (const char *const *argv, GError **error)
{
  g_autofree char *err = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                     NULL, &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s failed: %s", argv[0],
                   err && *err ? g_strstrip (err) : "no message");
      return FALSE;
    }
  return TRUE;
}

/* TRUE when PATH is a mount point of a btrfs file system. */
static gboolean
is_btrfs_mount (const char *path)
{
  g_autofree char *parent = g_path_get_dirname (path);
  struct stat st, pst;

  return stat (path, &st) == 0 && stat (parent, &pst) == 0 && st.st_dev != pst.st_dev && ferry_btrfs_is_btrfs (path);
}

static gboolean
btrfs_mount_pool (FerryStoragePool *pool, GError **error)
{
  const char *source = g_hash_table_lookup (pool->config, "source");

  if (!ferry_mkdir_p (pool->path, 0711, error))
    return FALSE;
  if (is_btrfs_mount (pool->path))
    return TRUE;
  if (source != NULL)
    {
      if (mount (source, pool->path, NULL, MS_BIND, NULL) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Binding %s on %s: %s", source, pool->path,
                       g_strerror (errno));
          return FALSE;
        }
    }
  else
    {
      const char *argv[] = { "mount", "-t", "btrfs", "-o", "loop", pool->loop_file, pool->path, NULL };
      if (!run_tool (argv, error))
        {
          g_prefix_error (error, "Mounting pool %s: ", pool->name);
          return FALSE;
        }
    }
  /* The mapped root of an unprivileged container passes through it. */
  if (chmod (pool->path, 0711) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s: %s", pool->path,
                   g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
make_loop_file (FerryStoragePool *pool, GError **error)
{
  const char *size_text = g_hash_table_lookup (pool->config, "size");
  g_autofree char *disks = g_path_get_dirname (pool->loop_file);
  guint64 size = 0;
  int fd;

  if (size_text == NULL)
    g_hash_table_insert (pool->config, g_strdup ("size"), g_strdup (size_text = DEFAULT_LOOP_SIZE));
  if (!ferry_storage_parse_size (size_text, &size) || size < MIN_LOOP_SIZE)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Invalid size \"%s\": a btrfs pool needs at least 128MiB (e.g. size=5GiB)", size_text);
      return FALSE;
    }
  if (!ferry_mkdir_p (disks, 0700, error))
    return FALSE;
  fd = open (pool->loop_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate (fd, (off_t) size) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", pool->loop_file, g_strerror (errno));
      if (fd >= 0)
        {
          close (fd);
          unlink (pool->loop_file);
        }
      return FALSE;
    }
  close (fd);
  const char *argv[] = { "mkfs.btrfs", "-q", "-L", pool->name, pool->loop_file, NULL };
  if (!run_tool (argv, error))
    {
      unlink (pool->loop_file);
      return FALSE;
    }
  return TRUE;
}

static gboolean
btrfs_create_pool (FerryStoragePool *pool, GError **error)
{
  const char *source = g_hash_table_lookup (pool->config, "source");

  if (source != NULL)
    {
      if (!g_path_is_absolute (source) || !g_file_test (source, G_FILE_TEST_IS_DIR) || !ferry_btrfs_is_btrfs (source))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Source \"%s\" is not a directory on a btrfs file system", source);
          return FALSE;
        }
      if (g_hash_table_lookup (pool->config, "size") != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "A pool has either \"source\" or \"size\", not both");
          return FALSE;
        }
    }
  else if (!make_loop_file (pool, error))
    return FALSE;
  if (!btrfs_mount_pool (pool, error))
    {
      if (pool->loop_file != NULL)
        unlink (pool->loop_file);
      rmdir (pool->path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
btrfs_delete_pool (FerryStoragePool *pool, GError **error)
{
  if (is_btrfs_mount (pool->path) && umount2 (pool->path, 0) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Unmounting %s: %s", pool->path, g_strerror (errno));
      return FALSE;
    }
  if (rmdir (pool->path) < 0 && errno != ENOENT)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing %s: %s", pool->path, g_strerror (errno));
      return FALSE;
    }
  if (pool->loop_file != NULL && unlink (pool->loop_file) < 0 && errno != ENOENT)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing %s: %s", pool->loop_file, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
btrfs_create_volume (const char *path, GError **error)
{
  if (!ferry_btrfs_subvolume_create (path, error))
    return FALSE;
  if (chmod (path, 0755) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s: %s", path, g_strerror (errno));
      ferry_rm_rf (path, NULL);
      return FALSE;
    }
  return TRUE;
}

static gboolean
btrfs_delete_volume (const char *path, GError **error)
{
  return ferry_rm_rf (path, error); /* subvolumes included, innermost first */
}

/* FROM outside this file system (or not a subvolume): a new subvolume
 * filled file by file. */
static gboolean
copy_into_subvolume (const char *from, const char *to, GError **error)
{
  struct stat st;
  int src = -1, dst = -1;
  gboolean ok = FALSE;

  if (stat (from, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Reading %s: %s", from, g_strerror (errno));
      return FALSE;
    }
  if (!btrfs_create_volume (to, error))
    return FALSE;
  src = open (from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  dst = open (to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0 || dst < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s or %s: %s", from, to, g_strerror (errno));
  else
    ok = ferry_copy_tree_at (src, dst, FERRY_COPY_DEVICES | FERRY_COPY_FIFOS | FERRY_COPY_XATTRS_BEST_EFFORT, error)
         && fchown (dst, st.st_uid, st.st_gid) == 0 && fchmod (dst, st.st_mode & 07777) == 0;
  if (src >= 0)
    close (src);
  if (dst >= 0)
    close (dst);
  if (!ok)
    {
      if (error && *error == NULL)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Copying %s: %s", from, g_strerror (errno));
      ferry_rm_rf (to, NULL);
    }
  return ok;
}

static gboolean
same_btrfs (const char *from, const char *to)
{
  g_autofree char *parent = g_path_get_dirname (to);

  return ferry_btrfs_is_subvolume (from) && ferry_btrfs_is_btrfs (parent);
}

static gboolean
btrfs_snapshot_volume (const char *from, const char *to, GError **error)
{
  if (!same_btrfs (from, to))
    return copy_into_subvolume (from, to, error);
  return ferry_btrfs_snapshot (from, to, TRUE, error);
}

static gboolean
btrfs_copy_volume (const char *from, const char *to, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (same_btrfs (from, to) && ferry_btrfs_snapshot (from, to, FALSE, &local))
    return TRUE;
  /* Another btrfs (EXDEV), or another file system: file by file. */
  return copy_into_subvolume (from, to, error);
}

static const char *const btrfs_keys[] = { "size", "source", NULL };

const FerryStorageDriver ferry_storage_driver_btrfs = {
  .name = "btrfs",
  .keys = btrfs_keys,
  .create_pool = btrfs_create_pool,
  .delete_pool = btrfs_delete_pool,
  .mount_pool = btrfs_mount_pool,
  .create_volume = btrfs_create_volume,
  .delete_volume = btrfs_delete_volume,
  .snapshot_volume = btrfs_snapshot_volume,
  .copy_volume = btrfs_copy_volume,
  .instant_snapshots = TRUE,
};
