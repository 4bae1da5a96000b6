#include "runtime/container-init.h"

#include "runtime/disk-spec.h"
#include "runtime/rootfs.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static void
append (char *buf, size_t size, const char *s)
{
  size_t len = strlen (buf);

  while (*s != '\0' && len + 1 < size)
    buf[len++] = *s++;
  buf[len] = '\0';
}

static void
format_uint (char *buf, size_t size, unsigned v)
{
  char tmp[16];
  int n = 0;

  do
    tmp[n++] = (char) ('0' + v % 10);
  while ((v /= 10) > 0 && n < (int) sizeof tmp);
  size_t i = 0;
  while (n > 0 && i + 1 < size)
    buf[i++] = tmp[--n];
  buf[i] = '\0';
}

static _Noreturn void
fail (int sock, const char *what, const char *detail, int err)
{
  FerryInitMessage msg;

  memset (&msg, 0, sizeof msg);
  msg.kind = FERRY_INIT_MSG_ERROR;
  msg.err = err;
  append (msg.what, sizeof msg.what, what);
  if (detail != NULL)
    append (msg.what, sizeof msg.what, detail);
  send (sock, &msg, sizeof msg, MSG_NOSIGNAL);
  _exit (1);
}

static int
bring_up_loopback (void)
{
  struct ifreq ifr;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int rc = 0;

  if (fd < 0)
    return -errno;
  memset (&ifr, 0, sizeof ifr);
  append (ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    rc = -errno;
  else
    {
      ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
      if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
        rc = -errno;
    }
  close (fd);
  return rc;
}

/* Passes FD to the monitor as a message of KIND. */
static int
send_fd(int sock, int kind, int fd)
{
  FerryInitMessage msg;
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = &msg, .iov_len = sizeof msg };
  struct msghdr mh
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };

  memset(&msg, 0, sizeof msg);
  memset(control, 0, sizeof control);
  msg.kind = kind;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The console is a pty of a devpts instance of its own, mounted only while
 * the pty is made: /dev/console is then a bind mount of it, as after a
 * restore (which makes the new console the same way, runtime/restore.c).
 * The init's stdio never points outside its mount namespace (CRIU must
 * dump it), the monitor gets the master, and the container's /dev/pts is
 * the container's alone. Were the console one of its ptys, the copies of
 * /dev/console in the mount namespaces of systemd's services would be
 * dumped as binds of /dev/pts rather than of the console, and come back
 * from a restore as some other pty. */
#define CONSOLE_PTS "/dev/.ferry-console"

