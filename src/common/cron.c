/* Cron expressions and snapshot schedules (see cron.h). The fields follow
 * robfig/cron v3's ParseStandard, which LXD uses, bit for bit where it
 * matters: a step over a single start ("5/15") runs to the field's end, a
 * field that is `*` or `?` makes day of month and day of week both hold
 * (otherwise either one suffices, as in Vixie cron). */
#include "config.h"

#include "common/cron.h"

#include "common/error.h"

#include <string.h>

struct FerryCron
{
  guint64 minute, hour, dom, month, dow; /* bit N: value N may fire */
  gboolean dom_star, dow_star;
};

struct FerrySchedule
{
  GPtrArray *crons; /* FerryCron */
  gboolean startup;
};

typedef struct
{
  const char *what;
  guint min, max;
  const char *const *names; /* names[i] is the value min + i */
} FieldBounds;

static const char *const month_names[]
  = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const FieldBounds field_bounds[] = {
  { "minute", 0, 59, NULL },      { "hour", 0, 23, NULL },          { "day of month", 1, 31, NULL },
  { "month", 1, 12, month_names }, { "day of week", 0, 6, day_names },
};

static gboolean
parse_value (const char *text, const FieldBounds *b, guint *value, GError **error)
{
  guint64 n;

  for (guint i = 0; b->names != NULL && b->names[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, b->names[i]) == 0)
      {
        *value = b->min + i;
        return TRUE;
      }
  if (*text == '\0' || !g_ascii_string_to_unsigned (text, 10, 0, 1000, &n, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "\"%s\" is not a number%s", text,
                   b->names != NULL ? " or a name" : "");
      return FALSE;
    }
  *value = (guint) n;
  return TRUE;
}

/* One element of a list: `*`, `?`, N, N-M, each with an optional /STEP. */
static gboolean
parse_range (const char *expr, const FieldBounds *b, guint64 *bits, gboolean *star, GError **error)
{
  g_auto (GStrv) range_step = g_strsplit (expr, "/", -1);
  g_auto (GStrv) low_high = NULL;
  guint start, end, step = 1;
  gboolean any = FALSE;

  if (*expr == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "an empty value");
      return FALSE;
    }
  if (g_strv_length (range_step) > 2)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "too many slashes in \"%s\"", expr);
      return FALSE;
    }
  if (strcmp (range_step[0], "*") == 0 || strcmp (range_step[0], "?") == 0)
    {
      start = b->min;
      end = b->max;
      any = TRUE;
    }
  else
    {
      low_high = g_strsplit (range_step[0], "-", -1);
      if (g_strv_length (low_high) > 2)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "too many hyphens in \"%s\"", expr);
          return FALSE;
        }
      if (!parse_value (low_high[0], b, &start, error))
        return FALSE;
      end = start;
      if (low_high[1] != NULL && !parse_value (low_high[1], b, &end, error))
        return FALSE;
    }
  if (range_step[1] != NULL)
    {
      guint64 n;
      if (!g_ascii_string_to_unsigned (range_step[1], 10, 1, 1000, &n, NULL))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "step of \"%s\" is not a positive number", expr);
          return FALSE;
        }
      step = (guint) n;
      /* "N/STEP" means "N-max/STEP". */
      if (!any && low_high[1] == NULL)
        end = b->max;
      if (step > 1)
        any = FALSE;
    }
  if (start < b->min || end > b->max)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "\"%s\" is out of the range %u-%u", expr, b->min,
                   b->max);
      return FALSE;
    }
  if (start > end)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "\"%s\" begins after its end", expr);
      return FALSE;
    }
  for (guint v = start; v <= end; v += step)
    *bits |= G_GUINT64_CONSTANT (1) << v;
  *star = *star || any;
  return TRUE;
}

static gboolean
parse_field (const char *text, const FieldBounds *b, guint64 *bits, gboolean *star, GError **error)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);

  *bits = 0;
  *star = FALSE;
  for (guint i = 0; items[i] != NULL; i++)
    if (!parse_range (items[i], b, bits, star, error))
      {
        g_prefix_error (error, "%s: ", b->what);
        return FALSE;
      }
  return TRUE;
}

