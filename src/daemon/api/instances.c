/* /1.0/instances (and /1.0/containers): list, create, get, update, delete,
 * rename, state changes, logs. Exec lives in exec.c. */
#include "daemon/lifecycle.h"
#include "daemon/copy.h"
#include "daemon/disk-devices.h"
#include "daemon/validate.h"
#include "daemon/api/api.h"
#include "migrate/migration.h"
#include "daemon/http/http.h"
#include "daemon/images.h"
#include "daemon/network-manager.h"
#include "daemon/http/route.h"
#include "daemon/idmaps.h"
#include "daemon/instance.h"
#include "daemon/storage.h"
#include "storage/layout.h"
#include "common/error.h"
#include "common/testhook.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "image/image.h"
#include "network/network.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>

static const char *const adjectives[] = { "amber", "brave", "calm", "deft", "eager", "fair", "glad", "keen",
                                          "lucid", "merry", "noble", "proud", "quick", "sunny", "tidy", "witty" };
static const char *const nouns[] = { "otter", "heron", "lynx", "finch", "marten", "badger", "wren", "ibex",
                                     "gecko", "koala", "raven", "bison", "crane", "dingo", "egret", "falcon" };

static char *
pick_free_name (FerryDaemon *d)
{
  for (int tries = 0; tries < 1000; tries++)
    {
      char *name = g_strdup_printf ("%s-%s", adjectives[g_random_int_range (0, G_N_ELEMENTS (adjectives))],
                                    nouns[g_random_int_range (0, G_N_ELEMENTS (nouns))]);
      if (!g_hash_table_contains (d->instances, name))
        return name;
      g_free (name);
    }
  return g_strdup_printf ("c%u", g_random_int ());
}

/* What a full list reads ahead for one instance, in a worker thread. */
typedef struct
{
  char *run_dir;               /* NULL while being created: nothing runs */
  FerryRuntimeState *state;    /* owned by d->state_prefetch */
  GPtrArray *interfaces;       /* of a running one */
  gboolean done;               /* under ListPrefetch.lock */
} ListPrefetchItem;

typedef struct
{
  ListPrefetchItem *items; /* in the order the list renders them */
  guint n_items;
  gint next;
  GMutex lock;
  GCond item_done;
  GThread *workers[4];
  guint n_workers;
} ListPrefetch;

static gpointer
list_prefetch_worker (gpointer user_data)
{
  ListPrefetch *job = user_data;
  gint i;

  while ((i = g_atomic_int_add (&job->next, 1)) < (gint) job->n_items)
    {
      ListPrefetchItem *item = &job->items[i];

      if (item->run_dir != NULL)
        ferry_runtime_read_state (item->run_dir, item->state, NULL);
      if (item->state->running)
        item->interfaces = ferry_netns_interfaces (item->state->init_pid, NULL);
      g_mutex_lock (&job->lock);
      item->done = TRUE;
      g_cond_broadcast (&job->item_done);
      g_mutex_unlock (&job->lock);
    }
  return NULL;
}

/* The instances of a list share one reading of the profiles and snapshots.
 * A full list also reads every instance's runtime state (pid files, cgroup
 * files: ~0.2 ms) and the network namespace of the running ones (~0.7 ms)
 * once, in worker threads, while the main thread renders the instances
 * already read (list_prefetch_wait); rendering uses what was read (see
 * read_state in instance.c and ferry_network_fill_state). Returns NULL
 * without state. */
static ListPrefetch *
prefetch_for_list (FerryDaemon *d, GList *names, gboolean with_state)
{
  ListPrefetch *job;
  guint i = 0;

  ferry_instance_render_cache_begin (d);
  if (!with_state)
    return NULL;
  job = g_new0 (ListPrefetch, 1);
  g_mutex_init (&job->lock);
  g_cond_init (&job->item_done);
  job->n_items = g_list_length (names);
  job->items = g_new0 (ListPrefetchItem, job->n_items);
  d->state_prefetch = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  for (GList *l = names; l != NULL; l = l->next, i++)
    {
      FerryInstance *inst = g_hash_table_lookup (d->instances, l->data);

      job->items[i].state = g_new0 (FerryRuntimeState, 1);
      if (!inst->creating)
        job->items[i].run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
      g_hash_table_insert (d->state_prefetch, inst->row->name, job->items[i].state);
    }
  job->n_workers = MIN (MIN (G_N_ELEMENTS (job->workers), MAX (1, g_get_num_processors ())), job->n_items);
  for (guint w = 0; w < job->n_workers; w++)
    job->workers[w] = g_thread_new ("ferry-list-prefetch", list_prefetch_worker, job);
  return job;
}

/* Waits until the workers have read item I (the I-th name of the list) and
 * hands its interfaces to ferry_network_fill_state. */
static void
list_prefetch_wait (FerryDaemon *d, ListPrefetch *job, guint i)
{
  ListPrefetchItem *item;

  if (job == NULL)
    return;
  item = &job->items[i];
  g_mutex_lock (&job->lock);
  while (!item->done)
    g_cond_wait (&job->item_done, &job->lock);
  g_mutex_unlock (&job->lock);
  if (item->interfaces != NULL)
    ferry_network_prefetch_add (d, item->state->init_pid, g_steal_pointer (&item->interfaces));
}

static void
prefetch_done (FerryDaemon *d, ListPrefetch *job)
{
  if (job != NULL)
    {
      for (guint w = 0; w < job->n_workers; w++)
        g_thread_join (job->workers[w]);
      for (guint i = 0; i < job->n_items; i++)
        {
          g_free (job->items[i].run_dir);
          g_clear_pointer (&job->items[i].interfaces, g_ptr_array_unref);
        }
      g_free (job->items);
      g_mutex_clear (&job->lock);
      g_cond_clear (&job->item_done);
      g_free (job);
    }
  ferry_network_prefetch_clear (d);
  g_clear_pointer (&d->state_prefetch, g_hash_table_unref);
  ferry_instance_render_cache_end (d);
}

