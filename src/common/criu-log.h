/* CRIU's log, condensed for a user: text only, so that ferryd (which never
 * runs CRIU) can quote a log that ferry-monitor's CRIU wrote. */
#pragma once

#include <glib.h>

/* The "Error (...)" lines of a CRIU log (without the harmless RLIMIT_NOFILE
 * complaint every log has here), newline-separated; "" if none. */
char *ferry_criu_log_errors (const char *log_path);
