/* snapshots.expiry, as LXD's shared.GetExpiry reads it: fields such as
 * "1M 2H 3d 4w 5m 6y" separated by single spaces, each a number and a unit
 * (S seconds, M minutes, H hours, d days, w weeks, m months, y years), each
 * unit at most once. Pure logic. */
#pragma once

#include <glib.h>

/* The time the expression puts after REF: years, months and days on the
 * calendar (Go's AddDate: 31 January + 1m is 3 March), then hours, minutes
 * and seconds. *EXPIRES is NULL for an empty expression (no expiry).
 * FALSE with an error for a bad one. */
gboolean ferry_expiry_apply (const char *expr, GDateTime *ref, GDateTime **expires, GError **error);
gboolean ferry_expiry_validate (const char *expr, GError **error);
