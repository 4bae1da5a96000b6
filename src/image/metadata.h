/* metadata.yaml of LXD unified images, read as LXD reads it. */
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

/* Any YAML that is a map (ferry_yaml_read, from untrusted tarballs): its
 * architecture (required, a name like x86_64), creation_date and
 * expiry_date (unix seconds), and a `properties:` map of scalars, read as
 * text; templates and unknown keys are ignored, as LXD does. Bad YAML
 * (the error names its line and column), a key given twice or a member of
 * the wrong shape fails with FERRY_ERROR_INVALID. */
FerryImageMetadata *ferry_image_metadata_parse (const char *data, gsize len, GError **error);
