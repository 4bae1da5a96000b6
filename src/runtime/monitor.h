/* ferry-monitor's commands (the binary ferryd runs for start, stop, exec,
 * freeze, unfreeze, checkpoint, restore and check-criu). Each returns the
 * process exit code. */
#pragma once

#include "runtime/disk-spec.h"
#include "runtime/monitor-log.h"

#include <glib.h>

typedef struct
{
  char *name, *rootfs, *run_dir, *log_dir, *cgroup_parent, *hostname, *init;
  gint64 limit_memory, limit_processes;
  char *limit_cpu;
  char **env;
  char **nics; /* --nic name=IF,host=IF,bridge=BR[,hwaddr=MAC][,mtu=N] (nic.c) */
  char **disks; /* --disk SPEC (runtime/disk-spec.h) */
  /* restore: the container's processes come from CRIU images. */
  char *images, *criu_log, *stats;
  gboolean tcp_established;
  char *criu_path; /* set by ferry_monitor_restore after checking CRIU */
  /* restore: the monitor prepares what needs no image, then waits on this
   * fd for "g" before it reads the images (a live migration's target,
   * started before they are there); anything else or EOF calls it off.
   * 0: no wait. */
  int hold_fd;
  /* Unprivileged: the user namespace's map (common/idmap.h); the rootfs,
   * owned by on-disk root, is mounted idmapped with it. NULL: privileged
   * (root inside is root on the host). */
  GArray *idmap;
} FerryStartOptions;

typedef struct
{
  char *run_dir, *images, *log, *stats;
  char *rootfs_copy[2]; /* SRC, DST */
  gboolean rootfs_snapshot; /* a btrfs snapshot of SRC, not a copy */
  gboolean leave_running, tcp_established;
  char *page_server; /* ADDR:PORT of a page server (live migration) */
  int hold_fd;       /* post-dump hold (see FerryDumpRequest), 0 = none */
} FerryCheckpointOptions;

/* What the monitor supervises, made by a fresh start or by a restore. */
typedef struct
{
  pid_t init_pid;
  int console; /* the console's master */
  int mount_listener; /* the init's mount notifications (mount-notify.h) */
  char *relpath;
  gboolean cgroup_created;
} FerryContainer;

