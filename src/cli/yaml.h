/* YAML as lxc prints and reads it (go-yaml v2): a writer for JSON values
 * that keeps member order, and a reader for the block subset lxc emits and
 * users write in `config edit`: maps, lists, plain/quoted scalars, literal
 * blocks and empty flow collections. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Writes a value as a YAML document (no leading "---"). */
char *ferry_yaml_write (JsonNode *node);

/* Writing a Go struct field by field: appends one "key: value" member of a
 * top-level map. A time (Go's time.Time) is written plain, as go-yaml
 * does, where a string that looks like one would be quoted; an empty one
 * is Go's zero time. */
void ferry_yaml_append_member (GString *out, const char *key, JsonNode *value);
void ferry_yaml_append_time (GString *out, const char *key, const char *rfc3339);

/* Parses a document. Plain scalars become JSON null, booleans, integers or
 * floats when YAML 1.1 would resolve them so; quoted ones stay strings. An
 * empty document is an empty object. */
JsonNode *ferry_yaml_read (const char *text, GError **error);

/* How a string scalar is written: plain, 'single', "double" or a literal
 * block ("|-"). Exposed for tests. */
typedef enum
{
  FERRY_YAML_PLAIN,
  FERRY_YAML_SINGLE,
  FERRY_YAML_DOUBLE,
  FERRY_YAML_LITERAL,
} FerryYamlStyle;
FerryYamlStyle ferry_yaml_string_style (const char *text);

/* Turns every scalar of a map (and, for devices, of each nested map) into a
 * string, as Go does when it decodes YAML into map[string]string. */
JsonNode *ferry_yaml_string_map (JsonNode *node, GError **error);
