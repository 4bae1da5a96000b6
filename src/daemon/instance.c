#include "config.h"
#include "daemon/instance.h"
#include "daemon/http.h"
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

gboolean
ferry_instance_save (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  return ferry_db_instance_update (d->db, inst->row, error);
}

/* ---- config ---- */

static GHashTable *
parse_config_json (const char *json)
{
  g_autoptr (JsonObject) obj = ferry_json_parse_object (json, json ? strlen (json) : 0, TRUE, NULL);
  GHashTable *map = obj ? ferry_json_string_map (obj, "Config", NULL) : NULL;

  return map ? map : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
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
  g_autoptr (JsonParser) parser = json_parser_new ();
  GPtrArray *names = g_ptr_array_new ();
  JsonNode *root;

  if (json != NULL && json_parser_load_from_data (parser, json, -1, NULL)
      && (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_ARRAY (root))
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

static FerryDbProfile *
find_profile (GPtrArray *profiles, const char *name)
{
  for (guint i = 0; profiles && i < profiles->len; i++)
    {
      FerryDbProfile *p = g_ptr_array_index (profiles, i);
      if (strcmp (p->name, name) == 0)
        return p;
    }
  return NULL;
}

GHashTable *
ferry_instance_expanded_config (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, NULL);
  g_auto (GStrv) names = parse_profiles_json (inst->row->profiles_json);
  GHashTable *expanded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) own = parse_config_json (inst->row->config_json);
  GHashTableIter iter;
  gpointer k, v;

  for (guint i = 0; names[i] != NULL; i++)
    {
      FerryDbProfile *p = find_profile (profiles, names[i]);
      if (p == NULL)
        continue;
      g_autoptr (GHashTable) pc = parse_config_json (p->config_json);
      g_hash_table_iter_init (&iter, pc);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_insert (expanded, g_strdup (k), g_strdup (v));
    }
  g_hash_table_iter_init (&iter, own);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (expanded, g_strdup (k), g_strdup (v));
  return expanded;
}

JsonObject *
ferry_instance_expanded_devices (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, NULL);
  g_auto (GStrv) names = parse_profiles_json (inst->row->profiles_json);
  JsonObject *expanded = json_object_new ();
  JsonObjectIter iter;
  const char *k;
  JsonNode *v;

  for (guint i = 0; names[i] != NULL; i++)
    {
      FerryDbProfile *p = find_profile (profiles, names[i]);
      if (p == NULL)
        continue;
      g_autoptr (JsonObject) pd = parse_object_json (p->devices_json);
      json_object_iter_init (&iter, pd);
      while (json_object_iter_next (&iter, &k, &v))
        json_object_set_member (expanded, k, json_node_copy (v));
    }
  g_autoptr (JsonObject) own = parse_object_json (inst->row->devices_json);
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

gboolean
ferry_parse_size (const char *text, gint64 *bytes, GError **error)
{
  static const struct
  {
    const char *suffix;
    gint64 factor;
  } units[] = {
    { "KiB", 1LL << 10 }, { "MiB", 1LL << 20 }, { "GiB", 1LL << 30 }, { "TiB", 1LL << 40 },
    { "kB", 1000LL }, { "KB", 1000LL }, { "MB", 1000000LL }, { "GB", 1000000000LL }, { "TB", 1000000000000LL },
    { "B", 1 }, { "", 1 },
  };
  char *end = NULL;
  gint64 value;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    goto bad;
  errno = 0;
  value = g_ascii_strtoll (text, &end, 10);
  if (errno != 0 || value < 0)
    goto bad;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (strcmp (end, units[i].suffix) == 0)
      {
        if (value > G_MAXINT64 / units[i].factor)
          goto bad;
        *bytes = value * units[i].factor;
        return TRUE;
      }
bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid size \"%s\": expected a number with an optional unit (B, kB, MB, GB, KiB, MiB, GiB...)",
               text ? text : "");
  return FALSE;
}

