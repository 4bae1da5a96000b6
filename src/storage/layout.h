/* Where everything ferryd keeps lives under its root, and who may read it.
 * One module answers every path question (an instance's directory, rootfs,
 * saved state, run and log directories, snapshots, CRIU logs), so that a
 * reader never has to assemble a path from pieces spread over the daemon.
 *
 *   ROOT/                    0711  ferry.db, ferryd.lock, unix.socket, server.crt/key
 *   ROOT/containers/NAME/    0700  rootfs/ (0755), state/ (a stateful stop's images),
 *                                  backups/ (backup tarballs, BACKUP + BACKUP.json),
 *                                  metadata.yaml and templates/ (the image's, as LXD
 *                                  keeps them: api/metadata.c, daemon/templates.c)
 *   ROOT/snapshots/NAME/SNAP/      rootfs/, state/ (a stateful snapshot's images),
 *                                  metadata.yaml and templates/ (the instance's then)
 *   ROOT/run/NAME/           0711  pid files, cgroup, nics, busy.lock (src/runtime)
 *   ROOT/logs/NAME/          0700  console.log, monitor.log, CRIU logs, last_*.json
 *   ROOT/images/             0700  image files (src/image)
 *   ROOT/networks/           0700  dnsmasq's files (the network manager)
 *
 * Everything is root's alone: a local user on the host can neither list nor
 * open it, and cannot reach (so cannot execute) a setuid file that root
 * inside a container put in its rootfs. Only ROOT, ROOT/containers and
 * ROOT/run are 0711, as LXD's: an unprivileged container's mapped root must
 * pass through them. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct
{
  char *root;       /* canonical */
  char *socket;     /* ROOT/unix.socket */
  char *db;         /* ROOT/ferry.db */
  char *lock;       /* ROOT/ferryd.lock */
  char *server_crt; /* ROOT/server.crt */
  char *server_key; /* ROOT/server.key */
  char *containers; /* ROOT/containers */
  char *snapshots;  /* ROOT/snapshots */
  char *run;        /* ROOT/run */
  char *logs;       /* ROOT/logs */
  char *images;     /* ROOT/images */
  char *networks;   /* ROOT/networks */
  char *daemon_log; /* ROOT/logs/ferryd.log */
} FerryLayout;

FerryLayout *ferry_layout_new(const char *root);
void ferry_layout_free(FerryLayout *layout);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FerryLayout, ferry_layout_free)

/* Paths of instance NAME (new strings). */
char *ferry_layout_instance_dir(const FerryLayout *l, const char *name); /* containers/NAME */
char *ferry_layout_rootfs(const FerryLayout *l, const char *name);       /* containers/NAME/rootfs */
char *ferry_layout_state_dir(const FerryLayout *l, const char *name);    /* containers/NAME/state */
char *ferry_layout_run_dir(const FerryLayout *l, const char *name);      /* run/NAME */
char *ferry_layout_log_dir(const FerryLayout *l, const char *name);      /* logs/NAME */
char *ferry_layout_log_file(const FerryLayout *l, const char *name, const char *file); /* logs/NAME/FILE */
char *ferry_layout_snapshots_dir(const FerryLayout *l, const char *name);              /* snapshots/NAME */
char *ferry_layout_snapshot_dir(const FerryLayout *l, const char *name, const char *snap);
/* containers/NAME/backups: the instance's backup tarballs (lxc export),
 * moved and removed with the instance's directory. */
char *ferry_layout_backups_dir(const FerryLayout *l, const char *name);
/* The directories named for instance NAME that a rename moves and a delete
 * removes: containers/NAME, logs/NAME, snapshots/NAME. */
void ferry_layout_instance_dirs(const FerryLayout *l, const char *name, char *dirs[3]);
/* containers/NAME/.ferry-incoming: marks an instance directory being filled
 * by an incoming migration; at start, ferryd removes what such a migration
 * left if it never completed. */
char *ferry_layout_incoming_marker(const FerryLayout *l, const char *name);
/* Inside an instance or snapshot directory DIR: DIR/rootfs, DIR/state. */
char *ferry_layout_dir_rootfs(const char *dir);
char *ferry_layout_dir_state(const char *dir);

/* logs/NAME/last_KIND.json: the CRIU statistics of the last dump/restore. */
char *ferry_layout_last_stats(const FerryLayout *l, const char *name, const char *kind);
/* A fresh file for ferry-monitor's --stats output (removed by the caller). */
char *ferry_layout_stats_file(const FerryLayout *l);
/* A log file for a CRIU action: logs/NAME/<what>_<UTC time>.log */
char *ferry_layout_criu_log(const FerryLayout *l, const char *name, const char *what);

/* The mode of ROOT/containers/NAME (0700). The one place that decides it. */
mode_t ferry_layout_instance_dir_mode(void);

/* A rootfs is the container's "/": 0755 like any root directory, so that
 * its own non-root users can use it. The instance directory above it is
 * what keeps the host's users out. */
#define FERRY_LAYOUT_ROOTFS_MODE 0755

/* Creates an instance directory with ferry_layout_instance_dir_mode(); an
 * existing one gets that mode. */
gboolean ferry_layout_make_instance_dir(const char *path, GError **error);

/* Creates ROOT and the directories under it with their modes, or sets
 * those modes on existing ones, and tightens what an older ferryd left
 * open (0711 instance directories over 0755 rootfs): users upgrade in
 * place. Called before anything else is written under ROOT. */
gboolean ferry_layout_setup(const FerryLayout *l, GError **error);