static void
list_instances (FerryRequest *req, const char *collection)
{
  FerryDaemon *d = req->daemon;
  int recursion = ferry_request_recursion (req);
  const char *filter = ferry_request_query (req, "filter");
  g_autoptr (GList) names = g_list_sort (g_hash_table_get_keys (d->instances), (GCompareFunc) strcmp);
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  g_autoptr (GError) error = NULL;
  ListPrefetch *prefetch = NULL;
  guint i = 0;

  json_node_take_array (node, arr);
  if (recursion > 0 || (filter != NULL && *filter != '\0'))
    prefetch = prefetch_for_list (d, names, recursion >= 2);
  for (GList *l = names; l != NULL; l = l->next, i++)
    {
      FerryInstance *inst = g_hash_table_lookup (d->instances, l->data);
      g_autoptr (JsonNode) obj = NULL;

      if (ferry_instance_is_rename_placeholder (inst))
        continue;
      /* A plain list of URLs needs the object only to apply a filter. */
      if (recursion > 0 || (filter != NULL && *filter != '\0'))
        {
          list_prefetch_wait (d, prefetch, i);
          obj = ferry_instance_to_json (d, inst, recursion >= 2);
          if (!ferry_route_filter_matches (json_node_get_object (obj), filter, &error))
            {
              if (error != NULL)
                {
                  json_node_unref (node);
                  prefetch_done (d, prefetch);
                  ferry_respond_error (req->msg, error);
                  return;
                }
              continue;
            }
        }
      if (recursion == 0)
        {
          g_autofree char *escaped = g_uri_escape_string (l->data, NULL, FALSE);
          g_autofree char *url = g_strdup_printf ("/1.0/%s/%s", collection, escaped);
          json_array_add_string_element (arr, url);
        }
      else
        json_array_add_element (arr, g_steal_pointer (&obj));
    }
  prefetch_done (d, prefetch);
  ferry_respond_sync (req->msg, node);
}

/* ---- create ---- */

typedef struct
{
  FerryDaemon *daemon;
  char *name;
  char *fingerprint; /* NULL for source type "none" */
  char *instance_dir;
  char *rootfs;
  FerryStoragePool *pool; /* kept: a pool that an instance names is never deleted */
} CreateData;

static void
create_data_free (CreateData *data)
{
  g_free (data->name);
  g_free (data->fingerprint);
  g_free (data->instance_dir);
  g_free (data->rootfs);
  g_free (data);
}

/* LXD's size text (shared/units GetByteSizeString, precision 2). */
static char *
byte_size_string (gint64 bytes)
{
  static const char *const units[] = { "kB", "MB", "GB", "TB", "PB", "EB" };
  double value = (double) bytes;

  if (bytes < 1000)
    return g_strdup_printf ("%" G_GINT64_FORMAT "B", bytes);
  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    {
      value /= 1000;
      if (value < 1000 || i == G_N_ELEMENTS (units) - 1)
        return g_strdup_printf ("%.2f%s", value, units[i]);
    }
  g_assert_not_reached ();
}

/* LXD's create from an image reports its unpack's progress (a tracker on
 * the image file read) in the operation's metadata, as
 * create_instance_from_image_unpack_progress and progress; Ferry unpacks
 * in one call, so the operation carries the final values. */
static void
set_unpack_progress (FerryOperation *op, CreateData *data, gint64 started)
{
  const char *extension = NULL;
  g_autofree char *tarball = ferry_image_tarball_path (data->daemon->layout->images, data->fingerprint, &extension,
                                                       NULL);
  struct stat st;
  gint64 elapsed = MAX (g_get_monotonic_time () - started, 1);
  gint64 size = tarball != NULL && stat (tarball, &st) == 0 ? st.st_size : 0;
  gint64 speed = (gint64) ((double) size * G_USEC_PER_SEC / (double) elapsed);
  g_autofree char *speed_text = byte_size_string (speed);
  g_autofree char *text = g_strdup_printf ("Unpack: 100%% (%s/s)", speed_text);
  g_autofree char *speed_num = g_strdup_printf ("%" G_GINT64_FORMAT, speed);
  JsonObject *progress = json_object_new ();

  json_object_set_string_member (progress, "stage", "create_instance_from_image_unpack");
  json_object_set_string_member (progress, "percent", "100");
  json_object_set_string_member (progress, "speed", speed_num);
  ferry_operation_set_metadata_string (op, "create_instance_from_image_unpack_progress", text);
  ferry_operation_set_metadata_node (op, "progress", json_node_init_object (json_node_alloc (), progress));
  json_object_unref (progress);
}

static gboolean
create_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  CreateData *data = user_data;
  const FerryStorageDriver *driver = data->pool->driver;
  gint64 started;

  if (!ferry_storage_prepare_instance (data->daemon, data->pool, data->name, error)
      || !ferry_layout_make_instance_dir (data->instance_dir, error) || !driver->create_volume (data->rootfs, error))
    return FALSE;
  if (data->fingerprint == NULL)
    return TRUE;
  started = g_get_monotonic_time ();
  if (!ferry_image_unpack_into (data->daemon->layout->images, data->fingerprint, data->rootfs, error)
      || !ferry_image_unpack_metadata (data->daemon->layout->images, data->fingerprint, data->instance_dir, error))
    {
      g_prefix_error (error, "Unpacking image %.12s: ", data->fingerprint);
      return FALSE;
    }
  set_unpack_progress (op, data, started);
  /* On disk before the database records it (docs/durability.md). */
  if (!ferry_syncfs (data->instance_dir, error))
    return FALSE;
  ferry_test_crash_point ("create-after-unpack");
  return TRUE;
}