static gboolean
valid_bool (const char *v)
{
  const char *ok[] = { "true", "false", "1", "0", "yes", "no", "on", "off", NULL };
  return g_strv_contains (ok, v);
}

static gboolean
valid_cpuset (const char *v)
{
  g_auto (GStrv) ranges = g_strsplit (v, ",", -1);

  if (*v == '\0')
    return FALSE;
  for (guint i = 0; ranges[i] != NULL; i++)
    {
      g_auto (GStrv) ends = g_strsplit (ranges[i], "-", 3);
      guint n = g_strv_length (ends);
      if (n < 1 || n > 2)
        return FALSE;
      for (guint j = 0; j < n; j++)
        {
          if (ends[j][0] == '\0')
            return FALSE;
          for (const char *c = ends[j]; *c; c++)
            if (!g_ascii_isdigit (*c))
              return FALSE;
        }
    }
  return TRUE;
}

gboolean
ferry_config_validate (GHashTable *config, gboolean from_profile, GError **error)
{
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      const char *key = k, *value = v;
      gint64 n;

      if (g_str_has_prefix (key, "user.") || g_str_has_prefix (key, "environment.")
          || g_str_has_prefix (key, "image.") || (!from_profile && g_str_has_prefix (key, "volatile.")))
        continue;
      if (strcmp (key, "limits.memory") == 0)
        {
          if (g_str_has_suffix (value, "%"))
            {
              g_autofree char *num = g_strndup (value, strlen (value) - 1);
              char *end = NULL;
              gint64 pct = g_ascii_strtoll (num, &end, 10);
              if (*num == '\0' || *end != '\0' || pct <= 0 || pct > 100)
                goto bad_value;
            }
          else if (!ferry_parse_size (value, &n, NULL) || n < 4 * 1024 * 1024)
            goto bad_value;
          continue;
        }
      if (strcmp (key, "limits.cpu") == 0)
        {
          if (!valid_cpuset (value))
            goto bad_value;
          if (strchr (value, ',') == NULL && strchr (value, '-') == NULL
              && (g_ascii_strtoll (value, NULL, 10) < 1 || g_ascii_strtoll (value, NULL, 10) > 4096))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "limits.processes") == 0)
        {
          char *end = NULL;
          n = g_ascii_strtoll (value, &end, 10);
          if (*value == '\0' || *end != '\0' || n < 1)
            goto bad_value;
          continue;
        }
      if (strcmp (key, "boot.autostart") == 0 || strcmp (key, "security.protection.delete") == 0
          || strcmp (key, "security.privileged") == 0)
        {
          if (!valid_bool (value))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "boot.host_shutdown_timeout") == 0 || strcmp (key, "boot.autostart.delay") == 0
          || strcmp (key, "boot.autostart.priority") == 0 || strcmp (key, "boot.stop.priority") == 0)
        {
          char *end = NULL;
          g_ascii_strtoll (value, &end, 10);
          if (*value == '\0' || *end != '\0')
            goto bad_value;
          continue;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown configuration key: %s", key);
      return FALSE;
    bad_value:
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid value for configuration key \"%s\": \"%s\"",
                   key, value);
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_devices_validate (JsonObject *devices, GError **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  if (devices == NULL)
    return TRUE;
  json_object_iter_init (&iter, devices);
  while (json_object_iter_next (&iter, &name, &node))
    {
      g_autoptr (GHashTable) props = NULL;
      const char *type;

      if (!ferry_name_validate_object ("Device", name, error))
        return FALSE;
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\" must be a map of strings", name);
          return FALSE;
        }
      props = ferry_json_string_map (json_node_get_object (node), "Device", error);
      if (props == NULL)
        return FALSE;
      type = g_hash_table_lookup (props, "type");
      if (type == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\" has no \"type\"", name);
          return FALSE;
        }
      if (strcmp (type, "none") == 0)
        continue;
      if (strcmp (type, "disk") == 0)
        {
          const char *path = g_hash_table_lookup (props, "path");
          if (g_strcmp0 (path, "/") != 0)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "Device \"%s\": only the root disk (path \"/\") is supported so far", name);
              return FALSE;
            }
          continue;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": unsupported device type \"%s\"", name,
                   type);
      return FALSE;
    }
  return TRUE;
}

