/* The checks of untrusted tarballs and the writing of their entries beneath
 * a directory, shared by image tarballs (tarball.c, extract.c) and instance
 * backups (backup-read.c), so that both refuse the same tricks. */
#pragma once

#include <glib.h>

#include "image/tarball.h"

/* What a normalised path was seen as, in a walk's table of kinds. */
enum
{
  FERRY_TAR_KIND_DIR = 1,
  FERRY_TAR_KIND_OTHER = 2,   /* a file, symlink or hard link: nothing may live beneath it */
  FERRY_TAR_KIND_SKIPPED = 3, /* an image's device node under rootfs/dev/, never unpacked */
};

struct archive;

/* Sets a FERRY_ERROR_INVALID error of FMT; FALSE. */
gboolean ferry_tar_invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
/* libarchive's message of A's last error, or a truncation's words. */
const char *ferry_tar_archive_message (struct archive *a);

/* "./rootfs//bin/./sh" -> "rootfs/bin/sh"; "." -> "". Refuses absolute
 * paths, ".." anywhere and names the kernel would refuse; errors begin with
 * LABEL ("Image tarball"). */
char *ferry_tar_normalise_path (const char *label, const char *raw, const char *what, GError **error);

/* Records PATH with its kind in KINDS (normalised path -> kind); refuses an
 * entry beneath a non-directory (the "symlink evil -> /tmp, then
 * evil/file" trick) and a directory replacing a file or the reverse. */
gboolean ferry_tar_record_kind (const char *label, GHashTable *kinds, const char *path, int kind, GError **error);

/* Writes checked entries beneath a directory, never following a symlink. */
typedef struct FerryTarExtract FerryTarExtract;

FerryTarExtract *ferry_tar_extract_new (int rootfd);
/* Writes fe's entry at REL (relative to the root, not empty); a hard link
 * to HARDLINK_REL (relative to the root too), already extracted. */
gboolean ferry_tar_extract_entry (FerryTarExtract *x, const char *rel, const char *hardlink_rel,
                                  const FerryTarEntry *fe, GError **error);
/* Sets the directories' mtimes (creating their entries changed them) and
 * frees X. */
gboolean ferry_tar_extract_finish (FerryTarExtract *x, GError **error);
