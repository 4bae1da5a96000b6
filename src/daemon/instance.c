#include "config.h"
#include "daemon/instance.h"
#include "daemon/http/http.h"
#include "daemon/network-manager.h"
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

static JsonObject *
parse_object_json (const char *json)
{
  JsonObject *obj = ferry_json_parse_object (json, json ? strlen (json) : 0, TRUE, NULL);
  return obj ? obj : json_object_new ();
}

static char **
parse_profiles_json (const char *json)
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
      p->devices = parse_object_json (row->devices_json);
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
  g_auto (GStrv) names = parse_profiles_json (inst->row->profiles_json);
  g_autoptr (GHashTable) own = parse_config_json (inst->row->config_json);

  return expand_config (profiles, names, own);
}

JsonObject *
ferry_instance_expanded_devices (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) profiles = profiles_for_render (d);
  g_auto (GStrv) names = parse_profiles_json (inst->row->profiles_json);
  g_autoptr (JsonObject) own = parse_object_json (inst->row->devices_json);

  return expand_devices (profiles, names, own);
}

/* ---- JSON ---- */

gboolean
ferry_instance_is_running (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
  FerryRuntimeState st = { 0 };

  return ferry_runtime_read_state (run_dir, &st, NULL) && st.running;
}

static void
status_of (const FerryRuntimeState *st, const char **status, int *code)
{
  if (!st->running)
    *status = "Stopped", *code = 102;
  else if (st->frozen)
    *status = "Frozen", *code = 110;
  else
    *status = "Running", *code = 103;
}

static JsonNode *
state_json_from (const FerryRuntimeState *st)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  const char *status;
  int code;

  status_of (st, &status, &code);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, status);
  json_builder_set_member_name (b, "status_code");
  json_builder_add_int_value (b, code);
  json_builder_set_member_name (b, "disk");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "memory");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "usage");
  json_builder_add_int_value (b, st->memory_usage);
  json_builder_set_member_name (b, "usage_peak");
  json_builder_add_int_value (b, st->memory_peak);
  json_builder_set_member_name (b, "swap_usage");
  json_builder_add_int_value (b, st->swap_usage);
  json_builder_set_member_name (b, "swap_usage_peak");
  json_builder_add_int_value (b, st->swap_peak);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "network");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "pid");
  json_builder_add_int_value (b, st->running ? st->init_pid : 0);
  json_builder_set_member_name (b, "processes");
  json_builder_add_int_value (b, st->running ? st->processes : 0);
  json_builder_set_member_name (b, "cpu");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "usage");
  json_builder_add_int_value (b, st->cpu_usage_ns);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
read_state (FerryDaemon *d, FerryInstance *inst, FerryRuntimeState *st)
{
  /* A list reads every instance's state once up front (to find the network
   * namespaces to read in parallel): use it rather than read it again. */
  if (d->state_prefetch != NULL)
    {
      FerryRuntimeState *known = g_hash_table_lookup (d->state_prefetch, inst->row->name);
      if (known != NULL)
        {
          *st = *known;
          return;
        }
    }
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);

  memset (st, 0, sizeof *st);
  if (!inst->creating)
    ferry_runtime_read_state (run_dir, st, NULL);
}

JsonNode *
ferry_instance_state_json (FerryDaemon *d, FerryInstance *inst)
{
  FerryRuntimeState st;

  read_state (d, inst, &st);
  JsonNode *node = state_json_from (&st);
  if (st.running)
    {
      g_autoptr (GHashTable) config = ferry_instance_own_config (inst);
      g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
      ferry_network_fill_state (d, inst, st.init_pid, config, devices, node);
    }
  return node;
}

static JsonNode *
take_object_node (JsonObject *obj)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, obj);
  return node;
}

static void
add_member_string (JsonObject *obj, const char *name, const char *value)
{
  json_object_set_string_member (obj, name, value ? value : "");
}

static void
add_member_time (JsonObject *obj, const char *name, gint64 usec)
{
  g_autofree char *t = ferry_time_rfc3339 (usec);
  json_object_set_string_member (obj, name, t);
}

JsonNode *
ferry_snapshot_to_json (FerryInstance *inst, const FerryDbSnapshot *s)
{
  JsonObject *o = json_object_new ();
  g_auto (GStrv) profiles = parse_profiles_json (s->profiles_json);

  /* LXD 5.0 names a snapshot object by the snapshot's own name. */
  add_member_string (o, "name", s->name);
  add_member_string (o, "description", s->description);
  add_member_time (o, "created_at", s->created_at);
  add_member_time (o, "expires_at", s->expires_at);
  add_member_time (o, "last_used_at", 0);
  json_object_set_boolean_member (o, "stateful", s->stateful);
  json_object_set_boolean_member (o, "ephemeral", s->ephemeral);
  add_member_string (o, "architecture", s->architecture);
  json_object_set_member (o, "profiles", ferry_json_string_list ((const char *const *) profiles));
  json_object_set_member (o, "config", take_object_node (parse_object_json (s->config_json)));
  json_object_set_member (o, "devices", take_object_node (parse_object_json (s->devices_json)));
  json_object_set_member (o, "expanded_config", take_object_node (parse_object_json (s->config_json)));
  json_object_set_member (o, "expanded_devices", take_object_node (parse_object_json (s->devices_json)));
  return take_object_node (o);
}

