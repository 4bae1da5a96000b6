/* The daemon's side of images: database records, aliases, the built-in
 * busybox image, and /1.0/images. Files are src/image's business. */
#pragma once

#include "daemon/daemon.h"

/* Makes sure the built-in "busybox" image and its alias exist. */
gboolean ferry_images_bootstrap (FerryDaemon *d, GError **error);

/* Alias, full fingerprint or unique fingerprint prefix -> full fingerprint. */
char *ferry_images_resolve (FerryDaemon *d, const char *ref, GError **error);

void ferry_images_mark_used (FerryDaemon *d, const char *fingerprint);
