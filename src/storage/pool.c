/* Pools: what every driver shares (paths, sizes, space). */
#include "storage/driver.h"
#include "common/error.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

const FerryStorageDriver *
ferry_storage_driver_find (const char *name)
{
  if (g_strcmp0 (name, "dir") == 0)
    return &ferry_storage_driver_dir;
  if (g_strcmp0 (name, "btrfs") == 0)
    return &ferry_storage_driver_btrfs;
  return NULL;
}

char *
ferry_storage_pools_dir (const FerryLayout *l)
{
  return g_build_filename (l->root, "storage-pools", NULL);
}

char *
ferry_storage_disks_dir (const FerryLayout *l)
{
  return g_build_filename (l->root, "disks", NULL);
}

FerryStoragePool *
ferry_storage_pool_new (const FerryLayout *l, const char *name, const char *description,
                        const FerryStorageDriver *driver, GHashTable *config)
{
  FerryStoragePool *pool = g_new0 (FerryStoragePool, 1);
  GHashTableIter iter;
  gpointer k, v;

  pool->name = g_strdup (name);
  pool->description = g_strdup (description ? description : "");
  pool->driver = driver;
  pool->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (config != NULL)
    {
      g_hash_table_iter_init (&iter, config);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_insert (pool->config, g_strdup (k), g_strdup (v));
    }
  if (strcmp (name, "default") == 0 && driver == &ferry_storage_driver_dir)
    pool->path = g_strdup (l->root);
  else
    pool->path = g_build_filename (l->root, "storage-pools", name, NULL);
  if (driver == &ferry_storage_driver_btrfs && g_hash_table_lookup (pool->config, "source") == NULL)
    pool->loop_file = g_strdup_printf ("%s/disks/%s.img", l->root, name);
  return pool;
}

void
ferry_storage_pool_free (FerryStoragePool *pool)
{
  if (pool == NULL)
    return;
  g_free (pool->name);
  g_free (pool->description);
  g_hash_table_unref (pool->config);
  g_free (pool->path);
  g_free (pool->loop_file);
  g_free (pool);
}

char *
ferry_storage_pool_instance_dir (const FerryStoragePool *pool, const char *name)
{
  return g_build_filename (pool->path, "containers", name, NULL);
}

char *
ferry_storage_pool_snapshots_dir (const FerryStoragePool *pool, const char *name)
{
  if (strcmp (pool->name, "default") == 0 && pool->driver == &ferry_storage_driver_dir)
    return g_build_filename (pool->path, "snapshots", name, NULL);
  return g_build_filename (pool->path, "containers-snapshots", name, NULL);
}

gboolean
ferry_storage_pool_space (const FerryStoragePool *pool, guint64 *used, guint64 *total, GError **error)
{
  struct statvfs st;

  if (statvfs (pool->path, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading the space of pool %s (%s): %s", pool->name,
                   pool->path, g_strerror (errno));
      return FALSE;
    }
  *total = (guint64) st.f_blocks * st.f_frsize;
  *used = (guint64) (st.f_blocks - st.f_bfree) * st.f_frsize;
  return TRUE;
}

gboolean
ferry_storage_pool_inodes (const FerryStoragePool *pool, guint64 *used, guint64 *total, GError **error)
{
  struct statvfs st;

  if (statvfs (pool->path, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading the inodes of pool %s (%s): %s", pool->name,
                   pool->path, g_strerror (errno));
      return FALSE;
    }
  *total = (guint64) st.f_files;
  *used = (guint64) (st.f_files - st.f_ffree);
  return TRUE;
}

gboolean
ferry_storage_parse_size (const char *text, guint64 *bytes)
{
  static const struct
  {
    const char *suffix;
    guint64 factor;
  } units[] = {
    { "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 }, { "GiB", 1ULL << 30 }, { "TiB", 1ULL << 40 },
    { "kB", 1000ULL },     { "KB", 1000ULL },     { "MB", 1000000ULL },  { "GB", 1000000000ULL },
    { "TB", 1000000000000ULL }, { "B", 1 },       { "", 1 },
  };
  char *end = NULL;
  guint64 n;

  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  errno = 0;
  n = g_ascii_strtoull (text, &end, 10);
  if (errno != 0)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (strcmp (end, units[i].suffix) == 0)
      {
        if (n > G_MAXUINT64 / units[i].factor)
          return FALSE;
        *bytes = n * units[i].factor;
        return TRUE;
      }
  return FALSE;
}
