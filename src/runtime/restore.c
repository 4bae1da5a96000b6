/* `ferry-monitor restore`: `start`, except that the container's processes
 * come from CRIU images. The monitor makes the cgroup (with the limits) and a
 * new console, then restores the tree as its own child. */
#include "runtime/monitor.h"
#include "runtime/mount-notify.h"
#include "runtime/criu-watchdog.h"

#include "checkpoint/checkpoint.h"
#include "common/error.h"
#include "common/idmap.h"
#include "common/fs.h"

#include "runtime/cgroup.h"
#include "runtime/security.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONSOLE_PTS_DIR "console-pts"

typedef struct
{
  char *mountpoint; /* a private devpts instance, detached after the restore */
  char *slave_path;
  int master, slave;
} NewConsole;

static void
new_console_release_mount (NewConsole *nc)
{
  if (nc->mountpoint != NULL)
    {
      /* The container's bind mount keeps the pty; the host keeps nothing. */
      umount2 (nc->mountpoint, MNT_DETACH);
      rmdir (nc->mountpoint);
      g_clear_pointer (&nc->mountpoint, g_free);
    }
}

static void
new_console_clear (NewConsole *nc)
{
  new_console_release_mount (nc);
  g_clear_pointer (&nc->slave_path, g_free);
  if (nc->slave >= 0)
    close (nc->slave);
  if (nc->master >= 0)
    close (nc->master);
  nc->slave = nc->master = -1;
}

/* A pty for the restored console. The dumped console's pty lived in the
 * container's devpts, which CRIU recreates only after the mounts that must
 * bind it: so the new one comes from a devpts instance of our own, mounted
 * in the run directory only for the time of the restore. */
