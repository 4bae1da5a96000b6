#include "image/rootfs.h"
#include "image/fs-at.h"
#include "common/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  int dst_root;
  GString *path;       /* relative path of the entry being copied, for messages and hard links */
  GHashTable *inodes;  /* source inode (multi-link files) -> destination relative path */
  gboolean no_reflink; /* FICLONE failed once: the file systems cannot share extents */
  gboolean no_cfr;     /* copy_file_range failed once: plain read/write */
} Copy;

static gboolean
copy_data_rw (int src, int dst, const char *rel, GError **error)
{
  char buf[64 * 1024];
  off_t off = 0;

  for (;;)
    {
      ssize_t n = read (src, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return ferry_image_errno_error (error, errno, "Reading %s", rel);
      if (n == 0)
        return TRUE;
      if (!ferry_image_write_all (dst, buf, (gsize) n, off, error))
        return FALSE;
      off += n;
    }
}

static gboolean
copy_data (Copy *c, int src, int dst, const struct stat *st, const char *rel, GError **error)
{
  off_t left = st->st_size;

  if (left == 0)
    return TRUE;
  if (!c->no_reflink)
    {
      if (ioctl (dst, FICLONE, src) == 0)
        return TRUE;
      c->no_reflink = TRUE;
    }
  while (!c->no_cfr && left > 0)
    {
      ssize_t n = copy_file_range (src, NULL, dst, NULL, (size_t) left, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP))
        {
          if (left != st->st_size)
            return ferry_image_errno_error (error, errno, "Copying %s", rel);
          c->no_cfr = TRUE;
          break;
        }
      if (n < 0)
        return ferry_image_errno_error (error, errno, "Copying %s", rel);
      if (n == 0)
        break; /* the source shrank: the cache changed under us */
      left -= n;
    }
  if (!c->no_cfr)
    {
      if (left != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Copying %s: the cached file changed size", rel);
          return FALSE;
        }
      return TRUE;
    }
  return copy_data_rw (src, dst, rel, error);
}

static gboolean
set_times (int fd, const struct stat *st, const char *rel, GError **error)
{
  struct timespec times[2] = { st->st_atim, st->st_mtim };

  if (futimens (fd, times) < 0)
    return ferry_image_errno_error (error, errno, "Setting times of %s", rel);
  return TRUE;
}

/* For a second name of a multi-link inode (file or symlink) links it to the
 * first copy and sets *linked. */
static gboolean
link_if_seen (Copy *c, int dst_dir, const char *name, const struct stat *st, gboolean *linked, GError **error)
{
  const char *rel = c->path->str;
  const char *first;
  g_autofree char *fdir = NULL;
  const char *fbase;
  int ffd, r;

  *linked = FALSE;
  if (st->st_nlink < 2)
    return TRUE;
  first = g_hash_table_lookup (c->inodes, GSIZE_TO_POINTER ((gsize) st->st_ino));
  if (first == NULL)
    {
      g_hash_table_insert (c->inodes, GSIZE_TO_POINTER ((gsize) st->st_ino), g_strdup (rel));
      return TRUE;
    }
  ferry_image_split_path (first, &fdir, &fbase);
  ffd = ferry_image_open_dir_beneath (c->dst_root, fdir, FALSE, error);
  if (ffd < 0)
    return FALSE;
  r = linkat (ffd, fbase, dst_dir, name, 0);
  close (ffd);
  if (r < 0)
    return ferry_image_errno_error (error, errno, "Creating hard link %s", rel);
  *linked = TRUE;
  return TRUE;
}

