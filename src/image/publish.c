/* An instance's rootfs packed as an LXD unified image (image.h). */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/yaml.h"
#include "image/metadata.h"
#include "image/image.h"
#include "image/store.h"

typedef struct archive Archive;
typedef struct archive_entry ArchiveEntry;
typedef struct archive_entry_linkresolver LinkResolver;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Archive, archive_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveEntry, archive_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LinkResolver, archive_entry_linkresolver_free)

static gboolean
archive_failed (GError **error, Archive *a, const char *what)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", what,
               archive_error_string (a) != NULL ? archive_error_string (a) : "unknown error");
  return FALSE;
}

/* metadata.yaml as LXD writes it for a published instance: the
 * instance's own metadata.yaml (beside its rootfs in INSTANCE_DIR) keeps
 * its templates, the rest is this image's. */
static char *
metadata_yaml (const char *architecture, GHashTable *properties, const char *instance_dir)
{
  g_autofree char *path = instance_dir != NULL ? g_build_filename (instance_dir, "metadata.yaml", NULL) : NULL;
  g_autofree char *text = NULL;
  g_autoptr (JsonNode) own = NULL;
  g_autoptr (JsonNode) md = json_node_init_object (json_node_alloc (), json_object_new ());
  JsonObject *o = json_node_get_object (md);
  JsonNode *templates = NULL;
  gsize len = 0;

  json_object_unref (o);
  if (path != NULL && g_file_get_contents (path, &text, &len, NULL))
    own = ferry_image_metadata_read_json (text, len, NULL);
  if (own != NULL)
    templates = json_object_get_member (json_node_get_object (own), "templates");
  json_object_set_string_member (o, "architecture", architecture);
  json_object_set_int_member (o, "creation_date", (gint64) time (NULL));
  json_object_set_int_member (o, "expiry_date", 0);
  json_object_set_member (o, "properties", ferry_json_from_string_map (properties));
  json_object_set_member (o, "templates", templates != NULL ? json_node_copy (templates)
                                                            : json_node_init_null (json_node_alloc ()));
  return ferry_image_metadata_write_yaml (md);
}

/* templates/ of the instance: its regular files with plain names. */
static gboolean
write_templates (Archive *out, const char *instance_dir, GError **error)
{
  g_autofree char *dir_path = instance_dir != NULL ? g_build_filename (instance_dir, "templates", NULL) : NULL;
  g_autoptr (GDir) dir = dir_path != NULL ? g_dir_open (dir_path, 0, NULL) : NULL;
  g_autoptr (ArchiveEntry) d = NULL;
  const char *name;

  if (dir == NULL)
    return TRUE;
  d = archive_entry_new ();
  archive_entry_set_pathname (d, "templates");
  archive_entry_set_filetype (d, AE_IFDIR);
  archive_entry_set_perm (d, 0755);
  archive_entry_set_mtime (d, time (NULL), 0);
  if (archive_write_header (out, d) != ARCHIVE_OK)
    return archive_failed (error, out, "Writing templates/");
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir_path, name, NULL);
      g_autofree char *entry_name = g_strconcat ("templates/", name, NULL);
      g_autofree char *data = NULL;
      g_autoptr (ArchiveEntry) e = NULL;
      gsize len = 0;

      if (!ferry_image_template_name_valid (name) || !g_file_test (path, G_FILE_TEST_IS_REGULAR)
          || g_file_test (path, G_FILE_TEST_IS_SYMLINK) || !g_file_get_contents (path, &data, &len, error))
        {
          if (error != NULL && *error != NULL)
            return FALSE;
          continue;
        }
      e = archive_entry_new ();
      archive_entry_set_pathname (e, entry_name);
      archive_entry_set_filetype (e, AE_IFREG);
      archive_entry_set_perm (e, 0644);
      archive_entry_set_mtime (e, time (NULL), 0);
      archive_entry_set_size (e, (la_int64_t) len);
      if (archive_write_header (out, e) != ARCHIVE_OK
          || (len > 0 && archive_write_data (out, data, len) != (la_ssize_t) len))
        return archive_failed (error, out, entry_name);
    }
  return TRUE;
}

static gboolean
write_metadata (Archive *out, const char *yaml, GError **error)
{
  g_autoptr (ArchiveEntry) e = archive_entry_new ();
  gsize len = strlen (yaml);

  archive_entry_set_pathname (e, "metadata.yaml");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_mtime (e, time (NULL), 0);
  archive_entry_set_size (e, (la_int64_t) len);
  if (archive_write_header (out, e) != ARCHIVE_OK || archive_write_data (out, yaml, len) != (la_ssize_t) len)
    return archive_failed (error, out, "Writing metadata.yaml");
  return TRUE;
}