static void
create_done (FerryOperation *op, gpointer user_data, GError **error)
{
  CreateData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->name);

  if (inst == NULL)
    return;
  if (*error == NULL)
    {
      inst->row->created_at = ferry_time_now ();
      if (ferry_db_instance_insert (d->db, inst->row, error))
        {
          inst->creating = FALSE;
          ferry_events_lifecycle (d, "instance-created", source,
                                  ferry_events_context ("storage-pool", data->pool->name, "type", "container", NULL));
          if (data->fingerprint != NULL)
            ferry_images_mark_used (d, data->fingerprint);
          return;
        }
    }
  /* Failed: nothing of it may remain. */
  g_autoptr (GError) cleanup_error = NULL;
  g_autofree char *snaps_dir = ferry_layout_snapshots_dir (d->layout, data->name);
  if (strcmp (data->pool->name, "default") != 0)
    ferry_storage_remove_linked (snaps_dir, NULL);
  if (!ferry_storage_remove_linked (data->instance_dir, &cleanup_error))
    g_warning ("Cleaning up failed creation of %s: %s", data->name, cleanup_error->message);
  g_hash_table_remove (d->instances, data->name);
}

static char *
profiles_to_json (JsonArray *profiles, FerryDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) known = ferry_db_profile_list (d->db, error);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  if (known == NULL)
    return NULL;
  json_builder_begin_array (b);
  if (profiles == NULL)
    json_builder_add_string_value (b, "default");
  for (guint i = 0; profiles != NULL && i < json_array_get_length (profiles); i++)
    {
      JsonNode *n = json_array_get_element (profiles, i);
      const char *name = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
                           ? json_node_get_string (n)
                           : NULL;
      gboolean found = FALSE;

      if (name == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Profile names must be strings");
          return NULL;
        }
      for (guint j = 0; j < known->len; j++)
        found = found || strcmp (((FerryDbProfile *) g_ptr_array_index (known, j))->name, name) == 0;
      if (!found)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Profile \"%s\" doesn't exist", name);
          return NULL;
        }
      json_builder_add_string_value (b, name);
    }
  json_builder_end_array (b);
  root = json_builder_get_root (b);
  return ferry_json_to_string (root, FALSE);
}

/* Parses and checks config, devices and profiles of a create/PUT body into
 * JSON texts ready for the database. */
static gboolean
parse_writable (FerryDaemon *d, JsonObject *body, GHashTable **config_out, char **devices_json, char **profiles_json,
                GError **error)
{
  JsonObject *config_obj = NULL, *devices_obj = NULL;
  JsonArray *profiles = NULL;
  g_autoptr (GHashTable) config = NULL;

  if (!ferry_json_get_object (body, "config", &config_obj, error)
      || !ferry_json_get_object (body, "devices", &devices_obj, error)
      || !ferry_json_get_array (body, "profiles", &profiles, error))
    return FALSE;
  config = ferry_json_string_map (config_obj, "Config", error);
  if (config == NULL || !ferry_config_validate (config, FALSE, error) || !ferry_devices_validate (devices_obj, error))
    return FALSE;
  if (profiles_json != NULL)
    {
      *profiles_json = profiles_to_json (profiles, d, error);
      if (*profiles_json == NULL)
        return FALSE;
    }
  if (devices_json != NULL)
    {
      JsonNode *n = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (n, devices_obj ? devices_obj : json_object_new ());
      if (devices_obj == NULL)
        json_object_unref (json_node_get_object (n));
      *devices_json = ferry_json_to_string (n, FALSE);
      json_node_unref (n);
    }
  *config_out = g_steal_pointer (&config);
  return TRUE;
}

/* Members of LXD's InstancesPost and InstanceSource that Ferry ignores or
 * reads later (the migration target reads mode, operation, certificate,
 * secrets and live): all are type-checked before anything is created. */
static const FerryJsonField create_fields[] = {
  { "architecture", FERRY_JSON_STRING },
  { "instance_type", FERRY_JSON_STRING },
  { "restore", FERRY_JSON_STRING },
  { "stateful", FERRY_JSON_BOOL },
  { "start", FERRY_JSON_BOOL },
};

static const FerryJsonField source_fields[] = {
  { "type", FERRY_JSON_STRING },
  { "certificate", FERRY_JSON_STRING },
  { "alias", FERRY_JSON_STRING },
  { "fingerprint", FERRY_JSON_STRING },
  { "properties", FERRY_JSON_STRING_MAP },
  { "server", FERRY_JSON_STRING },
  { "secret", FERRY_JSON_STRING },
  { "protocol", FERRY_JSON_STRING },
  { "base-image", FERRY_JSON_STRING },
  { "mode", FERRY_JSON_STRING },
  { "operation", FERRY_JSON_STRING },
  { "secrets", FERRY_JSON_STRING_MAP },
  { "source", FERRY_JSON_STRING },
  { "live", FERRY_JSON_BOOL },
  { "container_only", FERRY_JSON_BOOL },
  { "instance_only", FERRY_JSON_BOOL },
  { "refresh", FERRY_JSON_BOOL },
  { "project", FERRY_JSON_STRING },
  { "allow_inconsistent", FERRY_JSON_BOOL },
};

/* What POST /1.0/instances asks for, validated. */
typedef struct
{
  const char *name, *description, *source_type;
  gboolean ephemeral;
  JsonObject *source;
  GHashTable *config;
  char *devices_json, *profiles_json, *chosen_name;
  char *fingerprint;     /* source type "image" */
  FerryImageInfo *image;
  JsonObject *body;
  FerryInstance *copy_from; /* source type "copy": the instance, */
  char *copy_snapshot;      /* ... or its snapshot */
  gboolean instance_only;
  char *architecture;       /* the copy's */
} CreateRequest;

static void
create_request_clear (CreateRequest *r)
{
  g_clear_pointer (&r->config, g_hash_table_unref);
  g_free (r->devices_json);
  g_free (r->profiles_json);
  g_free (r->chosen_name);
  g_free (r->fingerprint);
  g_clear_pointer (&r->image, ferry_image_info_free);
  g_free (r->copy_snapshot);
  g_free (r->architecture);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CreateRequest, create_request_clear)

