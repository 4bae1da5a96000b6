#include "config.h"

#include "checkpoint-stats.h"

#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/json.h"

#define INFO_TIME_LAYOUT "%Y/%m/%d %H:%M %Z"

typedef enum
{
  STAT_TIME,  /* microseconds */
  STAT_PAGES, /* a page count, shown with its size */
  STAT_COUNT,
} StatKind;

typedef struct
{
  const char *key;
  const char *label;
  StatKind kind;
  const char *detail_key; /* shown in parentheses after this one */
  const char *detail_label;
} StatField;

/* CRIU's stats-dump and stats-restore entries (images/stats.proto), in the
 * order a reader wants them; the totals come last. */
static const StatField stat_fields[] = {
  { "frozen_time", "frozen", STAT_TIME, "freezing_time", "freezing" },
  { "freezing_time", "freezing", STAT_TIME, NULL, NULL },
  { "memdump_time", "memory dump", STAT_TIME, NULL, NULL },
  { "memwrite_time", "memory write", STAT_TIME, NULL, NULL },
  { "irmap_resolve", "irmap resolve", STAT_TIME, NULL, NULL },
  { "restore_time", "restore", STAT_TIME, "forking_time", "forking" },
  { "forking_time", "forking", STAT_TIME, NULL, NULL },
  { "pages_scanned", "pages scanned", STAT_COUNT, NULL, NULL },
  { "pages_skipped_parent", "pages skipped (in parent)", STAT_COUNT, NULL, NULL },
  { "pages_written", "pages written", STAT_PAGES, NULL, NULL },
  { "pages_lazy", "pages lazy", STAT_PAGES, NULL, NULL },
  { "page_pipes", "page pipes", STAT_COUNT, NULL, NULL },
  { "page_pipe_bufs", "page pipe buffers", STAT_COUNT, NULL, NULL },
  { "shpages_scanned", "shared pages scanned", STAT_COUNT, NULL, NULL },
  { "shpages_skipped_parent", "shared pages skipped (in parent)", STAT_COUNT, NULL, NULL },
  { "shpages_written", "shared pages written", STAT_PAGES, NULL, NULL },
  { "pages_compared", "pages compared", STAT_COUNT, NULL, NULL },
  { "pages_skipped_cow", "pages skipped (COW)", STAT_COUNT, NULL, NULL },
  { "pages_restored", "pages restored", STAT_PAGES, NULL, NULL },
  { "sync_time", "sync to disk", STAT_TIME, NULL, NULL }, /* Ferry's, not CRIU's */
  { "total_time", "total", STAT_TIME, NULL, NULL },
};

static const StatField *
find_field (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (stat_fields); i++)
    if (strcmp (stat_fields[i].key, key) == 0)
      return &stat_fields[i];
  return NULL;
}

static gboolean
is_number (JsonNode *node)
{
  GType type;

  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE)
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

/* "64.0 MiB", one decimal, in the largest unit that keeps it below 1024 */
static char *
format_bytes (double bytes)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  gsize unit = 0;

  while (bytes >= 1024 && unit + 1 < G_N_ELEMENTS (units))
    {
      bytes /= 1024;
      unit++;
    }
  return unit == 0 ? g_strdup_printf ("%.0f B", bytes) : g_strdup_printf ("%.1f %s", bytes, units[unit]);
}

static char *
format_value (StatKind kind, JsonNode *node)
{
  double value = json_node_get_double (node);

  switch (kind)
    {
    case STAT_TIME:
      return g_strdup_printf ("%.1f ms", value / 1000.0);
    case STAT_PAGES:
      {
        /* CRIU counts pages of the host it ran on: the daemon's, and this
         * client talks to it over its local socket */
        g_autofree char *size = format_bytes (value * (double) sysconf (_SC_PAGESIZE));
        return g_strdup_printf ("%.0f (%s)", value, size);
      }
    case STAT_COUNT:
      break;
    }
  return g_strdup_printf ("%.0f", value);
}

/* Any JSON value on one line */
static char *
format_unknown (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = NULL;

  if (JSON_NODE_TYPE (node) == JSON_NODE_VALUE && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  gen = json_generator_new ();
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

static void
append_item (GString *line, const char *label, const char *value, gboolean unknown)
{
  if (line->len == 0)
    {
      /* the first item labels the line */
      g_string_append_unichar (line, g_unichar_toupper (g_utf8_get_char (label)));
      g_string_append_printf (line, "%s: %s", g_utf8_next_char (label), value);
      return;
    }
  g_string_append_printf (line, unknown ? ", %s: %s" : ", %s %s", label, value);
}

char *
ferry_checkpoint_format_stats (JsonObject *stats)
{
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GHashTable) shown = g_hash_table_new (g_str_hash, g_str_equal);
  GList *keys;

  if (stats == NULL)
    return g_strdup ("");
  for (gsize i = 0; i < G_N_ELEMENTS (stat_fields); i++)
    {
      const StatField *field = &stat_fields[i];
      JsonNode *node = json_object_get_member (stats, field->key);
      g_autofree char *value = NULL;

      if (!is_number (node) || g_hash_table_contains (shown, field->key))
        continue;
      value = format_value (field->kind, node);
      g_hash_table_add (shown, (gpointer) field->key);
      if (field->detail_key != NULL && is_number (json_object_get_member (stats, field->detail_key)))
        {
          g_autofree char *detail = format_value (STAT_TIME, json_object_get_member (stats, field->detail_key));
          char *with_detail = g_strdup_printf ("%s (%s %s)", value, field->detail_label, detail);

          g_free (value);
          value = with_detail;
          g_hash_table_add (shown, (gpointer) field->detail_key);
        }
      append_item (line, field->label, value, FALSE);
    }
  keys = ferry_json_sorted_members (stats);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const StatField *field = find_field (l->data);
      g_autofree char *value = NULL;

      if (field != NULL && g_hash_table_contains (shown, field->key))
        continue;
      value = format_unknown (json_object_get_member (stats, l->data));
      append_item (line, l->data, value, TRUE);
    }
  g_list_free (keys);
  return g_string_free (g_steal_pointer (&line), FALSE);
}

void
ferry_checkpoint_append_record (GString *out, const char *title, JsonObject *record, gboolean utc)
{
  const char *action = ferry_obj_string (record, "action");
  const char *snapshot = ferry_obj_string (record, "snapshot");
  g_autofree char *at = NULL;
  g_autofree char *stats = NULL;

  if (record == NULL)
    return;
  at = ferry_format_time (ferry_obj_string (record, "at"), INFO_TIME_LAYOUT, utc);
  stats = ferry_checkpoint_format_stats (ferry_obj_object (record, "stats"));
  g_string_append_printf (out, "\n%s:\n", title);
  g_string_append_printf (out, "  Action: %s", *action != '\0' ? action : "unknown");
  if (*snapshot != '\0')
    g_string_append_printf (out, " (%s)", snapshot);
  if (*at != '\0')
    g_string_append_printf (out, " at %s", at);
  g_string_append_c (out, '\n');
  if (*stats != '\0')
    g_string_append_printf (out, "  %s\n", stats);
}
