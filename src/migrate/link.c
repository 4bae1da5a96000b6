/* What both sides of a migration share: the three channels, control
 * messages, and rsync or btrfs send/receive sessions over the fs channel. */
#include "migrate/migration.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "daemon/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* rsync's exit status for source files that vanished during the pass. */
#define RSYNC_VANISHED 24

static const char *const channel_names[FERRY_MIGRATION_N_CHANNELS] = { "control", "fs", "criu" };

/* How long the side handing out secrets waits for the peer to dial. */
#define ESTABLISH_TIMEOUT_S 60

struct FerryMigrationLink
{
  GMutex lock;
  GCond cond;
  gboolean want[FERRY_MIGRATION_N_CHANNELS];
  FerryWsConn *conns[FERRY_MIGRATION_N_CHANNELS];
  gboolean shut;
  /* dialing side */
  char *url, *cert_pem;
  char *secrets[FERRY_MIGRATION_N_CHANNELS];
};

static void
on_peer_channel (FerryOperation *op, const char *channel, GIOStream *stream, gpointer data)
{
  FerryMigrationLink *link = data;

  g_mutex_lock (&link->lock);
  for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
    if (link->want[i] && link->conns[i] == NULL && g_str_equal (channel, channel_names[i]) && !link->shut)
      {
        link->conns[i] = ferry_ws_conn_new (stream, FALSE);
        g_cond_broadcast (&link->cond);
        g_mutex_unlock (&link->lock);
        return;
      }
  g_mutex_unlock (&link->lock);
  g_io_stream_close (stream, NULL, NULL);
}

static FerryMigrationLink *
link_new (gboolean live)
{
  FerryMigrationLink *link = g_new0 (FerryMigrationLink, 1);

  g_mutex_init (&link->lock);
  g_cond_init (&link->cond);
  link->want[FERRY_MIGRATION_CONTROL] = link->want[FERRY_MIGRATION_FS] = TRUE;
  link->want[FERRY_MIGRATION_CRIU] = live;
  return link;
}

FerryMigrationLink *
ferry_migration_link_accepting (FerryOperation *op, gboolean live)
{
  FerryMigrationLink *link = link_new (live);

  for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
    if (link->want[i])
      ferry_operation_set_metadata_string (op, channel_names[i], ferry_operation_add_secret (op, channel_names[i]));
  ferry_operation_set_raw_connect_handler (op, on_peer_channel, link);
  return link;
}

FerryMigrationLink *
ferry_migration_link_connecting (const char *url, const char *cert_pem, JsonObject *secrets, gboolean live,
                                 GError **error)
{
  g_autoptr (GError) local = NULL;
  FerryMigrationLink *link;

  if (url == NULL || *url == '\0' || secrets == NULL)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "A migration needs the other server's \"operation\" URL and \"secrets\"");
      return NULL;
    }
  link = link_new (live);
  link->url = g_strdup (url);
  link->cert_pem = g_strdup (cert_pem ? cert_pem : "");
  for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
    {
      const char *s = NULL;
      if (!link->want[i])
        continue;
      if (!ferry_json_get_string (secrets, channel_names[i], &s, &local) || s == NULL || *s == '\0')
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The migration secret \"%s\" is missing%s%s",
                       channel_names[i], local ? ": " : "", local ? local->message : "");
          ferry_migration_link_free (link);
          return NULL;
        }
      link->secrets[i] = g_strdup (s);
    }
  return link;
}

void
ferry_migration_link_free (FerryMigrationLink *link)
{
  if (link == NULL)
    return;
  for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
    {
      ferry_ws_conn_free (link->conns[i]);
      g_free (link->secrets[i]);
    }
  g_free (link->url);
  g_free (link->cert_pem);
  g_mutex_clear (&link->lock);
  g_cond_clear (&link->cond);
  g_free (link);
}

void
ferry_migration_link_shutdown (FerryMigrationLink *link)
{
  g_mutex_lock (&link->lock);
  link->shut = TRUE;
  for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
    ferry_ws_conn_shutdown (link->conns[i]);
  g_cond_broadcast (&link->cond);
  g_mutex_unlock (&link->lock);
}

FerryWsConn *
ferry_migration_link_channel (FerryMigrationLink *link, FerryMigrationChannel ch)
{
  return link->conns[ch];
}

static gboolean
all_connected (FerryMigrationLink *link)
{
  for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
    if (link->want[i] && link->conns[i] == NULL)
      return FALSE;
  return TRUE;
}

