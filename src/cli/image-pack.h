/* Turns the root file system tarball mmdebstrap writes into an LXD unified
 * image tarball, streaming: no unpacked tree on disk, nothing mounted that a
 * cleanup could trip over. */
#pragma once

#include <glib.h>

/* Called every few MiB with the uncompressed bytes read so far. */
typedef void (*FerryPackProgress) (guint64 bytes, gpointer user_data);

/* The file name extension of a tarball compressed with compression ("zstd",
 * "xz", "gzip" or "none"), e.g. ".tar.zst"; NULL for an unknown one. */
const char *ferry_image_pack_extension (const char *compression);

/* The compression a file name's extension asks for (".tar.xz" -> "xz"),
 * or NULL. */
const char *ferry_image_pack_compression_for (const char *file);

/* Reads a tar stream from in_fd (entries "./etc/...", as mmdebstrap and
 * GNU tar write them) and writes to out_fd a tarball, compressed with
 * compression (see above), of
 * metadata.yaml (the given text), templates/ (templates: NULL-terminated
 * name, contents pairs) and rootfs/ holding every input entry except those
 * beneath dev/ (containers get a fresh /dev; LXD's images carry none).
 * Owners, modes, times, xattrs, symlinks and hard links are kept. Fails
 * with FERRY_ERROR_INVALID for a damaged input or a name escaping with
 * "..", FERRY_ERROR_FAILED for a write error. */
gboolean ferry_image_pack (int in_fd, int out_fd, const char *compression, const char *metadata,
                           const char *const *templates, FerryPackProgress progress, gpointer user_data,
                           GError **error);
