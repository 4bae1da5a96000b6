/* /1.0/images and /1.0/images/aliases. */
#include "daemon/api/api.h"
#include "daemon/http/http-guard.h"
#include "daemon/images.h"
#include "daemon/operations.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/testhook.h"
#include "common/timeutil.h"
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static JsonNode *
image_json (FerryDbImage *img, GPtrArray *aliases)
{
  JsonObject *o = json_object_new ();
  JsonArray *alias_arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonObject) props = ferry_json_parse_object (img->properties_json, strlen (img->properties_json), TRUE,
                                                          NULL);
  /* As LXD stores an imported image's dates: created_at and expires_at are
   * time.Unix() of the metadata's creation_date and expiry_date (the epoch
   * when absent); last_used_at stays Go's zero time until first use. */
  g_autofree char *created = ferry_time_rfc3339_epoch (img->created_at);
  g_autofree char *expires = ferry_time_rfc3339_epoch (0);
  g_autofree char *uploaded = ferry_time_rfc3339 (img->uploaded_at);
  g_autofree char *used = ferry_time_rfc3339 (img->last_used_at);

  for (guint i = 0; aliases && i < aliases->len; i++)
    {
      FerryDbAlias *a = g_ptr_array_index (aliases, i);
      if (strcmp (a->fingerprint, img->fingerprint) != 0)
        continue;
      JsonObject *ao = json_object_new ();
      json_object_set_string_member (ao, "name", a->name);
      json_object_set_string_member (ao, "description", a->description);
      json_array_add_object_element (alias_arr, ao);
    }
  json_object_set_array_member (o, "aliases", alias_arr);
  json_object_set_string_member (o, "architecture", img->architecture);
  json_object_set_boolean_member (o, "auto_update", FALSE);
  json_object_set_boolean_member (o, "cached", FALSE);
  json_object_set_string_member (o, "fingerprint", img->fingerprint);
  json_object_set_string_member (o, "filename", img->filename);
  json_object_set_object_member (o, "properties", props ? json_object_ref (props) : json_object_new ());
  json_object_set_boolean_member (o, "public", img->public_);
  json_object_set_int_member (o, "size", img->size);
  json_object_set_string_member (o, "type", "container");
  json_object_set_string_member (o, "created_at", created);
  json_object_set_string_member (o, "uploaded_at", uploaded);
  json_object_set_string_member (o, "last_used_at", used);
  json_object_set_string_member (o, "expires_at", expires);
  {
    const char *profiles[] = { "default", NULL };
    json_object_set_member (o, "profiles", ferry_json_string_list (profiles));
  }
  json_node_take_object (node, o);
  return node;
}

static JsonNode *
alias_json (FerryDbAlias *a)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (o, "name", a->name);
  json_object_set_string_member (o, "target", a->fingerprint);
  json_object_set_string_member (o, "description", a->description);
  json_object_set_string_member (o, "type", "container");
  json_node_take_object (node, o);
  return node;
}

/* POST /1.0/images with the tarball as the body. */
typedef struct
{
  FerryDaemon *daemon;
  char *upload;
  char *filename;
  gboolean public_;
  FerryImageInfo *info;
} ImportData;

static void
import_data_free (ImportData *data)
{
  if (data->upload)
    unlink (data->upload);
  g_free (data->upload);
  g_free (data->filename);
  if (data->info)
    ferry_image_info_free (data->info);
  g_free (data);
}

static gboolean
import_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  ImportData *data = user_data;

  data->info = ferry_image_import (data->daemon->layout->images, data->upload, error);
  if (data->info != NULL)
    ferry_test_crash_point ("import-after-store");
  return data->info != NULL;
}

static void
import_done (FerryOperation *op, gpointer user_data, GError **error)
{
  ImportData *data = user_data;

  if (*error != NULL)
    return;
  if (data->filename != NULL && *data->filename != '\0')
    {
      g_free (data->info->filename);
      data->info->filename = g_path_get_basename (data->filename);
    }
  if (!ferry_images_record (data->daemon, data->info, data->public_, error))
    {
      ferry_image_delete (data->daemon->layout->images, data->info->fingerprint, NULL);
      return;
    }
  ferry_operation_set_metadata_string (op, "fingerprint", data->info->fingerprint);
  ferry_operation_set_metadata_int (op, "size", data->info->size);
  /* LXD drops them silently; the client shows this note. */
  if (data->info->skipped_device_nodes > 0)
    {
      g_message ("Image %s: %u device nodes under rootfs/dev/ skipped (containers get a fresh /dev)",
                 data->info->fingerprint, data->info->skipped_device_nodes);
      ferry_operation_set_metadata_int (op, "skipped_device_nodes", data->info->skipped_device_nodes);
    }
  {
    g_autofree char *url = g_strdup_printf ("/1.0/images/%s", data->info->fingerprint);
    ferry_events_lifecycle (data->daemon, "image-created", url, NULL);
  }
}

