/* `ferry-monitor stop`: the halt signal, a grace period, then SIGKILL;
 * returns when the monitor is gone and the cgroup removed. */
#include "runtime/monitor.h"

#include "common/error.h"
#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

/* The halt signal, by LXC's rule (lxcapi_shutdown): SIGRTMIN+3 when the
 * init blocks it, as systemd does to read it from a signalfd (it halts in
 * a fraction of a second; SIGPWR only starts its sigpwr.target); SIGPWR
 * otherwise. Checked on busybox 1.35 (Debian 12): its init handles SIGPWR
 * like SIGUSR1 (runs the inittab shutdown actions, kills everything, then
 * reboot(HALT), which ends the PID namespace: the init is reported as
 * "signaled 2"). */
static int
halt_signal (pid_t init_pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) init_pid);
  g_autofree char *status = NULL;

  g_file_get_contents (path, &status, NULL, NULL);
  if (ferry_proc_status_mask (status, "SigBlk") & (1ull << (SIGRTMIN + 3 - 1)))
    return SIGRTMIN + 3;
  return SIGPWR;
}

/* TRUE when the process behind PIDFD exited within TIMEOUT_MS. */
static gboolean
wait_exit (int pidfd, int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      if (left < 0)
        left = 0;
      int n = poll (&p, 1, (int) MIN (left, INT_MAX));
      if (n > 0)
        return TRUE;
      if (n == 0)
        return FALSE;
      if (errno != EINTR)
        return FALSE;
    }
}

/* The monitor is gone (crashed or SIGKILLed): do its cleanup. */
static gboolean
cleanup_without_monitor (const char *run_dir, const char *relpath, GError **error)
{
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();

  if (relpath != NULL && !m->ops->destroy (m, relpath, error))
    return FALSE;
  for (const char *const *f = (const char *const[]) { FERRY_RUNTIME_INIT_PID, FERRY_RUNTIME_CGROUP,
                                                      FERRY_RUNTIME_MONITOR_PID, NULL };
       *f; f++)
    {
      g_autofree char *path = g_build_filename (run_dir, *f, NULL);
      unlink (path);
    }
  return TRUE;
}

int
ferry_monitor_stop (const FerryStopOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *relpath = NULL;
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  int timeout_ms = (o->timeout < 0 ? 30 : o->timeout) * 1000;
  pid_t init_pid = 0, monitor_pid = 0;
  int rc = 1;

  if (o->run_dir == NULL)
    {
      ferry_monitor_error ("stop needs --run-dir");
      return 1;
    }
  relpath = ferry_runtime_read_cgroup (o->run_dir);
  int mfd = ferry_rundir_open_pidfd (o->run_dir, FERRY_RUNTIME_MONITOR_PID, &monitor_pid);
  int ifd = ferry_rundir_open_pidfd (o->run_dir, FERRY_RUNTIME_INIT_PID, &init_pid);

  if (ifd >= 0)
    {
      /* Frozen tasks would not handle the halt signal (nor die, on v1). */
      if (relpath != NULL)
        m->ops->set_frozen (m, relpath, FALSE, NULL);
      int sig = o->force ? SIGKILL : o->halt_signal > 0 ? o->halt_signal : halt_signal (init_pid);
      if (pidfd_send_signal (ifd, sig, NULL, 0) < 0 && errno != ESRCH)
        {
          ferry_monitor_error ("Sending signal %d to the init (PID %d): %s", sig, (int) init_pid, g_strerror (errno));
          goto out;
        }
    }
  if (mfd >= 0 || ifd >= 0)
    {
      int wait_fd = mfd >= 0 ? mfd : ifd;
      if (!wait_exit (wait_fd, o->force ? 10000 : timeout_ms))
        {
          if (ifd >= 0)
            pidfd_send_signal (ifd, SIGKILL, NULL, 0);
          if (!wait_exit (wait_fd, 10000))
            {
              ferry_monitor_error ("The container did not stop after SIGKILL (monitor PID %d, init PID %d)",
                                   (int) monitor_pid, (int) init_pid);
              goto out;
            }
        }
    }
  /* The monitor removes the cgroup before it exits; when it died early,
   * or never ran, do it here. */
  if ((mfd < 0 || (relpath != NULL && m->ops->exists (m, relpath)))
      && !cleanup_without_monitor (o->run_dir, relpath, &error))
    {
      ferry_monitor_error ("%s", error->message);
      goto out;
    }
  rc = 0;

out:
  if (mfd >= 0)
    close (mfd);
  if (ifd >= 0)
    close (ifd);
  return rc;
}
