/* The target side of a migration: checks the offer, receives the files
 * (rsync) and, for a live move, the pages (CRIU's page server) into the
 * instance's own directories, restores, and only then keeps the instance.
 * A failure before that leaves nothing here. See docs/migration.md. */
#include "migrate/migration.h"
#include "daemon/idmaps.h"
#include "storage/layout.h"

#include "common/btrfs.h"
#include "common/criu-log.h"
#include "common/error.h"
#include "common/testhook.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "common/idmap.h"
#include "migrate/peer.h"
#include "common/tree-changes.h"
#include "migrate/facts.h"
#include "daemon/storage.h"
#include "image/metadata.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef struct
{
  FerryDaemon *daemon;
  FerryMigrationLink *link;
  char *name;
  char *inst_dir, *rootfs, *state_dir, *snapshots_dir, *run_dir, *marker;
  char *restore_log, *pages_log, *rsync_log;
  GPtrArray *restore_argv;
  /* For the source's idmap (restore_with_source_idmap): the instance's
   * expanded config and the other isolated ranges, read at start. */
  GHashTable *config;
  JsonObject *devices; /* expanded, for the disk devices' check */
  GArray *taken;
  char *idmap; /* the map restored with (volatile.idmap.current) */
  GPtrArray *snapshots; /* FerryDbSnapshot from the offer */
  FerryStoragePool *pool; /* where it lands (a pool an instance names stays) */
  char *missing_pool;     /* the pool its root disk named, which this host lacks */
  /* The files come as btrfs streams (both pools btrfs): the rootfs passes'
   * readonly subvolumes land in RECV_DIR, the rootfs is a writable
   * snapshot of the latest. */
  gboolean btrfs;
  char *recv_dir;
  /* The source sends the image metadata.yaml and templates/ (its offer
   * listed "metadata" among its items), once. */
  gboolean metadata, metadata_received;
  gboolean live, restored, finished;
  gboolean recorded; /* the instance's rows are in the database (record_received) */
  GError *record_error;
  JsonObject *figures;
  /* The restoring monitor, started once the offer is accepted and held
   * before it reads the images until "restore" (start_held_restore): its
   * preparation is out of the freeze. HOLD is our end of its --hold-fd. */
  GSubprocess *held_restore;
  int hold;
  /* page server */
  GSubprocess *page_server;
  GThread *page_pump;
  int page_fd;
  GError *page_error;
} TargetData;

/* A held restore called off: it undoes what it prepared and exits. */
static void
release_held_restore (TargetData *t)
{
  if (t->hold >= 0)
    close (t->hold);
  t->hold = -1;
  if (t->held_restore != NULL)
    g_subprocess_wait (t->held_restore, NULL, NULL);
  g_clear_object (&t->held_restore);
}

static void
target_data_free (TargetData *t)
{
  ferry_migration_link_free (t->link);
  g_free (t->name);
  g_free (t->inst_dir);
  g_free (t->rootfs);
  g_free (t->state_dir);
  g_free (t->snapshots_dir);
  g_free (t->run_dir);
  g_free (t->marker);
  g_free (t->restore_log);
  g_free (t->pages_log);
  g_free (t->rsync_log);
  g_clear_pointer (&t->restore_argv, g_ptr_array_unref);
  g_clear_pointer (&t->config, g_hash_table_unref);
  g_clear_pointer (&t->devices, json_object_unref);
  g_clear_pointer (&t->taken, g_array_unref);
  g_free (t->idmap);
  g_clear_pointer (&t->snapshots, g_ptr_array_unref);
  g_free (t->missing_pool);
  g_free (t->recv_dir);
  if (t->figures)
    json_object_unref (t->figures);
  release_held_restore (t);
  g_clear_object (&t->page_server);
  g_clear_error (&t->page_error);
  g_free (t);
}

static gboolean
read_snapshots (TargetData *t, JsonObject *offer, GError **error)
{
  JsonArray *arr = NULL;

  t->snapshots = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_db_snapshot_free);
  if (!ferry_json_get_array (offer, "snapshots", &arr, error))
    return FALSE;
  for (guint i = 0; arr != NULL && i < json_array_get_length (arr); i++)
    {
      JsonNode *n = json_array_get_element (arr, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      const char *name = NULL, *desc = NULL, *config = NULL, *devices = NULL, *profiles = NULL, *arch = NULL;
      gboolean stateful = FALSE, ephemeral = FALSE;
      gint64 created = 0, expires = 0;
      FerryDbSnapshot *row;

      if (o == NULL || !ferry_json_get_string (o, "name", &name, error)
          || !ferry_json_get_string (o, "description", &desc, error)
          || !ferry_json_get_string (o, "config", &config, error)
          || !ferry_json_get_string (o, "devices", &devices, error)
          || !ferry_json_get_string (o, "profiles", &profiles, error)
          || !ferry_json_get_string (o, "architecture", &arch, error)
          || !ferry_json_get_bool (o, "stateful", &stateful, error)
          || !ferry_json_get_bool (o, "ephemeral", &ephemeral, error)
          || !ferry_json_get_int (o, "created_at", &created, error)
          || !ferry_json_get_int (o, "expires_at", &expires, error) || name == NULL
          || !ferry_name_validate_snapshot (name, error))
        {
          if (error && *error == NULL)
            g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID, "A snapshot in the offer is malformed");
          g_prefix_error (error, "The source's offer: ");
          return FALSE;
        }
      row = g_new0 (FerryDbSnapshot, 1);
      row->name = g_strdup (name);
      row->description = g_strdup (desc ? desc : "");
      row->stateful = stateful;
      row->created_at = created;
      row->expires_at = expires;
      row->config_json = g_strdup (config ? config : "{}");
      row->devices_json = g_strdup (devices ? devices : "{}");
      row->profiles_json = g_strdup (profiles ? profiles : "[]");
      row->architecture = g_strdup (arch ? arch : "");
      row->ephemeral = ephemeral;
      g_ptr_array_add (t->snapshots, row);
    }
  return TRUE;
}

