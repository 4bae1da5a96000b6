#include "db/db.h"
#include "common/error.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

struct FerryDb
{
  sqlite3 *handle;
};

/* Schema versions, applied in order; PRAGMA user_version says how many ran. */
static const char *const schema_updates[] = {
  "CREATE TABLE instances ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  name TEXT NOT NULL UNIQUE,"
  "  description TEXT NOT NULL DEFAULT '',"
  "  architecture TEXT NOT NULL,"
  "  ephemeral INTEGER NOT NULL DEFAULT 0,"
  "  stateful INTEGER NOT NULL DEFAULT 0,"
  "  created_at INTEGER NOT NULL,"
  "  last_used_at INTEGER NOT NULL DEFAULT 0,"
  "  config TEXT NOT NULL DEFAULT '{}',"
  "  devices TEXT NOT NULL DEFAULT '{}',"
  "  profiles TEXT NOT NULL DEFAULT '[\"default\"]');"
  "CREATE TABLE snapshots ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
  "  name TEXT NOT NULL,"
  "  description TEXT NOT NULL DEFAULT '',"
  "  stateful INTEGER NOT NULL DEFAULT 0,"
  "  created_at INTEGER NOT NULL,"
  "  expires_at INTEGER NOT NULL DEFAULT 0,"
  "  config TEXT NOT NULL DEFAULT '{}',"
  "  devices TEXT NOT NULL DEFAULT '{}',"
  "  profiles TEXT NOT NULL DEFAULT '[]',"
  "  architecture TEXT NOT NULL DEFAULT '',"
  "  ephemeral INTEGER NOT NULL DEFAULT 0,"
  "  UNIQUE (instance_id, name));"
  "CREATE TABLE images ("
  "  fingerprint TEXT PRIMARY KEY,"
  "  filename TEXT NOT NULL DEFAULT '',"
  "  size INTEGER NOT NULL DEFAULT 0,"
  "  architecture TEXT NOT NULL DEFAULT '',"
  "  public INTEGER NOT NULL DEFAULT 0,"
  "  created_at INTEGER NOT NULL DEFAULT 0,"
  "  uploaded_at INTEGER NOT NULL DEFAULT 0,"
  "  last_used_at INTEGER NOT NULL DEFAULT 0,"
  "  properties TEXT NOT NULL DEFAULT '{}');"
  "CREATE TABLE image_aliases ("
  "  name TEXT PRIMARY KEY,"
  "  fingerprint TEXT NOT NULL REFERENCES images (fingerprint) ON DELETE CASCADE,"
  "  description TEXT NOT NULL DEFAULT '');"
  "CREATE TABLE profiles ("
  "  name TEXT PRIMARY KEY,"
  "  description TEXT NOT NULL DEFAULT '',"
  "  config TEXT NOT NULL DEFAULT '{}',"
  "  devices TEXT NOT NULL DEFAULT '{}');"
  "CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
  /* Trust store of the HTTPS API: client certificates trusted by fingerprint. */
  "CREATE TABLE certificates ("
  "  fingerprint TEXT PRIMARY KEY,"
  "  type TEXT NOT NULL DEFAULT 'client',"
  "  name TEXT NOT NULL DEFAULT '',"
  "  certificate TEXT NOT NULL,"
  "  restricted INTEGER NOT NULL DEFAULT 0);",
  /* Containers are unprivileged unless security.privileged says otherwise:
   * those made before were privileged (all but the ones that ran with a
   * user namespace's map) and stay so, their snapshots too. */
  "UPDATE instances SET config = json_set (config, '$.\"security.privileged\"', 'true')"
  "  WHERE json_extract (config, '$.\"security.privileged\"') IS NULL"
  "  AND COALESCE (json_extract (config, '$.\"volatile.idmap.current\"'), '[]') = '[]';"
  "UPDATE snapshots SET config = json_set (config, '$.\"security.privileged\"', 'true')"
  "  WHERE json_extract (config, '$.\"security.privileged\"') IS NULL"
  "  AND COALESCE (json_extract (config, '$.\"volatile.idmap.current\"'), '[]') = '[]';",
  /* Intents: an operation that changes an instance's files records what it
   * is about to do before it starts, and settles the record in the same
   * transaction as its outcome; ferryd resolves what is left at start. */
  "CREATE TABLE IF NOT EXISTS intents ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  instance TEXT NOT NULL,"
  "  op TEXT NOT NULL,"
  "  data TEXT NOT NULL DEFAULT '{}',"
  "  created_at INTEGER NOT NULL);",
  /* Storage pools: the "default" dir pool is where instances always lived
   * (ROOT/containers, ROOT/snapshots), so existing instances belong to it. */
  "CREATE TABLE IF NOT EXISTS storage_pools ("
  "  name TEXT PRIMARY KEY,"
  "  driver TEXT NOT NULL,"
  "  description TEXT NOT NULL DEFAULT '',"
  "  config TEXT NOT NULL DEFAULT '{}');"
  "INSERT OR IGNORE INTO storage_pools (name, driver) VALUES ('default', 'dir');",
};

