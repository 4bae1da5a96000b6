/* The legacy/hybrid layout: one v1 hierarchy per controller (or group of
 * controllers) under /sys/fs/cgroup, plus the controller-less cgroup2 at
 * /sys/fs/cgroup/unified that systemd uses for tracking. The container gets
 * the same relative path in every one of them. */
#include "runtime/cgroup.h"
#include "runtime/cgroup-devices.h"

#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char *mountpoint;
  gboolean cpuset, memory, pids, freezer, devices, cpuacct;
} Hierarchy;

static GPtrArray *
hierarchies (void)
{
  static GPtrArray *list;
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      g_autofree char *mountinfo = NULL;
      GPtrArray *found = g_ptr_array_new ();

      g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL);
      g_auto (GStrv) lines = g_strsplit (mountinfo ? mountinfo : "", "\n", -1);
      for (char **l = lines; *l != NULL; l++)
        {
          g_auto (GStrv) f = g_strsplit (*l, " ", -1);
          guint n = g_strv_length (f), sep = 0;
          for (guint i = 6; i < n; i++)
            if (g_str_equal (f[i], "-"))
              {
                sep = i;
                break;
              }
          if (sep == 0 || sep + 3 >= n)
            continue;
          const char *mnt = f[4], *fstype = f[sep + 1], *opts = f[sep + 3];
          if (!g_str_has_prefix (mnt, "/sys/fs/cgroup/"))
            continue;
          if (!g_str_equal (fstype, "cgroup") && !g_str_equal (fstype, "cgroup2"))
            continue;
          gboolean dup = FALSE;
          for (guint i = 0; i < found->len; i++)
            if (g_str_equal (((Hierarchy *) found->pdata[i])->mountpoint, mnt))
              dup = TRUE;
          if (dup)
            continue;
          Hierarchy *h = g_new0 (Hierarchy, 1);
          h->mountpoint = g_strdup (mnt);
          if (g_str_equal (fstype, "cgroup"))
            {
              g_auto (GStrv) o = g_strsplit (opts, ",", -1);
              for (char **c = o; *c != NULL; c++)
                {
                  h->cpuset |= g_str_equal (*c, "cpuset");
                  h->memory |= g_str_equal (*c, "memory");
                  h->pids |= g_str_equal (*c, "pids");
                  h->freezer |= g_str_equal (*c, "freezer");
                  h->devices |= g_str_equal (*c, "devices");
                  h->cpuacct |= g_str_equal (*c, "cpuacct");
                }
            }
          g_ptr_array_add (found, h);
        }
      list = found;
      g_once_init_leave (&initialized, 1);
    }
  return list;
}

#define FOREACH_HIERARCHY(h)                                                                                           \
  for (guint _i = 0; _i < hierarchies ()->len; _i++)                                                                  \
    for (const Hierarchy *h = hierarchies ()->pdata[_i]; h != NULL; h = NULL)

static char *
find_dir (gboolean want_cpuset, gboolean want_memory, gboolean want_pids, gboolean want_freezer,
          gboolean want_cpuacct, const char *relpath)
{
  FOREACH_HIERARCHY (h)
  {
    if ((want_cpuset && h->cpuset) || (want_memory && h->memory) || (want_pids && h->pids)
        || (want_freezer && h->freezer) || (want_cpuacct && h->cpuacct))
      return g_build_filename (h->mountpoint, relpath, NULL);
  }
  return NULL;
}

/* Creates every missing component of relpath under one hierarchy (a v1
 * cpuset gets its parent's CPUs and memory nodes). */
