/* `ferry-monitor start`: creates the container under a new, detached
 * monitor process and returns once the container's init runs. */
#include "runtime/monitor.h"

#include "common/error.h"
#include "common/idmap.h"
#include "common/fs.h"
#include "common/names.h"
#include "runtime/cgroup.h"
#include "runtime/container-init.h"
#include "runtime/rootfs.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const init_env_base[] = {
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "container=ferry",
  "HOME=/root",
  NULL,
};

static gboolean
validate (const FerryStartOptions *o, GError **error)
{
  if (o->name == NULL || o->rootfs == NULL || o->run_dir == NULL || o->log_dir == NULL || o->cgroup_parent == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "start needs --name, --rootfs, --run-dir, --log-dir and --cgroup-parent");
      return FALSE;
    }
  if (!ferry_name_validate_instance (o->name, error))
    return FALSE;
  if (!ferry_cgroup_relpath_valid (o->cgroup_parent))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid --cgroup-parent \"%s\" (a relative path)",
                   o->cgroup_parent);
      return FALSE;
    }
  if (!g_file_test (o->rootfs, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "The rootfs %s is not a directory", o->rootfs);
      return FALSE;
    }
  if (o->limit_memory < 0 || o->limit_processes < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Limits must not be negative");
      return FALSE;
    }
  if (o->hostname != NULL && (*o->hostname == '\0' || strlen (o->hostname) > 64))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid --hostname");
      return FALSE;
    }
  if (o->init != NULL && o->init[0] != '/')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "--init must be an absolute path inside the container");
      return FALSE;
    }
  if (!ferry_mkdir_p (o->run_dir, 0700, error) || !ferry_mkdir_p (o->log_dir, 0700, error))
    return FALSE;
  /* The root of an unprivileged container reaches its new console there at
   * a restore (CRIU binds it by path from inside); passage only. */
  if (chmod (o->run_dir, o->idmap != NULL ? 0711 : 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s: %s", o->run_dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (ferry_rundir_live_pid (o->run_dir, FERRY_RUNTIME_MONITOR_PID) != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "The container %s is already running (monitor in %s)",
                   o->name, o->run_dir);
      return FALSE;
    }
  return TRUE;
}

static void
remove_run_files (const char *run_dir)
{
  static const char *const files[] = { FERRY_RUNTIME_INIT_PID, FERRY_RUNTIME_CGROUP, FERRY_RUNTIME_MONITOR_PID,
                                       FERRY_RUNTIME_MOUNT_SOCKET, FERRY_DISK_RECORD };

  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (run_dir, files[i], NULL);
      unlink (path);
    }
}

/* Receives the child's next message; *fd gets a passed descriptor. Returns
 * the message kind, 0 on EOF, -errno on failure. */
static int
receive_message (int sock, FerryInitMessage *msg, int *fd)
{
  char control[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = msg, .iov_len = sizeof *msg };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  ssize_t n;

  memset (msg, 0, sizeof *msg);
  do
    n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  if (n == 0)
    return 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&mh); c != NULL; c = CMSG_NXTHDR (&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy (fd, CMSG_DATA (c), sizeof (int));
  if (n != sizeof *msg)
    return -EPROTO;
  msg->what[sizeof msg->what - 1] = '\0';
  return msg->kind;
}

/* Writes MAP as the user namespace maps of PID. */
static gboolean
write_idmap (pid_t pid, GArray *idmap, GError **error)
{
  for (int uid = 1; uid >= 0; uid--)
    {
      g_autofree char *map = ferry_idmap_proc_text (idmap, uid);
      g_autofree char *path = g_strdup_printf ("/proc/%d/%s", (int) pid, uid ? "uid_map" : "gid_map");
      int fd = open (path, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write (fd, map, strlen (map)) != (ssize_t) strlen (map))
        {
          int saved = errno;
          if (fd >= 0)
            close (fd);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s (%s): %s", path, g_strstrip (map),
                       g_strerror (saved));
          return FALSE;
        }
      close (fd);
    }
  return TRUE;
}

