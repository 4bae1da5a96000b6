/* The database holds the trust password's hash: its files are the owner's
 * alone, whatever the umask, also when an older ferryd made them 0644. */
#include "common/error.h"
#include "common/fs.h"
#include "db/db.h"

#include <sqlite3.h>
#include <string.h>
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

static void
insert_instance (FerryDb *db, const char *name, const char *config)
{
  FerryDbInstance row = { .name = (char *) name, .description = (char *) "", .architecture = (char *) "x86_64",
                          .config_json = (char *) config, .devices_json = (char *) "{}",
                          .profiles_json = (char *) "[\"default\"]" };
  g_autoptr (GError) error = NULL;

  g_assert_true (ferry_db_instance_insert (db, &row, &error));
  g_assert_no_error (error);
}

static const char *
config_of (GPtrArray *rows, const char *name)
{
  for (guint i = 0; i < rows->len; i++)
    {
      FerryDbInstance *r = g_ptr_array_index (rows, i);
      if (g_str_equal (r->name, name))
        return r->config_json;
    }
  g_assert_not_reached ();
}

/* Containers made before unprivileged became the default stay privileged
 * (schema 3), but those that already ran with a user namespace's map. */
static void
test_privileged_migration (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-test-db-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ferry.db", NULL);
  g_autoptr (GError) error = NULL;
  const char *userns = "{\"volatile.idmap.current\":\"[{\\\"Isuid\\\":true,\\\"Isgid\\\":false,"
                       "\\\"Hostid\\\":100000,\\\"Nsid\\\":0,\\\"Maprange\\\":65536}]\"}";
  FerryDb *db = ferry_db_open (path, &error);
  sqlite3 *raw;

  g_assert_no_error (error);
  insert_instance (db, "old", "{\"limits.cpu\":\"1\"}");
  insert_instance (db, "asked", "{\"security.privileged\":\"false\"}");
  insert_instance (db, "ran-userns", userns);
  insert_instance (db, "ran-privileged", "{\"volatile.idmap.current\":\"[]\"}");
  {
    g_autoptr (GPtrArray) rows = ferry_db_instance_list (db, &error);
    FerryDbSnapshot snap = { .instance_id = ((FerryDbInstance *) g_ptr_array_index (rows, 0))->id,
                             .name = (char *) "s", .description = (char *) "", .config_json = (char *) "{}",
                             .devices_json = (char *) "{}", .profiles_json = (char *) "[]",
                             .architecture = (char *) "x86_64" };
    g_assert_true (ferry_db_snapshot_insert (db, &snap, &error));
  }
  ferry_db_close (db);
  /* As schema 2 left them. */
  g_assert_cmpint (sqlite3_open (path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "PRAGMA user_version = 2", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (raw);

  db = ferry_db_open (path, &error);
  g_assert_no_error (error);
  {
    g_autoptr (GPtrArray) rows = ferry_db_instance_list (db, &error);
    g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list_all (db, &error);
    g_assert_cmpstr (config_of (rows, "old"), ==, "{\"limits.cpu\":\"1\",\"security.privileged\":\"true\"}");
    g_assert_cmpstr (config_of (rows, "asked"), ==, "{\"security.privileged\":\"false\"}");
    g_assert_cmpstr (config_of (rows, "ran-userns"), ==, userns);
    g_assert_nonnull (strstr (config_of (rows, "ran-privileged"), "\"security.privileged\":\"true\""));
    g_assert_cmpuint (snaps->len, ==, 1);
    g_assert_cmpstr (((FerryDbSnapshot *) g_ptr_array_index (snaps, 0))->config_json, ==,
                     "{\"security.privileged\":\"true\"}");
  }
  ferry_db_close (db);
  g_assert_true (ferry_rm_rf (dir, NULL));
}

/* Schema 5 adds the pools: a database of schema 4 gets the "default" dir
 * pool, its instances untouched; pools then round-trip. */
static void
test_pools_migration (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-test-db-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ferry.db", NULL);
  g_autoptr (GError) error = NULL;
  FerryDb *db = ferry_db_open (path, &error);
  sqlite3 *raw;

  g_assert_no_error (error);
  insert_instance (db, "old", "{}");
  ferry_db_close (db);
  g_assert_cmpint (sqlite3_open (path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "DROP TABLE storage_pools; PRAGMA user_version = 4", NULL, NULL, NULL), ==,
                   SQLITE_OK);
  sqlite3_close (raw);

  db = ferry_db_open (path, &error);
  g_assert_no_error (error);
  {
    g_autoptr (GPtrArray) pools = ferry_db_pool_list (db, &error);
    g_autoptr (GPtrArray) rows = ferry_db_instance_list (db, &error);
    FerryDbPool p1 = { .name = (char *) "p1", .driver = (char *) "btrfs", .description = (char *) "",
                       .config_json = (char *) "{\"size\":\"5GiB\"}" };
    g_assert_cmpuint (pools->len, ==, 1);
    g_assert_cmpstr (((FerryDbPool *) g_ptr_array_index (pools, 0))->name, ==, "default");
    g_assert_cmpstr (((FerryDbPool *) g_ptr_array_index (pools, 0))->driver, ==, "dir");
    g_assert_cmpuint (rows->len, ==, 1);
    g_assert_true (ferry_db_pool_insert (db, &p1, &error));
    g_assert_false (ferry_db_pool_insert (db, &p1, &error));
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
    g_clear_error (&error);
    p1.description = (char *) "fast";
    g_assert_true (ferry_db_pool_update (db, &p1, &error));
  }
  {
    g_autoptr (GPtrArray) pools = ferry_db_pool_list (db, &error);
    g_assert_cmpuint (pools->len, ==, 2);
    g_assert_cmpstr (((FerryDbPool *) g_ptr_array_index (pools, 1))->description, ==, "fast");
    g_assert_true (ferry_db_pool_delete (db, "p1", &error));
    g_assert_false (ferry_db_pool_delete (db, "p1", &error));
    g_clear_error (&error);
  }
  ferry_db_close (db);
  g_assert_true (ferry_rm_rf (dir, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/db/files-private", test_files_private);
  g_test_add_func ("/db/privileged-migration", test_privileged_migration);
  g_test_add_func ("/db/pools-migration", test_pools_migration);
  return g_test_run ();
}
