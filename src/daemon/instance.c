#include "config.h"
#include "daemon/instance.h"
#include "daemon/http/http.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
ferry_instance_free (FerryInstance *inst)
{
  if (inst == NULL)
    return;
  if (inst->monitor_watch != 0)
    g_source_remove (inst->monitor_watch);
  if (inst->monitor_pidfd >= 0)
    close (inst->monitor_pidfd);
  ferry_db_instance_free (inst->row);
  g_free (inst->busy_what);
  g_free (inst);
}

gboolean
ferry_instance_is_rename_placeholder (FerryInstance *inst)
{
  return inst->creating && inst->row->id == 0 && g_strcmp0 (inst->busy_what, "rename") == 0;
}

FerryInstance *
ferry_instance_lookup (FerryDaemon *d, const char *name, GError **error)
{
  FerryInstance *inst = name ? g_hash_table_lookup (d->instances, name) : NULL;

  if (inst == NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Instance not found");
  return inst;
}

gboolean
ferry_instance_claim (FerryInstance *inst, FerryOperation *op, const char *what, GError **error)
{
  if (inst->busy != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                   "Instance \"%s\" is busy with another operation (%s); try again when it has finished",
                   inst->row->name, inst->busy_what);
      return FALSE;
    }
  inst->busy = op;
  inst->busy_what = g_strdup (what);
  return TRUE;
}

void
ferry_instance_release (FerryInstance *inst)
{
  inst->busy = NULL;
  g_clear_pointer (&inst->busy_what, g_free);
}

FerryInstance *
ferry_instance_release_by_name (FerryDaemon *d, const char *name)
{
  FerryInstance *inst = g_hash_table_lookup (d->instances, name);

  if (inst != NULL)
    ferry_instance_release (inst);
  return inst;
}

gboolean
ferry_instance_save (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  return ferry_db_instance_update (d->db, inst->row, error);
}

/* ---- config ---- */

static GHashTable *parse_config_json (const char *json);

GHashTable *
ferry_instance_own_config (FerryInstance *inst)
{
  return parse_config_json (inst->row->config_json);
}

void
ferry_instance_set_own_config (FerryInstance *inst, GHashTable *config)
{
  g_autoptr (JsonNode) node = ferry_json_from_string_map (config);

  g_free (inst->row->config_json);
  inst->row->config_json = ferry_json_to_string (node, FALSE);
}

/* The string values of a config object; empty if any value is not a string. */
static GHashTable *
config_map (JsonObject *obj)
{
  GHashTable *map = obj ? ferry_json_string_map (obj, "Config", NULL) : NULL;

  return map ? map : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static GHashTable *
parse_config_json (const char *json)
{
  g_autoptr (JsonObject) obj = ferry_json_parse_object (json, json ? strlen (json) : 0, TRUE, NULL);

  return config_map (obj);
}

JsonObject *
ferry_instance_parse_object (const char *json)
{
  JsonObject *obj = ferry_json_parse_object (json, json ? strlen (json) : 0, TRUE, NULL);
  return obj ? obj : json_object_new ();
}

char **
ferry_instance_parse_profiles (const char *json)
{
  g_autoptr (JsonNode) root = json != NULL ? ferry_json_parse (json, -1, NULL) : NULL;
  GPtrArray *names = g_ptr_array_new ();

  if (root != NULL && JSON_NODE_HOLDS_ARRAY (root))
    {
      JsonArray *arr = json_node_get_array (root);
      for (guint i = 0; i < json_array_get_length (arr); i++)
        {
          const char *s = json_array_get_string_element (arr, i);
          if (s != NULL)
            g_ptr_array_add (names, g_strdup (s));
        }
    }
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}

/* A profile's config and devices, parsed. */
typedef struct
{
  char *name;
  GHashTable *config;
  JsonObject *devices;
} ParsedProfile;

struct FerryRenderCache
{
  GPtrArray *profiles;   /* ParsedProfile */
  GHashTable *snapshots; /* instance id -> GPtrArray of FerryDbSnapshot, oldest first */
};

static void
parsed_profile_free (ParsedProfile *p)
{
  g_free (p->name);
  g_hash_table_unref (p->config);
  json_object_unref (p->devices);
  g_free (p);
}

static GPtrArray *
parsed_profiles_read (FerryDaemon *d)
{
  g_autoptr (GPtrArray) rows = ferry_db_profile_list (d->db, NULL);
  GPtrArray *profiles = g_ptr_array_new_with_free_func ((GDestroyNotify) parsed_profile_free);

  for (guint i = 0; rows != NULL && i < rows->len; i++)
    {
      FerryDbProfile *row = g_ptr_array_index (rows, i);
      ParsedProfile *p = g_new0 (ParsedProfile, 1);

      p->name = g_strdup (row->name);
      p->config = parse_config_json (row->config_json);
      p->devices = ferry_instance_parse_object (row->devices_json);
      g_ptr_array_add (profiles, p);
    }
  return profiles;
}

static GPtrArray *
profiles_for_render (FerryDaemon *d)
{
  if (d->render_cache != NULL)
    return g_ptr_array_ref (d->render_cache->profiles);
  return parsed_profiles_read (d);
}

static ParsedProfile *
find_profile (GPtrArray *profiles, const char *name)
{
  for (guint i = 0; i < profiles->len; i++)
    {
      ParsedProfile *p = g_ptr_array_index (profiles, i);
      if (strcmp (p->name, name) == 0)
        return p;
    }
  return NULL;
}

void
ferry_instance_render_cache_begin (FerryDaemon *d)
{
  g_autoptr (GPtrArray) snapshots = ferry_db_snapshot_list_all (d->db, NULL);
  FerryRenderCache *cache = g_new0 (FerryRenderCache, 1);

  ferry_instance_render_cache_end (d);
  cache->profiles = parsed_profiles_read (d);
  cache->snapshots = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  if (snapshots != NULL)
    g_ptr_array_set_free_func (snapshots, NULL); /* each moves to its instance's array */
  for (guint i = 0; snapshots != NULL && i < snapshots->len; i++)
    {
      FerryDbSnapshot *snap = g_ptr_array_index (snapshots, i);
      GPtrArray *of = g_hash_table_lookup (cache->snapshots, &snap->instance_id);

      if (of == NULL)
        {
          of = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_db_snapshot_free);
          /* The key lives in the array's first snapshot, freed with it. */
          g_hash_table_insert (cache->snapshots, &snap->instance_id, of);
        }
      g_ptr_array_add (of, snap);
    }
  d->render_cache = cache;
}