/* Feasibility: room here always; for a live move, everything else the
 * source's processes need (ferry-monitor migrate-check). */
static gboolean
check_offer (TargetData *t, JsonObject *offer, GError **error)
{
  gint64 bytes = 0;
  const char *facts = NULL;
  struct statvfs vfs;

  if (!ferry_json_get_int (offer, "bytes", &bytes, error) || !ferry_json_get_string (offer, "facts", &facts, error))
    return FALSE;
  /* The restore binds every disk device's source where it was. */
  if (t->live && !ferry_migrate_check_disks (t->devices, error))
    return FALSE;
  if (t->live && facts != NULL)
    {
      g_autofree char *file = g_strdup_printf ("%s/.migrate-facts-%s.json", t->daemon->layout->run, t->name);
      g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, bytes);
      const char *argv[] = { "migrate-check", "--source", file, "--root", t->daemon->layout->root, "--bytes", text, NULL };
      gboolean ok;

      if (!ferry_write_file_atomic (file, facts, -1, 0600, error))
        return FALSE;
      ok = ferry_run_monitor (t->daemon, argv, NULL, error);
      unlink (file);
      return ok;
    }
  if (t->live)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID, "A live migration's offer must carry the source's facts");
      return FALSE;
    }
  if (statvfs (t->pool->path, &vfs) == 0 && (gint64) (vfs.f_bavail * vfs.f_frsize) < bytes)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                   "Migration check 'storage' failed: the instance needs %" G_GINT64_FORMAT " bytes and %s has %"
                   G_GINT64_FORMAT " free",
                   bytes, t->pool->path, (gint64) (vfs.f_bavail * vfs.f_frsize));
      return FALSE;
    }
  return TRUE;
}

static gpointer
page_pump_main (gpointer data)
{
  TargetData *t = data;

  ferry_ws_conn_pump (ferry_migration_link_channel (t->link, FERRY_MIGRATION_CRIU), t->page_fd, NULL, NULL, NULL,
                      &t->page_error);
  close (t->page_fd);
  t->page_fd = -1;
  return NULL;
}

static gboolean
start_page_server (TargetData *t, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  const char *argv[] = { t->daemon->monitor_path, "page-server", "--images", t->state_dir, "--log", t->pages_log,
                         "--fd", "3", NULL };
  int sv[2];

  if (!ferry_mkdir_p (t->state_dir, 0700, error))
    return FALSE;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "socketpair: %s", g_strerror (errno));
      return FALSE;
    }
  ferry_ws_tune_socket (sv[0]);
  ferry_ws_tune_socket (sv[1]);
  g_subprocess_launcher_take_fd (launcher, sv[1], 3);
  t->page_server = g_subprocess_launcher_spawnv (launcher, argv, error);
  g_clear_object (&launcher);
  if (t->page_server == NULL)
    {
      close (sv[0]);
      return FALSE;
    }
  t->page_fd = sv[0];
  t->page_pump = g_thread_new ("page-pump", page_pump_main, t);
  return TRUE;
}

static gboolean
finish_page_server (TargetData *t, GError **error)
{
  g_autofree char *err = NULL;

  if (t->page_server == NULL)
    return TRUE;
  if (t->page_pump != NULL)
    g_thread_join (t->page_pump);
  t->page_pump = NULL;
  if (t->page_error != NULL)
    {
      g_autofree char *criu_errors = NULL;
      g_subprocess_force_exit (t->page_server);
      g_subprocess_wait (t->page_server, NULL, NULL);
      /* The page server quitting (a full disk...) breaks the stream: its
       * own words are the reason. */
      criu_errors = ferry_criu_log_errors (t->pages_log);
      if (criu_errors != NULL && *criu_errors != '\0')
        {
          g_clear_error (&t->page_error);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "receiving the memory pages: CRIU's page server failed.\n%s",
                       criu_errors);
          ferry_error_add_log (error, t->pages_log);
          return FALSE;
        }
      g_propagate_prefixed_error (error, g_steal_pointer (&t->page_error), "receiving the memory pages: ");
      return FALSE;
    }
  g_subprocess_communicate_utf8 (t->page_server, NULL, NULL, NULL, &err, NULL);
  if (!g_subprocess_get_successful (t->page_server))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "receiving the memory pages: %s",
                   err && *g_strstrip (err) ? err : "CRIU's page server failed");
      ferry_error_add_log (error, t->pages_log);
      return FALSE;
    }
  return TRUE;
}

/* "rootfs.N", what the source names the rootfs passes' streams. */
static gboolean
valid_volume_name (const char *name)
{
  if (name == NULL || !g_str_has_prefix (name, "rootfs.") || name[7] == '\0')
    return FALSE;
  for (const char *c = name + 7; *c != '\0'; c++)
    if (!g_ascii_isdigit (*c))
      return FALSE;
  return strlen (name) < 32;
}

/* One btrfs stream into DIR, which must make the readonly subvolume
 * DIR/NAME (and no other name: `btrfs receive -C` keeps it inside DIR). */
static gboolean
receive_btrfs_stream (TargetData *t, const char *dir, const char *name, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  guint64 bytes = 0;

  if (g_file_test (path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source sent %s twice", path);
      return FALSE;
    }
  if (!ferry_migration_btrfs_receive (t->link, dir, t->rsync_log, &bytes, error))
    return FALSE;
  if (!ferry_btrfs_is_readonly_subvolume (path))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source's btrfs stream made no subvolume %s", path);
      return FALSE;
    }
  return TRUE;
}

