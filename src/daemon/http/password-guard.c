/* core.trust_password checks off the main loop, limited per client address
 * (see password-guard.h). Main-thread only, except hash_in_thread. */
#include "daemon/http/password-guard.h"
#include "common/cert.h"
#include "common/error.h"

#include <string.h>

/* A client gets this many wrong passwords (in flight or done) for free;
 * then it waits 1 s, 2 s, 4 s... (at most MAX_BLOCK_SECONDS) between tries. */
#define FREE_ATTEMPTS 5
#define MAX_BLOCK_SECONDS 300
/* One hash at a time: scrypt takes ~55 ms and 16 MiB; a guessing crowd must
 * not take the machine's cores or memory. Past QUEUE_MAX waiting checks,
 * clients are asked to come back. */
#define HASH_THREADS 1
#define QUEUE_MAX 32
/* Addresses not seen for this long are forgotten once the table is big. */
#define FORGET_AFTER_SECONDS (15 * 60)
#define TABLE_SOFT_MAX 1024
#define TABLE_HARD_MAX 16384

typedef struct
{
  guint failures;       /* wrong passwords since the last right one */
  guint pending;        /* checks queued or running */
  gint64 blocked_until; /* monotonic µs */
  gint64 last_seen;
} PeerRecord;

struct FerryPasswordGuard
{
  GThreadPool *pool;
  GHashTable *peers; /* address -> PeerRecord */
};

typedef struct
{
  FerryPasswordGuard *guard;
  char *address;
  char *stored_hash;
  char *password;
  FerryPasswordChecked done;
  gpointer user_data;
} Check;

static void
check_free (Check *check)
{
  g_free (check->address);
  g_free (check->stored_hash);
  if (check->password != NULL)
    explicit_bzero (check->password, strlen (check->password));
  g_free (check->password);
  g_free (check);
}

static void
hash_in_thread (gpointer data, gpointer pool_data)
{
  GTask *task = data;
  Check *check = g_task_get_task_data (task);

  g_task_return_boolean (task, ferry_trust_password_matches (check->stored_hash, check->password));
  g_object_unref (task);
}

FerryPasswordGuard *
ferry_password_guard_new (void)
{
  FerryPasswordGuard *guard = g_new0 (FerryPasswordGuard, 1);

  guard->pool = g_thread_pool_new (hash_in_thread, NULL, HASH_THREADS, FALSE, NULL);
  guard->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return guard;
}

static void
forget_old_peers (FerryPasswordGuard *guard, gint64 now)
{
  GHashTableIter iter;
  PeerRecord *record;

  if (g_hash_table_size (guard->peers) < TABLE_SOFT_MAX)
    return;
  g_hash_table_iter_init (&iter, guard->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &record))
    if (record->pending == 0 && record->blocked_until < now
        && now - record->last_seen > FORGET_AFTER_SECONDS * G_USEC_PER_SEC)
      g_hash_table_iter_remove (&iter);
}

static PeerRecord *
peer_record (FerryPasswordGuard *guard, const char *address, gint64 now, GError **error)
{
  PeerRecord *record = g_hash_table_lookup (guard->peers, address);

  if (record != NULL)
    return record;
  forget_old_peers (guard, now);
  if (g_hash_table_size (guard->peers) >= TABLE_HARD_MAX)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "Too many clients are trying passwords; try again later");
      return NULL;
    }
  record = g_new0 (PeerRecord, 1);
  g_hash_table_insert (guard->peers, g_strdup (address), record);
  return record;
}

/* Whether the client may try a password now. */
static gboolean
may_try (PeerRecord *record, gint64 now, GError **error)
{
  if (now < record->blocked_until)
    {
      gint64 wait = (record->blocked_until - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_TOO_MANY_REQUESTS,
                   "Too many wrong passwords from this address: try again in %" G_GINT64_FORMAT " s", wait);
      return FALSE;
    }
  /* Guesses sent in parallel count before their answers are known; once
   * blocked, a client gets one try at a time. */
  if (record->failures + record->pending >= FREE_ATTEMPTS
      && (record->failures < FREE_ATTEMPTS || record->pending > 0))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_TOO_MANY_REQUESTS,
                   "Too many password attempts from this address at once: try again later");
      return FALSE;
    }
  return TRUE;
}

static void
record_answer (FerryPasswordGuard *guard, const char *address, gboolean matches)
{
  PeerRecord *record = g_hash_table_lookup (guard->peers, address);
  gint64 now = g_get_monotonic_time ();

  if (record == NULL)
    return;
  record->pending--;
  record->last_seen = now;
  if (matches)
    {
      record->failures = 0;
      record->blocked_until = 0;
      if (record->pending == 0)
        g_hash_table_remove (guard->peers, address);
      return;
    }
  record->failures++;
  if (record->failures >= FREE_ATTEMPTS)
    {
      guint shift = MIN (record->failures - FREE_ATTEMPTS, 16);
      gint64 seconds = MIN ((gint64) 1 << shift, MAX_BLOCK_SECONDS);
      record->blocked_until = now + seconds * G_USEC_PER_SEC;
      g_message ("%u wrong trust passwords from %s: its next try waits %" G_GINT64_FORMAT " s", record->failures,
                 address, seconds);
    }
}

static void
hashed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = G_TASK (result);
  Check *check = g_task_get_task_data (task);
  gboolean matches = g_task_propagate_boolean (task, NULL);

  record_answer (check->guard, check->address, matches);
  check->done (matches, check->user_data);
}

gboolean
ferry_password_guard_check (FerryPasswordGuard *guard, const char *address, const char *stored_hash,
                            const char *password, FerryPasswordChecked done, gpointer user_data, GError **error)
{
  gint64 now = g_get_monotonic_time ();
  PeerRecord *record = peer_record (guard, address, now, error);
  Check *check;
  GTask *task;

  if (record == NULL || !may_try (record, now, error))
    return FALSE;
  if (g_thread_pool_unprocessed (guard->pool) >= QUEUE_MAX)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "Too many password checks queued; try again later");
      return FALSE;
    }
  record->pending++;
  record->last_seen = now;
  check = g_new0 (Check, 1);
  check->guard = guard;
  check->address = g_strdup (address);
  check->stored_hash = g_strdup (stored_hash);
  check->password = g_strdup (password);
  check->done = done;
  check->user_data = user_data;
  task = g_task_new (NULL, NULL, hashed, NULL);
  g_task_set_task_data (task, check, (GDestroyNotify) check_free);
  g_thread_pool_push (guard->pool, task, NULL);
  return TRUE;
}
