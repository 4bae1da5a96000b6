/* Ferry's CRIU integration (libcriu): which CRIU runs, whether this host can
 * checkpoint at all, dump and restore of a container's process tree, and
 * CRIU's statistics. Knows nothing of run directories or the monitor: the
 * runtime (ferry-monitor) fills the requests. One criu_opts per operation,
 * never libcriu's global calls; CRIU always logs to a file. */
#pragma once

#include <glib.h>

#include "common/criu-log.h"
#include <sys/types.h>

/* Oldest CRIU that works on the kernels Ferry targets (4.1 cannot dump TCP
 * or UDP sockets on kernels >= 6.16). */
#define FERRY_CRIU_MIN_VERSION 40200

/* The file Ferry adds to a checkpoint's images: the key (tty[rdev:dev]) under
 * which the container's console was declared external at dump time. */
#define FERRY_CHECKPOINT_CONSOLE_KEY_FILE "ferry-console.key"
/* The container's cgroup tree at dump (ferry_cgroup_subtree_list()). */
#define FERRY_CHECKPOINT_CGROUPS_FILE "ferry-cgroups.txt"
/* Written (and synced, with the directory) by ferry-monitor checkpoint once
 * the dump is complete: a ferryd that died meanwhile finds it at restart. */
#define FERRY_CHECKPOINT_COMPLETE_FILE "ferry-complete"

typedef struct
{
  char *path;         /* the criu binary in use (NULL if none was found) */
  char *found_by;     /* "$FERRY_CRIU", "/opt/ferry/criu/env", "PATH" */
  int version;        /* e.g. 40201; 0 if unknown */
  char *version_text; /* "4.2.1" */
  gboolean check_ran, check_ok;
  char *nested; /* why this host looks nested, or NULL */
} FerryCriuInfo;

void ferry_criu_info_clear (FerryCriuInfo *info);

/* The criu binary: $FERRY_CRIU, else FERRY_CRIU= in /opt/ferry/criu/env,
 * else criu on PATH. NULL with an error when there is none. */
char *ferry_criu_locate (char **found_by, GError **error);

/* Why this process runs inside a container (LXD's checks: container= in
 * /proc/1/environ, /run/.containerenv, a user or PID namespace
 * other than the initial one), or NULL on a real host. */
char *ferry_criu_detect_nesting (void);

typedef enum
{
  FERRY_CRIU_CHECK_SKIP,   /* no `criu check` */
  FERRY_CRIU_CHECK_CACHED, /* trust a check passed earlier in this boot with this CRIU */
  FERRY_CRIU_CHECK_RUN,    /* always run it */
} FerryCriuCheck;

/* Fills INFO (as much as it can) and returns TRUE when CRIU is usable here:
 * present, >= 4.2, not nested and `criu check` passes (as RUN_CHECK says).
 * Otherwise FALSE with one sentence naming what was found and the fix. */
gboolean ferry_criu_probe (FerryCriuInfo *info, FerryCriuCheck run_check, GError **error);


/* CRIU keeps what it probed of the kernel in /run/criu.kdat, only on a
 * tmpfs (a reboot must not find it stale); where /run is not one, every
 * CRIU call probes again, a few hundred ms inside a freeze. Ferry's CRIU
 * (patches/criu/0006) takes another directory from $CRIU_KDAT_DIR: this
 * sets it, once per process before threads start, to a directory of
 * root's on the /dev/shm tmpfs, unless /run is a tmpfs or the variable is
 * set already. Nothing happens when no tmpfs is at hand. */
void ferry_criu_kdat_cache_prepare (void);

/* The directory for the cache given the preferred one (exposed for tests):
 * PREFERRED when it is, or can be made, a directory of root's (mode 0700,
 * not a symlink) on a tmpfs; else a new private one beside it, when
 * somebody else took the name; else NULL. */
char *ferry_criu_kdat_dir_choose (const char *preferred);

/* JSON object of CRIU's statistics image ("stats-dump" or "stats-restore")
 * in DIR, with "total_time" (microseconds) added. A dump leaves its
 * stats-dump in the images; a restore's stats-restore is in the directory
 * of its log (CRIU's work directory). */
char *ferry_criu_stats_json (const char *dir, gboolean dump, gint64 total_time_us, GError **error);

/* Parses a stats image already in memory (exposed for tests). */
char *ferry_criu_stats_parse (const guint8 *data, gsize len, gboolean dump, gint64 total_time_us, GError **error);