static GPtrArray *
snapshots_of (FerryDaemon *d, FerryInstance *inst)
{
  GPtrArray *snaps;

  if (inst->creating)
    return NULL;
  if (d->render_cache == NULL)
    return ferry_db_snapshot_list (d->db, inst->row->id, NULL);
  snaps = g_hash_table_lookup (d->render_cache->snapshots, &inst->row->id);
  return snaps != NULL ? g_ptr_array_ref (snaps) : NULL;
}

static JsonNode *
snapshots_json (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = snapshots_of (d, inst);
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; snaps && i < snaps->len; i++)
    json_array_add_element (arr, ferry_snapshot_to_json (inst, g_ptr_array_index (snaps, i)));
  json_node_take_array (node, arr);
  return node;
}

/* Ferry's own fields: statistics of the last CRIU dump and restore. */
static void
add_checkpoint_stats (FerryDaemon *d, FerryInstance *inst, JsonObject *o)
{
  const char *kinds[] = { "dump", "restore" };

  for (int i = 0; i < 2; i++)
    {
      g_autofree char *path = ferry_layout_last_stats (d->layout, inst->row->name, kinds[i]);
      g_autofree char *member = g_strdup_printf ("last_%s", kinds[i]);
      g_autofree char *text = NULL;
      gsize len = 0;
      g_autoptr (JsonObject) stats = NULL;

      if (g_file_get_contents (path, &text, &len, NULL)
          && (stats = ferry_json_parse_object (text, len, FALSE, NULL)) != NULL)
        json_object_set_object_member (o, member, json_object_ref (stats));
    }
}

JsonNode *
ferry_instance_to_json (FerryDaemon *d, FerryInstance *inst, gboolean with_state)
{
  JsonObject *o = json_object_new ();
  FerryRuntimeState st;
  const char *status;
  int code;
  /* Each stored JSON text parsed once; the parts below share the results. */
  g_autoptr (GPtrArray) all_profiles = profiles_for_render (d);
  g_auto (GStrv) profiles = parse_profiles_json (inst->row->profiles_json);
  g_autoptr (JsonObject) config = parse_object_json (inst->row->config_json);
  g_autoptr (JsonObject) devices = parse_object_json (inst->row->devices_json);
  g_autoptr (GHashTable) own_config = config_map (config);
  g_autoptr (GHashTable) expanded = expand_config (all_profiles, profiles, own_config);
  g_autoptr (JsonObject) expanded_devices = expand_devices (all_profiles, profiles, devices);
  JsonNode *node;

  read_state (d, inst, &st);
  status_of (&st, &status, &code);
  add_member_string (o, "name", inst->row->name);
  add_member_string (o, "description", inst->row->description);
  add_member_string (o, "status", status);
  json_object_set_int_member (o, "status_code", code);
  add_member_string (o, "type", "container");
  json_object_set_boolean_member (o, "ephemeral", inst->row->ephemeral);
  json_object_set_boolean_member (o, "stateful", inst->row->stateful);
  add_member_string (o, "architecture", inst->row->architecture);
  json_object_set_member (o, "profiles", ferry_json_string_list ((const char *const *) profiles));
  json_object_set_object_member (o, "config", json_object_ref (config));
  json_object_set_object_member (o, "devices", json_object_ref (devices));
  json_object_set_member (o, "expanded_config", ferry_json_from_string_map (expanded));
  json_object_set_object_member (o, "expanded_devices", json_object_ref (expanded_devices));
  add_member_time (o, "created_at", inst->row->created_at);
  add_member_time (o, "last_used_at", inst->row->last_used_at);
  add_member_string (o, "location", "none");
  add_member_string (o, "project", "default");
  if (with_state)
    {
      JsonNode *state = state_json_from (&st);
      if (st.running)
        ferry_network_fill_state (d, inst, st.init_pid, own_config, expanded_devices, state);
      json_object_set_member (o, "state", state);
      json_object_set_member (o, "snapshots", snapshots_json (d, inst));
      json_object_set_array_member (o, "backups", json_array_new ());
      add_checkpoint_stats (d, inst, o);
    }
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  return node;
}
