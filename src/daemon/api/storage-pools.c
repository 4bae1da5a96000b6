/* /1.0/storage-pools: the pools (src/storage/driver.h), their space, and
 * the volumes of the instances and snapshots on them (read only). */
#include "daemon/api/api.h"
#include "daemon/instance.h"
#include "daemon/storage.h"
#include "daemon/http/http.h"
#include "common/error.h"
#include "common/json.h"

#include <string.h>

/* Pool names become a directory and a file name: LXD's rules, stricter
 * than other objects' (no leading '-' or '.'). */
static gboolean
validate_pool_name (const char *name, GError **error)
{
  gsize len = name ? strlen (name) : 0;

  if (len == 0 || len > 63 || name[0] == '-' || name[0] == '.')
    goto bad;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      goto bad;
  return TRUE;
bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid storage pool name \"%s\": 1 to 63 letters, digits, '-', '_' or '.', not starting "
               "with '-' or '.'",
               name ? name : "");
  return FALSE;
}

/* The instances on POOL, by name, and the profiles whose root disk names
 * it: what LXD calls its users. */
static void
pool_users (FerryDaemon *d, FerryStoragePool *pool, GPtrArray *instances, GPtrArray *profiles)
{
  g_autoptr (GPtrArray) rows = ferry_db_profile_list (d->db, NULL);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      FerryInstance *inst = value;
      gboolean on;
      if (inst->creating && inst->busy == NULL)
        continue;
      if (inst->creating)
        {
          /* Being created: its devices say where it goes. */
          g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
          on = ferry_storage_pool_for_devices (d, devices, NULL) == pool;
        }
      else
        on = ferry_storage_pool_of_instance (d, inst->row->name) == pool;
      if (on)
        g_ptr_array_add (instances, g_strdup (inst->row->name));
    }
  g_ptr_array_sort (instances, (GCompareFunc) g_strcmp0);
  for (guint i = 0; rows != NULL && i < rows->len; i++)
    {
      FerryDbProfile *p = g_ptr_array_index (rows, i);
      g_autoptr (JsonObject) devices = ferry_json_parse_object (p->devices_json, strlen (p->devices_json), TRUE, NULL);
      if (g_strcmp0 (ferry_storage_root_pool_name (devices), pool->name) == 0)
        g_ptr_array_add (profiles, g_strdup (p->name));
    }
}

static JsonNode *
pool_json (FerryDaemon *d, FerryStoragePool *pool)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (GHashTable) config = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) instances = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) profiles = g_ptr_array_new_with_free_func (g_free);
  JsonArray *used_by = json_array_new ();
  JsonArray *locations = json_array_new ();
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, pool->config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (config, k, v);
  /* LXD shows where the pool is in "source". */
  if (g_hash_table_lookup (config, "source") == NULL)
    g_hash_table_insert (config, (gpointer) "source", pool->loop_file ? pool->loop_file : pool->path);
  pool_users (d, pool, instances, profiles);
  for (guint i = 0; i < instances->len; i++)
    {
      const char *name = instances->pdata[i];
      FerryInstance *inst = g_hash_table_lookup (d->instances, name);
      g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", name);
      /* LXD counts each snapshot's volume as a user of the pool as well. */
      g_autoptr (GPtrArray) snaps = inst && inst->row->id ? ferry_db_snapshot_list (d->db, inst->row->id, NULL)
                                                          : NULL;

      json_array_add_string_element (used_by, url);
      for (guint j = 0; snaps != NULL && j < snaps->len; j++)
        {
          g_autofree char *snap_url = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", name,
                                                       ((FerryDbSnapshot *) g_ptr_array_index (snaps, j))->name);
          json_array_add_string_element (used_by, snap_url);
        }
    }
  for (guint i = 0; i < profiles->len; i++)
    {
      g_autofree char *url = g_strdup_printf ("/1.0/profiles/%s", (char *) profiles->pdata[i]);
      json_array_add_string_element (used_by, url);
    }
  json_array_add_string_element (locations, "none");
  json_object_set_string_member (o, "name", pool->name);
  json_object_set_string_member (o, "description", pool->description);
  json_object_set_string_member (o, "driver", pool->driver->name);
  json_object_set_member (o, "config", ferry_json_from_string_map (config));
  /* LXD's list of users is a Go slice: null while nothing uses the pool. */
  if (json_array_get_length (used_by) > 0)
    json_object_set_array_member (o, "used_by", used_by);
  else
    {
      json_array_unref (used_by);
      json_object_set_null_member (o, "used_by");
    }
  json_object_set_string_member (o, "status", "Created");
  json_object_set_array_member (o, "locations", locations);
  json_node_take_object (node, o);
  return node;
}

