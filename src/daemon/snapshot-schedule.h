/* The snapshot scheduler of ferryd's main loop (snapshot-schedule.c):
 * snapshots.schedule, snapshots.schedule.stopped, snapshots.pattern,
 * snapshots.expiry and the pruning of expired snapshots, each minute. */
#pragma once

#include "daemon/daemon.h"

/* Starts it on the main loop. For tests only, ferryd's environment may set
 * FERRY_TEST_SCHEDULE_MINUTE_SECONDS=N (1-60): the scheduler's clock then
 * starts at the current minute and moves on one minute every N seconds,
 * so schedules and expiries can be tested without waiting for real
 * minutes; no API request can set it. */
void ferry_snapshot_scheduler_start (FerryDaemon *d);
