#include "image/rootfs.h"
#include "image/fs-at.h"
#include "image/tarball.h"
#include "image/tarball-internal.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct
{
  char *rel;
  struct timespec mtime;
} DirTime;

struct FerryTarExtract
{
  int rootfd;
  char *cached_dir; /* the parent directory of the last entry, kept open */
  int cached_fd;
  GArray *dir_times; /* DirTime, applied once all entries are in place */
};
typedef struct FerryTarExtract Extract;

static void
dir_time_clear (gpointer p)
{
  g_free (((DirTime *) p)->rel);
}

static int
parent_fd (Extract *x, const char *dir, GError **error)
{
  if (x->cached_dir != NULL && strcmp (x->cached_dir, dir) == 0)
    return x->cached_fd;
  g_clear_pointer (&x->cached_dir, g_free);
  if (x->cached_fd >= 0)
    close (x->cached_fd);
  x->cached_fd = ferry_image_open_dir_beneath (x->rootfd, dir, TRUE, error);
  if (x->cached_fd >= 0)
    x->cached_dir = g_strdup (dir);
  return x->cached_fd;
}

static gboolean
apply_xattrs (int fd, struct archive_entry *e, const char *rel, GError **error)
{
  const char *name;
  const void *value;
  size_t size;

  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      if (fsetxattr (fd, name, value, size, 0) < 0 && errno != ENOTSUP)
        return ferry_image_errno_error (error, errno, "Setting xattr %s on %s", name, rel);
    }
  return TRUE;
}

static struct timespec
entry_mtime (struct archive_entry *e)
{
  struct timespec ts = { .tv_sec = archive_entry_mtime (e), .tv_nsec = archive_entry_mtime_nsec (e) };
  return ts;
}

static gboolean
remove_old (int dirfd, const char *base, const char *rel, GError **error)
{
  struct stat st;

  /* Tar lets a later entry replace an earlier one; the walk already refused
     a directory being replaced by anything else. */
  if (fstatat (dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TRUE : ferry_image_errno_error (error, errno, "Inspecting %s", rel);
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Image entry %s would replace a directory", rel);
      return FALSE;
    }
  if (unlinkat (dirfd, base, 0) < 0)
    return ferry_image_errno_error (error, errno, "Replacing %s", rel);
  return TRUE;
}

static gboolean
extract_file (int dirfd, const char *base, const char *rel, const FerryTarEntry *fe, GError **error)
{
  struct archive_entry *e = fe->entry;
  struct timespec times[2];
  const void *buf;
  size_t size;
  la_int64_t offset;
  int fd, r;
  gboolean ok = FALSE;

  fd = openat (dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return ferry_image_errno_error (error, errno, "Creating %s", rel);
  while ((r = archive_read_data_block (fe->archive, &buf, &size, &offset)) == ARCHIVE_OK)
    {
      if (!ferry_image_write_all (fd, buf, size, (off_t) offset, error))
        goto out;
    }
  if (r != ARCHIVE_EOF)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Image entry %s cannot be read: %s", rel,
                   archive_error_string (fe->archive));
      goto out;
    }
  /* Sparse files may end in a hole. */
  if (ftruncate (fd, (off_t) archive_entry_size (e)) < 0)
    {
      ferry_image_errno_error (error, errno, "Sizing %s", rel);
      goto out;
    }
  if (!ferry_image_set_owner_mode (fd, archive_entry_uid (e), archive_entry_gid (e), archive_entry_perm (e), rel,
                                   error)
      || !apply_xattrs (fd, e, rel, error))
    goto out;
  times[0] = times[1] = entry_mtime (e);
  if (futimens (fd, times) < 0)
    {
      ferry_image_errno_error (error, errno, "Setting times of %s", rel);
      goto out;
    }
  ok = TRUE;
out:
  close (fd);
  return ok;
}

static gboolean
extract_dir (Extract *x, int dirfd, const char *base, const char *rel, struct archive_entry *e, GError **error)
{
  DirTime dt;
  int fd;
  gboolean ok;

  if (mkdirat (dirfd, base, 0700) < 0 && errno != EEXIST)
    return ferry_image_errno_error (error, errno, "Creating directory %s", rel);
  fd = openat (dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ELOOP || errno == ENOTDIR)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Image directory %s would replace a file or symlink", rel);
          return FALSE;
        }
      return ferry_image_errno_error (error, errno, "Opening directory %s", rel);
    }
  ok = ferry_image_set_owner_mode (fd, archive_entry_uid (e), archive_entry_gid (e), archive_entry_perm (e), rel, error)
       && apply_xattrs (fd, e, rel, error);
  close (fd);
  dt.rel = g_strdup (rel);
  dt.mtime = entry_mtime (e);
  g_array_append_val (x->dir_times, dt);
  return ok;
}

