/* POST /1.0/images from an instance or a snapshot (`lxc publish`): an LXD
 * unified tarball of its rootfs, stored and fingerprinted as an import. */
#include "daemon/api/api.h"
#include "daemon/images.h"
#include "daemon/instance.h"
#include "daemon/operations.h"
#include "storage/layout.h"
#include "common/error.h"
#include "common/json.h"
#include "common/names.h"
#include "common/testhook.h"
#include "image/image.h"

#include <string.h>

typedef struct
{
  FerryDaemon *daemon;
  char *instance;
  char *rootfs;
  char *instance_dir; /* its metadata.yaml and templates/ (a snapshot's too: it keeps none of its own) */
  char *architecture;
  GHashTable *properties;
  gboolean public_;
  GPtrArray *aliases; /* FerryDbAlias, fingerprint unset */
  FerryImageInfo *info;
} PublishData;

static void
publish_data_free (PublishData *data)
{
  g_free (data->instance);
  g_free (data->rootfs);
  g_free (data->instance_dir);
  g_free (data->architecture);
  g_clear_pointer (&data->properties, g_hash_table_unref);
  g_clear_pointer (&data->aliases, g_ptr_array_unref);
  g_clear_pointer (&data->info, ferry_image_info_free);
  g_free (data);
}

static gboolean
publish_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  PublishData *data = user_data;

  data->info = ferry_image_publish (data->daemon->layout->images, data->rootfs, data->instance_dir,
                                    data->architecture, data->properties, error);
  if (data->info == NULL)
    {
      g_prefix_error (error, "Publishing %s: ", data->instance);
      return FALSE;
    }
  ferry_test_crash_point ("publish-after-store");
  return TRUE;
}

static void
publish_done (FerryOperation *op, gpointer user_data, GError **error)
{
  PublishData *data = user_data;
  FerryDaemon *d = data->daemon;
  g_autofree char *url = NULL;

  ferry_instance_release_by_name (d, data->instance);
  if (*error != NULL)
    return;
  if (!ferry_images_record (d, data->info, data->public_, error))
    {
      ferry_image_delete (d->layout->images, data->info->fingerprint, NULL);
      return;
    }
  ferry_operation_set_metadata_string (op, "fingerprint", data->info->fingerprint);
  ferry_operation_set_metadata_int (op, "size", data->info->size);
  url = g_strdup_printf ("/1.0/images/%s", data->info->fingerprint);
  ferry_events_lifecycle (d, "image-created", url, NULL);
  /* As LXD: the image stays when an alias cannot be made. */
  for (guint i = 0; i < data->aliases->len; i++)
    {
      FerryDbAlias *a = g_ptr_array_index (data->aliases, i);
      g_autoptr (GError) alias_error = NULL;
      a->fingerprint = g_strdup (data->info->fingerprint);
      if (!ferry_db_alias_insert (d->db, a, &alias_error))
        {
          if (g_error_matches (alias_error, FERRY_ERROR, FERRY_ERROR_CONFLICT))
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Alias already exists: %s", a->name);
          else
            g_propagate_error (error, g_steal_pointer (&alias_error));
          return;
        }
    }
}

/* aliases: [{"name": ..., "description": ...}], each name valid and free. */
static GPtrArray *
parse_aliases (FerryDaemon *d, JsonArray *arr, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_db_alias_free);
  g_autoptr (GPtrArray) known = ferry_db_alias_list (d->db, error);

  if (known == NULL)
    return NULL;
  for (guint i = 0; arr != NULL && i < json_array_get_length (arr); i++)
    {
      JsonNode *n = json_array_get_element (arr, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      const char *name = NULL, *description = "";
      FerryDbAlias *a;

      if (o == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"aliases\" must be a list of objects");
          return NULL;
        }
      if (!ferry_json_get_string (o, "name", &name, error)
          || !ferry_json_get_string (o, "description", &description, error)
          || !ferry_name_validate_object ("Alias", name, error))
        return NULL;
      for (guint j = 0; j < known->len; j++)
        if (strcmp (((FerryDbAlias *) g_ptr_array_index (known, j))->name, name) == 0)
          {
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Alias already exists: %s", name);
            return NULL;
          }
      a = g_new0 (FerryDbAlias, 1);
      a->name = g_strdup (name);
      a->description = g_strdup (description ? description : "");
      g_ptr_array_add (out, a);
    }
  return g_steal_pointer (&out);
}

/* The properties of the image: the request's, else the instance's image.*
 * keys (what it was made from), as LXD does. */
