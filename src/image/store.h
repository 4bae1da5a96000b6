/* Internals of the image store shared by import and the busybox builder. */
#pragma once

#include "image/image.h"

/* images_dir/<fingerprint><suffix>; the fingerprint must be validated. */
char *ferry_image_path (const char *images_dir, const char *fingerprint, const char *suffix);

/* Creates images_dir (0700) and an empty temporary file in it; returns its
 * fd and path. */
int ferry_image_tmpfile (const char *images_dir, const char *prefix, char **tmp_path, GError **error);

/* Validates the tarball at tmp_path (a file inside images_dir), then moves it
 * to images_dir/<fingerprint> and writes its info. tmp_path is removed in
 * every case. If the image exists already: FERRY_ERROR_CONFLICT, or with
 * exist_ok the stored image's info. */
FerryImageInfo *ferry_image_store_commit (const char *images_dir, const char *tmp_path, const char *fingerprint,
                                          const char *filename, gboolean exist_ok, GError **error);

/* sha256 hex of everything readable from fd, from its start. */
char *ferry_image_hash_fd (int fd, GError **error);
