/* The unified layout (cgroup2 only). Controllers must be enabled in every
 * ancestor's cgroup.subtree_control; the container's own cgroup holds its
 * processes and enables nothing below it.
 * v2 has no devices controller: the allow list is a BPF_CGROUP_DEVICE
 * program on the container's cgroup, as crun and LXC attach it. */
#include "runtime/cgroup.h"
#include "runtime/cgroup-devices.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const wanted_controllers[] = { "cpuset", "cpu", "io", "memory", "pids" };

static gboolean
has_word (const char *list, const char *word)
{
  g_auto (GStrv) words = g_strsplit (list ? list : "", " ", -1);

  return g_strv_contains ((const char *const *) words, word);
}

/* Enables what is available of wanted_controllers in DIR's subtree. */
static void
enable_controllers (const char *dir)
{
  g_autofree char *available = ferry_cgroup_read (dir, "cgroup.controllers");
  g_autofree char *enabled = ferry_cgroup_read (dir, "cgroup.subtree_control");

  for (gsize i = 0; i < G_N_ELEMENTS (wanted_controllers); i++)
    {
      const char *c = wanted_controllers[i];
      if (has_word (available, c) && !has_word (enabled, c))
        {
          g_autofree char *plus = g_strconcat ("+", c, NULL);
          ferry_cgroup_write (dir, "cgroup.subtree_control", plus, NULL);
        }
    }
}

static gboolean
v2_destroy (const FerryCgroupManager *m, const char *relpath, GError **error)
{
  g_autofree char *dir = g_build_filename (m->root, relpath, NULL);

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  /* cgroup.kill (5.14) kills frozen tasks too and races no fork. */
  if (!ferry_cgroup_write (dir, "cgroup.kill", "1", NULL))
    ferry_cgroup_tree(dir, TRUE, NULL);
  return ferry_cgroup_tree(dir, FALSE, error);
}

static gboolean
write_limit (const char *dir, const char *file, const char *value, GError **error)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "Cannot set %s: the controller is not enabled for %s (see cgroup.subtree_control of its parent)",
                   file, dir);
      return FALSE;
    }
  return ferry_cgroup_write (dir, file, value, error);
}

static gboolean
v2_create (const FerryCgroupManager *m, const char *relpath, const FerryCgroupLimits *limits, GError **error)
{
  g_autofree char *dir = g_build_filename (m->root, relpath, NULL);
  g_autofree char *ns = g_build_filename(dir, FERRY_CGROUP_NS, NULL);
  g_auto (GStrv) parts = g_strsplit (relpath, "/", -1);
  g_autofree char *cur = g_strdup (m->root);

  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Cgroup %s already exists", dir);
      return FALSE;
    }
  for (char **p = parts; *p != NULL; p++)
    {
      enable_controllers (cur);
      g_autofree char *parent = g_steal_pointer (&cur);
      cur = g_build_filename (parent, *p, NULL);
      if (ferry_cgroup_mkdir (cur) < 0 && errno != EEXIST)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating cgroup %s: %s", cur, g_strerror (saved));
          goto fail;
        }
    }
  if (limits->memory_limit > 0)
    {
      g_autofree char *v = g_strdup_printf ("%" G_GINT64_FORMAT, limits->memory_limit);
      if (!write_limit (dir, "memory.max", v, error))
        goto fail;
    }
  if (limits->cpus != NULL && !write_limit (dir, "cpuset.cpus", limits->cpus, error))
    goto fail;
  if (limits->pids_max > 0)
    {
      g_autofree char *v = g_strdup_printf ("%" G_GINT64_FORMAT, limits->pids_max);
      if (!write_limit (dir, "pids.max", v, error))
        goto fail;
    }
  /* On DIR, not NS: out of the container's cgroup namespace, and before any
   * of its processes exist. A restore makes a new DIR and so attaches it
   * anew; the kernel keeps it while DIR exists, whoever restarts. */
  if (!ferry_device_policy_attach (dir, error))
    goto fail;
  /* No controller is enabled below DIR: its limits hold for NS as a whole. */
  if (mkdir (ns, 0755) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating cgroup %s: %s", ns, g_strerror (saved));
      goto fail;
    }
  return TRUE;

fail:
  g_prefix_error (error, "Setting up the container's cgroup: ");
  rmdir(ns);
  rmdir (dir);
  return FALSE;
}

static gboolean
v2_attach (const FerryCgroupManager *m, const char *relpath, pid_t pid, GError **error)
{
  g_autofree char *dir = g_build_filename(m->root, relpath, FERRY_CGROUP_NS, NULL);
  g_autofree char *spid = g_strdup_printf ("%d", (int) pid);

  return ferry_cgroup_write (dir, "cgroup.procs", spid, error);
}

static gboolean
v2_set_frozen (const FerryCgroupManager *m, const char *relpath, gboolean frozen, GError **error)
{
  g_autofree char *dir = g_build_filename (m->root, relpath, NULL);

  if (!ferry_cgroup_write (dir, "cgroup.freeze", frozen ? "1" : "0", error))
    return FALSE;
  return ferry_cgroup_wait_for (dir, "cgroup.events", frozen ? "frozen 1" : "frozen 0", error);
}