/* ---- JSON ---- */

gboolean
ferry_instance_is_running (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *run_dir = ferry_daemon_instance_run_dir (d, inst->row->name);
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
  g_autofree char *run_dir = ferry_daemon_instance_run_dir (d, inst->row->name);

  memset (st, 0, sizeof *st);
  if (!inst->creating)
    ferry_runtime_read_state (run_dir, st, NULL);
}

JsonNode *
ferry_instance_state_json (FerryDaemon *d, FerryInstance *inst)
{
  FerryRuntimeState st;

  read_state (d, inst, &st);
  return state_json_from (&st);
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

static JsonNode *
snapshots_json (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = inst->creating ? NULL : ferry_db_snapshot_list (d->db, inst->row->id, NULL);
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; snaps && i < snaps->len; i++)
    {
      FerryDbSnapshot *s = g_ptr_array_index (snaps, i);
      JsonObject *o = json_object_new ();
      g_autofree char *full = g_strdup_printf ("%s/%s", inst->row->name, s->name);

      add_member_string (o, "name", full);
      add_member_string (o, "description", s->description);
      add_member_time (o, "created_at", s->created_at);
      add_member_time (o, "expires_at", s->expires_at);
      add_member_time (o, "last_used_at", 0);
      json_object_set_boolean_member (o, "stateful", s->stateful);
      json_object_set_boolean_member (o, "ephemeral", s->ephemeral);
      add_member_string (o, "architecture", s->architecture);
      json_object_set_member (o, "config", take_object_node (parse_object_json (s->config_json)));
      json_object_set_member (o, "devices",
                              take_object_node (parse_object_json (s->devices_json)));
      json_array_add_object_element (arr, o);
    }
  json_node_take_array (node, arr);
  return node;
}

JsonNode *
ferry_instance_to_json (FerryDaemon *d, FerryInstance *inst, gboolean with_state)
{
  JsonObject *o = json_object_new ();
  FerryRuntimeState st;
  const char *status;
  int code;
  g_autoptr (GHashTable) expanded = ferry_instance_expanded_config (d, inst);
  g_auto (GStrv) profiles = parse_profiles_json (inst->row->profiles_json);
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
  json_object_set_member (o, "config",
                          take_object_node (parse_object_json (inst->row->config_json)));
  json_object_set_member (o, "devices",
                          take_object_node (parse_object_json (inst->row->devices_json)));
  json_object_set_member (o, "expanded_config", ferry_json_from_string_map (expanded));
  json_object_set_member (o, "expanded_devices", take_object_node (ferry_instance_expanded_devices (d, inst)));
  add_member_time (o, "created_at", inst->row->created_at);
  add_member_time (o, "last_used_at", inst->row->last_used_at);
  add_member_string (o, "location", "none");
  add_member_string (o, "project", "default");
  if (with_state)
    {
      json_object_set_member (o, "state", state_json_from (&st));
      json_object_set_member (o, "snapshots", snapshots_json (d, inst));
      json_object_set_array_member (o, "backups", json_array_new ());
    }
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  return node;
}

/* ---- running ferry-monitor ---- */

gboolean
ferry_run_monitor (FerryDaemon *d, const char *const *argv, char **stdout_text, GError **error)
{
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) local = NULL;

  g_ptr_array_add (full, d->monitor_path);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);

  proc = g_subprocess_newv ((const char *const *) full->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &local);
  if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Running %s: %s", d->monitor_path, local->message);
      return FALSE;
    }
  if (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0)
    {
      g_strstrip (err);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s",
                   *err ? err : "ferry-monitor failed without saying why");
      return FALSE;
    }
  if (stdout_text != NULL)
    *stdout_text = g_steal_pointer (&out);
  return TRUE;
}

