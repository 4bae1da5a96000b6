/* The daemon's side of images: database records, aliases, the built-in
 * busybox image (images.c); /1.0/images is api/images.c. Files are
 * src/image's business. */
#pragma once

#include "daemon/daemon.h"
#include "image/image.h"

/* Makes sure the built-in "busybox" image and its alias exist. */
gboolean ferry_images_bootstrap (FerryDaemon *d, GError **error);

/* Alias, full fingerprint or unique fingerprint prefix -> full fingerprint. */
char *ferry_images_resolve (FerryDaemon *d, const char *ref, GError **error);

void ferry_images_mark_used (FerryDaemon *d, const char *fingerprint);

/* The image of FINGERPRINT in IMAGES (FerryDbImage rows), or NULL. */
FerryDbImage *ferry_images_find (GPtrArray *images, const char *fingerprint);
/* Image properties as the JSON text the database keeps. */
char *ferry_images_properties_json (GHashTable *properties);
/* Records an imported image file (src/image's FerryImageInfo). */
gboolean ferry_images_record (FerryDaemon *d, FerryImageInfo *info, gboolean public_, GError **error);
