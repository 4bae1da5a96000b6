/* /1.0/instances/NAME/metadata and /metadata/templates: the instance's
 * metadata.yaml and template files, as LXD keeps them beside the rootfs
 * (containers/NAME/metadata.yaml, containers/NAME/templates/): in the
 * instance's 0700 directory, out of the container's reach, so root inside
 * a running container can neither read nor plant them.
 *
 * A template is named by a plain file name (no '/', not "." or ".."), so
 * no request reaches a file outside templates/; the files there are opened
 * without following a symlink. */
#include "daemon/api/api.h"
#include "image/image.h"
#include "image/metadata.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
metadata_path (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *dir = ferry_layout_instance_dir (d->layout, inst->row->name);

  return g_build_filename (dir, "metadata.yaml", NULL);
}

static char *
templates_dir (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *dir = ferry_layout_instance_dir (d->layout, inst->row->name);

  return g_build_filename (dir, "templates", NULL);
}

/* A regular file's contents (never through a symlink), or NULL with
 * *missing set when there is none. */
static GBytes *
read_regular (const char *path, gboolean *missing, GError **error)
{
  ferry_autofd int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  g_autoptr (GString) data = g_string_new (NULL);
  struct stat st;
  char buf[64 * 1024];
  ssize_t n;

  *missing = FALSE;
  if (fd < 0 && errno == ENOENT)
    {
      *missing = TRUE;
      return NULL;
    }
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", path, g_strerror (errno));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s is not a regular file", path);
      return NULL;
    }
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      g_string_append_len (data, buf, n);
      if (data->len > FERRY_IMAGE_METADATA_MAX)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s is larger than %d bytes", path,
                       FERRY_IMAGE_METADATA_MAX);
          return NULL;
        }
    }
  if (n < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", path, g_strerror (errno));
      return NULL;
    }
  return g_string_free_to_bytes (g_steal_pointer (&data));
}

/* The instance's metadata, normalised as LXD's api.ImageMetadata; LXD's
 * empty one when the instance has no metadata.yaml. */
static JsonNode *
load_metadata (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autofree char *path = metadata_path (d, inst);
  g_autoptr (GBytes) bytes = NULL;
  gboolean missing;
  gsize len = 0;
  const char *data;
  JsonNode *md;

  bytes = read_regular (path, &missing, error);
  if (bytes == NULL && !missing)
    return NULL;
  data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;
  md = ferry_image_metadata_read_json (data != NULL ? data : (bytes != NULL ? "" : NULL), len, error);
  if (md == NULL)
    {
      /* A metadata.yaml LXD could not decode is the server's problem. */
      (*error)->code = FERRY_ERROR_FAILED;
      g_prefix_error (error, "Instance %s: ", inst->row->name);
    }
  return md;
}

static void
lifecycle (FerryDaemon *d, FerryInstance *inst, const char *action, const char *template)
{
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  JsonNode *context = NULL;

  if (template != NULL)
    {
      JsonObject *o = json_object_new ();
      json_object_set_string_member (o, "path", template);
      context = json_node_init_object (json_node_alloc (), o);
      json_object_unref (o);
    }
  ferry_events_lifecycle (d, action, source, context);
}

/* PATCH as Go decodes JSON over the current value: members given replace
 * the current ones, except that the keys of properties and templates are
 * merged in (a template given replaces that template whole). */
static void
patch_over (JsonObject *current, JsonObject *body)
{
  g_autoptr (GList) members = json_object_get_members (body);

  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *given = json_object_get_member (body, l->data);
      JsonNode *have = json_object_get_member (current, l->data);

      if ((strcmp (l->data, "properties") == 0 || strcmp (l->data, "templates") == 0) && JSON_NODE_HOLDS_OBJECT (given)
          && have != NULL && JSON_NODE_HOLDS_OBJECT (have))
        {
          JsonObject *into = json_node_get_object (have);
          g_autoptr (GList) keys = json_object_get_members (json_node_get_object (given));
          for (GList *k = keys; k != NULL; k = k->next)
            json_object_set_member (into, k->data,
                                    json_node_copy (json_object_get_member (json_node_get_object (given), k->data)));
          continue;
        }
      json_object_set_member (current, l->data, json_node_copy (given));
    }
}

static gboolean
metadata_update (FerryRequest *req, FerryInstance *inst, GError **error)
{
  FerryDaemon *d = req->daemon;
  gboolean patch = strcmp (req->method, "PATCH") == 0;
  g_autoptr (JsonNode) current = load_metadata (d, inst, error);
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (JsonNode) doc = NULL;
  g_autoptr (JsonNode) md = NULL;
  g_autofree char *yaml = NULL;
  g_autofree char *path = NULL;

  if (current == NULL || !ferry_request_if_match (req, current, NULL, error))
    return FALSE;
  body = ferry_request_json (req, FALSE, error);
  if (body == NULL)
    return FALSE;
  if (patch)
    {
      doc = json_node_copy (current);
      patch_over (json_node_get_object (doc), body);
    }
  else
    doc = json_node_init_object (json_node_alloc (), body);
  md = ferry_image_metadata_normalise (doc, FERRY_METADATA_FROM_JSON, error);
  if (md == NULL)
    return FALSE;
  yaml = ferry_image_metadata_write_yaml (md);
  path = metadata_path (d, inst);
  if (!ferry_write_file_atomic (path, yaml, -1, 0644, error))
    return FALSE;
  lifecycle (d, inst, "instance-metadata-updated", NULL);
  ferry_respond_sync_empty (req->msg);
  return TRUE;
}

