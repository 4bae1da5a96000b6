/* Strict JSON reading. Every JSON text Ferry reads (request bodies, trust
 * tokens, websocket messages, files on disk, a server's answers) goes through
 * ferry_json_parse: only RFC 8259 JSON (no comments, no json-glib extensions)
 * in UTF-8 without NULs, nested at most 64 levels deep, reaches json-glib.
 * Every accessor checks the member's type and says which member was wrong. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Parses one JSON value (len -1: DATA is NUL-terminated); a new node, or
 * NULL with FERRY_ERROR_INVALID saying why. */
JsonNode *ferry_json_parse (const char *data, gssize len, GError **error);

/* Same, for text that must be a JSON object (an empty text gives an empty
 * object when allow_empty). */
JsonObject *ferry_json_parse_object (const char *data, gsize len, gboolean allow_empty, GError **error);

/* Each getter returns TRUE and leaves *out untouched (the default) when the
 * member is absent or null, fails with FERRY_ERROR_INVALID on a wrong type. */
gboolean ferry_json_get_string (JsonObject *obj, const char *member, const char **out, GError **error);
gboolean ferry_json_get_bool (JsonObject *obj, const char *member, gboolean *out, GError **error);
gboolean ferry_json_get_int (JsonObject *obj, const char *member, gint64 *out, GError **error);
gboolean ferry_json_get_object (JsonObject *obj, const char *member, JsonObject **out, GError **error);
gboolean ferry_json_get_array (JsonObject *obj, const char *member, JsonArray **out, GError **error);

/* Types of members Ferry does not read but LXD's API defines: a client
 * must still get a 400 for {"start": "yes"}, as LXD's decoder gives one. */
typedef enum
{
  FERRY_JSON_STRING,
  FERRY_JSON_BOOL,
  FERRY_JSON_STRING_MAP, /* an object whose values are strings */
} FerryJsonType;

typedef struct
{
  const char *member;
  FerryJsonType type;
} FerryJsonField;

/* Checks the members of OBJ listed in FIELDS that are present and not null;
 * the error names the first wrong one as PREFIX + member ("source.live"). */
gboolean ferry_json_check_fields (JsonObject *obj, const char *prefix, const FerryJsonField *fields, gsize n_fields,
                                  GError **error);

/* A JSON object whose values must all be strings (LXD's "config" maps).
 * Returns a new string->string hash table, or NULL with an error. */
GHashTable *ferry_json_string_map (JsonObject *obj, const char *what, GError **error);

/* Serialises a node to a string (compact). */
char *ferry_json_to_string (JsonNode *node, gboolean pretty);

/* OBJECT's member names, sorted by strcmp (a list to g_list_free). */
GList *ferry_json_sorted_members (JsonObject *object);

/* Builds a JSON object from a string->string hash table, keys sorted. */
JsonNode *ferry_json_from_string_map (GHashTable *map);
