/* Reading LXD unified tarballs with every safety check in one place: both
 * import (validation only) and the cache fill (extraction) walk a tarball
 * through ferry_image_tarball_walk(), so what was validated is what gets
 * written. */
#pragma once

#include <glib.h>
#include <archive.h>
#include <archive_entry.h>

#include "image/metadata.h"

typedef struct
{
  const char *path;        /* normalised: no "./", no "//", e.g. "rootfs/bin/sh" */
  const char *hardlink;    /* normalised target ("rootfs/...") of a hard link, else NULL */
  struct archive *archive; /* read the entry's data from here */
  struct archive_entry *entry;
} FerryTarEntry;

typedef gboolean (*FerryTarEntryFunc) (const FerryTarEntry *entry, gpointer user_data, GError **error);

/* What a walk accepted without unpacking it. */
typedef struct
{
  guint skipped_device_nodes; /* device nodes (and hard links to them) under rootfs/dev/ */
} FerryTarSummary;

/* Reads the whole tarball from fd (from offset 0) and checks it: a tar
 * archive (gz, xz, zstd, bzip2, lz4 or no compression); every entry inside
 * metadata.yaml, rootfs/ or templates/; no absolute path and no ".."; only
 * files, directories, symlinks, and hard links to earlier files of rootfs/;
 * device nodes only beneath rootfs/dev/, where they are skipped (func never
 * sees them; counted in summary when not NULL); no entry beneath a
 * non-directory; a parsable top-level metadata.yaml; a rootfs/ directory.
 * Calls func (when not NULL) for each checked entry under rootfs/, in archive
 * order. Returns the metadata, or NULL with FERRY_ERROR_INVALID (or func's
 * error). */
FerryImageMetadata *ferry_image_tarball_walk (int fd, FerryTarEntryFunc func, gpointer user_data,
                                              FerryTarSummary *summary, GError **error);