/* ---- watching containers stop on their own ---- */

static void instance_watch (FerryDaemon *d, FerryInstance *inst);
static FerryOperation *instance_delete_op (FerryDaemon *d, FerryInstance *inst, gboolean internal, GError **error);

static void
set_power_state (FerryDaemon *d, FerryInstance *inst, const char *power)
{
  g_autoptr (GHashTable) config = parse_config_json (inst->row->config_json);
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GError) error = NULL;

  g_hash_table_insert (config, g_strdup ("volatile.last_state.power"), g_strdup (power));
  node = ferry_json_from_string_map (config);
  g_free (inst->row->config_json);
  inst->row->config_json = ferry_json_to_string (node, FALSE);
  if (!inst->creating && !ferry_instance_save (d, inst, &error))
    g_warning ("Saving state of %s: %s", inst->row->name, error->message);
}

static void
unwatch (FerryInstance *inst)
{
  if (inst->monitor_watch != 0)
    g_source_remove (inst->monitor_watch);
  inst->monitor_watch = 0;
  if (inst->monitor_pidfd >= 0)
    close (inst->monitor_pidfd);
  inst->monitor_pidfd = -1;
}

typedef struct
{
  FerryDaemon *daemon;
  char *name;
} WatchData;

static void
watch_data_free (WatchData *w)
{
  g_free (w->name);
  g_free (w);
}

static gboolean
monitor_exited (int fd, GIOCondition cond, gpointer user_data)
{
  WatchData *w = user_data;
  FerryDaemon *d = w->daemon;
  FerryInstance *inst = g_hash_table_lookup (d->instances, w->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", w->name);

  if (inst == NULL)
    return G_SOURCE_REMOVE;
  inst->monitor_watch = 0;
  close (inst->monitor_pidfd);
  inst->monitor_pidfd = -1;
  if (inst->busy != NULL)
    return G_SOURCE_REMOVE; /* a stop/restart operation owns this transition */

  g_message ("Instance %s stopped on its own", inst->row->name);
  set_power_state (d, inst, "STOPPED");
  ferry_events_lifecycle (d, "instance-shutdown", source, NULL);
  if (inst->row->ephemeral)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryOperation) op = instance_delete_op (d, inst, TRUE, &error);
      if (op == NULL)
        g_warning ("Deleting ephemeral instance %s: %s", w->name, error->message);
    }
  return G_SOURCE_REMOVE;
}

static void
instance_watch (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *run_dir = ferry_daemon_instance_run_dir (d, inst->row->name);
  WatchData *w;

  unwatch (inst);
  inst->monitor_pidfd = ferry_runtime_open_pidfd (run_dir);
  if (inst->monitor_pidfd < 0)
    return;
  w = g_new0 (WatchData, 1);
  w->daemon = d;
  w->name = g_strdup (inst->row->name);
  inst->monitor_watch = g_unix_fd_add_full (G_PRIORITY_DEFAULT, inst->monitor_pidfd, G_IO_IN, monitor_exited, w,
                                            (GDestroyNotify) watch_data_free);
}

/* ---- lifecycle ---- */

typedef struct
{
  FerryDaemon *daemon;
  char *name;
  char *new_name;
  GPtrArray *stop_argv;  /* ferry-monitor arguments, built in the main thread */
  GPtrArray *start_argv;
  char *run_dir;
  char *paths[4];        /* directories to remove or rename */
  char *new_paths[4];
  gboolean freeze;
  gboolean internal;
} LifecycleData;

static void
lifecycle_data_free (LifecycleData *data)
{
  g_free (data->name);
  g_free (data->new_name);
  if (data->stop_argv)
    g_ptr_array_unref (data->stop_argv);
  if (data->start_argv)
    g_ptr_array_unref (data->start_argv);
  g_free (data->run_dir);
  for (int i = 0; i < 4; i++)
    {
      g_free (data->paths[i]);
      g_free (data->new_paths[i]);
    }
  g_free (data);
}