static void
import_image (FerryRequest *req)
{
  FerryDaemon *d = req->daemon;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  const char *content_type = soup_message_headers_get_content_type (headers, NULL);
  const char *filename = soup_message_headers_get_one (headers, "X-LXD-filename");
  const char *public_ = soup_message_headers_get_one (headers, "X-LXD-public");
  g_autofree char *upload = NULL;
  goffset size = 0;
  ImportData *data;
  FerryOperation *op;

  if (content_type != NULL && strcmp (content_type, "application/json") == 0)
    {
      ferry_api_images_publish (req);
      return;
    }
  if (content_type != NULL && g_str_has_prefix (content_type, "multipart/"))
    {
      ferry_respond_error_literal (req->msg, 400, "Split images (metadata + rootfs) aren't supported yet; "
                                                  "import a unified tarball");
      return;
    }
  /* The body went to a file under ROOT/images as it came (http-guard.c). */
  upload = ferry_http_guard_steal_upload (req->msg, &size);
  if (upload == NULL || size == 0)
    {
      if (upload != NULL)
        unlink (upload);
      ferry_respond_error_literal (req->msg, 400, "The upload is empty");
      return;
    }

  data = g_new0 (ImportData, 1);
  data->daemon = d;
  data->upload = g_steal_pointer (&upload);
  data->filename = g_strdup (filename);
  data->public_ = g_strcmp0 (public_, "true") == 0 || g_strcmp0 (public_, "1") == 0;
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Importing image");
  ferry_operation_run (op, import_work, import_done, data, (GDestroyNotify) import_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
}

typedef struct
{
  FerryDaemon *daemon;
  char *fingerprint;
} DeleteData;

static void
delete_data_free (DeleteData *data)
{
  g_free (data->fingerprint);
  g_free (data);
}

static gboolean
delete_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  DeleteData *data = user_data;
  return ferry_image_delete (data->daemon->layout->images, data->fingerprint, error);
}

static void
delete_done (FerryOperation *op, gpointer user_data, GError **error)
{
  DeleteData *data = user_data;
  g_autofree char *url = g_strdup_printf ("/1.0/images/%s", data->fingerprint);

  if (*error == NULL && ferry_db_image_delete (data->daemon->db, data->fingerprint, error))
    ferry_events_lifecycle (data->daemon, "image-deleted", url, NULL);
}

static const char *
alias_name (gpointer item)
{
  return ((FerryDbAlias *) item)->name;
}

static JsonNode *
alias_item_json (gpointer item, gpointer unused)
{
  return alias_json (item);
}

void
ferry_api_image_aliases_list (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) aliases = ferry_db_alias_list (req->daemon->db, &error);

  if (aliases == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  ferry_api_respond_collection (req, aliases, "/1.0/images/aliases/", alias_name, alias_item_json, NULL);
}

/* name, target (an alias, fingerprint or prefix: resolved) and
 * description of an alias body; *fp the target's fingerprint. */
static gboolean
parse_alias_body (FerryRequest *req, JsonObject **body, const char **name, const char **target,
                  const char **description, char **fp, GError **error)
{
  *body = ferry_request_json (req, FALSE, error);
  return *body != NULL && ferry_json_get_string (*body, "name", name, error)
         && ferry_json_get_string (*body, "target", target, error)
         && ferry_json_get_string (*body, "description", description, error)
         && ferry_name_validate_object ("Alias", *name, error)
         && (*fp = ferry_images_resolve (req->daemon, *target, error)) != NULL;
}

