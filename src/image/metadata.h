/* metadata.yaml of LXD unified images, read as LXD reads it. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

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

/* ---- an instance's metadata.yaml, as LXD's API shows it ---- */

/* How a document to normalise was read: YAML read as text (every scalar a
 * string, as Go decodes YAML into typed fields) or a JSON body (typed). */
typedef enum
{
  FERRY_METADATA_FROM_YAML,
  FERRY_METADATA_FROM_JSON,
} FerryMetadataSource;

/* DOC (a map) as LXD's api.ImageMetadata encodes it, members in its order:
 * architecture, creation_date, expiry_date (numbers), properties (string
 * map or null), templates (null or a map of path -> {when: [triggers] or
 * null, create_only, template, properties}, plus uid, gid and mode when
 * given). Unknown members are dropped, as Go's decoders drop them; a
 * member of the wrong type fails with FERRY_ERROR_INVALID naming it, and
 * so does a template file name that is not a plain name (no '/', not "."
 * or ".."): it names a file of the instance's templates/ directory. */
JsonNode *ferry_image_metadata_normalise (JsonNode *doc, FerryMetadataSource source, GError **error);

/* An instance's metadata.yaml (DATA, LEN) normalised; a missing file
 * (DATA NULL) is LXD's empty ImageMetadata. Bad YAML fails with
 * FERRY_ERROR_INVALID. */
JsonNode *ferry_image_metadata_read_json (const char *data, gsize len, GError **error);

/* A normalised metadata object written as LXD writes metadata.yaml (go-yaml:
 * null maps as {}, a null list as []). */
char *ferry_image_metadata_write_yaml (JsonNode *md);

/* TRUE when NAME can be a file of an instance's templates/ directory: not
 * empty, no '/', not "." or "..", at most 255 bytes. */
gboolean ferry_image_template_name_valid (const char *name);