/* A rootfs pass: the received subvolume is readonly, the rootfs a writable
 * snapshot of it (the latest pass's). */
static gboolean
receive_rootfs_btrfs (TargetData *t, JsonObject *msg, GError **error)
{
  const char *volume = NULL;
  g_autofree char *received = NULL;

  if (!ferry_json_get_string (msg, "volume", &volume, error))
    return FALSE;
  if (!valid_volume_name (volume))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source named its rootfs stream \"%s\"",
                   volume ? volume : "");
      return FALSE;
    }
  received = g_build_filename (t->recv_dir, volume, NULL);
  if (!receive_btrfs_stream (t, t->recv_dir, volume, error)
      || (g_file_test (t->rootfs, G_FILE_TEST_EXISTS) && !t->pool->driver->delete_volume (t->rootfs, error))
      || !ferry_btrfs_snapshot (received, t->rootfs, FALSE, error))
    return FALSE;
  return TRUE;
}

/* A snapshot's rootfs, into the directory the snapshots' rsync made. */
static gboolean
receive_snapshot_btrfs (TargetData *t, JsonObject *msg, GError **error)
{
  const char *name = NULL;
  g_autofree char *dir = NULL;
  gboolean offered = FALSE;

  if (!ferry_json_get_string (msg, "snapshot", &name, error))
    return FALSE;
  for (guint i = 0; name != NULL && i < t->snapshots->len; i++)
    offered |= g_str_equal (((FerryDbSnapshot *) g_ptr_array_index (t->snapshots, i))->name, name);
  if (!offered)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source sent snapshot \"%s\", which it didn't offer",
                   name ? name : "");
      return FALSE;
    }
  dir = g_build_filename (t->snapshots_dir, name, NULL);
  return receive_btrfs_stream (t, dir, "rootfs", error);
}

/* At most this many template files: a source sending more is not sending
 * an image's templates. */
#define MAX_TEMPLATES 1024

static gboolean
metadata_refused (GError **error, const char *why, const char *name)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source's metadata is refused: %s%s%s%s", why,
               name != NULL ? " (\"" : "", name != NULL ? name : "", name != NULL ? "\")" : "");
  return FALSE;
}

/* A template file the source sent: a valid name (no '/', not "."/".."),
 * base64 contents of at most FERRY_IMAGE_METADATA_MAX bytes, written as a
 * new regular file of DIR (which this side made: nothing in it is the
 * source's but what is written here). */
static gboolean
write_template (const char *dir, const char *name, JsonNode *value, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree guchar *data = NULL;
  const char *b64;
  gsize len = 0;

  if (!ferry_image_template_name_valid (name))
    return metadata_refused (error, "a template's name is not a file name", name);
  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    return metadata_refused (error, "a template's contents are not a string", name);
  b64 = json_node_get_string (value);
  if (strlen (b64) > (FERRY_IMAGE_METADATA_MAX / 3 + 1) * 4)
    return metadata_refused (error, "a template is too large", name);
  data = g_base64_decode (b64, &len);
  if (len > FERRY_IMAGE_METADATA_MAX)
    return metadata_refused (error, "a template is too large", name);
  path = g_build_filename (dir, name, NULL);
  return ferry_write_file_atomic (path, (const char *) data, (gssize) len, 0644, error);
}

/* The instance's metadata.yaml and templates/, from one control message,
 * into its directory here. */
static gboolean
receive_metadata (TargetData *t, JsonObject *msg, GError **error)
{
  const char *text = NULL;
  JsonObject *templates = NULL;
  g_autofree char *tpl_dir = g_build_filename (t->inst_dir, "templates", NULL);
  JsonObjectIter it;
  const char *name;
  JsonNode *value;

  t->metadata_received = TRUE;
  if (!ferry_json_get_string (msg, "metadata", &text, error) || !ferry_json_get_object (msg, "templates", &templates, error))
    return FALSE;
  if (text != NULL)
    {
      g_autofree char *md_path = g_build_filename (t->inst_dir, "metadata.yaml", NULL);
      g_autoptr (JsonNode) parsed = NULL;
      g_autoptr (GError) bad = NULL;
      gsize len = strlen (text);
      if (len > FERRY_IMAGE_METADATA_MAX)
        return metadata_refused (error, "metadata.yaml is too large", NULL);
      if ((parsed = ferry_image_metadata_read_json (text, len, &bad)) == NULL)
        return metadata_refused (error, "metadata.yaml is not valid", bad->message);
      if (!ferry_write_file_atomic (md_path, text, (gssize) len, 0644, error))
        return FALSE;
    }
  if (templates == NULL || json_object_get_size (templates) == 0)
    return TRUE;
  if (json_object_get_size (templates) > MAX_TEMPLATES)
    return metadata_refused (error, "too many templates", NULL);
  if (mkdir (tpl_dir, 0755) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", tpl_dir, g_strerror (errno));
      return FALSE;
    }
  json_object_iter_init (&it, templates);
  while (json_object_iter_next (&it, &name, &value))
    if (!write_template (tpl_dir, name, value, error))
      return FALSE;
  return TRUE;
}

/* A regular file (not a symlink) of at most FERRY_IMAGE_METADATA_MAX bytes,
 * or nothing. */
static gboolean
metadata_file_ok (const char *path, const char *name, GError **error)
{
  struct stat st;

  if (lstat (path, &st) < 0)
    return errno == ENOENT ? TRUE : metadata_refused (error, g_strerror (errno), name);
  if (!S_ISREG (st.st_mode))
    return metadata_refused (error, "a snapshot's metadata file is not a regular file", name);
  if (st.st_size > FERRY_IMAGE_METADATA_MAX)
    return metadata_refused (error, "a snapshot's metadata file is too large", name);
  return TRUE;
}