/* A detached copy of ROOTFS mounted idmapped with the user namespace of
 * PID: on-disk root is the namespace's root. */
int
ferry_monitor_idmapped_tree (const char *rootfs, pid_t pid, GError **error)
{
  g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/user", (int) pid);
  int ns = open (ns_path, O_RDONLY | O_CLOEXEC), tree = -1, saved;
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP };

  if (ns < 0)
    {
      saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", ns_path, g_strerror (saved));
      return -1;
    }
  attr.userns_fd = (guint64) ns;
  tree = (int) syscall (SYS_open_tree, AT_FDCWD, rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0 || syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    {
      saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Mounting %s idmapped: %s%s", rootfs, g_strerror (saved),
                   saved == EINVAL ? " (the file system may not support idmapped mounts)" : "");
      if (tree >= 0)
        close (tree);
      tree = -1;
    }
  close (ns);
  return tree;
}

char **
ferry_monitor_add_dev_node_keys (char **keys, gboolean restore)
{
  GStrvBuilder *b = g_strv_builder_new ();
  char **all;

  g_strv_builder_addv (b, (const char **) keys);
  for (gsize i = 0; i < FERRY_ROOTFS_DEV_NODES; i++)
    {
      const char *path = ferry_rootfs_dev_nodes[i].path, *name = strrchr (path, '/') + 1;
      g_autofree char *k = restore ? g_strdup_printf ("mnt[ferry-dev-%s]:%s", name, path)
                                   : g_strdup_printf ("mnt[%s]:ferry-dev-%s", path, name);
      g_strv_builder_add (b, k);
    }
  all = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  g_strfreev (keys);
  return all;
}

gboolean
ferry_monitor_mount_idmapped_rootfs (const char *rootfs, GArray *idmap, GError **error)
{
  gboolean ok = FALSE;
  int tree = -1;
  /* A user namespace with the map, held by a child that waits to be killed. */
  pid_t helper = (pid_t) syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);

  if (helper < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating a user namespace: %s", g_strerror (saved));
      return FALSE;
    }
  if (helper == 0)
    {
      for (;;)
        pause ();
    }
  if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "A mount namespace for the restore: %s",
                   g_strerror (saved));
    }
  else if (write_idmap (helper, idmap, error) && (tree = ferry_monitor_idmapped_tree (rootfs, helper, error)) >= 0)
    {
      if (syscall (SYS_move_mount, tree, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Mounting %s idmapped: %s", rootfs, g_strerror (saved));
        }
      else
        ok = TRUE;
      close (tree);
    }
  kill (helper, SIGKILL);
  while (waitpid (helper, NULL, 0) < 0 && errno == EINTR)
    ;
  return ok;
}

/* "g", with TREE (SCM_RIGHTS) unless it is -1, then the disks' binds. */
static gboolean
send_go (int sock, int tree, const FerryDisks *disks)
{
  char go = 'g', control[CMSG_SPACE (sizeof (int) * (FERRY_DISK_MAX + 1))];
  struct iovec iov = { .iov_base = &go, .iov_len = 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
  int fds[FERRY_DISK_MAX + 1], n = 0;

  if (tree >= 0)
    fds[n++] = tree;
  for (int i = 0; i < disks->n; i++)
    fds[n++] = disks->trees[i];
  if (n > 0)
    {
      memset (control, 0, sizeof control);
      mh.msg_control = control;
      mh.msg_controllen = CMSG_SPACE (sizeof (int) * (size_t) n);
      struct cmsghdr *c = CMSG_FIRSTHDR (&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * (size_t) n);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * (size_t) n);
    }
  return sendmsg (sock, &mh, MSG_NOSIGNAL) == 1;
}

/* Unprivileged: the root of the container's cgroup namespace (NAME/ns in
 * every hierarchy) is given to the container's root, as systemd delegates
 * a cgroup and LXC does for its unprivileged containers: the directory and
 * the files that move processes and enable controllers. Its limits stay on
 * NAME, host root's; what it makes below can only be tighter. */