/* The body's fields, the instance's name (free, or chosen) and its source. */
static gboolean
parse_create_request (FerryDaemon *d, JsonObject *body, CreateRequest *r, GError **error)
{
  const char *type = NULL;

  r->description = "";
  r->body = body;
  if (!ferry_json_get_string (body, "name", &r->name, error) || !ferry_json_get_string (body, "type", &type, error)
      || !ferry_json_get_string (body, "description", &r->description, error)
      || !ferry_json_get_bool (body, "ephemeral", &r->ephemeral, error)
      || !ferry_json_get_object (body, "source", &r->source, error)
      || !ferry_json_check_fields (body, NULL, create_fields, G_N_ELEMENTS (create_fields), error)
      || (r->source != NULL
          && !ferry_json_check_fields (r->source, "source.", source_fields, G_N_ELEMENTS (source_fields), error))
      || !parse_writable (d, body, &r->config, &r->devices_json, &r->profiles_json, error))
    return FALSE;
  if (type != NULL && *type != '\0' && strcmp (type, "container") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Instance type \"%s\" isn't supported: Ferry runs containers",
                   type);
      return FALSE;
    }
  if (r->name == NULL || *r->name == '\0')
    r->name = r->chosen_name = pick_free_name (d);
  return ferry_name_validate_instance (r->name, error);
}

/* The config, devices and profiles of a copy: the request's, then what it
 * leaves out taken from the source (LXD's createFromCopy). */
static gboolean
inherit_from_copy_source (CreateRequest *r, const char *config_json, const char *devices_json,
                          const char *profiles_json, GError **error)
{
  g_autoptr (JsonObject) config_obj = ferry_json_parse_object (config_json, strlen (config_json), TRUE, error);
  g_autoptr (GHashTable) config = config_obj ? ferry_json_string_map (config_obj, "Config", error) : NULL;
  GHashTableIter iter;
  gpointer k, v;

  if (config == NULL)
    return FALSE;
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (ferry_copy_keeps_key (k) && !g_hash_table_contains (r->config, k))
      g_hash_table_insert (r->config, g_strdup (k), g_strdup (v));
  if (!json_object_has_member (r->body, "devices"))
    {
      g_free (r->devices_json);
      r->devices_json = g_strdup (devices_json);
    }
  if (!json_object_has_member (r->body, "profiles"))
    {
      g_free (r->profiles_json);
      r->profiles_json = g_strdup (profiles_json);
    }
  return TRUE;
}

/* source.source of a copy: "INSTANCE" or "INSTANCE/SNAPSHOT" of this host. */
static gboolean
resolve_copy_source (FerryDaemon *d, CreateRequest *r, GError **error)
{
  const char *source = NULL;
  gboolean container_only = FALSE;
  g_auto (GStrv) parts = NULL;
  g_autoptr (GPtrArray) snaps = NULL;
  FerryDbSnapshot *snap = NULL;

  if (!ferry_json_get_string (r->source, "source", &source, error)
      || !ferry_json_get_bool (r->source, "instance_only", &r->instance_only, error)
      || !ferry_json_get_bool (r->source, "container_only", &container_only, error))
    return FALSE;
  r->instance_only = r->instance_only || container_only;
  if (source == NULL || *source == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"source.source\" (the instance to copy) is required");
      return FALSE;
    }
  parts = g_strsplit (source, "/", 2);
  r->copy_from = g_hash_table_lookup (d->instances, parts[0]);
  if (r->copy_from == NULL || r->copy_from->creating || ferry_instance_is_rename_placeholder (r->copy_from))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Instance \"%s\" not found", parts[0]);
      return FALSE;
    }
  if (parts[1] != NULL)
    {
      snaps = ferry_db_snapshot_list (d->db, r->copy_from->row->id, error);
      if (snaps == NULL)
        return FALSE;
      for (guint i = 0; i < snaps->len && snap == NULL; i++)
        if (strcmp (((FerryDbSnapshot *) g_ptr_array_index (snaps, i))->name, parts[1]) == 0)
          snap = g_ptr_array_index (snaps, i);
      if (snap == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Snapshot \"%s\" of instance \"%s\" not found",
                       parts[1], parts[0]);
          return FALSE;
        }
      r->copy_snapshot = g_strdup (parts[1]);
      r->architecture = g_strdup (snap->architecture);
      return inherit_from_copy_source (r, snap->config_json, snap->devices_json, snap->profiles_json, error);
    }
  r->architecture = g_strdup (r->copy_from->row->architecture);
  return inherit_from_copy_source (r, r->copy_from->row->config_json, r->copy_from->row->devices_json,
                                   r->copy_from->row->profiles_json, error);
}

/* source: an image of this host's store, a copy, a migration, or none. */
static gboolean
resolve_source (FerryDaemon *d, CreateRequest *r, GError **error)
{
  const char *fp = NULL, *alias = NULL, *server = NULL;

  if (r->source == NULL || !ferry_json_get_string (r->source, "type", &r->source_type, error)
      || !ferry_json_get_string (r->source, "fingerprint", &fp, error)
      || !ferry_json_get_string (r->source, "alias", &alias, error)
      || !ferry_json_get_string (r->source, "server", &server, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"source\" is required");
      return FALSE;
    }
  if (g_strcmp0 (r->source_type, "migration") == 0 || g_strcmp0 (r->source_type, "none") == 0)
    return TRUE;
  if (g_strcmp0 (r->source_type, "copy") == 0)
    return resolve_copy_source (d, r, error);
  if (g_strcmp0 (r->source_type, "image") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Source type \"%s\" isn't supported yet",
                   r->source_type ? r->source_type : "");
      return FALSE;
    }
  if (server != NULL && *server != '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Images from remote servers (%s) aren't supported; import the image with `ferry image import`",
                   server);
      return FALSE;
    }
  r->fingerprint = ferry_images_resolve (d, fp && *fp ? fp : alias, error);
  if (r->fingerprint == NULL && !(fp && *fp) && error != NULL && g_error_matches (*error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND))
    {
      /* LXD's words for a source alias that names nothing. */
      g_clear_error (error);
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Image alias not found");
    }
  if (r->fingerprint == NULL)
    return FALSE;
  r->image = ferry_image_load (d->layout->images, r->fingerprint, error);
  return r->image != NULL;
}

