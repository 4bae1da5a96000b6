/* The run directory of a container: "PID STARTTIME" files that identify the
 * monitor and the init across daemon restarts without trusting a reused PID. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Start time of PID in clock ticks since boot (field 22 of /proc/PID/stat). */
guint64 ferry_rundir_starttime (pid_t pid);

gboolean ferry_rundir_write_pid (const char *run_dir, const char *file, pid_t pid, GError **error);
/* The PID recorded in FILE if that process is alive with the recorded
 * starttime, else 0. */
pid_t ferry_rundir_live_pid (const char *run_dir, const char *file);
/* A pidfd of the live process recorded in FILE (verified after opening, so
 * signals sent through it cannot reach a reused PID), or -1. */
int ferry_rundir_open_pidfd (const char *run_dir, const char *file, pid_t *pid_out);
/* Takes the run directory's busy lock (FERRY_RUNTIME_BUSY_LOCK), waiting
 * for whoever holds it; the descriptor (close-on-exec), or -1. */
int ferry_rundir_lock_busy (const char *run_dir, GError **error);
/* Waits up to TIMEOUT_S seconds for nobody to hold the busy lock; FALSE if
 * someone still does. */
gboolean ferry_rundir_wait_not_busy (const char *run_dir, int timeout_s);

/* The nics of the container of RUN_DIR, as the monitor records them
 * (runtime/nic.c: "NAME HOST BRIDGE" lines in FERRY_RUNDIR_NICS): the
 * host-side interface names (unchecked: the caller tests each with
 * ferry_ifname_valid), none without the record. */
#define FERRY_RUNDIR_NICS "nics"
GPtrArray *ferry_rundir_nic_host_sides (const char *run_dir);
