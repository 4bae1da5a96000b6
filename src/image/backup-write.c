/* Writing an instance backup tarball (backup.h) from the instance's
 * directories, never following a symlink. */
#include "image/backup.h"
#include "image/fs-at.h"
#include "common/error.h"
#include "common/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct archive ArchiveWriter;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveWriter, archive_write_free)
typedef struct archive_entry ArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveEntry, archive_entry_free)

typedef struct
{
  struct archive *a;
  struct archive_entry_linkresolver *links; /* one per tree: hard links never cross trees */
  GCancellable *cancellable;
  guint skipped;
} Writer;

static const struct
{
  const char *name;
  int (*add) (struct archive *);
} compressions[] = {
  { "gzip", archive_write_add_filter_gzip }, { "none", archive_write_add_filter_none },
  { "bzip2", archive_write_add_filter_bzip2 }, { "xz", archive_write_add_filter_xz },
  { "lzma", archive_write_add_filter_lzma }, { "zstd", archive_write_add_filter_zstd },
  { "lz4", archive_write_add_filter_lz4 },
};

gboolean
ferry_backup_compression_known (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++)
    if (strcmp (compressions[i].name, name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
archive_failed (Writer *w, const char *what, GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing the backup (%s): %s", what,
               archive_error_string (w->a) ? archive_error_string (w->a) : "unknown error");
  return FALSE;
}

static gboolean
write_header (Writer *w, struct archive_entry *e, GError **error)
{
  int r = archive_write_header (w->a, e);

  if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
    return archive_failed (w, archive_entry_pathname (e), error);
  return TRUE;
}

static gboolean
add_text (Writer *w, const char *path, const char *text, GError **error)
{
  g_autoptr (ArchiveEntry) e = archive_entry_new ();
  gsize len = strlen (text);

  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t) len);
  archive_entry_set_mtime (e, (time_t) (g_get_real_time () / G_USEC_PER_SEC), 0);
  if (!write_header (w, e, error))
    return FALSE;
  if (archive_write_data (w->a, text, len) != (la_ssize_t) len)
    return archive_failed (w, path, error);
  return TRUE;
}

static gboolean
add_dir_header (Writer *w, const char *path, GError **error)
{
  g_autoptr (ArchiveEntry) e = archive_entry_new ();

  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, AE_IFDIR);
  archive_entry_set_perm (e, 0700);
  archive_entry_set_mtime (e, (time_t) (g_get_real_time () / G_USEC_PER_SEC), 0);
  return write_header (w, e, error);
}

