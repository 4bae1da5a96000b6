/* The image store: LXD unified tarballs (metadata.yaml + rootfs/ + templates/)
 * kept in one directory under their sha256 fingerprint, the built-in busybox
 * image, and fast unpacking of an image into a container's rootfs.
 *
 * Layout of images_dir (private to this module):
 *   <fp>                  the unified tarball, byte for byte as imported
 *   <fp>.json             FerryImageInfo cache (rebuilt from <fp> if missing)
 *   <fp>.rootfs/          unpacked rootfs/ tree, filled at first unpack
 *   <fp>.rootfs.tmp-XXXXXX, .import-XXXXXX  work in progress, never read
 *
 * All entry points are safe to call from several threads at once for
 * different images; deleting an image while it is being unpacked is the
 * caller's business to prevent. */
#pragma once

#include <glib.h>

typedef struct
{
  char *fingerprint;      /* sha256 hex of the unified tarball file */
  char *filename;         /* original file name, e.g. "busybox.tar.xz" */
  gint64 size;            /* bytes of the tarball */
  char *architecture;     /* from metadata.yaml, e.g. "x86_64" */
  gint64 created_at;      /* metadata.yaml creation_date, as unix microseconds */
  GHashTable *properties; /* string->string: description, os, release, ... */
  guint skipped_device_nodes; /* set by import only: device nodes under rootfs/dev/ that are never
                                 unpacked (containers get a fresh /dev) */
} FerryImageInfo;

void ferry_image_info_free (FerryImageInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryImageInfo, ferry_image_info_free)

/* Builds the built-in "busybox" image from the host's busybox-static
 * (/bin/busybox, or env FERRY_BUSYBOX) into images_dir if it is not there
 * yet; deterministic (fixed mtimes, owners, order) so the same busybox always
 * gives the same fingerprint. */
FerryImageInfo *ferry_image_build_busybox (const char *images_dir, GError **error);

/* Validates an LXD unified image tarball (gz, xz, zstd, bzip2 or none) at
 * path and stores it in images_dir under its fingerprint, byte for byte;
 * device nodes under rootfs/dev/ are accepted but never unpacked (counted in
 * info->skipped_device_nodes), as LXD's unpack excludes them. Bad tarballs fail
 * with FERRY_ERROR_INVALID naming the offending entry and store nothing; an
 * image already present fails with FERRY_ERROR_CONFLICT. */
FerryImageInfo *ferry_image_import (const char *images_dir, const char *path, GError **error);

/* FERRY_ERROR_INVALID for a malformed fingerprint, NOT_FOUND if absent. */
FerryImageInfo *ferry_image_load (const char *images_dir, const char *fingerprint, GError **error);

/* Fills rootfs (must not exist yet, its parent must; created with mode 0755)
 * with the image's rootfs/ tree: owners, modes, mtimes, symlinks, hard links
 * and xattrs preserved; never follows a symlink while writing. Copies from
 * the unpacked cache <fp>.rootfs/ (filled on first use) with reflinks where
 * the file system has them. On failure rootfs is removed again. */
gboolean ferry_image_unpack (const char *images_dir, const char *fingerprint, const char *rootfs, GError **error);
/* The same into the empty directory rootfs made by a storage driver (a
 * btrfs subvolume); on failure what was copied is removed, rootfs too. */
gboolean ferry_image_unpack_into (const char *images_dir, const char *fingerprint, const char *rootfs,
                                  GError **error);

/* Removes the tarball, its metadata cache and its unpacked cache. */
gboolean ferry_image_delete (const char *images_dir, const char *fingerprint, GError **error);

/* TRUE for 64 lower-case hex digits; else FERRY_ERROR_INVALID. */
gboolean ferry_image_fingerprint_validate (const char *fingerprint, GError **error);

/* Publishes ROOTFS (an instance's or a snapshot's, stopped: owners as seen
 * inside the container, as Ferry keeps them on disk) as an LXD unified
 * tarball (gzip) stored in images_dir under its sha256, as LXD's `lxc
 * publish`: metadata.yaml with ARCHITECTURE, creation_date (now),
 * expiry_date 0, PROPERTIES and the templates of INSTANCE_DIR's
 * metadata.yaml (none when NULL or absent), rootfs/ (owners, modes, times,
 * xattrs, symlinks and hard links; sockets are left out) and templates/
 * (INSTANCE_DIR's template files). The tarball is validated as an import
 * would before it is stored. */
FerryImageInfo *ferry_image_publish (const char *images_dir, const char *rootfs, const char *instance_dir,
                                     const char *architecture, GHashTable *properties, GError **error);

/* The stored unified tarball of an image, for export ("<fp>"), and the
 * extension its compression gives it (".tar.gz", ".tar.xz", ".tar.zst",
 * ".tar.bz2" or ".tar"); NULL with NOT_FOUND when absent. */
char *ferry_image_tarball_path (const char *images_dir, const char *fingerprint, const char **extension,
                                GError **error);

/* ---- an instance's metadata.yaml and templates/ ----
 * LXD keeps the image's metadata.yaml and templates/ beside the instance's
 * rootfs (containers/NAME/metadata.yaml, containers/NAME/templates/), out
 * of reach of the container. */

/* Largest template file accepted, from an image or a client. */
#define FERRY_IMAGE_TEMPLATE_MAX (1024 * 1024)

/* Writes the image's metadata.yaml and templates/ (its regular files with
 * plain names) into INSTANCE_DIR, from a cache beside the tarball
 * (<fp>.meta/) filled on first use. */
gboolean ferry_image_unpack_metadata (const char *images_dir, const char *fingerprint, const char *instance_dir,
                                      GError **error);

/* Copies FROM_DIR's metadata.yaml and templates/ files (if any) into
 * TO_DIR, as a copy of an instance carries them; a template of TO_DIR that
 * FROM_DIR has not is removed (a restore), a file already the same is left
 * as it is. */
gboolean ferry_image_copy_metadata (const char *from_dir, const char *to_dir, GError **error);