static gboolean
db_fail (FerryDb *db, const char *what, GError **error)
{
  int code = sqlite3_extended_errcode (db->handle);
  FerryErrorCode ferry_code = FERRY_ERROR_FAILED;

  if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
    ferry_code = FERRY_ERROR_CONFLICT;
  g_set_error (error, FERRY_ERROR, ferry_code, "Database: %s: %s", what, sqlite3_errmsg (db->handle));
  return FALSE;
}

/* Prepares sql and binds arguments described by types: 's' text, 'i' gint64,
 * 'b' gboolean. */
static sqlite3_stmt *
db_prepare (FerryDb *db, GError **error, const char *sql, const char *types, va_list ap)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (db->handle, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      db_fail (db, "prepare", error);
      return NULL;
    }
  for (int i = 0; types != NULL && types[i] != '\0'; i++)
    {
      int rc;
      switch (types[i])
        {
        case 's':
          rc = sqlite3_bind_text (stmt, i + 1, va_arg (ap, const char *), -1, SQLITE_TRANSIENT);
          break;
        case 'i':
          rc = sqlite3_bind_int64 (stmt, i + 1, va_arg (ap, gint64));
          break;
        case 'b':
          rc = sqlite3_bind_int (stmt, i + 1, va_arg (ap, gboolean) ? 1 : 0);
          break;
        default:
          g_assert_not_reached ();
        }
      if (rc != SQLITE_OK)
        {
          db_fail (db, "bind", error);
          sqlite3_finalize (stmt);
          return NULL;
        }
    }
  return stmt;
}

/* Runs a statement that returns no rows; *changes gets the affected row count. */
static gboolean
db_exec (FerryDb *db, GError **error, int *changes, const char *sql, const char *types, ...)
{
  va_list ap;
  sqlite3_stmt *stmt;
  int rc;

  va_start (ap, types);
  stmt = db_prepare (db, error, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return db_fail (db, "write", error);
  if (changes != NULL)
    *changes = sqlite3_changes (db->handle);
  return TRUE;
}

/* Like db_exec, but a statement that touched no row is NOT_FOUND. */
static gboolean
db_exec_one (FerryDb *db, GError **error, const char *what, const char *sql, const char *types, ...)
{
  va_list ap;
  sqlite3_stmt *stmt;
  int rc;

  va_start (ap, types);
  stmt = db_prepare (db, error, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return db_fail (db, "write", error);
  if (sqlite3_changes (db->handle) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "%s not found", what);
      return FALSE;
    }
  return TRUE;
}

typedef gpointer (*RowReader) (sqlite3_stmt *stmt);

static GPtrArray *
db_query (FerryDb *db, GError **error, RowReader reader, GDestroyNotify free_row, const char *sql, const char *types,
          ...)
{
  va_list ap;
  sqlite3_stmt *stmt;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (free_row);
  int rc;

  va_start (ap, types);
  stmt = db_prepare (db, error, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (rows, reader (stmt));
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      db_fail (db, "read", error);
      return NULL;
    }
  return g_steal_pointer (&rows);
}

static char *
column_text (sqlite3_stmt *stmt, int col)
{
  const unsigned char *text = sqlite3_column_text (stmt, col);
  return g_strdup (text ? (const char *) text : "");
}

/* The database holds the trust password's hash and every config value:
 * 0600, it and the -wal and -shm files SQLite gives the database's mode,
 * also when an older ferryd made them 0644. */
static gboolean
restrict_to_owner (const char *path, GError **error)
{
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };

  for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (path, suffixes[i], NULL);
      if (chmod (file, 0600) < 0 && errno != ENOENT)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Making database file %s private: %s", file,
                       g_strerror (saved));
          return FALSE;
        }
    }
  return TRUE;
}

