#include "common/btrfs.h"
#include "common/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* The inode number of every subvolume's root directory. */
#define SUBVOLUME_ROOT_INO 256

gboolean
ferry_btrfs_is_btrfs (const char *path)
{
  struct statfs sfs;

  return statfs (path, &sfs) == 0 && (unsigned long) sfs.f_type == (unsigned long) BTRFS_SUPER_MAGIC;
}

gboolean
ferry_btrfs_is_subvolume (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 && S_ISDIR (st.st_mode) && st.st_ino == SUBVOLUME_ROOT_INO
         && ferry_btrfs_is_btrfs (path);
}

gboolean
ferry_btrfs_is_readonly_subvolume (const char *path)
{
  guint64 flags = 0;
  int fd;
  gboolean ro;

  if (!ferry_btrfs_is_subvolume (path) || (fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return FALSE;
  ro = ioctl (fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0 && (flags & BTRFS_SUBVOL_RDONLY) != 0;
  close (fd);
  return ro;
}

/* Opens the parent of PATH and fills the last component into ARGS's name. */
static int
open_parent (const char *path, char *name, gsize name_size, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  int fd;

  if (strlen (base) >= name_size)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Subvolume name %s is too long", base);
      return -1;
    }
  g_strlcpy (name, base, name_size);
  fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", parent, g_strerror (errno));
  return fd;
}

gboolean
ferry_btrfs_subvolume_create (const char *path, GError **error)
{
  struct btrfs_ioctl_vol_args args = { 0 };
  int fd = open_parent (path, args.name, sizeof args.name, error);
  int rc;

  if (fd < 0)
    return FALSE;
  rc = ioctl (fd, BTRFS_IOC_SUBVOL_CREATE, &args);
  if (rc < 0)
    g_set_error (error, FERRY_ERROR, errno == EEXIST ? FERRY_ERROR_CONFLICT : FERRY_ERROR_FAILED,
                 "Creating btrfs subvolume %s: %s", path, g_strerror (errno));
  close (fd);
  return rc == 0;
}

gboolean
ferry_btrfs_snapshot (const char *from, const char *dst, gboolean readonly, GError **error)
{
  struct btrfs_ioctl_vol_args_v2 args = { 0 };
  int dst_fd = open_parent (dst, args.name, sizeof args.name, error);
  int src_fd, rc;

  if (dst_fd < 0)
    return FALSE;
  src_fd = open (from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src_fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", from, g_strerror (errno));
      close (dst_fd);
      return FALSE;
    }
  args.fd = src_fd;
  args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
  rc = ioctl (dst_fd, BTRFS_IOC_SNAP_CREATE_V2, &args);
  if (rc < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Snapshotting btrfs subvolume %s as %s: %s", from, dst,
                 g_strerror (errno));
  close (src_fd);
  close (dst_fd);
  return rc == 0;
}

static guint64
mount_id (int dirfd, const char *name)
{
  struct statx stx;

  if (statx (dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
    return 0;
  return stx.stx_mnt_id;
}

static gboolean destroy_under (int dirfd, const char *path, dev_t mount_dev, GError **error);

/* Entry NAME of DIRFD (a directory at PATH/NAME): a subvolume is emptied
 * of its own subvolumes and then destroyed; a plain directory searched. */
static gboolean
destroy_entry (int dirfd, const char *path, const char *name, dev_t parent_dev, GError **error)
{
  g_autofree char *child = g_build_filename (path, name, NULL);
  struct stat st;
  int fd;
  gboolean ok;

  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
    return TRUE;
  /* Another device that is not a subvolume root is a mount, and so is
   * anything of another mount: never enter. */
  if ((st.st_dev != parent_dev && st.st_ino != SUBVOLUME_ROOT_INO) || mount_id (dirfd, name) != mount_id (dirfd, "."))
    return TRUE;
  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return TRUE;
  ok = destroy_under (fd, child, st.st_dev, error);
  close (fd);
  if (ok && st.st_ino == SUBVOLUME_ROOT_INO && st.st_dev != parent_dev)
    {
      struct btrfs_ioctl_vol_args args = { 0 };
      g_strlcpy (args.name, name, sizeof args.name);
      if (ioctl (dirfd, BTRFS_IOC_SNAP_DESTROY, &args) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Deleting btrfs subvolume %s: %s", child,
                       g_strerror (errno));
          return FALSE;
        }
    }
  return ok;
}

static gboolean
destroy_under (int dirfd, const char *path, dev_t dev, GError **error)
{
  int fd = dup (dirfd);
  DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;
  gboolean ok = TRUE;

  if (dir == NULL)
    {
      if (fd >= 0)
        close (fd);
      return TRUE;
    }
  while (ok && (e = readdir (dir)) != NULL)
    if ((e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) && strcmp (e->d_name, ".") != 0
        && strcmp (e->d_name, "..") != 0)
      ok = destroy_entry (dirfd, path, e->d_name, dev, error);
  closedir (dir);
  return ok;
}

gboolean
ferry_btrfs_destroy_subvolumes (const char *path, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  struct stat st;
  int fd;
  gboolean ok;

  if (!ferry_btrfs_is_btrfs (path))
    return TRUE;
  /* The parent as opened: a path through a pool's link leads elsewhere. */
  fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return TRUE;
  if (fstat (fd, &st) < 0)
    {
      close (fd);
      return TRUE;
    }
  ok = destroy_entry (fd, parent, base, st.st_dev, error);
  close (fd);
  return ok;
}
