#include "image/image.h"
#include "image/metadata.h"
#include "image/rootfs.h"
#include "image/store.h"
#include "image/tarball.h"
#include "image/fs-at.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
ferry_image_info_free (FerryImageInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->fingerprint);
  g_free (info->filename);
  g_free (info->architecture);
  g_clear_pointer (&info->properties, g_hash_table_unref);
  g_free (info);
}

gboolean
ferry_image_fingerprint_validate (const char *fingerprint, GError **error)
{
  gsize n = 0;

  if (fingerprint != NULL)
    for (; fingerprint[n] != '\0' && n <= 64; n++)
      if (!g_ascii_isdigit (fingerprint[n]) && !(fingerprint[n] >= 'a' && fingerprint[n] <= 'f'))
        break;
  if (fingerprint == NULL || n != 64 || fingerprint[n] != '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Invalid image fingerprint: 64 lower-case hexadecimal digits are expected");
      return FALSE;
    }
  return TRUE;
}

char *
ferry_image_path (const char *images_dir, const char *fingerprint, const char *suffix)
{
  g_autofree char *name = g_strconcat (fingerprint, suffix, NULL);
  return g_build_filename (images_dir, name, NULL);
}

int
ferry_image_tmpfile (const char *images_dir, const char *prefix, char **tmp_path, GError **error)
{
  g_autofree char *path = NULL;
  int fd;

  if (!ferry_mkdir_p (images_dir, 0700, error))
    return -1;
  path = g_strdup_printf ("%s/.%s-XXXXXX", images_dir, prefix);
  fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return ferry_image_errno_error (error, errno, "Creating a temporary file in %s", images_dir), -1;
  *tmp_path = g_steal_pointer (&path);
  return fd;
}

char *
ferry_image_hash_fd (int fd, GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc (1024 * 1024);
  off_t off = 0;

  for (;;)
    {
      ssize_t n = pread (fd, buf, 1024 * 1024, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return ferry_image_errno_error (error, errno, "Reading image tarball"), NULL;
      if (n == 0)
        break;
      g_checksum_update (sum, buf, n);
      off += n;
    }
  return g_strdup (g_checksum_get_string (sum));
}

/* The <fp>.json cache spares load() a walk through the whole tarball. */
static char *
info_to_json (const FerryImageInfo *info)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "fingerprint");
  json_builder_add_string_value (b, info->fingerprint);
  json_builder_set_member_name (b, "filename");
  json_builder_add_string_value (b, info->filename);
  json_builder_set_member_name (b, "size");
  json_builder_add_int_value (b, info->size);
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, info->architecture);
  json_builder_set_member_name (b, "created_at");
  json_builder_add_int_value (b, info->created_at);
  json_builder_set_member_name (b, "properties");
  json_builder_add_value (b, ferry_json_from_string_map (info->properties));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ferry_json_to_string (root, TRUE);
}

static FerryImageInfo *
info_from_json (const char *fingerprint, const char *data, gsize len)
{
  g_autoptr (JsonObject) obj = ferry_json_parse_object (data, len, FALSE, NULL);
  g_autoptr (FerryImageInfo) info = g_new0 (FerryImageInfo, 1);
  const char *fp = NULL, *filename = NULL, *arch = NULL;
  JsonObject *props = NULL;

  if (obj == NULL || !ferry_json_get_string (obj, "fingerprint", &fp, NULL)
      || !ferry_json_get_string (obj, "filename", &filename, NULL)
      || !ferry_json_get_string (obj, "architecture", &arch, NULL)
      || !ferry_json_get_int (obj, "size", &info->size, NULL)
      || !ferry_json_get_int (obj, "created_at", &info->created_at, NULL)
      || !ferry_json_get_object (obj, "properties", &props, NULL) || fp == NULL || filename == NULL
      || arch == NULL || props == NULL || strcmp (fp, fingerprint) != 0)
    return NULL;
  info->properties = ferry_json_string_map (props, "properties", NULL);
  if (info->properties == NULL)
    return NULL;
  info->fingerprint = g_strdup (fp);
  info->filename = g_strdup (filename);
  info->architecture = g_strdup (arch);
  return g_steal_pointer (&info);
}

static FerryImageInfo *
info_new (const char *fingerprint, const char *filename, gint64 size, FerryImageMetadata *md)
{
  FerryImageInfo *info = g_new0 (FerryImageInfo, 1);

  info->fingerprint = g_strdup (fingerprint);
  info->filename = g_strdup (filename);
  info->size = size;
  info->architecture = g_strdup (md->architecture);
  info->created_at = md->creation_date * G_USEC_PER_SEC;
  info->properties = g_hash_table_ref (md->properties);
  return info;
}

static gboolean
write_info (const char *images_dir, const FerryImageInfo *info, GError **error)
{
  g_autofree char *path = ferry_image_path (images_dir, info->fingerprint, ".json");
  g_autofree char *json = info_to_json (info);

  return ferry_write_file_atomic (path, json, -1, 0600, error);
}

static gboolean
image_exists (const char *images_dir, const char *fingerprint)
{
  g_autofree char *path = ferry_image_path (images_dir, fingerprint, "");
  struct stat st;

  return lstat (path, &st) == 0;
}