gboolean
ferry_migration_link_establish (FerryMigrationLink *link, GCancellable *cancellable, GError **error)
{
  if (link->url != NULL)
    {
      for (int i = 0; i < FERRY_MIGRATION_N_CHANNELS; i++)
        {
          FerryWsConn *c;
          if (!link->want[i])
            continue;
          c = ferry_ws_conn_connect (link->url, link->secrets[i], link->cert_pem, cancellable, error);
          if (c == NULL)
            return FALSE;
          g_mutex_lock (&link->lock);
          link->conns[i] = c;
          if (link->shut)
            ferry_ws_conn_shutdown (c);
          g_mutex_unlock (&link->lock);
        }
      return TRUE;
    }

  gint64 deadline = g_get_monotonic_time () + ESTABLISH_TIMEOUT_S * G_TIME_SPAN_SECOND;
  gboolean ok;

  g_mutex_lock (&link->lock);
  while (!all_connected (link) && !link->shut && !g_cancellable_is_cancelled (cancellable))
    if (!g_cond_wait_until (&link->cond, &link->lock, MIN (deadline, g_get_monotonic_time () + G_TIME_SPAN_SECOND))
        && g_get_monotonic_time () >= deadline)
      break;
  ok = all_connected (link) && !link->shut;
  g_mutex_unlock (&link->lock);
  if (!ok)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                 g_cancellable_is_cancelled (cancellable) || link->shut
                   ? "The migration was cancelled before the other server connected"
                   : "The other server did not connect to the migration's websockets within %d seconds",
                 ESTABLISH_TIMEOUT_S);
  return ok;
}

/* ---- control messages ---- */

gboolean
ferry_migration_send (FerryMigrationLink *link, JsonObject *msg, GError **error)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;

  json_node_set_object (node, msg);
  text = ferry_json_to_string (node, FALSE);
  if (!ferry_ws_conn_send_text (link->conns[FERRY_MIGRATION_CONTROL], text, error))
    {
      g_prefix_error (error, "Migration: ");
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_migration_send_type (FerryMigrationLink *link, const char *type, GError **error)
{
  g_autoptr (JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", type);
  return ferry_migration_send (link, msg, error);
}

void
ferry_migration_send_error (FerryMigrationLink *link, const GError *error)
{
  g_autoptr (JsonObject) msg = json_object_new ();

  if (link == NULL || link->conns[FERRY_MIGRATION_CONTROL] == NULL || error == NULL)
    return;
  json_object_set_string_member (msg, "type", "error");
  json_object_set_string_member (msg, "error", error->message);
  ferry_migration_send (link, msg, NULL);
}

JsonObject *
ferry_migration_recv (FerryMigrationLink *link, const char *type, GCancellable *cancellable, GError **error)
{
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (JsonObject) obj = NULL;
  FerryWsKind kind = FERRY_WS_TEXT;
  const char *got = "";
  const char *reason = "(no reason given)";

  if (!ferry_ws_conn_recv (link->conns[FERRY_MIGRATION_CONTROL], &kind, buf, cancellable, error))
    return NULL;
  /* Callers compare "type" with g_str_equal: it must be a string. */
  if (kind != FERRY_WS_TEXT
      || (obj = ferry_json_parse_object ((const char *) buf->data, buf->len, FALSE, NULL)) == NULL
      || !ferry_json_get_string (obj, "type", &got, NULL)
      || !ferry_json_get_string (obj, "error", &reason, NULL))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the other server sent an unreadable control message");
      return NULL;
    }
  if (g_str_equal (got, "error"))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, reason);
      g_prefix_error (error, "the other server failed: ");
      return NULL;
    }
  if (type != NULL && !g_str_equal (got, type))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the other server sent \"%s\" where \"%s\" was due", got,
                   type);
      return NULL;
    }
  return g_steal_pointer (&obj);
}

/* ---- rsync over the fs channel ---- */


static char *
tool_log_tail (const char *log)
{
  g_autofree char *text = NULL;

  if (log == NULL || !g_file_get_contents (log, &text, NULL, NULL))
    return g_strdup ("");
  g_strstrip (text);
  return g_strdup (strlen (text) > 600 ? text + strlen (text) - 600 : text);
}

/* How a tool joins the fs channel. */
typedef enum
{
  JOIN_STDIO,  /* stdin and stdout: the rsync server */
  JOIN_FD3,    /* fd 3: the rsync client's -e netcat inherits it */
  JOIN_STDOUT, /* stdout alone: btrfs send */
  JOIN_STDIN,  /* stdin alone: btrfs receive (what it prints must not flow back) */
} Join;

