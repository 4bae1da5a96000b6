#include "runtime/mount-notify.h"

#include "runtime/monitor-log.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/magic.h>
#include <linux/seccomp.h>

/* A decision that lets the kernel run the call itself. */
#define GO_ON (-1)

#define X32_BIT 0x40000000u
#define MQUEUE_MAGIC 0x19800202 /* not in linux/magic.h */

typedef enum
{
  OP_RECONFIGURE, /* MS_REMOUNT | MS_BIND: the mount's flags */
  OP_REMOUNT,     /* MS_REMOUNT: the superblock */
  OP_BIND,
  OP_MOVE,
  OP_NEW,
  OP_UMOUNT,
} Op;

typedef struct
{
  Op op;
  char *source, *target, *fstype, *data;
  unsigned long flags;
} Call;

static void
call_clear(Call *c)
{
  g_clear_pointer(&c->source, g_free);
  g_clear_pointer(&c->target, g_free);
  g_clear_pointer(&c->fstype, g_free);
  g_clear_pointer(&c->data, g_free);
}

/* Reads a NUL-terminated string of at most MAX bytes at ADDR of the
 * caller; NULL for a NULL pointer. */
static gboolean
read_string(int mem, guint64 addr, gsize max, char **out, int *err)
{
  g_autoptr(GString) s = NULL;

  *out = NULL;
  if (addr == 0)
    return TRUE;
  s = g_string_new(NULL);
  while (s->len < max) {
    char buf[4096];
    gsize chunk = sizeof buf - (addr % sizeof buf); /* never across a page */
    ssize_t n = pread(mem, buf, chunk, (off_t)addr);
    if (n <= 0) {
      *err = EFAULT;
      return FALSE;
    }
    char *nul = memchr(buf, '\0', (gsize)n);
    g_string_append_len(s, buf, nul ? nul - buf : n);
    if (nul != NULL) {
      *out = g_string_free(g_steal_pointer(&s), FALSE);
      return TRUE;
    }
    addr += (guint64)n;
  }
  *err = ENAMETOOLONG;
  return FALSE;
}