/* Each snapshot keeps its own metadata.yaml and templates/ (they came with
 * the snapshots' directories): regular files, bounded, valid names, or the
 * snapshots are refused, so nothing read from them later (a restore, a
 * copy, a template rendered at start) leads outside them. */
static gboolean
check_snapshots_metadata (TargetData *t, GError **error)
{
  for (guint i = 0; i < t->snapshots->len; i++)
    {
      const char *snap = ((FerryDbSnapshot *) g_ptr_array_index (t->snapshots, i))->name;
      g_autofree char *md = g_build_filename (t->snapshots_dir, snap, "metadata.yaml", NULL);
      g_autofree char *tpl = g_build_filename (t->snapshots_dir, snap, "templates", NULL);
      g_autoptr (GDir) dir = NULL;
      struct stat st;
      const char *name;
      guint n = 0;

      if (!metadata_file_ok (md, "metadata.yaml", error))
        return FALSE;
      if (lstat (tpl, &st) < 0)
        {
          if (errno == ENOENT)
            continue;
          return metadata_refused (error, g_strerror (errno), snap);
        }
      if (!S_ISDIR (st.st_mode))
        return metadata_refused (error, "a snapshot's templates is not a directory", snap);
      dir = g_dir_open (tpl, 0, error);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (tpl, name, NULL);
          if (++n > MAX_TEMPLATES)
            return metadata_refused (error, "too many templates in a snapshot", snap);
          if (!ferry_image_template_name_valid (name))
            return metadata_refused (error, "a snapshot's template has no valid name", name);
          if (!metadata_file_ok (path, name, error))
            return FALSE;
        }
      if (dir == NULL)
        return FALSE;
    }
  return TRUE;
}

/* The CRIU images of a live move but its pages: one or a few files per
 * process and kind of object; far below these for any real container. */
#define STATE_FILES_MAX 100000
#define STATE_BYTES_MAX ((guint64) 16 << 30)

/* At most this many stale files in one sync (the source names no more). */
#define STALE_MAX 65536

/* The files the source's final sync names as stale (MSG's "stale", paths
 * relative to the rootfs): their copies here get the time 1.000000001, so
 * that rsync takes each whatever its size and time (a file rewritten
 * since the pre-copy, within the same clock tick, at the same size, would
 * look the same). Each path is resolved beneath ROOTFS with no symlink
 * and no way out; one not there as such is rsync's to make. */
