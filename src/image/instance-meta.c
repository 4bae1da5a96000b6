/* An image's metadata.yaml and templates/ given to an instance (image.h). */
#include "image/image.h"
#include "image/store.h"
#include "image/fs-at.h"
#include "image/metadata.h"
#include "image/tarball-internal.h"
#include "common/error.h"
#include "common/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct archive ArchiveReader;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveReader, archive_read_free)

static gboolean
write_entry (struct archive *a, struct archive_entry *e, const char *dest, GError **error)
{
  g_autoptr (GString) data = g_string_new (NULL);
  char buf[64 * 1024];
  la_ssize_t n;

  while ((n = archive_read_data (a, buf, sizeof buf)) > 0)
    {
      g_string_append_len (data, buf, n);
      if (data->len > FERRY_IMAGE_TEMPLATE_MAX)
        return ferry_tar_invalid (error, "Image tarball entry \"%s\" is larger than %d bytes",
                                  archive_entry_pathname (e), FERRY_IMAGE_TEMPLATE_MAX);
    }
  if (n < 0)
    return ferry_tar_invalid (error, "Reading image tarball entry \"%s\": %s", archive_entry_pathname (e),
                              ferry_tar_archive_message (a));
  return ferry_write_file_atomic (dest, data->str, (gssize) data->len, 0644, error);
}

/* Extracts metadata.yaml and templates/NAME of the tarball into DIR. */
static gboolean
extract_metadata (int tar_fd, const char *dir, GError **error)
{
  g_autoptr (ArchiveReader) a = archive_read_new ();
  g_autofree char *templates = g_build_filename (dir, "templates", NULL);
  struct archive_entry *e;
  int r;

  archive_read_support_filter_gzip (a);
  archive_read_support_filter_xz (a);
  archive_read_support_filter_lzma (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_filter_bzip2 (a);
  archive_read_support_filter_lz4 (a);
  archive_read_support_format_tar (a);
  if (mkdir (templates, 0700) < 0 && errno != EEXIST)
    return ferry_image_errno_error (error, errno, "Creating %s", templates);
  if (archive_read_open_fd (a, tar_fd, 128 * 1024) != ARCHIVE_OK)
    return ferry_tar_invalid (error, "Image file is not a (compressed) tarball: %s", ferry_tar_archive_message (a));
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      g_autofree char *path = ferry_tar_normalise_path ("Image tarball", archive_entry_pathname (e), "entry", error);
      g_autofree char *dest = NULL;

      if (path == NULL)
        return FALSE;
      if (archive_entry_filetype (e) != AE_IFREG || archive_entry_hardlink (e) != NULL)
        continue;
      if (strcmp (path, "metadata.yaml") == 0)
        dest = g_build_filename (dir, "metadata.yaml", NULL);
      else if (g_str_has_prefix (path, "templates/") && ferry_image_template_name_valid (path + strlen ("templates/")))
        dest = g_build_filename (templates, path + strlen ("templates/"), NULL);
      else
        continue;
      if (!write_entry (a, e, dest, error))
        return FALSE;
    }
  if (r != ARCHIVE_EOF)
    return ferry_tar_invalid (error, "Image file is not a valid tarball: %s", ferry_tar_archive_message (a));
  return TRUE;
}