static gint64
stat_field (const char *dir, const char *file, const char *key)
{
  g_autofree char *s = ferry_cgroup_read (dir, file);
  g_auto (GStrv) lines = g_strsplit (s ? s : "", "\n", -1);
  size_t klen = strlen (key);

  for (char **l = lines; *l != NULL; l++)
    if (strncmp (*l, key, klen) == 0 && (*l)[klen] == ' ')
      return g_ascii_strtoll (*l + klen + 1, NULL, 10);
  return -1;
}

static gboolean
v2_read_stats (const FerryCgroupManager *m, const char *relpath, FerryCgroupStats *out, GError **error)
{
  g_autofree char *dir = g_build_filename (m->root, relpath, NULL);
  g_autofree char *procs = NULL;

  memset (out, 0, sizeof *out);
  out->processes = ferry_cgroup_read_int (dir, "pids.current");
  if (out->processes < 0)
    {
    g_autofree char *ns = g_build_filename(dir, FERRY_CGROUP_NS, NULL);
    procs = ferry_cgroup_read(ns, "cgroup.procs");
    if (procs == NULL) {
      g_set_error(error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Cgroup %s does not exist", dir);
      return FALSE;
        }
      out->processes = *procs ? 1 : 0;
      for (const char *p = procs; *p; p++)
        out->processes += *p == '\n';
    }
  out->memory_usage = MAX (ferry_cgroup_read_int (dir, "memory.current"), 0);
  out->memory_peak = MAX (ferry_cgroup_read_int (dir, "memory.peak"), 0);
  out->swap_usage = MAX (ferry_cgroup_read_int (dir, "memory.swap.current"), 0);
  out->swap_peak = MAX (ferry_cgroup_read_int (dir, "memory.swap.peak"), 0);
  gint64 usec = stat_field (dir, "cpu.stat", "usage_usec");
  out->cpu_usage_ns = usec > 0 ? usec * 1000 : 0;
  out->frozen = ferry_cgroup_read_int (dir, "cgroup.freeze") == 1;
  return TRUE;
}

static gboolean
v2_exists (const FerryCgroupManager *m, const char *relpath)
{
  g_autofree char *dir = g_build_filename (m->root, relpath, NULL);

  return g_file_test (dir, G_FILE_TEST_IS_DIR);
}

static char *
v2_parent_cpus (const FerryCgroupManager *m, const char *relpath)
{
  g_autofree char *dir = g_build_filename (m->root, relpath, NULL);

  for (char *d = g_path_get_dirname (dir); strlen (d) >= strlen (m->root);)
    {
      char *cpus = ferry_cgroup_read (d, "cpuset.cpus.effective");
      if (cpus != NULL && *cpus != '\0')
        {
          g_free (d);
          return cpus;
        }
      g_free (cpus);
      char *up = g_path_get_dirname (d);
      g_free (d);
      d = up;
      if (strlen (d) < strlen (m->root))
        {
          g_free (d);
          break;
        }
    }
  char *online = NULL;
  g_file_get_contents ("/sys/devices/system/cpu/online", &online, NULL, NULL);
  return online ? g_strstrip (online) : NULL;
}

static char *
v2_freezer_dir (const FerryCgroupManager *m, const char *relpath)
{
  return g_build_filename (m->root, relpath, NULL);
}

/* The cgroup /proc/self/cgroup puts us in on the unified hierarchy, or
 * NULL. */
static char *
own_cgroup (void)
{
  g_autofree char *text = ferry_read_small_file ("/proc/self/cgroup");
  g_auto (GStrv) lines = g_strsplit (text ? text : "", "\n", -1);

  for (char **l = lines; *l != NULL; l++)
    if (g_str_has_prefix (*l, "0::/"))
      return g_strdup (*l + 3);
  return NULL;
}

/* Limits need their controllers, but write_limit() says so when one is
 * set. What every container needs is the freeze of Linux >= 5.2: found as
 * cgroup.freeze in our own cgroup (the root cgroup has none). */
static gboolean
v2_check (const FerryCgroupManager *m, GError **error)
{
  g_autofree char *procs = g_build_filename (m->root, "cgroup.procs", NULL);
  g_autofree char *own = own_cgroup ();
  g_autofree char *own_dir = own ? g_build_filename (m->root, own, NULL) : NULL;
  g_autofree char *freeze = own_dir ? g_build_filename (own_dir, "cgroup.freeze", NULL) : NULL;

  if (!g_file_test (procs, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "No cgroup2 hierarchy is mounted on %s", m->root);
      return FALSE;
    }
  if (own != NULL && !g_str_equal (own, "/") && g_file_test (own_dir, G_FILE_TEST_IS_DIR)
      && !g_file_test (freeze, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "The cgroup2 hierarchy on %s has no cgroup.freeze (Linux >= 5.2 is needed to freeze containers "
                   "for CRIU)",
                   m->root);
      return FALSE;
    }
  return TRUE;
}

static GStrv
v2_mountpoints (const FerryCgroupManager *m)
{
  return g_strdupv ((char *[]) { m->root, NULL });
}

const FerryCgroupOps ferry_cgroup_v2_ops = {
  .name = "cgroup-v2",
  .create = v2_create,
  .attach = v2_attach,
  .destroy = v2_destroy,
  .set_frozen = v2_set_frozen,
  .read_stats = v2_read_stats,
  .exists = v2_exists,
  .parent_cpus = v2_parent_cpus,
  .freezer_dir = v2_freezer_dir,
  .check = v2_check,
  .mountpoints = v2_mountpoints,
};
