/* The source side of a migration: offer, pre-copy while the instance runs,
 * then (live) dump to the target's page server and hold the frozen tree
 * until the target reports its restore; commit kills it here, anything else
 * lets it run on here untouched. See docs/migration.md. */
#include "migrate/migration.h"
#include "common/tree-changes.h"

#include "common/btrfs.h"
#include "common/error.h"
#include "daemon/storage.h"
#include "migrate/peer.h"
#include "common/fs.h"
#include "common/json.h"
#include "image/metadata.h"
#include "common/tree-state.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  FerryDaemon *daemon;
  FerryMigrationLink *link;
  char *name;
  gboolean live, instance_only, running;
  char *inst_dir, *rootfs, *snapshots_dir, *run_dir, *images, *dump_log, *stats_file, *rsync_log;
  JsonNode *snapshots; /* array of snapshot rows for the target */
  GPtrArray *checkpoint_argv;
  char *idmap; /* the map the processes run with (volatile.idmap.current) */
  gboolean committed;
  /* The files by btrfs send (both pools btrfs, the target agreed), else by
   * rsync. The rootfs passes send readonly snapshots of it, SEND_DIR/rootfs.N,
   * each the difference from LAST_SENT (the stream sent before). */
  char *pool_name;
  gboolean btrfs_offered, btrfs;
  gboolean state_files; /* the target takes the images without rsync */
  /* The rootfs before the pre-copy read it (rsync only): unchanged at the
   * freeze, the final sync has nothing to send. */
  FerryTreeState *rootfs_state;
  guint64 final_sync_bytes; /* 0: skipped */
  gint64 final_sync_entries; /* how many it listed; -1: the whole tree */
  gboolean tree_changes;     /* the target takes what changed as records (common/tree-changes.h) */
  char *send_dir, *last_sent;
  guint passes;
  /* figures */
  JsonObject *figures;
} SourceData;

static void
source_data_free (SourceData *s)
{
  ferry_migration_link_free (s->link);
  g_free (s->name);
  g_free (s->inst_dir);
  g_free (s->rootfs);
  g_free (s->snapshots_dir);
  g_free (s->run_dir);
  if (s->images)
    ferry_rm_rf (s->images, NULL);
  g_free (s->images);
  g_free (s->dump_log);
  if (s->stats_file)
    unlink (s->stats_file);
  g_free (s->stats_file);
  g_free (s->rsync_log);
  g_free (s->idmap);
  g_free (s->pool_name);
  if (s->send_dir)
    ferry_rm_rf (s->send_dir, NULL);
  g_free (s->send_dir);
  g_free (s->last_sent);
  ferry_tree_state_free (s->rootfs_state);
  if (s->snapshots)
    json_node_unref (s->snapshots);
  g_clear_pointer (&s->checkpoint_argv, g_ptr_array_unref);
  if (s->figures)
    json_object_unref (s->figures);
  g_free (s);
}

static gint64
ms_since (gint64 t)
{
  return (g_get_monotonic_time () - t) / 1000;
}

static gint64
disk_usage (const char *path)
{
  g_autofree char *out = NULL;
  const char *argv[] = { "du", "-sbx", path, NULL };

  if (!g_file_test (path, G_FILE_TEST_EXISTS)
      || !g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                        NULL, NULL, NULL))
    return 0;
  return g_ascii_strtoll (out, NULL, 10);
}

static JsonObject *
sync_message (const char *what)
{
  JsonObject *msg = json_object_new ();

  json_object_set_string_member (msg, "type", "sync");
  json_object_set_string_member (msg, "what", what);
  return msg;
}

/* Tells the target what the next fs session carries: WHAT, and KEY=VALUE
 * (which snapshot, which volume) unless KEY is NULL. */
static gboolean
announce_sync (SourceData *s, const char *what, const char *key, const char *value, GError **error)
{
  g_autoptr (JsonObject) msg = sync_message (what);

  if (key != NULL)
    json_object_set_string_member (msg, key, value);
  return ferry_migration_send (s->link, msg, error);
}

/* An rsync session: the target is told WHAT, whether it is to take every
 * file (O->every_file), and which of its files to take as stale whatever
 * their size and time (STALE, paths relative to the rootfs, or NULL). */
static gboolean
send_rsync (SourceData *s, const char *what, const char *src, const FerryRsyncOptions *o, JsonArray *stale,
            guint64 *bytes, GError **error)
{
  g_autoptr (JsonObject) msg = sync_message (what);
  g_autoptr (JsonObject) reply = NULL;

  if (o->every_file)
    json_object_set_boolean_member (msg, "every_file", TRUE);
  if (stale != NULL)
    json_object_set_array_member (msg, "stale", json_array_ref (stale));
  if (!ferry_migration_send (s->link, msg, error)
      || !ferry_migration_rsync_send (s->daemon, s->link, src, o, s->rsync_log, bytes, error))
    return FALSE;
  reply = ferry_migration_recv (s->link, "synced", NULL, error);
  return reply != NULL;
}

/* Readonly SUBVOLUME as a btrfs stream, the difference from the one sent
 * before (if any); LAST_SENT is it then. */
