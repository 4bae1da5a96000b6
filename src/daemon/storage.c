/* ferryd's storage pools: loading, mounting, instances' place in them. */
#include "daemon/storage.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
ferry_storage_load (FerryDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) rows = ferry_db_pool_list (d->db, error);
  g_autofree char *pools_dir = ferry_storage_pools_dir (d->layout);

  if (rows == NULL || !ferry_mkdir_p (pools_dir, 0711, error) || chmod (pools_dir, 0711) < 0)
    return FALSE;
  d->pools = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) ferry_storage_pool_free);
  for (guint i = 0; i < rows->len; i++)
    {
      FerryDbPool *row = g_ptr_array_index (rows, i);
      const FerryStorageDriver *driver = ferry_storage_driver_find (row->driver);
      g_autoptr (JsonObject) obj = ferry_json_parse_object (row->config_json, strlen (row->config_json), TRUE, NULL);
      g_autoptr (GHashTable) config = obj ? ferry_json_string_map (obj, "Config", NULL) : NULL;
      g_autoptr (GError) mount_error = NULL;
      FerryStoragePool *pool;

      if (driver == NULL)
        {
          g_warning ("Storage pool %s has an unknown driver \"%s\": ignored", row->name, row->driver);
          continue;
        }
      pool = ferry_storage_pool_new (d->layout, row->name, row->description, driver, config);
      g_hash_table_insert (d->pools, pool->name, pool);
      if (strcmp (pool->name, "default") != 0 && !driver->mount_pool (pool, &mount_error))
        g_warning ("Storage pool %s is unusable: %s", pool->name, mount_error->message);
    }
  return TRUE;
}

FerryStoragePool *
ferry_storage_pool_get (FerryDaemon *d, const char *name)
{
  return name ? g_hash_table_lookup (d->pools, name) : NULL;
}

FerryStoragePool *
ferry_storage_pool_of_instance (FerryDaemon *d, const char *name)
{
  g_autofree char *dir = ferry_layout_instance_dir (d->layout, name);
  g_autofree char *target = g_file_read_link (dir, NULL);
  g_autofree char *pools_dir = ferry_storage_pools_dir (d->layout);
  FerryStoragePool *pool = NULL;

  if (target != NULL && g_str_has_prefix (target, pools_dir) && target[strlen (pools_dir)] == '/')
    {
      const char *rest = target + strlen (pools_dir) + 1;
      const char *slash = strchr (rest, '/');
      g_autofree char *pool_name = slash ? g_strndup (rest, (gsize) (slash - rest)) : NULL;
      pool = ferry_storage_pool_get (d, pool_name);
    }
  return pool ? pool : ferry_storage_pool_get (d, "default");
}

const char *
ferry_storage_root_pool_name (JsonObject *devices)
{
  g_autoptr (GList) names = devices ? json_object_get_members (devices) : NULL;
  const char *pool_name = NULL;

  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (devices, l->data);
      JsonObject *dev = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode *pool = dev ? json_object_get_member (dev, "pool") : NULL;
      if (dev != NULL && g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "disk") == 0
          && g_strcmp0 (json_object_get_string_member_with_default (dev, "path", ""), "/") == 0 && pool != NULL
          && JSON_NODE_HOLDS_VALUE (pool) && json_node_get_value_type (pool) == G_TYPE_STRING)
        pool_name = json_node_get_string (pool);
    }
  return pool_name;
}

FerryStoragePool *
ferry_storage_pool_for_devices (FerryDaemon *d, JsonObject *expanded_devices, GError **error)
{
  const char *pool_name = ferry_storage_root_pool_name (expanded_devices);
  FerryStoragePool *pool;

  if (pool_name == NULL)
    pool_name = "default";
  pool = ferry_storage_pool_get (d, pool_name);
  if (pool == NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Storage pool \"%s\" doesn't exist", pool_name);
  return pool;
}

static gboolean
make_linked_dir (const char *link, const char *target, mode_t mode, GError **error)
{
  if (!ferry_mkdir_p (target, mode, error))
    return FALSE;
  if (chmod (target, mode) < 0 || symlink (target, link) < 0)
    {
      g_set_error (error, FERRY_ERROR, errno == EEXIST ? FERRY_ERROR_CONFLICT : FERRY_ERROR_FAILED,
                   "Linking %s to %s: %s", link, target, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* DIR/NAME, or DIR/NAME-XXXXXXXX when that is taken: by an instance renamed
 * since (its link is renamed, what it links to keeps its name). */
static char *
free_name_in (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);

  while (g_file_test (path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK))
    {
      g_free (path);
      path = g_strdup_printf ("%s/%s-%08x", dir, name, g_random_int ());
    }
  return path;
}

gboolean
ferry_storage_prepare_instance (FerryDaemon *d, FerryStoragePool *pool, const char *name, GError **error)
{
  g_autofree char *inst_link = ferry_layout_instance_dir (d->layout, name);
  g_autofree char *snaps_link = ferry_layout_snapshots_dir (d->layout, name);
  g_autofree char *containers = g_build_filename (pool->path, "containers", NULL);
  g_autofree char *snapshots = g_build_filename (pool->path, "containers-snapshots", NULL);
  g_autofree char *inst_dir = NULL, *snaps_dir = NULL;

  if (strcmp (pool->name, "default") == 0)
    return TRUE;
  /* What a crash left of an earlier instance of that name goes first. */
  ferry_storage_remove_linked (inst_link, NULL);
  ferry_storage_remove_linked (snaps_link, NULL);
  if (!ferry_mkdir_p (containers, 0711, error) || !ferry_mkdir_p (snapshots, 0700, error))
    return FALSE;
  inst_dir = free_name_in (containers, name);
  snaps_dir = free_name_in (snapshots, name);
  if (!make_linked_dir (inst_link, inst_dir, ferry_layout_instance_dir_mode (), error)
      || !make_linked_dir (snaps_link, snaps_dir, 0700, error))
    {
      ferry_storage_remove_linked (inst_link, NULL);
      ferry_storage_remove_linked (snaps_link, NULL);
      return FALSE;
    }
  /* The links are on ROOT's file system, which the create's syncfs of the
   * (pool's) rootfs does not sync. */
  return ferry_fsync_dir (d->layout->containers, error) && ferry_fsync_dir (d->layout->snapshots, error);
}

gboolean
ferry_storage_remove_linked (const char *path, GError **error)
{
  g_autofree char *target = g_file_read_link (path, NULL);

  if (target != NULL && g_path_is_absolute (target) && !ferry_rm_rf (target, error))
    return FALSE;
  return ferry_rm_rf (path, error);
}

char *
ferry_storage_devices_on_pool (const char *devices_json, const char *pool)
{
  g_autoptr (JsonObject) devices = ferry_json_parse_object (devices_json, strlen (devices_json), TRUE, NULL);
  g_autoptr (GList) names = devices ? json_object_get_members (devices) : NULL;
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  if (devices == NULL)
    return g_strdup (devices_json);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *member = json_object_get_member (devices, l->data);
      JsonObject *dev = JSON_NODE_HOLDS_OBJECT (member) ? json_node_get_object (member) : NULL;
      if (dev != NULL && g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "disk") == 0
          && g_strcmp0 (json_object_get_string_member_with_default (dev, "path", ""), "/") == 0
          && json_object_has_member (dev, "pool"))
        json_object_set_string_member (dev, "pool", pool);
    }
  json_node_set_object (node, devices);
  return ferry_json_to_string (node, FALSE);
}
