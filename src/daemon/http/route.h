/* What ferryd reads from a request line before any handler sees it: the
 * path's segments and the query's filter. Pure functions of the client's
 * bytes, so that a fuzz target drives exactly the daemon's code. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Splits PATH, still percent-encoded as the client sent it (ferryd's
 * servers set libsoup's raw-paths), into the segments after "/1.0", each
 * decoded exactly once: "/1.0/instances/c0/snapshots/a%2541b" names the
 * snapshot "a%41b". Empty segments are skipped. Returns a NULL-terminated
 * array of strings, or NULL with FERRY_ERROR_NOT_FOUND for a path outside
 * /1.0 and FERRY_ERROR_INVALID for a segment that is badly encoded or
 * decodes to '/', NUL, "." or "..". */
GPtrArray *ferry_route_split_path (const char *path, GError **error);

/* Whether OBJ matches FILTER ("status eq running and name ne c1"): the
 * subset of LXD's filter syntax the stock client sends for key=value
 * filters on top-level string fields. NULL or "" matches everything. FALSE
 * with ERROR set for a filter outside that subset. */
gboolean ferry_route_filter_matches (JsonObject *obj, const char *filter, GError **error);
