/* ferry-monitor migrate-facts and migrate-check: the two ends of a live
 * migration's feasibility checks (src/migrate/feasibility.h). The source's
 * ferryd runs migrate-facts and sends its output to the target, whose ferryd
 * runs migrate-check on it before the source freezes anything. */
#include "runtime/monitor.h"

#include "checkpoint/checkpoint.h"
#include "common/json.h"
#include "migrate/facts.h"
#include "migrate/feasibility.h"

#include <stdio.h>

int
ferry_monitor_migrate_facts (const char *root_dir, pid_t init_pid)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *criu = ferry_criu_locate (NULL, NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) host = NULL, container = NULL, root = NULL;

  if ((host = ferry_migrate_host_facts (criu, root_dir, &error)) == NULL
      || (init_pid > 0 && (container = ferry_migrate_container_needs (init_pid, &error)) == NULL))
    {
      ferry_monitor_error ("%s", error->message);
      return 1;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, FERRY_MIGRATE_FACTS_FORMAT);
  json_builder_set_member_name (b, "host");
  json_builder_add_value (b, g_steal_pointer (&host));
  if (container != NULL)
    {
      json_builder_set_member_name (b, "container");
      json_builder_add_value (b, g_steal_pointer (&container));
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  g_autofree char *text = ferry_json_to_string (root, FALSE);
  printf ("%s\n", text);
  fflush (stdout);
  return 0;
}

/* The verdict, one sentence on stderr, without ferry-monitor's prefix: it is
 * the message ferryd hands to the user as it is. */
static int
refused (const char *message)
{
  fprintf (stderr, "%s\n", message);
  fflush (stderr);
  return 1;
}

int
ferry_monitor_migrate_check (const char *source_file, const char *root_dir, gint64 bytes_needed)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL, *criu = ferry_criu_locate (NULL, NULL), *criu_says = NULL;
  g_autoptr (JsonNode) source = NULL, target = NULL;
  JsonObject *source_host = NULL, *container = NULL;
  FerryMigrateCpuVerdict cpu = { 0 };

  if (!g_file_get_contents (source_file, &text, NULL, &error)
      || (source = ferry_migrate_parse_facts (text, &source_host, &container, &error)) == NULL)
    {
      g_autofree char *message = g_strdup_printf ("Migration check 'facts' failed: %s", error->message);
      return refused (message);
    }
  if (container == NULL)
    return refused ("Migration check 'facts' failed: the source's facts describe no container (run "
                    "`ferry-monitor migrate-facts` with --pid on the source)");
  if ((target = ferry_migrate_host_facts (criu, root_dir, &error)) == NULL)
    {
      g_autofree char *message
          = g_strdup_printf ("Migration check 'facts' failed on the target: %s", error->message);
      return refused (message);
    }
  if (criu == NULL)
    cpu.criu_says = "no CRIU on this host";
  else if (!ferry_migrate_cpu_check (criu, source_host, &cpu.compatible, &criu_says, &error))
    {
      g_autofree char *message = g_strdup_printf ("Migration check 'cpu' failed: %s", error->message);
      return refused (message);
    }
  else
    cpu.criu_says = criu_says;
  if (!ferry_migrate_check_feasible (source_host, container, json_node_get_object (target), &cpu,
                                     bytes_needed, NULL, &error))
    return refused (error->message);
  return 0;
}
