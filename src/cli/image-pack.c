#include "config.h"

#include "image-pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/error.h"

#define PROGRESS_STEP (16 * 1024 * 1024)

typedef struct archive Archive;
typedef struct archive_entry ArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Archive, archive_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveEntry, archive_entry_free)

typedef struct
{
  struct archive *in;
  struct archive *out;
  guint64 bytes;
  guint64 next_report;
  FerryPackProgress progress;
  gpointer user_data;
} Pack;

static gboolean
write_failed (Pack *p, const char *what, GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing the image tarball (%s): %s", what,
               archive_error_string (p->out) != NULL ? archive_error_string (p->out) : "unknown error");
  return FALSE;
}

static gboolean
read_failed (Pack *p, GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Reading the root file system tarball: %s",
               archive_error_string (p->in) != NULL ? archive_error_string (p->in) : "truncated");
  return FALSE;
}

static gboolean
add_file (Pack *p, const char *path, mode_t mode, const char *data, GError **error)
{
  g_autoptr (ArchiveEntry) e = archive_entry_new ();
  gsize len = data != NULL ? strlen (data) : 0;

  archive_entry_set_pathname (e, path);
  archive_entry_set_mode (e, mode);
  archive_entry_set_mtime (e, time (NULL), 0);
  archive_entry_set_size (e, (la_int64_t) len);
  if (archive_write_header (p->out, e) != ARCHIVE_OK)
    return write_failed (p, path, error);
  if (len > 0 && archive_write_data (p->out, data, len) != (la_ssize_t) len)
    return write_failed (p, path, error);
  return TRUE;
}

/* "./etc//passwd" -> "etc/passwd", "./" -> ""; NULL for ".." or an
 * absolute name, which a root file system tarball never has. */
static char *
relative_name (const char *raw)
{
  g_auto (GStrv) parts = NULL;
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();

  if (raw == NULL || raw[0] == '/')
    return NULL;
  parts = g_strsplit (raw, "/", -1);
  for (char **c = parts; *c != NULL; c++)
    {
      if (strcmp (*c, "..") == 0)
        return NULL;
      if (**c != '\0' && strcmp (*c, ".") != 0)
        g_ptr_array_add (kept, *c);
    }
  g_ptr_array_add (kept, NULL);
  return g_strjoinv ("/", (char **) kept->pdata);
}

static gboolean
copy_data (Pack *p, GError **error)
{
  char buf[64 * 1024];
  la_ssize_t n;

  while ((n = archive_read_data (p->in, buf, sizeof buf)) > 0)
    {
      if (archive_write_data (p->out, buf, (size_t) n) != n)
        return write_failed (p, "data", error);
      p->bytes += (guint64) n;
      if (p->progress != NULL && p->bytes >= p->next_report)
        {
          p->progress (p->bytes, p->user_data);
          p->next_report = p->bytes + PROGRESS_STEP;
        }
    }
  return n == 0 ? TRUE : read_failed (p, error);
}

static gboolean
copy_entry (Pack *p, struct archive_entry *in_entry, GError **error)
{
  g_autofree char *rel = relative_name (archive_entry_pathname (in_entry));
  g_autofree char *path = NULL;
  g_autoptr (ArchiveEntry) e = NULL;
  const char *link = archive_entry_hardlink (in_entry);

  if (rel == NULL)
    {
      g_autofree char *shown = g_strescape (archive_entry_pathname (in_entry), NULL);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The root file system tarball has an entry \"%s\"", shown);
      return FALSE;
    }
  if (g_str_has_prefix (rel, "dev/"))
    return TRUE;
  e = archive_entry_clone (in_entry);
  path = *rel != '\0' ? g_strconcat ("rootfs/", rel, NULL) : g_strdup ("rootfs");
  archive_entry_set_pathname (e, path);
  if (link != NULL)
    {
      g_autofree char *target = relative_name (link);
      g_autofree char *target_path = NULL;

      if (target == NULL || *target == '\0')
        {
          g_autofree char *shown = g_strescape (link, NULL);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "The root file system tarball has a hard link to \"%s\"", shown);
          return FALSE;
        }
      target_path = g_strconcat ("rootfs/", target, NULL);
      archive_entry_set_hardlink (e, target_path);
    }
  p->bytes += 512;
  if (archive_write_header (p->out, e) != ARCHIVE_OK)
    return write_failed (p, path, error);
  if (archive_entry_size (in_entry) > 0 && archive_entry_filetype (in_entry) == AE_IFREG && link == NULL)
    return copy_data (p, error);
  return TRUE;
}