static gboolean
send_btrfs (SourceData *s, const char *what, const char *key, const char *value, const char *subvolume,
            guint64 *bytes, GError **error)
{
  g_autoptr (JsonObject) reply = NULL;

  if (!announce_sync (s, what, key, value, error)
      || !ferry_migration_btrfs_send (s->link, subvolume, s->last_sent, s->rsync_log, bytes, error)
      || (reply = ferry_migration_recv (s->link, "synced", NULL, error)) == NULL)
    return FALSE;
  g_free (s->last_sent);
  s->last_sent = g_strdup (subvolume);
  return TRUE;
}

/* The snapshots' directories but their rootfs by rsync (a stateful
 * snapshot's state is there), then each rootfs, oldest first, as a stream
 * of its difference from the one before. */
static gboolean
send_snapshots_btrfs (SourceData *s, guint64 *bytes, GError **error)
{
  JsonArray *arr = json_node_get_array (s->snapshots);

  if (!send_rsync (s, "snapshots", s->snapshots_dir, &(FerryRsyncOptions){ .delete = TRUE, .exclude = "/*/rootfs" },
                   NULL, bytes, error))
    return FALSE;
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      const char *name = json_object_get_string_member (json_array_get_object_element (arr, i), "name");
      g_autofree char *rootfs = g_build_filename (s->snapshots_dir, name, "rootfs", NULL);
      if (!send_btrfs (s, "snapshot-rootfs", "snapshot", name, rootfs, bytes, error))
        return FALSE;
    }
  return TRUE;
}

/* The rootfs as it is now: a readonly snapshot of it, sent as its
 * difference from the last stream (a snapshot, or the previous pass). */
static gboolean
send_rootfs_btrfs (SourceData *s, guint64 *bytes, GError **error)
{
  g_autofree char *name = g_strdup_printf ("rootfs.%u", ++s->passes);
  g_autofree char *snap = g_build_filename (s->send_dir, name, NULL);

  if (!ferry_mkdir_p (s->send_dir, 0700, error) || !ferry_btrfs_snapshot (s->rootfs, snap, TRUE, error))
    {
      g_prefix_error (error, "Snapshotting the rootfs to send it: ");
      return FALSE;
    }
  return send_btrfs (s, "rootfs", "volume", name, snap, bytes, error);
}

static gboolean
send_sync (SourceData *s, const char *what, const char *src, gboolean delete, guint64 *bytes, GError **error)
{
  if (s->btrfs && g_str_equal (what, "rootfs"))
    return send_rootfs_btrfs (s, bytes, error);
  if (s->btrfs && g_str_equal (what, "snapshots"))
    return send_snapshots_btrfs (s, bytes, error);
  return send_rsync (s, what, src, &(FerryRsyncOptions){ .delete = delete }, NULL, bytes, error);
}

/* A regular file of at most FERRY_IMAGE_METADATA_MAX bytes (a symlink or
 * anything else is not the instance's metadata: left out), or NULL. */
static GBytes *
read_metadata_file (const char *path, GError **error)
{
  ferry_autofd int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr (GString) data = g_string_new (NULL);
  struct stat st;
  char buf[64 * 1024];
  ssize_t n;

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return NULL;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      g_string_append_len (data, buf, n);
      if (data->len > FERRY_IMAGE_METADATA_MAX)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s is larger than %d bytes", path,
                       FERRY_IMAGE_METADATA_MAX);
          return NULL;
        }
    }
  if (n < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", path, g_strerror (errno));
      return NULL;
    }
  return g_string_free_to_bytes (g_steal_pointer (&data));
}

/* The instance's image metadata.yaml and templates/ (beside its rootfs, as
 * LXD sends them inside its volume's transfer), in one control message:
 * "metadata" its text, "templates" each file's contents in base64. */
static gboolean
send_metadata (SourceData *s, GError **error)
{
  g_autoptr (JsonObject) msg = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  g_autofree char *md_path = g_build_filename (s->inst_dir, "metadata.yaml", NULL);
  g_autofree char *tpl_dir = g_build_filename (s->inst_dir, "templates", NULL);
  g_autoptr (GBytes) md = read_metadata_file (md_path, error);
  g_autoptr (GDir) dir = NULL;
  JsonObject *templates = json_object_new ();
  const char *name;

  json_object_set_object_member (msg, "templates", templates);
  if (error != NULL && *error != NULL)
    return FALSE;
  json_object_set_string_member (msg, "type", "sync");
  json_object_set_string_member (msg, "what", "metadata");
  if (md != NULL)
    {
      g_autofree char *text = g_strndup (g_bytes_get_data (md, NULL), g_bytes_get_size (md));
      json_object_set_string_member (msg, "metadata", text);
    }
  dir = g_dir_open (tpl_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tpl_dir, name, NULL);
      g_autoptr (GBytes) data = NULL;
      g_autofree char *b64 = NULL;
      if (!ferry_image_template_name_valid (name))
        continue;
      if ((data = read_metadata_file (path, error)) == NULL)
        {
          if (*error != NULL)
            return FALSE;
          continue;
        }
      b64 = g_base64_encode (g_bytes_get_data (data, NULL), g_bytes_get_size (data));
      json_object_set_string_member (templates, name, b64);
    }
  if (!ferry_migration_send (s->link, msg, error) || (reply = ferry_migration_recv (s->link, "synced", NULL, error)) == NULL)
    return FALSE;
  return TRUE;
}

