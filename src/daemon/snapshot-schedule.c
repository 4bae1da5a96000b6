/* Scheduled snapshots and their expiry, as LXD's
 * autoCreateInstanceSnapshotsTask and pruneExpiredInstanceSnapshotsTask:
 * once a minute, on the minute, every instance whose snapshots.schedule
 * names that minute (and that runs, unless snapshots.schedule.stopped)
 * gets a snapshot named by snapshots.pattern and expiring by
 * snapshots.expiry, and every snapshot whose expires_at has passed is
 * deleted; both through snapshot.c, the path of `lxc snapshot` and `lxc
 * delete c1/snap`. Everything it decides from is in the database, so a
 * restarted ferryd goes on as before. */
#include "daemon/snapshot-schedule.h"
#include "daemon/snapshot.h"
#include "daemon/instance.h"
#include "common/cron.h"
#include "common/error.h"

#include <stdlib.h>
#include <string.h>

/* An instance busy with another operation at its minute is retried this
 * often until it is free, as are expired snapshots that could not be
 * deleted yet. */
#define RETRY_SECONDS 1

struct FerrySnapshotScheduler
{
  FerryDaemon *d;
  /* Test clock (FERRY_TEST_SCHEDULE_MINUTE_SECONDS): a minute lasts this
   * many seconds, starting from the real minute ferryd started in; 0 for
   * the real clock. */
  guint test_minute_seconds;
  GDateTime *test_minute;
  GDateTime *last_minute;    /* the last minute handled */
  GHashTable *owed;          /* names of instances owed a snapshot */
  guint retry_source;
};
typedef struct FerrySnapshotScheduler Scheduler;

static GDateTime *
truncate_to_minute (GDateTime *t)
{
  return g_date_time_new (g_date_time_get_timezone (t), g_date_time_get_year (t), g_date_time_get_month (t),
                          g_date_time_get_day_of_month (t), g_date_time_get_hour (t), g_date_time_get_minute (t), 0);
}

/* The scheduler's now: the real time, or the test clock's minute. */
static GDateTime *
scheduler_now (Scheduler *s)
{
  if (s->test_minute != NULL)
    return g_date_time_ref (s->test_minute);
  return g_date_time_new_now_local ();
}

/* Whether INST is due for a snapshot at MINUTE by its expanded config. */
static gboolean
snapshot_due (Scheduler *s, FerryInstance *inst, GDateTime *minute)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (s->d, inst);
  const char *value = g_hash_table_lookup (config, "snapshots.schedule");
  const char *stopped = g_hash_table_lookup (config, "snapshots.schedule.stopped");
  g_autoptr (GError) error = NULL;
  g_autoptr (FerrySchedule) schedule = NULL;

  if (value == NULL || *value == '\0')
    return FALSE;
  schedule = ferry_schedule_parse (value, inst->row->id, &error);
  if (schedule == NULL)
    {
      g_warning ("Scheduled snapshot of %s: %s", inst->row->name, error->message);
      return FALSE;
    }
  if (!ferry_schedule_due (schedule, minute))
    return FALSE;
  if (ferry_instance_is_running (s->d, inst))
    return TRUE;
  return g_strv_contains ((const char *const[]) { "true", "1", "yes", "on", NULL }, stopped ? stopped : "");
}

/* Starts the scheduled snapshot of INST; FALSE if INST is busy, to retry. */
static gboolean
take_snapshot (Scheduler *s, FerryInstance *inst)
{
  g_autoptr (GDateTime) now = scheduler_now (s);
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  g_autoptr (FerryOperation) op = NULL;
  gint64 expires_at = 0;

  if (inst->busy != NULL)
    return FALSE;
  name = ferry_snapshot_next_name (s->d, inst, now, &error);
  if (name != NULL && ferry_snapshot_config_expiry (s->d, inst, now, &expires_at, &error))
    op = ferry_snapshot_create (s->d, inst, name, FALSE, expires_at, &error);
  if (op == NULL)
    g_warning ("Scheduled snapshot of %s failed: %s", inst->row->name, error->message);
  else
    g_message ("Scheduled snapshot %s/%s started (operation %s)", inst->row->name, name,
               ferry_operation_id (op));
  return TRUE;
}

/* The snapshots owed, taken now where their instance is free. */
static void
pay_owed (Scheduler *s)
{
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init (&iter, s->owed);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    {
      FerryInstance *inst = g_hash_table_lookup (s->d->instances, name);
      if (inst == NULL || inst->creating || take_snapshot (s, inst))
        g_hash_table_iter_remove (&iter);
    }
}

/* Deletes the expired snapshots of instances that are free; FALSE if some
 * must wait for their instance. One per instance at a time: a delete
 * claims the instance. */