void
ferry_api_instance_metadata (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;

  if (strcmp (req->method, "GET") == 0)
    {
      JsonNode *md = load_metadata (req->daemon, inst, &error);

      if (md != NULL)
        {
          lifecycle (req->daemon, inst, "instance-metadata-retrieved", NULL);
          ferry_respond_sync_etag (req->msg, md, NULL);
        }
    }
  else
    metadata_update (req, inst, &error);
  if (error != NULL)
    ferry_respond_error (req->msg, error);
}

/* ---- templates ---- */

/* LXD answers a name with '/' with this error (a 500, as its SmartError
 * gives for a plain error); "." and ".." would name directories. */
static gboolean
check_template_name (const char *name, GError **error)
{
  if (!ferry_image_template_name_valid (name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Invalid template filename");
      return FALSE;
    }
  return TRUE;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
templates_list (FerryRequest *req, FerryInstance *inst, GError **error)
{
  g_autofree char *dir_path = templates_dir (req->daemon, inst);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) local = NULL;
  JsonArray *arr = json_array_new ();
  const char *name;

  dir = g_dir_open (dir_path, 0, &local);
  if (dir == NULL && !g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      json_array_unref (arr);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Listing templates: %s", local->message);
      return;
    }
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *full = g_build_filename (dir_path, name, NULL);
      struct stat st;
      if (lstat (full, &st) == 0 && !S_ISDIR (st.st_mode))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    json_array_add_string_element (arr, names->pdata[i]);
  ferry_respond_sync (req->msg, json_node_init_array (json_node_alloc (), arr));
  json_array_unref (arr);
}

static void
template_get (FerryRequest *req, FerryInstance *inst, const char *name, GError **error)
{
  g_autofree char *dir = templates_dir (req->daemon, inst);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *disposition = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gboolean missing;

  bytes = read_regular (path, &missing, error);
  if (missing)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Template \"%s\" not found", name);
  if (bytes == NULL)
    return;
  lifecycle (req->daemon, inst, "instance-metadata-template-retrieved", name);
  /* As LXD's FileResponse of one file. */
  disposition = g_strdup_printf ("inline;filename=%s", name);
  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg), "Content-Disposition",
                                disposition);
  ferry_respond_raw (req->msg, "application/octet-stream", bytes);
}

static void
template_put (FerryRequest *req, FerryInstance *inst, const char *name, GError **error)
{
  g_autofree char *dir = templates_dir (req->daemon, inst);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gsize len = 0;
  const char *data = req->body != NULL ? g_bytes_get_data (req->body, &len) : NULL;
  struct stat st;

  if (len > FERRY_IMAGE_TEMPLATE_MAX)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template larger than %d bytes", FERRY_IMAGE_TEMPLATE_MAX);
      return;
    }
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", dir, g_strerror (errno));
      return;
    }
  /* Replaced by a rename: a directory of that name is not a template. */
  if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template \"%s\" is a directory", name);
      return;
    }
  if (!ferry_write_file_atomic (path, data != NULL ? data : "", (gssize) len, 0644, error))
    return;
  lifecycle (req->daemon, inst, "instance-metadata-template-created", name);
  ferry_respond_sync_empty (req->msg);
}

static void
template_delete (FerryRequest *req, FerryInstance *inst, const char *name, GError **error)
{
  g_autofree char *dir = templates_dir (req->daemon, inst);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  struct stat st;

  if (lstat (path, &st) < 0 || S_ISDIR (st.st_mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Template \"%s\" not found", name);
      return;
    }
  if (unlink (path) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Deleting template \"%s\": %s", name, g_strerror (errno));
      return;
    }
  lifecycle (req->daemon, inst, "instance-metadata-template-deleted", name);
  ferry_respond_sync_empty (req->msg);
}

void
ferry_api_instance_templates (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  const char *name = ferry_request_query (req, "path");
  gboolean get = strcmp (req->method, "GET") == 0;

  if (name == NULL || *name == '\0')
    {
      if (get)
        templates_list (req, inst, &error);
      else
        g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "missing path argument");
    }
  else if (check_template_name (name, &error))
    {
      if (get)
        template_get (req, inst, name, &error);
      else if (strcmp (req->method, "DELETE") == 0)
        template_delete (req, inst, name, &error);
      else
        template_put (req, inst, name, &error);
    }
  if (error != NULL)
    ferry_respond_error (req->msg, error);
}
