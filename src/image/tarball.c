#include "image/tarball.h"
#include "image/tarball-internal.h"
#include "common/error.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

typedef struct archive ArchiveReader;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveReader, archive_read_free)

enum kind
{
  KIND_DIR = FERRY_TAR_KIND_DIR,
  KIND_OTHER = FERRY_TAR_KIND_OTHER,
  KIND_SKIPPED = FERRY_TAR_KIND_SKIPPED,
};

typedef struct
{
  GHashTable *kinds; /* normalised path -> enum kind */
  char *metadata;
  gsize metadata_len;
  gboolean have_metadata;
  FerryTarSummary *summary; /* never NULL */
} WalkState;

gboolean
ferry_tar_invalid (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID, msg);
  return FALSE;
}

/* libarchive leaves the message unset for some truncations. */
const char *
ferry_tar_archive_message (struct archive *a)
{
  const char *msg = archive_error_string (a);
  return msg != NULL ? msg : "the file is truncated or damaged";
}

/* Entry names are bytes from an untrusted file: escape them for messages. */
static char *
printable (const char *raw)
{
  return g_strescape (raw, NULL);
}

/* "./rootfs//bin/./sh" -> "rootfs/bin/sh"; "." -> "". Refuses absolute
 * paths and ".." anywhere. */
char *
ferry_tar_normalise_path (const char *label, const char *raw, const char *what, GError **error)
{
  g_auto (GStrv) parts = NULL;
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();
  g_autofree char *shown = NULL;

  if (raw == NULL || *raw == '\0')
    {
      ferry_tar_invalid (error, "%s has an %s with an empty or unreadable name", label, what);
      return NULL;
    }
  shown = printable (raw);
  /* Names the kernel refuses would fail only later, at unpack. */
  if (strlen (raw) >= PATH_MAX)
    {
      ferry_tar_invalid (error, "%s %s \"%.64s...\" has a path longer than %d bytes", label, what, shown, PATH_MAX - 1);
      return NULL;
    }
  if (raw[0] == '/')
    {
      ferry_tar_invalid (error, "%s %s \"%s\" is an absolute path", label, what, shown);
      return NULL;
    }
  parts = g_strsplit (raw, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (strlen (parts[i]) > NAME_MAX)
        {
          ferry_tar_invalid (error, "%s %s \"%.64s...\" has a name longer than %d bytes", label, what, shown, NAME_MAX);
          return NULL;
        }
      if (strcmp (parts[i], "..") == 0)
        {
          ferry_tar_invalid (error, "%s %s \"%s\" contains a \"..\" component", label, what, shown);
          return NULL;
        }
      if (*parts[i] != '\0' && strcmp (parts[i], ".") != 0)
        g_ptr_array_add (kept, parts[i]);
    }
  g_ptr_array_add (kept, NULL);
  return g_strjoinv ("/", (char **) kept->pdata);
}

static char *
normalise_path (const char *raw, const char *what, GError **error)
{
  return ferry_tar_normalise_path ("Image tarball", raw, what, error);
}