void
ferry_api_image_aliases_create (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  const char *name = NULL, *target = NULL, *description = "";
  g_autofree char *fp = NULL;
  FerryDbAlias row;

  if (!parse_alias_body (req, &body, &name, &target, &description, &fp, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  row = (FerryDbAlias){ .name = (char *) name, .fingerprint = fp, .description = (char *) description };
  if (ferry_db_alias_insert (req->daemon->db, &row, &error))
    ferry_respond_sync_location (req->msg, "images/aliases", name);
  else if (g_error_matches (error, FERRY_ERROR, FERRY_ERROR_CONFLICT))
    {
      g_autofree char *text = g_strdup_printf ("Alias \"%s\" already exists", name);
      ferry_respond_error_literal (req->msg, 409, text);
    }
  else
    ferry_respond_error (req->msg, error);
}

/* The alias /1.0/images/aliases/NAME names, from ALIASES (read here);
 * NULL once it answered why not. */
static FerryDbAlias *
lookup_alias (FerryRequest *req, GPtrArray **aliases)
{
  g_autoptr (GError) error = NULL;

  *aliases = ferry_db_alias_list (req->daemon->db, &error);
  if (*aliases == NULL)
    {
      ferry_respond_error (req->msg, error);
      return NULL;
    }
  for (guint i = 0; i < (*aliases)->len; i++)
    if (strcmp (((FerryDbAlias *) g_ptr_array_index (*aliases, i))->name, req->parts[2]) == 0)
      return g_ptr_array_index (*aliases, i);
  ferry_respond_error_literal (req->msg, 404, "Image alias not found");
  return NULL;
}

void
ferry_api_image_alias_get (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) aliases = NULL;
  FerryDbAlias *alias = lookup_alias (req, &aliases);

  /* An alias's ETag covers all of it, as LXD's. */
  if (alias != NULL)
    ferry_respond_sync_etag (req->msg, alias_json (alias), NULL);
}

void
ferry_api_image_alias_delete (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) aliases = NULL;
  g_autoptr (GError) error = NULL;
  FerryDbAlias *alias = lookup_alias (req, &aliases);

  if (alias == NULL)
    return;
  if (ferry_db_alias_delete (req->daemon->db, alias->name, &error))
    ferry_respond_sync_empty (req->msg);
  else
    ferry_respond_error (req->msg, error);
}