static gboolean
mark_stale (const char *rootfs, JsonObject *msg, GError **error)
{
  static const struct timespec mark[2] = { { 1, 1 }, { 1, 1 } };
  JsonArray *stale = NULL;
  ferry_autofd int root = -1;

  if (!ferry_json_get_array (msg, "stale", &stale, error))
    return FALSE;
  if (stale == NULL)
    return TRUE;
  if (json_array_get_length (stale) > STALE_MAX)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source named more than %d stale files", STALE_MAX);
      return FALSE;
    }
  if ((root = open (rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", rootfs, g_strerror (errno));
      return FALSE;
    }
  for (guint i = 0; i < json_array_get_length (stale); i++)
    {
      JsonNode *node = json_array_get_element (stale, i);
      const char *path = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
                             ? json_node_get_string (node)
                             : NULL;
      const char *slash = path != NULL ? strrchr (path, '/') : NULL;
      const char *base = slash != NULL ? slash + 1 : path;
      g_autofree char *dir = slash != NULL ? g_strndup (path, (gsize) (slash - path)) : g_strdup (".");
      ferry_autofd int parent = -1;

      if (path == NULL || *path == '/' || *base == '\0' || g_str_equal (base, ".") || g_str_equal (base, "..")
          || strlen (path) >= PATH_MAX)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source named a stale file that is no path");
          return FALSE;
        }
      if ((parent = ferry_changes_open_dir (root, dir, O_PATH)) < 0)
        {
          if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            continue;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Resolving %s in %s: %s", dir, rootfs,
                       g_strerror (errno));
          return FALSE;
        }
      if (utimensat (parent, base, mark, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Marking %s in %s stale: %s", path, rootfs,
                       g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
receive (TargetData *t, JsonObject *msg, GError **error)
{
  const char *what = "";
  guint64 bytes = 0;

  if (!ferry_json_get_string (msg, "what", &what, error))
    return FALSE;
  if (g_str_equal (what, "rootfs") && t->btrfs)
    return receive_rootfs_btrfs (t, msg, error);
  if (g_str_equal (what, "snapshot-rootfs") && t->btrfs)
    return receive_snapshot_btrfs (t, msg, error);
  if (g_str_equal (what, "rootfs"))
    {
      FerryRsyncOptions o = { .delete = TRUE };
      return ferry_json_get_bool (msg, "every_file", &o.every_file, error) && mark_stale (t->rootfs, msg, error)
             && ferry_migration_rsync_receive (t->link, t->rootfs, &o, t->rsync_log, &bytes, error);
    }
  /* The final sync of a live move, only what changed since the pre-copy,
   * in records. */
  if (g_str_equal (what, "rootfs-changes") && t->live && !t->btrfs)
    return ferry_migration_changes_receive (t->link, t->rootfs, &bytes, error);
  if (g_str_equal (what, "snapshots"))
    return ferry_migration_rsync_receive (t->link, t->snapshots_dir, &(FerryRsyncOptions){ .delete = TRUE },
                                          t->rsync_log, &bytes, error)
           && check_snapshots_metadata (t, error);
  if (g_str_equal (what, "metadata") && t->metadata && !t->metadata_received)
    return receive_metadata (t, msg, error);
  if (g_str_equal (what, "state") && t->live)
    return ferry_migration_rsync_receive (t->link, t->state_dir, &(FerryRsyncOptions){ 0 }, t->rsync_log, &bytes,
                                          error);
  if (g_str_equal (what, "state-files") && t->live)
    return ferry_migration_files_receive (t->link, t->state_dir, STATE_FILES_MAX, STATE_BYTES_MAX, &bytes, error);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source offered \"%s\", which this migration doesn't take",
               what);
  return FALSE;
}

/* The commit point on this side: the instance's rows. A live move records
 * them before it tells the source "restored" (the source then kills its
 * copy): a ferryd killed after that finds the instance at its next start,
 * running, instead of removing it as an unfinished transfer. On the main
 * thread. */
static gboolean
record_received (gpointer data)
{
  TargetData *t = data;
  FerryDaemon *d = t->daemon;
  FerryInstance *inst = g_hash_table_lookup (d->instances, t->name);

  if (inst == NULL)
    {
      g_set_error (&t->record_error, FERRY_ERROR, FERRY_ERROR_FAILED, "the instance being received is gone");
      return G_SOURCE_REMOVE;
    }
  inst->row->created_at = ferry_time_now ();
  inst->row->stateful = FALSE;
  {
    g_autoptr (GHashTable) own = ferry_instance_own_config (inst);
    if (t->idmap != NULL)
      g_hash_table_insert (own, g_strdup ("volatile.idmap.current"), g_strdup (t->idmap));
    /* As LXD after any migration: the "copy" templates at the next start,
     * unless a trigger is already pending (a never-started instance keeps
     * its "create"). */
    if (!g_hash_table_contains (own, "volatile.apply_template"))
      g_hash_table_insert (own, g_strdup ("volatile.apply_template"), g_strdup ("copy"));
    ferry_instance_set_own_config (inst, own);
  }
  if (!ferry_db_instance_insert (d->db, inst->row, &t->record_error))
    return G_SOURCE_REMOVE;
  t->recorded = TRUE;
  inst->creating = FALSE;
  for (guint i = 0; i < t->snapshots->len; i++)
    {
      FerryDbSnapshot *snap = g_ptr_array_index (t->snapshots, i);
      g_autoptr (GError) snap_error = NULL;
      snap->instance_id = inst->row->id;
      if (!ferry_db_snapshot_insert (d->db, snap, &snap_error))
        g_warning ("Migration of %s: recording snapshot %s: %s", t->name, snap->name, snap_error->message);
    }
  if (t->restored)
    ferry_instance_mark_running (d, inst);
  return G_SOURCE_REMOVE;
}

/* Undoes record_received, for a migration that failed after it. */
static void
unrecord_received (TargetData *t, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;

  if (t->recorded && !ferry_db_instance_delete (t->daemon->db, inst->row->id, &error))
    g_warning ("Migration of %s: removing its record: %s", t->name, error->message);
  t->recorded = FALSE;
}

/* The restoring monitor of a live move, started as soon as the offer is
 * accepted: it makes the cgroup, the console, the idmapped rootfs and the
 * nics' keys while the files come, then waits for "g" (restore) or EOF
 * (the move failed; ferryd died). Not on btrfs, whose rootfs is a new
 * subvolume after each pass; failing to start it only costs the
 * preparation inside the freeze. */
static void
start_held_restore (TargetData *t)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int sv[2];

  if (!t->live || t->btrfs)
    return;
  if (!ferry_mkdir_p (t->state_dir, 0700, &error) || socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      g_message ("Migration of %s: restoring without preparing first: %s", t->name,
                 error != NULL ? error->message : g_strerror (errno));
      return;
    }
  for (guint i = 0; i < t->restore_argv->len && g_ptr_array_index (t->restore_argv, i) != NULL; i++)
    g_ptr_array_add (argv, g_ptr_array_index (t->restore_argv, i));
  g_ptr_array_add (argv, "--hold-fd");
  g_ptr_array_add (argv, "3");
  g_ptr_array_add (argv, NULL);
  t->held_restore = ferry_spawn_monitor (t->daemon, (const char *const *) argv->pdata, sv[1], &error);
  if (t->held_restore == NULL)
    {
      g_message ("Migration of %s: restoring without preparing first: %s", t->name, error->message);
      close (sv[0]);
      return;
    }
  t->hold = sv[0];
}

static gboolean
restore (TargetData *t, GError **error)
{
  gint64 t0 = g_get_monotonic_time (), t_running;
  g_autoptr (JsonObject) reply = json_object_new ();
  g_autofree char *out = NULL;
  gboolean ok;

  if (!finish_page_server (t, error))
    return FALSE;
  if (t->held_restore != NULL)
    {
      g_autoptr (GSubprocess) proc = g_steal_pointer (&t->held_restore);
      /* A monitor that already failed reads no go: its error says why. */
      if (send (t->hold, "g", 1, MSG_NOSIGNAL) != 1)
        g_debug ("The held restore of %s is gone: %s", t->name, g_strerror (errno));
      close (t->hold);
      t->hold = -1;
      ok = ferry_monitor_finish (t->daemon, proc, &out, error);
    }
  else
    ok = ferry_run_monitor (t->daemon, (const char *const *) t->restore_argv->pdata, &out, error);
  if (!ok)
    {
      g_prefix_error (error, "restoring on the target: ");
      ferry_error_add_log (error, t->restore_log);
      return FALSE;
    }
  t->restored = TRUE;
  t_running = g_get_monotonic_time ();
  /* "INIT MONITOR RESUMED": when CRIU let the tree run, a few ms to tens
   * of ms before the monitor returned (its nics plugged, files written). */
  {
    g_auto (GStrv) f = g_strsplit (out != NULL ? g_strstrip (out) : "", " ", -1);
    gint64 resumed = g_strv_length (f) == 3 ? g_ascii_strtoll (f[2], NULL, 10) : 0;
    if (resumed > 0 && resumed <= t_running)
      t_running = resumed;
  }
  /* The source commits only when it reads "restored": gone already (its
   * ferryd died during our restore), it never will, and its held tree
   * runs on there. This copy must go, or both would run. */
  if (ferry_ws_conn_peer_closed (ferry_migration_link_channel (t->link, FERRY_MIGRATION_CONTROL)))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                           "the source went away during the restore (it runs the instance on)");
      return FALSE;
    }
  ferry_operation_call_main (record_received, t);
  if (t->record_error != NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&t->record_error), "recording the instance: ");
      return FALSE;
    }
  json_object_set_string_member (reply, "type", "restored");
  json_object_set_int_member (reply, "restore_ms", (g_get_monotonic_time () - t0) / 1000);
  /* How long the instance has run here already (recording it took that):
   * the source takes it off the downtime it measures. */
  json_object_set_int_member (reply, "running_ms", (g_get_monotonic_time () - t_running) / 1000);
  if (!ferry_migration_send (t->link, reply, error))
    return FALSE;
  ferry_test_crash_point ("migration-target-after-restored");
  return TRUE;
}

