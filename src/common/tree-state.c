#include "common/tree-state.h"

#include "common/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct
{
  guint64 digest;
  gint64 ctime_ns;
} Entry;

struct FerryTreeState
{
  GArray *entries;   /* guint64 digests, in walk order */
  GHashTable *paths; /* path relative to the tree ("." for its top) -> Entry * */
  gint64 taken_ns;   /* CLOCK_REALTIME when the walk began, less the margin */
  gboolean settled;
};

typedef struct
{
  GArray *entries;        /* taking: appended to */
  GHashTable *paths;      /* taking: filled */
  const GArray *expected; /* comparing: checked against */
  guint at;
  gboolean differs;
  gint64 newest_ctime_ns;
  dev_t dev;
  GString *path; /* the entry's path relative to the tree */
  gboolean fine_times; /* a ctime with nanoseconds seen */
  /* Listing changes: against STATE, into CHANGES; WHY if an entry could
   * not be read. */
  const FerryTreeState *state;
  GPtrArray *changes;
  const char *why;
} Walk;

/* FNV-1a over what identifies an entry and its last change. */
static guint64
digest (const char *name, const struct stat *st)
{
  guint64 h = 0xcbf29ce484222325ULL;
  const guint64 fields[] = {
    st->st_ino,  st->st_mode, st->st_nlink, st->st_uid, st->st_gid, (guint64) st->st_size, (guint64) st->st_ctim.tv_sec,
    (guint64) st->st_ctim.tv_nsec, (guint64) st->st_mtim.tv_sec, (guint64) st->st_mtim.tv_nsec, st->st_rdev,
  };

  for (const guchar *c = (const guchar *) name; *c != '\0'; c++)
    h = (h ^ *c) * 0x100000001b3ULL;
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    for (int b = 0; b < 8; b++)
      h = (h ^ ((fields[i] >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
  return h;
}

/* The key of the entry at W->path: "." for the top of the tree. */
static const char *
path_key (const Walk *w)
{
  return w->path->len > 0 ? w->path->str : ".";
}

/* Listing changes: entry W->path (not a directory's end) as it is now. A
 * changed directory stands for its entries' names (one added, removed or
 * renamed in it): "PATH/.", whose entries a sync then compares one by one,
 * deleting those gone. */
static gboolean
list_change (Walk *w, guint64 d, gint64 ctime_ns, const struct stat *st)
{
  const char *key = path_key (w);
  const Entry *was = g_hash_table_lookup (w->state->paths, key);

  /* A ctime as recent as the state could hide a change in the same tick. */
  if (was != NULL && was->digest == d && was->ctime_ns < w->state->taken_ns)
    return TRUE;
  if (S_ISDIR (st->st_mode))
    g_ptr_array_add (w->changes, w->path->len > 0 ? g_strconcat (key, "/.", NULL) : g_strdup ("."));
  else
    g_ptr_array_add (w->changes, g_strdup (key));
  return TRUE;
}

/* One entry; FALSE stops the walk (a difference found). */
static gboolean
visit (Walk *w, const char *name, const struct stat *st)
{
  guint64 d = digest (name, st);
  gint64 ctime_ns = (gint64) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;

  w->newest_ctime_ns = MAX (w->newest_ctime_ns, ctime_ns);
  w->fine_times = w->fine_times || st->st_ctim.tv_nsec != 0;
  if (w->changes != NULL)
    return g_str_equal (name, "..") || list_change (w, d, ctime_ns, st);
  if (w->entries != NULL)
    {
      g_array_append_val (w->entries, d);
      if (!g_str_equal (name, ".."))
        {
          Entry e = { d, ctime_ns };
          g_hash_table_insert (w->paths, g_strdup (path_key (w)), g_memdup2 (&e, sizeof e));
        }
      return TRUE;
    }
  if (w->at >= w->expected->len || g_array_index (w->expected, guint64, w->at) != d)
    {
      w->differs = TRUE;
      return FALSE;
    }
  w->at++;
  return TRUE;
}

/* A change seen, or an entry that could not be read: the trees differ
 * (taking, the state is unsettled). FALSE: stop walking (comparing). */
static gboolean
differs (Walk *w)
{
  w->differs = TRUE;
  if (w->changes != NULL)
    {
      w->why = "an entry could not be read";
      return FALSE;
    }
  return w->entries != NULL;
}

/* W->path becomes the path of entry NAME in it; returns the old length. */
static gsize
path_enter (Walk *w, const char *name)
{
  gsize len = w->path->len;

  if (len > 0)
    g_string_append_c (w->path, '/');
  g_string_append (w->path, name);
  return len;
}

/* The entries of directory FD (which it closes), depth first; FALSE when
 * the walk stops early. */
static gboolean
walk_dir (Walk *w, int fd)
{
  DIR *d = fdopendir (fd);
  struct dirent *e;
  gboolean go_on = TRUE;

  if (d == NULL)
    {
      close (fd);
      return differs (w);
    }
  while (go_on && (e = readdir (d)) != NULL)
    {
      struct stat st;
      int sub;
      gsize len;

      if (g_str_equal (e->d_name, ".") || g_str_equal (e->d_name, ".."))
        continue;
      len = path_enter (w, e->d_name);
      if (fstatat (dirfd (d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        go_on = differs (w); /* gone meanwhile */
      else if (!visit (w, e->d_name, &st))
        go_on = FALSE;
      else if (S_ISDIR (st.st_mode) && st.st_dev == w->dev)
        {
          if ((sub = openat (dirfd (d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            go_on = differs (w);
          else
            /* ".." after its entries: the end of the directory. */
            go_on = walk_dir (w, sub) && visit (w, "..", &st);
        }
      g_string_truncate (w->path, len);
    }
  closedir (d);
  return go_on;
}

static gboolean
walk (Walk *w, const char *dir, GError **error)
{
  struct stat st;
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0 || fstat (fd, &st) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Walking %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  w->dev = st.st_dev;
  if (visit (w, ".", &st))
    walk_dir (w, fd);
  else
    close (fd);
  return TRUE;
}

FerryTreeState *
ferry_tree_state_take (const char *dir, GError **error)
{
  return ferry_tree_state_take_full (dir, -1, error);
}

FerryTreeState *
ferry_tree_state_take_full (const char *dir, gint64 margin_ns, GError **error)
{
  struct timespec now;
  g_autoptr (GString) path = g_string_new (NULL);
  Walk w = {
    .entries = g_array_new (FALSE, FALSE, sizeof (guint64)),
    .paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
    .path = path,
  };
  FerryTreeState *state;
  gint64 start_ns;

  clock_gettime (CLOCK_REALTIME, &now);
  start_ns = (gint64) now.tv_sec * 1000000000 + now.tv_nsec;
  if (!walk (&w, dir, error))
    {
      g_array_unref (w.entries);
      g_hash_table_unref (w.paths);
      return NULL;
    }
  state = g_new0 (FerryTreeState, 1);
  state->entries = w.entries;
  state->paths = w.paths;
  /* A file system whose times have nanoseconds stamps them from the
   * kernel's coarse clock, at most a tick behind; else times may be whole
   * seconds (or two). */
  if (margin_ns < 0)
    margin_ns = w.fine_times ? FERRY_TREE_STATE_FINE_MARGIN_NS : FERRY_TREE_STATE_MARGIN_NS;
  state->taken_ns = start_ns - margin_ns;
  /* Changed during the walk, or too close to it for a coarse timestamp
   * to tell a later change apart: never "unchanged". */
  state->settled = !w.differs && w.newest_ctime_ns < state->taken_ns;
  return state;
}

gboolean
ferry_tree_state_unchanged (const FerryTreeState *state, const char *dir)
{
  g_autoptr (GString) path = g_string_new (NULL);
  Walk w = { .expected = state->entries, .path = path };

  if (!state->settled || !walk (&w, dir, NULL))
    return FALSE;
  return !w.differs && w.at == state->entries->len;
}

GPtrArray *
ferry_tree_state_changes (const FerryTreeState *state, const char *dir, const char **why)
{
  g_autoptr (GString) path = g_string_new (NULL);
  Walk w = {
    .path = path,
    .state = state,
    .changes = g_ptr_array_new_with_free_func (g_free),
  };

  /* An entry the state missed (gone while it was taken, or come back
   * since) is new now, and its directory changed: listed either way. */
  if (!walk (&w, dir, NULL))
    w.why = "the tree cannot be walked";
  if (w.why == NULL)
    return w.changes;
  *why = w.why;
  g_ptr_array_unref (w.changes);
  return NULL;
}

gboolean
ferry_tree_state_settled (const FerryTreeState *state)
{
  return state->settled;
}

guint
ferry_tree_state_entries (const FerryTreeState *state)
{
  return state->entries->len;
}

void
ferry_tree_state_free (FerryTreeState *state)
{
  if (state == NULL)
    return;
  g_array_unref (state->entries);
  g_hash_table_unref (state->paths);
  g_free (state);
}
