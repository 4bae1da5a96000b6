/* The dir driver: volumes are plain directories, snapshots and copies are
 * copies file by file (reflinks where the file system has them). */
#include "storage/driver.h"
#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
dir_create_pool (FerryStoragePool *pool, GError **error)
{
  if (mkdir (pool->path, 0711) < 0)
    {
      g_set_error (error, FERRY_ERROR, errno == EEXIST ? FERRY_ERROR_CONFLICT : FERRY_ERROR_FAILED,
                   "Creating %s: %s", pool->path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
dir_delete_pool (FerryStoragePool *pool, GError **error)
{
  if (strcmp (pool->name, "default") == 0)
    return TRUE; /* ROOT itself */
  return ferry_rm_rf (pool->path, error);
}

static gboolean
dir_mount_pool (FerryStoragePool *pool, GError **error)
{
  return ferry_mkdir_p (pool->path, 0711, error);
}

static gboolean
dir_create_volume (const char *path, GError **error)
{
  if (mkdir (path, 0755) < 0 || chmod (path, 0755) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, saved == EEXIST ? FERRY_ERROR_CONFLICT : FERRY_ERROR_FAILED,
                   "Creating rootfs %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
dir_delete_volume (const char *path, GError **error)
{
  return ferry_rm_rf (path, error);
}

static gboolean
dir_copy_volume (const char *from, const char *to, GError **error)
{
  return ferry_copy_tree (from, to, error);
}

static const char *const dir_keys[] = { NULL };

const FerryStorageDriver ferry_storage_driver_dir = {
  .name = "dir",
  .keys = dir_keys,
  .create_pool = dir_create_pool,
  .delete_pool = dir_delete_pool,
  .mount_pool = dir_mount_pool,
  .create_volume = dir_create_volume,
  .delete_volume = dir_delete_volume,
  .snapshot_volume = dir_copy_volume,
  .copy_volume = dir_copy_volume,
  .instant_snapshots = FALSE,
};