static void
forget_restored (TargetData *t)
{
  g_autoptr (GError) error = NULL;

  if (!ferry_migration_force_stop (t->daemon, t->run_dir, &error))
    g_warning ("Stopping the half-received %s: %s", t->name, error->message);
}

/* The restore recreates the user namespace the source's processes run in:
 * its map, not the one its config would give here. Refused (before the
 * source freezes anything) when this host cannot apply it. */
static gboolean
restore_with_source_idmap (TargetData *t, JsonObject *offer, GError **error)
{
  g_autoptr (GArray) map = ferry_migrate_offer_idmap (offer, error);
  GPtrArray *argv = t->restore_argv;

  if (map == NULL || !ferry_idmap_applies (t->name, map, t->config, ferry_idmap_this_host (), t->taken, error))
    return FALSE;
  for (guint i = 0; i + 1 < argv->len; i++)
    if (g_strcmp0 (g_ptr_array_index (argv, i), "--idmap") == 0)
      {
        g_ptr_array_remove_range (argv, i, 2);
        break;
      }
  if (map->len > 0)
    {
      g_ptr_array_insert (argv, (gint) argv->len - 1, g_strdup ("--idmap"));
      g_ptr_array_insert (argv, (gint) argv->len - 1, ferry_idmap_to_arg (map));
    }
  t->idmap = ferry_idmap_to_json (map);
  return TRUE;
}

/* How a step of the conversation ended: FAILED is this side's failure
 * (the source is told why), LINK_LOST the link's or the source's (there
 * is nobody to tell). */
typedef enum
{
  STEP_OK,
  STEP_FAILED,
  STEP_LINK_LOST,
} Step;

/* A pool the root disk named that this host lacks: the source's own (the
 * instance lands on this host's default pool instead, as in LXD), or one
 * the user named (`lxc move -s`), which fails the migration. A source that
 * does not say its pool is taken to have named its own. */
static gboolean
check_pool (TargetData *t, JsonObject *offer, GError **error)
{
  const char *source_pool = NULL;

  if (!ferry_json_get_string (offer, "pool", &source_pool, error))
    return FALSE;
  if (t->missing_pool == NULL || source_pool == NULL || g_str_equal (source_pool, t->missing_pool))
    return TRUE;
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Storage pool \"%s\" doesn't exist on the target server",
               t->missing_pool);
  return FALSE;
}

/* Whether the offer's array MEMBER (absent from older sources) lists HOW. */
static gboolean
offer_lists (JsonObject *offer, const char *member, const char *how)
{
  JsonNode *node = json_object_get_member (offer, member);
  JsonArray *arr = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; arr != NULL && i < json_array_get_length (arr); i++)
    {
      JsonNode *n = json_array_get_element (arr, i);
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
          && g_str_equal (json_node_get_string (n), how))
        return TRUE;
    }
  return FALSE;
}

/* The link, the source's offer, its checks, the instance's directory
 * marked as incoming, and the answer "accept". */
static Step
accept_offer (TargetData *t, GCancellable *cancellable, GError **error)
{
  g_autoptr (JsonObject) offer = NULL;
  g_autoptr (JsonObject) accept = NULL;
  gboolean live = FALSE;

  if (!ferry_migration_link_establish (t->link, cancellable, error)
      || (offer = ferry_migration_recv (t->link, "offer", cancellable, error)) == NULL)
    return STEP_LINK_LOST;
  if (!ferry_json_get_bool (offer, "live", &live, error) || !read_snapshots (t, offer, error))
    return STEP_FAILED;
  if (live != t->live)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The source offers a %s transfer where %s was asked",
                   live ? "live" : "stateless", t->live ? "a live one" : "a stateless one");
      return STEP_FAILED;
    }
  if (!check_pool (t, offer, error) || !check_offer (t, offer, error)
      || (t->live && !restore_with_source_idmap (t, offer, error))
      || !ferry_storage_prepare_instance (t->daemon, t->pool, t->name, error)
      || !ferry_layout_make_instance_dir (t->inst_dir, error)
      || !ferry_write_file_atomic (t->marker, "", 0, 0600, error))
    return STEP_FAILED;
  t->btrfs = t->pool->driver == &ferry_storage_driver_btrfs && offer_lists (offer, "fs", "btrfs");
  t->metadata = offer_lists (offer, "items", "metadata");
  /* By rsync, into a volume of this pool's kind (a subvolume on btrfs). */
  if (!t->btrfs && !t->pool->driver->create_volume (t->rootfs, error))
    return STEP_FAILED;
  g_message ("Migration of %s: receiving on pool %s, its files by %s", t->name, t->pool->name,
             t->btrfs ? "btrfs send" : "rsync");
  accept = json_object_new ();
  json_object_set_string_member (accept, "type", "accept");
  json_object_set_boolean_member (accept, "idmap", TRUE);
  json_object_set_string_member (accept, "fs", t->btrfs ? "btrfs" : "rsync");
  json_object_set_boolean_member (accept, "metadata", t->metadata);
  /* The images come as files, without rsync (a source that does not know
   * this member sends them by rsync, still taken). */
  json_object_set_boolean_member (accept, "state_files", TRUE);
  /* The final rootfs sync may send what changed as records
   * ("rootfs-changes", common/tree-changes.h). */
  json_object_set_boolean_member (accept, "tree_changes", !t->btrfs);
  return ferry_migration_send (t->link, accept, error) ? STEP_OK : STEP_LINK_LOST;
}

