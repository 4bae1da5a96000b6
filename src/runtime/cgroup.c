/* Cgroup layout detection and the helpers both managers share. */
#include "runtime/cgroup.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

const FerryCgroupManager *
ferry_cgroup_manager_get (void)
{
  static FerryCgroupManager manager;
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      struct statfs sfs;

      if (statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
        manager.ops = &ferry_cgroup_v2_ops;
      else
        manager.ops = &ferry_cgroup_v1_ops;
      manager.root = (char *) "/sys/fs/cgroup";
      g_once_init_leave (&initialized, 1);
    }
  return &manager;
}

gboolean
ferry_cgroup_check_host (GError **error)
{
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  struct statfs sfs;

  /* `ip netns exec` mounts a sysfs of its own on /sys, where
   * /sys/fs/cgroup is an empty directory (the reference's "small traps"). */
  if (statfs ("/sys/fs/cgroup", &sfs) < 0 || sfs.f_type == SYSFS_MAGIC)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                           "No cgroup hierarchy is mounted on /sys/fs/cgroup, so containers could be neither "
                           "limited nor frozen for CRIU: if ferryd was started with `ip netns exec`, which mounts "
                           "a /sys of its own, start it with `nsenter --net=/run/netns/NAME` instead");
      return FALSE;
    }
  return m->ops->check (m, error);
}

int
ferry_cgroup_mkdir (const char *dir)
{
  if (mkdir (dir, 0755) < 0)
    return -1;
  return chmod (dir, 0755);
}

FerryCgroupManager *
ferry_cgroup_manager_new_v2 (const char *root)
{
  FerryCgroupManager *m = g_new0 (FerryCgroupManager, 1);

  m->ops = &ferry_cgroup_v2_ops;
  m->root = g_strdup (root);
  return m;
}

void
ferry_cgroup_manager_free (FerryCgroupManager *m)
{
  if (m == NULL)
    return;
  g_free (m->root);
  g_free (m);
}

gboolean
ferry_cgroup_write (const char *dir, const char *file, const char *value, GError **error)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  size_t len = strlen (value);
  int fd = open (path, O_WRONLY | O_CLOEXEC);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  ssize_t n = write (fd, value, len);
  int saved = errno;
  close (fd);
  if (n != (ssize_t) len)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing \"%s\" to %s: %s", value, path,
                   n < 0 ? g_strerror (saved) : "short write");
      return FALSE;
    }
  return TRUE;
}

char *
ferry_cgroup_read (const char *dir, const char *file)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);

  return ferry_read_small_file (path);
}

gint64
ferry_cgroup_read_int (const char *dir, const char *file)
{
  g_autofree char *s = ferry_cgroup_read (dir, file);

  if (s == NULL || g_str_equal (s, "max"))
    return -1;
  return g_ascii_strtoll (s, NULL, 10);
}

gboolean
ferry_cgroup_kill_all (const char *dir)
{
  g_autofree char *procs = ferry_cgroup_read (dir, "cgroup.procs");
  gboolean empty = TRUE;

  if (procs == NULL)
    return TRUE;
  g_auto (GStrv) lines = g_strsplit (procs, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      pid_t pid = (pid_t) g_ascii_strtoll (*l, NULL, 10);
      if (pid > 0)
        {
          empty = FALSE;
          kill (pid, SIGKILL);
        }
    }
  return empty;
}

gboolean
ferry_cgroup_rmdir (const char *dir, GError **error)
{
  /* Killed tasks leave their cgroup when they are fully gone (a big one
   * frees its memory first): every ms, as a restore over a running
   * instance waits for this; allow ~5 s. */
  for (int i = 0; i < 5000; i++)
    {
      if (rmdir (dir) == 0 || errno == ENOENT)
        return TRUE;
      if (errno != EBUSY)
        break;
      if (i % 200 == 0)
        ferry_cgroup_kill_all (dir);
      g_usleep (1000);
    }
  int saved = errno;
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing cgroup %s: %s", dir, g_strerror (saved));
  return FALSE;
}