static LifecycleData *
lifecycle_data_new (FerryDaemon *d, FerryInstance *inst)
{
  LifecycleData *data = g_new0 (LifecycleData, 1);

  data->daemon = d;
  data->name = g_strdup (inst->row->name);
  data->run_dir = ferry_daemon_instance_run_dir (d, inst->row->name);
  return data;
}

/* Creates an operation on inst, claims the instance and runs work/done. */
static FerryOperation *
instance_operation (FerryDaemon *d, FerryInstance *inst, const char *description, const char *what,
                    FerryOperationWork work, FerryOperationDone done, LifecycleData *data, GError **error)
{
  FerryOperation *op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, description);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);

  if (!ferry_instance_claim (inst, op, what, error))
    {
      lifecycle_data_free (data);
      ferry_operation_unref (op);
      return NULL;
    }
  ferry_operation_add_resource (op, "instances", url);
  ferry_operation_run (op, work, done, data, (GDestroyNotify) lifecycle_data_free);
  return op;
}

static gint64
host_memory_bytes (void)
{
  g_autofree char *meminfo = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL))
    return 0;
  line = strstr (meminfo, "MemTotal:");
  return line ? g_ascii_strtoll (line + strlen ("MemTotal:"), NULL, 10) * 1024 : 0;
}

static GPtrArray *
start_arguments (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  const char *v;
  GHashTableIter iter;
  gpointer k, val;

  g_ptr_array_add (argv, g_strdup ("start"));
  g_ptr_array_add (argv, g_strdup ("--name"));
  g_ptr_array_add (argv, g_strdup (inst->row->name));
  g_ptr_array_add (argv, g_strdup ("--rootfs"));
  g_ptr_array_add (argv, ferry_daemon_instance_rootfs (d, inst->row->name));
  g_ptr_array_add (argv, g_strdup ("--run-dir"));
  g_ptr_array_add (argv, ferry_daemon_instance_run_dir (d, inst->row->name));
  g_ptr_array_add (argv, g_strdup ("--log-dir"));
  g_ptr_array_add (argv, ferry_daemon_instance_log_dir (d, inst->row->name));
  g_ptr_array_add (argv, g_strdup ("--cgroup-parent"));
  g_ptr_array_add (argv, g_strdup (d->cgroup_parent));
  g_ptr_array_add (argv, g_strdup ("--hostname"));
  g_ptr_array_add (argv, g_strdup (inst->row->name));
  if ((v = g_hash_table_lookup (config, "limits.memory")) != NULL)
    {
      gint64 bytes = 0;
      if (g_str_has_suffix (v, "%"))
        bytes = host_memory_bytes () / 100 * g_ascii_strtoll (v, NULL, 10);
      else if (!ferry_parse_size (v, &bytes, error))
        {
          g_ptr_array_unref (argv);
          return NULL;
        }
      g_ptr_array_add (argv, g_strdup ("--limit-memory"));
      g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, bytes));
    }
  if ((v = g_hash_table_lookup (config, "limits.cpu")) != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--limit-cpu"));
      g_ptr_array_add (argv, g_strdup (v));
    }
  if ((v = g_hash_table_lookup (config, "limits.processes")) != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--limit-processes"));
      g_ptr_array_add (argv, g_strdup (v));
    }
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &val))
    if (g_str_has_prefix (k, "environment."))
      {
        g_ptr_array_add (argv, g_strdup ("--env"));
        g_ptr_array_add (argv, g_strdup_printf ("%s=%s", (const char *) k + strlen ("environment."),
                                                (const char *) val));
      }
  g_ptr_array_add (argv, NULL);
  return argv;
}

