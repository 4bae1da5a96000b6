/* `ferry info`'s "Last checkpoint" and "Last restore" sections: ferryd's
 * last_dump / last_restore records (a Ferry extension of the instance
 * object) with CRIU's statistics. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Appends "\n<title>:\n  Action: ...\n  <stats line>\n" for a record
 * {"action","snapshot","at","stats":{...}}. Times show in local time, or
 * UTC when utc (for tests). Nothing when record is NULL. */
void ferry_checkpoint_append_record (GString *out, const char *title, JsonObject *record, gboolean utc);

/* CRIU's statistics on one line: known keys first, in CRIU's order, times
 * (microseconds) as milliseconds, page counts with their size; then any
 * other key as "key: value". The first item is the line's label
 * ("Frozen: 123.4 ms (freezing 1.2 ms), memory dump 80.1 ms, ..."). Empty
 * when there are no statistics. */
char *ferry_checkpoint_format_stats (JsonObject *stats);