gboolean
ferry_cgroup_tree(const char *dir, gboolean kill, GError **error)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  gboolean ok = TRUE;

  if (d == NULL)
    return kill || !g_file_test(dir, G_FILE_TEST_EXISTS) || ferry_cgroup_rmdir(dir, error);
  for (const char *e; (e = g_dir_read_name(d)) != NULL;) {
    g_autofree char *sub = g_build_filename(dir, e, NULL);
    if (g_file_test(sub, G_FILE_TEST_IS_DIR) && !g_file_test(sub, G_FILE_TEST_IS_SYMLINK) && ok)
      ok = ferry_cgroup_tree(sub, kill, error);
  }
  g_dir_close(d);
  if (kill) {
    ferry_cgroup_kill_all(dir);
    return TRUE;
  }
  return ok && ferry_cgroup_rmdir(dir, error);
}

gboolean
ferry_cgroup_wait_for (const char *dir, const char *file, const char *want, GError **error)
{
  for (int i = 0; i < 1000; i++) /* 10 s */
    {
      g_autofree char *s = ferry_cgroup_read (dir, file);
      if (s == NULL)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s/%s: %s", dir, file, g_strerror (saved));
          return FALSE;
        }
      if (g_str_equal (s, want))
        return TRUE;
      g_auto (GStrv) lines = g_strsplit (s, "\n", -1);
      for (char **l = lines; *l != NULL; l++)
        if (g_str_equal (*l, want))
          return TRUE;
      g_usleep (10000);
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Timed out waiting for \"%s\" in %s/%s", want, dir, file);
  return FALSE;
}

/* Expands a cpuset list into a boolean array; FALSE on syntax error. */
static gboolean
parse_cpu_list (const char *list, gboolean *cpus, int max)
{
  g_auto (GStrv) parts = g_strsplit (list, ",", -1);

  for (char **p = parts; *p != NULL; p++)
    {
      char *end = NULL;
      const char *s = g_strstrip (*p);
      if (*s == '\0')
        continue;
      guint64 a = g_ascii_strtoull (s, &end, 10);
      guint64 b = a;
      if (end == s)
        return FALSE;
      if (*end == '-')
        {
          const char *s2 = end + 1;
          b = g_ascii_strtoull (s2, &end, 10);
          if (end == s2)
            return FALSE;
        }
      if (*end != '\0' || a > b || b >= (guint64) max)
        return FALSE;
      for (guint64 c = a; c <= b; c++)
        cpus[c] = TRUE;
    }
  return TRUE;
}

char *
ferry_cgroup_resolve_cpus (const char *spec, const char *available, GError **error)
{
  enum { MAX_CPUS = 4096 };
  g_autofree gboolean *avail = g_new0 (gboolean, MAX_CPUS);
  gboolean is_count = spec[0] != '\0' && strspn (spec, "0123456789") == strlen (spec);

  if (!is_count)
    {
      g_autofree gboolean *want = g_new0 (gboolean, MAX_CPUS);
      if (!parse_cpu_list (spec, want, MAX_CPUS))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid limits.cpu \"%s\"", spec);
          return NULL;
        }
      return g_strdup (spec);
    }

  guint64 count = g_ascii_strtoull (spec, NULL, 10);
  if (available == NULL || !parse_cpu_list (available, avail, MAX_CPUS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Cannot read the CPUs available to the cgroup parent");
      return NULL;
    }
  guint64 have = 0;
  for (int c = 0; c < MAX_CPUS; c++)
    have += avail[c] ? 1 : 0;
  if (count == 0 || count > have)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "limits.cpu asks for %s CPUs but %" G_GUINT64_FORMAT " are available", spec, have);
      return NULL;
    }
  GString *out = g_string_new (NULL);
  for (int c = 0; c < MAX_CPUS && count > 0; c++)
    if (avail[c])
      {
        g_string_append_printf (out, "%s%d", out->len ? "," : "", c);
        count--;
      }
  return g_string_free (out, FALSE);
}