/* POST renames; PUT/PATCH change the target and description. */
void
ferry_api_image_alias_update (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) aliases = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  FerryDbAlias *alias = lookup_alias (req, &aliases);
  const char *name, *target, *description;
  g_autofree char *fp = NULL;
  FerryDbAlias row;
  gboolean rename;
  g_autoptr (JsonNode) now = NULL;

  if (alias == NULL)
    return;
  rename = strcmp (req->method, "POST") == 0;
  now = alias_json (alias);
  name = alias->name, target = alias->fingerprint, description = alias->description;
  if ((!rename && !ferry_request_if_match (req, now, NULL, &error))
      || !parse_alias_body (req, &body, &name, &target, &description, &fp, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (!rename)
    name = alias->name;
  row = (FerryDbAlias){ .name = (char *) name, .fingerprint = fp, .description = (char *) description };
  if (!ferry_db_alias_update (req->daemon->db, alias->name, &row, &error))
    ferry_respond_error (req->msg, error);
  else if (rename)
    ferry_respond_sync_location (req->msg, "images/aliases", name);
  else
    ferry_respond_sync_empty (req->msg);
}

static const char *
image_fingerprint (gpointer item)
{
  return ((FerryDbImage *) item)->fingerprint;
}

static JsonNode *
image_item_json (gpointer item, gpointer aliases)
{
  return image_json (item, aliases);
}

void
ferry_api_images_list (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) images = ferry_db_image_list (d->db, &error);
  g_autoptr (GPtrArray) aliases = images ? ferry_db_alias_list (d->db, &error) : NULL;

  if (aliases == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  ferry_api_respond_collection (req, images, "/1.0/images/", image_fingerprint, image_item_json, aliases);
}

void
ferry_api_images_import (FerryRequest *req, FerryInstance *unused)
{
  import_image (req);
}

/* The image /1.0/images/REF names: only full fingerprints or unique
 * prefixes address an image here. NULL once it answered why not. */
typedef struct
{
  GPtrArray *images;
  GPtrArray *aliases;
  FerryDbImage *image;
} ImageLookup;

static void
image_lookup_clear (ImageLookup *l)
{
  g_clear_pointer (&l->images, g_ptr_array_unref);
  g_clear_pointer (&l->aliases, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ImageLookup, image_lookup_clear)

static gboolean
lookup_image (FerryRequest *req, ImageLookup *l)
{
  g_autoptr (GError) error = NULL;
  const char *ref = req->parts[1];
  const char *fp = NULL;

  l->images = ferry_db_image_list (req->daemon->db, &error);
  l->aliases = l->images ? ferry_db_alias_list (req->daemon->db, &error) : NULL;
  if (l->aliases == NULL)
    {
      ferry_respond_error (req->msg, error);
      return FALSE;
    }
  for (const char *c = ref; *c; c++)
    if (!g_ascii_isxdigit (*c))
      {
        ferry_respond_error_literal (req->msg, 404, "Image not found");
        return FALSE;
      }
  for (guint i = 0; i < l->images->len; i++)
    {
      FerryDbImage *im = g_ptr_array_index (l->images, i);
      if (g_str_has_prefix (im->fingerprint, ref))
        {
          if (fp != NULL)
            {
              ferry_respond_error_literal (req->msg, 400, "Image prefix matches several images");
              return FALSE;
            }
          fp = im->fingerprint;
        }
    }
  l->image = fp ? ferry_images_find (l->images, fp) : NULL;
  if (l->image == NULL)
    {
      ferry_respond_error_literal (req->msg, 404, "Image not found");
      return FALSE;
    }
  return TRUE;
}

/* What an image's ETag covers: the fields LXD's covers (expires_at and
 * profiles are fixed in Ferry). */
static const char *const image_writable[] = { "public", "auto_update", "properties", NULL };

void
ferry_api_image_get (FerryRequest *req, FerryInstance *unused)
{
  g_auto (ImageLookup) l = { 0 };

  if (lookup_image (req, &l))
    ferry_respond_sync_etag (req->msg, image_json (l.image, l.aliases), image_writable);
}

/* GET /1.0/images/FP/export: the unified tarball as stored, named as LXD
 * names it (lxc image export reads the name from Content-Disposition and
 * checks the fingerprint of what it got). */
void
ferry_api_image_export (FerryRequest *req, FerryInstance *unused)
{
  g_auto (ImageLookup) l = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *path = NULL, *disposition = NULL;
  const char *ext = NULL;
  SoupMessageHeaders *headers;

  if (!lookup_image (req, &l))
    return;
  path = ferry_image_tarball_path (req->daemon->layout->images, l.image->fingerprint, &ext, &error);
  if (path == NULL || (file = g_mapped_file_new (path, FALSE, &error)) == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  bytes = g_mapped_file_get_bytes (file);
  disposition = g_strdup_printf ("inline;filename=%s%s", l.image->fingerprint, ext);
  headers = soup_server_message_get_response_headers (req->msg);
  soup_message_headers_set_content_type (headers, "application/octet-stream", NULL);
  soup_message_headers_replace (headers, "Content-Disposition", disposition);
  soup_server_message_set_status (req->msg, 200, NULL);
  soup_message_body_append_bytes (soup_server_message_get_response_body (req->msg), bytes);
}

void
ferry_api_image_delete (FerryRequest *req, FerryInstance *unused)
{
  g_auto (ImageLookup) l = { 0 };
  g_autofree char *url = NULL;
  DeleteData *data;
  FerryOperation *op;

  if (!lookup_image (req, &l))
    return;
  data = g_new0 (DeleteData, 1);
  op = ferry_operation_new (req->daemon, FERRY_OP_CLASS_TASK, "Deleting image");
  data->daemon = req->daemon;
  data->fingerprint = g_strdup (l.image->fingerprint);
  url = g_strdup_printf ("/1.0/images/%s", l.image->fingerprint);
  ferry_operation_add_resource (op, "images", url);
  ferry_operation_run (op, delete_work, delete_done, data, (GDestroyNotify) delete_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
}

void
ferry_api_image_update (FerryRequest *req, FerryInstance *unused)
{
  g_auto (ImageLookup) l = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  gboolean public_;
  JsonObject *props = NULL;
  g_autoptr (JsonNode) now = NULL;

  if (!lookup_image (req, &l))
    return;
  public_ = l.image->public_;
  now = image_json (l.image, l.aliases);
  if (!ferry_request_if_match (req, now, image_writable, &error)
      || (body = ferry_request_json (req, FALSE, &error)) == NULL
      || !ferry_json_get_bool (body, "public", &public_, &error)
      || !ferry_json_get_object (body, "properties", &props, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (props != NULL)
    {
      g_autoptr (GHashTable) map = ferry_json_string_map (props, "Property", &error);
      if (map == NULL)
        {
          ferry_respond_error (req->msg, error);
          return;
        }
      g_free (l.image->properties_json);
      l.image->properties_json = ferry_images_properties_json (map);
    }
  l.image->public_ = public_;
  if (ferry_db_image_update (req->daemon->db, l.image, &error))
    ferry_respond_sync_empty (req->msg);
  else
    ferry_respond_error (req->msg, error);
}
