/* metadata.yaml of LXD unified images: a strict parser for the YAML subset
 * LXD and distrobuilder write. */
#pragma once

#include <glib.h>

/* Largest metadata.yaml accepted; real ones are a few kB. */
#define FERRY_IMAGE_METADATA_MAX (1024 * 1024)

typedef struct
{
  char *architecture;
  gint64 creation_date;   /* unix seconds, 0 when absent */
  gint64 expiry_date;     /* unix seconds, 0 when absent */
  GHashTable *properties; /* string -> string */
} FerryImageMetadata;

void ferry_image_metadata_free (FerryImageMetadata *md);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryImageMetadata, ferry_image_metadata_free)

/* Accepted: top-level scalar keys (architecture, creation_date, expiry_date,
 * unknown ones ignored), a `properties:` map of scalars (block or `{}`), and
 * any nested block under `templates:` or an unknown key, skipped unread.
 * Scalars are plain, 'single' or "double" quoted. Everything else, and a
 * missing architecture, fails with FERRY_ERROR_INVALID naming the line. */
FerryImageMetadata *ferry_image_metadata_parse (const char *data, gsize len, GError **error);
