/* /1.0/projects: Ferry has one project, LXD's "default", with every feature
 * on (instances, images, profiles, networks and volumes all live in it).
 * Clients see it as LXD shows its default project; other projects are
 * refused, here and in ?project= of every endpoint (routes.c). */
#include "daemon/api/api.h"

#include "common/error.h"
#include "common/json.h"

#include <string.h>

/* The default project's config: what LXD's database gives it. */
static const char *const default_features[] = {
  "features.images",
  "features.networks",
  "features.profiles",
  "features.storage.volumes",
  NULL,
};

static const char default_description[] = "Default LXD project";

/* g_ptr_array_sort's comparator of an array of strings (it passes
 * pointers to the elements). */
static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
add_url (GPtrArray *urls, const char *collection, const char *name)
{
  g_autofree char *escaped = g_uri_escape_string (name, NULL, FALSE);

  g_ptr_array_add (urls, g_strdup_printf ("/1.0/%s/%s", collection, escaped));
}

/* What LXD lists in the default project's used_by, in its order:
 * instances, profiles, images, then networks. */
static JsonArray *
used_by (FerryDaemon *d)
{
  g_autoptr (GPtrArray) instances = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) urls = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, NULL);
  g_autoptr (GPtrArray) images = ferry_db_image_list (d->db, NULL);
  JsonArray *out = json_array_new ();
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      FerryInstance *inst = v;
      if (!inst->creating && !ferry_instance_is_rename_placeholder (inst))
        add_url (instances, "instances", inst->row->name);
    }
  g_ptr_array_sort (instances, compare_strings);
  for (guint i = 0; i < instances->len; i++)
    g_ptr_array_add (urls, g_strdup (g_ptr_array_index (instances, i)));
  for (guint i = 0; profiles != NULL && i < profiles->len; i++)
    add_url (urls, "profiles", ((FerryDbProfile *) g_ptr_array_index (profiles, i))->name);
  for (guint i = 0; images != NULL && i < images->len; i++)
    add_url (urls, "images", ((FerryDbImage *) g_ptr_array_index (images, i))->fingerprint);
  ferry_api_network_urls (d, urls);
  for (guint i = 0; i < urls->len; i++)
    json_array_add_string_element (out, g_ptr_array_index (urls, i));
  return out;
}

static JsonObject *
default_config (void)
{
  JsonObject *config = json_object_new ();

  for (guint i = 0; default_features[i] != NULL; i++)
    json_object_set_string_member (config, default_features[i], "true");
  return config;
}

static JsonNode *
project_json (gpointer unused, gpointer d)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_object_member (o, "config", default_config ());
  json_object_set_string_member (o, "description", default_description);
  json_object_set_string_member (o, "name", "default");
  json_object_set_array_member (o, "used_by", used_by (d));
  json_node_take_object (node, o);
  return node;
}

static const char *
project_name (gpointer name)
{
  return name;
}

void
ferry_api_projects_list (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();

  g_ptr_array_add (names, (gpointer) "default");
  ferry_api_respond_collection (req, names, "/1.0/projects/", project_name, project_json, req->daemon);
}

void
ferry_api_projects_create (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  const char *name = NULL;

  if (body != NULL && ferry_json_get_string (body, "name", &name, &error))
    {
      if (name != NULL && strcmp (name, "default") == 0)
        g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "A project named \"default\" already exists");
      else
        g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID,
                     "Ferry has only the default project: other projects cannot be created");
    }
  ferry_respond_error (req->msg, error);
}

/* The project /1.0/projects/NAME names is the default one; else 404. */
static gboolean
is_default (FerryRequest *req)
{
  if (strcmp (req->parts[1], "default") == 0)
    return TRUE;
  ferry_respond_error_literal (req->msg, 404, "Project not found");
  return FALSE;
}

/* What a PUT may change: the ETag covers these, as LXD's. */
static const char *const project_writable[] = { "config", "description", NULL };

void
ferry_api_project_get (FerryRequest *req, FerryInstance *unused)
{
  if (!is_default (req))
    return;
  ferry_respond_sync_etag (req->msg, project_json (NULL, req->daemon), project_writable);
}

/* PUT/PATCH: what is sent must be what the project has (lxc project edit
 * without a change); its features cannot be turned off, since Ferry keeps
 * every kind of object in this one project. */
static gboolean
check_update (FerryRequest *req, gboolean patch, GError **error)
{
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, error);
  JsonObject *config_obj = NULL;
  const char *description = NULL;
  g_autoptr (GHashTable) config = NULL;
  GHashTableIter iter;
  gpointer k, v;

  if (body == NULL || !ferry_json_get_object (body, "config", &config_obj, error)
      || !ferry_json_get_string (body, "description", &description, error))
    return FALSE;
  if (description != NULL && strcmp (description, default_description) != 0 && !(patch && *description == '\0'))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The default project's description cannot be changed");
      return FALSE;
    }
  config = config_obj != NULL ? ferry_json_string_map (config_obj, "Config", error)
                              : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (config == NULL)
    return FALSE;
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (!g_str_has_prefix (k, "features."))
      {
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Project configuration key %s is not supported by Ferry",
                     (char *) k);
        return FALSE;
      }
    else if (patch || !g_strv_contains (default_features, k) || strcmp (v, "true") != 0)
      {
        /* LXD's words and rule: its default project's features are fixed,
         * and a PATCH may not name them at all (a PUT repeats them). */
        g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                             "You can't change the features of the default project");
        return FALSE;
      }
  if (!patch && g_hash_table_size (config) != g_strv_length ((char **) default_features))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "You can't change the features of the default project (none can be removed)");
      return FALSE;
    }
  return TRUE;
}

void
ferry_api_project_update (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) now = NULL;

  if (!is_default (req))
    return;
  now = project_json (NULL, req->daemon);
  if (ferry_request_if_match (req, now, project_writable, &error)
      && check_update (req, strcmp (req->method, "PATCH") == 0, &error))
    ferry_respond_sync_empty (req->msg);
  else
    ferry_respond_error (req->msg, error);
}

/* DELETE and POST (rename): LXD refuses both for its default project. */
void
ferry_api_project_delete_or_rename (FerryRequest *req, FerryInstance *unused)
{
  if (!is_default (req))
    return;
  ferry_respond_error_literal (req->msg, 403, strcmp (req->method, "DELETE") == 0
                                                  ? "The 'default' project cannot be deleted"
                                                  : "The 'default' project cannot be renamed");
}

gboolean
ferry_api_project_check (FerryRequest *req)
{
  const char *project = ferry_request_query (req, "project");

  if (project == NULL || *project == '\0' || strcmp (project, "default") == 0)
    return TRUE;
  ferry_respond_error_literal (req->msg, 404, "Project not found");
  return FALSE;
}
