/* ferry-monitor's messages (monitor-log.h). */
#include "runtime/monitor-log.h"

#include <stdio.h>
#include <unistd.h>

void
ferry_monitor_log (const char *fmt, ...)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "%s ferry-monitor[%d]: %s\n", stamp, (int) getpid (), text);
  fflush (stderr);
}

void
ferry_monitor_error (const char *fmt, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "ferry-monitor: %s\n", text);
  fflush (stderr);
}