static gboolean
delegate_cgroup (const FerryCgroupManager *m, const char *relpath, GArray *idmap, GError **error)
{
  uid_t uid = (uid_t) ferry_idmap_to_host (idmap, TRUE, 0);
  gid_t gid = (gid_t) ferry_idmap_to_host (idmap, FALSE, 0);
  g_auto (GStrv) mounts = m->ops->mountpoints (m);

  for (char **mp = mounts; mp != NULL && *mp != NULL; mp++)
    for (const char *const *file = (const char *const[]) { ".", "cgroup.procs", "cgroup.threads",
                                                           "cgroup.subtree_control", "tasks",
                                                           "cgroup.clone_children", NULL };
         *file; file++)
      {
        g_autofree char *path = g_build_filename (*mp, relpath, FERRY_CGROUP_NS, *file, NULL);
        if (lchown (path, uid, gid) < 0 && errno != ENOENT)
          {
            int saved = errno;
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Delegating %s to the container's root: %s", path,
                         g_strerror (saved));
            return FALSE;
          }
      }
  return TRUE;
}

gboolean
ferry_monitor_create_cgroup (const FerryStartOptions *o, FerryContainer *c, GError **error)
{
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  g_autofree char *cpus = NULL;
  FerryCgroupLimits limits = { 0 };

  /* Without it the limits would be accepted and nothing would enforce them. */
  if (!ferry_cgroup_check_host (error))
    return FALSE;
  c->relpath = g_build_path ("/", o->cgroup_parent, o->name, NULL);
  if (o->limit_cpu != NULL && *o->limit_cpu != '\0')
    {
      g_autofree char *available = m->ops->parent_cpus (m, c->relpath);
      if ((cpus = ferry_cgroup_resolve_cpus (o->limit_cpu, available, error)) == NULL)
        return FALSE;
    }
  limits.memory_limit = o->limit_memory;
  limits.pids_max = o->limit_processes;
  limits.cpus = cpus;
  if (!m->ops->create (m, c->relpath, &limits, error))
    return FALSE;
  c->cgroup_created = TRUE;
  return o->idmap == NULL || delegate_cgroup (m, c->relpath, o->idmap, error);
}

