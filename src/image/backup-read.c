/* Reading an untrusted instance backup tarball (backup.h) with the checks
 * of image tarballs (tarball-internal.h), writing only its rootfs/ and
 * state/ trees, beneath a staging directory. */
#include "image/backup.h"
#include "image/tarball-internal.h"
#include "image/metadata.h"
#include "common/error.h"
#include "common/names.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define LABEL "Backup tarball"
#define YAML_MAX (16 * 1024 * 1024)

typedef struct archive ArchiveReader;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveReader, archive_read_free)

typedef struct
{
  GHashTable *kinds;
  FerryBackupContents *contents;
  FerryTarExtract *extract;
} Reader;

void
ferry_backup_contents_free (FerryBackupContents *c)
{
  g_free (c->index_yaml);
  g_free (c->backup_yaml);
  g_ptr_array_unref (c->snapshots);
  g_free (c);
}

static gboolean
in_tree (const char *path, const char *top)
{
  gsize n = strlen (top);
  return strncmp (path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static gboolean
read_yaml (struct archive *a, struct archive_entry *e, const char *path, char **out, GError **error)
{
  la_int64_t size = archive_entry_size (e);
  la_ssize_t got;

  if (*out != NULL)
    return ferry_tar_invalid (error, LABEL " has %s twice", path);
  if (archive_entry_filetype (e) != AE_IFREG || archive_entry_hardlink (e) != NULL)
    return ferry_tar_invalid (error, LABEL " entry \"%s\" is not a regular file", path);
  if (size < 0 || size > YAML_MAX)
    return ferry_tar_invalid (error, LABEL " entry \"%s\" is larger than %d bytes", path, YAML_MAX);
  *out = g_malloc ((gsize) size + 1);
  got = archive_read_data (a, *out, (size_t) size);
  if (got != size)
    return ferry_tar_invalid (error, LABEL " entry \"%s\" cannot be read: %s", path, got < 0 ? ferry_tar_archive_message (a) : "truncated");
  (*out)[size] = '\0';
  return TRUE;
}

/* Where PATH (normalised) is written beneath the stage: "container/rootfs/x"
 * for "backup/container/rootfs/x", "snapshots/S/state" for
 * "backup/snapshots/S/state"; NULL for what is not written. *tree_len gets
 * the length of the tree's own prefix ("container/rootfs"): hard links stay
 * inside it. */
static const char *
stage_path (const char *path, gsize *tree_len, char **snapshot, GError **error)
{
  const char *rel = path + strlen ("backup/");
  const char *tree;

  *snapshot = NULL;
  if (g_str_has_prefix (rel, "container/"))
    tree = rel + strlen ("container/");
  else if (g_str_has_prefix (rel, "snapshots/"))
    {
      const char *name = rel + strlen ("snapshots/");
      const char *slash = strchr (name, '/');

      if (slash == NULL)
        return NULL; /* the snapshot's own directory */
      *snapshot = g_strndup (name, (gsize) (slash - name));
      if (!ferry_name_validate_snapshot (*snapshot, error))
        {
          g_prefix_error (error, LABEL " snapshot directory: ");
          return NULL;
        }
      tree = slash + 1;
    }
  else
    return NULL;
  /* The image metadata.yaml and templates/ (LXD keeps them beside the
   * rootfs of the instance and of each snapshot): plain files, never
   * linked to or from. */
  if (strcmp (tree, "metadata.yaml") == 0 || in_tree (tree, "templates"))
    {
      *tree_len = strlen (rel);
      return rel;
    }
  if (!in_tree (tree, "rootfs") && !in_tree (tree, "state"))
    return NULL;
  *tree_len = (gsize) (tree - rel) + (in_tree (tree, "rootfs") ? strlen ("rootfs") : strlen ("state"));
  return rel;
}

static gboolean
check_type (struct archive_entry *e, const char *shown, GError **error)
{
  switch (archive_entry_filetype (e))
    {
    case AE_IFREG:
    case AE_IFDIR:
      return TRUE;
    case AE_IFLNK:
      if (archive_entry_symlink (e) == NULL || *archive_entry_symlink (e) == '\0')
        return ferry_tar_invalid (error, LABEL " symlink \"%s\" has an empty target", shown);
      return TRUE;
    case AE_IFCHR:
    case AE_IFBLK:
      return ferry_tar_invalid (error, LABEL " entry \"%s\" is a device node; backups may not contain any", shown);
    case AE_IFIFO:
      return ferry_tar_invalid (error, LABEL " entry \"%s\" is a fifo; backups may not contain any", shown);
    case AE_IFSOCK:
      return ferry_tar_invalid (error, LABEL " entry \"%s\" is a socket; backups may not contain any", shown);
    default:
      return ferry_tar_invalid (error, LABEL " entry \"%s\" has an unknown file type", shown);
    }
}

static void
note_snapshot (Reader *r, const char *name)
{
  for (guint i = 0; i < r->contents->snapshots->len; i++)
    if (strcmp (g_ptr_array_index (r->contents->snapshots, i), name) == 0)
      return;
  g_ptr_array_add (r->contents->snapshots, g_strdup (name));
}

static gboolean
check_entry (Reader *r, struct archive *a, struct archive_entry *e, GError **error)
{
  g_autofree char *path = ferry_tar_normalise_path (LABEL, archive_entry_pathname (e), "entry", error);
  g_autofree char *target = NULL, *shown = NULL, *snapshot = NULL;
  const char *raw_link = archive_entry_hardlink (e);
  const char *rel, *target_rel = NULL;
  gsize tree_len = 0;

  if (path == NULL)
    return FALSE;
  shown = g_strescape (path, NULL);
  if (*path == '\0')
    return archive_entry_filetype (e) == AE_IFDIR || ferry_tar_invalid (error, LABEL " entry \".\" is not a directory");
  if (strcmp (path, "backup/index.yaml") == 0)
    return read_yaml (a, e, path, &r->contents->index_yaml, error);
  if (strcmp (path, "backup/container/backup.yaml") == 0)
    return read_yaml (a, e, path, &r->contents->backup_yaml, error);
  if (strcmp (path, "backup/container.bin") == 0 || strcmp (path, "backup/virtual-machine.img") == 0)
    return ferry_tar_invalid (error, "Optimized (storage-specific) backups can't be imported: export with a dir pool");
  if (!in_tree (path, "backup"))
    return ferry_tar_invalid (error, LABEL " entry \"%s\" is outside backup/", shown);
  if (!in_tree (path, "backup/container") && !in_tree (path, "backup/snapshots") && strcmp (path, "backup") != 0)
    return ferry_tar_invalid (error, LABEL " entry \"%s\" is outside backup/container/ and backup/snapshots/", shown);
  if (raw_link == NULL && !check_type (e, shown, error))
    return FALSE;
  if ((strcmp (path, "backup") == 0 || strcmp (path, "backup/container") == 0
       || strcmp (path, "backup/snapshots") == 0)
      && (raw_link != NULL || archive_entry_filetype (e) != AE_IFDIR))
    return ferry_tar_invalid (error, LABEL " entry \"%s\" is not a directory", shown);

  rel = strcmp (path, "backup") == 0 ? NULL : stage_path (path, &tree_len, &snapshot, error);
  if (rel == NULL && error != NULL && *error != NULL)
    return FALSE;
  if (raw_link != NULL)
    {
      g_autofree char *shown_target = NULL;

      target = ferry_tar_normalise_path (LABEL, raw_link, "hard link target", error);
      if (target == NULL)
        return FALSE;
      shown_target = g_strescape (target, NULL);
      /* Only to an earlier file of the same rootfs/ or state/ tree. */
      if (rel == NULL || !g_str_has_prefix (target, "backup/")
          || strncmp (target + strlen ("backup/"), rel, tree_len) != 0
          || target[strlen ("backup/") + tree_len] != '/')
        return ferry_tar_invalid (error, LABEL " hard link \"%s\" -> \"%s\" points outside its tree", shown, shown_target);
      if (GPOINTER_TO_INT (g_hash_table_lookup (r->kinds, target)) != FERRY_TAR_KIND_OTHER)
        return ferry_tar_invalid (error, LABEL " hard link \"%s\" -> \"%s\" does not point to an earlier file", shown,
                        shown_target);
      target_rel = target + strlen ("backup/");
    }
  if (!ferry_tar_record_kind (LABEL, r->kinds, path,
                              raw_link == NULL && archive_entry_filetype (e) == AE_IFDIR ? FERRY_TAR_KIND_DIR
                                                                                         : FERRY_TAR_KIND_OTHER,
                              error))
    return FALSE;
  if (rel == NULL)
    return TRUE; /* metadata.yaml, templates/, the directories above the trees: not needed */
  /* The part's own tree: "metadata.yaml", "templates/x", "rootfs/..." */
  const char *tree = snapshot != NULL ? rel + strlen ("snapshots/") + strlen (snapshot) + 1 : rel + strlen ("container/");
  if (strcmp (tree, "metadata.yaml") == 0 || in_tree (tree, "templates"))
    {
      gboolean dir = strcmp (tree, "templates") == 0;
      const char *name = tree + strlen ("templates/");
      if (raw_link != NULL || archive_entry_filetype (e) != (dir ? AE_IFDIR : AE_IFREG)
          || archive_entry_size (e) > FERRY_IMAGE_METADATA_MAX
          || (!dir && strcmp (tree, "metadata.yaml") != 0 && !ferry_image_template_name_valid (name)))
        return ferry_tar_invalid (error, LABEL " entry \"%s\" must be a %s", shown,
                                  dir ? "directory" : "plain file of at most 1 MiB");
    }
  else if (rel[tree_len] == '\0' && (raw_link != NULL || archive_entry_filetype (e) != AE_IFDIR))
    return ferry_tar_invalid (error, LABEL " entry \"%s\" is not a directory", shown);
  if (snapshot != NULL)
    note_snapshot (r, snapshot);
  {
    FerryTarEntry fe = { .path = path, .hardlink = target, .archive = a, .entry = e };
    return ferry_tar_extract_entry (r->extract, rel, target_rel, &fe, error);
  }
}

FerryBackupContents *
ferry_backup_extract (int tar_fd, int stage_fd, GCancellable *cancellable, GError **error)
{
  g_autoptr (ArchiveReader) a = archive_read_new ();
  g_autoptr (GHashTable) kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (FerryBackupContents) contents = g_new0 (FerryBackupContents, 1);
  Reader r = { .kinds = kinds, .contents = contents };
  struct archive_entry *e;
  gboolean ok = TRUE;

  contents->snapshots = g_ptr_array_new_with_free_func (g_free);
  /* Only in-process decompressors: no filter that execs an external program. */
  archive_read_support_filter_gzip (a);
  archive_read_support_filter_xz (a);
  archive_read_support_filter_lzma (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_filter_bzip2 (a);
  archive_read_support_filter_lz4 (a);
  archive_read_support_format_tar (a);
  if (lseek (tar_fd, 0, SEEK_SET) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Seeking in the backup: %s", g_strerror (errno));
      return NULL;
    }
  if (archive_read_open_fd (a, tar_fd, 128 * 1024) != ARCHIVE_OK)
    {
      ferry_tar_invalid (error, "The backup is not a (compressed) tarball: %s", ferry_tar_archive_message (a));
      return NULL;
    }
  r.extract = ferry_tar_extract_new (stage_fd);
  while (ok)
    {
      int res = archive_read_next_header (a, &e);

      if (res == ARCHIVE_EOF)
        break;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        ok = FALSE;
      else if (res != ARCHIVE_OK && res != ARCHIVE_WARN)
        ok = ferry_tar_invalid (error, "The backup is not a valid tarball: %s", ferry_tar_archive_message (a));
      else
        ok = check_entry (&r, a, e, error);
    }
  /* Also sets the directories' times, which the entries changed. */
  if (!ferry_tar_extract_finish (r.extract, ok ? error : NULL) || !ok)
    return NULL;
  if (contents->index_yaml == NULL)
    {
      ferry_tar_invalid (error, LABEL " has no backup/index.yaml");
      return NULL;
    }
  if (contents->backup_yaml == NULL)
    {
      ferry_tar_invalid (error, LABEL " has no backup/container/backup.yaml");
      return NULL;
    }
  if (GPOINTER_TO_INT (g_hash_table_lookup (kinds, "backup/container/rootfs")) != FERRY_TAR_KIND_DIR)
    {
      ferry_tar_invalid (error, LABEL " has no backup/container/rootfs/ directory");
      return NULL;
    }
  return g_steal_pointer (&contents);
}