static GPtrArray *
stop_arguments (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup ("stop"));
  g_ptr_array_add (argv, g_strdup ("--run-dir"));
  g_ptr_array_add (argv, ferry_daemon_instance_run_dir (d, inst->row->name));
  g_ptr_array_add (argv, g_strdup ("--timeout"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, timeout < 0 ? 30 : timeout));
  if (force || timeout == 0)
    g_ptr_array_add (argv, g_strdup ("--force"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static gboolean
lifecycle_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  LifecycleData *data = user_data;

  if (data->stop_argv != NULL
      && !ferry_run_monitor (data->daemon, (const char *const *) data->stop_argv->pdata, NULL, error))
    {
      g_prefix_error (error, "Stopping %s: ", data->name);
      return FALSE;
    }
  if (data->start_argv != NULL
      && !ferry_run_monitor (data->daemon, (const char *const *) data->start_argv->pdata, NULL, error))
    {
      g_autofree char *log = g_build_filename (data->daemon->logs_dir, data->name, "monitor.log", NULL);
      g_prefix_error (error, "Starting %s: ", data->name);
      g_autofree char *message = g_strdup_printf ("%s (log: %s)", (*error)->message, log);
      g_free ((*error)->message);
      (*error)->message = g_steal_pointer (&message);
      return FALSE;
    }
  return TRUE;
}

static void
lifecycle_done (FerryOperation *op, gpointer user_data, GError **error)
{
  LifecycleData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = g_hash_table_lookup (d->instances, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->name);
  gboolean running;

  if (inst == NULL)
    return;
  ferry_instance_release (inst);
  running = ferry_instance_is_running (d, inst);
  if (running)
    {
      if (data->start_argv != NULL)
        inst->row->last_used_at = ferry_time_now ();
      set_power_state (d, inst, "RUNNING");
      instance_watch (d, inst);
    }
  else
    {
      unwatch (inst);
      set_power_state (d, inst, "STOPPED");
    }
  if (*error != NULL)
    return;
  if (data->start_argv != NULL)
    ferry_events_lifecycle (d, data->stop_argv ? "instance-restarted" : "instance-started", source, NULL);
  else if (data->stop_argv != NULL)
    {
      ferry_events_lifecycle (d, "instance-stopped", source, NULL);
      if (inst->row->ephemeral)
        {
          g_autoptr (GError) del_error = NULL;
          g_autoptr (FerryOperation) del = instance_delete_op (d, inst, TRUE, &del_error);
          if (del == NULL)
            g_warning ("Deleting ephemeral instance %s: %s", data->name, del_error->message);
        }
    }
}

FerryOperation *
ferry_instance_start (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  LifecycleData *data;
  g_autofree char *rootfs = NULL;

  if (ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The instance is already running");
      return NULL;
    }
  rootfs = ferry_daemon_instance_rootfs (d, inst->row->name);
  if (!g_file_test (rootfs, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The instance's root file system %s is missing", rootfs);
      return NULL;
    }
  data = lifecycle_data_new (d, inst);
  data->start_argv = start_arguments (d, inst, error);
  if (data->start_argv == NULL)
    {
      lifecycle_data_free (data);
      return NULL;
    }
  return instance_operation (d, inst, "Starting instance", "start", lifecycle_work, lifecycle_done, data, error);
}

FerryOperation *
ferry_instance_stop (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force, GError **error)
{
  LifecycleData *data;

  if (!ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The instance is already stopped");
      return NULL;
    }
  data = lifecycle_data_new (d, inst);
  data->stop_argv = stop_arguments (d, inst, timeout, force);
  return instance_operation (d, inst, "Stopping instance", "stop", lifecycle_work, lifecycle_done, data, error);
}

FerryOperation *
ferry_instance_restart (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force, GError **error)
{
  LifecycleData *data;

  if (!ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The instance isn't running");
      return NULL;
    }
  data = lifecycle_data_new (d, inst);
  data->stop_argv = stop_arguments (d, inst, timeout, force);
  data->start_argv = start_arguments (d, inst, error);
  if (data->start_argv == NULL)
    {
      lifecycle_data_free (data);
      return NULL;
    }
  return instance_operation (d, inst, "Restarting instance", "restart", lifecycle_work, lifecycle_done, data,
                             error);
}

static gboolean
freeze_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  LifecycleData *data = user_data;

  return data->freeze ? ferry_runtime_freeze (data->run_dir, error) : ferry_runtime_unfreeze (data->run_dir, error);
}

static void
freeze_done (FerryOperation *op, gpointer user_data, GError **error)
{
  LifecycleData *data = user_data;
  FerryInstance *inst = g_hash_table_lookup (data->daemon->instances, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->name);

  if (inst != NULL)
    ferry_instance_release (inst);
  if (*error == NULL)
    ferry_events_lifecycle (data->daemon, data->freeze ? "instance-paused" : "instance-resumed", source, NULL);
}

FerryOperation *
ferry_instance_freeze (FerryDaemon *d, FerryInstance *inst, gboolean freeze, GError **error)
{
  LifecycleData *data;

  if (!ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The instance isn't running");
      return NULL;
    }
  data = lifecycle_data_new (d, inst);
  data->freeze = freeze;
  return instance_operation (d, inst, freeze ? "Freezing instance" : "Unfreezing instance",
                             freeze ? "freeze" : "unfreeze", freeze_work, freeze_done, data, error);
}

static gboolean
delete_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  LifecycleData *data = user_data;

  for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
    if (!ferry_rm_rf (data->paths[i], error))
      return FALSE;
  return TRUE;
}

