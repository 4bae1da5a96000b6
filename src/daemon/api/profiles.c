/* /1.0/profiles: the default profile and user profiles. */
#include "daemon/validate.h"
#include "daemon/disk-devices.h"
#include "daemon/api/api.h"
#include "daemon/instance.h"
#include "common/error.h"
#include "common/json.h"
#include "common/names.h"

#include <string.h>

static gboolean
instance_uses (FerryInstance *inst, const char *profile)
{
  g_autoptr (JsonNode) root = ferry_json_parse (inst->row->profiles_json, -1, NULL);

  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    return FALSE;
  for (guint i = 0; i < json_array_get_length (json_node_get_array (root)); i++)
    if (g_strcmp0 (json_array_get_string_element (json_node_get_array (root), i), profile) == 0)
      return TRUE;
  return FALSE;
}

static GPtrArray *
users_of (FerryDaemon *d, const char *profile)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      FerryInstance *inst = value;
      if (!inst->creating && instance_uses (inst, profile))
        g_ptr_array_add (names, g_strdup (inst->row->name));
    }
  return names;
}

static JsonNode *
profile_json (FerryDaemon *d, FerryDbProfile *p)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonObject) config = ferry_json_parse_object (p->config_json, strlen (p->config_json), TRUE, NULL);
  g_autoptr (JsonObject) devices = ferry_json_parse_object (p->devices_json, strlen (p->devices_json), TRUE, NULL);
  g_autoptr (GPtrArray) users = users_of (d, p->name);

  json_object_set_string_member (o, "name", p->name);
  json_object_set_string_member (o, "description", p->description);
  json_object_set_object_member (o, "config", json_object_ref (config));
  json_object_set_object_member (o, "devices", json_object_ref (devices));
  json_object_set_member (o, "used_by", ferry_json_url_list ("/1.0/instances/", users));
  json_node_take_object (node, o);
  return node;
}

/* Reads config/devices of a body into JSON texts after validation. */
static gboolean
parse_profile_body (JsonObject *body, FerryDbProfile *p, gboolean patch, GError **error)
{
  JsonObject *config_obj = NULL, *devices_obj = NULL;
  const char *description = NULL;
  g_autoptr (GHashTable) config = NULL;

  if (!ferry_json_get_object (body, "config", &config_obj, error)
      || !ferry_json_get_object (body, "devices", &devices_obj, error)
      || !ferry_json_get_string (body, "description", &description, error))
    return FALSE;
  config = ferry_json_string_map (config_obj, "Config", error);
  if (config == NULL || !ferry_config_validate (config, TRUE, error) || !ferry_devices_validate (devices_obj, error))
    return FALSE;
  if (config_obj != NULL || !patch)
    {
      g_autoptr (GHashTable) merged = NULL;
      if (patch)
        {
          g_autoptr (JsonObject) old = ferry_json_parse_object (p->config_json, strlen (p->config_json), TRUE, NULL);
          merged = ferry_json_string_map (old, "Config", NULL);
          GHashTableIter iter;
          gpointer k, v;
          g_hash_table_iter_init (&iter, config);
          while (g_hash_table_iter_next (&iter, &k, &v))
            g_hash_table_insert (merged, g_strdup (k), g_strdup (v));
        }
      g_autoptr (JsonNode) cn = ferry_json_from_string_map (merged ? merged : config);
      g_free (p->config_json);
      p->config_json = ferry_json_to_string (cn, FALSE);
    }
  if (devices_obj != NULL || !patch)
    {
      g_autoptr (JsonObject) result = NULL;
      if (patch)
        {
          JsonObjectIter iter;
          const char *k;
          JsonNode *v;
          result = ferry_json_parse_object (p->devices_json, strlen (p->devices_json), TRUE, NULL);
          json_object_iter_init (&iter, devices_obj);
          while (json_object_iter_next (&iter, &k, &v))
            json_object_set_member (result, k, json_node_copy (v));
        }
      else
        result = devices_obj ? json_object_ref (devices_obj) : json_object_new ();
      JsonNode *n = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (n, result);
      g_free (p->devices_json);
      p->devices_json = ferry_json_to_string (n, FALSE);
      json_node_unref (n);
    }
  if (description != NULL || !patch)
    {
      g_free (p->description);
      p->description = g_strdup (description ? description : "");
    }
  return TRUE;
}

