/* Instances and snapshots as LXD's API shows them: the instance object
 * (recursion=1 adds state, snapshots, backups), its state (processes,
 * memory, network from the network manager), snapshot objects. */
#include "config.h"
#include "daemon/api/api.h"
#include "daemon/network-manager.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "runtime/runtime.h"

#include <string.h>

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
ferry_snapshot_to_json (FerryDaemon *d, const FerryDbSnapshot *s)
{
  JsonObject *o = json_object_new ();
  g_auto (FerryInstanceExpansion) x = { 0 };

  ferry_instance_expand_texts (d, s->profiles_json, s->config_json, s->devices_json, &x);
  /* LXD 5.0 names a snapshot object by the snapshot's own name. */
  add_member_string (o, "name", s->name);
  /* Ferry's own: LXD 5.0's snapshots have no description. */
  add_member_string (o, "description", s->description);
  add_member_time (o, "created_at", s->created_at);
  add_member_time (o, "expires_at", s->expires_at);
  /* LXD never records a snapshot's use: Go's zero time. */
  add_member_time (o, "last_used_at", 0);
  json_object_set_boolean_member (o, "stateful", s->stateful);
  json_object_set_boolean_member (o, "ephemeral", s->ephemeral);
  add_member_string (o, "architecture", s->architecture);
  json_object_set_member (o, "profiles", ferry_json_string_list ((const char *const *) x.profiles));
  json_object_set_object_member (o, "config", json_object_ref (x.config));
  json_object_set_object_member (o, "devices", json_object_ref (x.devices));
  json_object_set_member (o, "expanded_config", ferry_json_from_string_map (x.expanded_config));
  json_object_set_object_member (o, "expanded_devices", json_object_ref (x.expanded_devices));
  /* LXD 5.0 renders -1 ("not computed") and never fills it in. */
  json_object_set_int_member (o, "size", -1);
  return take_object_node (o);
}

static JsonNode *
snapshots_json (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = ferry_instance_snapshots (d, inst);
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; snaps && i < snaps->len; i++)
    json_array_add_element (arr, ferry_snapshot_to_json (d, g_ptr_array_index (snaps, i)));
  json_node_take_array (node, arr);
  return node;
}

/* LXD's full instance leaves its snapshot and backup slices nil until it
 * appends one: Go encodes them as null, not []. */
static JsonNode *
null_if_empty (JsonNode *array)
{
  if (json_array_get_length (json_node_get_array (array)) > 0)
    return array;
  json_node_unref (array);
  return json_node_new (JSON_NODE_NULL);
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
  g_auto (FerryInstanceExpansion) x = { 0 };
  JsonNode *node;

  ferry_instance_expand (d, inst, &x);
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
  json_object_set_member (o, "profiles", ferry_json_string_list ((const char *const *) x.profiles));
  json_object_set_object_member (o, "config", json_object_ref (x.config));
  json_object_set_object_member (o, "devices", json_object_ref (x.devices));
  json_object_set_member (o, "expanded_config", ferry_json_from_string_map (x.expanded_config));
  json_object_set_object_member (o, "expanded_devices", json_object_ref (x.expanded_devices));
  add_member_time (o, "created_at", inst->row->created_at);
  {
    /* LXD creates instances with last_used_at = time.Unix(0, 0). */
    g_autofree char *used = ferry_time_rfc3339_epoch (inst->row->last_used_at);
    json_object_set_string_member (o, "last_used_at", used);
  }
  add_member_string (o, "location", "none");
  add_member_string (o, "project", "default");
  if (with_state)
    {
      JsonNode *state = state_json_from (&st);
      if (st.running)
        ferry_network_fill_state (d, inst, st.init_pid, x.own_config, x.expanded_devices, state);
      json_object_set_member (o, "state", state);
      json_object_set_member (o, "snapshots", null_if_empty (snapshots_json (d, inst)));
      json_object_set_member (o, "backups", null_if_empty (ferry_backups_json (d, inst)));
      add_checkpoint_stats (d, inst, o);
    }
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  return node;
}