/* ---- the page stream: CRIU dials a local port, we relay it ---- */

typedef struct
{
  FerryWsConn *criu;
  int listen_fd;
  volatile gint stop;
  guint64 bytes;
  GError *error;
} Relay;

static gpointer
relay_main (gpointer data)
{
  Relay *r = data;
  int conn = -1;

  while (!g_atomic_int_get (&r->stop))
    {
      struct pollfd p = { .fd = r->listen_fd, .events = POLLIN };
      if (poll (&p, 1, 50) == 1)
        {
          conn = accept4 (r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
          break;
        }
    }
  if (conn < 0)
    {
      g_set_error_literal (&r->error, FERRY_ERROR, FERRY_ERROR_FAILED, "CRIU never connected to the page stream");
      /* The target's page server waits for a stream: end it. */
      ferry_ws_conn_send (r->criu, FERRY_WS_TEXT, "EOF", 3, NULL);
      return NULL;
    }
  ferry_ws_tune_socket (conn);
  ferry_ws_conn_pump (r->criu, conn, &r->bytes, NULL, NULL, &r->error);
  close (conn);
  return NULL;
}

static int
listen_loopback (int *port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  if (bind (fd, (struct sockaddr *) &a, sizeof a) < 0 || listen (fd, 1) < 0
      || getsockname (fd, (struct sockaddr *) &a, &len) < 0)
    {
      close (fd);
      return -1;
    }
  *port = ntohs (a.sin_port);
  return fd;
}

/* One line of the dump's hold ("early" or "frozen"), or NULL at EOF. */
static char *
read_hold_line (int fd)
{
  char buf[32];
  gsize len = 0;

  while (len < sizeof buf - 1)
    {
      ssize_t n = read (fd, buf + len, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return NULL;
      if (buf[len] == '\n')
        break;
      len++;
    }
  return g_strndup (buf, len);
}

/* The final rootfs sync, in a thread while the pages stream. */
typedef struct
{
  SourceData *s;
  guint64 bytes;
  gint64 ms;
  GError *error;
} EarlySync;

static gboolean send_sync (SourceData *s, const char *what, const char *src, gboolean delete, guint64 *bytes,
                           GError **error);

/* At most this many stale files are named to the target (its copies then
 * taken as stale whatever their size and time); past that, every file is
 * checked by content. */
#define STALE_MAX 65536
#define STALE_BYTES_MAX (8 * 1024 * 1024)

/* The files of CHANGES (not its directories, "D/." and "."), as a JSON
 * array; NULL when there are too many to name. */
static JsonArray *
stale_files (GPtrArray *changes)
{
  g_autoptr (JsonArray) stale = json_array_new ();
  gsize total = 0;

  for (guint i = 0; i < changes->len; i++)
    {
      const char *p = g_ptr_array_index (changes, i);
      if (g_str_equal (p, ".") || g_str_has_suffix (p, "/."))
        continue;
      total += strlen (p) + 4;
      if (json_array_get_length (stale) >= STALE_MAX || total > STALE_BYTES_MAX)
        return NULL;
      json_array_add_string_element (stale, p);
    }
  return g_steal_pointer (&stale);
}

/* The rootfs while frozen. With the state taken before the pre-copy read
 * the tree, and a target that takes records: what changed since (nothing
 * at all when nothing did: a walk of the tree, no process, no message),
 * each entry sent in-process (common/tree-changes.h), no rsync session in the freeze.
 * The whole tree by rsync when a list cannot stand for the change (more
 * than a quarter of the tree), the target told which of its files are
 * stale (rsync's quick check would keep a copy of the same size and time
 * as a file rewritten within the same clock tick); every file by content
 * when they cannot be named. */
static gboolean
final_rootfs_sync (SourceData *s, guint64 *bytes, GError **error)
{
  guint64 before = *bytes;
  g_autoptr (GPtrArray) changes = NULL;
  g_autoptr (JsonArray) stale = NULL;
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (FerryChangesReader) reader = NULL;
  FerryRsyncOptions all = { .delete = TRUE };
  const char *why = "the tree's state was not taken";
  gboolean ok;
  guint max;

  s->final_sync_entries = -1;
  s->final_sync_bytes = 0;
  /* btrfs: a stream of the difference from the pre-copy's snapshot. A
   * target that takes no records: all of it, unless nothing changed. */
  if (s->btrfs || (s->rootfs_state != NULL && !s->tree_changes))
    {
      if (!s->btrfs && ferry_tree_state_unchanged (s->rootfs_state, s->rootfs))
        {
          s->final_sync_entries = 0;
          return TRUE;
        }
      ok = send_sync (s, "rootfs", s->rootfs, TRUE, bytes, error);
      s->final_sync_bytes = *bytes - before;
      return ok;
    }
  if (s->rootfs_state != NULL)
    changes = ferry_tree_state_changes (s->rootfs_state, s->rootfs, &why);
  if (changes != NULL && changes->len == 0)
    {
      g_debug ("Migration of %s: the rootfs is as the pre-copy sent it (%u entries)", s->name,
               ferry_tree_state_entries (s->rootfs_state));
      s->final_sync_entries = 0;
      return TRUE;
    }
  /* Past a quarter of the tree, rsync's comparison of what it holds
   * sends less than every listed file whole. */
  max = s->rootfs_state != NULL ? MAX (256, ferry_tree_state_entries (s->rootfs_state) / 4) : 0;
  if (changes != NULL)
    {
      /* Each changed directory's names in one message of the channel
       * (half its maximum: the rest of the record, JSON's escapes). */
      reader = ferry_changes_reader_new (s->rootfs, NULL);
      why = changes->len > max ? "many changes"
            : reader == NULL   ? "the rootfs cannot be opened"
            : !ferry_changes_reader_dirs_fit (reader, changes, FERRY_WS_MAX_MESSAGE / 2)
                ? "a changed directory holds more names than a record"
                : NULL;
    }
  if (changes != NULL && reader != NULL && why == NULL)
    {
      s->final_sync_entries = changes->len;
      ok = announce_sync (s, "rootfs-changes", NULL, NULL, error)
           && ferry_migration_changes_send (s->link, reader, changes, bytes, error)
           && (reply = ferry_migration_recv (s->link, "synced", NULL, error)) != NULL;
    }
  else
    {
      g_message ("Migration of %s: the whole rootfs goes again (%s)", s->name, why);
      stale = changes != NULL ? stale_files (changes) : NULL;
      all.every_file = stale == NULL;
      ok = send_rsync (s, "rootfs", s->rootfs, &all, stale, bytes, error);
    }
  s->final_sync_bytes = *bytes - before;
  return ok;
}

static gpointer
early_sync_main (gpointer data)
{
  EarlySync *e = data;
  gint64 t0 = g_get_monotonic_time ();

  final_rootfs_sync (e->s, &e->bytes, &e->error);
  e->ms = (g_get_monotonic_time () - t0) / 1000;
  return NULL;
}

static gint64
stat_ms (JsonObject *stats, const char *key)
{
  return stats && json_object_has_member (stats, key) ? json_object_get_int_member (stats, key) / 1000 : -1;
}

/* A live dump in progress: `ferry-monitor checkpoint --page-server`
 * (PROC), which says "early" and "frozen" on HOLD and waits there for "c"
 * (commit: the tree dies here) or "a" (abort: it runs on); the thread
 * relaying its pages to the criu channel; the thread of the final rootfs
 * sync, started once the tree is frozen. */
typedef struct
{
  GSubprocess *proc;
  int hold;
  Relay relay;
  GThread *relay_thread;
  EarlySync early;
  GThread *early_thread;
  gint64 t_start, t_freeze, t_frozen;
} LiveDump;

static void
live_dump_clear (LiveDump *ld)
{
  if (ld->early_thread != NULL)
    g_thread_join (ld->early_thread);
  g_clear_error (&ld->early.error);
  if (ld->relay_thread != NULL)
    g_thread_join (ld->relay_thread);
  g_clear_error (&ld->relay.error);
  if (ld->relay.listen_fd >= 0)
    close (ld->relay.listen_fd);
  if (ld->hold >= 0)
    close (ld->hold);
  g_clear_object (&ld->proc);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LiveDump, live_dump_clear)

/* Asks the target for its page server, then starts the dump, whose pages
 * CRIU sends to a local port the relay joins to the criu channel. A
 * failure to spawn is reported by live_dump_wait_frozen. */
static gboolean
live_dump_start (SourceData *s, LiveDump *ld, GError **spawn_error, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (JsonObject) ready = NULL;
  int hold[2] = { -1, -1 }, port = 0;

  if (!ferry_migration_send_type (s->link, "dump", error)
      || (ready = ferry_migration_recv (s->link, "ready", NULL, error)) == NULL)
    return FALSE;
  ld->relay.criu = ferry_migration_link_channel (s->link, FERRY_MIGRATION_CRIU);
  if ((ld->relay.listen_fd = listen_loopback (&port)) < 0
      || socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hold) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Preparing the page stream: %s", g_strerror (errno));
      ferry_ws_conn_send (ld->relay.criu, FERRY_WS_TEXT, "EOF", 3, NULL);
      return FALSE;
    }
  ld->hold = hold[0];
  g_ptr_array_add (argv, g_strdup (s->daemon->monitor_path));
  for (guint i = 0; i < s->checkpoint_argv->len && g_ptr_array_index (s->checkpoint_argv, i) != NULL; i++)
    g_ptr_array_add (argv, g_strdup (g_ptr_array_index (s->checkpoint_argv, i)));
  g_ptr_array_add (argv, g_strdup ("--page-server"));
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%d", port));
  g_ptr_array_add (argv, g_strdup ("--hold-fd"));
  g_ptr_array_add (argv, g_strdup ("3"));
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_take_fd (launcher, hold[1], 3);

  ld->t_start = ld->t_freeze = g_get_monotonic_time ();
  ld->relay_thread = g_thread_new ("page-relay", relay_main, &ld->relay);
  ld->proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, spawn_error);
  return TRUE;
}