/* Runs ARGV (NULL-terminated) joined to the fs channel through a socket, as
 * JOIN says. OK_STATUS is an exit status that counts as success besides 0
 * (-1: none). */
static gboolean
fs_session (FerryMigrationLink *link, GPtrArray *argv, Join join, const char *log, int ok_status, guint64 *bytes,
            GError **error)
{
  const char *tool = g_ptr_array_index (argv, 0);
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (join == JOIN_STDOUT ? G_SUBPROCESS_FLAGS_STDIN_PIPE
                                   : join == JOIN_STDIN ? G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                                        : G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) pump_error = NULL, wait_error = NULL;
  guint64 sent = 0, received = 0;
  gboolean pumped;
  int sv[2], child_fd, pump_fd;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "socketpair: %s", g_strerror (errno));
      return FALSE;
    }
  pump_fd = sv[0];
  child_fd = sv[1];
  if (join == JOIN_STDIO)
    {
      g_subprocess_launcher_take_stdin_fd (launcher, dup (child_fd));
      g_subprocess_launcher_take_stdout_fd (launcher, child_fd);
    }
  else if (join == JOIN_STDOUT)
    g_subprocess_launcher_take_stdout_fd (launcher, child_fd);
  else if (join == JOIN_STDIN)
    g_subprocess_launcher_take_stdin_fd (launcher, child_fd);
  else
    g_subprocess_launcher_take_fd (launcher, child_fd, 3);
  if (log != NULL)
    g_subprocess_launcher_set_stderr_file_path (launcher, log);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  g_clear_object (&launcher); /* closes our copies of the child's fds */
  if (proc == NULL)
    {
      close (pump_fd);
      return FALSE;
    }
  pumped = ferry_ws_conn_pump (ferry_migration_link_channel (link, FERRY_MIGRATION_FS), pump_fd, &sent, &received,
                               NULL, &pump_error);
  close (pump_fd);
  if (!pumped)
    g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, &wait_error);
  if (bytes != NULL)
    *bytes += sent + received;
  if (!pumped)
    {
      /* The tool quitting (a full disk...) broke the stream: its words are
       * the reason, when it left any. */
      g_autofree char *tail = tool_log_tail (log);
      if (*tail != '\0')
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s failed (%s); log: %s", tool, tail, log);
      else
        g_propagate_error (error, g_steal_pointer (&pump_error));
      return FALSE;
    }
  /* 24: "some files vanished before they could be transferred", which a
   * pass over a running container's rootfs meets (PostgreSQL replaces
   * pg_internal.init); the next pass, frozen, sends what is there. LXD
   * ignores it the same way. */
  if (!g_subprocess_get_if_exited (proc)
      || (g_subprocess_get_exit_status (proc) != 0 && g_subprocess_get_exit_status (proc) != ok_status))
    {
      g_autofree char *tail = tool_log_tail (log);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s failed (%s)%s%s", tool, *tail ? tail : "no message",
                   log ? "; log: " : "", log ? log : "");
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_migration_rsync_send (FerryDaemon *d, FerryMigrationLink *link, const char *src,
                            const FerryRsyncOptions *o, const char *log, guint64 *bytes, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup ("rsync"));
  g_ptr_array_add (argv, g_strdup ("-aHAX"));
  g_ptr_array_add (argv, g_strdup ("--numeric-ids"));
  g_ptr_array_add (argv, g_strdup ("--sparse"));
  if (o->delete)
    g_ptr_array_add (argv, g_strdup ("--delete"));
  if (o->exclude != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--exclude=%s", o->exclude));
  if (o->every_file)
    g_ptr_array_add (argv, g_strdup ("--ignore-times"));
  g_ptr_array_add (argv, g_strdup ("-e"));
  g_ptr_array_add (argv, g_strdup_printf ("%s netcat --fd 3", d->monitor_path));
  g_ptr_array_add (argv, g_strconcat (src, "/", NULL));
  g_ptr_array_add (argv, g_strdup ("ferry:/incoming/")); /* the receiver chooses where */
  g_ptr_array_add (argv, NULL);
  return fs_session (link, argv, JOIN_FD3, log, RSYNC_VANISHED, bytes, error);
}

