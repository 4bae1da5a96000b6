#include "common/fs.h"
#include "common/error.h"
#include "common/btrfs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
ferry_mkdir_p (const char *path, int mode, GError **error)
{
  if (g_mkdir_with_parents (path, mode) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating directory %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_write_file_atomic (const char *path, const char *data, gssize len, int mode, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, mode, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s: %s", path, local->message);
      return FALSE;
    }
  return TRUE;
}

/* SYNC (fsync or syncfs) of PATH opened with FLAGS. */
static gboolean
sync_path (const char *path, int flags, int (*sync) (int), GError **error)
{
  int fd = open (path, flags | O_CLOEXEC);

  if (fd < 0 || sync (fd) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Syncing %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

gboolean
ferry_fsync_dir (const char *path, GError **error)
{
  return sync_path (path, O_RDONLY | O_DIRECTORY, fsync, error);
}

gboolean
ferry_syncfs (const char *path, GError **error)
{
  return sync_path (path, O_RDONLY, syncfs, error);
}

gboolean
ferry_rename_durable (const char *from, const char *to, GError **error)
{
  g_autofree char *from_dir = g_path_get_dirname (from), *to_dir = g_path_get_dirname (to);

  if (rename (from, to) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Renaming %s to %s: %s", from, to, g_strerror (saved));
      return FALSE;
    }
  return ferry_fsync_dir (to_dir, error) && (g_str_equal (from_dir, to_dir) || ferry_fsync_dir (from_dir, error));
}

static int
remove_entry (const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftwbuf)
{
  (void) sb;
  (void) ftwbuf;
  if (typeflag == FTW_DP || typeflag == FTW_D)
    {
      if (rmdir (fpath) < 0 && errno != ENOENT)
        return errno == EBUSY ? 0 : -1; /* a mount point: leave it, report at the top */
      return 0;
    }
  if (unlink (fpath) < 0 && errno != ENOENT)
    return -1;
  return 0;
}

gboolean
ferry_rm_rf (const char *path, GError **error)
{
  struct stat st;

  if (lstat (path, &st) < 0)
    {
      if (errno == ENOENT)
        return TRUE;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      if (unlink (path) < 0 && errno != ENOENT)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing %s: %s", path, g_strerror (errno));
          return FALSE;
        }
      return TRUE;
    }
  /* nftw stays on one device, and each btrfs subvolume is one of its own. */
  if (!ferry_btrfs_destroy_subvolumes (path, error))
    return FALSE;
  if (lstat (path, &st) < 0 && errno == ENOENT)
    return TRUE;
  if (nftw (path, remove_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  if (lstat (path, &st) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                   "Removing %s: something inside is still mounted (see /proc/self/mountinfo)", path);
      return FALSE;
    }
  return TRUE;
}

void
ferry_close_fds_but (int keep, int also)
{
  int lo = MIN (keep, also), hi = MAX (keep, also), from = 3;

  for (int k = 0; k < 2; k++)
    {
      int fd = k == 0 ? lo : hi;
      if (fd < from)
        continue;
      if (fd > from)
        close_range ((unsigned) from, (unsigned) fd - 1, 0);
      from = fd + 1;
    }
  close_range ((unsigned) from, ~0U, 0);
}

gboolean
ferry_write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = 0;
          return FALSE;
        }
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

char *
ferry_read_small_file (const char *path)
{
  /* Plain read()s: a list reads a dozen of these per container, and
   * g_file_get_contents() adds an fstat() and, for /proc files, stdio. */
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  GString *contents;
  char buf[4096];
  ssize_t n;

  if (fd < 0)
    return NULL;
  contents = g_string_new (NULL);
  while ((n = read (fd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          g_string_free (contents, TRUE);
          errno = saved;
          return NULL;
        }
      g_string_append_len (contents, buf, n);
    }
  close (fd);
  while (contents->len > 0 && (contents->str[contents->len - 1] == '\n' || contents->str[contents->len - 1] == ' '))
    g_string_truncate (contents, contents->len - 1);
  return g_string_free (contents, FALSE);
}

guint64
ferry_proc_starttime (pid_t pid)
{
  char path[64];
  g_autofree char *stat = NULL;

  if (pid <= 0)
    return 0;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  stat = ferry_read_small_file (path);
  if (stat == NULL)
    return 0;
  /* The command name (field 2) may contain spaces and ')' : skip to the last ')'. */
  const char *p = strrchr (stat, ')');
  if (p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
    return 0;
  p++;
  /* p is at the space before field 3; each step moves to the space before
   * the next field, so after 19 steps it is before field 22, starttime. */
  for (int field = 3; field < 22 && p != NULL; field++)
    p = strchr (p + 1, ' ');
  if (p == NULL)
    return 0;
  return g_ascii_strtoull (p + 1, NULL, 10);
}

guint64
ferry_proc_status_mask (const char *status, const char *field)
{
  g_autofree char *key = g_strconcat ("\n", field, ":", NULL);
  const char *at = status ? strstr (status, key) : NULL;

  return at ? g_ascii_strtoull (at + strlen (key), NULL, 16) : 0;
}

int
ferry_proc_same_namespace (pid_t pid, const char *ns)
{
  g_autofree char *theirs_path = g_strdup_printf ("/proc/%d/ns/%s", (int) pid, ns);
  g_autofree char *ours_path = g_strdup_printf ("/proc/self/ns/%s", ns);
  struct stat theirs, ours;

  if (stat (theirs_path, &theirs) < 0 || stat (ours_path, &ours) < 0)
    return -1;
  return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}