/* The instance (not yet in the database) with the keys the server owns,
 * put in d->instances under its name. */
static FerryInstance *
add_new_instance (FerryDaemon *d, CreateRequest *r)
{
  FerryInstance *inst = g_new0 (FerryInstance, 1);
  struct utsname uts;

  if (r->image != NULL)
    {
      GHashTableIter iter;
      gpointer k, v;
      g_hash_table_insert (r->config, g_strdup ("volatile.base_image"), g_strdup (r->fingerprint));
      g_hash_table_iter_init (&iter, r->image->properties);
      while (g_hash_table_iter_next (&iter, &k, &v))
        if (!g_hash_table_contains (r->config, k))
          g_hash_table_insert (r->config, g_strdup_printf ("image.%s", (const char *) k), g_strdup (v));
    }
  /* As LXD: the image's templates for "create" (or "copy") are applied at
   * the first start, then this key is removed. */
  if (r->image != NULL)
    g_hash_table_insert (r->config, g_strdup ("volatile.apply_template"), g_strdup ("create"));
  else if (r->copy_from != NULL)
    g_hash_table_insert (r->config, g_strdup ("volatile.apply_template"), g_strdup ("copy"));
  if (!g_hash_table_contains (r->config, "volatile.uuid") || g_strcmp0 (r->source_type, "migration") != 0)
    g_hash_table_insert (r->config, g_strdup ("volatile.uuid"), g_uuid_string_random ());
  /* LXD gives every new instance one (cloud-init's instance-id), unless the
   * request brings it (a move). */
  if (!g_hash_table_contains (r->config, "volatile.cloud-init.instance-id"))
    g_hash_table_insert (r->config, g_strdup ("volatile.cloud-init.instance-id"), g_uuid_string_random ());

  inst->monitor_pidfd = -1;
  inst->creating = TRUE;
  inst->row = g_new0 (FerryDbInstance, 1);
  inst->row->name = g_strdup (r->name);
  inst->row->description = g_strdup (r->description ? r->description : "");
  uname (&uts);
  inst->row->architecture = g_strdup (r->image ? r->image->architecture : r->architecture ? r->architecture : uts.machine);
  inst->row->ephemeral = r->ephemeral;
  ferry_instance_set_own_config (inst, r->config);
  inst->row->devices_json = g_steal_pointer (&r->devices_json);
  inst->row->profiles_json = g_steal_pointer (&r->profiles_json);
  {
    g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
    if (ferry_network_fill_hwaddrs (devices, r->config))
      ferry_instance_set_own_config (inst, r->config);
  }
  g_hash_table_insert (d->instances, inst->row->name, inst);
  return inst;
}

static void
create_instance (FerryRequest *req)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  g_auto (CreateRequest) r = { 0 };
  g_autofree char *url = NULL;
  FerryInstance *inst;
  FerryOperation *op;
  FerryStoragePool *pool;
  CreateData *data;
  g_autofree char *missing_pool = NULL;

  if (body == NULL || !parse_create_request (d, body, &r, &error) || !resolve_source (d, &r, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  /* LXD finds a taken name when its operation writes the database; an
   * incoming migration it refuses at once (the source then keeps its
   * instance), as Ferry does. */
  if (g_hash_table_contains (d->instances, r.name) && g_strcmp0 (r.source_type, "migration") == 0)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Instance \"%s\" already exists", r.name);
      ferry_respond_error (req->msg, error);
      return;
    }
  if (g_hash_table_contains (d->instances, r.name))
    {
      g_autoptr (FerryOperation) refused = ferry_lifecycle_refused (
          d, r.name, "Creating instance", FALSE,
          "Failed creating instance record: Add instance info to the database: This \"instances\" entry already "
          "exists");
      ferry_respond_async (req->msg, refused);
      return;
    }
  /* An incoming instance lands on the pool its root disk names (the
   * source's pool, or the one `lxc move/copy -s` put there) when this host
   * has it, else on the default pool; the migration fails once the offer
   * shows that the pool was not the source's own (the user named it). */
  if (g_strcmp0 (r.source_type, "migration") == 0 && r.devices_json != NULL)
    {
      g_autoptr (JsonObject) local = ferry_json_parse_object (r.devices_json, strlen (r.devices_json), TRUE, NULL);
      const char *named = ferry_storage_root_pool_name (local);
      if (named != NULL && ferry_storage_pool_get (d, named) == NULL)
        {
          char *on_default = ferry_storage_devices_on_pool (r.devices_json, "default");
          missing_pool = g_strdup (named);
          g_free (r.devices_json);
          r.devices_json = on_default;
        }
    }
  inst = add_new_instance (d, &r);
  {
    g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
    pool = ferry_storage_pool_for_devices (d, devices, &error);
  }
  /* The ids its next start uses (a live move's restore keeps the source's). */
  if (pool == NULL || !ferry_instance_choose_idmap (d, inst, &error))
    {
      g_hash_table_remove (d->instances, r.name);
      ferry_respond_error (req->msg, error);
      return;
    }
  if (g_strcmp0 (r.source_type, "migration") == 0)
    {
      op = ferry_migration_target_start (d, inst, r.source, pool, missing_pool, &error);
      if (op == NULL)
        {
          g_hash_table_remove (d->instances, r.name);
          ferry_respond_error (req->msg, error);
          return;
        }
      ferry_respond_async (req->msg, op);
      ferry_operation_unref (op);
      return;
    }
  if (r.copy_from != NULL)
    {
      op = ferry_instance_copy (d, r.copy_from, r.copy_snapshot, inst, pool, r.instance_only, &error);
      if (op == NULL)
        {
          g_hash_table_remove (d->instances, r.name);
          ferry_respond_error (req->msg, error);
          return;
        }
      ferry_respond_async (req->msg, op);
      ferry_operation_unref (op);
      return;
    }

  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Creating instance");
  url = g_strdup_printf ("/1.0/instances/%s", r.name);
  ferry_operation_add_resource (op, "instances", url);
  ferry_instance_claim (inst, op, "create", NULL);
  data = g_new0 (CreateData, 1);
  data->daemon = d;
  data->name = g_strdup (r.name);
  data->fingerprint = g_steal_pointer (&r.fingerprint);
  data->instance_dir = ferry_layout_instance_dir (d->layout, r.name);
  data->rootfs = ferry_layout_rootfs (d->layout, r.name);
  data->pool = pool;
  ferry_operation_run (op, create_work, create_done, data, (GDestroyNotify) create_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
}