gboolean
ferry_cgroup_relpath_valid (const char *relpath)
{
  if (relpath == NULL || relpath[0] == '\0' || relpath[0] == '/')
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (relpath, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    if (**p == '\0' || g_str_equal (*p, ".") || g_str_equal (*p, ".."))
      return FALSE;
  return TRUE;
}

/* The name of a hierarchy in a subtree list: its mount point below
 * /sys/fs/cgroup, "." for /sys/fs/cgroup itself (or any other root). */
static const char *
hierarchy_key (const char *mountpoint)
{
  if (g_str_has_prefix (mountpoint, "/sys/fs/cgroup/"))
    return mountpoint + strlen ("/sys/fs/cgroup/");
  return ".";
}

/* The files of cgroup DIR that are not host root's, "NAME=UID:GID" joined by
 * commas: the cgroup files systemd delegates (cgroup.procs, ...), or all of
 * them in a cgroup an unprivileged container's root made. */
static void
list_owned_files (GString *out, const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  gboolean first = TRUE;

  if (d == NULL)
    return;
  for (const char *e; (e = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *path = g_build_filename (dir, e, NULL);
      struct stat st;
      if (lstat (path, &st) < 0 || !S_ISREG (st.st_mode) || (st.st_uid == 0 && st.st_gid == 0)
          || strpbrk (e, "\t\n,=:") != NULL)
        continue;
      g_string_append_printf (out, "%s%s=%u:%u", first ? "" : ",", e, (unsigned) st.st_uid, (unsigned) st.st_gid);
      first = FALSE;
    }
  g_dir_close (d);
}

static void
list_below (GString *out, const char *key, const char *top, const char *below)
{
  g_autofree char *dir = below ? g_build_filename (top, below, NULL) : g_strdup (top);
  GDir *d = g_dir_open (dir, 0, NULL);

  if (d == NULL)
    return;
  for (const char *e; (e = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *sub = below ? g_build_filename (below, e, NULL) : g_strdup (e);
      g_autofree char *path = g_build_filename (top, sub, NULL);
      struct stat st;
      /* Names with a tab or newline would break the list: none of
       * systemd's, and the kernel refuses nothing else we would need. */
      if (lstat (path, &st) < 0 || !S_ISDIR (st.st_mode) || strpbrk (sub, "\t\n") != NULL)
        continue;
      g_string_append_printf (out, "%s\t%o\t%u\t%u\t%s\t", key, (unsigned) (st.st_mode & 07777),
                              (unsigned) st.st_uid, (unsigned) st.st_gid, sub);
      list_owned_files (out, path);
      g_string_append_c (out, '\n');
      list_below (out, key, top, sub);
    }
  g_dir_close (d);
}

char *
ferry_cgroup_subtree_list (const FerryCgroupManager *m, const char *relpath)
{
  g_auto (GStrv) mounts = m->ops->mountpoints (m);
  GString *out = g_string_new (NULL);

  for (char **mp = mounts; *mp != NULL; mp++)
    {
      g_autofree char *top = g_build_filename (*mp, relpath, NULL);
      list_below (out, hierarchy_key (*mp), top, NULL);
    }
  return g_string_free (out, FALSE);
}

gboolean
ferry_cgroup_make_dir (const char *dir, gboolean *created, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *exclusive = g_build_filename (dir, "cpuset.cpu_exclusive", NULL);

  *created = FALSE;
  if (ferry_cgroup_mkdir (dir) < 0)
    {
      int saved = errno;
      if (saved == EEXIST)
        return TRUE;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating cgroup %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  *created = TRUE;
  /* A new v1 cpuset starts with no CPUs and memory nodes, and refuses
   * tasks (cpuset.cpu_exclusive is v1's alone). */
  if (!g_file_test (exclusive, G_FILE_TEST_EXISTS))
    return TRUE;
  for (const char *const *f = (const char *const[]) { "cpuset.cpus", "cpuset.mems", NULL }; *f; f++)
    {
      g_autofree char *v = ferry_cgroup_read (parent, *f);
      if (v != NULL && *v != '\0' && !ferry_cgroup_write (dir, *f, v, error))
        return FALSE;
    }
  return TRUE;
}

static void
chown_cgroup_file (const char *dir, const char *file, guint64 uid, guint64 gid)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  struct stat st;

  if (lstat (path, &st) == 0 && (st.st_uid != uid || st.st_gid != gid)
      && lchown (path, (uid_t) uid, (gid_t) gid) < 0)
    g_debug ("chown %s: %s", path, g_strerror (errno));
}

gboolean
ferry_cgroup_subtree_make (const FerryCgroupManager *m, const char *relpath, const char *list, GError **error)
{
  g_auto (GStrv) mounts = m->ops->mountpoints (m);
  g_auto (GStrv) lines = g_strsplit (list ? list : "", "\n", -1);

  /* Parents come before their children in the list. */
  for (char **l = lines; *l != NULL; l++)
    {
      g_auto (GStrv) f = g_strsplit (*l, "\t", 6);
      guint n = g_strv_length (f);
      const char *key = f[0], *sub = n >= 5 ? f[4] : NULL, *files = n == 6 ? f[5] : NULL;
      const char *mountpoint = NULL;
      guint64 mode = 0, uid = 0, gid = 0;

      if (**l == '\0')
        continue;
      if (sub == NULL || !g_ascii_string_to_unsigned (f[1], 8, 0, 07777, &mode, NULL)
          || !g_ascii_string_to_unsigned (f[2], 10, 0, G_MAXUINT32 - 1, &uid, NULL)
          || !g_ascii_string_to_unsigned (f[3], 10, 0, G_MAXUINT32 - 1, &gid, NULL))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid line in the checkpoint's cgroups: %s", *l);
          return FALSE;
        }
      if (!ferry_cgroup_relpath_valid (sub))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid cgroup path in the checkpoint: %s", sub);
          return FALSE;
        }
      for (char **mp = mounts; *mp != NULL && mountpoint == NULL; mp++)
        if (g_str_equal (hierarchy_key (*mp), key))
          mountpoint = *mp;
      if (mountpoint == NULL)
        continue;
      g_autofree char *dir = g_build_filename (mountpoint, relpath, sub, NULL);
      gboolean created;
      if (!ferry_cgroup_make_dir (dir, &created, error))
        return FALSE;
      if (created && chmod (dir, (mode_t) mode) < 0)
        g_debug ("chmod %s: %s", dir, g_strerror (errno));
      /* Owners as dumped, also of the cgroups CRIU made for the tasks: a
       * cgroup systemd delegated (user@UID.service) is its user's, with the
       * files through which the user's manager moves its processes; every
       * cgroup an unprivileged container's root made is its root's. */
      if (files != NULL)
        {
          chown_cgroup_file (dir, ".", uid, gid);
          g_auto (GStrv) owned = g_strsplit (files, ",", -1);
          for (char **o = owned; *o != NULL; o++)
            {
              g_auto (GStrv) kv = g_strsplit (*o, "=", 2);
              g_auto (GStrv) ids = kv[0] && kv[1] ? g_strsplit (kv[1], ":", 2) : NULL;
              guint64 fu, fg;
              if (ids != NULL && ids[0] && ids[1] && *kv[0] != '\0' && strchr (kv[0], '/') == NULL
                  && !g_str_equal (kv[0], ".") && !g_str_equal (kv[0], "..")
                  && g_ascii_string_to_unsigned (ids[0], 10, 0, G_MAXUINT32 - 1, &fu, NULL)
                  && g_ascii_string_to_unsigned (ids[1], 10, 0, G_MAXUINT32 - 1, &fg, NULL))
                chown_cgroup_file (dir, kv[0], fu, fg);
            }
        }
      else if (created && (uid != 0 || gid != 0))
        for (const char *const *file = (const char *const[]) { ".", "cgroup.procs", "cgroup.threads",
                                                               "cgroup.subtree_control", NULL };
             *file; file++)
          chown_cgroup_file (dir, *file, uid, gid);
    }
  return TRUE;
}
