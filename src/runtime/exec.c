/* `ferry-monitor exec`: runs a command inside a running container. This
 * process joins the container's cgroup and namespaces, forks (so the PID
 * namespace applies), and forwards signals to the command until it ends. */
#include "runtime/monitor.h"

#include "common/error.h"
#include "runtime/cgroup.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"
#include "runtime/security.h"

#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

/* Exit code when ferry-monitor itself cannot run the command (as lxc-attach's -1). */
#define EXEC_FAILED 255

static volatile sig_atomic_t command_pid;

static void
forward_signal (int sig)
{
  if (command_pid > 0)
    kill (command_pid, sig);
}

static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                         SIGCONT, SIGWINCH, SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM, SIGPWR };

/* time: a restored container has its own (CRIU makes one); an exec outside
 * it would be a process CRIU cannot dump with the others. */
static const char *const namespaces[] = { "ipc", "uts", "net", "pid", "cgroup", "time", "mnt" };

/* HOME and USER of UID from the container's /etc/passwd (we are in its
 * mount namespace when this runs). */
static void
passwd_entry (uid_t uid, char **home, char **user)
{
  g_autofree char *passwd = NULL;

  *home = g_strdup (uid == 0 ? "/root" : "/");
  *user = uid == 0 ? g_strdup ("root") : NULL;
  if (!g_file_get_contents ("/etc/passwd", &passwd, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (passwd, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      g_auto (GStrv) f = g_strsplit (*l, ":", 7);
      if (g_strv_length (f) >= 6 && g_ascii_strtoll (f[2], NULL, 10) == (gint64) uid && *f[2] != '\0')
        {
          g_free (*home);
          g_free (*user);
          *home = g_strdup (*f[5] ? f[5] : "/");
          *user = g_strdup (f[0]);
          return;
        }
    }
}

/* Looks CMD up in PATH inside the container. Returns the path, or NULL with
 * *code 127 (not found) or 126 (found, not executable). */
static char *
resolve_command (const char *cmd, const char *path_env, int *code)
{
  struct stat st;

  *code = 127;
  if (strchr (cmd, '/') != NULL)
    {
      if (stat (cmd, &st) < 0)
        return NULL;
      if (S_ISDIR (st.st_mode) || access (cmd, X_OK) < 0)
        {
          *code = 126;
          return NULL;
        }
      return g_strdup (cmd);
    }
  g_auto (GStrv) dirs = g_strsplit (path_env ? path_env : "/usr/bin:/bin", ":", -1);
  for (char **d = dirs; *d != NULL; d++)
    {
      g_autofree char *candidate = g_build_filename (**d ? *d : ".", cmd, NULL);
      if (stat (candidate, &st) < 0 || S_ISDIR (st.st_mode))
        continue;
      if (access (candidate, X_OK) == 0)
        return g_steal_pointer (&candidate);
      *code = 126;
    }
  return NULL;
}

/* The monitor's socket for the listener of this session's mount
 * notifications, or -1 (the session's mount(2) then fails with ENOSYS). */
static int
connect_mount_socket(const char *run_dir)
{
  g_autofree char *path = g_build_filename(run_dir, FERRY_RUNTIME_MOUNT_SOCKET, NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen(path) >= sizeof addr.sun_path)
    return -1;
  strcpy(addr.sun_path, path);
  fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* Stacks the mount notification filter and hands its listener to the
 * monitor, which answers for this session and what it leaves running. */
static int
hand_over_mount_notifications(int sock)
{
  char byte = 'l';
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr mh
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control };
  struct cmsghdr *cmsg = &control.align;
  int listener = ferry_security_load_mount_notify();

  if (listener < 0)
    return listener;
  memset(&control, 0, sizeof control);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &listener, sizeof(int));
  if (sock >= 0)
    sendmsg(sock, &mh, MSG_NOSIGNAL);
  close(listener);
  if (sock >= 0)
    close(sock);
  return 0;
}

static _Noreturn void
run_command(const FerryExecOptions *o, const char *path, char **envp, const FerrySeccompProgram *seccomp,
            const char *cwd, int mount_sock)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t none;
  int rc;

  for (gsize i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &dfl, NULL);
  sigaction (SIGPIPE, &dfl, NULL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  if (o->tty)
    {
      setsid ();
      ioctl (0, TIOCSCTTY, 0);
    }
  /* The command's files must not be as private as the monitor's. */
  umask (022);
  if (chdir (cwd) < 0)
    {
      dprintf (2, "ferry-monitor: cannot enter %s: %s\n", cwd, strerror (errno));
      _exit (EXEC_FAILED);
    }
    if ((rc = ferry_security_drop_capabilities()) < 0 || (rc = ferry_security_load_seccomp(seccomp)) < 0
        || (rc = hand_over_mount_notifications(mount_sock)) < 0) {
      dprintf (2, "ferry-monitor: applying the container's security settings: %s\n", strerror (-rc));
      _exit (EXEC_FAILED);
    }
  gid_t gid = (gid_t) (o->gid >= 0 ? o->gid : 0);
  uid_t uid = (uid_t) (o->uid >= 0 ? o->uid : 0);
  if (setgroups (0, NULL) < 0 || setgid (gid) < 0 || setuid (uid) < 0)
    {
      dprintf (2, "ferry-monitor: switching to uid %u gid %u: %s\n", (unsigned) uid, (unsigned) gid, strerror (errno));
      _exit (EXEC_FAILED);
    }
  close_range (3, ~0U, CLOSE_RANGE_CLOEXEC);
  execve (path, o->argv, envp);
  int err = errno;
  dprintf (2, "ferry-monitor: %s: %s\n", o->argv[0], strerror (err));
  _exit (err == ENOENT ? 127 : 126);
}

/* The init's namespaces, each an fd (-1: one we are in already: the
 * host's time namespace, which from the container's user namespace
 * setns() would refuse), and its user namespace if it has one of its own
 * (else -1). FALSE (said why) if one cannot be opened. */
static gboolean
open_namespaces (pid_t init_pid, int nsfd[], int *userns)
{
  for (gsize i = 0; i < G_N_ELEMENTS (namespaces); i++)
    {
      g_autofree char *ns = g_strdup_printf ("/proc/%d/ns/%s", (int) init_pid, namespaces[i]);
      if (ferry_proc_same_namespace (init_pid, namespaces[i]) == 1)
        {
          nsfd[i] = -1;
          continue;
        }
      if ((nsfd[i] = open (ns, O_RDONLY | O_CLOEXEC)) < 0)
        {
          ferry_monitor_error ("Opening %s: %s", ns, g_strerror (errno));
          return FALSE;
        }
    }
  *userns = -1;
  if (ferry_proc_same_namespace (init_pid, "user") == 0)
    {
      g_autofree char *ns = g_strdup_printf ("/proc/%d/ns/user", (int) init_pid);
      *userns = open (ns, O_RDONLY | O_CLOEXEC);
    }
  return TRUE;
}

/* Joins the container: its cgroup first (the cgroup namespace's root is
 * the cgroup we are in), an unprivileged container's user namespace
 * before the namespaces it owns (then root of it, as its init is), then
 * the others. */
static gboolean
enter_container (const char *relpath, int userns, int nsfd[])
{
  g_autoptr (GError) error = NULL;
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();

  if (!m->ops->attach (m, relpath, getpid (), &error))
    {
      ferry_monitor_error ("Joining the container's cgroup: %s", error->message);
      return FALSE;
    }
  if (userns >= 0
      && (setns (userns, CLONE_NEWUSER) < 0 || setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0))
    {
      ferry_monitor_error ("Joining the container's user namespace: %s", g_strerror (errno));
      return FALSE;
    }
  if (userns >= 0)
    close (userns);
  for (gsize i = 0; i < G_N_ELEMENTS (namespaces); i++)
    {
      if (nsfd[i] < 0)
        continue;
      if (setns (nsfd[i], 0) < 0)
        {
          ferry_monitor_error ("Joining the container's %s namespace: %s", namespaces[i], g_strerror (errno));
          return FALSE;
        }
      close (nsfd[i]);
    }
  return TRUE;
}

/* The command's environment: a base (PATH, container, LANG, HOME, USER
 * and TERM on a tty), then --env. *HOME: the user's home, from inside. */
static char **
command_env (const FerryExecOptions *o, char **home)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *user = NULL;
  uid_t uid = (uid_t) (o->uid >= 0 ? o->uid : 0);
  char **envp;

  passwd_entry (uid, home, &user);
  g_autofree char *home_env = g_strconcat ("HOME=", *home, NULL);
  g_autofree char *user_env = user ? g_strconcat ("USER=", user, NULL) : NULL;
  const char *term = g_getenv ("TERM");
  g_autofree char *term_env = o->tty ? g_strconcat ("TERM=", term ? term : "xterm", NULL) : NULL;
  const char *base[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "container=ferry",
    "LANG=C.UTF-8",
    home_env,
    user_env ? user_env : term_env,
    user_env ? term_env : NULL,
    NULL,
  };
  if ((envp = ferry_runtime_build_env (base, o->env, &error)) == NULL)
    ferry_monitor_error ("%s", error->message);
  return envp;
}

