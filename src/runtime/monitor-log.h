/* ferry-monitor's messages: what every part of the monitor reports with. */
#pragma once

#include <glib.h>

/* A timestamped line in monitor.log (the monitor's stderr). */
void ferry_monitor_log (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* "ferry-monitor: ..." on stderr. */
void ferry_monitor_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