static gint
compare_pools (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(FerryStoragePool *const *) a)->name, (*(FerryStoragePool *const *) b)->name);
}

static const char *
pool_name (gpointer item)
{
  return ((FerryStoragePool *) item)->name;
}

static JsonNode *
pool_item_json (gpointer item, gpointer d)
{
  return pool_json (d, item);
}

void
ferry_api_storage_pools_list (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) pools = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, req->daemon->pools);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (pools, value);
  g_ptr_array_sort (pools, compare_pools);
  ferry_api_respond_collection (req, pools, "/1.0/storage-pools/", pool_name, pool_item_json, req->daemon);
}

/* The config of a request: strings only, and only DRIVER's keys. */
static GHashTable *
parse_pool_config (JsonObject *body, const FerryStorageDriver *driver, GError **error)
{
  JsonObject *config_obj = NULL;
  g_autoptr (GHashTable) config = NULL;
  GHashTableIter iter;
  gpointer k;

  if (!ferry_json_get_object (body, "config", &config_obj, error))
    return NULL;
  config = ferry_json_string_map (config_obj, "Config", error);
  if (config == NULL)
    return NULL;
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    if (!g_strv_contains (driver->keys, k))
      {
        g_autofree char *known = g_strjoinv (", ", (char **) driver->keys);
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid config key \"%s\" for a %s storage pool (%s%s)",
                     (char *) k, driver->name, *known ? "known: " : "it takes none", known);
        return NULL;
      }
  return g_steal_pointer (&config);
}

void
ferry_api_storage_pools_create (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  g_autoptr (GHashTable) config = NULL;
  g_autoptr (FerryStoragePool) pool = NULL;
  const char *name = NULL, *driver_name = NULL, *description = NULL;
  const FerryStorageDriver *driver = NULL;

  if (body == NULL || !ferry_json_get_string (body, "name", &name, &error)
      || !ferry_json_get_string (body, "driver", &driver_name, &error)
      || !ferry_json_get_string (body, "description", &description, &error) || !validate_pool_name (name, &error))
    goto fail;
  if (ferry_storage_pool_get (d, name) != NULL)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "The storage pool already exists: The record already exists");
      goto fail;
    }
  driver = ferry_storage_driver_find (driver_name);
  if (driver == NULL)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Unsupported storage pool driver \"%s\" (Ferry has \"dir\" and \"btrfs\")",
                   driver_name ? driver_name : "");
      goto fail;
    }
  if ((config = parse_pool_config (body, driver, &error)) == NULL)
    goto fail;
  pool = ferry_storage_pool_new (d->layout, name, description, driver, config);
  if (!driver->create_pool (pool, &error))
    goto fail;
  {
    g_autoptr (JsonNode) cn = ferry_json_from_string_map (pool->config);
    g_autofree char *config_json = ferry_json_to_string (cn, FALSE);
    FerryDbPool row = { .name = pool->name, .driver = (char *) driver->name, .description = pool->description,
                        .config_json = config_json };
    if (!ferry_db_pool_insert (d->db, &row, &error))
      {
        driver->delete_pool (pool, NULL);
        goto fail;
      }
  }
  g_hash_table_insert (d->pools, pool->name, pool);
  g_steal_pointer (&pool);
  {
    g_autofree char *source = g_strdup_printf ("/1.0/storage-pools/%s", name);
    ferry_events_lifecycle (d, "storage-pool-created", source, NULL);
  }
  ferry_respond_sync_location (req->msg, "storage-pools", name);
  return;
fail:
  ferry_respond_error (req->msg, error);
}

