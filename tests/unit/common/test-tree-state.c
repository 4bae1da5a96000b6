/* ferry_tree_state: a tree "unchanged" only when no entry changed since the
 * state was taken, and never when the state saw recent changes. */
#include "common/tree-state.h"
#include "common/fs.h"

#include <fcntl.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char *dir;
} Tree;

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

/* In place: the same inode, its directory untouched. */
static void
overwrite_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, text, strlen (text)), ==, (gssize) strlen (text));
  close (fd);
}

static void
tree_setup (Tree *t, gconstpointer data)
{
  g_autofree char *sub = NULL;
  g_autofree char *link = NULL;

  t->dir = g_dir_make_tmp ("ferry-tree-state-XXXXXX", NULL);
  g_assert_nonnull (t->dir);
  sub = g_build_filename (t->dir, "etc", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  write_file (t->dir, "etc/hostname", "c1\n");
  write_file (t->dir, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  write_file (t->dir, "data", "0123456789");
  link = g_build_filename (t->dir, "link", NULL);
  g_assert_cmpint (symlink ("/tmp", link), ==, 0);
  /* Later changes must land in a later tick of the timestamps' clock. */
  g_usleep (30000);
}

static void
tree_teardown (Tree *t, gconstpointer data)
{
  ferry_rm_rf (t->dir, NULL);
  g_free (t->dir);
}

static FerryTreeState *
take (Tree *t)
{
  g_autoptr (GError) error = NULL;
  FerryTreeState *s = ferry_tree_state_take_full (t->dir, 0, &error);

  g_assert_no_error (error);
  g_assert_nonnull (s);
  g_assert_true (ferry_tree_state_settled (s));
  g_usleep (30000);
  return s;
}

static void
test_unchanged (Tree *t, gconstpointer data)
{
  g_autoptr (FerryTreeState) s = take (t);

  /* . etc hostname passwd .. data link */
  g_assert_cmpuint (ferry_tree_state_entries (s), ==, 7);
  g_assert_true (ferry_tree_state_unchanged (s, t->dir));
  g_assert_true (ferry_tree_state_unchanged (s, t->dir));
}

static void
test_content (Tree *t, gconstpointer data)
{
  g_autoptr (FerryTreeState) s = take (t);
  /* Same size, same mtime set back: the ctime still tells. */
  g_autofree char *path = g_build_filename (t->dir, "data", NULL);
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  write_file (t->dir, "data", "9876543210");
  struct timespec times[2] = { st.st_atim, st.st_mtim };
  g_assert_cmpint (utimensat (AT_FDCWD, path, times, 0), ==, 0);
  g_assert_false (ferry_tree_state_unchanged (s, t->dir));
}

static void
test_mode_owner (Tree *t, gconstpointer data)
{
  g_autoptr (FerryTreeState) s = take (t);
  g_autofree char *path = g_build_filename (t->dir, "etc", "passwd", NULL);
  g_assert_cmpint (chmod (path, 0600), ==, 0);
  g_assert_false (ferry_tree_state_unchanged (s, t->dir));
}

static void
test_added_removed_renamed (Tree *t, gconstpointer data)
{
  g_autofree char *a = g_build_filename (t->dir, "etc", "hostname", NULL);
  g_autofree char *b = g_build_filename (t->dir, "etc", "hostname2", NULL);
  {
    g_autoptr (FerryTreeState) s = take (t);
    write_file (t->dir, "etc/new", "");
    g_assert_false (ferry_tree_state_unchanged (s, t->dir));
  }
  {
    g_autoptr (FerryTreeState) s = take (t);
    g_assert_cmpint (g_unlink (a), ==, 0);
    g_assert_false (ferry_tree_state_unchanged (s, t->dir));
  }
  write_file (t->dir, "etc/hostname2", "x");
  g_usleep (30000);
  {
    g_autoptr (FerryTreeState) s = take (t);
    g_assert_cmpint (g_rename (b, a), ==, 0);
    g_assert_false (ferry_tree_state_unchanged (s, t->dir));
  }
}

/* A symlink is an entry, not a way out: what it points to is not walked. */
static void
test_symlink_not_followed (Tree *t, gconstpointer data)
{
  g_autofree char *outside = g_dir_make_tmp ("ferry-tree-outside-XXXXXX", NULL);
  g_autofree char *link = g_build_filename (t->dir, "out", NULL);
  g_assert_cmpint (symlink (outside, link), ==, 0);
  g_usleep (30000);
  {
    g_autoptr (FerryTreeState) s = take (t);
    write_file (outside, "file", "changed");
    g_assert_true (ferry_tree_state_unchanged (s, t->dir));
  }
  ferry_rm_rf (outside, NULL);
}

/* Changes just before the state was taken: a coarse timestamp could hide a
 * later one, so such a state never says "unchanged". */
static void
test_recent_is_unsettled (Tree *t, gconstpointer data)
{
  g_autoptr (FerryTreeState) s = NULL;
  write_file (t->dir, "data", "fresh");
  s = ferry_tree_state_take (t->dir, NULL);
  g_assert_nonnull (s);
  g_assert_false (ferry_tree_state_settled (s));
  g_assert_false (ferry_tree_state_unchanged (s, t->dir));
}

/* On a file system with nanosecond times (this one: its ctimes have
 * them), a change is recent for a tenth of a second, not two seconds:
 * a container moved just after its launch or arrival lists its changes. */
static void
test_recent_margin_follows_the_times (Tree *t, gconstpointer data)
{
  g_autoptr (FerryTreeState) s = NULL;
  struct stat st;

  write_file (t->dir, "data", "fresh");
  g_assert_cmpint (lstat (t->dir, &st), ==, 0);
  if (st.st_ctim.tv_nsec == 0)
    {
      g_test_skip ("this file system's times are whole seconds");
      return;
    }
  g_usleep (FERRY_TREE_STATE_FINE_MARGIN_NS / 1000 + 50000);
  s = ferry_tree_state_take (t->dir, NULL);
  g_assert_nonnull (s);
  g_assert_true (ferry_tree_state_settled (s));
  g_assert_true (ferry_tree_state_unchanged (s, t->dir));
}

static gint
by_name (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The changes as one sorted, space-separated string ("" for none); "NULL:
 * WHY" when they cannot be listed. */
static char *
changes (FerryTreeState *s, Tree *t)
{
  const char *why = NULL;
  g_autoptr (GPtrArray) list = ferry_tree_state_changes (s, t->dir, &why);

  if (list == NULL)
    return g_strconcat ("NULL: ", why, NULL);
  g_ptr_array_sort (list, by_name);
  g_ptr_array_add (list, NULL);
  return g_strjoinv (" ", (char **) list->pdata);
}

/* What changed, by path: a file's content, a name added or removed (its
 * directory, "D/."), a new directory and what is in it. */
static void
test_changes (Tree *t, gconstpointer data)
{
  g_autofree char *host = g_build_filename (t->dir, "etc", "hostname", NULL);
  g_autofree char *dir = g_build_filename (t->dir, "var", NULL);
  {
    g_autoptr (FerryTreeState) s = take (t);
    g_autofree char *none = changes (s, t);
    g_assert_cmpstr (none, ==, "");
    overwrite_file (t->dir, "data", "9876543210");
    g_autofree char *one = changes (s, t);
    g_assert_cmpstr (one, ==, "data");
    write_file (t->dir, "etc/new", "");
    g_assert_cmpint (g_unlink (host), ==, 0);
    g_autofree char *three = changes (s, t);
    g_assert_cmpstr (three, ==, "data etc/. etc/new");
  }
  {
    g_autoptr (FerryTreeState) s = take (t);
    g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
    write_file (t->dir, "var/log", "x");
    g_autofree char *tree = changes (s, t);
    g_assert_cmpstr (tree, ==, ". var/. var/log");
  }
}

/* A changed file's other names change with it (they share its ctime):
 * all listed, so a sync keeps them one file. */
static void
test_changes_links (Tree *t, gconstpointer data)
{
  g_autofree char *a = g_build_filename (t->dir, "data", NULL);
  g_autofree char *b = g_build_filename (t->dir, "data2", NULL);
  g_assert_cmpint (link (a, b), ==, 0);
  g_usleep (30000);
  {
    g_autoptr (FerryTreeState) s = take (t);
    overwrite_file (t->dir, "etc/passwd", "root::0:0::/:/bin/sh\n");
    g_autofree char *ok = changes (s, t);
    g_assert_cmpstr (ok, ==, "etc/passwd");
    g_assert_cmpint (chmod (a, 0600), ==, 0);
    g_autofree char *linked = changes (s, t);
    g_assert_cmpstr (linked, ==, "data data2 etc/passwd");
  }
}

/* A state taken just after a write lists the file, unchanged since: a
 * coarse timestamp could hide a change in the same tick. */
static void
test_changes_recent (Tree *t, gconstpointer data)
{
  g_autoptr (FerryTreeState) s = NULL;

  overwrite_file (t->dir, "etc/hostname", "fresh");
  s = ferry_tree_state_take (t->dir, NULL);
  g_assert_nonnull (s);
  g_autofree char *recent = changes (s, t);
  g_assert_nonnull (strstr (recent, "etc/hostname"));
}

static void
test_missing_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (ferry_tree_state_take ("/nonexistent/ferry-tree", &error));
  g_assert_nonnull (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/tree-state/unchanged", Tree, NULL, tree_setup, test_unchanged, tree_teardown);
  g_test_add ("/tree-state/content", Tree, NULL, tree_setup, test_content, tree_teardown);
  g_test_add ("/tree-state/mode", Tree, NULL, tree_setup, test_mode_owner, tree_teardown);
  g_test_add ("/tree-state/added-removed-renamed", Tree, NULL, tree_setup, test_added_removed_renamed, tree_teardown);
  g_test_add ("/tree-state/symlink", Tree, NULL, tree_setup, test_symlink_not_followed, tree_teardown);
  g_test_add ("/tree-state/recent", Tree, NULL, tree_setup, test_recent_is_unsettled, tree_teardown);
  g_test_add ("/tree-state/recent-margin", Tree, NULL, tree_setup, test_recent_margin_follows_the_times,
              tree_teardown);
  g_test_add ("/tree-state/changes", Tree, NULL, tree_setup, test_changes, tree_teardown);
  g_test_add ("/tree-state/changes-links", Tree, NULL, tree_setup, test_changes_links, tree_teardown);
  g_test_add ("/tree-state/changes-recent", Tree, NULL, tree_setup, test_changes_recent, tree_teardown);
  g_test_add_func ("/tree-state/missing", test_missing_dir);
  return g_test_run ();
}
