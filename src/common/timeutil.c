#include "common/timeutil.h"

/* Go's RFC3339Nano layout ("...05.999999999Z07:00") drops trailing zeros of
 * the fraction, and the dot with them when the fraction is zero; clients
 * that compare timestamps as text expect exactly that. */
static char *
format_utc (gint64 unix_usec)
{
  gint64 secs = unix_usec / G_USEC_PER_SEC;
  gint64 frac = unix_usec % G_USEC_PER_SEC;
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (secs);

  if (dt == NULL)
    return NULL;
  g_autofree char *base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  if (frac == 0)
    return g_strdup_printf ("%sZ", base);
  char digits[8];
  g_snprintf (digits, sizeof digits, "%06" G_GINT64_FORMAT, frac);
  for (int i = 5; i > 0 && digits[i] == '0'; i--)
    digits[i] = '\0';
  return g_strdup_printf ("%s.%sZ", base, digits);
}

char *
ferry_time_rfc3339 (gint64 unix_usec)
{
  char *t = unix_usec > 0 ? format_utc (unix_usec) : NULL;

  return t != NULL ? t : g_strdup ("0001-01-01T00:00:00Z");
}

char *
ferry_time_rfc3339_epoch (gint64 unix_usec)
{
  char *t = format_utc (MAX (unix_usec, 0));

  return t != NULL ? t : g_strdup ("1970-01-01T00:00:00Z");
}

gint64
ferry_time_now (void)
{
  return g_get_real_time ();
}
