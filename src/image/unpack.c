#include "image/image.h"
#include "image/fs-at.h"
#include "image/rootfs.h"
#include "image/store.h"
#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens images_dir/<fp>.rootfs, extracting the tarball into it first if it
 * is not there. Concurrent fills of the same image each work in their own
 * temporary directory; the first rename wins, the others discard theirs. */
static int
open_rootfs_cache (const char *images_dir, const char *fingerprint, GError **error)
{
  g_autofree char *cache = ferry_image_path (images_dir, fingerprint, ".rootfs");
  g_autofree char *tarball = ferry_image_path (images_dir, fingerprint, "");
  g_autofree char *tmp = NULL;
  int fd, tar_fd, tmp_fd;
  gboolean ok;

  fd = open (cache, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT)
    return fd >= 0 ? fd : (ferry_image_errno_error (error, errno, "Opening %s", cache), -1);

  tar_fd = open (tarball, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (tar_fd < 0)
    return ferry_image_errno_error (error, errno, "Opening image %s", tarball), -1;
  tmp = g_strconcat (cache, ".tmp-XXXXXX", NULL);
  if (g_mkdtemp_full (tmp, 0755) == NULL)
    {
      int errsv = errno;
      close (tar_fd);
      return ferry_image_errno_error (error, errsv, "Creating %s", tmp), -1;
    }
  tmp_fd = open (tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  ok = tmp_fd >= 0 ? ferry_image_extract_rootfs (tar_fd, tmp_fd, error)
                   : ferry_image_errno_error (error, errno, "Opening %s", tmp);
  close (tar_fd);
  if (tmp_fd >= 0)
    close (tmp_fd);
  if (!ok)
    {
      g_prefix_error (error, "Unpacking image %s: ", fingerprint);
      ferry_rm_rf (tmp, NULL);
      return -1;
    }
  if (rename (tmp, cache) < 0)
    {
      int errsv = errno;
      ferry_rm_rf (tmp, NULL);
      if (errsv != EEXIST && errsv != ENOTEMPTY)
        return ferry_image_errno_error (error, errsv, "Renaming %s", tmp), -1;
    }
  fd = open (cache, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return ferry_image_errno_error (error, errno, "Opening %s", cache), -1;
  return fd;
}

static gboolean
unpack (const char *images_dir, const char *fingerprint, const char *rootfs, gboolean existing, GError **error)
{
  g_autofree char *tarball = NULL;
  struct stat st;
  int cache_fd, dst_fd;
  gboolean ok;

  if (!ferry_image_fingerprint_validate (fingerprint, error))
    return FALSE;
  tarball = ferry_image_path (images_dir, fingerprint, "");
  if (lstat (tarball, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Image %s not found", fingerprint);
      return FALSE;
    }
  if (!existing && mkdir (rootfs, 0755) < 0)
    {
      int errsv = errno;
      g_set_error (error, FERRY_ERROR, errsv == EEXIST ? FERRY_ERROR_CONFLICT : FERRY_ERROR_FAILED,
                   "Creating rootfs %s: %s", rootfs, g_strerror (errsv));
      return FALSE;
    }
  dst_fd = open (rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst_fd < 0 || fchmod (dst_fd, 0755) < 0)
    {
      ferry_image_errno_error (error, errno, "Opening rootfs %s", rootfs);
      if (dst_fd >= 0)
        close (dst_fd);
      if (!existing)
        rmdir (rootfs);
      return FALSE;
    }
  cache_fd = open_rootfs_cache (images_dir, fingerprint, error);
  ok = cache_fd >= 0 && ferry_copy_tree_at (cache_fd, dst_fd, FERRY_COPY_STABLE_SOURCE, error);
  if (cache_fd >= 0)
    close (cache_fd);
  close (dst_fd);
  if (!ok)
    {
      g_prefix_error (error, "Filling rootfs %s: ", rootfs);
      ferry_rm_rf (rootfs, NULL);
    }
  return ok;
}

gboolean
ferry_image_unpack (const char *images_dir, const char *fingerprint, const char *rootfs, GError **error)
{
  return unpack (images_dir, fingerprint, rootfs, FALSE, error);
}

gboolean
ferry_image_unpack_into (const char *images_dir, const char *fingerprint, const char *rootfs, GError **error)
{
  return unpack (images_dir, fingerprint, rootfs, TRUE, error);
}