static FerryStoragePool *
lookup_pool (FerryRequest *req)
{
  FerryStoragePool *pool = ferry_storage_pool_get (req->daemon, req->parts[1]);

  if (pool == NULL)
    ferry_respond_error_literal (req->msg, 404, "Storage pool not found");
  return pool;
}

/* What a pool's ETag covers: LXD's fields (name, driver, config) and the
 * description, which a PUT changes too. */
static const char *const pool_writable[] = { "name", "driver", "description", "config", NULL };

void
ferry_api_storage_pool_get (FerryRequest *req, FerryInstance *unused)
{
  FerryStoragePool *pool = lookup_pool (req);

  if (pool != NULL)
    ferry_respond_sync_etag (req->msg, pool_json (req->daemon, pool), pool_writable);
}

/* PUT/PATCH: the description may change; the config only to what it is
 * (a PUT sends it back whole, "source" included). */
void
ferry_api_storage_pool_update (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  FerryStoragePool *pool = lookup_pool (req);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (GHashTable) config = NULL;
  const char *description = NULL;
  JsonObject *config_obj = NULL;
  g_autoptr (JsonNode) shown = NULL;

  if (pool == NULL)
    return;
  shown = pool_json (d, pool);
  if (!ferry_request_if_match (req, shown, pool_writable, &error)
      || (body = ferry_request_json (req, FALSE, &error)) == NULL
      || !ferry_json_get_string (body, "description", &description, &error)
      || !ferry_json_get_object (body, "config", &config_obj, &error)
      || (config = ferry_json_string_map (config_obj, "Config", &error)) == NULL)
    goto fail;
  {
    GHashTableIter iter;
    gpointer k, v;
    g_hash_table_iter_init (&iter, config);
    while (g_hash_table_iter_next (&iter, &k, &v))
      {
        const char *now = g_hash_table_lookup (pool->config, k);
        if (now == NULL && strcmp (k, "source") == 0)
          now = pool->loop_file ? pool->loop_file : pool->path;
        if (g_strcmp0 (now, v) != 0)
          {
            g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID,
                         "Storage pool config \"%s\" cannot be changed (%s pools have \"%s\" fixed at creation)",
                         (char *) k, pool->driver->name, (char *) k);
            goto fail;
          }
      }
  }
  if (description != NULL || strcmp (req->method, "PUT") == 0)
    {
      g_autoptr (JsonNode) cn = ferry_json_from_string_map (pool->config);
      g_autofree char *config_json = ferry_json_to_string (cn, FALSE);
      FerryDbPool row = { .name = pool->name, .driver = (char *) pool->driver->name,
                          .description = (char *) (description ? description : ""), .config_json = config_json };
      if (!ferry_db_pool_update (d->db, &row, &error))
        goto fail;
      g_free (pool->description);
      pool->description = g_strdup (row.description);
    }
  ferry_respond_sync_empty (req->msg);
  return;
fail:
  ferry_respond_error (req->msg, error);
}