static gboolean
in_tree (const char *path, const char *top)
{
  gsize n = strlen (top);
  return strncmp (path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Records path with its kind; refuses entries beneath a non-directory (the
 * "symlink evil -> /tmp, then evil/file" trick) and a directory replacing a
 * file or the reverse. */
gboolean
ferry_tar_record_kind (const char *label, GHashTable *kinds, const char *path, int kind, GError **error)
{
  g_autofree char *shown = printable (path);
  enum kind old;

  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/'))
    {
      g_autofree char *ancestor = g_strndup (path, (gsize) (slash - path));
      old = GPOINTER_TO_INT (g_hash_table_lookup (kinds, ancestor));
      if (old == KIND_OTHER || old == KIND_SKIPPED)
        {
          g_autofree char *shown_anc = printable (ancestor);
          return ferry_tar_invalid (error, "%s entry \"%s\" lies beneath \"%s\", which is not a directory",
                          label, shown, shown_anc);
        }
      if (old == 0)
        g_hash_table_insert (kinds, g_steal_pointer (&ancestor), GINT_TO_POINTER (KIND_DIR));
    }
  old = GPOINTER_TO_INT (g_hash_table_lookup (kinds, path));
  if (old != 0 && (old == KIND_DIR) != (kind == KIND_DIR))
    return ferry_tar_invalid (error, "%s entry \"%s\" appears twice, once as a directory and once not", label,
                   shown);
  /* A later non-directory replaces an earlier one, as tar does. */
  g_hash_table_insert (kinds, g_strdup (path), GINT_TO_POINTER (kind));
  return TRUE;
}

static gboolean
record_kind (WalkState *st, const char *path, enum kind kind, GError **error)
{
  return ferry_tar_record_kind ("Image tarball", st->kinds, path, kind, error);
}

static gboolean
read_metadata (WalkState *st, struct archive *a, struct archive_entry *e, GError **error)
{
  la_int64_t size = archive_entry_size (e);
  la_ssize_t got;

  if (st->have_metadata)
    return ferry_tar_invalid (error, "Image tarball has metadata.yaml twice");
  if (archive_entry_filetype (e) != AE_IFREG || archive_entry_hardlink (e) != NULL)
    return ferry_tar_invalid (error, "Image tarball entry \"metadata.yaml\" is not a regular file");
  if (size < 0 || size > FERRY_IMAGE_METADATA_MAX)
    return ferry_tar_invalid (error, "Image tarball entry \"metadata.yaml\" is larger than %d bytes",
                    FERRY_IMAGE_METADATA_MAX);
  st->metadata = g_malloc ((gsize) size + 1);
  got = archive_read_data (a, st->metadata, (size_t) size);
  if (got != size)
    return ferry_tar_invalid (error, "Image tarball entry \"metadata.yaml\" cannot be read: %s",
                    got < 0 ? ferry_tar_archive_message (a) : "truncated");
  st->metadata[size] = '\0';
  st->metadata_len = (gsize) size;
  st->have_metadata = TRUE;
  return TRUE;
}

/* Debootstrap, mmdebstrap and old LXC templates leave device nodes in the
 * rootfs's /dev; containers get a fresh tmpfs /dev, so LXD's unpack excludes
 * everything under rootfs/dev/ and Ferry skips these nodes (counted, for the
 * import's note).
 * Anywhere else a device node would be reachable in the container: refused. */
static gboolean
skip_device_node (WalkState *st, const char *path, const char *what, GError **error)
{
  if (!in_tree (path, "rootfs/dev") || strcmp (path, "rootfs/dev") == 0)
    {
      g_autofree char *shown = printable (path);
      return ferry_tar_invalid (error, "Image tarball entry \"%s\" is %s; images may not contain any outside rootfs/dev/",
                      shown, what);
    }
  if (!record_kind (st, path, KIND_SKIPPED, error))
    return FALSE;
  st->summary->skipped_device_nodes++;
  return TRUE;
}

static gboolean
check_entry (WalkState *st, struct archive *a, struct archive_entry *e, FerryTarEntryFunc func,
             gpointer user_data, GError **error)
{
  g_autofree char *path = normalise_path (archive_entry_pathname (e), "entry", error);
  g_autofree char *target = NULL;
  g_autofree char *shown = NULL;
  const char *raw_link = archive_entry_hardlink (e);
  unsigned type = archive_entry_filetype (e);
  enum kind kind;

  if (path == NULL)
    return FALSE;
  shown = printable (path);
  if (*path == '\0')
    {
      if (type != AE_IFDIR)
        return ferry_tar_invalid (error, "Image tarball entry \".\" is not a directory");
      return TRUE;
    }
  if (strcmp (path, "metadata.yaml") == 0)
    return read_metadata (st, a, e, error);
  if (!in_tree (path, "rootfs") && !in_tree (path, "templates"))
    return ferry_tar_invalid (error, "Image tarball entry \"%s\" is outside metadata.yaml, rootfs/ and templates/", shown);

  if (raw_link != NULL)
    {
      enum kind target_kind;

      target = normalise_path (raw_link, "hard link target", error);
      if (target == NULL)
        return FALSE;
      if (!in_tree (path, "rootfs") || !in_tree (target, "rootfs") || strcmp (target, "rootfs") == 0)
        {
          g_autofree char *shown_target = printable (target);
          return ferry_tar_invalid (error, "Image tarball hard link \"%s\" -> \"%s\" points outside rootfs/", shown,
                          shown_target);
        }
      target_kind = GPOINTER_TO_INT (g_hash_table_lookup (st->kinds, target));
      if (target_kind == KIND_SKIPPED)
        return skip_device_node (st, path, "a hard link to a device node", error);
      if (target_kind != KIND_OTHER)
        {
          g_autofree char *shown_target = printable (target);
          return ferry_tar_invalid (error, "Image tarball hard link \"%s\" -> \"%s\" does not point to an earlier file",
                          shown, shown_target);
        }
      kind = KIND_OTHER;
    }
  else
    {
      switch (type)
        {
        case AE_IFREG:
        case AE_IFLNK:
          kind = KIND_OTHER;
          break;
        case AE_IFDIR:
          kind = KIND_DIR;
          break;
        case AE_IFCHR:
        case AE_IFBLK:
          return skip_device_node (st, path, "a device node", error);
        case AE_IFIFO:
          return ferry_tar_invalid (error, "Image tarball entry \"%s\" is a fifo; images may not contain any", shown);
        case AE_IFSOCK:
          return ferry_tar_invalid (error, "Image tarball entry \"%s\" is a socket; images may not contain any", shown);
        default:
          return ferry_tar_invalid (error, "Image tarball entry \"%s\" has an unknown file type", shown);
        }
      if (type == AE_IFLNK)
        {
          const char *link = archive_entry_symlink (e);
          if (link == NULL || *link == '\0')
            return ferry_tar_invalid (error, "Image tarball symlink \"%s\" has an empty target", shown);
        }
    }
  if (strcmp (path, "rootfs") == 0 && kind != KIND_DIR)
    return ferry_tar_invalid (error, "Image tarball entry \"rootfs\" is not a directory");
  if (strcmp (path, "templates") == 0 && kind != KIND_DIR)
    return ferry_tar_invalid (error, "Image tarball entry \"templates\" is not a directory");
  if (!record_kind (st, path, kind, error))
    return FALSE;

  if (func != NULL && in_tree (path, "rootfs"))
    {
      FerryTarEntry fe = { .path = path, .hardlink = target, .archive = a, .entry = e };
      return func (&fe, user_data, error);
    }
  return TRUE;
}

FerryImageMetadata *
ferry_image_tarball_walk (int fd, FerryTarEntryFunc func, gpointer user_data, FerryTarSummary *summary,
                          GError **error)
{
  g_autoptr (ArchiveReader) a = archive_read_new ();
  g_autoptr (GHashTable) kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  FerryTarSummary ignored = { 0 };
  WalkState st = { .kinds = kinds, .summary = summary != NULL ? summary : &ignored };
  g_autofree char *metadata = NULL;
  struct archive_entry *e;
  int r;

  /* Only in-process decompressors: no filter that execs an external program. */
  archive_read_support_filter_gzip (a);
  archive_read_support_filter_xz (a);
  archive_read_support_filter_lzma (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_filter_bzip2 (a);
  archive_read_support_filter_lz4 (a);
  archive_read_support_format_tar (a);
  if (lseek (fd, 0, SEEK_SET) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Seeking in image tarball: %s", g_strerror (errno));
      return NULL;
    }
  if (archive_read_open_fd (a, fd, 128 * 1024) != ARCHIVE_OK)
    {
      ferry_tar_invalid (error, "Image file is not a (compressed) tarball: %s", ferry_tar_archive_message (a));
      return NULL;
    }
  for (;;)
    {
      gboolean ok;

      r = archive_read_next_header (a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        {
          ferry_tar_invalid (error, "Image file is not a valid tarball: %s", ferry_tar_archive_message (a));
          g_free (st.metadata);
          return NULL;
        }
      ok = check_entry (&st, a, e, func, user_data, error);
      if (!ok)
        {
          g_free (st.metadata);
          return NULL;
        }
    }
  metadata = g_steal_pointer (&st.metadata);
  if (!st.have_metadata)
    {
      ferry_tar_invalid (error, "Image tarball has no metadata.yaml at its top level");
      return NULL;
    }
  if (GPOINTER_TO_INT (g_hash_table_lookup (kinds, "rootfs")) != KIND_DIR)
    {
      ferry_tar_invalid (error, "Image tarball has no rootfs/ directory");
      return NULL;
    }
  return ferry_image_metadata_parse (metadata, st.metadata_len, error);
}
