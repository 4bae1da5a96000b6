/* A watchdog over a libcriu call: a CRIU killed in the middle of a dump or
 * a restore can leave helpers (its cgroup daemon, a kernel-feature probe
 * child) holding libcriu's socket, so libcriu waits for an answer for ever.
 * The caller becomes a subreaper, so what CRIU leaves becomes its child; a
 * thread finds CRIU dead and unreaped for a while (a CRIU that answered is
 * reaped at once) and kills what it left, and libcriu returns an error. */
#pragma once

#include <glib.h>

typedef struct FerryCriuWatchdog FerryCriuWatchdog;

/* Before the libcriu call; NULL when this process cannot be a subreaper
 * (then there is no watchdog). */
FerryCriuWatchdog *ferry_criu_watchdog_start (void);
/* After it (NULL is ignored). */
void ferry_criu_watchdog_stop (FerryCriuWatchdog *w);