static const char *
profile_name (gpointer item)
{
  return ((FerryDbProfile *) item)->name;
}

static JsonNode *
profile_item_json (gpointer item, gpointer d)
{
  return profile_json (d, item);
}

void
ferry_api_profiles_list (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, &error);

  if (profiles == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  ferry_api_respond_collection (req, profiles, "/1.0/profiles/", profile_name, profile_item_json, d);
}

static FerryDbProfile *
find_profile (GPtrArray *profiles, const char *name)
{
  for (guint i = 0; i < profiles->len; i++)
    if (strcmp (((FerryDbProfile *) g_ptr_array_index (profiles, i))->name, name) == 0)
      return g_ptr_array_index (profiles, i);
  return NULL;
}

void
ferry_api_profiles_create (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, &error);
  g_autoptr (JsonObject) body = NULL;
  const char *name = NULL;
  FerryDbProfile row = { 0 };
  gboolean ok;

  if (profiles == NULL || (body = ferry_request_json (req, FALSE, &error)) == NULL
      || !ferry_json_get_string (body, "name", &name, &error) || !ferry_name_validate_object ("Profile", name, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (find_profile (profiles, name) != NULL)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Profile \"%s\" already exists", name);
      ferry_respond_error (req->msg, error);
      return;
    }
  row.name = g_strdup (name);
  row.config_json = g_strdup ("{}");
  row.devices_json = g_strdup ("{}");
  row.description = g_strdup ("");
  ok = parse_profile_body (body, &row, FALSE, &error) && ferry_db_profile_upsert (d->db, &row, &error);
  g_free (row.name);
  g_free (row.config_json);
  g_free (row.devices_json);
  g_free (row.description);
  if (ok)
    ferry_respond_sync_location (req->msg, "profiles", name);
  else
    ferry_respond_error (req->msg, error);
}

/* The profile /1.0/profiles/NAME names, from PROFILES (read here); NULL
 * once it answered why not. */
static FerryDbProfile *
lookup_profile (FerryRequest *req, GPtrArray **profiles)
{
  g_autoptr (GError) error = NULL;
  FerryDbProfile *p;

  *profiles = ferry_db_profile_list (req->daemon->db, &error);
  if (*profiles == NULL)
    {
      ferry_respond_error (req->msg, error);
      return NULL;
    }
  p = find_profile (*profiles, req->parts[1]);
  if (p == NULL)
    ferry_respond_error_literal (req->msg, 404, "Fetch profile: Profile not found");
  return p;
}

/* What a profile's ETag covers: the fields of its PUT. */
static const char *const profile_writable[] = { "config", "description", "devices", NULL };

void
ferry_api_profile_get (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) profiles = NULL;
  FerryDbProfile *p = lookup_profile (req, &profiles);

  if (p != NULL)
    ferry_respond_sync_etag (req->msg, profile_json (req->daemon, p), profile_writable);
}

/* The running instances that use PROFILE, each with its expanded devices
 * now (what a change of the profile is applied against). */
typedef struct
{
  FerryInstance *inst;
  JsonObject *devices;
} RunningUser;

static void
running_user_free (RunningUser *u)
{
  json_object_unref (u->devices);
  g_free (u);
}

