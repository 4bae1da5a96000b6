/* Ferry's one tree copier: snapshots and restores (the daemon), the rootfs
 * copy taken while CRIU holds a container frozen (ferry-monitor) and every
 * launch from the image cache. The source may belong to a container, so it is
 * walked with openat() beneath the directory being copied and never through
 * a symlink: symlinks are copied as links, whatever they point to. */
#include "common/fs.h"
#include "common/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct
{
  int dst_root;
  FerryCopyFlags flags;
  GString *path;       /* relative path of the entry being copied, for messages and hard links */
  GHashTable *inodes;  /* FerryInodeKey of a multi-link source -> relative path of its first copy */
  gboolean no_reflink; /* FICLONE failed once: the file systems cannot share extents */
  gboolean no_cfr;     /* copy_file_range failed once: plain read/write */
  gboolean swapped;    /* the entry is of another kind than when looked at: look again */
} TreeCopy;

/* The key of a file with more than one name: its inode. */
guint
ferry_inode_key_hash (gconstpointer p)
{
  const FerryInodeKey *k = p;

  return (guint) (k->ino ^ (k->ino >> 32) ^ k->dev);
}

gboolean
ferry_inode_key_equal (gconstpointer a, gconstpointer b)
{
  const FerryInodeKey *x = a, *y = b;

  return x->ino == y->ino && x->dev == y->dev;
}

/* "<what> <rel>: <strerror>", rel being "." for the top. Returns FALSE. */
static gboolean
copy_error (GError **error, int errsv, const char *what, const char *rel)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s %s: %s", what, *rel != '\0' ? rel : ".",
               g_strerror (errsv));
  return FALSE;
}

/* A name listed in a live tree that is gone when looked at, opened or read
 * (a file written aside and renamed over, a directory removed): skipped, as
 * rsync's "file has vanished". A stable source has no such entry. */
static gboolean
vanished (const TreeCopy *c, int errsv)
{
  return errsv == ENOENT && !(c->flags & FERRY_COPY_STABLE_SOURCE);
}

/* A name of a live tree replaced by another kind of entry since it was
 * looked at (ln -sf over a file): sets c->swapped for the entry to be looked
 * at again. */
static gboolean
swapped (TreeCopy *c)
{
  if (c->flags & FERRY_COPY_STABLE_SOURCE)
    return FALSE;
  c->swapped = TRUE;
  return TRUE;
}

/* Bytes [off, end) of src to the same offsets of dst; *reached is where the
 * copy stopped, before end when the source shrank meanwhile. */
static gboolean
copy_extent (TreeCopy *c, int src, int dst, off_t off, off_t end, off_t *reached, GError **error)
{
  char buf[64 * 1024];

  while (off < end)
    {
      ssize_t n;

      if (!c->no_cfr)
        {
          loff_t in = off, out = off;
          n = copy_file_range (src, &in, dst, &out, (size_t) (end - off), 0);
          if (n < 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP))
            {
              c->no_cfr = TRUE;
              continue;
            }
        }
      else
        {
          n = pread (src, buf, (size_t) MIN ((off_t) sizeof buf, end - off), off);
          if (n > 0 && (lseek (dst, off, SEEK_SET) < 0 || !ferry_write_all (dst, buf, (gsize) n)))
            return copy_error (error, errno != 0 ? errno : EIO, "Writing", c->path->str);
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return copy_error (error, errno, "Copying", c->path->str);
      if (n == 0)
        break;
      off += n;
    }
  *reached = off;
  return TRUE;
}

/* The data of a regular file: shared extents (FICLONE) where the file
 * systems can, else its data extents one by one, holes kept. A file is
 * copied up to the size it had when looked at (ST), as cp does: one that
 * shrinks meanwhile ends where it ends now, one that grows is cut there. */