static GHashTable *
image_properties (JsonObject *props, const char *config_json, GError **error)
{
  g_autoptr (JsonObject) config = NULL;
  GHashTable *out;
  GHashTableIter iter;
  gpointer k, v;

  if (props != NULL && json_object_get_size (props) > 0)
    return ferry_json_string_map (props, "Properties", error);
  out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  config = ferry_json_parse_object (config_json, strlen (config_json), TRUE, NULL);
  if (config != NULL)
    {
      g_autoptr (GHashTable) map = ferry_json_string_map (config, "Config", NULL);
      g_hash_table_iter_init (&iter, map);
      while (map != NULL && g_hash_table_iter_next (&iter, &k, &v))
        if (g_str_has_prefix (k, "image."))
          g_hash_table_insert (out, g_strdup ((char *) k + strlen ("image.")), g_strdup (v));
    }
  return out;
}

/* The rootfs and config of source NAME ("c1", or "c1/snap0" for type
 * snapshot); NULL with the error LXD gives. */
static FerryInstance *
resolve_publish_source (FerryDaemon *d, const char *type, const char *name, PublishData *data, char **config_json,
                        GError **error)
{
  g_auto (GStrv) parts = g_strsplit (name ? name : "", "/", 2);
  gboolean snapshot = strcmp (type, "snapshot") == 0;
  FerryInstance *inst = parts[0] != NULL ? g_hash_table_lookup (d->instances, parts[0]) : NULL;

  if (inst == NULL || inst->creating || ferry_instance_is_rename_placeholder (inst))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Instance not found");
      return NULL;
    }
  data->instance_dir = ferry_layout_instance_dir (d->layout, inst->row->name);
  if (snapshot != (parts[1] != NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Source type \"%s\" takes %s, not \"%s\"", type,
                   snapshot ? "INSTANCE/SNAPSHOT" : "an instance name", name);
      return NULL;
    }
  if (snapshot)
    {
      g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (d->db, inst->row->id, error);
      FerryDbSnapshot *s = NULL;
      for (guint i = 0; snaps != NULL && i < snaps->len && s == NULL; i++)
        if (strcmp (((FerryDbSnapshot *) g_ptr_array_index (snaps, i))->name, parts[1]) == 0)
          s = g_ptr_array_index (snaps, i);
      if (s == NULL)
        {
          if (snaps != NULL)
            g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Snapshot not found");
          return NULL;
        }
      g_autofree char *snap_dir = ferry_layout_snapshot_dir (d->layout, inst->row->name, s->name);
      data->rootfs = ferry_layout_dir_rootfs (snap_dir);
      data->architecture = g_strdup (s->architecture);
      *config_json = g_strdup (s->config_json);
      return inst;
    }
  /* LXD's own words; `lxc publish --force` stops it first. */
  if (ferry_instance_is_running (d, inst))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Cannot export a running instance as an image");
      return NULL;
    }
  data->rootfs = ferry_layout_rootfs (d->layout, inst->row->name);
  data->architecture = g_strdup (inst->row->architecture);
  *config_json = g_strdup (inst->row->config_json);
  return inst;
}

static gboolean
parse_publish (FerryDaemon *d, JsonObject *body, PublishData *data, FerryInstance **inst, GError **error)
{
  JsonObject *source = NULL, *props = NULL;
  JsonArray *aliases = NULL;
  const char *type = NULL, *name = NULL;
  g_autofree char *config_json = NULL;

  if (!ferry_json_get_object (body, "source", &source, error) || !ferry_json_get_object (body, "properties", &props, error)
      || !ferry_json_get_bool (body, "public", &data->public_, error)
      || !ferry_json_get_array (body, "aliases", &aliases, error) || source == NULL
      || !ferry_json_get_string (source, "type", &type, error) || !ferry_json_get_string (source, "name", &name, error))
    {
      if (*error == NULL)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"source\" is required");
      return FALSE;
    }
  if (type == NULL || !g_strv_contains ((const char *const[]){ "instance", "container", "snapshot", NULL }, type))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Image source type \"%s\" isn't supported: Ferry publishes instances and snapshots, and imports "
                   "uploaded tarballs (`ferry image import FILE`)",
                   type ? type : "");
      return FALSE;
    }
  if ((data->aliases = parse_aliases (d, aliases, error)) == NULL
      || (*inst = resolve_publish_source (d, type, name, data, &config_json, error)) == NULL)
    return FALSE;
  data->instance = g_strdup ((*inst)->row->name);
  data->properties = image_properties (props, config_json, error);
  return data->properties != NULL;
}

void
ferry_api_images_publish (FerryRequest *req)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  PublishData *data = g_new0 (PublishData, 1);
  FerryInstance *inst = NULL;
  FerryOperation *op;

  data->daemon = d;
  if (body == NULL || !parse_publish (d, body, data, &inst, &error))
    {
      publish_data_free (data);
      ferry_respond_error (req->msg, error);
      return;
    }
  /* Claimed: no start, restore or delete changes the tree while it is packed. */
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Downloading image");
  if (!ferry_instance_claim (inst, op, "publish", &error))
    {
      ferry_operation_unref (op);
      publish_data_free (data);
      ferry_respond_error (req->msg, error);
      return;
    }
  ferry_operation_run (op, publish_work, publish_done, data, (GDestroyNotify) publish_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
}
