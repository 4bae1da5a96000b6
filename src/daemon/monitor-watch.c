/* Running ferry-monitor, and watching containers stop on their own. */
#include "config.h"
#include "daemon/instance.h"
#include "daemon/lifecycle-internal.h"
#include "daemon/http/http.h"
#include "daemon/idmaps.h"
#include "daemon/network-manager.h"
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

/* ---- running ferry-monitor ---- */

GSubprocess *
ferry_spawn_monitor (FerryDaemon *d, const char *const *argv, int fd3, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_autoptr (GError) local = NULL;
  GSubprocess *proc;

  g_ptr_array_add (full, d->monitor_path);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);
  if (fd3 >= 0)
    g_subprocess_launcher_take_fd (launcher, fd3, 3);
  if ((proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) full->pdata, &local)) == NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Running %s: %s", d->monitor_path, local->message);
  return proc;
}

gboolean
ferry_monitor_finish (FerryDaemon *d, GSubprocess *proc, char **stdout_text, GError **error)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) local = NULL;

  if (!g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &local))
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

gboolean
ferry_run_monitor (FerryDaemon *d, const char *const *argv, char **stdout_text, GError **error)
{
  g_autoptr (GSubprocess) proc = ferry_spawn_monitor (d, argv, -1, error);

  return proc != NULL && ferry_monitor_finish (d, proc, stdout_text, error);
}

/* ---- watching containers stop on their own ---- */


static gboolean
is_host_name_key (gpointer key, gpointer value, gpointer data)
{
  return g_str_has_prefix (key, "volatile.") && g_str_has_suffix (key, ".host_name");
}

void
ferry_instance_set_power (FerryDaemon *d, FerryInstance *inst, const char *power)
{
  g_autoptr (GHashTable) config = ferry_instance_own_config (inst);
  g_autoptr (GError) error = NULL;

  g_hash_table_insert (config, g_strdup ("volatile.last_state.power"), g_strdup (power));
  /* As LXD's nic postStop: a stopped instance has no host-side veth, so no
   * volatile.<nic>.host_name naming one (the next start picks a new one). */
  if (g_strcmp0 (power, "STOPPED") == 0)
    g_hash_table_foreach_remove (config, is_host_name_key, NULL);
  ferry_instance_set_own_config (inst, config);
  if (!inst->creating && !ferry_instance_save (d, inst, &error))
    g_warning ("Saving state of %s: %s", inst->row->name, error->message);
}

void
ferry_instance_unwatch (FerryInstance *inst)
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

  /* reboot(2) in a PID namespace ends its init as if by SIGHUP, a halt or
   * poweroff as by SIGINT (the kernel's reboot_pid_ns): as LXD, a reboot
   * from inside starts the container again. */
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, w->name);
  g_autofree char *how = ferry_runtime_read_exit_status (run_dir);
  if (how != NULL && g_str_equal (g_strstrip (how), "signaled 1"))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryOperation) op = NULL;
      g_message ("Instance %s rebooted itself: starting it again", inst->row->name);
      if ((op = ferry_instance_start_op (d, inst, FALSE, "reboot", &error)) != NULL)
        return G_SOURCE_REMOVE;
      g_warning ("Starting %s after its reboot: %s", inst->row->name, error->message);
    }
  g_message ("Instance %s stopped on its own", inst->row->name);
  ferry_instance_set_power (d, inst, "STOPPED");
  ferry_events_lifecycle (d, "instance-shutdown", source, NULL);
  if (inst->row->ephemeral)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryOperation) op = ferry_instance_delete_op (d, inst, TRUE, &error);
      if (op == NULL)
        g_warning ("Deleting ephemeral instance %s: %s", w->name, error->message);
    }
  return G_SOURCE_REMOVE;
}

void
ferry_instance_watch (FerryDaemon *d, FerryInstance *inst)
{
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
  WatchData *w;

  ferry_instance_unwatch (inst);
  inst->monitor_pidfd = ferry_runtime_open_pidfd (run_dir);
  if (inst->monitor_pidfd < 0)
    return;
  w = g_new0 (WatchData, 1);
  w->daemon = d;
  w->name = g_strdup (inst->row->name);
  inst->monitor_watch = g_unix_fd_add_full (G_PRIORITY_DEFAULT, inst->monitor_pidfd, G_IO_IN, monitor_exited, w,
                                            (GDestroyNotify) watch_data_free);
}

void
ferry_instance_mark_running (FerryDaemon *d, FerryInstance *inst)
{
  inst->row->last_used_at = ferry_time_now ();
  ferry_instance_set_power (d, inst, "RUNNING");
  ferry_instance_watch (d, inst);
}

void
ferry_instance_mark_stopped (FerryDaemon *d, FerryInstance *inst)
{
  ferry_instance_unwatch (inst);
  ferry_instance_set_power (d, inst, "STOPPED");
}