gboolean
ferry_migration_rsync_receive (FerryMigrationLink *link, const char *dest, const FerryRsyncOptions *o,
                               const char *log, guint64 *bytes, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  if (!ferry_mkdir_p (dest, 0755, error))
    return FALSE;
  g_ptr_array_add (argv, g_strdup ("rsync"));
  g_ptr_array_add (argv, g_strdup ("--server"));
  /* What `rsync -aHAX --numeric-ids --sparse` asks of its server (rsync >=
   * 3.2); with --ignore-times, I. */
  g_ptr_array_add (argv, g_strdup_printf ("-lHogDtpAXr%sSe.iLsfxCIvu", o->every_file ? "I" : ""));
  if (o->delete)
    g_ptr_array_add (argv, g_strdup ("--delete"));
  /* Times to the nanosecond: a file rewritten in the same second at the
   * same size is not the same file. */
  g_ptr_array_add (argv, g_strdup ("--modify-window=-1"));
  g_ptr_array_add (argv, g_strdup ("--numeric-ids"));
  g_ptr_array_add (argv, g_strdup ("."));
  g_ptr_array_add (argv, g_strconcat (dest, "/", NULL));
  g_ptr_array_add (argv, NULL);
  return fs_session (link, argv, JOIN_STDIO, log, RSYNC_VANISHED, bytes, error);
}

gboolean
ferry_migration_btrfs_send (FerryMigrationLink *link, const char *subvolume, const char *parent, const char *log,
                            guint64 *bytes, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup ("btrfs"));
  g_ptr_array_add (argv, g_strdup ("send"));
  if (parent != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("-p"));
      g_ptr_array_add (argv, g_strdup (parent));
    }
  g_ptr_array_add (argv, g_strdup (subvolume));
  g_ptr_array_add (argv, NULL);
  return fs_session (link, argv, JOIN_STDOUT, log, -1, bytes, error);
}

gboolean
ferry_migration_btrfs_receive (FerryMigrationLink *link, const char *dir, const char *log, guint64 *bytes,
                               GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  if (!ferry_mkdir_p (dir, 0700, error))
    return FALSE;
  g_ptr_array_add (argv, g_strdup ("btrfs"));
  g_ptr_array_add (argv, g_strdup ("receive"));
  g_ptr_array_add (argv, g_strdup ("-C")); /* the stream's paths stay inside DIR */
  g_ptr_array_add (argv, g_strdup (dir));
  g_ptr_array_add (argv, NULL);
  return fs_session (link, argv, JOIN_STDIN, log, -1, bytes, error);
}

void
ferry_migration_set_figure (FerryOperation *op, JsonObject *figures, const char *key, gint64 value)
{
  g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, value);

  if (op != NULL)
    ferry_operation_set_metadata_string (op, key, text);
  if (figures != NULL)
    json_object_set_string_member (figures, key, text);
}

/* ---- leftovers of incoming migrations ---- */

gboolean
ferry_migration_force_stop (FerryDaemon *d, const char *run_dir, GError **error)
{
  const char *argv[] = { "stop", "--run-dir", run_dir, "--force", NULL };

  return ferry_run_monitor (d, argv, NULL, error);
}

void
ferry_migration_cleanup_incoming (FerryDaemon *d)
{
  GDir *dir = g_dir_open (d->layout->containers, 0, NULL);

  if (dir == NULL)
    return;
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    {
      g_autofree char *marker = ferry_layout_incoming_marker (d->layout, name);
      g_autofree char *inst_dir = g_build_filename (d->layout->containers, name, NULL);
      g_autofree char *snaps = ferry_layout_snapshots_dir (d->layout, name);
      g_autofree char *run_dir = ferry_layout_run_dir (d->layout, name);
      g_autoptr (GError) error = NULL;

      if (!g_file_test (marker, G_FILE_TEST_EXISTS))
        continue;
      if (g_hash_table_contains (d->instances, name))
        {
          /* Recorded before the source was told "restored", then ferryd
           * died: the instance is this host's now; its images are spent. */
          g_autofree char *state = ferry_layout_state_dir (d->layout, name);
          g_message ("Completing the incoming migration of %s: it was restored and recorded here", name);
          g_autofree char *recv = g_build_filename (inst_dir, ".migrate-recv", NULL);
          unlink (marker);
          ferry_rm_rf (recv, NULL);
          if (g_file_test (state, G_FILE_TEST_EXISTS))
            ferry_discard_in_background (state, name);
          continue;
        }
      g_message ("Removing what an unfinished incoming migration of %s left", name);
      ferry_migration_force_stop (d, run_dir, NULL);
      if (!ferry_storage_remove_linked (inst_dir, &error) || !ferry_storage_remove_linked (snaps, &error))
        g_warning ("Cleaning up the incoming migration of %s: %s", name, error->message);
    }
  g_dir_close (dir);
}