typedef struct
{
  char *run_dir;
  int timeout; /* seconds, -1 = default */
  gboolean force;
  int halt_signal; /* 0: SIGRTMIN+3 if the init blocks it (systemd), else SIGPWR */
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
/* start with opts->images set: restore instead of booting (restore.c). */
int ferry_monitor_restore (FerryStartOptions *opts);
int ferry_monitor_checkpoint (const FerryCheckpointOptions *opts);

/* The container's cgroup tree in a checkpoint (ferry-cgroups.txt in the
 * images): recorded once the tree is frozen (FerryDumpRequest.frozen),
 * its missing cgroups made at CRIU's setup-namespaces
 * (FerryRestoreRequest.namespaces_ready; nonzero fails the restore). */
typedef struct
{
  const char *relpath, *images;
} FerryCgroupRecord;
void ferry_monitor_record_cgroups (gpointer record);
int ferry_monitor_make_cgroups (gpointer record);
int ferry_monitor_check_criu (gboolean json);
/* migrate.c: this host's migration facts as JSON on stdout (with the
 * container of INIT_PID if > 0); the target's feasibility checks against the
 * source's facts in SOURCE_FILE: 0, or 1 with one sentence on stderr. */
int ferry_monitor_migrate_facts (const char *root_dir, pid_t init_pid);
int ferry_monitor_migrate_check (const char *source_file, const char *root_dir, gint64 bytes_needed);
/* Live migration helpers: CRIU's page server on an inherited socket, and
 * a netcat joining stdin/stdout to an inherited socket (rsync's -e). */
int ferry_monitor_page_server (const char *images, const char *log, int fd);
int ferry_monitor_netcat (int fd);

/* Creates the container's cgroup with the limits of O (c->relpath set). */
gboolean ferry_monitor_create_cgroup (const FerryStartOptions *o, FerryContainer *c, GError **error);
/* A detached copy of ROOTFS, mounted idmapped with the user namespace of
 * PID (open_tree + mount_setattr); -1 with an error. */
int ferry_monitor_idmapped_tree (const char *rootfs, pid_t pid, GError **error);
/* For a restore: ROOTFS mounted over itself, idmapped with a user namespace
 * of the same map, in a mount namespace of the calling process's own (CRIU's
 * --root; nothing of it shows on the host). */
gboolean ferry_monitor_mount_idmapped_rootfs (const char *rootfs, GArray *idmap, GError **error);
/* KEYS (freed) with the external mount keys of the /dev nodes an
 * unprivileged container binds from the host (rootfs.c's list): at dump
 * "mnt[/dev/null]:ferry-dev-null", at a restore "mnt[ferry-dev-null]:/dev/null". */
char **ferry_monitor_add_dev_node_keys (char **keys, gboolean restore);
/* In the monitor: restores O's images into the cgroup made by
 * ferry_monitor_create_cgroup, the init becoming the monitor's child. */
gboolean ferry_monitor_restore_container (const FerryStartOptions *o, FerryContainer *c, GError **error);
/* When CRIU was about to resume the restored tree (CLOCK_MONOTONIC, us;
 * 0 before any restore): the end of a live move's downtime. */
gint64 ferry_monitor_restore_resumed_at (void);

/* nic.c: creates the veths of O->nics for the container of INIT_PID and
 * records them in the run directory; for a restore, CRIU's
 * veth[NAME]:HOST@BRIDGE keys instead; for a dump, veth[HOST] keys of the
 * running container (NULL-terminated, possibly empty). */
gboolean ferry_monitor_setup_nics (const FerryStartOptions *o, pid_t init_pid, GError **error);
char **ferry_monitor_nic_restore_keys (const FerryStartOptions *o, GError **error);
char **ferry_monitor_nic_dump_keys (const char *run_dir);
/* After a restore: the host sides onto their bridges, up. */
gboolean ferry_monitor_plug_nics (const FerryStartOptions *o, GError **error);
/* After a failed restore: the host sides of O->nics are deleted (each
 * takes its pair's other end with it). */
void ferry_monitor_forget_nics (const FerryStartOptions *o);
/* The host sides of the nics in RUN_DIR down, for a dumped tree about to be
 * killed: its network namespace outlives it a little, its firewall lock
 * (CRIU's) gone before its interfaces, and would answer its peers with
 * resets meanwhile (they wait for the restored tree, here or elsewhere). */
void ferry_monitor_nics_down (gpointer run_dir);

/* Runs the monitor loop until the init exits, then cleans up (exit-status,
 * cgroup, pid files) and exits. Takes C's relpath and descriptors. Exec
 * sessions hand the listeners of their mount notifications over through
 * FERRY_RUNTIME_MOUNT_SOCKET in the run directory. */
_Noreturn void ferry_monitor_supervise(const char *run_dir, const char *log_dir, FerryContainer *c);

/* Environment for processes in the container: BASE entries, then EXTRA
 * ("K=V", overriding same keys). */
char **ferry_runtime_build_env (const char *const *base, char *const *extra, GError **error);


/* disk.c: the disk devices of a start, opened on the host's side: the
 * mounted ones' specs, their detached binds and mount points. */
typedef struct
{
  GPtrArray *specs; /* FerryDiskSpec */
  int trees[FERRY_DISK_MAX], is_file[FERRY_DISK_MAX];
  const char *paths[FERRY_DISK_MAX + 1];
  int n;
} FerryDisks;
/* Opens the sources of SPEC_TEXTS (--disk); a missing one is left out
 * when it is not required, else fails the start with a clear error. */
gboolean ferry_disks_open (char **spec_texts, FerryDisks *disks, GError **error);
void ferry_disks_clear (FerryDisks *disks);
gboolean ferry_disks_record (const char *run_dir, GPtrArray *specs, GError **error);
/* Into the running container of RUN_DIR (or of INIT_PID, if > 0: the
 * monitor's own child); *MOUNTED FALSE when a missing source that is not
 * required left it out. */
gboolean ferry_disks_attach_live (const char *run_dir, pid_t init_pid, const FerryDiskSpec *spec,
                                  gboolean *mounted, GError **error);
/* After a restore: the disks of O that the checkpoint did not have (added
 * while the instance was stopped with its state) mounted live, added to
 * RESTORED. */
gboolean ferry_disks_attach_added (const FerryStartOptions *o, pid_t init_pid, GPtrArray *restored,
                                   GError **error);
int ferry_monitor_device_attach (const char *run_dir, const char *spec_text);
int ferry_monitor_device_detach (const char *run_dir, const char *name);
/* KEYS (freed) with CRIU's external mount keys of the recorded disks
 * ("mnt[PATH]:ferry-disk-NAME"), the record copied into IMAGES. */
char **ferry_disks_dump_keys (char **keys, const char *run_dir, const char *images, GError **error);
/* KEYS (freed) with "mnt[ferry-disk-NAME]:SOURCE" for each disk of the
 * images, its source the instance's now (O->disks); *RESTORED their specs. */
char **ferry_disks_restore_keys (char **keys, const FerryStartOptions *o, GPtrArray **restored, GError **error);
/* Once CRIU is done: the staging binds of RESTORED's read-only disks go. */
void ferry_disks_unstage (const char *run_dir, GPtrArray *restored);
