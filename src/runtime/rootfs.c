#include "runtime/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

#define TRY(expr, step)                                                                                                \
  do                                                                                                                   \
    {                                                                                                                  \
      if ((expr) < 0)                                                                                                  \
        {                                                                                                              \
          *what = (step);                                                                                              \
          return -errno;                                                                                               \
        }                                                                                                              \
    }                                                                                                                  \
  while (0)

static int
ensure_dir (const char *path, mode_t mode)
{
  if (mkdir (path, mode) < 0 && errno != EEXIST)
    return -1;
  return 0;
}

int
ferry_rootfs_pivot (const char *rootfs, const char **what)
{
  TRY (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "making the mount tree private");
  TRY (mount (rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL), "bind-mounting the rootfs onto itself");
  TRY (chdir (rootfs), "entering the rootfs");
  /* pivot_root(".", ".") stacks the old root on the new one; detaching it
   * leaves the new root alone (no put_old directory needed). */
  TRY (syscall (SYS_pivot_root, ".", "."), "pivot_root into the rootfs");
  TRY (umount2 (".", MNT_DETACH), "detaching the old root");
  TRY (chdir ("/"), "entering the new root");
  return 0;
}

int
ferry_rootfs_pivot_tree (int tree, const char **what)
{
  int root;

  TRY (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "making the mount tree private");
  TRY (root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC), "opening /");
  /* Stacked on the old root, entered by its descriptor, pivoted into. */
  if (syscall (SYS_move_mount, tree, "", root, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    {
      *what = "mounting the idmapped rootfs";
      int saved = errno;
      close (root);
      return -saved;
    }
  close (root);
  TRY (fchdir (tree), "entering the rootfs");
  TRY (syscall (SYS_pivot_root, ".", "."), "pivot_root into the rootfs");
  return 0;
}

int
ferry_rootfs_detach_old_root (const char **what)
{
  TRY (umount2 (".", MNT_DETACH), "detaching the old root");
  TRY (chdir ("/"), "entering the new root");
  return 0;
}

static int
bind_readonly (const char *path)
{
  if (mount (path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
    return -1;
  return mount (NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

int
ferry_rootfs_mount_proc_sys (const char **what)
{
  TRY (ensure_dir ("/proc", 0555), "creating /proc");
  TRY (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mounting /proc");
  /* proc:mixed: /proc/sys read-only except the container's own network
   * namespace knobs, /proc/sysrq-trigger read-only. */
  TRY (bind_readonly ("/proc/sys"), "making /proc/sys read-only");
  TRY (mount ("/proc/sys/net", "/proc/sys/net", NULL, MS_BIND, NULL), "binding /proc/sys/net");
  /* The bind inherits read-only from /proc/sys: clear it. */
  TRY (mount (NULL, "/proc/sys/net", NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
       "making /proc/sys/net writable");
  if (bind_readonly ("/proc/sysrq-trigger") < 0 && errno != ENOENT) /* absent without CONFIG_MAGIC_SYSRQ */
    {
      *what = "making /proc/sysrq-trigger read-only";
      return -errno;
    }
  TRY (ensure_dir ("/sys", 0555), "creating /sys");
  TRY (mount ("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mounting /sys");
  return 0;
}

int
ferry_rootfs_mask_proc (const char **what)
{
  static const char *const files[] = { "/proc/kcore",       "/proc/keys",        "/proc/timer_list",
                                       "/proc/timer_stats", "/proc/sched_debug", "/proc/latency_stats" };
  /* /sys/fs/fuse/connections: the host's FUSE connections (fusectl), which
   * the mount policy refuses; the empty mount there is what systemd's
   * sys-fs-fuse-connections.mount finds mounted, as on LXD.
   * /proc/pressure: the host's pressure stall information. A trigger
   * written there (systemd >= 254 arms one in PID 1 and each of its
   * daemons) is kernel state no checkpoint holds: restored, the file
   * polls as an error forever and every such daemon spins. Without it
   * systemd goes on without memory-pressure events. */
  static const char *const dirs[]
      = { "/proc/acpi", "/proc/scsi", "/proc/pressure", "/sys/firmware", "/sys/fs/fuse/connections" };

  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (mount ("/dev/null", files[i], NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
      {
        *what = files[i];
        return -errno;
      }
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (mount ("tmpfs", dirs[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=555") < 0
        && errno != ENOENT)
      {
        *what = dirs[i];
        return -errno;
      }
  return 0;
}

const FerryRootfsDevNode ferry_rootfs_dev_nodes[FERRY_ROOTFS_DEV_NODES] = {
  { "/dev/null", 1, 3 },   { "/dev/zero", 1, 5 },    { "/dev/full", 1, 7 },
  { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

int
ferry_rootfs_open_dev_nodes (int host_nodes[FERRY_ROOTFS_DEV_NODES], const char **what)
{
  struct stat st;

  for (size_t i = 0; i < FERRY_ROOTFS_DEV_NODES; i++)
    {
      host_nodes[i] = open (ferry_rootfs_dev_nodes[i].path, O_PATH | O_CLOEXEC);
      /* Only the node it claims to be: the host's /dev is trusted, but not blindly. */
      if (host_nodes[i] < 0 || fstat (host_nodes[i], &st) < 0 || !S_ISCHR (st.st_mode)
          || major (st.st_rdev) != ferry_rootfs_dev_nodes[i].major || minor (st.st_rdev) != ferry_rootfs_dev_nodes[i].minor)
        {
          *what = ferry_rootfs_dev_nodes[i].path;
          return host_nodes[i] < 0 ? -errno : -ENODEV;
        }
    }
  return 0;
}

/* Binds the host's node FD onto PATH (an empty file made here), through
 * the container's /proc/self/fd. */
static int
bind_host_node (int fd, const char *path)
{
  char src[32] = "/proc/self/fd/", digits[12];
  size_t n = 0, len = strlen (src);
  int f;

  do
    digits[n++] = (char) ('0' + fd % 10);
  while ((fd /= 10) > 0);
  while (n > 0 && len + 1 < sizeof src)
    src[len++] = digits[--n];
  src[len] = '\0';
  if ((f = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0)
    return -1;
  close (f);
  return mount (src, path, NULL, MS_BIND, NULL);
}

int
ferry_rootfs_setup_dev (const int *host_nodes, const char **what)
{
  static const struct
  {
    const char *target, *path;
  } links[] = {
    { "/proc/self/fd", "/dev/fd" },     { "/proc/self/fd/0", "/dev/stdin" }, { "/proc/self/fd/1", "/dev/stdout" },
    { "/proc/self/fd/2", "/dev/stderr" }, { "pts/ptmx", "/dev/ptmx" },
  };
  int fd;

  TRY (ensure_dir ("/dev", 0755), "creating /dev");
  TRY (mount ("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"), "mounting /dev");
  for (size_t i = 0; i < FERRY_ROOTFS_DEV_NODES; i++)
    if ((host_nodes ? bind_host_node (host_nodes[i], ferry_rootfs_dev_nodes[i].path)
                    : mknod (ferry_rootfs_dev_nodes[i].path, S_IFCHR | 0666, makedev (ferry_rootfs_dev_nodes[i].major, ferry_rootfs_dev_nodes[i].minor)))
        < 0)
      {
        *what = ferry_rootfs_dev_nodes[i].path;
        return -errno;
      }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlink (links[i].target, links[i].path) < 0)
      {
        *what = links[i].path;
        return -errno;
      }
  TRY (mkdir ("/dev/pts", 0755), "creating /dev/pts");
  TRY (mount ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
       "mounting devpts on /dev/pts");
  TRY (mkdir ("/dev/shm", 01777), "creating /dev/shm");
  TRY (mount ("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k"), "mounting /dev/shm");
  TRY (mkdir ("/dev/mqueue", 0755), "creating /dev/mqueue");
  TRY (mount ("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mounting /dev/mqueue");
  TRY (fd = open ("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600), "creating /dev/console");
  close (fd);
  return 0;
}

/* NAME in DIR as an O_PATH descriptor, refusing any symlink and any way
 * out of DIR. */
static int
open_beneath (int dir, const char *name, int directory)
{
  struct open_how how = {
    .flags = O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : 0),
    .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
  };
  return (int) syscall (SYS_openat2, dir, name, &how, sizeof how);
}

/* Walks PATH (see ferry_rootfs_mount_disk), creating what is missing when
 * CREATE. *PARENT gets the last directory, *TARGET (if not NULL) the mount
 * point, *NAME its name within *PARENT (pointing into BUF). */
static int
walk_disk_path (const char *path, int create, int is_file, char *buf, size_t size, int *parent, int *target,
                const char **name)
{
  size_t len = strlen (path);
  char *comp, *next;
  int dir, fd;

  if (len == 0 || len >= size || path[0] != '/')
    return -EINVAL;
  memcpy (buf, path, len + 1);
  if ((dir = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
    return -errno;
  for (comp = buf; *comp == '/'; comp++)
    ;
  while (*comp != '\0')
    {
      for (next = comp; *next != '\0' && *next != '/'; next++)
        ;
      int last = 1;
      if (*next == '/')
        {
          *next++ = '\0';
          while (*next == '/')
            next++;
          last = *next == '\0';
        }
      if (strcmp (comp, ".") == 0 || strcmp (comp, "..") == 0)
        {
          close (dir);
          return -EINVAL;
        }
      int want_dir = !last || !is_file;
      if (last && target == NULL)
        {
          *parent = dir;
          *name = comp;
          return 0;
        }
      if (create
          && (want_dir ? mkdirat (dir, comp, 0755) : mknodat (dir, comp, S_IFREG | 0644, 0)) < 0
          && errno != EEXIST)
        {
          int saved = errno;
          close (dir);
          return -saved;
        }
      if ((fd = open_beneath (dir, comp, want_dir)) < 0)
        {
          int saved = errno;
          close (dir);
          return -saved;
        }
      if (last)
        {
          struct stat st;
          if (fstat (fd, &st) < 0 || (is_file && !S_ISREG (st.st_mode)))
            {
              close (fd);
              close (dir);
              return -EEXIST;
            }
          *parent = dir;
          *target = fd;
          *name = comp;
          return 0;
        }
      close (dir);
      dir = fd;
      comp = next;
    }
  close (dir);
  return -EINVAL;
}

int
ferry_rootfs_mount_disk (int tree, const char *path, int is_file, const char **what)
{
  char buf[4096];
  const char *name;
  int parent = -1, target = -1, rc;

  if ((rc = walk_disk_path (path, 1, is_file, buf, sizeof buf, &parent, &target, &name)) < 0)
    {
      *what = rc == -ELOOP ? "refusing a symlink on the way to the disk mount point "
                            : "creating the disk mount point ";
      return rc;
    }
  close (parent);
  rc = (int) syscall (SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  if (rc < 0)
    {
      rc = -errno;
      *what = "mounting the disk on ";
    }
  close (target);
  return rc;
}

int
ferry_rootfs_umount_disk (const char *path, const char **what)
{
  char buf[4096];
  const char *name;
  int parent = -1, rc;

  if ((rc = walk_disk_path (path, 0, 0, buf, sizeof buf, &parent, NULL, &name)) < 0)
    {
      *what = "finding the disk mount point ";
      return rc;
    }
  if (fchdir (parent) < 0 || umount2 (name, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
    {
      rc = -errno;
      *what = "unmounting the disk from ";
    }
  close (parent);
  return rc;
}
