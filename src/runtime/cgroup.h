/* Cgroup managers: one per layout (legacy/hybrid v1, unified v2) behind one
 * table of operations, as crun's libcrun_cgroup_manager. A container's cgroup
 * is named by a path relative to the root of every hierarchy ("PARENT/NAME");
 * the monitor records it in the run directory so that the library and exec
 * find it again. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* The container's processes and its cgroup namespace live one level below
 * its cgroup ("PARENT/NAME/ns"), LXC's lxc.cgroup.dir.container.inner: the
 * limits and the device list are on NAME, out of the container's sight, so
 * that root inside cannot raise them (the kernel checks a cgroup's device
 * list against its parent's only). */
#define FERRY_CGROUP_NS "ns"

typedef struct
{
  gint64 memory_limit; /* bytes, 0 = no limit */
  const char *cpus;    /* resolved cpuset ("0-1,3"), NULL = no limit */
  gint64 pids_max;     /* 0 = no limit */
} FerryCgroupLimits;

typedef struct
{
  gint64 processes;
  gint64 memory_usage, memory_peak, swap_usage, swap_peak;
  gint64 cpu_usage_ns;
  gboolean frozen;
} FerryCgroupStats;

typedef struct FerryCgroupManager FerryCgroupManager;

typedef struct
{
  const char *name;
  /* Creates the cgroup (and missing parents) with its FERRY_CGROUP_NS child
   * and applies the limits; on failure nothing it created is left. */
  gboolean (*create) (const FerryCgroupManager *m, const char *relpath, const FerryCgroupLimits *limits,
                      GError **error);
  /* Moves PID into the cgroup's FERRY_CGROUP_NS child. */
  gboolean (*attach) (const FerryCgroupManager *m, const char *relpath, pid_t pid, GError **error);
  /* Thaws, SIGKILLs what is left inside and removes the cgroup and every
   * cgroup below it; a missing cgroup is success. */
  gboolean (*destroy) (const FerryCgroupManager *m, const char *relpath, GError **error);
  /* Returns once the kernel reports the cgroup FROZEN / THAWED. */
  gboolean (*set_frozen) (const FerryCgroupManager *m, const char *relpath, gboolean frozen, GError **error);
  gboolean (*read_stats) (const FerryCgroupManager *m, const char *relpath, FerryCgroupStats *out, GError **error);
  gboolean (*exists) (const FerryCgroupManager *m, const char *relpath);
  /* The CPUs the parent cgroup allows ("0-1"), for resolving limits.cpu. */
  char *(*parent_cpus) (const FerryCgroupManager *m, const char *relpath);
  /* The directory that freezes the cgroup (v1 freezer hierarchy, v2 the
   * cgroup itself), as CRIU's --freeze-cgroup wants it; NULL if none. */
  char *(*freezer_dir) (const FerryCgroupManager *m, const char *relpath);
  /* FALSE, with what is missing, if the hierarchy lacks what containers
   * need: without it they would run with no limit enforced, and CRIU would
   * find no freezer. */
  gboolean (*check) (const FerryCgroupManager *m, GError **error);
  /* The mount point of every hierarchy a container has a cgroup in. */
  GStrv (*mountpoints) (const FerryCgroupManager *m);
} FerryCgroupOps;

struct FerryCgroupManager
{
  const FerryCgroupOps *ops;
  char *root; /* v2: the cgroup2 mount; v1: unused (hierarchies come from mountinfo) */
};

/* The manager for this machine's layout, detected once (statfs of
 * /sys/fs/cgroup). Never freed. */
const FerryCgroupManager *ferry_cgroup_manager_get (void);

/* Whether this host's cgroup hierarchy is visible and has what containers
 * need (ferryd refuses to start, and ferry-monitor to start a container,
 * otherwise). The error is one sentence naming what is missing and the
 * likely cause. */
gboolean ferry_cgroup_check_host (GError **error);

/* mkdir of a container's cgroup (or a parent) with mode 0755 whatever the
 * umask: the container's own non-root processes read their limits there
 * (a JVM sizes its heap from memory.max). Returns as mkdir() does. */
int ferry_cgroup_mkdir (const char *dir);

/* ferry_cgroup_mkdir of DIR, a new v1 cpuset given its parent's CPUs and
 * memory nodes (it starts with none and refuses tasks). An existing DIR is
 * success; *CREATED says whether it is new. */
gboolean ferry_cgroup_make_dir (const char *dir, gboolean *created, GError **error);

/* A v2 manager on any cgroup2 mount (tests use /sys/fs/cgroup/unified). */
FerryCgroupManager *ferry_cgroup_manager_new_v2 (const char *root);
void ferry_cgroup_manager_free (FerryCgroupManager *m);

extern const FerryCgroupOps ferry_cgroup_v1_ops;
extern const FerryCgroupOps ferry_cgroup_v2_ops;

/* Helpers shared by the two managers (cgroup.c). */
gboolean ferry_cgroup_write (const char *dir, const char *file, const char *value, GError **error);
char *ferry_cgroup_read (const char *dir, const char *file);
gint64 ferry_cgroup_read_int (const char *dir, const char *file);
/* SIGKILLs every task listed in DIR/cgroup.procs; TRUE if there were none. */
gboolean ferry_cgroup_kill_all (const char *dir);
/* rmdir, retrying while the last tasks are still exiting. */
gboolean ferry_cgroup_rmdir (const char *dir, GError **error);
/* SIGKILLs every task in DIR and below (KILL), or removes DIR and the
 * cgroups below it, deepest first (!KILL). */
gboolean ferry_cgroup_tree(const char *dir, gboolean kill, GError **error);
/* Polls DIR/FILE until a line equals WANT (or FILE's content equals it). */
gboolean ferry_cgroup_wait_for (const char *dir, const char *file, const char *want, GError **error);

/* The cgroups below RELPATH in every hierarchy, empty ones included, one
 * line each: "HIERARCHY<TAB>MODE<TAB>UID<TAB>GID<TAB>PATH", HIERARCHY the
 * mount point below /sys/fs/cgroup ("." for a cgroup2-only host), MODE in
 * octal, PATH below RELPATH. CRIU
 * recreates only the cgroups that hold tasks; systemd watches empty ones
 * (inotify on cgroup.events), so a restore needs them all. */
char *ferry_cgroup_subtree_list (const FerryCgroupManager *m, const char *relpath);
/* Creates the cgroups of a ferry_cgroup_subtree_list() LIST below RELPATH,
 * those of hierarchies this host lacks skipped; existing ones left as they
 * are. */
gboolean ferry_cgroup_subtree_make (const FerryCgroupManager *m, const char *relpath, const char *list,
                                    GError **error);

/* limits.cpu as LXD: "2" = that many CPUs taken from AVAILABLE, "0-1,3" = that
 * set. Returns the cpuset list or NULL with an error. */
char *ferry_cgroup_resolve_cpus (const char *spec, const char *available, GError **error);
/* Checks a relative cgroup path: no "..", no empty component, no leading '/'. */
gboolean ferry_cgroup_relpath_valid (const char *relpath);
