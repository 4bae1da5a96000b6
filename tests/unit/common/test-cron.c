/* snapshots.schedule, snapshots.expiry and snapshots.pattern as pure logic:
 * cron expressions against their next fire time, LXD's aliases, refused
 * expressions; expiry arithmetic; pattern rendering and the next name. */
#include "config.h"

#include "common/cron.h"
#include "common/expiry.h"
#include "common/snapshot-pattern.h"

#include "common/error.h"

static GDateTime *
utc (const char *iso)
{
  GDateTime *t = g_date_time_new_from_iso8601 (iso, NULL);
  g_assert_nonnull (t);
  return t;
}

static char *
iso (GDateTime *t)
{
  return t ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("never");
}

static void
test_cron_next (void)
{
  static const struct
  {
    const char *expr, *after, *next;
  } table[] = {
    { "* * * * *", "2026-12-06T18:14:32Z", "2026-12-06T18:15:00Z" },
    { "* * * * *", "2026-12-06T18:14:00Z", "2026-12-06T18:15:00Z" },
    { "*/15 * * * *", "2026-12-06T18:14:00Z", "2026-12-06T18:15:00Z" },
    { "*/15 * * * *", "2026-12-06T18:45:00Z", "2026-12-06T19:00:00Z" },
    { "5/20 * * * *", "2026-12-06T18:26:00Z", "2026-12-06T18:45:00Z" },
    { "10-20/5 * * * *", "2026-12-06T18:16:00Z", "2026-12-06T18:20:00Z" },
    { "10-20/5 * * * *", "2026-12-06T18:20:00Z", "2026-12-06T19:10:00Z" },
    { "0 0 * * *", "2026-12-06T18:14:00Z", "2026-12-07T00:00:00Z" },
    { "30 2 * * *", "2026-12-31T03:00:00Z", "2027-01-01T02:30:00Z" },
    { "0,30 8-9 * * *", "2026-12-06T08:30:00Z", "2026-12-06T09:00:00Z" },
    { "0 12 * * mon", "2026-12-06T18:14:00Z", "2026-12-07T12:00:00Z" },      /* 6 Dec 2026 is a Sunday */
    { "0 12 * * MON-FRI", "2026-12-11T13:00:00Z", "2026-12-14T12:00:00Z" },  /* Friday -> Monday */
    { "0 0 * * 0", "2026-12-06T00:00:00Z", "2026-12-13T00:00:00Z" },
    { "0 0 1 * *", "2026-12-06T18:14:00Z", "2027-01-01T00:00:00Z" },
    { "0 0 1 jan *", "2026-12-06T18:14:00Z", "2027-01-01T00:00:00Z" },
    { "0 0 29 feb *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z" },
    { "0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z" },
    /* both days restricted: either one (Vixie cron, robfig) */
    { "0 0 13 * 5", "2026-12-06T18:14:00Z", "2026-12-11T00:00:00Z" },
    { "0 0 13 * 5", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z" },
    /* one of them `*`: both must hold */
    { "0 0 * * 5", "2026-12-11T00:00:00Z", "2026-12-18T00:00:00Z" },
    { "0 0 ? * 5", "2026-12-11T00:00:00Z", "2026-12-18T00:00:00Z" },
    { "0 0 30 2 *", "2026-12-06T18:14:00Z", NULL },
    { "59 23 31 12 *", "2026-12-31T23:58:59Z", "2026-12-31T23:59:00Z" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryCron) cron = ferry_cron_parse (table[i].expr, &error);
      g_autoptr (GDateTime) after = utc (table[i].after);
      g_autoptr (GDateTime) next = NULL;
      g_autofree char *got = NULL;

      g_assert_no_error (error);
      next = ferry_cron_next (cron, after);
      got = iso (next);
      if (g_strcmp0 (got, table[i].next ? table[i].next : "never") != 0)
        g_error ("%s after %s: got %s, want %s", table[i].expr, table[i].after, got,
                 table[i].next ? table[i].next : "never");
      if (next != NULL)
        g_assert_true (ferry_cron_matches (cron, next));
    }
}

static void
test_cron_bad (void)
{
  static const char *const bad[] = {
    "",          "* * * *",     "* * * * * *",  "*  * * * *", "60 * * * *",  "* 24 * * *", "* * 0 * *",
    "* * 32 * *", "* * * 13 *", "* * * 0 *",    "* * * * 7",  "* * * * 8",   "*/0 * * * *", "5-1 * * * *",
    "1-2-3 * * * *", "*/5/2 * * * *", "a * * * *", "1,,2 * * * *", "-1 * * * *", "* * * foo *", "* * * * sunday",
    "@every 1h", "1.5 * * * *",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryCron) cron = ferry_cron_parse (bad[i], &error);
      if (cron != NULL)
        g_error ("\"%s\" was accepted", bad[i]);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

static void
test_schedule (void)
{
  static const char *const good[] = {
    "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@annually", "@yearly", "@startup", "@never",
    "@HOURLY", "0 6 * * *, 0 18 * * *", "@startup, @daily", "0 1,2 * * *", "", "0 0 * JAN,jul SUN",
  };
  static const char *const bad[] = {
    "@every 1h", "@reboot", "@hourly,@daily", "0 6 * * *,0 18 * * *", "@daily, 61 * * * *", "0 6 * * * ",
  };
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    if (!ferry_schedule_validate (good[i], &error))
      g_error ("\"%s\" refused: %s", good[i], error->message);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_clear_error (&error);
      if (ferry_schedule_validate (bad[i], &error))
        g_error ("\"%s\" was accepted", bad[i]);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

static void
test_schedule_aliases (void)
{
  g_autoptr (GDateTime) after = utc ("2026-12-06T18:14:00Z");

  /* An alias fires once per period, at a minute (and hour) that depends
   * on the instance only: stable, and spread over instances. */
  for (gint64 id = 1; id < 50; id++)
    {
      g_autoptr (FerrySchedule) hourly = ferry_schedule_parse ("@hourly", id, NULL);
      g_autoptr (FerrySchedule) again = ferry_schedule_parse ("@hourly", id, NULL);
      g_autoptr (FerrySchedule) daily = ferry_schedule_parse ("@daily", id, NULL);
      g_autoptr (FerrySchedule) midnight = ferry_schedule_parse ("@midnight", id, NULL);
      g_autoptr (FerrySchedule) weekly = ferry_schedule_parse ("@weekly", id, NULL);
      g_autoptr (GDateTime) h1 = ferry_schedule_next (hourly, after);
      g_autoptr (GDateTime) h1b = ferry_schedule_next (again, after);
      g_autoptr (GDateTime) h2 = ferry_schedule_next (hourly, h1);
      g_autoptr (GDateTime) d1 = ferry_schedule_next (daily, after);
      g_autoptr (GDateTime) d2 = ferry_schedule_next (daily, d1);
      g_autoptr (GDateTime) m1 = ferry_schedule_next (midnight, after);
      g_autoptr (GDateTime) w1 = ferry_schedule_next (weekly, after);

      g_assert_true (g_date_time_equal (h1, h1b));
      g_assert_cmpint (g_date_time_difference (h2, h1), ==, G_TIME_SPAN_HOUR);
      g_assert_cmpint (g_date_time_difference (d2, d1), ==, G_TIME_SPAN_DAY);
      g_assert_cmpint (g_date_time_get_hour (m1), ==, 0);
      g_assert_cmpint (g_date_time_get_day_of_week (w1), ==, 7);
      g_assert_false (ferry_schedule_at_startup (hourly));
    }
  {
    g_autoptr (FerrySchedule) never = ferry_schedule_parse ("@never", 1, NULL);
    g_autoptr (FerrySchedule) startup = ferry_schedule_parse ("@startup, */10 * * * *", 1, NULL);
    g_autoptr (GDateTime) none = ferry_schedule_next (never, after);
    g_autoptr (GDateTime) ten = ferry_schedule_next (startup, after);
    g_autofree char *ten_text = iso (ten);

    g_assert_null (none);
    g_assert_false (ferry_schedule_due (never, after));
    g_assert_true (ferry_schedule_at_startup (startup));
    g_assert_cmpstr (ten_text, ==, "2026-12-06T18:20:00Z");
    g_assert_true (ferry_schedule_due (startup, ten));
  }
  {
    g_autoptr (FerrySchedule) two = ferry_schedule_parse ("0 6 * * *, 30 5 * * *", 1, NULL);
    g_autoptr (GDateTime) first = ferry_schedule_next (two, after);
    g_autoptr (GDateTime) second = ferry_schedule_next (two, first);
    g_autofree char *a = iso (first), *b = iso (second);
    g_assert_cmpstr (a, ==, "2026-12-07T05:30:00Z");
    g_assert_cmpstr (b, ==, "2026-12-07T06:00:00Z");
  }
}

static void
test_expiry (void)
{
  static const struct
  {
    const char *expr, *ref, *want;
  } table[] = {
    { "1M", "2026-12-06T18:14:32Z", "2026-12-06T18:15:32Z" },
    { "2H", "2026-12-06T18:14:32Z", "2026-12-06T20:14:32Z" },
    { "30S", "2026-12-06T18:14:32Z", "2026-12-06T18:15:02Z" },
    { "3d", "2026-12-30T00:00:00Z", "2027-01-02T00:00:00Z" },
    { "1w", "2026-12-06T00:00:00Z", "2026-12-13T00:00:00Z" },
    { "1m", "2026-01-31T00:00:00Z", "2026-03-03T00:00:00Z" }, /* Go's AddDate normalizes */
    { "13m", "2026-12-06T00:00:00Z", "2028-01-06T00:00:00Z" },
    { "1y", "2028-02-29T00:00:00Z", "2029-03-01T00:00:00Z" },
    { "1M 2H 3d 4w 5m 6y", "2026-01-01T00:00:00Z", "2032-07-02T02:01:00Z" },
    { "6y 5m 4w 3d 2H 1M", "2026-01-01T00:00:00Z", "2032-07-02T02:01:00Z" },
    { "  1d  ", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z" },
    { "0d", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z" },
  };
  static const char *const bad[] = {
    "1", "d", "1x", "1D", "1d1H", "1d,2H", "1d  2H", "1d 1d", "-1d", "+1d", "1.5d", "99999999999d", "1000000y", "1 d",
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autoptr (GDateTime) ref = utc (table[i].ref);
      g_autoptr (GDateTime) got = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;

      g_assert_true (ferry_expiry_apply (table[i].expr, ref, &got, &error));
      g_assert_no_error (error);
      text = iso (got);
      if (strcmp (text, table[i].want) != 0)
        g_error ("%s from %s: got %s, want %s", table[i].expr, table[i].ref, text, table[i].want);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      if (ferry_expiry_validate (bad[i], &error))
        g_error ("\"%s\" was accepted", bad[i]);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  {
    g_autoptr (GDateTime) ref = utc ("2026-01-01T00:00:00Z");
    GDateTime *none = (GDateTime *) 1;
    g_assert_true (ferry_expiry_apply ("", ref, &none, NULL));
    g_assert_null (none);
    g_assert_true (ferry_expiry_apply ("   ", ref, &none, NULL));
    g_assert_null (none);
  }
}

static void
test_pattern (void)
{
  g_autoptr (GDateTime) t = utc ("2026-02-03T04:05:06Z");
  static const struct
  {
    const char *pattern, *want;
  } table[] = {
    { "snap%d", "snap%d" },
    { "daily-%d", "daily-%d" },
    { "backup", "backup" },
    { "{{ creation_date|date:'2006-01-02_15-04-05' }}", "2026-02-03_04-05-06" },
    { "snap-{{creation_date|date:\"060102\"}}-%d", "snap-260203-%d" },
    { "{{ creation_date | date : 'Jan-January-Mon-Monday-1-2-3-03-4-5-PM-pm' }}",
      "Feb-February-Tue-Tuesday-2-3-4-04-5-6-AM-am" },
  };
  static const char *const bad[] = {
    "snap%d%d", "{{ creation_date }}", "{{ foo|date:'2006' }}", "{% if x %}a{% endif %}", "{{ creation_date|date:'2006'",
    "{{ creation_date|upper }}", "a/b", "", "{{ creation_date|date:'2006 01' }}", "..", "{{ creation_date|date:'_2' }}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *got = ferry_snapshot_pattern_render (table[i].pattern, t, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (got, ==, table[i].want);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *got = ferry_snapshot_pattern_render (bad[i], t, &error);
      if (got != NULL)
        g_error ("\"%s\" was accepted as \"%s\"", bad[i], got);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

static void
test_pattern_next (void)
{
  static const char *const none[] = { NULL };
  static const char *const some[] = { "snap0", "snap3", "other7", "snapx", "snap", "daily-2-x", NULL };
  static const char *const taken[] = { "backup", "backup-0", "backup-4", NULL };
  const struct
  {
    const char *rendered;
    const char *const *existing;
    const char *want;
  } table[] = {
    { "snap%d", none, "snap0" },         { "snap%d", some, "snap4" },        { "other%d", some, "other8" },
    { "daily-%d-x", some, "daily-3-x" }, { "new%d", some, "new0" },          { "backup", none, "backup" },
    { "backup", taken, "backup-5" },     { "fresh", taken, "fresh" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autofree char *got = ferry_snapshot_pattern_next (table[i].rendered, table[i].existing);
      g_assert_cmpstr (got, ==, table[i].want);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cron/next", test_cron_next);
  g_test_add_func ("/cron/bad", test_cron_bad);
  g_test_add_func ("/schedule/validate", test_schedule);
  g_test_add_func ("/schedule/aliases", test_schedule_aliases);
  g_test_add_func ("/expiry", test_expiry);
  g_test_add_func ("/pattern/render", test_pattern);
  g_test_add_func ("/pattern/next", test_pattern_next);
  return g_test_run ();
}