/* Waits for the tree to be frozen (starting the final rootfs sync as soon
 * as the dump says "early"). If it never is, the dump failed: the relay
 * is stopped and the error says why. */
static gboolean
live_dump_wait_frozen (SourceData *s, FerryOperation *op, LiveDump *ld, guint64 *fs_bytes, GError *spawn_error,
                       GError **error)
{
  g_autofree char *err_text = NULL;
  gboolean frozen = FALSE;

  if (ld->proc != NULL)
    {
      g_autofree char *line = read_hold_line (ld->hold);
      /* The dump says "early" as soon as the tree is frozen; without it,
       * the freeze is known only to be after the dump started. */
      if (g_strcmp0 (line, "early") == 0)
        {
          ld->t_freeze = g_get_monotonic_time ();
          ld->early.s = s;
          ld->early_thread = g_thread_new ("early-sync", early_sync_main, &ld->early);
          g_free (line);
          line = read_hold_line (ld->hold);
        }
      frozen = g_strcmp0 (line, "frozen") == 0;
    }
  ld->t_frozen = g_get_monotonic_time ();
  if (ld->early_thread != NULL)
    {
      g_thread_join (ld->early_thread);
      ld->early_thread = NULL;
      *fs_bytes += ld->early.bytes;
      ferry_migration_set_figure (op, s->figures, "migration_final_sync_ms", ld->early.ms);
    }
  if (frozen)
    return TRUE;
  g_atomic_int_set (&ld->relay.stop, 1);
  ferry_ws_conn_shutdown (ld->relay.criu);
  g_thread_join (ld->relay_thread);
  ld->relay_thread = NULL;
  g_clear_error (&ld->relay.error);
  if (ld->proc != NULL)
    g_subprocess_communicate_utf8 (ld->proc, NULL, NULL, NULL, &err_text, NULL);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the dump failed on the source: %s",
               spawn_error ? spawn_error->message
                           : (err_text && *g_strstrip (err_text) ? err_text : "ferry-monitor died"));
  ferry_error_add_log (error, s->dump_log);
  return FALSE;
}

