#include "image/fs-at.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

gboolean
ferry_image_errno_error (GError **error, int errsv, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", what, g_strerror (errsv));
  return FALSE;
}

void
ferry_image_split_path (const char *rel, char **dir, const char **base)
{
  const char *slash = strrchr (rel, '/');

  if (slash == NULL)
    {
      *dir = g_strdup ("");
      *base = rel;
    }
  else
    {
      *dir = g_strndup (rel, (gsize) (slash - rel));
      *base = slash + 1;
    }
}

int
ferry_image_open_dir_beneath (int rootfd, const char *rel, gboolean create, GError **error)
{
  g_auto (GStrv) parts = NULL;
  int cur;

  cur = fcntl (rootfd, F_DUPFD_CLOEXEC, 3);
  if (cur < 0)
    return ferry_image_errno_error (error, errno, "Duplicating a directory fd"), -1;
  if (*rel == '\0')
    return cur;
  parts = g_strsplit (rel, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *comp = parts[i];
      int next;

      if (*comp == '\0' || strcmp (comp, ".") == 0 || strcmp (comp, "..") == 0)
        {
          close (cur);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Refusing path \"%s\" with an empty, \".\" or \"..\" component", rel);
          return -1;
        }
      next = openat (cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && create)
        {
          if (mkdirat (cur, comp, 0755) < 0 && errno != EEXIST)
            {
              int errsv = errno;
              close (cur);
              return ferry_image_errno_error (error, errsv, "Creating directory %s", rel), -1;
            }
          next = openat (cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (next >= 0 && fchmod (next, 0755) < 0)
            {
              int errsv = errno;
              close (next);
              close (cur);
              return ferry_image_errno_error (error, errsv, "Setting mode of %s", rel), -1;
            }
        }
      if (next < 0)
        {
          int errsv = errno;
          close (cur);
          if (errsv == ELOOP || errsv == ENOTDIR)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "Refusing to write through \"%s\": a component is a symlink or not a directory", rel);
              return -1;
            }
          return ferry_image_errno_error (error, errsv, "Opening directory %s", rel), -1;
        }
      close (cur);
      cur = next;
    }
  return cur;
}

gboolean
ferry_image_set_owner_mode (int fd, uid_t uid, gid_t gid, mode_t mode, const char *what, GError **error)
{
  if (fchown (fd, uid, gid) < 0 && !(errno == EPERM && geteuid () != 0))
    return ferry_image_errno_error (error, errno, "Setting owner of %s", what);
  if (fchmod (fd, mode & 07777) < 0)
    return ferry_image_errno_error (error, errno, "Setting mode of %s", what);
  return TRUE;
}

gboolean
ferry_image_write_all (int fd, const void *buf, gsize len, off_t offset, GError **error)
{
  const char *p = buf;

  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, offset);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return ferry_image_errno_error (error, errno, "Writing file");
        }
      p += n;
      len -= (gsize) n;
      offset += n;
    }
  return TRUE;
}