FerryDb *
ferry_db_open (const char *path, GError **error)
{
  g_autofree FerryDb *db = g_new0 (FerryDb, 1);
  sqlite3_stmt *stmt = NULL;
  int version = 0;

  if (!restrict_to_owner (path, error))
    return NULL;
  if (sqlite3_open_v2 (path, &db->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening database %s: %s", path,
                   db->handle ? sqlite3_errmsg (db->handle) : "out of memory");
      sqlite3_close (db->handle);
      return NULL;
    }
  sqlite3_busy_timeout (db->handle, 5000);
  if (sqlite3_exec (db->handle, "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
                    NULL, NULL, NULL)
      != SQLITE_OK)
    goto fail;
  /* A new database was made with the umask's mode, and its -wal with it. */
  if (!restrict_to_owner (path, error))
    {
      sqlite3_close (db->handle);
      return NULL;
    }
  if (sqlite3_prepare_v2 (db->handle, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  if (version > (int) G_N_ELEMENTS (schema_updates))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                   "Database %s has schema version %d, newer than this ferryd knows (%d)", path, version,
                   (int) G_N_ELEMENTS (schema_updates));
      sqlite3_close (db->handle);
      return NULL;
    }
  for (int v = version; v < (int) G_N_ELEMENTS (schema_updates); v++)
    {
      g_autofree char *sql = g_strdup_printf ("BEGIN; %s PRAGMA user_version = %d; COMMIT;", schema_updates[v], v + 1);
      if (sqlite3_exec (db->handle, sql, NULL, NULL, NULL) != SQLITE_OK)
        {
          sqlite3_exec (db->handle, "ROLLBACK", NULL, NULL, NULL);
          goto fail;
        }
    }
  return g_steal_pointer (&db);

fail:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Preparing database %s: %s", path, sqlite3_errmsg (db->handle));
  sqlite3_close (db->handle);
  return NULL;
}

void
ferry_db_close (FerryDb *db)
{
  if (db == NULL)
    return;
  sqlite3_close (db->handle);
  g_free (db);
}

gboolean
ferry_db_begin (FerryDb *db, GError **error)
{
  return db_exec (db, error, NULL, "BEGIN IMMEDIATE", NULL);
}

gboolean
ferry_db_commit (FerryDb *db, GError **error)
{
  return db_exec (db, error, NULL, "COMMIT", NULL);
}

void
ferry_db_rollback (FerryDb *db)
{
  sqlite3_exec (db->handle, "ROLLBACK", NULL, NULL, NULL);
}

/* Instances */

void
ferry_db_instance_free (FerryDbInstance *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  g_free (row->description);
  g_free (row->architecture);
  g_free (row->config_json);
  g_free (row->devices_json);
  g_free (row->profiles_json);
  g_free (row);
}

#define INSTANCE_COLUMNS \
  "id, name, description, architecture, ephemeral, stateful, created_at, last_used_at, config, devices, profiles"

static gpointer
read_instance (sqlite3_stmt *stmt)
{
  FerryDbInstance *row = g_new0 (FerryDbInstance, 1);

  row->id = sqlite3_column_int64 (stmt, 0);
  row->name = column_text (stmt, 1);
  row->description = column_text (stmt, 2);
  row->architecture = column_text (stmt, 3);
  row->ephemeral = sqlite3_column_int (stmt, 4) != 0;
  row->stateful = sqlite3_column_int (stmt, 5) != 0;
  row->created_at = sqlite3_column_int64 (stmt, 6);
  row->last_used_at = sqlite3_column_int64 (stmt, 7);
  row->config_json = column_text (stmt, 8);
  row->devices_json = column_text (stmt, 9);
  row->profiles_json = column_text (stmt, 10);
  return row;
}