static gboolean
write_file_data (Archive *out, ArchiveEntry *e, GError **error)
{
  const char *path = archive_entry_sourcepath (e);
  ferry_autofd int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  char buf[64 * 1024];
  ssize_t n;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  while ((n = read (fd, buf, sizeof buf)) > 0)
    if (archive_write_data (out, buf, (size_t) n) != n)
      return archive_failed (error, out, path);
  if (n < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Writes E (a copy under the name rootfs/...) and its data. */
static gboolean
write_entry (Archive *out, ArchiveEntry *e, GError **error)
{
  if (archive_write_header (out, e) < ARCHIVE_WARN)
    return archive_failed (error, out, archive_entry_pathname (e));
  if (archive_entry_filetype (e) == AE_IFREG && archive_entry_hardlink (e) == NULL && archive_entry_size (e) > 0)
    return write_file_data (out, e, error);
  return TRUE;
}

/* rootfs/ from the tree at ROOTFS: never following a symlink nor crossing
 * into a mount. */
static gboolean
write_rootfs (Archive *out, const char *rootfs, GError **error)
{
  g_autoptr (Archive) disk = archive_read_disk_new ();
  g_autoptr (LinkResolver) links = archive_entry_linkresolver_new ();
  gsize prefix = strlen (rootfs);

  archive_entry_linkresolver_set_strategy (links, archive_format (out));
  archive_read_disk_set_symlink_physical (disk);
  archive_read_disk_set_behavior (disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_ACL
                                            | ARCHIVE_READDISK_NO_FFLAGS);
  if (archive_read_disk_open (disk, rootfs) != ARCHIVE_OK)
    return archive_failed (error, disk, rootfs);
  for (;;)
    {
      g_autoptr (ArchiveEntry) e = archive_entry_new ();
      ArchiveEntry *sparse = NULL, *linked;
      const char *path;
      int r = archive_read_next_header2 (disk, e);

      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return archive_failed (error, disk, rootfs);
      archive_read_disk_descend (disk);
      if (archive_entry_filetype (e) == AE_IFSOCK)
        continue;
      path = archive_entry_pathname (e);
      if (strncmp (path, rootfs, prefix) != 0 || (path[prefix] != '\0' && path[prefix] != '/'))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Unexpected path %s under %s", path, rootfs);
          return FALSE;
        }
      {
        g_autofree char *name = g_strconcat ("rootfs", path + prefix, NULL);
        archive_entry_set_pathname (e, name);
      }
      /* tar's strategy: the first name of an inode carries its data, later
       * ones become hard links to it; no entry is ever deferred. */
      linked = e;
      archive_entry_linkify (links, &linked, &sparse);
      if (linked != e || sparse != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Packing %s: unexpected hard link handling",
                       archive_entry_pathname (e));
          return FALSE;
        }
      if (!write_entry (out, e, error))
        return FALSE;
    }
  return TRUE;
}

FerryImageInfo *
ferry_image_publish (const char *images_dir, const char *rootfs, const char *instance_dir, const char *architecture,
                     GHashTable *properties, GError **error)
{
  g_autofree char *tmp_path = NULL, *yaml = metadata_yaml (architecture, properties, instance_dir), *fingerprint = NULL;
  g_autoptr (Archive) out = archive_write_new ();
  g_autofree char *filename = NULL;
  ferry_autofd int fd = ferry_image_tmpfile (images_dir, "import", &tmp_path, error);

  if (fd < 0)
    return NULL;
  if (archive_write_set_format_pax_restricted (out) != ARCHIVE_OK || archive_write_add_filter_gzip (out) != ARCHIVE_OK
      || archive_write_open_fd (out, fd) != ARCHIVE_OK)
    {
      archive_failed (error, out, "Starting the image tarball");
      goto fail;
    }
  if (!write_metadata (out, yaml, error) || !write_rootfs (out, rootfs, error)
      || !write_templates (out, instance_dir, error))
    goto fail;
  if (archive_write_close (out) != ARCHIVE_OK)
    {
      archive_failed (error, out, "Finishing the image tarball");
      goto fail;
    }
  if (fsync (fd) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing the image tarball: %s", g_strerror (saved));
      goto fail;
    }
  fingerprint = ferry_image_hash_fd (fd, error);
  if (fingerprint == NULL)
    goto fail;
  filename = g_strdup_printf ("%.12s.tar.gz", fingerprint);
  /* Validated as an import is: what is stored is what a launch unpacks. */
  return ferry_image_store_commit (images_dir, tmp_path, fingerprint, filename, FALSE, error);

fail:
  unlink (tmp_path);
  return NULL;
}

char *
ferry_image_tarball_path (const char *images_dir, const char *fingerprint, const char **extension, GError **error)
{
  static const struct
  {
    const char *magic;
    gsize len;
    const char *ext;
  } kinds[] = {
    { "\x1f\x8b", 2, ".tar.gz" },
    { "\xfd" "7zXZ", 5, ".tar.xz" },
    { "\x28\xb5\x2f\xfd", 4, ".tar.zst" },
    { "BZh", 3, ".tar.bz2" },
  };
  g_autofree char *path = NULL;
  ferry_autofd int fd = -1;
  char head[8] = { 0 };
  ssize_t n;

  if (!ferry_image_fingerprint_validate (fingerprint, error))
    return NULL;
  path = ferry_image_path (images_dir, fingerprint, "");
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Image file %s: %s", fingerprint, g_strerror (errno));
      return NULL;
    }
  n = read (fd, head, sizeof head);
  *extension = ".tar";
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (n >= (ssize_t) kinds[i].len && memcmp (head, kinds[i].magic, kinds[i].len) == 0)
      *extension = kinds[i].ext;
  return g_steal_pointer (&path);
}