/* ---- update ---- */

/* PUT/PATCH with "restore": the snapshot named (lxc sends
 * "INSTANCE/SNAPSHOT"; a bare snapshot name is accepted too). */
static void
restore_snapshot (FerryRequest *req, FerryInstance *inst, const char *restore)
{
  g_autoptr (GError) error = NULL;
  const char *slash = strchr (restore, '/');
  g_autofree char *owner = slash ? g_strndup (restore, (gsize) (slash - restore)) : NULL;
  g_autoptr (FerryOperation) op = NULL;

  if (owner != NULL && strcmp (owner, inst->row->name) != 0)
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Snapshot \"%s\" doesn't belong to %s", restore,
                 inst->row->name);
  else
    op = ferry_instance_restore (req->daemon, inst, slash ? slash + 1 : restore, &error);
  if (op == NULL)
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_async (req->msg, op);
}

/* The instance's config after an update with CONFIG: PUT replaces the
 * user's keys, PATCH adds to them; volatile keys are the server's. */
static char *
updated_config_json (FerryInstance *inst, GHashTable *config, gboolean patch)
{
  g_autoptr (JsonObject) old_config = ferry_json_parse_object (inst->row->config_json,
                                                               strlen (inst->row->config_json), TRUE, NULL);
  g_autoptr (GHashTable) merged = ferry_json_string_map (old_config, "Config", NULL);
  g_autoptr (JsonNode) node = NULL;
  GHashTableIter iter;
  gpointer k, v;

  if (!patch)
    {
      g_hash_table_iter_init (&iter, merged);
      while (g_hash_table_iter_next (&iter, &k, &v))
        if (!g_str_has_prefix (k, "volatile."))
          g_hash_table_iter_remove (&iter);
    }
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (!g_str_has_prefix (k, "volatile."))
      g_hash_table_insert (merged, g_strdup (k), g_strdup (v));
  node = ferry_json_from_string_map (merged);
  return ferry_json_to_string (node, FALSE);
}

/* The instance's devices after PATCH with DEVICES (members replaced). */
static char *
patched_devices_json (FerryInstance *inst, JsonObject *devices)
{
  g_autoptr (JsonObject) old = ferry_json_parse_object (inst->row->devices_json, strlen (inst->row->devices_json),
                                                        TRUE, NULL);
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  JsonObjectIter iter;
  const char *k;
  JsonNode *v;

  json_object_iter_init (&iter, devices);
  while (json_object_iter_next (&iter, &k, &v))
    json_object_set_member (old, k, json_node_copy (v));
  json_node_set_object (node, old);
  return ferry_json_to_string (node, FALSE);
}

/* The writable fields of a row, to put back when an update is refused. */
typedef struct
{
  char *config_json, *devices_json, *profiles_json, *description;
  gboolean ephemeral;
} RowFields;

static void
swap_row_fields (FerryDbInstance *row, RowFields *f)
{
  char *t;
  gboolean e;

  t = row->config_json, row->config_json = f->config_json, f->config_json = t;
  t = row->devices_json, row->devices_json = f->devices_json, f->devices_json = t;
  t = row->profiles_json, row->profiles_json = f->profiles_json, f->profiles_json = t;
  t = row->description, row->description = f->description, f->description = t;
  e = row->ephemeral, row->ephemeral = f->ephemeral, f->ephemeral = e;
}

static void
row_fields_clear (RowFields *f)
{
  g_free (f->config_json);
  g_free (f->devices_json);
  g_free (f->profiles_json);
  g_free (f->description);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (RowFields, row_fields_clear)

/* The fields of the row an update asks for (new strings in F). */
static gboolean
updated_row_fields (FerryDaemon *d, FerryInstance *inst, JsonObject *body, gboolean patch, RowFields *f,
                    GError **error)
{
  const char *description = NULL;
  JsonObject *config_obj = NULL, *devices_obj = NULL;
  JsonArray *profiles_arr = NULL;
  g_autoptr (GHashTable) config = NULL;
  g_autofree char *devices_json = NULL;

  f->ephemeral = inst->row->ephemeral;
  if (!ferry_json_get_string (body, "description", &description, error)
      || !ferry_json_get_bool (body, "ephemeral", &f->ephemeral, error)
      || !ferry_json_get_object (body, "config", &config_obj, error)
      || !ferry_json_get_object (body, "devices", &devices_obj, error)
      || !ferry_json_get_array (body, "profiles", &profiles_arr, error)
      || !parse_writable (d, body, &config, &devices_json, NULL, error))
    return FALSE;
  /* Without "profiles", a PUT keeps the list too. */
  f->profiles_json = profiles_arr != NULL ? profiles_to_json (profiles_arr, d, error)
                                          : g_strdup (inst->row->profiles_json);
  if (f->profiles_json == NULL)
    return FALSE;
  f->config_json = updated_config_json (inst, config, patch);
  if (devices_obj != NULL && patch)
    f->devices_json = patched_devices_json (inst, devices_obj);
  else if (devices_obj != NULL || !patch)
    f->devices_json = g_steal_pointer (&devices_json);
  else
    f->devices_json = g_strdup (inst->row->devices_json);
  f->description = g_strdup (description != NULL ? description : inst->row->description);
  return TRUE;
}

/* Its files stay where they are: the root disk (own or a profile's) may
 * not name another pool than the one they are on, as in LXD. */
static gboolean
root_pool_unchanged (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
  FerryStoragePool *on = ferry_storage_pool_of_instance (d, inst->row->name);
  FerryStoragePool *named = ferry_storage_pool_for_devices (d, devices, error);

  if (named == NULL)
    return FALSE;
  if (named != on)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The root disk of %s is on storage pool \"%s\": moving it to \"%s\" is not supported",
                   inst->row->name, on->name, named->name);
      return FALSE;
    }
  return TRUE;
}