/* The CRIU images but the pages, in-process (no rsync inside the freeze). */
static gboolean
send_state_files (SourceData *s, guint64 *bytes, GError **error)
{
  g_autoptr (JsonObject) reply = NULL;

  if (!announce_sync (s, "state-files", NULL, NULL, error)
      || !ferry_migration_files_send (s->link, s->images, bytes, error))
    return FALSE;
  reply = ferry_migration_recv (s->link, "synced", NULL, error);
  return reply != NULL;
}

/* Frozen: the pages are through (CRIU closed the stream before
 * post-dump), then the rootfs (unless the early sync did it) and the
 * other images; the target restores (*restore_ms: its figure). */
static gboolean
sync_and_restore (SourceData *s, FerryOperation *op, LiveDump *ld, guint64 *fs_bytes, gint64 *restore_ms,
                  gint64 *running_ms, GError **error)
{
  g_autoptr (JsonObject) restored = NULL;
  gint64 t_synced;

  g_thread_join (ld->relay_thread);
  ld->relay_thread = NULL;
  if (ld->relay.error != NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&ld->relay.error), "sending the memory pages: ");
      return FALSE;
    }
  ferry_migration_set_figure (op, s->figures, "migration_memory_bytes", (gint64) ld->relay.bytes);
  ferry_migration_set_figure (op, s->figures, "migration_dump_ms", (ld->t_frozen - ld->t_start) / 1000);
  if (ld->early.error != NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&ld->early.error), "the final rootfs sync: ");
      return FALSE;
    }
  if ((ld->early.s == NULL && !final_rootfs_sync (s, fs_bytes, error))
      || !(s->state_files ? send_state_files (s, fs_bytes, error) : send_sync (s, "state", s->images, FALSE, fs_bytes, error)))
    return FALSE;
  t_synced = g_get_monotonic_time ();
  ferry_migration_set_figure (op, s->figures, "migration_final_sync_bytes", (gint64) s->final_sync_bytes);
  ferry_migration_set_figure (op, s->figures, "migration_final_sync_entries", s->final_sync_entries);
  ferry_migration_set_figure (op, s->figures, "migration_images_sync_ms", (t_synced - ld->t_frozen) / 1000);
  if (ld->early.s == NULL)
    ferry_migration_set_figure (op, s->figures, "migration_final_sync_ms", (t_synced - ld->t_frozen) / 1000);
  if (!ferry_migration_send_type (s->link, "restore", error)
      || (restored = ferry_migration_recv (s->link, "restored", NULL, error)) == NULL)
    return FALSE;
  ferry_json_get_int (restored, "restore_ms", restore_ms, NULL);
  ferry_json_get_int (restored, "running_ms", running_ms, NULL);
  return TRUE;
}