static void
delete_done (FerryOperation *op, gpointer user_data, GError **error)
{
  LifecycleData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = g_hash_table_lookup (d->instances, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->name);

  if (inst == NULL)
    return;
  ferry_instance_release (inst);
  if (*error != NULL)
    return;
  if (!ferry_db_instance_delete (d->db, inst->row->id, error))
    return;
  g_hash_table_remove (d->instances, data->name);
  ferry_events_lifecycle (d, "instance-deleted", source, NULL);
}

static FerryOperation *
instance_delete_op (FerryDaemon *d, FerryInstance *inst, gboolean internal, GError **error)
{
  LifecycleData *data;

  if (ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Instance is running");
      return NULL;
    }
  if (!internal)
    {
      g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
      const char *protect = g_hash_table_lookup (config, "security.protection.delete");
      if (protect != NULL && (strcmp (protect, "true") == 0 || strcmp (protect, "1") == 0))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN,
                       "Instance is protected from deletion (security.protection.delete)");
          return NULL;
        }
    }
  data = lifecycle_data_new (d, inst);
  data->internal = internal;
  data->paths[0] = ferry_daemon_instance_dir (d, inst->row->name);
  data->paths[1] = ferry_daemon_instance_log_dir (d, inst->row->name);
  data->paths[2] = ferry_daemon_instance_run_dir (d, inst->row->name);
  return instance_operation (d, inst, "Deleting instance", "delete", delete_work, delete_done, data, error);
}

FerryOperation *
ferry_instance_delete (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  return instance_delete_op (d, inst, FALSE, error);
}

static gboolean
rename_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  LifecycleData *data = user_data;

  for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
    {
      if (!g_file_test (data->paths[i], G_FILE_TEST_EXISTS))
        continue;
      if (rename (data->paths[i], data->new_paths[i]) < 0)
        {
          int saved = errno;
          /* Put back what was already moved. */
          for (int j = i - 1; j >= 0; j--)
            if (g_file_test (data->new_paths[j], G_FILE_TEST_EXISTS))
              (void) rename (data->new_paths[j], data->paths[j]);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Renaming %s: %s", data->paths[i],
                       g_strerror (saved));
          return FALSE;
        }
    }
  return TRUE;
}

