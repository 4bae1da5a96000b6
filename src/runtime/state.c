/* The library side of the runtime: state, freeze, exit status. */
#include "runtime/runtime.h"

#include "common/error.h"
#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/rundir.h"

#include <errno.h>
#include <string.h>

char *
ferry_runtime_read_cgroup (const char *run_dir)
{
  g_autofree char *path = g_build_filename (run_dir, FERRY_RUNTIME_CGROUP, NULL);
  g_autofree char *relpath = ferry_read_small_file (path);

  if (!ferry_cgroup_relpath_valid (relpath))
    return NULL;
  return g_steal_pointer (&relpath);
}

gboolean
ferry_runtime_read_state (const char *run_dir, FerryRuntimeState *out, GError **error)
{
  FerryCgroupStats stats;

  memset (out, 0, sizeof *out);
  if (!g_file_test (run_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Run directory %s does not exist", run_dir);
      return FALSE;
    }
  pid_t monitor = ferry_rundir_live_pid (run_dir, FERRY_RUNTIME_MONITOR_PID);
  pid_t init = ferry_rundir_live_pid (run_dir, FERRY_RUNTIME_INIT_PID);
  if (monitor == 0 || init == 0)
    return TRUE;
  out->running = TRUE;
  out->monitor_pid = monitor;
  out->init_pid = init;

  g_autofree char *relpath = ferry_runtime_read_cgroup (run_dir);
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  if (relpath != NULL && m->ops->read_stats (m, relpath, &stats, NULL))
    {
      out->frozen = stats.frozen;
      out->processes = stats.processes;
      out->memory_usage = stats.memory_usage;
      out->memory_peak = stats.memory_peak;
      out->swap_usage = stats.swap_usage;
      out->swap_peak = stats.swap_peak;
      out->cpu_usage_ns = stats.cpu_usage_ns;
    }
  return TRUE;
}

static gboolean
set_frozen (const char *run_dir, gboolean frozen, GError **error)
{
  if (ferry_rundir_live_pid (run_dir, FERRY_RUNTIME_INIT_PID) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "The container is not running");
      return FALSE;
    }
  g_autofree char *relpath = ferry_runtime_read_cgroup (run_dir);
  if (relpath == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s/%s is missing or invalid", run_dir,
                   FERRY_RUNTIME_CGROUP);
      return FALSE;
    }
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  if (!m->ops->set_frozen (m, relpath, frozen, error))
    {
      g_prefix_error (error, "%s the container: ", frozen ? "Freezing" : "Thawing");
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_runtime_freeze (const char *run_dir, GError **error)
{
  return set_frozen (run_dir, TRUE, error);
}

char *
ferry_runtime_freezer_dir (const char *run_dir)
{
  g_autofree char *relpath = ferry_runtime_read_cgroup (run_dir);
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();

  return relpath != NULL ? m->ops->freezer_dir (m, relpath) : NULL;
}

gboolean
ferry_runtime_unfreeze (const char *run_dir, GError **error)
{
  return set_frozen (run_dir, FALSE, error);
}

int
ferry_runtime_open_pidfd (const char *run_dir)
{
  return ferry_rundir_open_pidfd (run_dir, FERRY_RUNTIME_MONITOR_PID, NULL);
}

char *
ferry_runtime_read_exit_status (const char *run_dir)
{
  g_autofree char *path = g_build_filename (run_dir, FERRY_RUNTIME_EXIT_STATUS, NULL);

  return ferry_read_small_file (path);
}