/* The target runs it: the frozen tree here dies. Then the figures. */
static void
live_dump_commit (SourceData *s, FerryOperation *op, LiveDump *ld, gint64 t_restored, gint64 restore_ms,
                  gint64 running_ms)
{
  g_autofree char *err_text = NULL;
  g_autofree char *stats_text = NULL;
  g_autoptr (JsonObject) stats = NULL;
  gint64 t_exit, freezing;

  if (write (ld->hold, "c", 1) != 1)
    g_warning ("Migration of %s: telling the dump to commit: %s", s->name, g_strerror (errno));
  s->committed = TRUE;
  g_subprocess_communicate_utf8 (ld->proc, NULL, NULL, NULL, &err_text, NULL);
  if (!g_subprocess_get_successful (ld->proc))
    g_warning ("Migration of %s: the source's dump ended badly after the commit: %s", s->name, err_text);
  t_exit = g_get_monotonic_time ();
  if (g_file_get_contents (s->stats_file, &stats_text, NULL, NULL))
    stats = ferry_json_parse_object (stats_text, strlen (stats_text), FALSE, NULL);
  freezing = stat_ms (stats, "freezing_time");
  ferry_migration_set_figure (op, s->figures, "migration_freeze_ms", freezing >= 0 ? freezing : 0);
  ferry_migration_set_figure (op, s->figures, "migration_restore_ms", restore_ms);
  /* From the freeze here to the restored tree running on the target (its
   * answer, less how long it had run there when the target sent it): the
   * time no process of the container ran anywhere. */
  ferry_migration_set_figure (op, s->figures, "migration_downtime_ms",
                              MAX ((t_restored - ld->t_freeze) / 1000 - MAX (running_ms, 0), 0));
  ferry_migration_set_figure (op, s->figures, "migration_teardown_ms", (t_exit - t_restored) / 1000);
  ferry_migration_set_figure (op, s->figures, "migration_transfer_mbps",
                              (gint64) (ld->relay.bytes / 1e6 / MAX ((ld->t_frozen - ld->t_start) / 1e6, 0.001)));
}

/* Anything before the commit: the tree runs on here, as it was. */
static void
live_dump_abort (SourceData *s, LiveDump *ld, GError **error)
{
  g_autofree char *err_text = NULL;

  if (write (ld->hold, "a", 1) != 1)
    g_debug ("abort: %s", g_strerror (errno));
  g_subprocess_communicate_utf8 (ld->proc, NULL, NULL, NULL, &err_text, NULL);
  g_prefix_error (error, "%s runs on here (the source) as before; ", s->name);
}

static gboolean
live_transfer (SourceData *s, FerryOperation *op, guint64 *fs_bytes, GError **error)
{
  g_auto (LiveDump) ld = { .hold = -1, .relay.listen_fd = -1 };
  g_autoptr (GError) spawn_error = NULL;
  gint64 restore_ms = -1, running_ms = 0;

  if (!live_dump_start (s, &ld, &spawn_error, error)
      || !live_dump_wait_frozen (s, op, &ld, fs_bytes, spawn_error, error))
    return FALSE;
  if (!sync_and_restore (s, op, &ld, fs_bytes, &restore_ms, &running_ms, error))
    {
      live_dump_abort (s, &ld, error);
      return FALSE;
    }
  live_dump_commit (s, op, &ld, g_get_monotonic_time (), restore_ms, running_ms);
  return TRUE;
}

static gboolean
freeze (SourceData *s, gboolean on, GError **error)
{
  const char *argv[] = { on ? "freeze" : "unfreeze", "--run-dir", s->run_dir, NULL };

  return ferry_run_monitor (s->daemon, argv, NULL, error);
}