/* One message of the source: sync, dump (live), restore (live) or done
 * (*done set). Anything else is out of turn. */
static Step
answer (TargetData *t, JsonObject *msg, gboolean *done, GError **error)
{
  const char *type = json_object_get_string_member_with_default (msg, "type", "");

  if (g_str_equal (type, "sync"))
    {
      if (!receive (t, msg, error))
        return STEP_FAILED;
      return ferry_migration_send_type (t->link, "synced", error) ? STEP_OK : STEP_LINK_LOST;
    }
  if (g_str_equal (type, "dump") && t->live && t->page_server == NULL)
    {
      if (!start_page_server (t, error))
        return STEP_FAILED;
      return ferry_migration_send_type (t->link, "ready", error) ? STEP_OK : STEP_LINK_LOST;
    }
  if (g_str_equal (type, "restore") && t->live && !t->restored)
    return restore (t, error) ? STEP_OK : STEP_FAILED;
  if (g_str_equal (type, "done") && (t->restored || !t->live))
    {
      JsonObject *figures = NULL;
      if (ferry_json_get_object (msg, "figures", &figures, NULL) && figures != NULL)
        t->figures = json_object_ref (figures);
      *done = TRUE;
      return STEP_OK;
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the source sent \"%s\" out of turn", type);
  return STEP_FAILED;
}

/* The source's messages until "done". */
static Step
converse (TargetData *t, GCancellable *cancellable, GError **error)
{
  gboolean done = FALSE;

  while (!done)
    {
      g_autoptr (JsonObject) msg = ferry_migration_recv (t->link, NULL, cancellable, error);
      Step step;

      if (msg == NULL && t->restored && !g_str_has_prefix ((*error)->message, "the other server failed"))
        {
          /* The source commits when it reads "restored": a connection lost
           * after that must not take the instance from both servers. */
          g_warning ("Migration of %s: the source went silent after the restore (%s); keeping the instance here. "
                     "If the source never received our answer, it runs there too: check before starting it there.",
                     t->name, (*error)->message);
          g_clear_error (error);
          return STEP_OK;
        }
      if (msg == NULL)
        return STEP_LINK_LOST;
      if ((step = answer (t, msg, &done, error)) != STEP_OK)
        return step;
    }
  return STEP_OK;
}

/* What a failed migration leaves here: nothing. The source learns why
 * (unless the link is what failed); a failing page server is named as
 * the cause; a restored copy the source never heard of goes. */
static void
target_failed (TargetData *t, Step step, GError **error)
{
  if (step == STEP_FAILED)
    ferry_migration_send_error (t->link, *error);
  ferry_migration_link_shutdown (t->link);
  release_held_restore (t);
  if (t->page_server != NULL)
    {
      g_autoptr (GError) pages = NULL;
      /* CRIU's page server failing here (a full disk...) is the cause of
       * what the source then reported. */
      if (!finish_page_server (t, &pages) && pages != NULL)
        {
          GError *first = g_error_new (FERRY_ERROR, FERRY_ERROR_FAILED, "on the target, %s\n(then: %s)",
                                       pages->message, (*error)->message);
          g_clear_error (error);
          g_propagate_error (error, first);
        }
    }
  if (t->restored)
    {
      /* Restored, but the source never learnt it: it runs there again, so
       * this copy must go. Once "restored" reached the source it would have
       * committed; a lost "done" after that is no failure (see converse). */
      forget_restored (t);
      t->restored = FALSE;
    }
  g_prefix_error (error, "Migration of %s failed: ", t->name);
}

static gboolean
target_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  TargetData *t = user_data;
  Step step = accept_offer (t, cancellable, error);

  if (step == STEP_OK)
    {
      start_held_restore (t);
      step = converse (t, cancellable, error);
    }
  if (step != STEP_OK)
    {
      target_failed (t, step, error);
      return FALSE;
    }
  t->finished = TRUE;
  return TRUE;
}

