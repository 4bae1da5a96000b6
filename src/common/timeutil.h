/* Timestamps in the form LXD's Go clients parse (RFC 3339). */
#pragma once

#include <glib.h>

/* "2026-11-25T19:35:01.123456Z" for a UNIX time in microseconds; 0 gives
 * "0001-01-01T00:00:00Z", which LXD clients treat as "unset". */
char *ferry_time_rfc3339 (gint64 unix_usec);

/* Current wall-clock time in microseconds since the epoch. */
gint64 ferry_time_now (void);