static gboolean
source_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SourceData *s = user_data;
  g_autoptr (JsonObject) offer = json_object_new ();
  g_autoptr (JsonObject) accept = NULL;
  guint64 fs_bytes = 0;
  gint64 t0 = g_get_monotonic_time (), t_pre;

  if (!ferry_migration_link_establish (s->link, cancellable, error))
    return FALSE;

  json_object_set_string_member (offer, "type", "offer");
  json_object_set_boolean_member (offer, "live", s->live);
  json_object_set_boolean_member (offer, "instance_only", s->instance_only);
  json_object_set_member (offer, "snapshots", s->instance_only ? json_node_init_array (json_node_alloc (), json_array_new ())
                                                                 : json_node_copy (s->snapshots));
  /* Where it is here, and how its files can go (a target that knows only
   * rsync ignores both). */
  json_object_set_string_member (offer, "pool", s->pool_name);
  {
    JsonArray *fs = json_array_new ();
    if (s->btrfs_offered)
      json_array_add_string_element (fs, "btrfs");
    json_array_add_string_element (fs, "rsync");
    json_object_set_array_member (offer, "fs", fs);
  }
  /* What else it can send: a target that knows an item says so in its
   * accept (older ones ignore this list and get none of them). */
  {
    JsonArray *items = json_array_new ();
    json_array_add_string_element (items, "metadata");
    json_object_set_array_member (offer, "items", items);
  }
  {
    gint64 bytes = disk_usage (s->rootfs) + (s->instance_only ? 0 : disk_usage (s->snapshots_dir));
    FerryRuntimeState st = { 0 };
    if (s->live && ferry_runtime_read_state (s->run_dir, &st, NULL) && st.running)
      bytes += st.memory_usage;
    json_object_set_int_member (offer, "bytes", bytes);
    if (s->live)
      {
        g_autofree char *pid = g_strdup_printf ("%d", (int) st.init_pid);
        g_autofree char *facts = NULL;
        const char *argv[] = { "migrate-facts", "--root", s->daemon->layout->root, "--pid", pid, NULL };
        if (!ferry_run_monitor (s->daemon, argv, &facts, error))
          {
            g_prefix_error (error, "Gathering this host's facts for the target's checks: ");
            goto fail;
          }
        json_object_set_string_member (offer, "facts", facts);
        json_object_set_string_member (offer, "idmap", s->idmap);
      }
  }
  if (!ferry_migration_send (s->link, offer, error)
      || (accept = ferry_migration_recv (s->link, "accept", cancellable, error)) == NULL)
    goto fail_quiet;
  if (s->live && !ferry_migrate_accept_check (accept, error))
    goto fail;
  s->btrfs = s->btrfs_offered && g_str_equal (json_object_get_string_member_with_default (accept, "fs", "rsync"), "btrfs");
  g_message ("Migration of %s: its files go by %s", s->name, s->btrfs ? "btrfs send" : "rsync");

  if (!ferry_json_get_bool (accept, "state_files", &s->state_files, error)
      || !ferry_json_get_bool (accept, "tree_changes", &s->tree_changes, error))
    goto fail;
  s->tree_changes = s->tree_changes && !s->btrfs;
  {
    gboolean takes_metadata = FALSE;
    if (!ferry_json_get_bool (accept, "metadata", &takes_metadata, error))
      goto fail;
    if (takes_metadata && !send_metadata (s, error))
      goto fail;
  }
  t_pre = g_get_monotonic_time ();
  if (!s->instance_only && json_array_get_length (json_node_get_array (s->snapshots)) > 0
      && !send_sync (s, "snapshots", s->snapshots_dir, TRUE, &fs_bytes, error))
    goto fail_quiet;
  if (s->live && !s->btrfs)
    s->rootfs_state = ferry_tree_state_take (s->rootfs, NULL);
  if (!send_sync (s, "rootfs", s->rootfs, TRUE, &fs_bytes, error))
    goto fail_quiet;
  ferry_migration_set_figure (op, s->figures, "migration_precopy_ms", ms_since (t_pre));

  if (s->live)
    {
      if (!live_transfer (s, op, &fs_bytes, error))
        goto fail;
    }
  else if (s->running)
    {
      /* A stateless copy of a running instance: its files at one instant. */
      gboolean synced;
      if (!freeze (s, TRUE, error))
        goto fail;
      synced = send_sync (s, "rootfs", s->rootfs, TRUE, &fs_bytes, error);
      if (!freeze (s, FALSE, synced ? error : NULL) || !synced)
        goto fail_quiet;
    }
  ferry_migration_set_figure (op, s->figures, "migration_fs_bytes", (gint64) fs_bytes);
  ferry_migration_set_figure (op, s->figures, "migration_total_ms", ms_since (t0));
  {
    g_autoptr (JsonObject) done = json_object_new ();
    json_object_set_string_member (done, "type", "done");
    json_object_set_object_member (done, "figures", json_object_ref (s->figures));
    /* Past the commit, the instance runs on the target whatever happens to
     * this message. */
    if (!ferry_migration_send (s->link, done, s->committed ? NULL : error) && !s->committed)
      goto fail_quiet;
  }
  return TRUE;

fail:
  ferry_migration_send_error (s->link, *error);
fail_quiet:
  ferry_migration_link_shutdown (s->link);
  g_prefix_error (error, "Migration of %s failed: ", s->name);
  return FALSE;
}

static void
source_done (FerryOperation *op, gpointer user_data, GError **error)
{
  SourceData *s = user_data;
  FerryDaemon *d = s->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, s->name);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", s->name);

  if (inst == NULL)
    return;
  if (s->committed)
    {
      ferry_instance_mark_stopped (d, inst);
      ferry_events_lifecycle (d, "instance-stopped", url, NULL);
      g_message ("Instance %s moved live to another server", s->name);
    }
  else if (*error != NULL)
    g_message ("%s", (*error)->message);
}

static void
source_cancel (FerryOperation *op, gpointer user_data)
{
  SourceData *s = user_data;

  ferry_migration_link_shutdown (s->link);
}

/* btrfs send takes readonly subvolumes: what the btrfs driver makes of
 * each snapshot's rootfs (but not what another driver left there). */
static gboolean
snapshots_sendable (SourceData *s)
{
  JsonArray *arr = json_node_get_array (s->snapshots);

  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      const char *name = json_object_get_string_member (json_array_get_object_element (arr, i), "name");
      g_autofree char *rootfs = g_build_filename (s->snapshots_dir, name, "rootfs", NULL);
      if (!ferry_btrfs_is_readonly_subvolume (rootfs))
        return FALSE;
    }
  return TRUE;
}

static JsonNode *
snapshot_rows (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autoptr (GPtrArray) rows = ferry_db_snapshot_list (d->db, inst->row->id, error);
  JsonArray *arr;
  JsonNode *node;

  if (rows == NULL)
    return NULL;
  arr = json_array_new ();
  for (guint i = 0; i < rows->len; i++)
    {
      FerryDbSnapshot *r = g_ptr_array_index (rows, i);
      JsonObject *o = json_object_new ();
      json_object_set_string_member (o, "name", r->name);
      json_object_set_string_member (o, "description", r->description ? r->description : "");
      json_object_set_boolean_member (o, "stateful", r->stateful);
      json_object_set_int_member (o, "created_at", r->created_at);
      json_object_set_int_member (o, "expires_at", r->expires_at);
      json_object_set_string_member (o, "config", r->config_json ? r->config_json : "{}");
      json_object_set_string_member (o, "devices", r->devices_json ? r->devices_json : "{}");
      json_object_set_string_member (o, "profiles", r->profiles_json ? r->profiles_json : "[]");
      json_object_set_string_member (o, "architecture", r->architecture ? r->architecture : "");
      json_object_set_boolean_member (o, "ephemeral", r->ephemeral);
      json_array_add_object_element (arr, o);
    }
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, arr);
  return node;
}