static gboolean
copy_data (TreeCopy *c, int src, int dst, const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  off_t off = 0, size = st->st_size;
  struct stat now;

  if (!c->no_reflink && st->st_size > 0)
    {
      if (ioctl (dst, FICLONE, src) == 0)
        goto copied;
      c->no_reflink = TRUE;
    }
  while (off < size)
    {
      off_t data = lseek (src, off, SEEK_DATA), hole = size;

      if (data < 0 && errno == ENXIO)
        {
          /* Only a hole after off, or the file shrank. */
          if (fstat (src, &now) < 0)
            return copy_error (error, errno, "Inspecting", rel);
          size = MIN (size, now.st_size);
          break;
        }
      if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP))
        data = off; /* a file system that cannot tell holes: all data */
      else if (data < 0 || (hole = lseek (src, data, SEEK_HOLE)) < 0)
        return copy_error (error, errno, "Reading", rel);
      if (data >= size)
        break;
      hole = MIN (hole, size);
      if (!copy_extent (c, src, dst, data, hole, &off, error))
        return FALSE;
      if (off < hole)
        size = off; /* the file shrank under us */
    }
  if (ftruncate (dst, size) < 0)
    return copy_error (error, errno, "Sizing", rel);
copied:
  if ((c->flags & FERRY_COPY_STABLE_SOURCE)
      && (fstat (src, &now) < 0 || now.st_size != st->st_size || fstat (dst, &now) < 0
          || now.st_size != st->st_size))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Copying %s: the file changed size while copied",
                   rel);
      return FALSE;
    }
  return TRUE;
}

static gboolean
xattr_unsupported (int errsv)
{
  return errsv == ENOTSUP || errsv == EOPNOTSUPP;
}

/* Copies the extended attributes through the fds or, for a node without one
 * (a symlink, a fifo, a device), through its already opened parent, which
 * cannot be swapped. Attributes the destination cannot hold (ENOTSUP) are
 * skipped; with FERRY_COPY_XATTRS_BEST_EFFORT any that fails is (cp -a). */