void
ferry_api_storage_pool_delete (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  FerryStoragePool *pool = lookup_pool (req);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) instances = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) profiles = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *source = NULL;

  if (pool == NULL)
    return;
  if (strcmp (pool->name, "default") == 0)
    {
      ferry_respond_error_literal (req->msg, 400, "The \"default\" storage pool cannot be deleted");
      return;
    }
  pool_users (d, pool, instances, profiles);
  if (instances->len > 0 || profiles->len > 0)
    {
      ferry_respond_error_literal (req->msg, 400, "The storage pool is currently in use");
      return;
    }
  if (!pool->driver->delete_pool (pool, &error) || !ferry_db_pool_delete (d->db, pool->name, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  source = g_strdup_printf ("/1.0/storage-pools/%s", pool->name);
  g_hash_table_remove (d->pools, pool->name);
  ferry_events_lifecycle (d, "storage-pool-deleted", source, NULL);
  ferry_respond_sync_empty (req->msg);
}

void
ferry_api_storage_pool_resources (FerryRequest *req, FerryInstance *unused)
{
  FerryStoragePool *pool = lookup_pool (req);
  g_autoptr (GError) error = NULL;
  guint64 used = 0, total = 0, inodes_used = 0, inodes_total = 0;
  JsonObject *o, *space, *inodes;
  JsonNode *node;

  if (pool == NULL)
    return;
  if (!ferry_storage_pool_space (pool, &used, &total, &error)
      || !ferry_storage_pool_inodes (pool, &inodes_used, &inodes_total, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  o = json_object_new ();
  space = json_object_new ();
  json_object_set_int_member (space, "used", (gint64) used);
  json_object_set_int_member (space, "total", (gint64) total);
  json_object_set_object_member (o, "space", space);
  /* LXD 5.0's ResourcesStoragePool: "omitempty" on a struct omits nothing. */
  inodes = json_object_new ();
  json_object_set_int_member (inodes, "used", (gint64) inodes_used);
  json_object_set_int_member (inodes, "total", (gint64) inodes_total);
  json_object_set_object_member (o, "inodes", inodes);
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  ferry_respond_sync (req->msg, node);
}

/* ---- volumes: the instances' and their snapshots', as LXD lists them ---- */

static JsonNode *
volume_json (const char *name, const char *instance, const char *snapshot)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  JsonArray *used_by = json_array_new ();
  g_autofree char *url = snapshot ? g_strdup_printf ("/1.0/instances/%s/snapshots/%s", instance, snapshot)
                                  : g_strdup_printf ("/1.0/instances/%s", instance);

  json_array_add_string_element (used_by, url);
  json_object_set_string_member (o, "name", name);
  json_object_set_string_member (o, "type", "container");
  json_object_set_string_member (o, "description", "");
  json_object_set_string_member (o, "content_type", "filesystem");
  json_object_set_string_member (o, "location", "none");
  json_object_set_string_member (o, "project", "default");
  /* LXD 5.0 records no creation time for an instance's volume. */
  json_object_set_string_member (o, "created_at", "0001-01-01T00:00:00Z");
  json_object_set_object_member (o, "config", json_object_new ());
  json_object_set_array_member (o, "used_by", used_by);
  json_node_take_object (node, o);
  return node;
}

void
ferry_api_storage_volumes_list (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  FerryStoragePool *pool = lookup_pool (req);
  g_autoptr (GPtrArray) instances = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) profiles = g_ptr_array_new_with_free_func (g_free);
  JsonArray *out;
  JsonNode *node;
  gboolean recursive = ferry_request_recursion (req) > 0;

  if (pool == NULL)
    return;
  out = json_array_new ();
  pool_users (d, pool, instances, profiles);
  for (guint i = 0; i < instances->len; i++)
    {
      const char *name = instances->pdata[i];
      FerryInstance *inst = g_hash_table_lookup (d->instances, name);
      g_autoptr (GPtrArray) snaps = inst && inst->row->id ? ferry_db_snapshot_list (d->db, inst->row->id, NULL)
                                                          : NULL;
      if (recursive)
        json_array_add_element (out, volume_json (name, name, NULL));
      else
        {
          g_autofree char *url = g_strdup_printf ("/1.0/storage-pools/%s/volumes/container/%s", pool->name, name);
          json_array_add_string_element (out, url);
        }
      for (guint j = 0; snaps != NULL && j < snaps->len; j++)
        {
          FerryDbSnapshot *s = g_ptr_array_index (snaps, j);
          g_autofree char *vname = g_strdup_printf ("%s/%s", name, s->name);
          if (recursive)
            json_array_add_element (out, volume_json (vname, name, s->name));
          else
            {
              /* A snapshot volume's URL is .../container/INSTANCE/snapshots/SNAPSHOT
               * (its name, INSTANCE/SNAPSHOT, is in the object). */
              g_autofree char *url = g_strdup_printf ("/1.0/storage-pools/%s/volumes/container/%s/snapshots/%s",
                                                      pool->name, name, s->name);
              json_array_add_string_element (out, url);
            }
        }
    }
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, out);
  ferry_respond_sync (req->msg, node);
}

void
ferry_api_storage_volumes_create (FerryRequest *req, FerryInstance *unused)
{
  if (lookup_pool (req) != NULL)
    ferry_respond_error_literal (req->msg, 400,
                                 "Custom storage volumes are not supported by Ferry yet: a pool holds the "
                                 "instances' root volumes only");
}