void
ferry_instance_render_cache_end (FerryDaemon *d)
{
  FerryRenderCache *cache = g_steal_pointer (&d->render_cache);

  if (cache == NULL)
    return;
  g_ptr_array_unref (cache->profiles);
  g_hash_table_unref (cache->snapshots);
  g_free (cache);
}

/* Profiles in order, then the instance's own config (OWN). */
static GHashTable *
expand_config (GPtrArray *profiles, char **names, GHashTable *own)
{
  GHashTable *expanded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer k, v;

  for (guint i = 0; names[i] != NULL; i++)
    {
      ParsedProfile *p = find_profile (profiles, names[i]);
      if (p == NULL)
        continue;
      g_hash_table_iter_init (&iter, p->config);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_insert (expanded, g_strdup (k), g_strdup (v));
    }
  g_hash_table_iter_init (&iter, own);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (expanded, g_strdup (k), g_strdup (v));
  return expanded;
}

/* Profiles in order, then the instance's own devices (OWN). */
static JsonObject *
expand_devices (GPtrArray *profiles, char **names, JsonObject *own)
{
  JsonObject *expanded = json_object_new ();
  JsonObjectIter iter;
  const char *k;
  JsonNode *v;

  for (guint i = 0; names[i] != NULL; i++)
    {
      ParsedProfile *p = find_profile (profiles, names[i]);
      if (p == NULL)
        continue;
      json_object_iter_init (&iter, p->devices);
      while (json_object_iter_next (&iter, &k, &v))
        json_object_set_member (expanded, k, json_node_copy (v));
    }
  json_object_iter_init (&iter, own);
  while (json_object_iter_next (&iter, &k, &v))
    json_object_set_member (expanded, k, json_node_copy (v));
  /* A device of type "none" removes a profile's device of that name. */
  GList *members = json_object_get_members (expanded);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonObject *dev = json_object_get_object_member (expanded, l->data);
      if (dev && g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "none") == 0)
        json_object_remove_member (expanded, l->data);
    }
  g_list_free (members);
  return expanded;
}

GHashTable *
ferry_instance_expanded_config (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) profiles = profiles_for_render (d);
  g_auto (GStrv) names = ferry_instance_parse_profiles (inst->row->profiles_json);
  g_autoptr (GHashTable) own = parse_config_json (inst->row->config_json);

  return expand_config (profiles, names, own);
}

JsonObject *
ferry_instance_expanded_devices (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) profiles = profiles_for_render (d);
  g_auto (GStrv) names = ferry_instance_parse_profiles (inst->row->profiles_json);
  g_autoptr (JsonObject) own = ferry_instance_parse_object (inst->row->devices_json);

  return expand_devices (profiles, names, own);
}

void
ferry_instance_expand (FerryDaemon *d, FerryInstance *inst, FerryInstanceExpansion *x)
{
  ferry_instance_expand_texts (d, inst->row->profiles_json, inst->row->config_json, inst->row->devices_json, x);
}

void
ferry_instance_expand_texts (FerryDaemon *d, const char *profiles_json, const char *config_json,
                             const char *devices_json, FerryInstanceExpansion *x)
{
  g_autoptr (GPtrArray) all_profiles = profiles_for_render (d);

  x->profiles = ferry_instance_parse_profiles (profiles_json);
  x->config = ferry_instance_parse_object (config_json);
  x->devices = ferry_instance_parse_object (devices_json);
  x->own_config = config_map (x->config);
  x->expanded_config = expand_config (all_profiles, x->profiles, x->own_config);
  x->expanded_devices = expand_devices (all_profiles, x->profiles, x->devices);
}

void
ferry_instance_expansion_clear (FerryInstanceExpansion *x)
{
  g_clear_pointer (&x->profiles, g_strfreev);
  g_clear_pointer (&x->config, json_object_unref);
  g_clear_pointer (&x->devices, json_object_unref);
  g_clear_pointer (&x->own_config, g_hash_table_unref);
  g_clear_pointer (&x->expanded_config, g_hash_table_unref);
  g_clear_pointer (&x->expanded_devices, json_object_unref);
}

/* ---- state ---- */

gboolean
ferry_instance_is_running (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
  FerryRuntimeState st = { 0 };

  return ferry_runtime_read_state (run_dir, &st, NULL) && st.running;
}

GPtrArray *
ferry_instance_snapshots (FerryDaemon *d, FerryInstance *inst)
{
  GPtrArray *snaps;

  if (inst->creating)
    return NULL;
  if (d->render_cache == NULL)
    return ferry_db_snapshot_list (d->db, inst->row->id, NULL);
  snaps = g_hash_table_lookup (d->render_cache->snapshots, &inst->row->id);
  return snaps != NULL ? g_ptr_array_ref (snaps) : NULL;
}