GPtrArray *
ferry_db_instance_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_instance, (GDestroyNotify) ferry_db_instance_free,
                   "SELECT " INSTANCE_COLUMNS " FROM instances ORDER BY name", NULL);
}

gboolean
ferry_db_instance_insert (FerryDb *db, FerryDbInstance *row, GError **error)
{
  if (!db_exec (db, error, NULL,
                "INSERT INTO instances (name, description, architecture, ephemeral, stateful, created_at,"
                " last_used_at, config, devices, profiles) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                "sssbbiisss", row->name, row->description, row->architecture, row->ephemeral, row->stateful,
                row->created_at, row->last_used_at, row->config_json, row->devices_json, row->profiles_json))
    return FALSE;
  row->id = sqlite3_last_insert_rowid (db->handle);
  return TRUE;
}

gboolean
ferry_db_instance_update (FerryDb *db, const FerryDbInstance *row, GError **error)
{
  return db_exec_one (db, error, "Instance",
                      "UPDATE instances SET description = ?, architecture = ?, ephemeral = ?, stateful = ?,"
                      " last_used_at = ?, config = ?, devices = ?, profiles = ? WHERE id = ?",
                      "ssbbisssi", row->description, row->architecture, row->ephemeral, row->stateful,
                      row->last_used_at, row->config_json, row->devices_json, row->profiles_json, row->id);
}

gboolean
ferry_db_instance_rename (FerryDb *db, gint64 id, const char *new_name, GError **error)
{
  return db_exec_one (db, error, "Instance", "UPDATE instances SET name = ? WHERE id = ?", "si", new_name, id);
}

gboolean
ferry_db_instance_delete (FerryDb *db, gint64 id, GError **error)
{
  return db_exec_one (db, error, "Instance", "DELETE FROM instances WHERE id = ?", "i", id);
}

/* Snapshots */

void
ferry_db_snapshot_free (FerryDbSnapshot *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  g_free (row->description);
  g_free (row->config_json);
  g_free (row->devices_json);
  g_free (row->profiles_json);
  g_free (row->architecture);
  g_free (row);
}

static gpointer
read_snapshot (sqlite3_stmt *stmt)
{
  FerryDbSnapshot *row = g_new0 (FerryDbSnapshot, 1);

  row->id = sqlite3_column_int64 (stmt, 0);
  row->instance_id = sqlite3_column_int64 (stmt, 1);
  row->name = column_text (stmt, 2);
  row->description = column_text (stmt, 3);
  row->stateful = sqlite3_column_int (stmt, 4) != 0;
  row->created_at = sqlite3_column_int64 (stmt, 5);
  row->expires_at = sqlite3_column_int64 (stmt, 6);
  row->config_json = column_text (stmt, 7);
  row->devices_json = column_text (stmt, 8);
  row->profiles_json = column_text (stmt, 9);
  row->architecture = column_text (stmt, 10);
  row->ephemeral = sqlite3_column_int (stmt, 11) != 0;
  return row;
}

GPtrArray *
ferry_db_snapshot_list (FerryDb *db, gint64 instance_id, GError **error)
{
  return db_query (db, error, read_snapshot, (GDestroyNotify) ferry_db_snapshot_free,
                   "SELECT id, instance_id, name, description, stateful, created_at, expires_at, config, devices,"
                   " profiles, architecture, ephemeral FROM snapshots WHERE instance_id = ? ORDER BY created_at, id",
                   "i", instance_id);
}

GPtrArray *
ferry_db_snapshot_list_all (FerryDb *db, GError **error)
{
  return db_query (db, error, read_snapshot, (GDestroyNotify) ferry_db_snapshot_free,
                   "SELECT id, instance_id, name, description, stateful, created_at, expires_at, config, devices,"
                   " profiles, architecture, ephemeral FROM snapshots ORDER BY instance_id, created_at, id",
                   NULL);
}