static GPtrArray *
running_users (FerryDaemon *d, const char *profile)
{
  GPtrArray *users = g_ptr_array_new_with_free_func ((GDestroyNotify) running_user_free);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      FerryInstance *inst = value;
      if (inst->creating || !instance_uses (inst, profile) || !ferry_instance_is_running (d, inst))
        continue;
      RunningUser *u = g_new0 (RunningUser, 1);
      u->inst = inst;
      u->devices = ferry_instance_expanded_devices (d, inst);
      g_ptr_array_add (users, u);
    }
  return users;
}

/* Disk devices change live in the running instances that use the profile,
 * as in LXD. When one refuses, the profile is put back as it was (BEFORE)
 * and so are the instances already changed. */
static gboolean
apply_to_running (FerryDaemon *d, GPtrArray *running, const FerryDbProfile *before, GError **error)
{
  guint i;

  for (i = 0; i < running->len; i++)
    {
      RunningUser *u = g_ptr_array_index (running, i);
      if (!ferry_disk_devices_apply_live (d, u->inst, u->devices, error))
        break;
    }
  if (i == running->len)
    return TRUE;
  g_prefix_error (error, "Instance %s: ", ((RunningUser *) g_ptr_array_index (running, i))->inst->row->name);
  g_autoptr (GPtrArray) now = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  for (guint j = 0; j < i; j++)
    g_ptr_array_add (now, ferry_instance_expanded_devices (d, ((RunningUser *) g_ptr_array_index (running, j))->inst));
  if (!ferry_db_profile_upsert (d->db, before, NULL))
    return FALSE;
  for (guint j = 0; j < i; j++)
    ferry_disk_devices_apply_live (d, ((RunningUser *) g_ptr_array_index (running, j))->inst,
                                   g_ptr_array_index (now, j), NULL);
  return FALSE;
}

void
ferry_api_profile_update (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) profiles = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  FerryDbProfile *p = lookup_profile (req, &profiles);
  g_autoptr (JsonNode) now = NULL;

  if (p == NULL)
    return;
  now = profile_json (req->daemon, p);
  if (!ferry_request_if_match (req, now, profile_writable, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  body = ferry_request_json (req, FALSE, &error);
  FerryDbProfile before = { .name = p->name, .description = g_strdup (p->description),
                            .config_json = g_strdup (p->config_json), .devices_json = g_strdup (p->devices_json) };
  g_autoptr (GPtrArray) running = running_users (req->daemon, p->name);
  if (body == NULL || !parse_profile_body (body, p, strcmp (req->method, "PATCH") == 0, &error)
      || !ferry_db_profile_upsert (req->daemon->db, p, &error)
      || !apply_to_running (req->daemon, running, &before, &error))
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_sync_empty (req->msg);
  g_free (before.description);
  g_free (before.config_json);
  g_free (before.devices_json);
}

/* DELETE, or POST (a rename): neither of the default profile, nor of a
 * profile in use. */
void
ferry_api_profile_delete_or_rename (FerryRequest *req, FerryInstance *unused)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GPtrArray) profiles = NULL;
  g_autoptr (GPtrArray) users = NULL;
  g_autoptr (GError) error = NULL;
  gboolean delete = strcmp (req->method, "DELETE") == 0;
  FerryDbProfile *p = lookup_profile (req, &profiles);

  if (p == NULL)
    return;
  users = users_of (d, p->name);
  if (strcmp (p->name, "default") == 0)
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN, "The \"default\" profile cannot be %s",
                 delete ? "deleted" : "renamed");
  else if (users->len > 0)
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Profile is currently in use by %u instance(s)",
                 users->len);
  else if (delete)
    ferry_db_profile_delete (d->db, p->name, &error);
  else
    {
      g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
      const char *name = NULL;
      if (body != NULL && ferry_json_get_string (body, "name", &name, &error)
          && ferry_name_validate_object ("Profile", name, &error)
          && ferry_db_profile_rename (d->db, p->name, name, &error))
        {
          ferry_respond_sync_location (req->msg, "profiles", name);
          return;
        }
    }
  if (error != NULL)
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_sync_empty (req->msg);
}
