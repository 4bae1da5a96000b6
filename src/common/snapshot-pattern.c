/* snapshots.pattern (see snapshot-pattern.h). */
#include "config.h"

#include "common/snapshot-pattern.h"

#include "common/error.h"
#include "common/names.h"

#include <stdlib.h>
#include <string.h>

/* Go's reference time, Mon Jan 2 15:04:05 2006, in the layout chunks this
 * renders; longest first, so "January" is not read as "Jan" + "uary". */
typedef enum
{
  CHUNK_YEAR4,
  CHUNK_YEAR2,
  CHUNK_MONTH_LONG,
  CHUNK_MONTH_SHORT,
  CHUNK_MONTH2,
  CHUNK_MONTH,
  CHUNK_WEEKDAY_LONG,
  CHUNK_WEEKDAY_SHORT,
  CHUNK_DAY2,
  CHUNK_DAY_SPACE,
  CHUNK_DAY,
  CHUNK_HOUR24,
  CHUNK_HOUR12_2,
  CHUNK_HOUR12,
  CHUNK_MINUTE2,
  CHUNK_MINUTE,
  CHUNK_SECOND2,
  CHUNK_SECOND,
  CHUNK_PM,
  CHUNK_pm,
} Chunk;

static const struct
{
  const char *text;
  Chunk chunk;
} chunks[] = {
  { "2006", CHUNK_YEAR4 },      { "January", CHUNK_MONTH_LONG }, { "Monday", CHUNK_WEEKDAY_LONG },
  { "Jan", CHUNK_MONTH_SHORT }, { "Mon", CHUNK_WEEKDAY_SHORT },  { "01", CHUNK_MONTH2 },
  { "02", CHUNK_DAY2 },         { "_2", CHUNK_DAY_SPACE },       { "03", CHUNK_HOUR12_2 },
  { "04", CHUNK_MINUTE2 },      { "05", CHUNK_SECOND2 },         { "06", CHUNK_YEAR2 },
  { "15", CHUNK_HOUR24 },       { "PM", CHUNK_PM },              { "pm", CHUNK_pm },
  { "1", CHUNK_MONTH },         { "2", CHUNK_DAY },              { "3", CHUNK_HOUR12 },
  { "4", CHUNK_MINUTE },        { "5", CHUNK_SECOND },
};

/* Go's names are English whatever the locale. */
static const char *const month_names[] = { "January", "February", "March",     "April",   "May",      "June",
                                           "July",    "August",   "September", "October", "November", "December" };
static const char *const day_names[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" };

static void
append_chunk (GString *out, Chunk c, GDateTime *t)
{
  int h12 = g_date_time_get_hour (t) % 12 == 0 ? 12 : g_date_time_get_hour (t) % 12;
  const char *month = month_names[g_date_time_get_month (t) - 1];
  const char *day = day_names[g_date_time_get_day_of_week (t) - 1];

  switch (c)
    {
    case CHUNK_YEAR4:
      g_string_append_printf (out, "%04d", g_date_time_get_year (t));
      break;
    case CHUNK_YEAR2:
      g_string_append_printf (out, "%02d", g_date_time_get_year (t) % 100);
      break;
    case CHUNK_MONTH_LONG:
      g_string_append (out, month);
      break;
    case CHUNK_MONTH_SHORT:
      g_string_append_len (out, month, 3);
      break;
    case CHUNK_MONTH2:
      g_string_append_printf (out, "%02d", g_date_time_get_month (t));
      break;
    case CHUNK_MONTH:
      g_string_append_printf (out, "%d", g_date_time_get_month (t));
      break;
    case CHUNK_WEEKDAY_LONG:
      g_string_append (out, day);
      break;
    case CHUNK_WEEKDAY_SHORT:
      g_string_append_len (out, day, 3);
      break;
    case CHUNK_DAY2:
      g_string_append_printf (out, "%02d", g_date_time_get_day_of_month (t));
      break;
    case CHUNK_DAY_SPACE:
      g_string_append_printf (out, "%2d", g_date_time_get_day_of_month (t));
      break;
    case CHUNK_DAY:
      g_string_append_printf (out, "%d", g_date_time_get_day_of_month (t));
      break;
    case CHUNK_HOUR24:
      g_string_append_printf (out, "%02d", g_date_time_get_hour (t));
      break;
    case CHUNK_HOUR12_2:
      g_string_append_printf (out, "%02d", h12);
      break;
    case CHUNK_HOUR12:
      g_string_append_printf (out, "%d", h12);
      break;
    case CHUNK_MINUTE2:
      g_string_append_printf (out, "%02d", g_date_time_get_minute (t));
      break;
    case CHUNK_MINUTE:
      g_string_append_printf (out, "%d", g_date_time_get_minute (t));
      break;
    case CHUNK_SECOND2:
      g_string_append_printf (out, "%02d", g_date_time_get_second (t));
      break;
    case CHUNK_SECOND:
      g_string_append_printf (out, "%d", g_date_time_get_second (t));
      break;
    case CHUNK_PM:
      g_string_append (out, g_date_time_get_hour (t) < 12 ? "AM" : "PM");
      break;
    case CHUNK_pm:
      g_string_append (out, g_date_time_get_hour (t) < 12 ? "am" : "pm");
      break;
    }
}

/* Go's time.Format for the chunks above; other characters are copied. */
static void
format_go_layout (GString *out, const char *layout, GDateTime *t)
{
  while (*layout != '\0')
    {
      gboolean matched = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (chunks) && !matched; i++)
        if (g_str_has_prefix (layout, chunks[i].text))
          {
            append_chunk (out, chunks[i].chunk, t);
            layout += strlen (chunks[i].text);
            matched = TRUE;
          }
      if (!matched)
        g_string_append_c (out, *layout++);
    }
}