gboolean
ferry_db_snapshot_insert (FerryDb *db, FerryDbSnapshot *row, GError **error)
{
  if (!db_exec (db, error, NULL,
                "INSERT INTO snapshots (instance_id, name, description, stateful, created_at, expires_at, config,"
                " devices, profiles, architecture, ephemeral) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                "issbiissssb", row->instance_id, row->name, row->description, row->stateful, row->created_at,
                row->expires_at, row->config_json, row->devices_json, row->profiles_json, row->architecture,
                row->ephemeral))
    return FALSE;
  row->id = sqlite3_last_insert_rowid (db->handle);
  return TRUE;
}

gboolean
ferry_db_snapshot_update (FerryDb *db, const FerryDbSnapshot *row, GError **error)
{
  return db_exec_one (db, error, "Snapshot",
                      "UPDATE snapshots SET name = ?, description = ?, stateful = ?, expires_at = ? WHERE id = ?",
                      "ssbii", row->name, row->description, row->stateful, row->expires_at, row->id);
}

gboolean
ferry_db_snapshot_delete (FerryDb *db, gint64 id, GError **error)
{
  return db_exec_one (db, error, "Snapshot", "DELETE FROM snapshots WHERE id = ?", "i", id);
}

/* Images and aliases */

void
ferry_db_image_free (FerryDbImage *row)
{
  if (row == NULL)
    return;
  g_free (row->fingerprint);
  g_free (row->filename);
  g_free (row->architecture);
  g_free (row->properties_json);
  g_free (row);
}

static gpointer
read_image (sqlite3_stmt *stmt)
{
  FerryDbImage *row = g_new0 (FerryDbImage, 1);

  row->fingerprint = column_text (stmt, 0);
  row->filename = column_text (stmt, 1);
  row->size = sqlite3_column_int64 (stmt, 2);
  row->architecture = column_text (stmt, 3);
  row->public_ = sqlite3_column_int (stmt, 4) != 0;
  row->created_at = sqlite3_column_int64 (stmt, 5);
  row->uploaded_at = sqlite3_column_int64 (stmt, 6);
  row->last_used_at = sqlite3_column_int64 (stmt, 7);
  row->properties_json = column_text (stmt, 8);
  return row;
}

GPtrArray *
ferry_db_image_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_image, (GDestroyNotify) ferry_db_image_free,
                   "SELECT fingerprint, filename, size, architecture, public, created_at, uploaded_at,"
                   " last_used_at, properties FROM images ORDER BY uploaded_at, fingerprint",
                   NULL);
}

gboolean
ferry_db_image_insert (FerryDb *db, const FerryDbImage *row, GError **error)
{
  return db_exec (db, error, NULL,
                  "INSERT INTO images (fingerprint, filename, size, architecture, public, created_at, uploaded_at,"
                  " last_used_at, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  "ssisbiiis", row->fingerprint, row->filename, row->size, row->architecture, row->public_,
                  row->created_at, row->uploaded_at, row->last_used_at, row->properties_json);
}

gboolean
ferry_db_image_update (FerryDb *db, const FerryDbImage *row, GError **error)
{
  return db_exec_one (db, error, "Image",
                      "UPDATE images SET public = ?, last_used_at = ?, properties = ? WHERE fingerprint = ?", "biss",
                      row->public_, row->last_used_at, row->properties_json, row->fingerprint);
}

gboolean
ferry_db_image_delete (FerryDb *db, const char *fingerprint, GError **error)
{
  return db_exec_one (db, error, "Image", "DELETE FROM images WHERE fingerprint = ?", "s", fingerprint);
}

void
ferry_db_alias_free (FerryDbAlias *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  g_free (row->fingerprint);
  g_free (row->description);
  g_free (row);
}

static gpointer
read_alias (sqlite3_stmt *stmt)
{
  FerryDbAlias *row = g_new0 (FerryDbAlias, 1);

  row->name = column_text (stmt, 0);
  row->fingerprint = column_text (stmt, 1);
  row->description = column_text (stmt, 2);
  return row;
}

GPtrArray *
ferry_db_alias_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_alias, (GDestroyNotify) ferry_db_alias_free,
                   "SELECT name, fingerprint, description FROM image_aliases ORDER BY name", NULL);
}

gboolean
ferry_db_alias_insert (FerryDb *db, const FerryDbAlias *row, GError **error)
{
  return db_exec (db, error, NULL, "INSERT INTO image_aliases (name, fingerprint, description) VALUES (?, ?, ?)",
                  "sss", row->name, row->fingerprint, row->description);
}