FerryCron *
ferry_cron_parse (const char *expr, GError **error)
{
  g_auto (GStrv) fields = g_strsplit (expr, " ", -1);
  g_autoptr (FerryCron) cron = g_new0 (FerryCron, 1);
  guint64 *bits[] = { &cron->minute, &cron->hour, &cron->dom, &cron->month, &cron->dow };
  gboolean star[5];

  /* Split on single spaces as LXD does: "0  * * * *" is refused there too. */
  if (g_strv_length (fields) != 5)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Schedule \"%s\" must be of the form: <minute> <hour> <day-of-month> <month> <day-of-week>",
                   expr);
      return NULL;
    }
  for (guint i = 0; i < 5; i++)
    if (!parse_field (fields[i], &field_bounds[i], bits[i], &star[i], error))
      {
        g_prefix_error (error, "Error parsing schedule \"%s\": ", expr);
        return NULL;
      }
  cron->dom_star = star[2];
  cron->dow_star = star[4];
  return g_steal_pointer (&cron);
}

void
ferry_cron_free (FerryCron *cron)
{
  g_free (cron);
}

static gboolean
has (guint64 bits, int v)
{
  return (bits & (G_GUINT64_CONSTANT (1) << v)) != 0;
}

static gboolean
day_matches (const FerryCron *c, GDateTime *t)
{
  gboolean dom = has (c->dom, g_date_time_get_day_of_month (t));
  gboolean dow = has (c->dow, g_date_time_get_day_of_week (t) % 7); /* GLib's Sunday is 7 */

  if (c->dom_star || c->dow_star)
    return dom && dow;
  return dom || dow;
}

gboolean
ferry_cron_matches (const FerryCron *c, GDateTime *t)
{
  return has (c->month, g_date_time_get_month (t)) && day_matches (c, t) && has (c->hour, g_date_time_get_hour (t))
         && has (c->minute, g_date_time_get_minute (t));
}

static GDateTime *
at (GDateTime *t, int year, int month, int day, int hour, int minute)
{
  GTimeZone *tz = g_date_time_get_timezone (t);
  return g_date_time_new (tz, year, month, day, hour, minute, 0);
}

GDateTime *
ferry_cron_next (const FerryCron *c, GDateTime *after)
{
  g_autoptr (GDateTime) base = at (after, g_date_time_get_year (after), g_date_time_get_month (after),
                                   g_date_time_get_day_of_month (after), g_date_time_get_hour (after),
                                   g_date_time_get_minute (after));
  g_autoptr (GDateTime) t = g_date_time_add_minutes (base, 1);
  int last_year = g_date_time_get_year (t) + 5;

  /* Skip whole months, days and hours that cannot match, then minutes. */
  while (t != NULL && g_date_time_get_year (t) <= last_year)
    {
      int y = g_date_time_get_year (t), mo = g_date_time_get_month (t), d = g_date_time_get_day_of_month (t);
      int h = g_date_time_get_hour (t);
      GDateTime *next;

      if (!has (c->month, mo))
        {
          g_autoptr (GDateTime) first = at (t, y, mo, 1, 0, 0);
          next = g_date_time_add_months (first, 1);
        }
      else if (!day_matches (c, t))
        {
          g_autoptr (GDateTime) midnight = at (t, y, mo, d, 0, 0);
          next = g_date_time_add_days (midnight, 1);
        }
      else if (!has (c->hour, h))
        {
          g_autoptr (GDateTime) hour = at (t, y, mo, d, h, 0);
          next = g_date_time_add_hours (hour, 1);
        }
      else if (!has (c->minute, g_date_time_get_minute (t)))
        next = g_date_time_add_minutes (t, 1);
      else
        return g_steal_pointer (&t);
      g_date_time_unref (t);
      t = next;
    }
  return NULL;
}

/* LXD's aliases; %M and %H are the subject's minute and hour. */
static const struct
{
  const char *alias;
  const char *cron;
} aliases[] = {
  { "@hourly", "%M * * * *" },  { "@daily", "%M %H * * *" },    { "@midnight", "%M 0 * * *" },
  { "@weekly", "%M %H * * 0" }, { "@monthly", "%M %H 1 * *" }, { "@annually", "%M %H 1 1 *" },
  { "@yearly", "%M %H 1 1 *" },
};

