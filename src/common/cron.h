/* Cron schedules as LXD's snapshots.schedule takes them: the five fields
 * of robfig/cron's standard parser (minute, hour, day of month, month, day
 * of week; `*`, `?`, lists, ranges, steps, month and day names), LXD's
 * aliases (@hourly, @daily, @midnight, @weekly, @monthly, @yearly,
 * @annually, @startup, @never) and several schedules separated by ", ".
 * Pure logic: the scheduler asks whether a minute is due. */
#pragma once

#include <glib.h>

typedef struct FerryCron FerryCron;

/* One five-field expression (no aliases); NULL with an error saying
 * which field is wrong. */
FerryCron *ferry_cron_parse (const char *expr, GError **error);
void ferry_cron_free (FerryCron *cron);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryCron, ferry_cron_free)

/* Whether the minute T (its seconds ignored) is one the expression names,
 * in T's time zone. */
gboolean ferry_cron_matches (const FerryCron *cron, GDateTime *t);
/* The first minute strictly after AFTER that matches; NULL if none comes
 * within five years (as "0 0 30 2 *"). */
GDateTime *ferry_cron_next (const FerryCron *cron, GDateTime *after);

typedef struct FerrySchedule FerrySchedule;

/* A snapshots.schedule value. SUBJECT_ID (the instance's id) spreads the
 * aliases' minute and hour over the day as LXD does, so that @hourly
 * instances do not all snapshot at :00; validation passes 0. An empty
 * value is a schedule that is never due. */
FerrySchedule *ferry_schedule_parse (const char *value, gint64 subject_id, GError **error);
void ferry_schedule_free (FerrySchedule *schedule);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerrySchedule, ferry_schedule_free)
gboolean ferry_schedule_validate (const char *value, GError **error);
/* Whether the minute T is due in any of its expressions. */
gboolean ferry_schedule_due (const FerrySchedule *schedule, GDateTime *t);
/* The earliest due minute strictly after AFTER, or NULL. */
GDateTime *ferry_schedule_next (const FerrySchedule *schedule, GDateTime *after);
/* Whether it holds @startup: a snapshot each time the instance starts. */
gboolean ferry_schedule_at_startup (const FerrySchedule *schedule);