static gboolean
copy_xattrs (TreeCopy *c, int src_fd, int dst_fd, int src_dir, int dst_dir, const char *name, GError **error)
{
  gboolean lenient = (c->flags & FERRY_COPY_XATTRS_BEST_EFFORT) != 0;
  const char *rel = c->path->str;
  g_autofree char *src_path = NULL;
  g_autofree char *dst_path = NULL;
  g_autofree char *names = NULL;
  ssize_t len;

  if (src_fd < 0)
    {
      src_path = g_strdup_printf ("/proc/self/fd/%d/%s", src_dir, name);
      dst_path = g_strdup_printf ("/proc/self/fd/%d/%s", dst_dir, name);
    }
  len = src_fd >= 0 ? flistxattr (src_fd, NULL, 0) : llistxattr (src_path, NULL, 0);
  if (len < 0)
    return lenient || xattr_unsupported (errno) || (src_fd < 0 && vanished (c, errno))
           || copy_error (error, errno, "Listing the xattrs of", rel);
  if (len == 0)
    return TRUE;
  names = g_malloc ((gsize) len);
  len = src_fd >= 0 ? flistxattr (src_fd, names, (size_t) len) : llistxattr (src_path, names, (size_t) len);
  if (len < 0)
    return lenient || copy_error (error, errno, "Listing the xattrs of", rel);
  for (const char *n = names; n < names + len; n += strlen (n) + 1)
    {
      g_autofree char *value = NULL;
      ssize_t vlen = src_fd >= 0 ? fgetxattr (src_fd, n, NULL, 0) : lgetxattr (src_path, n, NULL, 0);
      int r;

      if (vlen >= 0)
        {
          value = g_malloc ((gsize) vlen + 1);
          vlen = src_fd >= 0 ? fgetxattr (src_fd, n, value, (size_t) vlen)
                             : lgetxattr (src_path, n, value, (size_t) vlen);
        }
      if (vlen < 0)
        {
          if (lenient)
            continue;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading xattr %s of %s: %s", n, rel,
                       g_strerror (errno));
          return FALSE;
        }
      r = dst_fd >= 0 ? fsetxattr (dst_fd, n, value, (size_t) vlen, 0)
                      : lsetxattr (dst_path, n, value, (size_t) vlen, 0);
      if (r < 0 && !lenient && !xattr_unsupported (errno))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting xattr %s on %s: %s", n, rel,
                       g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

/* Owner, mode (after the owner: chown clears set-id bits), xattrs and times
 * of ST onto the copy: through dst_fd when it has one (file, directory), else
 * by name in dst_dir. A symlink keeps the mode it was made with. EPERM on
 * chown is ignored when not running as root, so tests can run unprivileged. */
static gboolean
copy_metadata (TreeCopy *c, int src_fd, int dst_fd, int src_dir, int dst_dir, const char *name,
               const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  struct timespec times[2] = { st->st_atim, st->st_mtim };
  int r;

  r = dst_fd >= 0 ? fchown (dst_fd, st->st_uid, st->st_gid)
                  : fchownat (dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0 && !(errno == EPERM && geteuid () != 0))
    return copy_error (error, errno, "Setting the owner of", rel);
  if (!S_ISLNK (st->st_mode))
    {
      r = dst_fd >= 0 ? fchmod (dst_fd, st->st_mode & 07777)
                      : fchmodat (dst_dir, name, st->st_mode & 07777, AT_SYMLINK_NOFOLLOW);
      if (r < 0)
        return copy_error (error, errno, "Setting the mode of", rel);
    }
  if (!copy_xattrs (c, src_fd, dst_fd, src_dir, dst_dir, name, error))
    return FALSE;
  r = dst_fd >= 0 ? futimens (dst_fd, times) : utimensat (dst_dir, name, times, AT_SYMLINK_NOFOLLOW);
  if (r < 0)
    return copy_error (error, errno, "Setting the times of", rel);
  return TRUE;
}

/* The directory REL ("a/b") of the copy, each component opened without
 * following a symlink. */
static int
open_copied_dir (int root, const char *rel, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (rel, "/", -1);
  int cur = fcntl (root, F_DUPFD_CLOEXEC, 3);

  for (guint i = 0; cur >= 0 && rel[0] != '\0' && parts[i] != NULL; i++)
    {
      int next = openat (cur, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (cur);
      cur = next;
    }
  if (cur < 0)
    copy_error (error, errno, "Opening", rel);
  return cur;
}

/* For a second name of a multi-link inode links it to the first copy and
 * sets *linked. */
static gboolean
link_if_seen (TreeCopy *c, int dst_dir, const char *name, const struct stat *st, gboolean *linked,
              GError **error)
{
  FerryInodeKey key = { .dev = st->st_dev, .ino = st->st_ino };
  const char *first, *slash;
  g_autofree char *first_dir = NULL;
  ferry_autofd int first_dir_fd = -1;

  *linked = FALSE;
  if (st->st_nlink < 2)
    return TRUE;
  first = g_hash_table_lookup (c->inodes, &key);
  if (first == NULL)
    {
      g_hash_table_insert (c->inodes, g_memdup2 (&key, sizeof key), g_strdup (c->path->str));
      return TRUE;
    }
  slash = strrchr (first, '/');
  first_dir = slash != NULL ? g_strndup (first, (gsize) (slash - first)) : g_strdup ("");
  first_dir_fd = open_copied_dir (c->dst_root, first_dir, error);
  if (first_dir_fd < 0)
    return FALSE;
  if (linkat (first_dir_fd, slash != NULL ? slash + 1 : first, dst_dir, name, 0) < 0)
    return copy_error (error, errno, "Creating the hard link", c->path->str);
  *linked = TRUE;
  return TRUE;
}

static gboolean
copy_file (TreeCopy *c, int src_dir, int dst_dir, const char *name, GError **error)
{
  const char *rel = c->path->str;
  ferry_autofd int src = -1;
  ferry_autofd int dst = -1;
  gboolean linked;
  struct stat st;

  /* O_NONBLOCK: a fifo swapped in since it was looked at must not hang us. */
  src = openat (src_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (src < 0 && (vanished (c, errno) || (errno == ELOOP && swapped (c))))
    return TRUE;
  if (src < 0 || fstat (src, &st) < 0)
    return copy_error (error, errno, "Opening", rel);
  if (!S_ISREG (st.st_mode))
    {
      if (swapped (c))
        return TRUE;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Copying %s: it changed while copied", rel);
      return FALSE;
    }
  if (!link_if_seen (c, dst_dir, name, &st, &linked, error))
    return FALSE;
  if (linked)
    return TRUE;
  dst = openat (dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (dst < 0)
    return copy_error (error, errno, "Creating", rel);
  return copy_data (c, src, dst, &st, error) && copy_metadata (c, src, dst, -1, -1, NULL, &st, error);
}

static gboolean
copy_symlink (TreeCopy *c, int src_dir, int dst_dir, const char *name, const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  char target[PATH_MAX + 1];
  gboolean linked;
  ssize_t n;

  /* Read first: a vanished link must not be the first name of its inode. */
  n = readlinkat (src_dir, name, target, sizeof target - 1);
  if (n < 0)
    return vanished (c, errno) || (errno == EINVAL && swapped (c))
           || copy_error (error, errno, "Reading the symlink", rel);
  target[n] = '\0';
  if (!link_if_seen (c, dst_dir, name, st, &linked, error))
    return FALSE;
  if (linked)
    return TRUE;
  if (symlinkat (target, dst_dir, name) < 0)
    return copy_error (error, errno, "Creating the symlink", rel);
  return copy_metadata (c, -1, -1, src_dir, dst_dir, name, st, error);
}

/* A fifo, socket or device node, made again with mknod() when the flags
 * allow its kind. */
static gboolean
copy_node (TreeCopy *c, int src_dir, int dst_dir, const char *name, const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  gboolean device = S_ISCHR (st->st_mode) || S_ISBLK (st->st_mode);
  gboolean linked;

  if (!(c->flags & (device ? FERRY_COPY_DEVICES : FERRY_COPY_FIFOS)))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Refusing to copy %s: %s are not copied here", rel,
                   device ? "device nodes" : "fifos and sockets");
      return FALSE;
    }
  if (!link_if_seen (c, dst_dir, name, st, &linked, error))
    return FALSE;
  if (linked)
    return TRUE;
  if (mknodat (dst_dir, name, (st->st_mode & S_IFMT) | 0600, device ? st->st_rdev : 0) < 0)
    return copy_error (error, errno, "Creating", rel);
  return copy_metadata (c, -1, -1, src_dir, dst_dir, name, st, error);
}

static gboolean copy_dir_contents (TreeCopy *c, int src_dir, int dst_dir, GError **error);

static gboolean
copy_dir (TreeCopy *c, int src_dir, int dst_dir, const char *name, GError **error)
{
  const char *rel = c->path->str;
  ferry_autofd int src = -1;
  ferry_autofd int dst = -1;
  struct stat st;

  src = openat (src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0 && (vanished (c, errno) || (errno == ENOTDIR && swapped (c))))
    return TRUE;
  if (src < 0 || fstat (src, &st) < 0)
    return copy_error (error, errno, "Opening the directory", rel);
  if (mkdirat (dst_dir, name, 0700) < 0)
    return copy_error (error, errno, "Creating the directory", rel);
  dst = openat (dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst < 0)
    return copy_error (error, errno, "Opening the new directory", rel);
  /* Its own mode last: a read-only directory is filled first. */
  return copy_dir_contents (c, src, dst, error) && copy_metadata (c, src, dst, -1, -1, NULL, &st, error);
}

/* The names in a directory, read before any is copied: one fd per level of
 * the walk is held instead of two. */
static GPtrArray *
list_dir (TreeCopy *c, int dir, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int fd = fcntl (dir, F_DUPFD_CLOEXEC, 3);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;
  int errsv;

  if (d == NULL)
    {
      errsv = errno;
      if (fd >= 0)
        close (fd);
      return copy_error (error, errsv, "Reading the directory", c->path->str), NULL;
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (de->d_name));
  errsv = errno;
  closedir (d);
  if (errsv != 0)
    return copy_error (error, errsv, "Reading the directory", c->path->str), NULL;
  return g_steal_pointer (&names);
}

/* The entry NAME of src_dir, looked at again (three times at most) while it
 * keeps changing kind under us. */
static gboolean
copy_entry (TreeCopy *c, int src_dir, int dst_dir, const char *name, GError **error)
{
  for (int look = 0; look < 3; look++)
    {
      struct stat st;
      gboolean ok;

      c->swapped = FALSE;
      if (fstatat (src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return vanished (c, errno) || copy_error (error, errno, "Inspecting", c->path->str);
      if (S_ISDIR (st.st_mode))
        ok = copy_dir (c, src_dir, dst_dir, name, error);
      else if (S_ISREG (st.st_mode))
        ok = copy_file (c, src_dir, dst_dir, name, error);
      else if (S_ISLNK (st.st_mode))
        ok = copy_symlink (c, src_dir, dst_dir, name, &st, error);
      else
        ok = copy_node (c, src_dir, dst_dir, name, &st, error);
      if (!ok || !c->swapped)
        return ok;
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Copying %s: it changed while copied", c->path->str);
  return FALSE;
}

static gboolean
copy_dir_contents (TreeCopy *c, int src_dir, int dst_dir, GError **error)
{
  g_autoptr (GPtrArray) names = list_dir (c, src_dir, error);
  gsize path_len = c->path->len;
  gboolean ok = names != NULL;

  for (guint i = 0; ok && i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);

      g_string_truncate (c->path, path_len);
      if (path_len > 0)
        g_string_append_c (c->path, '/');
      g_string_append (c->path, name);
      ok = copy_entry (c, src_dir, dst_dir, name, error);
    }
  g_string_truncate (c->path, path_len);
  return ok;
}

/* The copy of src_fd's contents into dst_fd and, with root_st, of its own
 * attributes onto dst_fd. */
static gboolean
copy_tree (int src_fd, int dst_fd, const struct stat *root_st, FerryCopyFlags flags, GError **error)
{
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (ferry_inode_key_hash, ferry_inode_key_equal, g_free, g_free);
  g_autoptr (GString) path = g_string_new (NULL);
  TreeCopy c = { .dst_root = dst_fd, .flags = flags, .path = path, .inodes = inodes };

  return copy_dir_contents (&c, src_fd, dst_fd, error)
         && (root_st == NULL || copy_metadata (&c, src_fd, dst_fd, -1, -1, NULL, root_st, error));
}

gboolean
ferry_copy_tree_at (int src_dirfd, int dst_dirfd, FerryCopyFlags flags, GError **error)
{
  return copy_tree (src_dirfd, dst_dirfd, NULL, flags, error);
}

gboolean
ferry_copy_tree (const char *from, const char *to, GError **error)
{
  ferry_autofd int src = open (from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  ferry_autofd int dst = -1;
  struct stat st;

  if (src < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "%s is not a directory", from);
      return FALSE;
    }
  if (src < 0 || fstat (src, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", from, g_strerror (errno));
      return FALSE;
    }
  if (mkdir (to, 0700) < 0)
    {
      int errsv = errno;
      g_set_error (error, FERRY_ERROR, errsv == EEXIST ? FERRY_ERROR_CONFLICT : FERRY_ERROR_FAILED,
                   "Creating %s: %s", to, errsv == EEXIST ? "it already exists" : g_strerror (errsv));
      return FALSE;
    }
  dst = open (to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", to, g_strerror (errno));
  else if (copy_tree (src, dst, &st, FERRY_COPY_DEVICES | FERRY_COPY_FIFOS | FERRY_COPY_XATTRS_BEST_EFFORT,
                      error))
    return TRUE;
  g_prefix_error (error, "Copying %s to %s: ", from, to);
  ferry_rm_rf (to, NULL);
  return FALSE;
}