static void
rename_done (FerryOperation *op, gpointer user_data, GError **error)
{
  LifecycleData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = g_hash_table_lookup (d->instances, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->new_name);

  if (inst == NULL)
    return;
  ferry_instance_release (inst);
  if (*error == NULL && !ferry_db_instance_rename (d->db, inst->row->id, data->new_name, error))
    {
      /* The database refused: move the directories back. */
      for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
        if (g_file_test (data->new_paths[i], G_FILE_TEST_EXISTS))
          (void) rename (data->new_paths[i], data->paths[i]);
    }
  if (*error != NULL)
    {
      g_hash_table_remove (d->instances, data->new_name); /* the reservation */
      return;
    }
  g_hash_table_steal (d->instances, data->name);
  g_free (inst->row->name);
  inst->row->name = g_strdup (data->new_name);
  g_hash_table_replace (d->instances, inst->row->name, inst);
  ferry_events_lifecycle (d, "instance-renamed", source, NULL);
}

FerryOperation *
ferry_instance_rename (FerryDaemon *d, FerryInstance *inst, const char *new_name, GError **error)
{
  LifecycleData *data;
  FerryOperation *op;
  FerryInstance *placeholder;

  if (!ferry_name_validate_instance (new_name, error))
    return NULL;
  if (g_hash_table_contains (d->instances, new_name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Name \"%s\" is already used by another instance",
                   new_name);
      return NULL;
    }
  if (ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Renaming of running instance not allowed");
      return NULL;
    }
  data = lifecycle_data_new (d, inst);
  data->new_name = g_strdup (new_name);
  data->paths[0] = ferry_daemon_instance_dir (d, inst->row->name);
  data->new_paths[0] = ferry_daemon_instance_dir (d, new_name);
  data->paths[1] = ferry_daemon_instance_log_dir (d, inst->row->name);
  data->new_paths[1] = ferry_daemon_instance_log_dir (d, new_name);
  op = instance_operation (d, inst, "Renaming instance", "rename", rename_work, rename_done, data, error);
  if (op == NULL)
    return NULL;
  /* Reserve the new name while the operation runs: a placeholder that is
   * "creating" and busy, so nothing else can take or touch it. */
  placeholder = g_new0 (FerryInstance, 1);
  placeholder->row = g_new0 (FerryDbInstance, 1);
  placeholder->row->name = g_strdup (new_name);
  placeholder->row->architecture = g_strdup (inst->row->architecture);
  placeholder->row->config_json = g_strdup ("{}");
  placeholder->row->devices_json = g_strdup ("{}");
  placeholder->row->profiles_json = g_strdup ("[]");
  placeholder->creating = TRUE;
  placeholder->busy = op;
  placeholder->busy_what = g_strdup ("rename");
  placeholder->monitor_pidfd = -1;
  g_hash_table_insert (d->instances, placeholder->row->name, placeholder);
  return op;
}

/* ---- loading at start ---- */

gboolean
ferry_instances_load (FerryDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) rows = ferry_db_instance_list (d->db, error);

  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < rows->len; i++)
    {
      FerryInstance *inst = g_new0 (FerryInstance, 1);
      g_autoptr (GHashTable) config = NULL;
      const char *power;

      inst->row = g_ptr_array_steal_index (rows, i--);
      inst->monitor_pidfd = -1;
      g_hash_table_insert (d->instances, inst->row->name, inst);
      config = parse_config_json (inst->row->config_json);
      power = g_hash_table_lookup (config, "volatile.last_state.power");
      if (ferry_instance_is_running (d, inst))
        {
          g_message ("Re-attached to running instance %s", inst->row->name);
          instance_watch (d, inst);
        }
      else if (g_strcmp0 (power, "RUNNING") == 0)
        {
          /* It was running when the host (not just ferryd) went down. */
          g_autoptr (GError) start_error = NULL;
          g_autoptr (FerryOperation) op = NULL;
          g_message ("Starting %s, which was running before the host went down", inst->row->name);
          op = ferry_instance_start (d, inst, &start_error);
          if (op == NULL)
            g_warning ("Could not start %s: %s", inst->row->name, start_error->message);
        }
    }
  return TRUE;
}