static void
create_console (int sock)
{
  char path[48] = CONSOLE_PTS "/", num[16];
  int unlock = 0, rc, master;
  unsigned ptn = 0;

  if (mkdir (CONSOLE_PTS, 0700) < 0
      || mount ("devpts", CONSOLE_PTS, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
             < 0)
    fail (sock, "mounting a devpts instance for the console", NULL, errno);
  if ((master = open (CONSOLE_PTS "/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
    fail (sock, "opening the console's ptmx", NULL, errno);
  if (ioctl (master, TIOCSPTLCK, &unlock) < 0 || ioctl (master, TIOCGPTN, &ptn) < 0)
    fail (sock, "setting up the console pty", NULL, errno);
  format_uint (num, sizeof num, ptn);
  append (path, sizeof path, num);
  if (mount (path, "/dev/console", NULL, MS_BIND, NULL) < 0)
    fail (sock, "binding the console pty onto /dev/console", NULL, errno);
  if (umount2 (CONSOLE_PTS, MNT_DETACH) < 0 || rmdir (CONSOLE_PTS) < 0)
    fail (sock, "detaching the console's devpts instance", NULL, errno);
  if ((rc = send_fd(sock, FERRY_INIT_MSG_CONSOLE, master)) < 0)
    fail(sock, "passing the console to the monitor", NULL, -rc);
  close (master);
}

static void
attach_console_as_stdio (int sock)
{
  if (setsid () < 0)
    fail (sock, "setsid", NULL, errno);
  /* Opened without O_NOCTTY by a session leader: becomes its controlling tty. */
  int fd = open ("/dev/console", O_RDWR);
  if (fd < 0)
    fail (sock, "opening /dev/console", NULL, errno);
  ioctl (fd, TIOCSCTTY, 0);
  for (int i = 0; i < 3; i++)
    if (dup2 (fd, i) < 0)
      fail (sock, "redirecting stdio to /dev/console", NULL, errno);
  if (fd > 2)
    close (fd);
}

static void
reset_signals (void)
{
  struct sigaction dfl;
  sigset_t none;

  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    sigaction (sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and holes */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

/* The monitor's "g", with the idmapped rootfs tree for a user namespace
 * (else -1) and the binds of the disk devices. */
static int
receive_go (int sock, int userns, int *tree, int *disks, int ndisks)
{
  char go, control[CMSG_SPACE (sizeof (int) * (FERRY_DISK_MAX + 1))];
  struct iovec iov = { .iov_base = &go, .iov_len = 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  int fds[FERRY_DISK_MAX + 1], n = 0;

  *tree = -1;
  if (recvmsg (sock, &mh, MSG_CMSG_CLOEXEC) != 1 || go != 'g')
    return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&mh); c != NULL; c = CMSG_NXTHDR (&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        n = (int) ((c->cmsg_len - CMSG_LEN (0)) / sizeof (int));
        if (n > FERRY_DISK_MAX + 1)
          n = FERRY_DISK_MAX + 1;
        memcpy (fds, CMSG_DATA (c), sizeof (int) * (size_t) n);
      }
  int first = userns ? 1 : 0;
  if (userns && n > 0)
    *tree = fds[0];
  if (n - first != ndisks)
    return -1;
  for (int i = 0; i < ndisks; i++)
    disks[i] = fds[first + i];
  return 0;
}

/* In its user namespace (maps written by the monitor): root of it. */
static void
enter_userns (int sock, int tree)
{
  if (tree < 0)
    fail (sock, "receiving the idmapped rootfs", NULL, EPROTO);
  if (setresgid (0, 0, 0) < 0 || setgroups (0, NULL) < 0 || setresuid (0, 0, 0) < 0)
    fail (sock, "becoming root of the user namespace", NULL, errno);
}

_Noreturn void
ferry_container_init_run (const FerryInitConfig *cfg)
{
  int sock = cfg->sock;
  const char *what = NULL;
  int host_nodes[FERRY_ROOTFS_DEV_NODES];
  int rc, tree, disks[FERRY_DISK_MAX];

  reset_signals ();
  /* Nothing of the monitor goes into the container: fds above 2 (except the
   * socket, close-on-exec) are closed now; 0-2 are replaced by the console. */
  ferry_close_fds_but (sock, -1);

  if (receive_go (sock, cfg->userns, &tree, disks, cfg->ndisks) < 0)
    _exit (1); /* the monitor gave up */
  if (cfg->userns)
    enter_userns (sock, tree);
  else if (tree >= 0)
    close (tree);
  if (unshare (CLONE_NEWCGROUP) < 0)
    fail (sock, "creating the cgroup namespace", NULL, errno);
  if (sethostname (cfg->hostname, strlen (cfg->hostname)) < 0)
    fail (sock, "setting the hostname", NULL, errno);
  if ((rc = bring_up_loopback ()) < 0)
    fail (sock, "bringing up lo", NULL, -rc);

  /* A user namespace may not mknod: its /dev gets binds of the host's nodes,
   * held open across the pivot. */
  if (cfg->userns && (rc = ferry_rootfs_open_dev_nodes (host_nodes, &what)) < 0)
    fail (sock, what, NULL, -rc);
  umask (0);
  if ((rc = cfg->userns ? ferry_rootfs_pivot_tree (tree, &what) : ferry_rootfs_pivot (cfg->rootfs, &what)) < 0)
    fail (sock, what, NULL, -rc);
  if (tree >= 0)
    close (tree);
  if ((rc = ferry_rootfs_mount_proc_sys (&what)) < 0)
    fail (sock, what, NULL, -rc);
  if ((rc = ferry_rootfs_setup_dev (cfg->userns ? host_nodes : NULL, &what)) < 0)
    fail (sock, what, NULL, -rc);
  /* After the binds of the host's nodes: a bind's source must be in our mount namespace. */
  if (cfg->userns && (rc = ferry_rootfs_detach_old_root (&what)) < 0)
    fail (sock, what, NULL, -rc);
  /* Disk devices, once the container's root is all there is to see. */
  for (int i = 0; i < cfg->ndisks; i++)
    {
      if ((rc = ferry_rootfs_mount_disk (disks[i], cfg->disk_paths[i], cfg->disk_is_file[i], &what)) < 0)
        fail (sock, what, cfg->disk_paths[i], -rc);
      close (disks[i]);
    }
  if ((rc = ferry_rootfs_mask_proc (&what)) < 0)
    fail (sock, "masking ", what, -rc);
  umask (022);

  create_console (sock);
  attach_console_as_stdio (sock);

  if ((rc = ferry_security_drop_capabilities ()) < 0)
    fail (sock, "dropping capabilities", NULL, -rc);
  if ((rc = ferry_security_load_seccomp (cfg->seccomp)) < 0)
    fail (sock, "loading the seccomp filter", NULL, -rc);
  /* Last, after our own mounts: from here on mount(2) goes to the monitor. */
  int listener = ferry_security_load_mount_notify();
  if (listener < 0)
    fail(sock, "loading the mount notification filter", NULL, -listener);
  if ((rc = send_fd(sock, FERRY_INIT_MSG_MOUNT_LISTENER, listener)) < 0)
    fail(sock, "passing the mount notifications to the monitor", NULL, -rc);
  close(listener);

  execve (cfg->init_path, cfg->argv, cfg->envp);
  fail (sock, "executing the init ", cfg->init_path, errno);
}