/* What an instance's ETag covers: the fields of its PUT. */
static const char *const instance_writable[]
    = { "architecture", "config", "devices", "ephemeral", "profiles", "description", NULL };

/* If-Match of a PUT or PATCH (a restore too, as in LXD) against the
 * instance as GET shows it now. */
static gboolean
instance_if_match (FerryRequest *req, FerryInstance *inst, GError **error)
{
  g_autoptr (JsonNode) now = ferry_instance_to_json (req->daemon, inst, FALSE);

  return ferry_request_if_match (req, now, instance_writable, error);
}

static void
update_instance (FerryRequest *req, FerryInstance *inst, gboolean patch)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  const char *restore = NULL;
  g_auto (RowFields) fields = { 0 };
  g_autofree char *source = NULL;
  g_autoptr (FerryOperation) op = NULL;
  g_autoptr (JsonObject) old_devices = NULL;

  if (!instance_if_match (req, inst, &error) || (body = ferry_request_json (req, FALSE, &error)) == NULL
      || !ferry_json_get_string (body, "restore", &restore, &error))
    goto fail;
  if (restore != NULL && *restore != '\0' && patch)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Can't call PATCH in restore mode");
      goto fail;
    }
  if (restore != NULL && *restore != '\0')
    {
      restore_snapshot (req, inst, restore);
      return;
    }
  if (inst->busy != NULL)
    {
      ferry_instance_claim (inst, NULL, NULL, &error);
      goto fail;
    }
  if (!updated_row_fields (d, inst, body, patch, &fields, &error))
    goto fail;
  old_devices = ferry_instance_expanded_devices (d, inst);
  swap_row_fields (inst->row, &fields);
  /* Disk devices change live in a running instance, as in LXD. */
  if (ferry_instance_is_running (d, inst) && !ferry_disk_devices_apply_live (d, inst, old_devices, &error))
    {
      swap_row_fields (inst->row, &fields);
      goto fail;
    }
  /* The ids of its next start, for the idmap keys (its own or profiles'). */
  if (!root_pool_unchanged (d, inst, &error) || !ferry_instance_choose_idmap (d, inst, &error)
      || !ferry_instance_save (d, inst, &error))
    {
      swap_row_fields (inst->row, &fields);
      goto fail;
    }
  source = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  /* LXD answers a PATCH at once, and a PUT with an operation (which lxc
   * waits on). */
  if (patch)
    {
      ferry_events_lifecycle (d, "instance-updated", source, NULL);
      ferry_respond_sync_empty (req->msg);
      return;
    }
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Updating instance");
  ferry_operation_add_resource (op, "instances", source);
  ferry_operation_register (op);
  ferry_operation_finish (op, NULL);
  ferry_events_lifecycle (d, "instance-updated", source, NULL);
  ferry_respond_async (req->msg, op);
  return;

fail:
  ferry_respond_error (req->msg, error);
}

/* ---- state ---- */

static void
change_state (FerryRequest *req, FerryInstance *inst)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  const char *action = NULL;
  gint64 timeout = -1;
  gboolean force = FALSE, stateful = FALSE;
  g_autoptr (FerryOperation) op = NULL;

  if (body == NULL || !ferry_json_get_string (body, "action", &action, &error)
      || !ferry_json_get_int (body, "timeout", &timeout, &error)
      || !ferry_json_get_bool (body, "force", &force, &error)
      || !ferry_json_get_bool (body, "stateful", &stateful, &error))
    goto fail;
  if (action == NULL)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"action\" is required");
      goto fail;
    }
  if (stateful && strcmp (action, "start") != 0 && strcmp (action, "stop") != 0)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Only start and stop can be stateful");
      goto fail;
    }
  if (strcmp (action, "start") == 0)
    op = ferry_instance_start (d, inst, stateful, &error);
  else if (strcmp (action, "stop") == 0)
    op = ferry_instance_stop (d, inst, timeout, force, stateful, &error);
  else if (strcmp (action, "restart") == 0)
    op = ferry_instance_restart (d, inst, timeout, force, &error);
  else if (strcmp (action, "freeze") == 0)
    op = ferry_instance_freeze (d, inst, TRUE, &error);
  else if (strcmp (action, "unfreeze") == 0)
    op = ferry_instance_freeze (d, inst, FALSE, &error);
  else
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown action: '%s'", action);
  if (op == NULL)
    goto fail;
  ferry_respond_async (req->msg, op);
  return;

fail:
  ferry_respond_error (req->msg, error);
}

/* ---- logs ---- */

/* exec_UUID.stdout or exec_UUID.stderr: the recorded output of a command
 * run without websockets (api/exec.c). */