typedef struct
{
  const char *criu_path;
  pid_t init_pid;          /* root of the tree, host PID */
  const char *freeze_cgroup; /* the container's freezer cgroup directory */
  const char *images_dir;  /* exists, empty */
  const char *log_path;
  gboolean leave_running;
  gboolean tcp_established;
  gboolean network_lock_skip; /* no interface but lo in the container */
  const char *const *external; /* extra --external keys (veths, issue 4) */
  const char *console_key;     /* tty[rdev:dev] of the console, or NULL */
  gboolean console_is_mount;   /* /dev/console is a bind mount of the pty */
  /* Copied while the tree is frozen, after the memory dump (post-dump). */
  const char *rootfs_copy_src, *rootfs_copy_dst;
  gboolean rootfs_snapshot; /* btrfs: a readonly subvolume snapshot, not a copy */
  /* Live migration: pages go to CRIU's page server at this address (the
   * images dir keeps everything else), and at post-dump, with the tree
   * still frozen, the dump asks through hold_fd whether to go on (before
   * that, once the tree is frozen and before the memory dump, it writes
   * "early\n": files stand still from then on). At post-dump it writes
   * "frozen\n" and reads one byte, 'c' (commit: the tree is killed, it
   * runs elsewhere now) or anything else or EOF (abort: the tree runs on
   * here, untouched). 0 = no hold. */
  const char *page_server_address;
  int page_server_port;
  int hold_fd;
  /* Called once the tree is frozen, before CRIU dumps it (what the tree
   * cannot change while frozen, e.g. its cgroups, is recorded there). */
  void (*frozen) (gpointer data);
  gpointer frozen_data;
  /* Called at post-dump when the dumped tree is to die (no leave_running;
   * the hold, if any, said commit), just before CRIU kills it. */
  void (*dying) (gpointer data);
  gpointer dying_data;
} FerryDumpRequest;

/* Dumps the tree. On failure the tree runs on, thawed, the images dir is
 * emptied and a partial copy removed; the error quotes CRIU and names the log. */
gboolean ferry_checkpoint_dump (const FerryDumpRequest *req, GError **error);

/* The images on disk (syncfs), then the FERRY_CHECKPOINT_COMPLETE_FILE
 * marker, then the marker's directory entry: a crash leaves no marker over
 * images that are not all there. */
gboolean ferry_checkpoint_mark_complete (const char *images, GError **error);
gboolean ferry_checkpoint_marked_complete (const char *images);
/* CRIU wrote its statistics (stats-dump): it does that last, after a dump
 * that succeeded left the tasks in their final state (killed, for a stop).
 * A dump whose ferry-monitor died before marking it is complete if so. */
gboolean ferry_checkpoint_criu_finished (const char *images);

/* CRIU's page server on an already connected socket (live migration's
 * target side): writes the pages a dump sends into images_dir; returns when
 * the dump closes the session. The error quotes CRIU and names the log. */
gboolean ferry_checkpoint_page_server (const char *criu_path, const char *images_dir, int socket_fd,
                                       const char *log_path, GError **error);

typedef struct
{
  const char *criu_path;
  const char *images_dir;
  const char *log_path;
  const char *rootfs;
  const char *cgroup_root; /* "/PARENT/NAME": the restored tasks' cgroup in every hierarchy */
  gboolean tcp_established;
  /* The new console: its slave (inherited by CRIU for the dumped console)
   * and a host path of that slave (bound onto the container's /dev/console). */
  int console_slave;
  const char *console_path;
  const char *const *external; /* extra keys, e.g. "veth[eth0]:host@bridge" (issue 4) */
  /* No external interface: nothing was locked at dump, nothing to unlock. */
  gboolean network_lock_skip;
  /* Host uid of the root of the tree's user namespace (0: none): CRIU reads
   * some images from inside the tree, so they become that root's. */
  uid_t images_owner;
  gid_t images_group;
  /* A seccomp filter (struct sock_filter[]) the restored threads inherit
   * from the caller: its dumped copies are taken out of their chains. */
  const void *inherited_filter;
  gsize inherited_filter_len; /* bytes */
  /* Called with the tree restored and still stopped, before it resumes
   * (CRIU's pre-resume); nonzero is logged by CRIU, not fatal. */
  int (*pre_resume)(void);
  /* CRIU's setup-namespaces: the tree's namespaces and CRIU's cgroups exist,
   * no task has opened its files yet. Nonzero fails the restore. */
  int (*namespaces_ready) (gpointer data);
  gpointer namespaces_data;
  /* CRIU's post-restore: every task and socket restored, the network still
   * locked, nothing resumed. Nonzero fails the restore. */
  int (*restored) (gpointer data);
  gpointer restored_data;
} FerryRestoreRequest;

/* Restores the tree as a child of the calling process (which should be a
 * child subreaper). Returns the host PID of the restored init, or 0 with an
 * error quoting CRIU. The images are not modified (with images_owner, only
 * their owner and mode). */
pid_t ferry_checkpoint_restore (const FerryRestoreRequest *req, GError **error);

/* seccomp-image.c: when the checkpoint in IMAGES_DIR has copies of FILTER
 * (LEN bytes) in its seccomp filter chains, a new directory in PARENT that
 * shows the same images without them (symlinks and a new seccomp.img), for
 * CRIU to restore from; NULL (and no error) when there is none. */
char *ferry_checkpoint_images_without_filter(const char *images_dir, const char *parent, const void *filter,
                                             gsize len, GError **error);
/* Exposed for tests: the filters of a seccomp_entry message (an array of
 * FerrySeccompFilter from ferry_seccomp_filters_new), dropping DROP's
 * copies, and back. */
typedef struct
{
  GBytes *filter; /* struct sock_filter[] */
  gboolean has_prev, has_flags;
  guint32 prev, flags; /* prev: index of the next newer filter of the chain */
} FerrySeccompFilter;
GArray *ferry_seccomp_filters_new(void);
gboolean ferry_seccomp_image_parse(const guint8 *data, gsize len, GArray *filters);
guint ferry_seccomp_filters_drop(GArray *filters, GBytes *drop);
GByteArray *ferry_seccomp_image_serialize(GArray *filters);
