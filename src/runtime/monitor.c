/* The monitor's life after the container started: parent and reaper of the
 * init, owner of the console master (copied to console.log), and the one who
 * records the exit status and removes the cgroup. Single-threaded, one
 * poll() loop. */
#include "runtime/monitor.h"
#include "runtime/mount-notify.h"

#include "common/fs.h"
#include "runtime/cgroup.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

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

/* The socket exec sessions connect to, to hand over the listener of their
 * mount notifications (the run directory is root's alone). */
static int
open_mount_socket(const char *run_dir)
{
  g_autofree char *path = g_build_filename(run_dir, FERRY_RUNTIME_MOUNT_SOCKET, NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen(path) >= sizeof addr.sun_path) {
    ferry_monitor_log("%s: path too long; exec sessions cannot mount", path);
    return -1;
  }
  strcpy(addr.sun_path, path);
  unlink(path);
  fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
    ferry_monitor_log("%s: %s; exec sessions cannot mount", path, g_strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

/* A listener passed by an exec session on a new connection, or -1. */
static int
accept_listener(int sock)
{
  char byte, control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr mh
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  struct ucred cred;
  socklen_t len = sizeof cred;
  int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC), fd = -1;

  if (conn < 0)
    return -1;
  /* Bounded: a session that connects and says nothing cannot stall us. */
  struct timeval tv = { .tv_sec = 5 };
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0
      && recvmsg(conn, &mh, MSG_CMSG_CLOEXEC) == 1)
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
  close(conn);
  return fd;
}

enum
{
  POLL_SIGNALS,
  POLL_CONSOLE,
  POLL_MOUNT_SOCKET,
  POLL_LISTENERS, /* the init's, then exec sessions' */
  MAX_LISTENERS = 64,
};

_Noreturn void
ferry_monitor_supervise(const char *run_dir, const char *log_dir, FerryContainer *c)
{
  char *console_path = g_build_filename (log_dir, "console.log", NULL);
  int log_fd = open (console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  int init_status = 0, master = c->console;
  char *relpath = c->relpath;
  pid_t init_pid = c->init_pid;
  gboolean init_alive = TRUE;
  sigset_t mask;
  struct pollfd fds[POLL_LISTENERS + MAX_LISTENERS];
  nfds_t nfds = POLL_LISTENERS;

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
    fds[POLL_SIGNALS] = (struct pollfd){ .fd = sfd, .events = POLLIN };
    fds[POLL_CONSOLE] = (struct pollfd){ .fd = master, .events = POLLIN };
    fds[POLL_MOUNT_SOCKET] = (struct pollfd){ .fd = open_mount_socket(run_dir), .events = POLLIN };
    if (c->mount_listener >= 0)
      fds[nfds++] = (struct pollfd){ .fd = c->mount_listener, .events = POLLIN };

    while (init_alive) {
      int n = poll(fds, nfds, sfd < 0 ? 100 : -1);
      if (n < 0 && errno != EINTR)
        {
          ferry_monitor_log ("poll: %s", g_strerror (errno));
          g_usleep (100000);
        }
        if (n < 0)
          continue;
        if (fds[POLL_CONSOLE].revents & (POLLIN | POLLHUP | POLLERR)) {
          if (!copy_console (master, log_fd))
            {
              ferry_monitor_log ("the console closed");
              close (master);
              master = fds[POLL_CONSOLE].fd = -1;
            }
        }
        if (fds[POLL_MOUNT_SOCKET].revents & POLLIN) {
          int listener = accept_listener(fds[POLL_MOUNT_SOCKET].fd);
          /* Past the limit the session's mount(2) fails with ENOSYS. */
          if (listener >= 0 && nfds < G_N_ELEMENTS(fds))
            fds[nfds++] = (struct pollfd){ .fd = listener, .events = POLLIN };
          else if (listener >= 0)
            close(listener);
        }
        for (nfds_t i = POLL_LISTENERS; i < nfds; i++) {
          gboolean alive = TRUE;
          if (fds[i].revents & POLLIN)
            alive = ferry_mount_notify_handle(fds[i].fd, FERRY_MOUNT_NOTIFY_ENFORCING);
          if (alive && !(fds[i].revents & (POLLHUP | POLLERR | POLLNVAL)))
            continue;
          /* No process uses that filter any more. */
          close(fds[i].fd);
          fds[i--] = fds[--nfds];
        }
        if (sfd >= 0 && (fds[POLL_SIGNALS].revents & POLLIN)) {
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

    for (nfds_t i = POLL_MOUNT_SOCKET; i < nfds; i++)
      if (fds[i].fd >= 0)
        close(fds[i].fd);
    if (master >= 0) {
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
  for (const char *const *f
       = (const char *const[]){ FERRY_RUNTIME_INIT_PID, FERRY_RUNTIME_CGROUP, FERRY_RUNTIME_MONITOR_PID,
                                FERRY_RUNTIME_MOUNT_SOCKET, FERRY_DISK_RECORD, NULL };
       *f; f++) {
    g_autofree char *path = g_build_filename(run_dir, *f, NULL);
    unlink(path);
  }
  ferry_monitor_log ("stopped");
  g_free (status_text);
  g_free (relpath);
  exit (0);
}