FerryImageInfo *
ferry_image_store_commit (const char *images_dir, const char *tmp_path, const char *fingerprint,
                          const char *filename, gboolean exist_ok, GError **error)
{
  g_autofree char *final = ferry_image_path (images_dir, fingerprint, "");
  g_autoptr (FerryImageMetadata) md = NULL;
  g_autoptr (FerryImageInfo) info = NULL;
  FerryTarSummary summary = { 0 };
  struct stat st;
  int fd = -1;

  if (image_exists (images_dir, fingerprint))
    goto exists;
  fd = open (tmp_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      ferry_image_errno_error (error, errno, "Opening %s", tmp_path);
      goto fail;
    }
  md = ferry_image_tarball_walk (fd, NULL, NULL, &summary, error);
  close (fd);
  if (md == NULL)
    goto fail;
  info = info_new (fingerprint, filename, st.st_size, md);
  info->skipped_device_nodes = summary.skipped_device_nodes;
  if (renameat2 (AT_FDCWD, tmp_path, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
    {
      if (errno == EEXIST)
        goto exists;
      ferry_image_errno_error (error, errno, "Storing image %s", fingerprint);
      goto fail;
    }
  /* Without its .json the image is still complete: load() rebuilds it. */
  if (!write_info (images_dir, info, error))
    return NULL;
  return g_steal_pointer (&info);

exists:
  unlink (tmp_path);
  if (exist_ok)
    return ferry_image_load (images_dir, fingerprint, error);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Image %s already exists", fingerprint);
  return NULL;
fail:
  unlink (tmp_path);
  return NULL;
}

FerryImageInfo *
ferry_image_import (const char *images_dir, const char *path, GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree char *filename = NULL;
  struct stat st;
  int src, dst;
  off_t off = 0;

  src = open (path, O_RDONLY | O_CLOEXEC);
  if (src < 0)
    {
      int errsv = errno;
      g_set_error (error, FERRY_ERROR, errsv == ENOENT ? FERRY_ERROR_NOT_FOUND : FERRY_ERROR_FAILED,
                   "Opening image file %s: %s", path, g_strerror (errsv));
      return NULL;
    }
  if (fstat (src, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (src);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Image file %s is not a regular file", path);
      return NULL;
    }
  dst = ferry_image_tmpfile (images_dir, "import", &tmp_path, error);
  if (dst < 0)
    {
      close (src);
      return NULL;
    }
  /* Hash what is copied, so the fingerprint is that of the stored bytes even
     if the source changes meanwhile. */
  buf = g_malloc (1024 * 1024);
  for (;;)
    {
      ssize_t n = read (src, buf, 1024 * 1024);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 || (n > 0 && !ferry_image_write_all (dst, buf, (gsize) n, off, error)))
        {
          if (n < 0)
            ferry_image_errno_error (error, errno, "Reading image file %s", path);
          close (src);
          close (dst);
          unlink (tmp_path);
          return NULL;
        }
      if (n == 0)
        break;
      g_checksum_update (sum, buf, n);
      off += n;
    }
  close (src);
  close (dst);
  filename = g_path_get_basename (path);
  return ferry_image_store_commit (images_dir, tmp_path, g_checksum_get_string (sum), filename, FALSE, error);
}

FerryImageInfo *
ferry_image_load (const char *images_dir, const char *fingerprint, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *json_path = NULL;
  g_autofree char *json = NULL;
  g_autoptr (FerryImageMetadata) md = NULL;
  g_autofree char *filename = NULL;
  FerryImageInfo *info;
  gsize len = 0;
  struct stat st;
  int fd;

  if (!ferry_image_fingerprint_validate (fingerprint, error))
    return NULL;
  path = ferry_image_path (images_dir, fingerprint, "");
  json_path = ferry_image_path (images_dir, fingerprint, ".json");
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, FERRY_ERROR, errsv == ENOENT ? FERRY_ERROR_NOT_FOUND : FERRY_ERROR_FAILED,
                   "Image %s: %s", fingerprint, errsv == ENOENT ? "not found" : g_strerror (errsv));
      return NULL;
    }
  if (g_file_get_contents (json_path, &json, &len, NULL) && (info = info_from_json (fingerprint, json, len)) != NULL)
    {
      close (fd);
      return info;
    }
  /* The info cache is lost or damaged: read the tarball again. */
  md = fstat (fd, &st) == 0 ? ferry_image_tarball_walk (fd, NULL, NULL, NULL, error) : NULL;
  close (fd);
  if (md == NULL)
    {
      g_prefix_error (error, "Stored image %s is damaged: ", fingerprint);
      return NULL;
    }
  filename = g_strconcat (fingerprint, ".tar", NULL);
  info = info_new (fingerprint, filename, st.st_size, md);
  write_info (images_dir, info, NULL);
  return info;
}

gboolean
ferry_image_delete (const char *images_dir, const char *fingerprint, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *prefix = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!ferry_image_fingerprint_validate (fingerprint, error))
    return FALSE;
  path = ferry_image_path (images_dir, fingerprint, "");
  if (unlink (path) < 0)
    {
      int errsv = errno;
      g_set_error (error, FERRY_ERROR, errsv == ENOENT ? FERRY_ERROR_NOT_FOUND : FERRY_ERROR_FAILED,
                   "Deleting image %s: %s", fingerprint, errsv == ENOENT ? "not found" : g_strerror (errsv));
      return FALSE;
    }
  /* Then its caches, including leftovers of an interrupted cache fill. */
  prefix = g_strconcat (fingerprint, ".", NULL);
  dir = g_dir_open (images_dir, 0, error);
  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *victim = NULL;

      if (!g_str_has_prefix (name, prefix))
        continue;
      victim = g_build_filename (images_dir, name, NULL);
      if (!ferry_rm_rf (victim, error))
        return FALSE;
    }
  return TRUE;
}
