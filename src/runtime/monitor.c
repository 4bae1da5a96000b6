/* The monitor's life after the container started: parent and reaper of the
 * init, owner of the console master (copied to console.log), and the one who
 * records the exit status and removes the cgroup. Single-threaded, one
 * poll() loop. */
#include "runtime/monitor.h"

#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

void
ferry_monitor_log (const char *fmt, ...)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "%s ferry-monitor[%d]: %s\n", stamp, (int) getpid (), text);
  fflush (stderr);
}

void
ferry_monitor_error (const char *fmt, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "ferry-monitor: %s\n", text);
  fflush (stderr);
}

/* Copies what the console has; FALSE once the master is unusable. */
static gboolean
copy_console (int master, int log_fd)
{
  char buf[16384];

  for (;;)
    {
      ssize_t n = read (master, buf, sizeof buf);
      if (n > 0)
        {
          if (log_fd >= 0)
            ferry_write_all (log_fd, buf, (gsize) n);
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      return n < 0 && errno == EAGAIN;
    }
}

_Noreturn void
ferry_monitor_supervise (const char *run_dir, const char *log_dir, char *relpath, pid_t init_pid, int master)
{
  char *console_path = g_build_filename (log_dir, "console.log", NULL);
  int log_fd = open (console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  int init_status = 0;
  gboolean init_alive = TRUE;
  sigset_t mask;

  if (log_fd < 0)
    ferry_monitor_log ("opening %s: %s (console output is dropped)", console_path, g_strerror (errno));
  g_free (console_path);
  fcntl (master, F_SETFL, fcntl (master, F_GETFL) | O_NONBLOCK);
  /* Holding a slave keeps the master from reporting POLLHUP (a busy loop)
   * while no process in the container has the console open. */
  int peer = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);

  sigemptyset (&mask);
  for (const int *s = (const int[]) { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, 0 }; *s; s++)
    sigaddset (&mask, *s);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  signal (SIGPIPE, SIG_IGN);
  int sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    {
      ferry_monitor_log ("signalfd: %s; killing the container", g_strerror (errno));
      kill (init_pid, SIGKILL);
    }

  while (init_alive)
    {
      struct pollfd fds[2] = { { .fd = sfd, .events = POLLIN }, { .fd = master, .events = POLLIN } };
      int n = poll (fds, 2, sfd < 0 ? 100 : -1);
      if (n < 0 && errno != EINTR)
        {
          ferry_monitor_log ("poll: %s", g_strerror (errno));
          g_usleep (100000);
        }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
        {
          if (!copy_console (master, log_fd))
            {
              ferry_monitor_log ("the console closed");
              close (master);
              master = -1;
            }
        }
      if (sfd >= 0 && (fds[0].revents & POLLIN))
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof si) == sizeof si)
            if (si.ssi_signo != SIGCHLD)
              ferry_monitor_log ("ignoring signal %d (stop the container with `ferry-monitor stop`)",
                                 (int) si.ssi_signo);
        }
      /* Reap on every wake-up: also covers a lost SIGCHLD. */
      for (;;)
        {
          int status;
          pid_t pid = waitpid (-1, &status, WNOHANG);
          if (pid <= 0)
            break;
          if (pid == init_pid)
            {
              init_status = status;
              init_alive = FALSE;
            }
        }
    }

  if (master >= 0)
    {
      copy_console (master, log_fd);
      close (master);
    }
  if (peer >= 0)
    close (peer);
  if (log_fd >= 0)
    close (log_fd);

  char *status_text = WIFSIGNALED (init_status) ? g_strdup_printf ("signaled %d", WTERMSIG (init_status))
                                                           : g_strdup_printf ("exited %d", WEXITSTATUS (init_status));
  ferry_monitor_log ("init %d %s", (int) init_pid, status_text);
  {
    g_autofree char *path = g_build_filename (run_dir, FERRY_RUNTIME_EXIT_STATUS, NULL);
    g_autofree char *data = g_strconcat (status_text, "\n", NULL);
    g_autoptr (GError) error = NULL;
    if (!ferry_write_file_atomic (path, data, -1, 0644, &error))
      ferry_monitor_log ("%s", error->message);
  }
  {
    const FerryCgroupManager *m = ferry_cgroup_manager_get ();
    g_autoptr (GError) error = NULL;
    if (!m->ops->destroy (m, relpath, &error))
      ferry_monitor_log ("%s", error->message);
  }
  for (const char *const *f = (const char *const[]) { FERRY_RUNTIME_INIT_PID, FERRY_RUNTIME_CGROUP,
                                                      FERRY_RUNTIME_MONITOR_PID, NULL };
       *f; f++)
    {
      g_autofree char *path = g_build_filename (run_dir, *f, NULL);
      unlink (path);
    }
  ferry_monitor_log ("stopped");
  g_free (status_text);
  g_free (relpath);
  exit (0);
}