static void
target_done (FerryOperation *op, gpointer user_data, GError **error)
{
  TargetData *t = user_data;
  FerryDaemon *d = t->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, t->name);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", t->name);

  if (inst == NULL)
    return;
  if (*error == NULL)
    {
      if (!t->recorded)
        {
          record_received (t);
          if (t->record_error != NULL)
            g_propagate_error (error, g_steal_pointer (&t->record_error));
        }
      if (t->recorded)
        {
          unlink (t->marker);
          if (t->recv_dir != NULL)
            ferry_rm_rf (t->recv_dir, NULL);
          /* Restored: the images are spent (hundreds of MiB). */
          if (g_file_test (t->state_dir, G_FILE_TEST_EXISTS))
            ferry_discard_in_background (t->state_dir, t->name);
          if (t->figures != NULL)
            {
              JsonObjectIter it;
              const char *k;
              JsonNode *v;
              json_object_iter_init (&it, t->figures);
              while (json_object_iter_next (&it, &k, &v))
                if (JSON_NODE_HOLDS_VALUE (v) && json_node_get_value_type (v) == G_TYPE_STRING)
                  ferry_operation_set_metadata_string (op, k, json_node_get_string (v));
            }
          ferry_events_lifecycle (d, "instance-created", url,
                                  ferry_events_context ("storage-pool",
                                                        ferry_storage_pool_of_instance (d, t->name)->name, "type",
                                                        "container", NULL));
          if (t->restored)
            ferry_events_lifecycle (d, "instance-started", url, NULL);
          g_message ("Instance %s received%s", t->name, t->restored ? " live, running" : "");
          return;
        }
    }
  /* Failed: nothing of it may remain here but its logs. */
  {
    g_autoptr (GError) cleanup_error = NULL;
    if (t->restored)
      forget_restored (t);
    unrecord_received (t, inst);
    if (!ferry_storage_remove_linked (t->inst_dir, &cleanup_error)
        || !ferry_storage_remove_linked (t->snapshots_dir, &cleanup_error))
      g_warning ("Cleaning up the failed migration of %s: %s", t->name, cleanup_error->message);
  }
  g_hash_table_remove (d->instances, t->name);
}

static void
target_cancel (FerryOperation *op, gpointer user_data)
{
  TargetData *t = user_data;

  ferry_migration_link_shutdown (t->link);
}

FerryOperation *
ferry_migration_target_start (FerryDaemon *d, FerryInstance *inst, JsonObject *source, FerryStoragePool *pool,
                              const char *missing_pool, GError **error)
{
  const char *mode = NULL, *operation = NULL, *certificate = NULL;
  JsonObject *secrets = NULL;
  gboolean live = FALSE, push;
  g_autofree char *log_dir = NULL, *url = NULL;
  FerryOperation *op;
  TargetData *t;

  if (!ferry_json_get_string (source, "mode", &mode, error) || !ferry_json_get_string (source, "operation", &operation, error)
      || !ferry_json_get_string (source, "certificate", &certificate, error)
      || !ferry_json_get_object (source, "secrets", &secrets, error) || !ferry_json_get_bool (source, "live", &live, error))
    return NULL;
  push = g_strcmp0 (mode, "push") == 0;
  if (!push && mode != NULL && *mode != '\0' && !g_str_equal (mode, "pull"))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Migration mode \"%s\" isn't supported (pull or push)", mode);
      return NULL;
    }
  t = g_new0 (TargetData, 1);
  t->daemon = d;
  t->name = g_strdup (inst->row->name);
  t->live = live;
  t->page_fd = -1;
  t->hold = -1;
  t->inst_dir = ferry_layout_instance_dir (d->layout, t->name);
  t->rootfs = ferry_layout_rootfs (d->layout, t->name);
  t->state_dir = ferry_layout_state_dir (d->layout, t->name);
  t->snapshots_dir = ferry_layout_snapshots_dir (d->layout, t->name);
  t->run_dir = ferry_layout_run_dir (d->layout, t->name);
  t->marker = ferry_layout_incoming_marker (d->layout, t->name);
  t->pool = pool;
  t->missing_pool = g_strdup (missing_pool);
  t->recv_dir = g_build_filename (t->inst_dir, ".migrate-recv", NULL);
  log_dir = ferry_layout_log_dir (d->layout, t->name);
  ferry_mkdir_p (log_dir, 0700, NULL);
  t->rsync_log = ferry_layout_criu_log (d->layout, t->name, "migrate_rsync");
  t->pages_log = ferry_layout_criu_log (d->layout, t->name, "migrate_pages");
  t->restore_log = ferry_layout_criu_log (d->layout, t->name, "migrate_restore");
  if (g_file_test (t->inst_dir, G_FILE_TEST_EXISTS) || g_file_test (t->snapshots_dir, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Files of an instance named %s are already here (%s)",
                   t->name, t->inst_dir);
      target_data_free (t);
      return NULL;
    }
  if (live)
    {
      t->config = ferry_instance_expanded_config (d, inst);
      t->devices = ferry_instance_expanded_devices (d, inst);
      t->taken = ferry_instance_taken_idmaps (d, inst);
    }
  /* No --stats: a move's restore has its own figures. */
  if (live && (t->restore_argv = ferry_instance_start_argv (d, inst, t->state_dir, t->restore_log, NULL, error))
                  == NULL)
    {
      target_data_free (t);
      return NULL;
    }
  if (!push && (t->link = ferry_migration_link_connecting (operation, certificate, secrets, live, error)) == NULL)
    {
      target_data_free (t);
      return NULL;
    }
  op = ferry_operation_new (d, push ? FERRY_OP_CLASS_WEBSOCKET : FERRY_OP_CLASS_TASK,
                            live ? "Receiving instance (live)" : "Receiving instance");
  if (push)
    t->link = ferry_migration_link_accepting (op, live);
  url = g_strdup_printf ("/1.0/instances/%s", t->name);
  ferry_operation_add_resource (op, "instances", url);
  ferry_instance_claim (inst, op, "create", NULL);
  ferry_operation_set_cancel (op, G_CALLBACK (target_cancel), t);
  ferry_operation_run (op, target_work, target_done, t, (GDestroyNotify) target_data_free);
  return op;
}
