/* ferry-monitor's commands (the binary ferryd runs for start, stop, exec,
 * freeze and unfreeze). Each returns the process exit code. */
#pragma once

#include <glib.h>

typedef struct
{
  char *name, *rootfs, *run_dir, *log_dir, *cgroup_parent, *hostname, *init;
  gint64 limit_memory, limit_processes;
  char *limit_cpu;
  char **env;
} FerryStartOptions;

typedef struct
{
  char *run_dir;
  int timeout; /* seconds, -1 = default */
  gboolean force;
} FerryStopOptions;

typedef struct
{
  char *run_dir, *cwd;
  gint64 uid, gid;
  char **env;
  gboolean tty;
  char **argv; /* the command */
} FerryExecOptions;

int ferry_monitor_start (const FerryStartOptions *opts);
int ferry_monitor_stop (const FerryStopOptions *opts);
int ferry_monitor_exec (const FerryExecOptions *opts);

/* Runs the monitor loop until the init exits, then cleans up (exit-status,
 * cgroup, pid files). Never returns. */
_Noreturn void ferry_monitor_supervise (const char *run_dir, const char *log_dir, const char *cgroup_relpath,
                                        pid_t init_pid, int console_master);

/* Environment for processes in the container: BASE entries, then EXTRA
 * ("K=V", overriding same keys). */
char **ferry_runtime_build_env (const char *const *base, char *const *extra, GError **error);

/* A timestamped line in monitor.log (the monitor's stderr). */
void ferry_monitor_log (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* "ferry-monitor: ..." on stderr. */
void ferry_monitor_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