static gboolean
is_exec_output_log (const char *file)
{
  const char *p = file + strlen ("exec_");

  if (!g_str_has_prefix (file, "exec_") || !(g_str_has_suffix (file, ".stdout") || g_str_has_suffix (file, ".stderr")))
    return FALSE;
  for (; *p != '.'; p++)
    if (!g_ascii_isxdigit (*p) && *p != '-')
      return FALSE;
  return p > file + strlen ("exec_") && strchr (p + 1, '.') == NULL;
}

static void
serve_log (FerryRequest *req, FerryInstance *inst, const char *file)
{
  g_autofree char *dir = ferry_layout_log_dir (req->daemon->layout, inst->row->name);
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  const char *real;

  /* lxc.log is what `lxc info --show-log` asks for: our monitor's log. */
  if (strcmp (file, "lxc.log") == 0 || strcmp (file, "monitor.log") == 0)
    real = "monitor.log";
  else if (strcmp (file, "console.log") == 0)
    real = "console.log";
  else if (is_exec_output_log (file))
    real = file;
  else
    {
      /* LXD checks the name before looking for the file. */
      g_autofree char *text = g_strdup_printf ("log file name %s not valid", file);
      ferry_respond_error_literal (req->msg, 400, text);
      return;
    }
  path = g_build_filename (dir, real, NULL);
  if (real == file && !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      ferry_respond_error_literal (req->msg, 404, "Log file not found");
      return;
    }
  if (real == file && strcmp (req->method, "DELETE") == 0)
    {
      /* A command's output goes, as in LXD; ferryd's own logs are emptied. */
      if (unlink (path) < 0)
        ferry_respond_error_literal (req->msg, 500, g_strerror (errno));
      else
        ferry_respond_sync_empty (req->msg);
      return;
    }
  if (strcmp (req->method, "DELETE") == 0)
    {
      if (truncate (path, 0) < 0 && errno != ENOENT)
        ferry_respond_error_literal (req->msg, 500, g_strerror (errno));
      else
        ferry_respond_sync_empty (req->msg);
      return;
    }
  if (!g_file_get_contents (path, &contents, &len, NULL))
    {
      contents = g_strdup ("");
      len = 0;
    }
  g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&contents), len);
  ferry_respond_raw (req->msg, "application/octet-stream", bytes);
}

static void
list_logs (FerryRequest *req, FerryInstance *inst)
{
  const char *files[] = { "console.log", "lxc.log", NULL };
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autofree char *prefix = g_strdup_printf ("/1.0/instances/%s/logs/", inst->row->name);

  g_autofree char *dir = ferry_layout_log_dir (req->daemon->layout, inst->row->name);
  g_autoptr (GDir) entries = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) recorded = g_ptr_array_new_with_free_func (g_free);
  const char *entry;

  for (int i = 0; files[i]; i++)
    g_ptr_array_add (names, (gpointer) files[i]);
  while (entries != NULL && (entry = g_dir_read_name (entries)) != NULL)
    if (is_exec_output_log (entry))
      g_ptr_array_add (recorded, g_strdup (entry));
  for (guint i = 0; i < recorded->len; i++)
    g_ptr_array_add (names, recorded->pdata[i]);
  ferry_respond_sync (req->msg, ferry_json_url_list (prefix, names));
}

/* ---- dispatch ---- */

void
ferry_api_instances_list (FerryRequest *req, FerryInstance *unused)
{
  list_instances (req, req->parts[0]);
}

void
ferry_api_instances_create (FerryRequest *req, FerryInstance *unused)
{
  const char *type = soup_message_headers_get_content_type (soup_server_message_get_request_headers (req->msg), NULL);

  if (g_strcmp0 (type, "application/octet-stream") == 0)
    ferry_api_backup_import (req);
  else
    create_instance (req);
}

void
ferry_api_instance_get (FerryRequest *req, FerryInstance *inst)
{
  ferry_respond_sync_etag (req->msg, ferry_instance_to_json (req->daemon, inst, ferry_request_recursion (req) >= 1),
                           instance_writable);
}

void
ferry_api_instance_update (FerryRequest *req, FerryInstance *inst)
{
  update_instance (req, inst, strcmp (req->method, "PATCH") == 0);
}

static void
respond_operation (FerryRequest *req, FerryOperation *op, const GError *error)
{
  if (op == NULL)
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_async (req->msg, op);
}

void
ferry_api_instance_delete (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryOperation) op = ferry_instance_delete (req->daemon, inst, &error);

  respond_operation (req, op, error);
}

/* POST: a rename, or with "migration": true, the source of a migration. */
void
ferry_api_instance_post (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  const char *new_name = NULL;
  gboolean migration = FALSE;
  g_autoptr (FerryOperation) op = NULL;

  if (body != NULL && ferry_json_get_string (body, "name", &new_name, &error)
      && ferry_json_get_bool (body, "migration", &migration, &error))
    {
      if (migration)
        {
          ferry_migration_source_start (req, inst, body);
          return;
        }
      op = ferry_instance_rename (req->daemon, inst, new_name, &error);
    }
  respond_operation (req, op, error);
}

void
ferry_api_instance_state_get (FerryRequest *req, FerryInstance *inst)
{
  ferry_respond_sync (req->msg, ferry_instance_state_json (req->daemon, inst));
}

void
ferry_api_instance_state_put (FerryRequest *req, FerryInstance *inst)
{
  change_state (req, inst);
}

void
ferry_api_instance_logs (FerryRequest *req, FerryInstance *inst)
{
  list_logs (req, inst);
}

void
ferry_api_instance_log (FerryRequest *req, FerryInstance *inst)
{
  serve_log (req, inst, req->parts[3]);
}

void
ferry_api_instance_console (FerryRequest *req, FerryInstance *inst)
{
  if (strcmp (req->method, "GET") == 0 || strcmp (req->method, "DELETE") == 0)
    serve_log (req, inst, "console.log");
  else
    ferry_respond_error_literal (req->msg, 400, "Attaching to the console isn't supported yet; use GET for the log");
}