static gboolean
new_console_open (const char *run_dir, NewConsole *nc, GError **error)
{
  g_autofree char *ptmx = NULL;
  int unlock = 0;
  unsigned ptn = 0;

  nc->master = nc->slave = -1;
  nc->mountpoint = g_build_filename (run_dir, CONSOLE_PTS_DIR, NULL);
  umount2 (nc->mountpoint, MNT_DETACH); /* left by a monitor that crashed mid-restore */
  if (mkdir (nc->mountpoint, 0700) < 0 && errno != EEXIST)
    goto fail;
  if (mount ("devpts", nc->mountpoint, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
      < 0)
    {
      int saved = errno;
      rmdir (nc->mountpoint);
      g_clear_pointer (&nc->mountpoint, g_free);
      errno = saved;
      goto fail;
    }
  ptmx = g_build_filename (nc->mountpoint, "ptmx", NULL);
  if ((nc->master = open (ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
    goto fail;
  if (ioctl (nc->master, TIOCSPTLCK, &unlock) < 0 || ioctl (nc->master, TIOCGPTN, &ptn) < 0)
    goto fail;
  nc->slave_path = g_strdup_printf ("%s/%u", nc->mountpoint, ptn);
  /* Not close-on-exec: CRIU inherits it. */
  if ((nc->slave = open (nc->slave_path, O_RDWR | O_NOCTTY)) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating the console for the restored container: %s",
                 g_strerror (saved));
    new_console_clear (nc);
    return FALSE;
  }
}

/* The restorer's side of its socket to the monitor (one restore per
 * process, libcriu's callbacks take no data). */
static int restorer_sock = -1;
static gint64 resumed_at;

gint64
ferry_monitor_restore_resumed_at (void)
{
  return resumed_at;
}

/* CRIU has restored the tree, stopped: from now on its mount calls are the
 * container's own. Waits for the monitor to know it. */
static int
switch_to_enforcing(void)
{
  char ack;

  if (send(restorer_sock, "E", 1, MSG_NOSIGNAL) != 1 || recv(restorer_sock, &ack, 1, 0) != 1)
    return 1;
  return 0;
}

static gboolean
send_listener(int sock, int listener)
{
  char kind = 'L';
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct iovec iov = { .iov_base = &kind, .iov_len = 1 };
  struct msghdr mh
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control };

  memset(&control, 0, sizeof control);
  control.align.cmsg_level = SOL_SOCKET;
  control.align.cmsg_type = SCM_RIGHTS;
  control.align.cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(&control.align), &listener, sizeof(int));
  return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1;
}

/* A held restore (--hold-fd): what needs no image is ready (a live
 * migration's target starts it before the images are all there). "g"
 * lets it go on; EOF (ferryd gone, or the migration failed) calls it off. */
static gboolean
wait_for_go (int hold_fd, GError **error)
{
  char go = 0;
  ssize_t n;

  if (hold_fd <= 0)
    return TRUE;
  while ((n = read (hold_fd, &go, 1)) < 0 && errno == EINTR)
    ;
  close (hold_fd);
  if (n == 1 && go == 'g')
    return TRUE;
  g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The restore was called off before it began");
  return FALSE;
}

/* The restorer, a child of the monitor: it stacks the mount notification
 * filter on itself, so that CRIU and every restored thread inherit it (a
 * filter cannot be given to another process), hands the listener to the
 * monitor and restores. The restored init, CRIU's CLONE_PARENT child of
 * ours, is the monitor's (a subreaper) once we exit. Reports "P<pid>" or
 * "F<message>". */
static _Noreturn void
restorer_main(int sock, FerryRestoreRequest *req)
{
  g_autoptr(GError) error = NULL;
  gsize len;
  int listener = ferry_security_load_mount_notify();
  pid_t pid = 0;

  restorer_sock = sock;
  /* The monitor's umask (0077) is for its own files; CRIU makes the
   * container's cgroups and mount points, with the modes it recorded. */
  umask(022);
  if (listener < 0)
    g_set_error(&error, FERRY_ERROR, FERRY_ERROR_FAILED, "Loading the mount notification filter: %s",
                g_strerror(-listener));
  else if (!send_listener(sock, listener))
    g_set_error(&error, FERRY_ERROR, FERRY_ERROR_FAILED, "Passing the mount notifications to the monitor");
  else {
    close(listener);
    req->inherited_filter = ferry_security_mount_notify_filter(&len);
    req->inherited_filter_len = len * sizeof(struct sock_filter);
    req->pre_resume = switch_to_enforcing;
    FerryCriuWatchdog *watchdog = ferry_criu_watchdog_start();
    pid = ferry_checkpoint_restore(req, &error);
    ferry_criu_watchdog_stop(watchdog);
  }
  g_autofree char *report
      = pid > 0 ? g_strdup_printf("P%d", (int)pid) : g_strconcat("F", error->message, NULL);
  send(sock, report, strlen(report), MSG_NOSIGNAL);
  _exit(0);
}

/* Runs the restore in a restorer process and answers the restored tree's
 * mount calls meanwhile: all go on until CRIU is about to resume the tree.
 * Returns the init's PID (and its listener in *LISTENER), or 0. */
static pid_t
restore_under_mount_notify(FerryRestoreRequest *req, int *listener, GError **error)
{
  FerryMountNotifyMode mode = FERRY_MOUNT_NOTIFY_RESTORING;
  g_autofree char *report = NULL;
  int sv[2];
  pid_t restorer, pid = 0;

  *listener = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    int saved = errno;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "socketpair: %s", g_strerror(saved));
    return 0;
  }
  if ((restorer = fork()) == 0) {
    close(sv[0]);
    restorer_main(sv[1], req);
  }
  close(sv[1]);
  while (restorer > 0 && report == NULL) {
    struct pollfd fds[2] = { { .fd = sv[0], .events = POLLIN }, { .fd = *listener, .events = POLLIN } };
    if (poll(fds, *listener >= 0 ? 2 : 1, -1) < 0)
      continue;
    if ((fds[1].revents & POLLIN) && !ferry_mount_notify_handle(*listener, mode))
      break;
    if (!(fds[0].revents & (POLLIN | POLLHUP)))
      continue;
    char buf[8192], control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf - 1 };
    struct msghdr mh
        = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n = recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC);
    if (n <= 0)
      break;
    buf[n] = '\0';
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
      if (cm->cmsg_type == SCM_RIGHTS && *listener < 0)
        memcpy(listener, CMSG_DATA(cm), sizeof(int));
    if (buf[0] == 'E') {
      resumed_at = g_get_monotonic_time ();
      mode = FERRY_MOUNT_NOTIFY_ENFORCING;
      send(sv[0], "a", 1, MSG_NOSIGNAL);
    }
    else if (buf[0] == 'P' || buf[0] == 'F')
      report = g_strdup(buf);
  }
  close(sv[0]);
  if (restorer > 0)
    while (waitpid(restorer, NULL, 0) < 0 && errno == EINTR)
      ;
  if (report != NULL && report[0] == 'P')
    pid = (pid_t)g_ascii_strtoll(report + 1, NULL, 10);
  else if (report != NULL)
    g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_FAILED, report + 1);
  else
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "The restorer process died: %s",
                restorer < 0 ? g_strerror(errno) : "no report");
  if (pid <= 0 && *listener >= 0) {
    close(*listener);
    *listener = -1;
  }
  return pid;
}

