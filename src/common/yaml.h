/* YAML <-> JSON values through libyaml, read and written the way lxc does
 * (go-yaml v2, whose emitter is a port of libyaml's). Shared by the client
 * (`config show/edit`, config.yml) and the image store (metadata.yaml, read
 * from untrusted tarballs). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* ---- writing ---- */

/* Writes a value as a YAML document (no leading "---"), keeping member
 * order: callers sort maps as Go does. */
char *ferry_yaml_write (JsonNode *node);

/* Writing a Go struct field by field: appends one "key: value" member of a
 * top-level map. A time (Go's time.Time) is written plain, as go-yaml
 * does, where a string that looks like one would be quoted; an empty one
 * is Go's zero time. */
void ferry_yaml_append_member (GString *out, const char *key, JsonNode *value);
void ferry_yaml_append_time (GString *out, const char *key, const char *rfc3339);

/* The style go-yaml asks libyaml for a string, after libyaml's own checks
 * (a plain scalar that cannot be plain is quoted, a literal block that
 * cannot be one is double-quoted): plain, 'single', "double" or a literal
 * block ("|-"). Exposed for tests. */
typedef enum
{
  FERRY_YAML_PLAIN,
  FERRY_YAML_SINGLE,
  FERRY_YAML_DOUBLE,
  FERRY_YAML_LITERAL,
} FerryYamlStyle;
FerryYamlStyle ferry_yaml_string_style (const char *text);

/* ---- reading ---- */

typedef enum
{
  /* Plain scalars become JSON null, booleans, integers or floats when
   * YAML 1.1 resolves them so (as go-yaml decodes into interface{}). */
  FERRY_YAML_READ_TYPED = 0,
  /* Every scalar stays the string it was written as, null only for a null
   * (`~`, `null`, nothing): how Go decodes into string fields. */
  FERRY_YAML_READ_TEXT = 1 << 0,
  /* A key given twice in one map is an error, not the last one winning. */
  FERRY_YAML_READ_UNIQUE_KEYS = 1 << 1,
} FerryYamlReadFlags;

/* Parses the first document of TEXT (len -1: NUL-terminated): block and
 * flow collections, all scalar styles, anchors and aliases, merge keys
 * (<<) and the core tags (!!str 123 is a string). An empty document is an
 * empty object. On bad input, NULL and FERRY_ERROR_INVALID with libyaml's
 * line and column ("yaml: line 3, column 5: ..."). Safe on untrusted input:
 * nesting depth and alias expansion are bounded. */
JsonNode *ferry_yaml_read (const char *text, gssize len, FerryYamlReadFlags flags, GError **error);

/* What an untagged plain scalar resolves to under YAML 1.1 as go-yaml v2
 * resolves it: a null, boolean, integer, float or string node. */
JsonNode *ferry_yaml_resolve_plain (const char *text);

/* Turns every scalar of a map into a string and null into "", as Go does
 * when it decodes YAML into map[string]string; a nested collection is an
 * error. NULL or null gives an empty map. */
JsonNode *ferry_yaml_string_map (JsonNode *node, GError **error);
