/* Timestamps in the form LXD's Go clients parse (RFC 3339). */
#pragma once

#include <glib.h>

/* "2026-11-25T19:35:01.12345Z" for a UNIX time in microseconds, the fraction
 * trimmed as Go's RFC3339Nano does; 0 gives "0001-01-01T00:00:00Z", Go's zero
 * time, which LXD prints for a time never set (snapshot expires_at). */
char *ferry_time_rfc3339 (gint64 unix_usec);

/* The same, but 0 is the UNIX epoch "1970-01-01T00:00:00Z": LXD stores
 * time.Unix(0, 0) for some unset times (a never-started instance's
 * last_used_at, an imported image's expires_at without expiry_date). */
char *ferry_time_rfc3339_epoch (gint64 unix_usec);

/* Current wall-clock time in microseconds since the epoch. */
gint64 ferry_time_now (void);