gboolean
ferry_db_alias_update (FerryDb *db, const char *name, const FerryDbAlias *row, GError **error)
{
  return db_exec_one (db, error, "Alias",
                      "UPDATE image_aliases SET name = ?, fingerprint = ?, description = ? WHERE name = ?", "ssss",
                      row->name, row->fingerprint, row->description, name);
}

gboolean
ferry_db_alias_delete (FerryDb *db, const char *name, GError **error)
{
  return db_exec_one (db, error, "Alias", "DELETE FROM image_aliases WHERE name = ?", "s", name);
}

/* Profiles */

void
ferry_db_profile_free (FerryDbProfile *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  g_free (row->description);
  g_free (row->config_json);
  g_free (row->devices_json);
  g_free (row);
}

static gpointer
read_profile (sqlite3_stmt *stmt)
{
  FerryDbProfile *row = g_new0 (FerryDbProfile, 1);

  row->name = column_text (stmt, 0);
  row->description = column_text (stmt, 1);
  row->config_json = column_text (stmt, 2);
  row->devices_json = column_text (stmt, 3);
  return row;
}

GPtrArray *
ferry_db_profile_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_profile, (GDestroyNotify) ferry_db_profile_free,
                   "SELECT name, description, config, devices FROM profiles ORDER BY name", NULL);
}

gboolean
ferry_db_profile_upsert (FerryDb *db, const FerryDbProfile *row, GError **error)
{
  return db_exec (db, error, NULL,
                  "INSERT INTO profiles (name, description, config, devices) VALUES (?, ?, ?, ?)"
                  " ON CONFLICT (name) DO UPDATE SET description = excluded.description,"
                  " config = excluded.config, devices = excluded.devices",
                  "ssss", row->name, row->description, row->config_json, row->devices_json);
}

gboolean
ferry_db_profile_rename (FerryDb *db, const char *name, const char *new_name, GError **error)
{
  return db_exec_one (db, error, "Profile", "UPDATE profiles SET name = ? WHERE name = ?", "ss", new_name, name);
}

gboolean
ferry_db_profile_delete (FerryDb *db, const char *name, GError **error)
{
  return db_exec_one (db, error, "Profile", "DELETE FROM profiles WHERE name = ?", "s", name);
}

/* Storage pools */

void
ferry_db_pool_free (FerryDbPool *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  g_free (row->driver);
  g_free (row->description);
  g_free (row->config_json);
  g_free (row);
}

static gpointer
read_pool (sqlite3_stmt *stmt)
{
  FerryDbPool *row = g_new0 (FerryDbPool, 1);

  row->name = column_text (stmt, 0);
  row->driver = column_text (stmt, 1);
  row->description = column_text (stmt, 2);
  row->config_json = column_text (stmt, 3);
  return row;
}

GPtrArray *
ferry_db_pool_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_pool, (GDestroyNotify) ferry_db_pool_free,
                   "SELECT name, driver, description, config FROM storage_pools ORDER BY name", NULL);
}

gboolean
ferry_db_pool_insert (FerryDb *db, const FerryDbPool *row, GError **error)
{
  return db_exec (db, error, NULL, "INSERT INTO storage_pools (name, driver, description, config) VALUES (?, ?, ?, ?)",
                  "ssss", row->name, row->driver, row->description, row->config_json);
}

gboolean
ferry_db_pool_update (FerryDb *db, const FerryDbPool *row, GError **error)
{
  return db_exec_one (db, error, "Storage pool", "UPDATE storage_pools SET description = ?, config = ? WHERE name = ?",
                      "sss", row->description, row->config_json, row->name);
}

gboolean
ferry_db_pool_delete (FerryDb *db, const char *name, GError **error)
{
  return db_exec_one (db, error, "Storage pool", "DELETE FROM storage_pools WHERE name = ?", "s", name);
}

/* Server config */

static gpointer
read_pair (sqlite3_stmt *stmt)
{
  char **pair = g_new0 (char *, 3);

  pair[0] = column_text (stmt, 0);
  pair[1] = column_text (stmt, 1);
  return pair;
}