static gboolean
create_container (const FerryStartOptions *o, FerryContainer *c, GError **error)
{
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  g_autofree char *rootfs = realpath (o->rootfs, NULL);
  g_auto (GStrv) envp = NULL;
  FerrySeccompProgram seccomp = { 0 };
  FerryInitMessage msg;
  FerryDisks disks = { 0 };
  int sv[2] = { -1, -1 };
  int rc, console = -1, listener = -1, tree = -1;
  gboolean ok = FALSE, userns = o->idmap != NULL;

  if (rootfs == NULL)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Resolving the rootfs %s: %s", o->rootfs,
                   g_strerror (saved));
      return FALSE;
    }
  if (!ferry_monitor_create_cgroup (o, c, error))
    return FALSE;
  if (!ferry_security_build_seccomp (&seccomp, error))
    return FALSE;
  if ((envp = ferry_runtime_build_env (init_env_base, o->env, error)) == NULL)
    goto out;
  if (!ferry_disks_open (o->disks, &disks, error))
    goto out;

  const char *init = o->init ? o->init : "/sbin/init";
  char *argv[] = { (char *) init, NULL };
  FerryInitConfig cfg = {
    .rootfs = rootfs,
    .hostname = o->hostname ? o->hostname : o->name,
    .init_path = init,
    .argv = argv,
    .envp = envp,
    .seccomp = &seccomp,
    .userns = userns,
    .ndisks = disks.n,
    .disk_paths = disks.paths,
    .disk_is_file = disks.is_file,
  };
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "socketpair: %s", g_strerror (saved));
      goto out;
    }
  struct timeval tv = { .tv_sec = 30 };
  setsockopt (sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  cfg.sock = sv[1];

  /* A raw clone without a new stack behaves like fork() (and keeps the
   * sanitizers happy); CLONE_NEWPID makes the child PID 1 of its namespace. */
  pid_t pid = (pid_t) syscall (SYS_clone, FERRY_INIT_CLONE_FLAGS | (userns ? CLONE_NEWUSER : 0) | SIGCHLD, NULL,
                               NULL, NULL, NULL);
  if (pid < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating the container's namespaces (clone): %s",
                   g_strerror (saved));
      goto out;
    }
  if (pid == 0)
    {
      close (sv[0]);
      ferry_container_init_run (&cfg);
    }
  c->init_pid = pid;
  close (sv[1]);
  sv[1] = -1;

  if (!m->ops->attach (m, c->relpath, pid, error))
    goto out;
  if (userns
      && (!write_idmap (pid, o->idmap, error)
          || (tree = ferry_monitor_idmapped_tree (rootfs, pid, error)) < 0))
    goto out;
  /* The init waits for "g": its eth0 is there and up before it runs. */
  if (!ferry_monitor_setup_nics (o, pid, error))
    goto out;
  if (!send_go (sv[0], tree, &disks))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The container's first process died before setup");
      goto out;
    }
  for (;;)
    {
      int fd = -1;
      rc = receive_message (sv[0], &msg, &fd);
      if (rc == FERRY_INIT_MSG_CONSOLE && fd >= 0 && console < 0)
        {
          console = fd;
          continue;
        }
        if (rc == FERRY_INIT_MSG_MOUNT_LISTENER && fd >= 0 && listener < 0) {
          listener = fd;
          continue;
        }
      if (fd >= 0)
        close (fd);
      break;
    }
  if (rc == FERRY_INIT_MSG_ERROR)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Starting the container failed while %s: %s", msg.what,
                 g_strerror (msg.err));
  else if (rc < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Waiting for the container's init: %s", g_strerror (-rc));
  else if (rc != 0 || console < 0 || listener < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The container's first process died during setup");
  else
    ok = ferry_disks_record (o->run_dir, disks.specs, error);

out:
  ferry_disks_clear (&disks);
  if (tree >= 0)
    close (tree);
  if (sv[0] >= 0)
    close (sv[0]);
  if (sv[1] >= 0)
    close (sv[1]);
  ferry_security_seccomp_clear (&seccomp);
  if (ok) {
    c->console = console;
    c->mount_listener = listener;
  }
  else {
    if (console >= 0)
      close(console);
    if (listener >= 0)
      close(listener);
  }
  return ok;
}

static void
undo_container (FerryContainer *c, const char *run_dir)
{
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();

  if (c->init_pid > 0)
    {
      kill (c->init_pid, SIGKILL);
      while (waitpid (c->init_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
  if (c->cgroup_created)
    m->ops->destroy (m, c->relpath, NULL);
  remove_run_files (run_dir);
}

static void
report (int fd, const char *text)
{
  ferry_write_all (fd, text, strlen (text));
  close (fd);
}

/* The monitor process: detaches, creates the container, reports to the
 * `start` process through REPORT_FD, then supervises. */
static _Noreturn void
monitor_main (const FerryStartOptions *o, int report_fd)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_build_filename (o->log_dir, "monitor.log", NULL);
  FerryContainer c = { .console = -1, .mount_listener = -1 };
  sigset_t mask;

  setsid ();
  if (chdir ("/") < 0)
    _exit (1);
  /* Our stdout is ferryd's pipe: keeping it would hang whoever reads it. */
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  int log = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (null < 0 || log < 0)
    {
      g_autofree char *msg = g_strdup_printf ("ERR Opening %s: %s", log_path, g_strerror (errno));
      report (report_fd, msg);
      exit (1);
    }
  dup2 (null, 0);
  dup2 (null, 1);
  dup2 (log, 2);
  close (null);
  close (log);
  ferry_close_fds_but (report_fd, o->hold_fd > 2 ? o->hold_fd : -1);
  prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  /* Until the outcome (running, with its PID files; or undone) is on disk. */
  int busy = ferry_rundir_lock_busy (o->run_dir, &error);
  if (busy < 0)
    {
      g_autofree char *msg = g_strdup_printf ("ERR %s", error->message);
      report (report_fd, msg);
      exit (1);
    }

  /* Blocked before clone so no SIGCHLD is lost before the signalfd exists;
   * the child unblocks everything. */
  sigemptyset (&mask);
  for (const int *s = (const int[]) { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, 0 }; *s;
       s++)
    sigaddset (&mask, *s);
  sigprocmask (SIG_BLOCK, &mask, NULL);

  ferry_monitor_log ("%s %s (rootfs %s, cgroup %s/%s%s%s)", o->images ? "restoring" : "starting", o->name, o->rootfs,
                     o->cgroup_parent, o->name, o->images ? ", images " : "", o->images ? o->images : "");
  {
    g_autofree char *status = g_build_filename (o->run_dir, FERRY_RUNTIME_EXIT_STATUS, NULL);
    unlink (status);
  }
  if (!(o->images ? ferry_monitor_restore_container (o, &c, &error) : create_container (o, &c, &error)))
    goto fail;
  {
    g_autofree char *cgroup_file = g_build_filename (o->run_dir, FERRY_RUNTIME_CGROUP, NULL);
    g_autofree char *relpath_nl = g_strconcat (c.relpath, "\n", NULL);
    if (!ferry_write_file_atomic (cgroup_file, relpath_nl, -1, 0644, &error)
        || !ferry_rundir_write_pid (o->run_dir, FERRY_RUNTIME_INIT_PID, c.init_pid, &error)
        || !ferry_rundir_write_pid (o->run_dir, FERRY_RUNTIME_MONITOR_PID, getpid (), &error))
      goto fail;
  }
  ferry_monitor_log ("%s runs, init PID %d", o->name, (int) c.init_pid);
  close (busy);
  {
    /* The third number: when a restored tree was resumed (0: started). */
    g_autofree char *ok = g_strdup_printf ("OK %d %d %" G_GINT64_FORMAT "\n", (int) c.init_pid, (int) getpid (),
                                           ferry_monitor_restore_resumed_at ());
    report (report_fd, ok);
  }
  ferry_monitor_supervise(o->run_dir, o->log_dir, &c);

fail:
  ferry_monitor_log ("%s", error->message);
  undo_container (&c, o->run_dir);
  {
    /* A CRIU failure ends with the path of its own log already. */
    gboolean has_log = strstr (error->message, "\nLog: ") != NULL;
    g_autofree char *msg = has_log ? g_strdup_printf ("ERR %s", error->message)
                                   : g_strdup_printf ("ERR %s (details in %s)", error->message, log_path);
    report (report_fd, msg);
  }
  g_free (c.relpath);
  g_clear_error (&error);
  g_clear_pointer (&log_path, g_free);
  exit (1);
}

int
ferry_monitor_start (const FerryStartOptions *o)
{
  g_autoptr (GError) error = NULL;
  int pipefd[2];

  if (!validate (o, &error))
    {
      ferry_monitor_error ("%s", error->message);
      return 1;
    }
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    {
      ferry_monitor_error ("Creating a pipe: %s", g_strerror (errno));
      return 1;
    }
  fflush (NULL);
  pid_t monitor = fork ();
  if (monitor < 0)
    {
      ferry_monitor_error ("Forking the monitor: %s", g_strerror (errno));
      return 1;
    }
  if (monitor == 0)
    {
      close (pipefd[0]);
      monitor_main (o, pipefd[1]);
    }
  close (pipefd[1]);

  GString *answer = g_string_new (NULL);
  char buf[512];
  for (;;)
    {
      ssize_t n = read (pipefd[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_len (answer, buf, n);
    }
  close (pipefd[0]);
  g_autofree char *text = g_string_free (answer, FALSE);
  if (g_str_has_prefix (text, "OK "))
    {
      fputs (text + 3, stdout);
      fflush (stdout);
      return 0;
    }
  /* On failure the monitor has cleaned up; reap it so nothing is left. */
  while (waitpid (monitor, NULL, 0) < 0 && errno == EINTR)
    ;
  if (g_str_has_prefix (text, "ERR "))
    ferry_monitor_error ("%s", text + 4);
  else
    ferry_monitor_error ("The monitor died while starting the container (see %s/monitor.log)", o->log_dir);
  return 1;
}