/* A stable spread of SUBJECT over 0..N-1: FNV-1a of its decimal form, as
 * LXD seeds its generator (the values differ from LXD's, which come from
 * Go's math/rand, but are as stable). */
static guint
spread (gint64 subject, guint n, guint salt)
{
  g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, subject);
  guint64 hash = G_GUINT64_CONSTANT (14695981039346656037);

  for (const char *p = text; *p; p++)
    hash = (hash ^ (guchar) *p) * G_GUINT64_CONSTANT (1099511628211);
  return (guint) ((hash >> salt) % n);
}

static char *
expand_alias (const char *cron, gint64 subject)
{
  g_autofree char *minute = g_strdup_printf ("%u", spread (subject, 60, 0));
  g_autofree char *hour = g_strdup_printf ("%u", spread (subject, 24, 16));
  g_autoptr (GString) s = g_string_new (cron);

  g_string_replace (s, "%M", minute, 0);
  g_string_replace (s, "%H", hour, 0);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

void
ferry_schedule_free (FerrySchedule *schedule)
{
  if (schedule == NULL)
    return;
  g_ptr_array_unref (schedule->crons);
  g_free (schedule);
}

static gboolean
schedule_add (FerrySchedule *s, const char *trigger, gint64 subject, GError **error)
{
  g_autofree char *expanded = NULL;
  FerryCron *cron;

  if (strcmp (trigger, "@never") == 0)
    return TRUE;
  if (strcmp (trigger, "@startup") == 0)
    {
      s->startup = TRUE;
      return TRUE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (strcmp (trigger, aliases[i].alias) == 0)
      expanded = expand_alias (aliases[i].cron, subject);
  if (expanded == NULL && trigger[0] == '@')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Unknown schedule \"%s\": the aliases are @hourly, @daily, @midnight, @weekly, @monthly, "
                   "@annually, @yearly, @startup and @never",
                   trigger);
      return FALSE;
    }
  cron = ferry_cron_parse (expanded ? expanded : trigger, error);
  if (cron == NULL)
    return FALSE;
  g_ptr_array_add (s->crons, cron);
  return TRUE;
}

FerrySchedule *
ferry_schedule_parse (const char *value, gint64 subject_id, GError **error)
{
  g_autoptr (FerrySchedule) s = g_new0 (FerrySchedule, 1);
  g_autofree char *lower = g_ascii_strdown (value ? value : "", -1);
  g_auto (GStrv) triggers = NULL;

  s->crons = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_cron_free);
  if (*lower == '\0')
    return g_steal_pointer (&s);
  /* ", " separates schedules; a bare "," is a cron list. */
  triggers = g_strsplit (lower, ", ", -1);
  for (guint i = 0; triggers[i] != NULL; i++)
    if (!schedule_add (s, triggers[i], subject_id, error))
      return NULL;
  return g_steal_pointer (&s);
}

gboolean
ferry_schedule_validate (const char *value, GError **error)
{
  g_autoptr (FerrySchedule) s = ferry_schedule_parse (value, 0, error);
  return s != NULL;
}

gboolean
ferry_schedule_due (const FerrySchedule *s, GDateTime *t)
{
  for (guint i = 0; i < s->crons->len; i++)
    if (ferry_cron_matches (g_ptr_array_index (s->crons, i), t))
      return TRUE;
  return FALSE;
}

GDateTime *
ferry_schedule_next (const FerrySchedule *s, GDateTime *after)
{
  GDateTime *best = NULL;

  for (guint i = 0; i < s->crons->len; i++)
    {
      GDateTime *t = ferry_cron_next (g_ptr_array_index (s->crons, i), after);
      if (t != NULL && (best == NULL || g_date_time_compare (t, best) < 0))
        {
          g_clear_pointer (&best, g_date_time_unref);
          best = t;
        }
      else if (t != NULL)
        g_date_time_unref (t);
    }
  return best;
}

gboolean
ferry_schedule_at_startup (const FerrySchedule *s)
{
  return s->startup;
}