/* TAG is what stands between {{ and }}: creation_date|date:'LAYOUT' (or
 * "LAYOUT"), spaces allowed round its parts. */
static gboolean
render_tag (GString *out, const char *tag, GDateTime *t, GError **error)
{
  g_autofree char *copy = g_strstrip (g_strdup (tag));
  char *p = copy, *bar, *colon, *layout, *end;
  char quote;

  bar = strchr (p, '|');
  if (bar == NULL)
    goto unsupported;
  *bar = '\0';
  if (strcmp (g_strstrip (p), "creation_date") != 0)
    goto unsupported;
  p = g_strchug (bar + 1);
  colon = strchr (p, ':');
  if (colon == NULL)
    goto unsupported;
  *colon = '\0';
  if (strcmp (g_strchomp (p), "date") != 0)
    goto unsupported;
  layout = g_strchug (colon + 1);
  quote = *layout;
  if ((quote != '\'' && quote != '"') || (end = strchr (layout + 1, quote)) == NULL || end[1] != '\0')
    goto unsupported;
  *end = '\0';
  format_go_layout (out, layout + 1, t);
  return TRUE;

unsupported:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Unsupported template \"{{%s}}\" in snapshots.pattern: Ferry renders only "
               "{{ creation_date|date:'2006-01-02_15-04-05' }} (with any Go time layout)",
               tag);
  return FALSE;
}

char *
ferry_snapshot_pattern_render (const char *pattern, GDateTime *created, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  const char *p = pattern, *first_d;
  g_autofree char *probe = NULL;

  while (*p != '\0')
    {
      if (g_str_has_prefix (p, "{%") || g_str_has_prefix (p, "{#"))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Unsupported template in snapshots.pattern \"%s\": Ferry renders only "
                       "{{ creation_date|date:'LAYOUT' }}",
                       pattern);
          return NULL;
        }
      if (g_str_has_prefix (p, "{{"))
        {
          const char *close = strstr (p + 2, "}}");
          g_autofree char *tag = NULL;
          if (close == NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unclosed \"{{\" in snapshots.pattern \"%s\"",
                           pattern);
              return NULL;
            }
          tag = g_strndup (p + 2, close - p - 2);
          if (!render_tag (out, tag, created, error))
            return NULL;
          p = close + 2;
          continue;
        }
      g_string_append_c (out, *p++);
    }
  first_d = strstr (out->str, "%d");
  if (first_d != NULL && strstr (first_d + 2, "%d") != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Snapshot pattern may contain '%%d' only once");
      return NULL;
    }
  /* The names it gives, up to the largest index, must be valid names. */
  probe = first_d != NULL ? g_strdup_printf ("%.*s%d%s", (int) (first_d - out->str), out->str, G_MAXINT, first_d + 2)
                          : g_strdup_printf ("%s-%d", out->str, G_MAXINT);
  if (out->len == 0 || !ferry_name_validate_snapshot (probe, error)
      || (first_d == NULL && !ferry_name_validate_snapshot (out->str, error)))
    {
      g_clear_error (error);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "snapshots.pattern \"%s\" gives \"%s\", which is not a valid snapshot name", pattern, out->str);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The index NAME holds in PREFIX%dSUFFIX, or -1. */
static gint64
index_in (const char *name, const char *prefix, const char *suffix)
{
  gsize plen = strlen (prefix), nlen = strlen (name), slen = strlen (suffix);
  g_autofree char *digits = NULL;
  guint64 n;

  if (nlen <= plen + slen || strncmp (name, prefix, plen) != 0 || strcmp (name + nlen - slen, suffix) != 0)
    return -1;
  digits = g_strndup (name + plen, nlen - plen - slen);
  if (!g_ascii_isdigit (digits[0]) || !g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT - 1, &n, NULL))
    return -1;
  return (gint64) n;
}

static char *
next_index (const char *prefix, const char *suffix, const char *const *existing)
{
  gint64 next = 0;

  for (guint i = 0; existing != NULL && existing[i] != NULL; i++)
    next = MAX (next, index_in (existing[i], prefix, suffix) + 1);
  return g_strdup_printf ("%s%" G_GINT64_FORMAT "%s", prefix, next, suffix);
}

char *
ferry_snapshot_pattern_next (const char *rendered, const char *const *existing)
{
  const char *d = strstr (rendered, "%d");
  g_autofree char *prefix = NULL, *dashed = NULL;

  if (d != NULL)
    {
      prefix = g_strndup (rendered, d - rendered);
      return next_index (prefix, d + 2, existing);
    }
  if (existing == NULL || !g_strv_contains (existing, rendered))
    return g_strdup (rendered);
  dashed = g_strdup_printf ("%s-", rendered);
  return next_index (dashed, "", existing);
}
