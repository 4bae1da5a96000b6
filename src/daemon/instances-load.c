/* Loading instances at start: rows, running containers re-attached,
 * recovery, and those that ran when the host went down started. */
#include "config.h"
#include "daemon/instance.h"
#include "daemon/lifecycle-internal.h"
#include "daemon/http/http.h"
#include "daemon/idmaps.h"
#include "daemon/network-manager.h"
#include "daemon/recovery.h"
#include "common/error.h"
#include "common/idmap.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "common/testhook.h"
#include "checkpoint/checkpoint.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <glib-unix.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- loading at start ---- */

gboolean
ferry_instances_load (FerryDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) rows = ferry_db_instance_list (d->db, error);
  g_autoptr (GPtrArray) loaded = g_ptr_array_new ();

  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < rows->len; i++)
    {
      FerryInstance *inst = g_new0 (FerryInstance, 1);
      inst->row = g_ptr_array_steal_index (rows, i--);
      inst->monitor_pidfd = -1;
      g_hash_table_insert (d->instances, inst->row->name, inst);
      g_ptr_array_add (loaded, inst->row->name);
    }
  /* What a ferryd that died mid-operation left, settled before anything
   * touches an instance (docs/durability.md). */
  ferry_recovery_run (d);
  ferry_lifecycle_discard_leftovers (d);
  for (guint i = 0; i < loaded->len; i++)
    {
      FerryInstance *inst = g_hash_table_lookup (d->instances, g_ptr_array_index (loaded, i));
      g_autoptr (GHashTable) config = NULL;
      const char *power;

      if (inst == NULL)
        continue;
      config = ferry_instance_own_config (inst);
      power = g_hash_table_lookup (config, "volatile.last_state.power");
      if (ferry_instance_is_running (d, inst))
        {
          g_message ("Re-attached to running instance %s", inst->row->name);
          ferry_instance_watch (d, inst);
        }
      else if (g_strcmp0 (power, "RUNNING") == 0)
        {
          /* It was running when the host (not just ferryd) went down: from
           * its saved state if it has one, never cold over it. */
          g_autoptr (GError) start_error = NULL;
          g_autoptr (FerryOperation) op = NULL;
          g_message ("Starting %s, which was running before the host went down", inst->row->name);
          op = ferry_instance_start (d, inst, TRUE, &start_error);
          if (op == NULL)
            g_warning ("Could not start %s: %s", inst->row->name, start_error->message);
        }
    }
  return TRUE;
}

