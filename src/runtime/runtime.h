/* Ferry's container runtime as seen from ferryd: everything here reads the
 * run directory written by ferry-monitor and the container's cgroup, in the
 * calling process, without subprocesses (list of 200 containers < 200 ms).
 * Starting, stopping and exec'ing go through the ferry-monitor binary. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct
{
  gboolean running; /* monitor and init alive (PID+starttime verified) */
  gboolean frozen;
  pid_t init_pid, monitor_pid; /* host PIDs, 0 when not running */
  gint64 processes;            /* tasks in the container's cgroup */
  gint64 memory_usage, memory_peak, swap_usage, swap_peak; /* bytes */
  gint64 cpu_usage_ns;
} FerryRuntimeState;

/* Not running is TRUE with running=FALSE; FALSE only when the run directory
 * cannot be read. */
gboolean ferry_runtime_read_state (const char *run_dir, FerryRuntimeState *out, GError **error);
gboolean ferry_runtime_freeze (const char *run_dir, GError **error);
/* The freezer cgroup directory of the container running from RUN_DIR (its
 * tasks are in it and below), or NULL. */
char *ferry_runtime_freezer_dir (const char *run_dir);
gboolean ferry_runtime_unfreeze (const char *run_dir, GError **error);
/* pidfd of the monitor (readable when it exits, i.e. the container stopped),
 * -1 if not running. The caller closes it. */
int ferry_runtime_open_pidfd (const char *run_dir);
/* "exited N" / "signaled N" of the last init, or NULL. */
char *ferry_runtime_read_exit_status (const char *run_dir);
/* The cgroup path of the running container relative to each hierarchy's
 * root ("PARENT/NAME"), or NULL. */
char *ferry_runtime_read_cgroup (const char *run_dir);

/* Names of the files in the run directory (shared with ferry-monitor). */
#define FERRY_RUNTIME_MONITOR_PID "monitor.pid"
#define FERRY_RUNTIME_INIT_PID "init.pid"
#define FERRY_RUNTIME_CGROUP "cgroup"
#define FERRY_RUNTIME_EXIT_STATUS "exit-status"
/* Held (flock) by ferry-monitor while it checkpoints, starts or restores the
 * container, released once the outcome is on disk: a restarted ferryd waits
 * for it before it judges what a dead ferryd left (docs/durability.md). */
#define FERRY_RUNTIME_BUSY_LOCK "busy.lock"
/* The monitor's socket that takes exec sessions' mount listeners. */
#define FERRY_RUNTIME_MOUNT_SOCKET "mount-notify.sock"