static gboolean
copy_file (Copy *c, int src_dir, int dst_dir, const char *name, const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  int src = -1, dst = -1;
  gboolean ok = FALSE, linked;

  if (!link_if_seen (c, dst_dir, name, st, &linked, error))
    return FALSE;
  if (linked)
    return TRUE;
  src = openat (src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0)
    return ferry_image_errno_error (error, errno, "Opening cached %s", rel);
  dst = openat (dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (dst < 0)
    {
      ferry_image_errno_error (error, errno, "Creating %s", rel);
      goto out;
    }
  ok = copy_data (c, src, dst, st, rel, error)
       && ferry_image_set_owner_mode (dst, st->st_uid, st->st_gid, st->st_mode, rel, error)
       && ferry_image_copy_xattrs (src, dst, -1, -1, NULL, error)
       && set_times (dst, st, rel, error);
out:
  if (src >= 0)
    close (src);
  if (dst >= 0)
    close (dst);
  return ok;
}

static gboolean
copy_symlink (Copy *c, int src_dir, int dst_dir, const char *name, const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  struct timespec times[2] = { st->st_atim, st->st_mtim };
  char target[PATH_MAX + 1];
  ssize_t n;
  gboolean linked;

  if (!link_if_seen (c, dst_dir, name, st, &linked, error))
    return FALSE;
  if (linked)
    return TRUE;
  n = readlinkat (src_dir, name, target, sizeof target - 1);
  if (n < 0)
    return ferry_image_errno_error (error, errno, "Reading cached symlink %s", rel);
  target[n] = '\0';
  if (symlinkat (target, dst_dir, name) < 0)
    return ferry_image_errno_error (error, errno, "Creating symlink %s", rel);
  if (fchownat (dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0
      && !(errno == EPERM && geteuid () != 0))
    return ferry_image_errno_error (error, errno, "Setting owner of %s", rel);
  if (!ferry_image_copy_xattrs (-1, -1, src_dir, dst_dir, name, error))
    return FALSE;
  if (utimensat (dst_dir, name, times, AT_SYMLINK_NOFOLLOW) < 0)
    return ferry_image_errno_error (error, errno, "Setting times of %s", rel);
  return TRUE;
}

static gboolean copy_dir_contents (Copy *c, int src_dir, int dst_dir, GError **error);

static gboolean
copy_dir (Copy *c, int src_dir, int dst_dir, const char *name, const struct stat *st, GError **error)
{
  const char *rel = c->path->str;
  int src = -1, dst = -1;
  gboolean ok = FALSE;

  if (mkdirat (dst_dir, name, 0700) < 0)
    return ferry_image_errno_error (error, errno, "Creating directory %s", rel);
  src = openat (src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0)
    {
      ferry_image_errno_error (error, errno, "Opening cached directory %s", rel);
      goto out;
    }
  dst = openat (dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst < 0)
    {
      ferry_image_errno_error (error, errno, "Opening directory %s", rel);
      goto out;
    }
  ok = copy_dir_contents (c, src, dst, error)
       && ferry_image_set_owner_mode (dst, st->st_uid, st->st_gid, st->st_mode, rel, error)
       && ferry_image_copy_xattrs (src, dst, -1, -1, NULL, error)
       && set_times (dst, st, rel, error);
out:
  if (src >= 0)
    close (src);
  if (dst >= 0)
    close (dst);
  return ok;
}

static gboolean
copy_dir_contents (Copy *c, int src_dir, int dst_dir, GError **error)
{
  int fd = fcntl (src_dir, F_DUPFD_CLOEXEC, 3);
  DIR *d;
  struct dirent *de;
  gsize path_len = c->path->len;
  gboolean ok = TRUE;

  if (fd < 0)
    return ferry_image_errno_error (error, errno, "Duplicating a directory fd");
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return ferry_image_errno_error (error, errno, "Reading cached directory %s", c->path->str);
    }
  while (ok && (errno = 0, de = readdir (d)) != NULL)
    {
      struct stat st;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      g_string_truncate (c->path, path_len);
      if (path_len > 0)
        g_string_append_c (c->path, '/');
      g_string_append (c->path, de->d_name);
      if (fstatat (src_dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        ok = ferry_image_errno_error (error, errno, "Inspecting cached %s", c->path->str);
      else if (S_ISDIR (st.st_mode))
        ok = copy_dir (c, src_dir, dst_dir, de->d_name, &st, error);
      else if (S_ISREG (st.st_mode))
        ok = copy_file (c, src_dir, dst_dir, de->d_name, &st, error);
      else if (S_ISLNK (st.st_mode))
        ok = copy_symlink (c, src_dir, dst_dir, de->d_name, &st, error);
      else
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                       "Unexpected file type of cached %s (only files, directories and symlinks)", c->path->str);
          ok = FALSE;
        }
    }
  if (ok && errno != 0)
    ok = ferry_image_errno_error (error, errno, "Reading cached directory %s", c->path->str);
  g_string_truncate (c->path, path_len);
  closedir (d);
  return ok;
}

gboolean
ferry_image_copy_tree (int src_fd, int dst_fd, GError **error)
{
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  g_autoptr (GString) path = g_string_new (NULL);
  Copy c = { .dst_root = dst_fd, .path = path, .inodes = inodes };

  return copy_dir_contents (&c, src_fd, dst_fd, error);
}
