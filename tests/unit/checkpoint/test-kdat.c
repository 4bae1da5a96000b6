/* CRIU's kernel-feature cache directory: root's own, on a tmpfs; a name
 * somebody else took on /dev/shm (everybody may create there) is never
 * used. */
#include "checkpoint/checkpoint.h"
#include "common/fs.h"

#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
test_path (const char *what)
{
  return g_strdup_printf ("/dev/shm/ferry-test-kdat-%s-%d", what, (int) getpid ());
}

static void
assert_private (const char *dir)
{
  struct stat st;

  g_assert_cmpint (lstat (dir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpuint (st.st_uid, ==, 0);
  g_assert_cmpuint (st.st_mode & 0077, ==, 0);
}

static void
test_made (void)
{
  g_autofree char *want = test_path ("made");
  g_autofree char *got = ferry_criu_kdat_dir_choose (want);

  g_assert_cmpstr (got, ==, want);
  assert_private (got);
  /* Again: the same one. */
  g_free (got);
  got = ferry_criu_kdat_dir_choose (want);
  g_assert_cmpstr (got, ==, want);
  g_rmdir (want);
}

static void
check_taken (const char *want)
{
  g_autofree char *got = ferry_criu_kdat_dir_choose (want);

  g_assert_nonnull (got);
  g_assert_cmpstr (got, !=, want);
  g_assert_true (g_str_has_prefix (got, want));
  assert_private (got);
  g_rmdir (got);
}

static void
test_taken_by_another_user (void)
{
  g_autofree char *want = test_path ("other");

  if (geteuid () != 0)
    {
      g_test_skip ("needs root (chown)");
      return;
    }
  g_assert_cmpint (g_mkdir (want, 0700), ==, 0);
  g_assert_cmpint (chown (want, 65534, 65534), ==, 0);
  check_taken (want);
  g_rmdir (want);
}

static void
test_open_to_others (void)
{
  g_autofree char *want = test_path ("open");

  g_assert_cmpint (g_mkdir (want, 0700), ==, 0);
  g_assert_cmpint (chmod (want, 0777), ==, 0);
  check_taken (want);
  g_rmdir (want);
}

static void
test_symlink (void)
{
  g_autofree char *want = test_path ("link");
  g_autofree char *target = g_dir_make_tmp ("ferry-kdat-target-XXXXXX", NULL);

  g_assert_cmpint (symlink (target, want), ==, 0);
  check_taken (want);
  g_unlink (want);
  g_rmdir (target);
}

static void
test_not_tmpfs (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-kdat-XXXXXX", NULL);
  g_autofree char *want = g_build_filename (dir, "kdat", NULL);
  g_autofree char *got = NULL;

  if (g_str_has_prefix (dir, "/dev/shm"))
    {
      g_test_skip ("the temporary directory is on a tmpfs");
      return;
    }
  got = ferry_criu_kdat_dir_choose (want);
  /* /tmp may be a tmpfs too: then it is taken; else nothing. */
  if (got != NULL)
    assert_private (got);
  ferry_rm_rf (dir, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kdat/made", test_made);
  g_test_add_func ("/kdat/taken-by-another-user", test_taken_by_another_user);
  g_test_add_func ("/kdat/open-to-others", test_open_to_others);
  g_test_add_func ("/kdat/symlink", test_symlink);
  g_test_add_func ("/kdat/not-tmpfs", test_not_tmpfs);
  return g_test_run ();
}