static gboolean
same_namespace(int proc, const char *ns)
{
  g_autofree char *self = g_strconcat("/proc/self/", ns, NULL);
  struct stat a, b;

  return fstatat(proc, ns, &a, 0) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static char *
read_at(int dir, const char *name)
{
  int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
  g_autoptr(GString) s = g_string_new(NULL);
  char buf[4096];
  ssize_t n;

  if (fd < 0)
    return NULL;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    g_string_append_len(s, buf, n);
  close(fd);
  return n < 0 ? NULL : g_string_free(g_steal_pointer(&s), FALSE);
}

static gboolean
has_sys_admin(int proc)
{
  g_autofree char *status = read_at(proc, "status");

  return (ferry_proc_status_mask(status, "CapEff") & (1ull << 21 /* CAP_SYS_ADMIN */)) != 0;
}

/* The controllers (and name=) a cgroup v1 mount asks for, sorted, comma
 * separated; NULL when it asks for every controller or sets a release agent. */
static char *
cgroup_v1_request(const char *data)
{
  static const char *const plain_options[]
      = { "none",           "noprefix",     "xattr",          "clone_children",
          "cpuset_v2_mode", "favordynmods", "nofavordynmods", NULL };
  g_auto(GStrv) opts = g_strsplit(data ? data : "", ",", -1);
  g_autoptr(GPtrArray) wanted = g_ptr_array_new();

  for (char **o = opts; *o != NULL; o++) {
    if (**o == '\0' || g_strv_contains(plain_options, *o))
      continue;
    if (g_str_equal(*o, "all") || g_str_has_prefix(*o, "release_agent"))
      return NULL;
    g_ptr_array_add(wanted, *o);
  }
  if (wanted->len == 0)
    return NULL; /* no controller named: all of them */
  g_ptr_array_sort(wanted, (GCompareFunc)g_strcmp0);
  g_ptr_array_add(wanted, NULL);
  return g_strjoinv(",", (char **)wanted->pdata);
}

/* A v1 mount inside the container's cgroup namespace shows the container's
 * own cgroup as the root of a hierarchy the host has: safe. Anything else
 * would create a hierarchy whose root (and release_agent, run as host root)
 * the container owns. */
static gboolean
cgroup_v1_allowed(int proc, const char *data)
{
  g_autofree char *want = cgroup_v1_request(data);
  g_autofree char *cgroups = want ? read_at(proc, "cgroup") : NULL;
  g_auto(GStrv) lines = g_strsplit(cgroups ? cgroups : "", "\n", -1);

  for (char **l = lines; want != NULL && *l != NULL; l++) {
    g_auto(GStrv) f = g_strsplit(*l, ":", 3);
    if (g_strv_length(f) != 3 || *f[1] == '\0')
      continue;
    g_autofree char *have = cgroup_v1_request(f[1]);
    if (have != NULL && g_str_equal(have, want))
      return TRUE;
  }
  return FALSE;
}

static gboolean
new_mount_allowed(int proc, const Call *c)
{
  static const char *const allowed[]
      = { "tmpfs", "ramfs", "devpts", "mqueue", "overlay", "cgroup2", "hugetlbfs", NULL };

  if (c->fstype == NULL)
    return FALSE;
  if (g_str_equal(c->fstype, "cgroup"))
    return cgroup_v1_allowed(proc, c->data);
  /* proc, sysfs, devtmpfs, binfmt_misc, debugfs, securityfs...: host-wide
   * state; block devices: none is in the container's device list. */
  return g_strv_contains(allowed, c->fstype);
}

/* --- the helper: runs in the caller's namespaces, root and cwd ---------- */

static gboolean
is_proc_or_sysfs(int fd)
{
  struct statfs sfs;

  return fstatfs(fd, &sfs) == 0 && (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC);
}

static guint64
mount_id(int fd)
{
  struct statx stx;

  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
    return 0;
  return stx.stx_mnt_id;
}

/* mountinfo escapes these in mount points. */
static char *
escape_mountinfo(const char *path)
{
  GString *s = g_string_new(NULL);

  for (const char *p = path; *p; p++)
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\')
      g_string_append_printf(s, "\\%03o", (unsigned char)*p);
    else
      g_string_append_c(s, *p);
  return g_string_free(s, FALSE);
}

typedef struct
{
  guint64 id, parent;
  char *mountpoint, *fstype;
} MountLine;

static gboolean
parse_mountinfo_line(const char *line, MountLine *m)
{
  g_auto(GStrv) f = g_strsplit(line, " ", -1);
  guint n = g_strv_length(f);

  memset(m, 0, sizeof *m);
  if (n < 10)
    return FALSE;
  for (guint i = 6; i + 1 < n; i++)
    if (g_str_equal(f[i], "-")) {
      m->id = g_ascii_strtoull(f[0], NULL, 10);
      m->parent = g_ascii_strtoull(f[1], NULL, 10);
      m->mountpoint = g_strdup(f[4]);
      m->fstype = g_strdup(f[i + 1]);
      return TRUE;
    }
  return FALSE;
}

/* A non-recursive bind of FD would show what the mounts below it cover
 * (a bind of /proc shows a writable /proc/sys). */
static gboolean
bind_reveals(int proc, int self_fds, int fd)
{
  g_autofree char *mountinfo = read_at(proc, "mountinfo");
  g_autofree char *fdname = g_strdup_printf("%d", fd);
  char path[4096];
  ssize_t n = readlinkat(self_fds, fdname, path, sizeof path - 1);
  guint64 id = mount_id(fd);

  if (mountinfo == NULL || n <= 0 || id == 0)
    return TRUE;
  path[n] = '\0';
  g_autofree char *escaped = escape_mountinfo(path);
  g_autofree char *prefix = g_str_equal(escaped, "/") ? g_strdup("/") : g_strconcat(escaped, "/", NULL);
  g_auto(GStrv) lines = g_strsplit(mountinfo, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    MountLine m;
    if (!parse_mountinfo_line(*l, &m))
      continue;
    gboolean below = m.parent == id && g_str_has_prefix(m.mountpoint, prefix);
    g_free(m.mountpoint);
    g_free(m.fstype);
    if (below)
      return TRUE;
  }
  return FALSE;
}

/* statmount(2) (Linux 6.8), not in Debian 12's headers. */
#define FERRY_SYS_statmount 457
#define FERRY_STATX_MNT_ID_UNIQUE 0x4000u
#define FERRY_STATMOUNT_SB_BASIC 0x1u
#define FERRY_STATMOUNT_MNT_BASIC 0x2u

struct ferry_mnt_id_req
{
  guint32 size, spare;
  guint64 mnt_id, param;
};

struct ferry_statmount
{
  guint32 size, mnt_opts;
  guint64 mask;
  guint32 sb_dev_major, sb_dev_minor;
  guint64 sb_magic;
  guint32 sb_flags, fs_type;
  guint64 mnt_id, mnt_parent_id;
  guint32 mnt_id_old, mnt_parent_id_old;
  guint64 spare[58];
};

/* The file system magic of the mount FD's mount is mounted on, from the
 * kernel (statmount), whether or not any path reaches it: 1 if found, 0 if
 * the kernel cannot tell (ENOSYS before 6.8), -1 on error. */
static int
parent_magic(int fd, guint64 *magic)
{
  struct statx stx;
  struct ferry_mnt_id_req req = { .size = 24, .param = FERRY_STATMOUNT_MNT_BASIC };
  struct ferry_statmount sm;

  if (statx(fd, "", AT_EMPTY_PATH, FERRY_STATX_MNT_ID_UNIQUE, &stx) < 0 || !(stx.stx_mask & FERRY_STATX_MNT_ID_UNIQUE))
    return 0;
  req.mnt_id = stx.stx_mnt_id;
  if (syscall(FERRY_SYS_statmount, &req, &sm, sizeof sm, 0) < 0)
    return errno == ENOSYS ? 0 : -1;
  req.mnt_id = sm.mnt_parent_id;
  req.param = FERRY_STATMOUNT_SB_BASIC;
  if (sm.mnt_parent_id == sm.mnt_id || syscall(FERRY_SYS_statmount, &req, &sm, sizeof sm, 0) < 0)
    return -1;
  *magic = sm.sb_magic;
  return 1;
}

/* Whether MOUNTINFO (the whole namespace's, seen from its root) shows
 * FD's mount on a proc or sysfs mount, or does not list it (mounted where
 * no path reaches: systemd moves such a new root onto / when pivot_root
 * fails). */
static gboolean
mountinfo_parent_reveals(const char *mountinfo, int fd)
{
  g_auto(GStrv) lines = g_strsplit(mountinfo ? mountinfo : "", "\n", -1);
  guint64 id = mount_id(fd), parent = 0;
  gboolean reveals = TRUE;

  for (int pass = 0; pass < 2; pass++)
    for (char **l = lines; *l != NULL; l++) {
      MountLine m;
      if (!parse_mountinfo_line(*l, &m))
        continue;
      if (pass == 0 && m.id == id)
        parent = m.parent;
      if (pass == 1 && parent != 0 && m.id == parent)
        reveals = g_str_equal(m.fstype, "proc") || g_str_equal(m.fstype, "sysfs");
      g_free(m.mountpoint);
      g_free(m.fstype);
    }
  return reveals;
}

/* Moving a mount away from inside proc or sysfs uncovers what it hid. The
 * kernel says what the mount is on, reachable or not; before Linux 6.8,
 * the namespace's mountinfo does. */
static gboolean
move_reveals(const char *mountinfo, int fd)
{
  guint64 magic = 0;
  int known = parent_magic(fd, &magic);

  if (known == 0)
    return mountinfo_parent_reveals(mountinfo, fd);
  return known < 0 || magic == PROC_SUPER_MAGIC || magic == SYSFS_MAGIC;
}

/* What the helper works with besides the call: the caller's /proc/PID,
 * its own /proc/self/fd and the caller's /proc/PID/fd, all of the host's
 * proc, opened before it entered the caller's root. */
typedef struct
{
  int proc, self_fds, caller_fds;
  char *ns_mountinfo; /* the caller's mount namespace, seen from its root */
} Helper;

/* systemd mounts on "/proc/self/fd/N" of a descriptor it opened with
 * O_NOFOLLOW (mount_nofollow). The helper is not in the caller's PID
 * namespace, so the container's /proc/self is not the caller: such a path
 * names the caller's descriptor N, which the host's /proc/PID/fd holds. */
static const char *
caller_fd_name(const char *path)
{
  const char *n = NULL;

  if (path == NULL)
    return NULL;
  if (g_str_has_prefix(path, "/proc/self/fd/"))
    n = path + strlen("/proc/self/fd/");
  else if (g_str_has_prefix(path, "/proc/thread-self/fd/"))
    n = path + strlen("/proc/thread-self/fd/");
  return n != NULL && *n != '\0' && n[strspn(n, "0123456789")] == '\0' ? n : NULL;
}

static int
open_path(const Helper *h, const char *path, int flags)
{
  const char *fd = caller_fd_name(path);

  if (path == NULL)
    return -1;
  return fd ? openat(h->caller_fds, fd, O_PATH | O_CLOEXEC | flags) : open(path, O_PATH | O_CLOEXEC | flags);
}

/* A new mount, on a path or on a caller's descriptor. */
static int
do_new(const Call *c, const Helper *h)
{
  const char *fd = caller_fd_name(c->target);

  if (fd != NULL && fchdir(h->caller_fds) < 0)
    return errno;
  return mount(c->source, fd ? fd : c->target, c->fstype, c->flags, c->data) < 0 ? errno : 0;
}

static int
do_reconfigure(const Call *c, const Helper *h)
{
  int fd = open_path(h, c->target, 0);
  struct statvfs vfs;
  struct mount_attr attr
      = { .attr_clr = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC
                      | MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW };

  if (fd < 0)
    return c->target ? errno : EFAULT;
  /* /proc/sys, /proc/sysrq-trigger and /sys stay read-only. */
  if (is_proc_or_sysfs(fd) && fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
    return EPERM;
  if (c->flags & MS_NOSUID)
    attr.attr_set |= MOUNT_ATTR_NOSUID;
  if (c->flags & MS_NODEV)
    attr.attr_set |= MOUNT_ATTR_NODEV;
  if (c->flags & MS_NOEXEC)
    attr.attr_set |= MOUNT_ATTR_NOEXEC;
  if (c->flags & MS_NODIRATIME)
    attr.attr_set |= MOUNT_ATTR_NODIRATIME;
  if (c->flags & MS_NOSYMFOLLOW)
    attr.attr_set |= MOUNT_ATTR_NOSYMFOLLOW;
  /* As mount(2): the access-time mode changes only when one is named. */
  if (c->flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)) {
    attr.attr_clr |= MOUNT_ATTR__ATIME;
    attr.attr_set |= (c->flags & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME
                     : (c->flags & MS_NOATIME)   ? MOUNT_ATTR_NOATIME
                                                 : MOUNT_ATTR_RELATIME;
  }
  return mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0 ? errno : 0;
}

/* Superblock options of the container's own in-memory file systems only:
 * the rootfs and anything else may be shared with the host. */
static int
do_remount(const Call *c, const Helper *h)
{
  int fd = open_path(h, c->target, O_DIRECTORY);
  struct statfs sfs;
  struct stat st, root;

  if (fd < 0)
    return errno == ENOTDIR ? EPERM : errno;
  if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0 || stat("/", &root) < 0)
    return errno;
  if ((sfs.f_type != TMPFS_MAGIC && sfs.f_type != DEVPTS_SUPER_MAGIC && sfs.f_type != MQUEUE_MAGIC
       && sfs.f_type != RAMFS_MAGIC)
      || st.st_dev == root.st_dev)
    return EPERM;
  if (fchdir(fd) < 0)
    return errno;
  return mount(c->source, ".", c->fstype, c->flags, c->data) < 0 ? errno : 0;
}

static int
do_bind(const Call *c, const Helper *h)
{
  int src = open_path(h, c->source, 0), dst = open_path(h, c->target, 0), tree;

  if (src < 0 || dst < 0)
    return c->source && c->target ? errno : EFAULT;
  if (!(c->flags & MS_REC) && is_proc_or_sysfs(src) && bind_reveals(h->proc, h->self_fds, src))
    return EPERM;
  tree = open_tree(src, "",
                   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH
                       | ((c->flags & MS_REC) ? AT_RECURSIVE : 0));
  if (tree < 0)
    return errno;
  return move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0 ? errno : 0;
}

static int
do_move(const Call *c, const Helper *h)
{
  int src = open_path(h, c->source, 0), dst = open_path(h, c->target, 0);

  if (src < 0 || dst < 0)
    return c->source && c->target ? errno : EFAULT;
  if (move_reveals(h->ns_mountinfo, src))
    return EPERM;
  return move_mount(src, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0 ? errno : 0;
}

/* umount(2) of what is mounted on an entry of a directory that is not in
 * proc or sysfs: whatever the entry is by then, nothing of theirs shows.
 * And umount2(".") of what is stacked on a working directory that is not
 * in proc or sysfs, the end of pivot_root(".", ".") (systemd, runc, LXC):
 * what shows then is the root of the working directory's own mount or of
 * one stacked between, never an entry a mask covers. */
static int
do_umount(const Call *c)
{
  g_autofree char *path = g_strdup(c->target);
  int flags = (int)c->flags;

  if (path == NULL)
    return EFAULT;
  if (flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW))
    return EINVAL;
  for (int links = 0;; links++) {
    gsize len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
      path[--len] = '\0';
    if (g_str_equal(path, ".")) {
      int cwd = open(".", O_PATH | O_CLOEXEC | O_DIRECTORY);
      if (cwd < 0)
        return errno;
      if (is_proc_or_sysfs(cwd))
        return EPERM;
      return umount2(".", flags | UMOUNT_NOFOLLOW) < 0 ? errno : 0;
    }
    char *slash = strrchr(path, '/');
    g_autofree char *dir = slash == NULL   ? g_strdup(".")
                           : slash == path ? g_strdup("/")
                                           : g_strndup(path, slash - path);
    const char *base = slash ? slash + 1 : path;
    struct stat st;
    if (*base == '\0' || g_str_equal(base, ".") || g_str_equal(base, ".."))
      return EINVAL;
    int parent = open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
    if (parent < 0)
      return errno;
    if (!(flags & UMOUNT_NOFOLLOW) && fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISLNK(st.st_mode)) {
      char link[4096];
      ssize_t n = readlinkat(parent, base, link, sizeof link - 1);
      if (n <= 0 || links >= 40)
        return n <= 0 ? errno : ELOOP;
      link[n] = '\0';
      char *next = link[0] == '/' ? g_strdup(link) : g_strconcat(dir, "/", link, NULL);
      g_free(path);
      path = next;
      close(parent);
      continue;
    }
    if (is_proc_or_sysfs(parent))
      return EPERM;
    if (fchdir(parent) < 0)
      return errno;
    return umount2(base, flags | UMOUNT_NOFOLLOW) < 0 ? errno : 0;
  }
}

static int
perform(const Call *c, const Helper *h)
{
  switch (c->op) {
  case OP_RECONFIGURE:
    return do_reconfigure(c, h);
  case OP_REMOUNT:
    return do_remount(c, h);
  case OP_BIND:
    return do_bind(c, h);
  case OP_MOVE:
    return do_move(c, h);
  case OP_UMOUNT:
    return do_umount(c);
  case OP_NEW:
  default:
    return do_new(c, h);
  }
}

/* Forks a helper that enters the caller's cgroup, IPC and mount namespaces
 * (what mounts of cgroup, cgroup2 and mqueue depend on), root and working
 * directory, and performs C there. It lives in the host's PID namespace:
 * nothing in the container can see or trace it. */
static int
emulate(const Call *c, int proc)
{
  static const char *const namespaces[] = { "ns/cgroup", "ns/ipc", "ns/mnt" };
  int fds[G_N_ELEMENTS(namespaces)], root = -1, cwd = -1, err = 0;
  pid_t pid;

  for (gsize i = 0; i < G_N_ELEMENTS(namespaces); i++)
    fds[i] = openat(proc, namespaces[i], O_RDONLY | O_CLOEXEC);
  root = openat(proc, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cwd = openat(proc, "cwd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (gsize i = 0; i < G_N_ELEMENTS(namespaces); i++)
    if (fds[i] < 0)
      err = ESRCH;
  if (root < 0 || cwd < 0)
    err = ESRCH;
  if (err == 0 && (pid = fork()) == 0) {
    Helper h = { .proc = proc,
                 .self_fds = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC),
                 .caller_fds = openat(proc, "fd", O_PATH | O_DIRECTORY | O_CLOEXEC) };
    int self_proc = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (gsize i = 0; i < G_N_ELEMENTS(namespaces); i++)
      if (setns(fds[i], 0) < 0)
        _exit(EPERM);
    /* setns() put us at the namespace's root: its mountinfo shows all. */
    if (c->op == OP_MOVE && (self_proc < 0 || (h.ns_mountinfo = read_at(self_proc, "mountinfo")) == NULL))
      _exit(EPERM);
    if (h.self_fds < 0 || h.caller_fds < 0 || fchdir(root) < 0 || chroot(".") < 0 || fchdir(cwd) < 0)
      _exit(EPERM);
    _exit(perform(c, &h) & 0xff);
  }
  else if (err == 0 && pid < 0)
    err = errno;
  else if (err == 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    err = WIFEXITED(status) ? WEXITSTATUS(status) : EPERM;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(namespaces); i++)
    if (fds[i] >= 0)
      close(fds[i]);
  if (root >= 0)
    close(root);
  if (cwd >= 0)
    close(cwd);
  return err;
}

/* Reads the call's arguments from the caller; a positive errno when it
 * cannot (or for a syscall the filter does not send). */
static int
read_call(const struct seccomp_notif *req, int proc, Call *c)
{
  gboolean x86_64 = req->data.arch == AUDIT_ARCH_X86_64;
  int nr = x86_64 ? (int)(req->data.nr & ~X32_BIT) : req->data.nr;
  gboolean is_mount = x86_64 ? nr == 165 : nr == 21;
  gboolean is_umount = x86_64 ? nr == 166 : nr == 52 || nr == 22;
  int mem, err = EFAULT;
  gboolean ok;

  if (!(x86_64 || req->data.arch == AUDIT_ARCH_I386) || !(is_mount || is_umount))
    return ENOSYS;
  if ((mem = openat(proc, "mem", O_RDONLY | O_CLOEXEC)) < 0)
    return ESRCH;
  if (is_umount) {
    c->op = OP_UMOUNT;
    c->flags = nr == 22 ? 0 : req->data.args[1];
    ok = read_string(mem, req->data.args[0], PATH_MAX, &c->target, &err);
  }
  else {
    c->flags = req->data.args[3];
    if ((c->flags & MS_MGC_MSK) == MS_MGC_VAL)
      c->flags &= ~MS_MGC_MSK;
    ok = read_string(mem, req->data.args[0], PATH_MAX, &c->source, &err)
         && read_string(mem, req->data.args[1], PATH_MAX, &c->target, &err)
         && read_string(mem, req->data.args[2], 4096, &c->fstype, &err)
         && read_string(mem, req->data.args[4], 4096, &c->data, &err);
  }
  close(mem);
  return ok ? 0 : err;
}

static const char *
describe(const Call *c)
{
  static const char *const names[] = { "remount,bind", "remount", "bind", "move", "mount", "umount" };
  return names[c->op];
}

static int
decide(int listener, const struct seccomp_notif *req, FerryMountNotifyMode mode)
{
  g_autofree char *dir = g_strdup_printf("/proc/%u", req->pid);
  int proc = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), err;
  Call c = { 0 };

  if (proc < 0)
    return ESRCH;
  /* From here on /proc/PID is the caller, not a recycled PID. */
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) {
    close(proc);
    return ESRCH;
  }
  /* CRIU (our own PID namespace), a caller without CAP_SYS_ADMIN (the
   * kernel refuses it), a caller in a nested user namespace (the kernel's
   * locked mounts apply): the kernel decides alone. */
  if (mode == FERRY_MOUNT_NOTIFY_RESTORING || same_namespace(proc, "ns/pid")
      || !same_namespace(proc, "ns/user") || !has_sys_admin(proc)) {
    close(proc);
    return GO_ON;
  }
  if ((err = read_call(req, proc, &c)) != 0 || ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) {
    call_clear(&c);
    close(proc);
    return err ? err : ESRCH;
  }
  if (c.op != OP_UMOUNT) {
    unsigned long f = c.flags;
    if ((f & (MS_REMOUNT | MS_BIND)) == (MS_REMOUNT | MS_BIND))
      c.op = OP_RECONFIGURE;
    else if (f & MS_REMOUNT)
      c.op = OP_REMOUNT;
    else if (f & MS_BIND)
      c.op = OP_BIND;
    else if (f & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE))
      err = GO_ON; /* propagation stays inside the container's namespace */
    else if (f & MS_MOVE)
      c.op = OP_MOVE;
    else
      c.op = OP_NEW;
    /* Whatever the target is by the time the kernel reads it again,
     * it ends up read-only. */
    if (c.op == OP_RECONFIGURE && (f & MS_RDONLY))
      err = GO_ON;
    if (c.op == OP_NEW && err == 0 && !new_mount_allowed(proc, &c))
      err = EPERM;
  }
  if (err == 0)
    err = emulate(&c, proc);
  if (err == EPERM)
    ferry_monitor_log("refused %s%s%s%s%s on %s by PID %u", describe(&c), c.fstype ? " -t " : "",
                      c.fstype ? c.fstype : "", c.source ? " " : "", c.source ? c.source : "",
                      c.target ? c.target : "(null)", req->pid);
  call_clear(&c);
  close(proc);
  return err;
}

gboolean
ferry_mount_notify_handle(int listener, FerryMountNotifyMode mode)
{
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  int err;

  memset(&req, 0, sizeof req);
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
    return errno == EINTR || errno == ENOENT; /* ENOENT: the caller is gone */
  err = decide(listener, &req, mode);
  memset(&resp, 0, sizeof resp);
  resp.id = req.id;
  if (err == GO_ON)
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else
    resp.error = -err;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
    ferry_monitor_log("answering a mount notification: %s", g_strerror(errno));
  return TRUE;
}
