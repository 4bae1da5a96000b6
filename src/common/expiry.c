/* snapshots.expiry (see expiry.h). */
#include "config.h"

#include "common/expiry.h"

#include "common/error.h"

#include <string.h>

static const char units[] = "SMHdwmy";

/* Large enough for any real expiry, small enough that the arithmetic
 * below cannot overflow. */
#define MAX_FIELD 1000000

static gboolean
bad (const char *expr, GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid expiry expression \"%s\": expected fields such as \"1M 2H 3d 4w 5m 6y\" (S seconds, "
               "M minutes, H hours, d days, w weeks, m months, y years), each unit once",
               expr);
  return FALSE;
}

gboolean
ferry_expiry_apply (const char *expr, GDateTime *ref, GDateTime **expires, GError **error)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (expr ? expr : ""));
  g_auto (GStrv) fields = NULL;
  gint64 value[sizeof units - 1] = { 0 };
  gboolean seen[sizeof units - 1] = { FALSE };
  g_autoptr (GDateTime) first = NULL, day = NULL;
  gint64 months;

  *expires = NULL;
  if (*trimmed == '\0')
    return TRUE;
  fields = g_strsplit (trimmed, " ", -1);
  for (guint i = 0; fields[i] != NULL; i++)
    {
      gsize len = strlen (fields[i]);
      const char *unit = len > 1 ? strchr (units, fields[i][len - 1]) : NULL;
      g_autofree char *number = g_strndup (fields[i], len ? len - 1 : 0);
      guint64 n;

      if (unit == NULL || *unit == '\0' || !g_ascii_isdigit (number[0])
          || !g_ascii_string_to_unsigned (number, 10, 0, MAX_FIELD, &n, NULL) || seen[unit - units])
        return bad (expr, error);
      seen[unit - units] = TRUE;
      value[unit - units] = (gint64) n;
    }
  /* Go's AddDate: months carry into years, then days overflow into the
   * following months. */
  months = g_date_time_get_month (ref) - 1 + value[5] + 12 * value[6];
  first = g_date_time_new (g_date_time_get_timezone (ref), g_date_time_get_year (ref) + (int) (months / 12),
                           (int) (months % 12) + 1, 1, g_date_time_get_hour (ref), g_date_time_get_minute (ref),
                           g_date_time_get_seconds (ref));
  if (first == NULL)
    return bad (expr, error);
  day = g_date_time_add_days (first, (int) (g_date_time_get_day_of_month (ref) - 1 + value[3] + 7 * value[4]));
  if (day == NULL)
    return bad (expr, error);
  *expires = g_date_time_add (day, (value[0] + 60 * value[1] + 3600 * value[2]) * G_TIME_SPAN_SECOND);
  if (*expires == NULL)
    return bad (expr, error);
  return TRUE;
}

gboolean
ferry_expiry_validate (const char *expr, GError **error)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) expires = NULL;

  return ferry_expiry_apply (expr, now, &expires, error);
}