static gboolean
prune_expired (Scheduler *s)
{
  g_autoptr (GDateTime) now = scheduler_now (s);
  gint64 now_usec = g_date_time_to_unix (now) * G_USEC_PER_SEC;
  GHashTableIter iter;
  gpointer value;
  gboolean all = TRUE;

  g_hash_table_iter_init (&iter, s->d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      FerryInstance *inst = value;
      g_autoptr (GPtrArray) snaps = NULL;
      g_autoptr (GError) error = NULL;

      if (inst->creating)
        continue;
      snaps = ferry_db_snapshot_list (s->d->db, inst->row->id, &error);
      for (guint i = 0; snaps != NULL && i < snaps->len; i++)
        {
          FerryDbSnapshot *snap = g_ptr_array_index (snaps, i);
          g_autoptr (FerryOperation) op = NULL;

          if (snap->expires_at <= 0 || snap->expires_at > now_usec)
            continue;
          if (inst->busy != NULL)
            {
              all = FALSE;
              break;
            }
          op = ferry_snapshot_delete (s->d, inst, snap, &error);
          if (op == NULL)
            g_warning ("Deleting expired snapshot %s/%s: %s", inst->row->name, snap->name, error->message);
          else
            g_message ("Deleting expired snapshot %s/%s (operation %s)", inst->row->name, snap->name,
                       ferry_operation_id (op));
          g_clear_error (&error);
          all = FALSE; /* the next expired one waits for this delete */
          break;
        }
    }
  return all;
}

static gboolean on_retry (gpointer user_data);

static void
schedule_retry (Scheduler *s, gboolean needed)
{
  if (needed && s->retry_source == 0)
    s->retry_source = g_timeout_add_seconds (RETRY_SECONDS, on_retry, s);
}

static gboolean
on_retry (gpointer user_data)
{
  Scheduler *s = user_data;
  gboolean done;

  s->retry_source = 0;
  done = prune_expired (s);
  pay_owed (s);
  schedule_retry (s, !done || g_hash_table_size (s->owed) > 0);
  return G_SOURCE_REMOVE;
}

static void
run_minute (Scheduler *s, GDateTime *minute)
{
  GHashTableIter iter;
  gpointer value;
  gboolean pruned;

  g_hash_table_iter_init (&iter, s->d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      FerryInstance *inst = value;
      if (!inst->creating && snapshot_due (s, inst, minute))
        g_hash_table_add (s->owed, g_strdup (inst->row->name));
    }
  /* Expired snapshots first: a schedule every minute must not starve
   * them (one operation per instance at a time). */
  pruned = prune_expired (s);
  pay_owed (s);
  schedule_retry (s, !pruned || g_hash_table_size (s->owed) > 0);
}

static void arm_timer (Scheduler *s);

static gboolean
on_tick (gpointer user_data)
{
  Scheduler *s = user_data;
  g_autoptr (GDateTime) now = NULL;
  g_autoptr (GDateTime) minute = NULL;

  if (s->test_minute != NULL)
    {
      GDateTime *next = g_date_time_add_minutes (s->test_minute, 1);
      g_date_time_unref (s->test_minute);
      s->test_minute = next;
    }
  now = scheduler_now (s);
  minute = truncate_to_minute (now);
  /* A timer a little early would see the same minute twice. */
  if (s->last_minute == NULL || !g_date_time_equal (minute, s->last_minute))
    {
      g_clear_pointer (&s->last_minute, g_date_time_unref);
      s->last_minute = g_date_time_ref (minute);
      run_minute (s, minute);
    }
  if (s->test_minute_seconds == 0)
    {
      arm_timer (s);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* The next start of a minute on the real clock, re-armed each time so the
 * ticks stay on the minute. */
static void
arm_timer (Scheduler *s)
{
  gint64 now = g_get_real_time ();
  gint64 into_minute = now % (60 * G_USEC_PER_SEC);
  guint ms = (guint) ((60 * G_USEC_PER_SEC - into_minute) / 1000) + 20;

  g_timeout_add (ms, on_tick, s);
}

/* @startup (LXD's startupSnapshot): a snapshot each time INST starts. */
static void
on_instance_started (FerryDaemon *d, FerryInstance *inst)
{
  Scheduler *s = d->snapshot_scheduler;
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  const char *value = g_hash_table_lookup (config, "snapshots.schedule");
  g_autoptr (FerrySchedule) schedule = NULL;

  if (value == NULL || *value == '\0')
    return;
  schedule = ferry_schedule_parse (value, inst->row->id, NULL);
  if (schedule == NULL || !ferry_schedule_at_startup (schedule))
    return;
  g_hash_table_add (s->owed, g_strdup (inst->row->name));
  pay_owed (s);
  schedule_retry (s, g_hash_table_size (s->owed) > 0);
}

void
ferry_snapshot_scheduler_start (FerryDaemon *d)
{
  Scheduler *s = g_new0 (Scheduler, 1);
  const char *test = g_getenv ("FERRY_TEST_SCHEDULE_MINUTE_SECONDS");
  guint64 seconds = 0;

  s->d = d;
  s->owed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  d->snapshot_scheduler = s;
  d->instance_started = on_instance_started;
  if (test != NULL && g_ascii_string_to_unsigned (test, 10, 1, 60, &seconds, NULL))
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_local ();
      s->test_minute_seconds = (guint) seconds;
      s->test_minute = truncate_to_minute (now);
      g_message ("Snapshot scheduler on the test clock: a minute every %u seconds", s->test_minute_seconds);
      g_timeout_add_seconds (s->test_minute_seconds, on_tick, s);
      return;
    }
  arm_timer (s);
}