/* images_dir/<fp>.meta, filled from the tarball if it is not there. */
static char *
metadata_cache (const char *images_dir, const char *fingerprint, GError **error)
{
  g_autofree char *cache = ferry_image_path (images_dir, fingerprint, ".meta");
  g_autofree char *tarball = ferry_image_path (images_dir, fingerprint, "");
  g_autofree char *tmp = NULL;
  ferry_autofd int tar_fd = -1;

  if (g_file_test (cache, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&cache);
  tar_fd = open (tarball, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (tar_fd < 0)
    {
      int errsv = errno;
      g_set_error (error, FERRY_ERROR, errsv == ENOENT ? FERRY_ERROR_NOT_FOUND : FERRY_ERROR_FAILED,
                   "Opening image %s: %s", fingerprint, g_strerror (errsv));
      return NULL;
    }
  tmp = g_strconcat (cache, ".tmp-XXXXXX", NULL);
  if (g_mkdtemp_full (tmp, 0700) == NULL)
    return ferry_image_errno_error (error, errno, "Creating %s", tmp), NULL;
  if (!extract_metadata (tar_fd, tmp, error))
    {
      g_prefix_error (error, "The metadata of image %.12s: ", fingerprint);
      ferry_rm_rf (tmp, NULL);
      return NULL;
    }
  /* Concurrent fills: the first rename wins, the others discard theirs. */
  if (rename (tmp, cache) < 0)
    {
      int errsv = errno;
      ferry_rm_rf (tmp, NULL);
      if (errsv != EEXIST && errsv != ENOTEMPTY)
        return ferry_image_errno_error (error, errsv, "Renaming %s", tmp), NULL;
    }
  return g_steal_pointer (&cache);
}

/* PATH's bytes (at most FERRY_IMAGE_METADATA_MAX), not following a
 * symlink, and its mode: *DATA NULL when there is no regular file there. */
static gboolean
read_regular (const char *path, GString **data, mode_t *mode, GError **error)
{
  ferry_autofd int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr (GString) bytes = g_string_new (NULL);
  struct stat st;
  char buf[64 * 1024];
  ssize_t n;

  *data = NULL;
  if (fd < 0)
    return errno == ENOENT ? TRUE : ferry_image_errno_error (error, errno, "Opening %s", path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return TRUE;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      g_string_append_len (bytes, buf, n);
      if (bytes->len > FERRY_IMAGE_METADATA_MAX)
        return ferry_image_errno_error (error, EFBIG, "Reading %s", path);
    }
  if (n < 0)
    return ferry_image_errno_error (error, errno, "Reading %s", path);
  *mode = st.st_mode & 07777;
  *data = g_steal_pointer (&bytes);
  return TRUE;
}

/* FROM's bytes into TO, written (durably) unless TO already holds them with
 * mode 0644: a restore from a snapshot of the same image then pays no
 * rewrite (an fsync) per file. */
static gboolean
copy_file (const char *from, const char *to, GError **error)
{
  g_autoptr (GString) data = NULL;
  g_autoptr (GString) now = NULL;
  mode_t mode = 0, now_mode = 0;

  if (!read_regular (from, &data, &mode, error))
    return FALSE;
  if (data == NULL)
    return TRUE;
  if (read_regular (to, &now, &now_mode, NULL) && now != NULL && now_mode == 0644 && g_string_equal (now, data))
    return TRUE;
  return ferry_write_file_atomic (to, data->str, (gssize) data->len, 0644, error);
}

/* The names of templates/ in TO_DIR that FROM_DIR's has not: removed (all
 * of it when FROM_DIR has none). */
static gboolean
remove_other_templates (const char *from_tpl, const char *to_tpl, GError **error)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!g_file_test (from_tpl, G_FILE_TEST_IS_DIR))
    return ferry_rm_rf (to_tpl, error);
  dir = g_dir_open (to_tpl, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *from = g_build_filename (from_tpl, name, NULL);
      g_autofree char *to = g_build_filename (to_tpl, name, NULL);
      if ((!ferry_image_template_name_valid (name) || !g_file_test (from, G_FILE_TEST_IS_REGULAR))
          && !ferry_rm_rf (to, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ferry_image_copy_metadata (const char *from_dir, const char *to_dir, GError **error)
{
  g_autofree char *from_md = g_build_filename (from_dir, "metadata.yaml", NULL);
  g_autofree char *to_md = g_build_filename (to_dir, "metadata.yaml", NULL);
  g_autofree char *from_tpl = g_build_filename (from_dir, "templates", NULL);
  g_autofree char *to_tpl = g_build_filename (to_dir, "templates", NULL);
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!copy_file (from_md, to_md, error) || !remove_other_templates (from_tpl, to_tpl, error))
    return FALSE;
  dir = g_dir_open (from_tpl, 0, NULL);
  if (dir == NULL)
    return TRUE;
  if (mkdir (to_tpl, 0700) < 0 && errno != EEXIST)
    return ferry_image_errno_error (error, errno, "Creating %s", to_tpl);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *from = g_build_filename (from_tpl, name, NULL);
      g_autofree char *to = g_build_filename (to_tpl, name, NULL);
      if (ferry_image_template_name_valid (name) && !copy_file (from, to, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ferry_image_unpack_metadata (const char *images_dir, const char *fingerprint, const char *instance_dir,
                             GError **error)
{
  g_autofree char *cache = NULL;

  if (!ferry_image_fingerprint_validate (fingerprint, error))
    return FALSE;
  cache = metadata_cache (images_dir, fingerprint, error);
  return cache != NULL && ferry_image_copy_metadata (cache, instance_dir, error);
}
