/* Renderers for list commands, matching lxc's utils.RenderTable: a boxed
 * table (olekukonko/tablewriter as lxc configures it), compact, CSV (Go's
 * encoding/csv), JSON and YAML. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef enum
{
  FERRY_FORMAT_TABLE,
  FERRY_FORMAT_COMPACT,
  FERRY_FORMAT_CSV,
  FERRY_FORMAT_JSON,
  FERRY_FORMAT_YAML,
} FerryFormat;

gboolean ferry_format_parse (const char *text, FerryFormat *format, GError **error);

/* A row is a NULL-terminated strv with one string per header; cells may hold
 * several lines separated by '\n'. */
typedef struct
{
  GPtrArray *headers; /* char* */
  GPtrArray *rows;    /* char** (GStrv) */
} FerryTable;

FerryTable *ferry_table_new (const char *const *headers);
void ferry_table_add_header (FerryTable *table, const char *header);
/* Takes ownership of row. */
void ferry_table_add_row (FerryTable *table, char **row);
void ferry_table_free (FerryTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryTable, ferry_table_free)

/* Sorts rows by their cells, comparing text naturally (c2 < c10). */
void ferry_table_sort (FerryTable *table);

char *ferry_table_render_boxed (FerryTable *table);
char *ferry_table_render_compact (FerryTable *table);
/* Data rows only, no header, as lxc. */
char *ferry_table_render_csv (FerryTable *table);

/* Prints the table in the given format; JSON and YAML print raw instead. */
void ferry_output_print (FerryFormat format, FerryTable *table, JsonNode *raw);

/* Display width of a UTF-8 string: wide (East Asian) characters count two
 * columns, combining marks none. */
gsize ferry_display_width (const char *text);

/* tablewriter's header title: '_' and '.' become spaces, upper case. */
char *ferry_table_title (const char *header);

/* Compares two strings the way lxc's SortColumnsNaturally does. */
int ferry_natural_compare (const char *a, const char *b);

/* Byte sizes as LXD's shared/units: "1.50MiB" (IEC) and "0.90MB" (SI). */
char *ferry_size_iec (gint64 bytes);
char *ferry_size_si (gint64 bytes);

/* An RFC 3339 time from the API as lxc prints it with the given strftime-like
 * GLib format, in local time (or UTC when utc); empty for unset times
 * (at or before 1970, or unparsable). */
char *ferry_format_time (const char *rfc3339, const char *format, gboolean utc);