static gboolean
mkdir_hierarchy (const Hierarchy *h, const char *relpath, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (relpath, "/", -1);
  g_autofree char *dir = g_strdup (h->mountpoint);

  for (char **p = parts; *p != NULL; p++)
    {
      g_autofree char *parent = g_steal_pointer (&dir);
      gboolean created;
      dir = g_build_filename (parent, *p, NULL);
      if (!ferry_cgroup_make_dir (dir, &created, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
v1_destroy (const FerryCgroupManager *m, const char *relpath, GError **error)
{
  gboolean ok = TRUE;
  g_autofree char *freezer = find_dir (FALSE, FALSE, FALSE, TRUE, FALSE, relpath);

  /* Frozen tasks do not die of SIGKILL until thawed. */
  if (freezer != NULL && g_file_test (freezer, G_FILE_TEST_IS_DIR))
    ferry_cgroup_write (freezer, "freezer.state", "THAWED", NULL);
  FOREACH_HIERARCHY (h)
  {
    g_autofree char *dir = g_build_filename (h->mountpoint, relpath, NULL);
    ferry_cgroup_tree(dir, TRUE, NULL);
  }
  FOREACH_HIERARCHY (h)
  {
    g_autofree char *dir = g_build_filename (h->mountpoint, relpath, NULL);
    g_autoptr (GError) local = NULL;
    if (!ferry_cgroup_tree(dir, FALSE, &local)) {
      if (ok && error != NULL)
        *error = g_steal_pointer(&local);
      ok = FALSE;
    }
  }
  return ok;
}

static gboolean
v1_create (const FerryCgroupManager *m, const char *relpath, const FerryCgroupLimits *limits, GError **error)
{
  gboolean ok = TRUE;

  FOREACH_HIERARCHY (h)
  {
    g_autofree char *dir = g_build_filename (h->mountpoint, relpath, NULL);
    if (g_file_test (dir, G_FILE_TEST_IS_DIR))
      {
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Cgroup %s already exists", dir);
        return FALSE;
      }
  }
  FOREACH_HIERARCHY (h)
  {
    g_autofree char *dir = g_build_filename (h->mountpoint, relpath, NULL);
    if (!(ok = mkdir_hierarchy (h, relpath, error)))
      break;
    if (h->memory && limits->memory_limit > 0)
      {
        g_autofree char *v = g_strdup_printf ("%" G_GINT64_FORMAT, limits->memory_limit);
        if (!(ok = ferry_cgroup_write (dir, "memory.limit_in_bytes", v, error)))
          break;
      }
    if (h->cpuset && limits->cpus != NULL && !(ok = ferry_cgroup_write (dir, "cpuset.cpus", limits->cpus, error)))
      break;
    if (h->pids && limits->pids_max > 0)
      {
        g_autofree char *v = g_strdup_printf ("%" G_GINT64_FORMAT, limits->pids_max);
        if (!(ok = ferry_cgroup_write (dir, "pids.max", v, error)))
          break;
      }
    if (h->devices)
      {
        if (!(ok = ferry_cgroup_write (dir, "devices.deny", "a", error)))
          break;
        for (gsize i = 0; ok && i < ferry_device_allow_len; i++) {
          g_autofree char *rule = ferry_device_rule_format(&ferry_device_allow[i]);
          ok = ferry_cgroup_write(dir, "devices.allow", rule, error);
        }
        if (!ok)
          break;
      }
      /* Below the limits: it inherits the device list, cpuset and all. */
      g_autofree char *ns = g_build_path("/", relpath, FERRY_CGROUP_NS, NULL);
      if (!(ok = mkdir_hierarchy(h, ns, error)))
        break;
  }
  if (!ok)
    {
      g_prefix_error (error, "Setting up the container's cgroup: ");
      v1_destroy (m, relpath, NULL);
    }
  return ok;
}

static gboolean
v1_attach (const FerryCgroupManager *m, const char *relpath, pid_t pid, GError **error)
{
  g_autofree char *spid = g_strdup_printf ("%d", (int) pid);

  FOREACH_HIERARCHY (h)
  {
    g_autofree char *dir = g_build_filename(h->mountpoint, relpath, FERRY_CGROUP_NS, NULL);
    if (!ferry_cgroup_write (dir, "cgroup.procs", spid, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
v1_set_frozen (const FerryCgroupManager *m, const char *relpath, gboolean frozen, GError **error)
{
  g_autofree char *dir = find_dir (FALSE, FALSE, FALSE, TRUE, FALSE, relpath);
  const char *state = frozen ? "FROZEN" : "THAWED";

  if (dir == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "No freezer cgroup hierarchy is mounted");
      return FALSE;
    }
  /* A v1 freeze can stay FREEZING while a task sleeps uninterruptibly:
   * rewriting the state retries it. */
  for (int attempt = 0; attempt < 1000; attempt++)
    {
      if (!ferry_cgroup_write (dir, "freezer.state", state, error))
        return FALSE;
      g_autofree char *now = ferry_cgroup_read (dir, "freezer.state");
      if (now != NULL && g_str_equal (now, state))
        return TRUE;
      g_usleep (10000);
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Timed out waiting for %s/freezer.state to become %s", dir,
               state);
  return FALSE;
}

static gint64
count_lines (const char *dir, const char *file)
{
  g_autofree char *s = ferry_cgroup_read (dir, file);
  gint64 n = 0;

  if (s == NULL)
    return -1;
  for (const char *p = s; *p; p++)
    if (*p == '\n')
      n++;
  return *s ? n + 1 : 0;
}

static gboolean
v1_read_stats (const FerryCgroupManager *m, const char *relpath, FerryCgroupStats *out, GError **error)
{
  g_autofree char *pids = find_dir (FALSE, FALSE, TRUE, FALSE, FALSE, relpath);
  g_autofree char *mem = find_dir (FALSE, TRUE, FALSE, FALSE, FALSE, relpath);
  g_autofree char *cpu = find_dir (FALSE, FALSE, FALSE, FALSE, TRUE, relpath);
  g_autofree char *frz = find_dir (FALSE, FALSE, FALSE, TRUE, FALSE, relpath);

  memset (out, 0, sizeof *out);
  if (pids != NULL)
    out->processes = ferry_cgroup_read_int (pids, "pids.current");
  else if (hierarchies ()->len > 0)
    {
      g_autofree char *dir = g_build_filename (((Hierarchy *) hierarchies ()->pdata[0])->mountpoint, relpath, NULL);
      out->processes = count_lines (dir, "cgroup.procs");
    }
  if (mem != NULL)
    {
      out->memory_usage = ferry_cgroup_read_int (mem, "memory.usage_in_bytes");
      out->memory_peak = ferry_cgroup_read_int (mem, "memory.max_usage_in_bytes");
      gint64 memsw = ferry_cgroup_read_int (mem, "memory.memsw.usage_in_bytes");
      gint64 memsw_peak = ferry_cgroup_read_int (mem, "memory.memsw.max_usage_in_bytes");
      out->swap_usage = memsw >= out->memory_usage ? memsw - out->memory_usage : 0;
      out->swap_peak = memsw_peak >= out->memory_peak ? memsw_peak - out->memory_peak : 0;
    }
  if (cpu != NULL)
    out->cpu_usage_ns = ferry_cgroup_read_int (cpu, "cpuacct.usage");
  if (frz != NULL)
    {
      g_autofree char *state = ferry_cgroup_read (frz, "freezer.state");
      out->frozen = state != NULL && !g_str_equal (state, "THAWED");
    }
  if (out->processes < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Cgroup %s does not exist", relpath);
      return FALSE;
    }
  return TRUE;
}

static gboolean
v1_exists (const FerryCgroupManager *m, const char *relpath)
{
  FOREACH_HIERARCHY (h)
  {
    g_autofree char *dir = g_build_filename (h->mountpoint, relpath, NULL);
    if (g_file_test (dir, G_FILE_TEST_IS_DIR))
      return TRUE;
  }
  return FALSE;
}

static char *
v1_parent_cpus (const FerryCgroupManager *m, const char *relpath)
{
  g_autofree char *dir = find_dir (TRUE, FALSE, FALSE, FALSE, FALSE, relpath);

  if (dir == NULL)
    return NULL;
  /* The nearest existing ancestor decides. */
  for (char *d = g_path_get_dirname (dir);; )
    {
      char *cpus = ferry_cgroup_read (d, "cpuset.effective_cpus");
      if (cpus == NULL)
        cpus = ferry_cgroup_read (d, "cpuset.cpus");
      if (cpus != NULL || g_str_equal (d, "/"))
        {
          g_free (d);
          return cpus;
        }
      char *up = g_path_get_dirname (d);
      g_free (d);
      d = up;
    }
}

static char *
v1_freezer_dir (const FerryCgroupManager *m, const char *relpath)
{
  return find_dir (FALSE, FALSE, FALSE, TRUE, FALSE, relpath);
}

/* freezer: CRIU's --freeze-cgroup and consistent snapshots; devices: the
 * only device filter v1 has; memory, pids, cpuset: limits.memory,
 * limits.processes, limits.cpu. (cpuacct only feeds statistics.) */
static gboolean
v1_check (const FerryCgroupManager *m, GError **error)
{
  gboolean freezer = FALSE, devices = FALSE, memory = FALSE, pids = FALSE, cpuset = FALSE;
  g_autoptr (GString) missing = g_string_new (NULL);

  FOREACH_HIERARCHY (h)
  {
    freezer |= h->freezer;
    devices |= h->devices;
    memory |= h->memory;
    pids |= h->pids;
    cpuset |= h->cpuset;
  }
  const struct
  {
    const char *name;
    gboolean found;
  } needed[] = {
    { "freezer", freezer }, { "devices", devices }, { "memory", memory }, { "pids", pids }, { "cpuset", cpuset }
  };
  for (gsize i = 0; i < G_N_ELEMENTS (needed); i++)
    if (!needed[i].found)
      g_string_append_printf (missing, "%s%s", missing->len ? ", " : "", needed[i].name);
  if (missing->len == 0)
    return TRUE;
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
               "No cgroup v1 hierarchy with the %s controller%s is mounted under /sys/fs/cgroup (ferryd needs "
               "freezer to freeze containers for CRIU, devices to filter their devices, memory, pids and cpuset "
               "to enforce limits.memory, limits.processes and limits.cpu)",
               missing->str, strchr (missing->str, ',') ? "s" : "");
  return FALSE;
}

static GStrv
v1_mountpoints (const FerryCgroupManager *m)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

  FOREACH_HIERARCHY (h)
  g_strv_builder_add (b, h->mountpoint);
  return g_strv_builder_end (b);
}

const FerryCgroupOps ferry_cgroup_v1_ops = {
  .name = "cgroup-v1",
  .create = v1_create,
  .attach = v1_attach,
  .destroy = v1_destroy,
  .set_frozen = v1_set_frozen,
  .read_stats = v1_read_stats,
  .exists = v1_exists,
  .parent_cpus = v1_parent_cpus,
  .freezer_dir = v1_freezer_dir,
  .check = v1_check,
  .mountpoints = v1_mountpoints,
};