static gboolean
extract_symlink (int dirfd, const char *base, const char *rel, struct archive_entry *e, GError **error)
{
  struct timespec times[2];

  if (symlinkat (archive_entry_symlink (e), dirfd, base) < 0)
    return ferry_image_errno_error (error, errno, "Creating symlink %s", rel);
  if (fchownat (dirfd, base, archive_entry_uid (e), archive_entry_gid (e), AT_SYMLINK_NOFOLLOW) < 0
      && !(errno == EPERM && geteuid () != 0))
    return ferry_image_errno_error (error, errno, "Setting owner of %s", rel);
  times[0] = times[1] = entry_mtime (e);
  if (utimensat (dirfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
    return ferry_image_errno_error (error, errno, "Setting times of %s", rel);
  return TRUE;
}

static gboolean
extract_hardlink (Extract *x, int dirfd, const char *base, const char *rel, const char *target, GError **error)
{
  g_autofree char *tdir = NULL;
  const char *tbase;
  int tfd, r;

  ferry_image_split_path (target, &tdir, &tbase);
  tfd = ferry_image_open_dir_beneath (x->rootfd, tdir, FALSE, error);
  if (tfd < 0)
    return FALSE;
  r = linkat (tfd, tbase, dirfd, base, 0);
  close (tfd);
  if (r < 0)
    return ferry_image_errno_error (error, errno, "Creating hard link %s -> %s", rel, target);
  return TRUE;
}

gboolean
ferry_tar_extract_entry (FerryTarExtract *x, const char *rel, const char *hardlink_rel, const FerryTarEntry *fe,
                         GError **error)
{
  g_autofree char *dir = NULL;
  const char *base;
  int dirfd;

  ferry_image_split_path (rel, &dir, &base);
  dirfd = parent_fd (x, dir, error);
  if (dirfd < 0)
    return FALSE;
  if (hardlink_rel == NULL && archive_entry_filetype (fe->entry) == AE_IFDIR)
    return extract_dir (x, dirfd, base, rel, fe->entry, error);
  if (!remove_old (dirfd, base, rel, error))
    return FALSE;
  if (hardlink_rel != NULL)
    return extract_hardlink (x, dirfd, base, rel, hardlink_rel, error);
  if (archive_entry_filetype (fe->entry) == AE_IFLNK)
    return extract_symlink (dirfd, base, rel, fe->entry, error);
  return extract_file (dirfd, base, rel, fe, error);
}

FerryTarExtract *
ferry_tar_extract_new (int rootfd)
{
  FerryTarExtract *x = g_new0 (FerryTarExtract, 1);

  x->rootfd = rootfd;
  x->cached_fd = -1;
  x->dir_times = g_array_new (FALSE, FALSE, sizeof (DirTime));
  g_array_set_clear_func (x->dir_times, dir_time_clear);
  return x;
}

static void
extract_free (FerryTarExtract *x)
{
  g_free (x->cached_dir);
  if (x->cached_fd >= 0)
    close (x->cached_fd);
  g_array_unref (x->dir_times);
  g_free (x);
}

gboolean
ferry_tar_extract_finish (FerryTarExtract *x, GError **error)
{
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < x->dir_times->len; i++)
    {
      DirTime *dt = &g_array_index (x->dir_times, DirTime, i);
      struct timespec times[2] = { dt->mtime, dt->mtime };
      int fd = ferry_image_open_dir_beneath (x->rootfd, dt->rel, FALSE, error);

      if (fd < 0)
        ok = FALSE;
      else if (futimens (fd, times) < 0)
        ok = ferry_image_errno_error (error, errno, "Setting times of %s", dt->rel);
      if (fd >= 0)
        close (fd);
    }
  extract_free (x);
  return ok;
}

static gboolean
extract_entry (const FerryTarEntry *fe, gpointer user_data, GError **error)
{
  Extract *x = user_data;
  const char *rel = fe->path + strlen ("rootfs");

  if (*rel == '\0')
    return TRUE; /* the rootfs directory itself: the caller owns its mode */
  return ferry_tar_extract_entry (x, rel + 1, fe->hardlink != NULL ? fe->hardlink + strlen ("rootfs/") : NULL, fe,
                                  error);
}

gboolean
ferry_image_extract_rootfs (int tar_fd, int rootfd, GError **error)
{
  FerryTarExtract *x = ferry_tar_extract_new (rootfd);
  g_autoptr (FerryImageMetadata) md = ferry_image_tarball_walk (tar_fd, extract_entry, x, NULL, error);

  if (md == NULL)
    {
      extract_free (x);
      return FALSE;
    }
  return ferry_tar_extract_finish (x, error);
}
