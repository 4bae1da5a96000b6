/* Shared by yaml-scalar.c, yaml-read.c and yaml-write.c; not for other
 * modules. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* An untagged plain scalar that reads as null: nothing, ~ or null. */
gboolean ferry_yaml_plain_is_null (const char *text);

/* An untagged plain scalar that reads back as this same string, so that
 * go-yaml may leave it unquoted. */
gboolean ferry_yaml_plain_is_string (const char *text);

/* A scalar node as the string Go would decode it into ("" for null), or
 * NULL for a collection. */
char *ferry_yaml_scalar_text (JsonNode *node);

/* A float as Go's strconv.FormatFloat (f, 'g', -1, 64) writes it. */
char *ferry_yaml_format_float (double value);