void
ferry_migration_source_start (FerryRequest *req, FerryInstance *inst, JsonObject *body)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  gboolean live = FALSE, instance_only = FALSE, container_only = FALSE;
  JsonObject *target = NULL;
  const char *t_op = NULL, *t_cert = NULL;
  JsonObject *t_secrets = NULL;
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  FerryOperation *op;
  SourceData *s;

  if (!ferry_json_get_bool (body, "live", &live, &error) || !ferry_json_get_bool (body, "instance_only", &instance_only, &error)
      || !ferry_json_get_bool (body, "container_only", &container_only, &error)
      || !ferry_json_get_object (body, "target", &target, &error))
    goto fail;
  if (target != NULL
      && (!ferry_json_get_string (target, "operation", &t_op, &error)
          || !ferry_json_get_string (target, "certificate", &t_cert, &error)
          || !ferry_json_get_object (target, "secrets", &t_secrets, &error)))
    goto fail;
  s = g_new0 (SourceData, 1);
  s->daemon = d;
  s->name = g_strdup (inst->row->name);
  s->running = ferry_instance_is_running (d, inst);
  s->live = live && s->running;
  s->instance_only = instance_only || container_only;
  s->inst_dir = ferry_layout_instance_dir (d->layout, s->name);
  s->rootfs = ferry_layout_rootfs (d->layout, s->name);
  s->snapshots_dir = ferry_layout_snapshots_dir (d->layout, s->name);
  s->run_dir = ferry_layout_run_dir (d->layout, s->name);
  s->figures = json_object_new ();
  {
    g_autofree char *log_dir = ferry_layout_log_dir (d->layout, s->name);
    g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
    g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
    g_autofree char *file = g_strdup_printf ("migrate_rsync_%s.log", stamp);
    ferry_mkdir_p (log_dir, 0700, NULL);
    s->rsync_log = g_build_filename (log_dir, file, NULL);
  }
  if ((s->snapshots = snapshot_rows (d, inst, &error)) == NULL)
    {
      source_data_free (s);
      goto fail;
    }
  {
    FerryStoragePool *pool = ferry_storage_pool_of_instance (d, s->name);
    g_autofree char *base = ferry_layout_instance_dir (d->layout, s->name);
    s->pool_name = g_strdup (pool ? pool->name : "default");
    s->send_dir = g_build_filename (base, ".migrate-send", NULL);
    s->btrfs_offered = pool != NULL && pool->driver == &ferry_storage_driver_btrfs
                       && ferry_btrfs_is_subvolume (s->rootfs) && (s->instance_only || snapshots_sendable (s));
  }
  if (s->live)
    {
      g_autofree char *base = ferry_layout_instance_dir (d->layout, s->name);
      if (!ferry_instance_check_checkpointable (d, inst, &error))
        {
          source_data_free (s);
          goto fail;
        }
      g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
      const char *current = g_hash_table_lookup (config, "volatile.idmap.current");
      /* Started before Ferry had user namespaces: privileged. */
      s->idmap = g_strdup (current ? current : "[]");
      s->images = g_build_filename (base, ".migrate-dump", NULL);
      s->dump_log = ferry_layout_criu_log (d->layout, s->name, "migrate_dump");
      s->stats_file = ferry_layout_stats_file (d->layout);
      ferry_rm_rf (s->images, NULL);
      if (!ferry_mkdir_p (s->images, 0700, &error))
        {
          source_data_free (s);
          goto fail;
        }
      s->checkpoint_argv = g_ptr_array_new_with_free_func (g_free);
      for (const char *const *a = (const char *const[]) { "checkpoint", "--run-dir", s->run_dir, "--images", s->images,
                                                           "--log", s->dump_log, "--stats", s->stats_file, NULL };
           *a != NULL; a++)
        g_ptr_array_add (s->checkpoint_argv, g_strdup (*a));
      g_ptr_array_add (s->checkpoint_argv, NULL);
    }
  if (target != NULL)
    s->link = ferry_migration_link_connecting (t_op, t_cert, t_secrets, s->live, &error);
  if (target != NULL && s->link == NULL)
    {
      source_data_free (s);
      goto fail;
    }
  op = ferry_operation_new (d, target != NULL ? FERRY_OP_CLASS_TASK : FERRY_OP_CLASS_WEBSOCKET,
                            s->live ? "Migrating instance (live)" : "Migrating instance");
  if (target == NULL)
    s->link = ferry_migration_link_accepting (op, s->live);
  if (!ferry_instance_claim (inst, op, "migrate", &error))
    {
      source_data_free (s);
      ferry_operation_unref (op);
      goto fail;
    }
  ferry_operation_add_resource (op, "instances", url);
  ferry_operation_set_cancel (op, G_CALLBACK (source_cancel), s);
  ferry_operation_run (op, source_work, source_done, s, (GDestroyNotify) source_data_free);
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
  return;

fail:
  ferry_respond_error (req->msg, error);
}
