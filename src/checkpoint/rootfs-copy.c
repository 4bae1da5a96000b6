/* See rootfs-copy.h. */
#include "checkpoint/rootfs-copy.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/tree-changes.h"
#include "common/tree-state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct FerryRootfsCopy
{
  char *src, *dst, *cgroup;
  GThread *thread;
  GMutex lock;
  GCond cond;
  gboolean frozen, cancelled;
  FerryTreeState *state; /* taken before the copy read the tree */
  GError *error;         /* DST is not SRC */
};

/* A cgroup deeper than this, or more tasks than this, is not looked at
 * further: the copy is made whole (a tree cannot hide a mapping that way). */
#define MAX_CGROUP_DEPTH 16
#define MAX_TASKS 65536

static gboolean
cgroup_tasks (const char *dir, int depth, GArray *pids)
{
  g_autofree char *procs = g_build_filename (dir, "cgroup.procs", NULL);
  g_autofree char *text = depth <= MAX_CGROUP_DEPTH ? ferry_read_small_file (procs) : NULL;
  g_autoptr (GDir) d = NULL;
  gboolean ok = TRUE;

  if (text == NULL || (d = g_dir_open (dir, 0, NULL)) == NULL)
    return FALSE;
  for (char *p = text, *end;; p = end)
    {
      long pid = strtol (p, &end, 10);
      if (end == p)
        break;
      if (pid > 0)
        g_array_append_val (pids, pid);
    }
  for (const char *e; ok && pids->len <= MAX_TASKS && (e = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *sub = g_build_filename (dir, e, NULL);
      if (g_file_test (sub, G_FILE_TEST_IS_DIR) && !g_file_test (sub, G_FILE_TEST_IS_SYMLINK))
        ok = cgroup_tasks (sub, depth + 1, pids);
    }
  return ok && pids->len <= MAX_TASKS;
}

/* Adds to CHANGES (and SEEN) the files of the tree at SRC that task PID maps
 * shared and writable. FALSE when the copy should be made whole: such a
 * file has other names (each would have to be listed). */
static gboolean
add_mapped_files (int root, long pid, GPtrArray *changes, GHashTable *seen)
{
  g_autofree char *maps_path = g_strdup_printf ("/proc/%ld/maps", pid);
  FILE *maps = fopen (maps_path, "re");
  g_autofree char *line = NULL;
  gsize cap = 0;
  gboolean ok = TRUE;

  if (maps == NULL)
    return TRUE; /* gone (a zombie's parent reaped it) */
  for (ssize_t n; ok && (n = getline (&line, &cap, maps)) > 0;)
    {
      char range[64], perms[8];
      int path_at = 0;
      struct stat mapped, named;

      if (line[n - 1] == '\n')
        line[n - 1] = '\0';
      if (sscanf (line, "%63s %7s %*s %*s %*s %n", range, perms, &path_at) < 2 || path_at == 0
          || strlen (perms) < 4 || perms[1] != 'w' || perms[3] != 's' || line[path_at] != '/'
          || g_str_has_suffix (line + path_at, " (deleted)"))
        continue;
      g_autofree char *map_file = g_strdup_printf ("/proc/%ld/map_files/%s", pid, range);
      g_autofree char *dir_path = g_path_get_dirname (line + path_at + 1);
      g_autofree char *name = g_path_get_basename (line + path_at + 1);
      ferry_autofd int dir = -1;
      /* The path is the task's (its mounts): the file counts only when it is
       * the tree's entry of that name, looked up beneath the tree (the
       * tree's symlinks are the container's). */
      if (stat (map_file, &mapped) < 0
          || (dir = ferry_changes_open_dir (root, dir_path, O_PATH)) < 0
          || fstatat (dir, name, &named, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (named.st_mode)
          || mapped.st_dev != named.st_dev || mapped.st_ino != named.st_ino)
        continue;
      if (named.st_nlink > 1)
        ok = FALSE;
      else if (g_hash_table_add (seen, g_strdup (line + path_at + 1)))
        g_ptr_array_add (changes, g_strdup (line + path_at + 1));
    }
  fclose (maps);
  return ok;
}

/* What changed in the tree since STATE, with the files mapped shared and
 * writable. NULL with *WHY when the copy is to be made whole. */
static GPtrArray *
changes_now (FerryRootfsCopy *c, FerryTreeState *state, const char **why)
{
  g_autoptr (GPtrArray) changes = ferry_tree_state_changes (state, c->src, why);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GArray) pids = g_array_new (FALSE, FALSE, sizeof (long));
  ferry_autofd int root = -1;
  if (changes == NULL)
    return NULL;
  for (guint i = 0; i < changes->len; i++)
    g_hash_table_add (seen, g_strdup (g_ptr_array_index (changes, i)));
  if ((root = open (c->src, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || !cgroup_tasks (c->cgroup, 0, pids))
    {
      *why = "the tasks of the tree could not be listed";
      return NULL;
    }
  for (guint i = 0; i < pids->len; i++)
    if (!add_mapped_files (root, g_array_index (pids, long, i), changes, seen))
      {
        *why = "a file mapped shared and writable has other names";
        return NULL;
      }
  return g_steal_pointer (&changes);
}

static gpointer
catch_up_main (gpointer data)
{
  FerryRootfsCopy *c = data;
  g_autoptr (FerryTreeState) state = g_steal_pointer (&c->state);
  g_autoptr (GPtrArray) changes = NULL;
  const char *why = NULL;
  gint64 t0;

  if (state == NULL)
    return NULL;
  g_mutex_lock (&c->lock);
  while (!c->frozen && !c->cancelled)
    g_cond_wait (&c->cond, &c->lock);
  g_mutex_unlock (&c->lock);
  if (c->cancelled)
    return NULL;
  t0 = g_get_monotonic_time ();
  if ((changes = changes_now (c, state, &why)) == NULL)
    g_set_error (&c->error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s", why);
  else if (ferry_changes_copy (c->src, c->dst, changes, &c->error))
    g_debug ("rootfs copy: %u of %u entries copied again in the freeze (%" G_GINT64_FORMAT " ms)", changes->len,
             ferry_tree_state_entries (state), (g_get_monotonic_time () - t0) / 1000);
  return NULL;
}

FerryRootfsCopy *
ferry_rootfs_copy_start (const char *src, const char *dst, const char *tasks_cgroup)
{
  FerryRootfsCopy *c = g_new0 (FerryRootfsCopy, 1);

  c->src = g_strdup (src);
  c->dst = g_strdup (dst);
  c->cgroup = g_strdup (tasks_cgroup);
  g_mutex_init (&c->lock);
  g_cond_init (&c->cond);
  if ((c->state = ferry_tree_state_take (c->src, &c->error)) != NULL && !ferry_copy_tree (c->src, c->dst, &c->error))
    g_clear_pointer (&c->state, ferry_tree_state_free);
  c->thread = g_thread_new ("rootfs-copy", catch_up_main, c);
  return c;
}

static void
signal_thread (FerryRootfsCopy *c, gboolean *flag)
{
  g_mutex_lock (&c->lock);
  *flag = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
}

void
ferry_rootfs_copy_frozen (FerryRootfsCopy *c)
{
  signal_thread (c, &c->frozen);
}

static void
copy_free (FerryRootfsCopy *c)
{
  if (c->thread != NULL)
    g_thread_join (c->thread);
  g_clear_error (&c->error);
  g_clear_pointer (&c->state, ferry_tree_state_free);
  g_mutex_clear (&c->lock);
  g_cond_clear (&c->cond);
  g_free (c->src);
  g_free (c->dst);
  g_free (c->cgroup);
  g_free (c);
}

gboolean
ferry_rootfs_copy_finish (FerryRootfsCopy *c, GError **error)
{
  gboolean ok = TRUE;

  signal_thread (c, &c->frozen);
  g_thread_join (c->thread);
  c->thread = NULL;
  if (c->error != NULL)
    {
      g_message ("The rootfs copy made before the freeze is made whole again in it: %s", c->error->message);
      ok = ferry_rm_rf (c->dst, error) && ferry_copy_tree (c->src, c->dst, error);
    }
  copy_free (c);
  return ok;
}

void
ferry_rootfs_copy_cancel (FerryRootfsCopy *c)
{
  signal_thread (c, &c->cancelled);
  copy_free (c);
}