/* The nics join their bridges at CRIU's post-restore, the sockets restored
 * and the network still locked: what the tree sends as it resumes (TCP's
 * window probe as each socket leaves repair mode, the ARP for a peer) then
 * reaches the peers. Plugged after the resume, it was lost, and a client
 * waited for its next retransmission or ARP's one-second retry. */
static int
plug_nics_restored (gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (ferry_monitor_plug_nics (data, &error))
    return 0;
  ferry_monitor_log ("plugging the nics: %s", error->message);
  return 1;
}

gboolean
ferry_monitor_restore_container (const FerryStartOptions *o, FerryContainer *c, GError **error)
{
  g_autofree char *rootfs = realpath (o->rootfs, NULL);
  NewConsole nc = { .master = -1, .slave = -1 };

  if (rootfs == NULL)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Resolving the rootfs %s: %s", o->rootfs,
                   g_strerror (saved));
      return FALSE;
    }
  if (!ferry_monitor_create_cgroup (o, c, error))
    return FALSE;
  /* Unprivileged: CRIU makes the user namespace from the images, its root
   * the rootfs idmapped the same way, in the monitor's own mount namespace,
   * which the new console's devpts instance is then made in too. */
  if (o->idmap != NULL && !ferry_monitor_mount_idmapped_rootfs (rootfs, o->idmap, error))
    return FALSE;
  if (!new_console_open (o->run_dir, &nc, error))
    return FALSE;
  /* The cgroup namespace's root, where CRIU puts the tasks back. */
  g_autofree char *cgroup_root = g_strconcat("/", c->relpath, "/" FERRY_CGROUP_NS, NULL);
  g_auto (GStrv) nic_keys = ferry_monitor_nic_restore_keys (o, error);
  if (nic_keys == NULL)
    {
      new_console_clear (&nc);
      return FALSE;
    }
  gboolean has_nics = nic_keys[0] != NULL;
  /* Unprivileged: the device nodes are the host's again. */
  if (o->idmap != NULL)
    {
      gint64 tty = ferry_idmap_to_host (o->idmap, FALSE, 5);
      nic_keys = ferry_monitor_add_dev_node_keys (nic_keys, TRUE);
      /* CRIU gives the console its dumped owner (root, group tty) from inside. */
      if (fchown (nc.slave, (uid_t) ferry_idmap_to_host (o->idmap, TRUE, 0),
                  (gid_t) (tty >= 0 ? tty : ferry_idmap_to_host (o->idmap, FALSE, 0))) < 0)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Giving the console to the container's root: %s",
                       g_strerror (saved));
          new_console_clear (&nc);
          return FALSE;
        }
    }
  /* A held restore waits here: from now on, the images are read (the
   * disks' record first). */
  if (!wait_for_go (o->hold_fd, error))
    {
      new_console_clear (&nc);
      return FALSE;
    }
  /* Disk devices: bound again from the sources the instance has here. */
  g_autoptr (GPtrArray) disks = NULL;
  if ((nic_keys = ferry_disks_restore_keys (nic_keys, o, &disks, error)) == NULL)
    {
      new_console_clear (&nc);
      return FALSE;
    }
  FerryRestoreRequest req = {
    .criu_path = o->criu_path,
    .images_dir = o->images,
    .log_path = o->criu_log,
    .rootfs = rootfs,
    .cgroup_root = cgroup_root,
    /* A nic's established connections are part of what must survive. */
    .tcp_established = o->tcp_established || has_nics,
    .network_lock_skip = !has_nics,
    .console_slave = nc.slave,
    .console_path = nc.slave_path,
    .external = (const char *const *) nic_keys, /* veth[eth0]:HOST@BRIDGE for each nic, dev nodes */
    .images_owner = o->idmap != NULL ? (uid_t) ferry_idmap_to_host (o->idmap, TRUE, 0) : 0,
    .images_group = o->idmap != NULL ? (gid_t) ferry_idmap_to_host (o->idmap, FALSE, 0) : 0,
    .namespaces_ready = ferry_monitor_make_cgroups,
    .namespaces_data = &(FerryCgroupRecord){ .relpath = c->relpath, .images = o->images },
    .restored = plug_nics_restored,
    .restored_data = (gpointer) o,
  };
  c->init_pid = restore_under_mount_notify(&req, &c->mount_listener, error);
  ferry_disks_unstage (o->run_dir, disks);
  new_console_release_mount (&nc);
  if (c->init_pid <= 0)
    {
      c->init_pid = 0;
      new_console_clear (&nc);
      ferry_monitor_forget_nics (o);
      return FALSE;
    }
  c->console = nc.master;
  nc.master = -1;
  new_console_clear (&nc);
  if (!ferry_disks_attach_added (o, c->init_pid, disks, error)
      || !ferry_disks_record (o->run_dir, disks, error))
    {
      kill (c->init_pid, SIGKILL);
      return FALSE;
    }
  return TRUE;
}

