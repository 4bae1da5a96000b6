/* The watchdog of a libcriu call (criu-watchdog.h). */
#include "runtime/criu-watchdog.h"
#include "runtime/monitor.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct FerryCriuWatchdog
{
  GThread *thread;
  GMutex lock;
  GCond cond; /* signalled when the call returned */
  gboolean returned;
};

/* The children of this process: (pid, state, comm) from /proc. */
static void
for_each_child (void (*fn) (pid_t pid, char state, const char *comm, gpointer data), gpointer data)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  pid_t self = getpid ();

  for (const char *e; proc != NULL && (e = g_dir_read_name (proc)) != NULL;)
    {
      g_autofree char *path = NULL, *stat = NULL;
      if (!g_ascii_isdigit (e[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/stat", e);
      if (!g_file_get_contents (path, &stat, NULL, NULL))
        continue;
      char *open_paren = strchr (stat, '('), *close_paren = strrchr (stat, ')');
      char state = 0;
      int ppid = 0;
      if (open_paren == NULL || close_paren == NULL || sscanf (close_paren + 1, " %c %d", &state, &ppid) != 2
          || ppid != self)
        continue;
      *close_paren = '\0';
      fn ((pid_t) g_ascii_strtoll (e, NULL, 10), state, open_paren + 1, data);
    }
}

static void
note_dead_criu (pid_t pid, char state, const char *comm, gpointer data)
{
  if (state == 'Z' && g_str_equal (comm, "criu"))
    *(gboolean *) data = TRUE;
}

static void
kill_live_child (pid_t pid, char state, const char *comm, gpointer data)
{
  if (state != 'Z')
    {
      ferry_monitor_log ("CRIU died without answering: killing what it left (%s, PID %d)", comm, (int) pid);
      kill (pid, SIGKILL);
    }
}

/* Waits 100 ms, or less when the call returns meanwhile (its caller
 * joins this thread: a plain sleep added up to 100 ms to every dump and
 * restore); TRUE when it returned. */
static gboolean
returned_within_100ms (FerryCriuWatchdog *w)
{
  gint64 until = g_get_monotonic_time () + 100 * 1000;
  gboolean returned;

  g_mutex_lock (&w->lock);
  while (!w->returned && g_cond_wait_until (&w->cond, &w->lock, until))
    ;
  returned = w->returned;
  g_mutex_unlock (&w->lock);
  return returned;
}

static gpointer
watch (gpointer user_data)
{
  FerryCriuWatchdog *w = user_data;
  gint64 dead_since = 0;

  while (!returned_within_100ms (w))
    {
      gboolean dead = FALSE;
      for_each_child (note_dead_criu, &dead);
      if (!dead)
        dead_since = 0;
      else if (dead_since == 0)
        dead_since = g_get_monotonic_time ();
      else if (g_get_monotonic_time () - dead_since > 2 * G_USEC_PER_SEC)
        {
          for_each_child (kill_live_child, NULL);
          dead_since = 0;
        }
    }
  return NULL;
}

FerryCriuWatchdog *
ferry_criu_watchdog_start (void)
{
  FerryCriuWatchdog *w;

  if (prctl (PR_SET_CHILD_SUBREAPER, 1) != 0)
    return NULL;
  w = g_new0 (FerryCriuWatchdog, 1);
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  w->thread = g_thread_new ("criu-watchdog", watch, w);
  return w;
}

void
ferry_criu_watchdog_stop (FerryCriuWatchdog *w)
{
  if (w == NULL)
    return;
  g_mutex_lock (&w->lock);
  w->returned = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
  g_thread_join (w->thread);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w);
}