/* zstd first: a Debian rootfs of 200 MB takes a second or two of CPU at
 * level 3 against two minutes for xz -6, for a third more bytes; LXD (GNU
 * tar --zstd) and Ferry import all four. */
static const struct
{
  const char *name;
  const char *extension;
  int (*add) (struct archive *);
} compressions[] = {
  { "zstd", ".tar.zst", archive_write_add_filter_zstd },
  { "xz", ".tar.xz", archive_write_add_filter_xz },
  { "gzip", ".tar.gz", archive_write_add_filter_gzip },
  { "none", ".tar", archive_write_add_filter_none },
};

const char *
ferry_image_pack_extension (const char *compression)
{
  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++)
    if (strcmp (compressions[i].name, compression) == 0)
      return compressions[i].extension;
  return NULL;
}

const char *
ferry_image_pack_compression_for (const char *file)
{
  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++)
    if (g_str_has_suffix (file, compressions[i].extension))
      return compressions[i].name;
  return NULL;
}

static gboolean
open_archives (Pack *p, int in_fd, int out_fd, const char *compression, GError **error)
{
  gsize c;

  for (c = 0; c < G_N_ELEMENTS (compressions) && strcmp (compressions[c].name, compression) != 0; c++)
    ;
  if (c == G_N_ELEMENTS (compressions))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown compression \"%s\"", compression);
      return FALSE;
    }
  archive_read_support_format_tar (p->in);
  if (archive_read_open_fd (p->in, in_fd, 64 * 1024) != ARCHIVE_OK)
    return read_failed (p, error);
  /* pax keeps xattrs (file capabilities), long names and large ids. Thread
   * options are best effort: older libarchives lack some. */
  if (archive_write_set_format_pax_restricted (p->out) != ARCHIVE_OK || compressions[c].add (p->out) != ARCHIVE_OK)
    return write_failed (p, "opening", error);
  archive_write_set_filter_option (p->out, NULL, "threads", "0");
  if (archive_write_open_fd (p->out, out_fd) != ARCHIVE_OK)
    return write_failed (p, "opening", error);
  return TRUE;
}

gboolean
ferry_image_pack (int in_fd, int out_fd, const char *compression, const char *metadata, const char *const *templates,
                  FerryPackProgress progress, gpointer user_data, GError **error)
{
  g_autoptr (Archive) in = archive_read_new ();
  g_autoptr (Archive) out = archive_write_new ();
  Pack p = { .in = in, .out = out, .progress = progress, .user_data = user_data };
  struct archive_entry *e;
  int r;

  if (!open_archives (&p, in_fd, out_fd, compression, error))
    return FALSE;
  if (!add_file (&p, "metadata.yaml", AE_IFREG | 0644, metadata, error)
      || !add_file (&p, "templates", AE_IFDIR | 0755, NULL, error))
    return FALSE;
  for (const char *const *t = templates; t != NULL && *t != NULL; t += 2)
    {
      g_autofree char *name = g_strconcat ("templates/", t[0], NULL);
      if (!add_file (&p, name, AE_IFREG | 0644, t[1], error))
        return FALSE;
    }
  while ((r = archive_read_next_header (in, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    if (!copy_entry (&p, e, error))
      return FALSE;
  if (r != ARCHIVE_EOF)
    return read_failed (&p, error);
  if (archive_write_close (out) != ARCHIVE_OK)
    return write_failed (&p, "finishing", error);
  if (progress != NULL)
    progress (p.bytes, user_data);
  return TRUE;
}