GHashTable *
ferry_db_config_get_all (FerryDb *db, GError **error)
{
  g_autoptr (GPtrArray) rows = db_query (db, error, read_pair, (GDestroyNotify) g_strfreev,
                                         "SELECT key, value FROM config", NULL);
  GHashTable *map;

  if (rows == NULL)
    return NULL;
  map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < rows->len; i++)
    {
      char **pair = g_ptr_array_index (rows, i);
      g_hash_table_insert (map, g_strdup (pair[0]), g_strdup (pair[1]));
    }
  return map;
}

gboolean
ferry_db_config_set (FerryDb *db, const char *key, const char *value, GError **error)
{
  return db_exec (db, error, NULL,
                  "INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  "ss", key, value);
}

gboolean
ferry_db_config_unset (FerryDb *db, const char *key, GError **error)
{
  return db_exec (db, error, NULL, "DELETE FROM config WHERE key = ?", "s", key);
}

void
ferry_db_certificate_free (FerryDbCertificate *row)
{
  if (row == NULL)
    return;
  g_free (row->fingerprint);
  g_free (row->type);
  g_free (row->name);
  g_free (row->certificate);
  g_free (row);
}

static gpointer
read_certificate (sqlite3_stmt *stmt)
{
  FerryDbCertificate *row = g_new0 (FerryDbCertificate, 1);

  row->fingerprint = column_text (stmt, 0);
  row->type = column_text (stmt, 1);
  row->name = column_text (stmt, 2);
  row->certificate = column_text (stmt, 3);
  row->restricted = sqlite3_column_int (stmt, 4) != 0;
  return row;
}

GPtrArray *
ferry_db_certificate_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_certificate, (GDestroyNotify) ferry_db_certificate_free,
                   "SELECT fingerprint, type, name, certificate, restricted FROM certificates ORDER BY fingerprint",
                   NULL);
}

gboolean
ferry_db_certificate_insert (FerryDb *db, const FerryDbCertificate *row, GError **error)
{
  return db_exec (db, error, NULL,
                  "INSERT INTO certificates (fingerprint, type, name, certificate, restricted) VALUES (?, ?, ?, ?, ?)",
                  "ssssb", row->fingerprint, row->type, row->name, row->certificate, row->restricted);
}

gboolean
ferry_db_certificate_delete (FerryDb *db, const char *fingerprint, GError **error)
{
  return db_exec_one (db, error, "Certificate", "DELETE FROM certificates WHERE fingerprint = ?", "s", fingerprint);
}

/* Intents */

void
ferry_db_intent_free (FerryDbIntent *row)
{
  if (row == NULL)
    return;
  g_free (row->instance);
  g_free (row->op);
  g_free (row->data_json);
  g_free (row);
}

static gpointer
read_intent (sqlite3_stmt *stmt)
{
  FerryDbIntent *row = g_new0 (FerryDbIntent, 1);

  row->id = sqlite3_column_int64 (stmt, 0);
  row->instance = column_text (stmt, 1);
  row->op = column_text (stmt, 2);
  row->data_json = column_text (stmt, 3);
  row->created_at = sqlite3_column_int64 (stmt, 4);
  return row;
}

GPtrArray *
ferry_db_intent_list (FerryDb *db, GError **error)
{
  return db_query (db, error, read_intent, (GDestroyNotify) ferry_db_intent_free,
                   "SELECT id, instance, op, data, created_at FROM intents ORDER BY id", NULL);
}

gboolean
ferry_db_intent_add (FerryDb *db, FerryDbIntent *row, GError **error)
{
  if (!db_exec (db, error, NULL, "INSERT INTO intents (instance, op, data, created_at) VALUES (?, ?, ?, ?)", "sssi",
                row->instance, row->op, row->data_json ? row->data_json : "{}", row->created_at))
    return FALSE;
  row->id = sqlite3_last_insert_rowid (db->handle);
  return TRUE;
}

gboolean
ferry_db_intent_settle (FerryDb *db, gint64 id, GError **error)
{
  return db_exec (db, error, NULL, "DELETE FROM intents WHERE id = ?", "i", id);
}