static gboolean
add_xattrs (int fd, struct archive_entry *e, const char *path, GError **error)
{
  g_autofree char *names = NULL;
  ssize_t len = flistxattr (fd, NULL, 0);

  if (len < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
    return TRUE;
  if (len > 0)
    {
      names = g_malloc ((gsize) len);
      len = flistxattr (fd, names, (size_t) len);
    }
  if (len < 0)
    return ferry_image_errno_error (error, errno, "Listing xattrs of %s", path);
  for (const char *n = names; n != NULL && n < names + len; n += strlen (n) + 1)
    {
      ssize_t vlen = fgetxattr (fd, n, NULL, 0);
      g_autofree char *value = NULL;

      if (vlen < 0)
        continue; /* gone meanwhile */
      value = g_malloc ((gsize) vlen + 1);
      vlen = fgetxattr (fd, n, value, (size_t) vlen);
      if (vlen >= 0)
        archive_entry_xattr_add_entry (e, n, value, (size_t) vlen);
    }
  return TRUE;
}

/* Exactly SIZE bytes, the size its header announced: a file of a running
 * container that grew meanwhile is cut there, one that shrank is padded
 * with zeros (as GNU tar does). */
static gboolean
copy_data (Writer *w, int fd, la_int64_t size, const char *path, GError **error)
{
  g_autofree char *buf = g_malloc (128 * 1024);

  while (size > 0)
    {
      size_t want = (size_t) MIN (size, (la_int64_t) (128 * 1024));
      ssize_t n = read (fd, buf, want);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return ferry_image_errno_error (error, errno, "Reading %s", path);
      if (n == 0)
        {
          memset (buf, 0, want);
          n = (ssize_t) want;
        }
      if (archive_write_data (w->a, buf, (size_t) n) != n)
        return archive_failed (w, path, error);
      size -= n;
    }
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Deeper trees are refused: root in a container could nest directories
 * until the walk's stack runs out. */
#define MAX_DEPTH 1024

static gboolean add_tree (Writer *w, int parentfd, const char *name, const char *path, guint depth, GError **error);

static gboolean
add_children (Writer *w, int dirfd, const char *path, guint depth, GError **error)
{
  int fd = dup (dirfd);
  DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *de;

  if (dir == NULL)
    {
      if (fd >= 0)
        close (fd);
      return ferry_image_errno_error (error, errno, "Reading directory %s", path);
    }
  while ((de = readdir (dir)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (de->d_name));
  closedir (dir);
  /* A stable order: the same tree gives the same tarball. */
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *child = g_ptr_array_index (names, i);
      g_autofree char *child_path = g_strdup_printf ("%s/%s", path, child);

      if (!add_tree (w, dirfd, child, child_path, depth + 1, error))
        return FALSE;
    }
  return TRUE;
}

/* NAME in parentfd opened for reading if it is still the inode ST
 * describes; -ENOENT when it is gone or another, -1 with an error. */
static int
open_checked (int parentfd, const char *name, const struct stat *st, const char *path, GError **error)
{
  ferry_autofd int pfd = openat (parentfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  g_autofree char *proc = NULL;
  struct stat now;
  int fd;

  if (pfd < 0)
    return errno == ENOENT ? -ENOENT : (ferry_image_errno_error (error, errno, "Opening %s", path), -1);
  if (fstat (pfd, &now) < 0)
    return ferry_image_errno_error (error, errno, "Inspecting %s", path), -1;
  if (now.st_ino != st->st_ino || now.st_dev != st->st_dev || (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT))
    return -ENOENT;
  proc = g_strdup_printf ("/proc/self/fd/%d", pfd);
  fd = open (proc, (S_ISDIR (now.st_mode) ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ferry_image_errno_error (error, errno, "Opening %s", path), -1;
  return fd;
}

/* NAME in parentfd as PATH in the tarball, with what lies beneath it. */
static gboolean
add_tree (Writer *w, int parentfd, const char *name, const char *path, guint depth, GError **error)
{
  g_autoptr (ArchiveEntry) e = NULL;
  struct archive_entry *sparse = NULL;
  struct archive_entry *out;
  ferry_autofd int fd = -1;
  struct stat st;

  if (g_cancellable_set_error_if_cancelled (w->cancellable, error))
    return FALSE;
  if (depth > MAX_DEPTH)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Directories nested deeper than %d levels at %.200s...",
                   MAX_DEPTH, path);
      return FALSE;
    }
  if (fstatat (parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return TRUE; /* removed while we walked (a running container's files) */
      return ferry_image_errno_error (error, errno, "Inspecting %s", path);
    }
  if (S_ISSOCK (st.st_mode) || S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode) || S_ISFIFO (st.st_mode))
    {
      w->skipped++;
      return TRUE;
    }
  e = archive_entry_new ();
  archive_entry_copy_stat (e, &st);
  archive_entry_set_pathname (e, path);
  if (S_ISLNK (st.st_mode))
    {
      g_autofree char *target = g_malloc (PATH_MAX);
      ssize_t n = readlinkat (parentfd, name, target, PATH_MAX - 1);

      if (n < 0 && (errno == ENOENT || errno == EINVAL))
        return TRUE; /* replaced meanwhile */
      if (n < 0)
        return ferry_image_errno_error (error, errno, "Reading symlink %s", path);
      target[n] = '\0';
      archive_entry_set_symlink (e, target);
      return write_header (w, e, error);
    }
  /* The container runs: what was a file may be a fifo or a device node by
   * now, whose mere opening blocks or acts. It is opened by O_PATH, checked
   * to be the inode stat saw, and only then opened for reading. */
  fd = open_checked (parentfd, name, &st, path, error);
  if (fd == -ENOENT)
    return TRUE; /* replaced meanwhile */
  if (fd < 0)
    return FALSE;
  if (!add_xattrs (fd, e, path, error))
    return FALSE;
  if (S_ISDIR (st.st_mode))
    return write_header (w, e, error) && add_children (w, fd, path, depth, error);

  /* The first of a file's names carries the data, the others link to it. */
  out = g_steal_pointer (&e);
  archive_entry_linkify (w->links, &out, &sparse);
  e = out;
  g_assert (sparse == NULL); /* only the "new cpio" strategy defers entries */
  if (!write_header (w, e, error))
    return FALSE;
  if (archive_entry_size (e) > 0 && !copy_data (w, fd, archive_entry_size (e), path, error))
    return FALSE;
  return TRUE;
}

static gboolean
add_part (Writer *w, const FerryBackupPart *part, GError **error)
{
  static const char *const trees[] = { "rootfs", "state", "templates" };
  ferry_autofd int dirfd = open (part->disk_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_autofree char *top = g_strdup_printf ("backup/%s", part->tar_dir);

  if (dirfd < 0)
    return ferry_image_errno_error (error, errno, "Opening %s", part->disk_dir);
  if (strcmp (part->tar_dir, "container") != 0 && !add_dir_header (w, top, error))
    return FALSE;
  /* The image metadata.yaml and templates/, as LXD's backups carry them
   * beside the rootfs of the instance and of each snapshot. */
  {
    g_autofree char *md_path = g_build_filename (part->disk_dir, "metadata.yaml", NULL);
    g_autofree char *md_tar = g_strdup_printf ("%s/metadata.yaml", top);
    g_autofree char *md = NULL;
    if (g_file_test (md_path, G_FILE_TEST_IS_REGULAR) && !g_file_test (md_path, G_FILE_TEST_IS_SYMLINK)
        && g_file_get_contents (md_path, &md, NULL, NULL) && !add_text (w, md_tar, md, error))
      return FALSE;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (trees); i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s", top, trees[i]);
      gboolean ok;

      if (faccessat (dirfd, trees[i], F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      w->links = archive_entry_linkresolver_new ();
      archive_entry_linkresolver_set_strategy (w->links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
      ok = add_tree (w, dirfd, trees[i], path, 0, error);
      g_clear_pointer (&w->links, archive_entry_linkresolver_free);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

gboolean
ferry_backup_write (int fd, const char *compression, const char *index_yaml, const char *backup_yaml,
                    GPtrArray *parts, GCancellable *cancellable, GError **error)
{
  g_autoptr (ArchiveWriter) a = archive_write_new ();
  Writer w = { .a = a, .cancellable = cancellable };
  gboolean added = FALSE;

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++)
    if (strcmp (compressions[i].name, compression) == 0)
      added = compressions[i].add (a) == ARCHIVE_OK;
  if (!added)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown compression algorithm \"%s\"", compression);
      return FALSE;
    }
  archive_write_set_format_pax_restricted (a);
  if (archive_write_open_fd (a, fd) != ARCHIVE_OK)
    return archive_failed (&w, "opening", error);
  if (!add_dir_header (&w, "backup", error) || !add_text (&w, "backup/index.yaml", index_yaml, error)
      || !add_dir_header (&w, "backup/container", error)
      || !add_text (&w, "backup/container/backup.yaml", backup_yaml, error))
    return FALSE;
  for (guint i = 0; i < parts->len; i++)
    {
      const FerryBackupPart *part = g_ptr_array_index (parts, i);
      if (i == 1 && !add_dir_header (&w, "backup/snapshots", error))
        return FALSE;
      if (!add_part (&w, part, error))
        return FALSE;
    }
  if (archive_write_close (a) != ARCHIVE_OK)
    return archive_failed (&w, "closing", error);
  if (w.skipped > 0)
    g_info ("Backup: left out %u sockets, fifos and device nodes", w.skipped);
  return TRUE;
}
