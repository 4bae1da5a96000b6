#include "common/timeutil.h"

char *
ferry_time_rfc3339 (gint64 unix_usec)
{
  if (unix_usec <= 0)
    return g_strdup ("0001-01-01T00:00:00Z");
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (unix_usec / G_USEC_PER_SEC);
  if (dt == NULL)
    return g_strdup ("0001-01-01T00:00:00Z");
  g_autofree char *base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06" G_GINT64_FORMAT "Z", base, unix_usec % G_USEC_PER_SEC);
}

gint64
ferry_time_now (void)
{
  return g_get_real_time ();
}
