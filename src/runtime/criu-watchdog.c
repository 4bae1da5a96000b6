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
  gint returned;
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

static gpointer
watch (gpointer user_data)
{
  FerryCriuWatchdog *w = user_data;
  gint64 dead_since = 0;

  while (!g_atomic_int_get (&w->returned))
    {
      gboolean dead = FALSE;
      g_usleep (100 * 1000);
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
  w->thread = g_thread_new ("criu-watchdog", watch, w);
  return w;
}

void
ferry_criu_watchdog_stop (FerryCriuWatchdog *w)
{
  if (w == NULL)
    return;
  g_atomic_int_set (&w->returned, 1);
  g_thread_join (w->thread);
  g_free (w);
}