/* The command's exit code, as a shell gives it (128 + signal). */
static int
wait_command (pid_t pid)
{
  int status;

  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      {
        ferry_monitor_error ("waitpid: %s", g_strerror (errno));
        return EXEC_FAILED;
      }
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return WEXITSTATUS (status);
}

int
ferry_monitor_exec (const FerryExecOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *relpath = NULL, *home = NULL, *path = NULL;
  g_auto (GStrv) envp = NULL;
  FerrySeccompProgram seccomp = { 0 };
  int nsfd[G_N_ELEMENTS (namespaces)], userns = -1;
  int code, mount_sock;

  if (o->run_dir == NULL || o->argv == NULL || o->argv[0] == NULL)
    {
      ferry_monitor_error ("exec needs --run-dir and a command after --");
      return EXEC_FAILED;
    }
  int init_fd = ferry_rundir_open_pidfd (o->run_dir, FERRY_RUNTIME_INIT_PID, NULL);
  pid_t init_pid = ferry_rundir_live_pid (o->run_dir, FERRY_RUNTIME_INIT_PID);
  relpath = ferry_runtime_read_cgroup (o->run_dir);
  if (init_fd < 0 || init_pid == 0 || relpath == NULL)
    {
      ferry_monitor_error ("The container in %s is not running", o->run_dir);
      return EXEC_FAILED;
    }
  if (!open_namespaces (init_pid, nsfd, &userns))
    return EXEC_FAILED;
  /* The namespace fds are the init's only if it is still the same process. */
  if (ferry_rundir_live_pid (o->run_dir, FERRY_RUNTIME_INIT_PID) != init_pid)
    {
      ferry_monitor_error ("The container stopped");
      return EXEC_FAILED;
    }
  close (init_fd);
  /* Before entering the container's mount namespace, where the path means
   * nothing. */
  mount_sock = connect_mount_socket(o->run_dir);
  if (!ferry_security_build_seccomp (&seccomp, &error))
    {
      ferry_monitor_error ("%s", error->message);
      return EXEC_FAILED;
    }
  if (!enter_container (relpath, userns, nsfd) || (envp = command_env (o, &home)) == NULL)
    return EXEC_FAILED;
  if ((path = resolve_command (o->argv[0], g_environ_getenv (envp, "PATH"), &code)) == NULL)
    {
      ferry_monitor_error ("%s: %s", o->argv[0], code == 127 ? "command not found" : "permission denied");
      ferry_security_seccomp_clear (&seccomp);
      return code;
    }

  struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
  sigemptyset (&sa.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  fflush (NULL);
  pid_t pid = fork ();
  if (pid < 0)
    {
      ferry_monitor_error ("fork: %s", g_strerror (errno));
      return EXEC_FAILED;
    }
  if (pid == 0)
    run_command(o, path, envp, &seccomp, o->cwd ? o->cwd : home, mount_sock);
  command_pid = pid;
  if (mount_sock >= 0)
    close(mount_sock);
  ferry_security_seccomp_clear (&seccomp);
  return wait_command (pid);
}
