/* The database holds the trust password's hash: its files are the owner's
 * alone, whatever the umask, also when an older ferryd made them 0644. */
#include "common/error.h"
#include "db/db.h"

#include <sys/stat.h>
#include <unistd.h>

static void
assert_mode (const char *path, mode_t want)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, want);
}

static void
test_files_private (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-test-db-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ferry.db", NULL);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);
  g_autoptr (GError) error = NULL;
  mode_t old_umask = umask (022);
  FerryDb *db;

  /* A new database under a permissive umask. */
  db = ferry_db_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (ferry_db_config_set (db, "core.trust_password", "hash", &error));
  assert_mode (path, 0600);
  assert_mode (wal, 0600);
  assert_mode (shm, 0600);
  ferry_db_close (db);

  /* What an older ferryd left: world-readable files, tightened at open. */
  g_assert_cmpint (chmod (path, 0644), ==, 0);
  db = ferry_db_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (ferry_db_config_set (db, "core.trust_password", "hash2", &error));
  assert_mode (path, 0600);
  assert_mode (wal, 0600);
  assert_mode (shm, 0600);
  ferry_db_close (db);

  umask (old_umask);
  for (const char *const *f = (const char *const[]) { wal, shm, path, NULL }; *f; f++)
    unlink (*f);
  g_assert_cmpint (rmdir (dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/db/files-private", test_files_private);
  return g_test_run ();
}