static void
make_absolute (char **path)
{
  if (*path != NULL)
    {
      char *abs = g_canonicalize_filename (*path, NULL);
      g_free (*path);
      *path = abs;
    }
}

int
ferry_monitor_restore (FerryStartOptions *o)
{
  g_autoptr (GError) error = NULL;
  FerryCriuInfo criu = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  int rc = 1;

  if (o->images == NULL || o->criu_log == NULL)
    {
      ferry_monitor_error ("restore needs --images and --log");
      return 1;
    }
  /* The monitor works from "/". */
  make_absolute (&o->images);
  make_absolute (&o->criu_log);
  make_absolute (&o->stats);
  make_absolute (&o->rootfs);
  if (!g_file_test (o->images, G_FILE_TEST_IS_DIR))
    {
      ferry_monitor_error ("The checkpoint %s does not exist", o->images);
      return 1;
    }
  if (!ferry_criu_probe (&criu, FERRY_CRIU_CHECK_CACHED, &error))
    {
      ferry_monitor_error ("Cannot restore: %s", error->message);
      ferry_criu_info_clear (&criu);
      return 1;
    }
  o->criu_path = g_strdup (criu.path);
  ferry_criu_info_clear (&criu);
  if (o->init != NULL || o->env != NULL)
    {
      ferry_monitor_error ("--init and --env do not apply to a restore");
      return 1;
    }
  /* Not for CRIU or the tree (the monitor reads it, then closes it). */
  if (o->hold_fd != 0 && (o->hold_fd < 3 || fcntl (o->hold_fd, F_SETFD, FD_CLOEXEC) < 0))
    {
      ferry_monitor_error ("--hold-fd %d: %s", o->hold_fd, o->hold_fd < 3 ? "not a descriptor of its own" : g_strerror (errno));
      return 1;
    }
  rc = ferry_monitor_start (o);
  if (rc == 0 && o->stats != NULL)
    {
      g_autofree char *log_dir = g_path_get_dirname (o->criu_log);
      g_autofree char *stats_image = g_build_filename (log_dir, "stats-restore", NULL);
      g_autofree char *json = ferry_criu_stats_json (log_dir, FALSE, g_get_monotonic_time () - t0, &error);
      g_autofree char *data = json ? g_strconcat (json, "\n", NULL) : NULL;
      if (json == NULL || !ferry_write_file_atomic (o->stats, data, -1, 0644, &error))
        ferry_monitor_error ("The container runs, but its restore statistics are lost: %s", error->message);
      unlink (stats_image);
    }
  return rc;
}
