#include "daemon/api/api.h"
#include "common/error.h"
#include "common/json.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Clients must open their websockets this soon after the POST. */
#define EXEC_CONNECT_TIMEOUT_SECONDS 30

enum
{
  CH_STDIN,
  CH_STDOUT,
  CH_STDERR,
  CH_CONTROL,
  N_CHANNELS
};

static const char *const channel_names[N_CHANNELS] = { "0", "1", "2", "control" };

typedef struct
{
  FerryDaemon *daemon;
  FerryOperation *op;
  char *instance; /* counted in its exec_sessions while the session lives */
  gboolean interactive;
  GPtrArray *argv; /* full ferry-monitor exec command line */
  JsonArray *command; /* the request's, for the instance-exec event */
  struct winsize size;

  SoupWebsocketConnection *ws[N_CHANNELS];
  int expected; /* the channels the command waits for: control is not one */
  int connected;
  guint connect_timeout;

  GSubprocess *proc;
  int stdin_fd;   /* our end of the command's stdin (pty master when interactive) */
  int out_fd[2];  /* our ends of stdout and stderr; out_fd[0] = pty master when interactive */
  guint out_watch[2];
  GByteArray *pending_in;
  guint in_watch;
  gboolean stdin_eof;
  gboolean finished;
} ExecSession;

/* LXD's "instance-exec" lifecycle event, once the command runs. */
static void
send_exec_event (FerryDaemon *d, const char *instance, JsonArray *command)
{
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", instance);
  JsonObject *context = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_array_member (context, "command", json_array_ref (command));
  json_node_take_object (node, context);
  ferry_events_lifecycle (d, "instance-exec", source, node);
}

static void
session_free (ExecSession *s)
{
  FerryInstance *inst = g_hash_table_lookup (s->daemon->instances, s->instance);

  if (inst != NULL && inst->exec_sessions > 0)
    inst->exec_sessions--;
  g_free (s->instance);
  g_clear_pointer (&s->command, json_array_unref);
  for (int i = 0; i < N_CHANNELS; i++)
    if (s->ws[i] != NULL)
      {
        g_signal_handlers_disconnect_by_data (s->ws[i], s);
        g_object_unref (s->ws[i]);
      }
  for (int i = 0; i < 2; i++)
    {
      if (s->out_watch[i])
        g_source_remove (s->out_watch[i]);
      if (s->out_fd[i] >= 0 && !(s->interactive && i == 1))
        close (s->out_fd[i]);
    }
  if (s->in_watch)
    g_source_remove (s->in_watch);
  if (s->stdin_fd >= 0 && !s->interactive)
    close (s->stdin_fd);
  if (s->connect_timeout)
    g_source_remove (s->connect_timeout);
  g_clear_object (&s->proc);
  g_byte_array_unref (s->pending_in);
  g_ptr_array_unref (s->argv);
  ferry_operation_unref (s->op);
  g_free (s);
}

static SoupWebsocketConnection *
output_socket (ExecSession *s, int which)
{
  return s->interactive ? s->ws[CH_STDIN] : s->ws[which == 0 ? CH_STDOUT : CH_STDERR];
}

static gboolean
socket_open (SoupWebsocketConnection *ws)
{
  return ws != NULL && soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

/* Reads what is available; FALSE at end of stream. */
static gboolean
pump_output (ExecSession *s, int which)
{
  char buf[65536];

  for (;;)
    {
      ssize_t n = read (s->out_fd[which], buf, sizeof buf);
      if (n > 0)
        {
          SoupWebsocketConnection *ws = output_socket (s, which);
          if (socket_open (ws))
            soup_websocket_connection_send_binary (ws, buf, (gsize) n);
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return TRUE;
      return FALSE; /* EOF, or EIO on a pty whose other side is gone */
    }
}

static void maybe_finish (ExecSession *s);

static gboolean
output_ready (int fd, GIOCondition cond, gpointer user_data)
{
  ExecSession *s = user_data;
  int which = fd == s->out_fd[0] ? 0 : 1;

  if (pump_output (s, which))
    return G_SOURCE_CONTINUE;
  s->out_watch[which] = 0;
  maybe_finish (s);
  return G_SOURCE_REMOVE;
}

/* An output socket that has ended lingers until the client closes it. */
#define EXEC_LINGER_SECONDS 60

static void
linger_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  g_signal_handlers_disconnect_by_func (ws, linger_closed, user_data);
  g_object_unref (ws);
}

static gboolean
linger_expired (gpointer user_data)
{
  SoupWebsocketConnection *ws = user_data;

  if (socket_open (ws))
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  return G_SOURCE_REMOVE;
}

static void
end_output_socket (SoupWebsocketConnection *ws)
{
  if (!socket_open (ws))
    return;
  /* A text message ends the stream for LXD clients, which then close the
   * socket themselves. Closing it here would lose output: libsoup puts a
   * close frame ahead of data frames still queued. So the socket lingers,
   * kept alive by its own reference, until the client closes it (or a late
   * timeout does). */
  soup_websocket_connection_send_text (ws, "");
  g_signal_connect (g_object_ref (ws), "closed", G_CALLBACK (linger_closed), NULL);
  g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, EXEC_LINGER_SECONDS, linger_expired, g_object_ref (ws),
                              g_object_unref);
}

static void
maybe_finish (ExecSession *s)
{
  int code;

  if (s->finished || s->proc == NULL || !g_object_get_data (G_OBJECT (s->proc), "ferry-exited"))
    return;
  /* The command has exited: whatever it wrote is in the pipes now. */
  for (int i = 0; i < (s->interactive ? 1 : 2); i++)
    {
      if (s->out_watch[i])
        {
          g_source_remove (s->out_watch[i]);
          s->out_watch[i] = 0;
        }
      if (s->out_fd[i] >= 0)
        pump_output (s, i);
    }
  s->finished = TRUE;
  if (g_subprocess_get_if_signaled (s->proc))
    code = 128 + g_subprocess_get_term_sig (s->proc);
  else
    code = g_subprocess_get_exit_status (s->proc);
  if (s->interactive)
    end_output_socket (s->ws[CH_STDIN]);
  else
    {
      end_output_socket (s->ws[CH_STDOUT]);
      end_output_socket (s->ws[CH_STDERR]);
    }
  ferry_operation_set_metadata_int (s->op, "return", code);
  ferry_operation_finish (s->op, NULL);
  session_free (s);
}

static void
process_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExecSession *s = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  g_object_set_data (source, "ferry-exited", GINT_TO_POINTER (1));
  maybe_finish (s);
}

static void
flush_stdin (ExecSession *s)
{
  while (s->pending_in->len > 0 && s->stdin_fd >= 0)
    {
      ssize_t n = write (s->stdin_fd, s->pending_in->data, s->pending_in->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n < 0)
        {
          g_byte_array_set_size (s->pending_in, 0);
          break;
        }
      g_byte_array_remove_range (s->pending_in, 0, (guint) n);
    }
  if (s->pending_in->len == 0 && s->stdin_eof && !s->interactive && s->stdin_fd >= 0)
    {
      close (s->stdin_fd);
      s->stdin_fd = -1;
    }
}

static gboolean
stdin_writable (int fd, GIOCondition cond, gpointer user_data)
{
  ExecSession *s = user_data;

  flush_stdin (s);
  if (s->pending_in->len > 0 && s->stdin_fd >= 0)
    return G_SOURCE_CONTINUE;
  s->in_watch = 0;
  return G_SOURCE_REMOVE;
}

/* Writes what the pipe takes now, and waits for room for the rest. */
static void
pump_stdin (ExecSession *s)
{
  flush_stdin (s);
  if (s->pending_in->len > 0 && s->stdin_fd >= 0 && s->in_watch == 0)
    s->in_watch = g_unix_fd_add (s->stdin_fd, G_IO_OUT, stdin_writable, s);
}

static void
stdin_message (SoupWebsocketConnection *ws, int type, GBytes *message, gpointer user_data)
{
  ExecSession *s = user_data;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (message, &len);

  /* lxc sends input (and its end) as soon as the stdin socket is open,
   * maybe before the other sockets are and the command runs: keep it. */
  gboolean spawned = s->proc != NULL;

  if (spawned && s->stdin_fd < 0)
    return; /* stdin already closed */
  if (s->stdin_eof)
    return;
  if (type == SOUP_WEBSOCKET_DATA_TEXT)
    {
      if (!s->interactive)
        s->stdin_eof = TRUE; /* LXD clients send one empty text message at EOF */
      if (spawned)
        pump_stdin (s);
      return;
    }
  g_byte_array_append (s->pending_in, data, (guint) len);
  if (spawned)
    pump_stdin (s);
}

static void
control_message (SoupWebsocketConnection *ws, int type, GBytes *message, gpointer user_data)
{
  ExecSession *s = user_data;
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);
  g_autoptr (JsonObject) obj = ferry_json_parse_object (data, len, FALSE, NULL);
  const char *command = NULL;
  gint64 sig = 0;
  JsonObject *args = NULL;

  if (obj == NULL || !ferry_json_get_string (obj, "command", &command, NULL) || command == NULL)
    return;
  if (strcmp (command, "signal") == 0 && ferry_json_get_int (obj, "signal", &sig, NULL))
    {
      if (s->proc != NULL && sig > 0 && sig < 65)
        g_subprocess_send_signal (s->proc, (int) sig);
    }
  else if (strcmp (command, "window-resize") == 0 && s->interactive && ferry_json_get_object (obj, "args", &args, NULL)
           && args != NULL)
    {
      const char *w = NULL, *h = NULL;
      ferry_json_get_string (args, "width", &w, NULL);
      ferry_json_get_string (args, "height", &h, NULL);
      if (w && h)
        {
          struct winsize size = { .ws_row = (unsigned short) g_ascii_strtoull (h, NULL, 10),
                                  .ws_col = (unsigned short) g_ascii_strtoull (w, NULL, 10) };
          ioctl (s->stdin_fd, TIOCSWINSZ, &size);
        }
    }
}

static void
socket_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  ExecSession *s = user_data;

  /* The client went away while the command runs: hang it up, as a
   * terminal would. */
  if (ws == s->ws[CH_CONTROL] && s->proc != NULL && !s->finished)
    g_subprocess_send_signal (s->proc, SIGHUP);
}

/* The terminal of an interactive exec comes from the container's own devpts
 * (as LXD does), so that inside the container ttyname() finds it under
 * /dev/pts; a pty of the host's devpts is invisible there ("not a tty"). */
static gboolean
open_container_pty (ExecSession *s, int *master_out, int *slave_out, GError **error)
{
  g_autofree char *run_dir = ferry_layout_run_dir (s->daemon->layout, s->instance);
  g_autofree char *ptmx = NULL;
  FerryRuntimeState st = { 0 };
  int unlock = 0;
  int master, slave;

  if (!ferry_runtime_read_state (run_dir, &st, error))
    return FALSE;
  if (!st.running)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Instance is not running");
      return FALSE;
    }
  ptmx = g_strdup_printf ("/proc/%d/root/dev/pts/ptmx", (int) st.init_pid);
  master = open (ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Allocating a terminal in the container (%s): %s", ptmx,
                   g_strerror (errno));
      return FALSE;
    }
  if (ioctl (master, TIOCSPTLCK, &unlock) < 0 || (slave = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening the container's terminal: %s", g_strerror (errno));
      close (master);
      return FALSE;
    }
  if (s->size.ws_col > 0 && s->size.ws_row > 0)
    ioctl (master, TIOCSWINSZ, &s->size);
  *master_out = master;
  *slave_out = slave;
  return TRUE;
}

static gboolean
spawn_command (ExecSession *s, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };

  if (s->interactive)
    {
      int master, slave;
      if (!open_container_pty (s, &master, &slave, error))
        return FALSE;
      g_unix_set_fd_nonblocking (master, TRUE, NULL);
      g_subprocess_launcher_take_stdin_fd (launcher, slave);
      g_subprocess_launcher_take_stdout_fd (launcher, dup (slave));
      g_subprocess_launcher_take_stderr_fd (launcher, dup (slave));
      s->stdin_fd = master;
      s->out_fd[0] = master;
    }
  else
    {
      if (!g_unix_open_pipe (in_pipe, FD_CLOEXEC, error) || !g_unix_open_pipe (out_pipe, FD_CLOEXEC, error)
          || !g_unix_open_pipe (err_pipe, FD_CLOEXEC, error))
        {
          for (int i = 0; i < 2; i++)
            {
              if (in_pipe[i] >= 0)
                close (in_pipe[i]);
              if (out_pipe[i] >= 0)
                close (out_pipe[i]);
              if (err_pipe[i] >= 0)
                close (err_pipe[i]);
            }
          return FALSE;
        }
      g_subprocess_launcher_take_stdin_fd (launcher, in_pipe[0]);
      g_subprocess_launcher_take_stdout_fd (launcher, out_pipe[1]);
      g_subprocess_launcher_take_stderr_fd (launcher, err_pipe[1]);
      s->stdin_fd = in_pipe[1];
      s->out_fd[0] = out_pipe[0];
      s->out_fd[1] = err_pipe[0];
      for (int i = 0; i < 2; i++)
        g_unix_set_fd_nonblocking (s->out_fd[i], TRUE, NULL);
      g_unix_set_fd_nonblocking (s->stdin_fd, TRUE, NULL);
    }
  s->proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) s->argv->pdata, error);
  if (s->proc == NULL)
    return FALSE;
  send_exec_event (s->daemon, s->instance, s->command);
  for (int i = 0; i < (s->interactive ? 1 : 2); i++)
    s->out_watch[i] = g_unix_fd_add (s->out_fd[i], G_IO_IN | G_IO_HUP | G_IO_ERR, output_ready, s);
  g_subprocess_wait_async (s->proc, NULL, process_exited, s);
  pump_stdin (s);
  return TRUE;
}

static gboolean
connect_timed_out (gpointer user_data)
{
  ExecSession *s = user_data;
  g_autoptr (GError) error = g_error_new (FERRY_ERROR, FERRY_ERROR_FAILED,
                                          "Timed out waiting for websockets to connect");

  s->connect_timeout = 0;
  ferry_operation_finish (s->op, error);
  session_free (s);
  return G_SOURCE_REMOVE;
}

static void
channel_connected (FerryOperation *op, const char *channel, SoupWebsocketConnection *conn, gpointer user_data)
{
  ExecSession *s = user_data;
  int ch = -1;

  for (int i = 0; i < N_CHANNELS; i++)
    if (strcmp (channel, channel_names[i]) == 0)
      ch = i;
  if (ch < 0 || s->ws[ch] != NULL)
    return;
  s->ws[ch] = g_object_ref (conn);
  if (ch == CH_STDIN)
    g_signal_connect (conn, "message", G_CALLBACK (stdin_message), s);
  else if (ch == CH_CONTROL)
    g_signal_connect (conn, "message", G_CALLBACK (control_message), s);
  g_signal_connect (conn, "closed", G_CALLBACK (socket_closed), s);
  /* As LXD, the command starts once its stdin, stdout and stderr (its pty)
   * are connected: pylxd never opens control, which only carries signals
   * and window sizes. */
  if (ch == CH_CONTROL || ++s->connected < s->expected || s->proc != NULL)
    return;

  g_source_remove (s->connect_timeout);
  s->connect_timeout = 0;
  g_autoptr (GError) error = NULL;
  if (!spawn_command (s, &error))
    {
      g_prefix_error (&error, "Running the command: ");
      ferry_operation_finish (s->op, error);
      session_free (s);
    }
}

/* What POST /1.0/instances/NAME/exec asks for, validated. */
typedef struct
{
  JsonArray *command; /* of strings (checked by exec_argv) */
  GHashTable *env;
  gboolean interactive;
  gboolean wait_for_websocket;
  gboolean record_output;
  gint64 width, height, uid, gid;
  const char *cwd;
} ExecRequest;

static void
exec_request_clear (ExecRequest *r)
{
  g_clear_pointer (&r->env, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ExecRequest, exec_request_clear)

static gboolean
parse_exec_request (JsonObject *body, ExecRequest *r, GError **error)
{
  JsonObject *env_obj = NULL;

  r->wait_for_websocket = TRUE;
  if (!ferry_json_get_array (body, "command", &r->command, error)
      || !ferry_json_get_object (body, "environment", &env_obj, error)
      || !ferry_json_get_bool (body, "interactive", &r->interactive, error)
      || !ferry_json_get_bool (body, "wait-for-websocket", &r->wait_for_websocket, error)
      || !ferry_json_get_bool (body, "record-output", &r->record_output, error)
      || !ferry_json_get_int (body, "width", &r->width, error) || !ferry_json_get_int (body, "height", &r->height, error)
      || !ferry_json_get_int (body, "user", &r->uid, error) || !ferry_json_get_int (body, "group", &r->gid, error)
      || !ferry_json_get_string (body, "cwd", &r->cwd, error))
    return FALSE;
  if (r->command == NULL || json_array_get_length (r->command) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Field \"command\" must be a non-empty list");
      return FALSE;
    }
  /* Without websockets there is no terminal: LXD runs the command on
   * /dev/null and files, whatever "interactive" says. */
  if (!r->wait_for_websocket)
    r->interactive = FALSE;
  if (r->uid < 0 || r->gid < 0 || r->uid > G_MAXUINT32 || r->gid > G_MAXUINT32 || r->width < 0 || r->height < 0
      || r->width > 65535 || r->height > 65535)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid user, group or terminal size");
      return FALSE;
    }
  r->env = ferry_json_string_map (env_obj, "Environment", error);
  return r->env != NULL;
}

/* `ferry-monitor exec` with the request's user, directory, environment
 * (the instance's environment.* keys, then the request's) and command. */
static GPtrArray *
exec_argv (FerryDaemon *d, FerryInstance *inst, const ExecRequest *r, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  GHashTableIter iter;
  gpointer k, v;

  g_ptr_array_add (argv, g_strdup (d->monitor_path));
  g_ptr_array_add (argv, g_strdup ("exec"));
  g_ptr_array_add (argv, g_strdup ("--run-dir"));
  g_ptr_array_add (argv, ferry_layout_run_dir (d->layout, inst->row->name));
  if (r->interactive)
    g_ptr_array_add (argv, g_strdup ("--tty"));
  if (r->cwd != NULL && *r->cwd != '\0')
    {
      g_ptr_array_add (argv, g_strdup ("--cwd"));
      g_ptr_array_add (argv, g_strdup (r->cwd));
    }
  g_ptr_array_add (argv, g_strdup ("--uid"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, r->uid));
  g_ptr_array_add (argv, g_strdup ("--gid"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, r->gid));
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (g_str_has_prefix (k, "environment.") && !g_hash_table_contains (r->env, (const char *) k + 12))
      {
        g_ptr_array_add (argv, g_strdup ("--env"));
        g_ptr_array_add (argv, g_strdup_printf ("%s=%s", (const char *) k + 12, (const char *) v));
      }
  g_hash_table_iter_init (&iter, r->env);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      if (strchr (k, '=') != NULL || *(const char *) k == '\0')
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid environment variable name \"%s\"",
                       (const char *) k);
          return NULL;
        }
      g_ptr_array_add (argv, g_strdup ("--env"));
      g_ptr_array_add (argv, g_strdup_printf ("%s=%s", (const char *) k, (const char *) v));
    }
  g_ptr_array_add (argv, g_strdup ("--"));
  for (guint i = 0; i < json_array_get_length (r->command); i++)
    {
      JsonNode *n = json_array_get_element (r->command, i);
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Every element of \"command\" must be a string");
          return NULL;
        }
      g_ptr_array_add (argv, g_strdup (json_node_get_string (n)));
    }
  g_ptr_array_add (argv, NULL);
  return g_steal_pointer (&argv);
}

/* The environment LXD reports in an exec operation: the request's, the
 * instance's environment.* keys it leaves out, then LXD's defaults. */
static JsonNode *
reported_environment (FerryDaemon *d, FerryInstance *inst, const ExecRequest *r)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  JsonObject *env = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, r->env);
  while (g_hash_table_iter_next (&iter, &k, &v))
    json_object_set_string_member (env, k, v);
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (g_str_has_prefix (k, "environment.") && !json_object_has_member (env, (const char *) k + 12))
      json_object_set_string_member (env, (const char *) k + 12, v);
  if (!json_object_has_member (env, "PATH"))
    json_object_set_string_member (env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (r->uid == 0 && !json_object_has_member (env, "HOME"))
    json_object_set_string_member (env, "HOME", "/root");
  if (r->uid == 0 && !json_object_has_member (env, "USER"))
    json_object_set_string_member (env, "USER", "root");
  if (!json_object_has_member (env, "LANG"))
    json_object_set_string_member (env, "LANG", "C.UTF-8");
  json_node_take_object (node, env);
  return node;
}

/* The session and its websocket operation: a secret per channel (no
 * stdout/stderr on a pty), waiting for the client's connections. */
static FerryOperation *
exec_session_start (FerryDaemon *d, FerryInstance *inst, const ExecRequest *r, GPtrArray *argv)
{
  ExecSession *s = g_new0 (ExecSession, 1);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  JsonObject *fds = json_object_new ();
  JsonNode *fds_node = json_node_new (JSON_NODE_OBJECT);

  s->daemon = d;
  s->interactive = r->interactive;
  s->size.ws_col = (unsigned short) r->width;
  s->size.ws_row = (unsigned short) r->height;
  s->stdin_fd = s->out_fd[0] = s->out_fd[1] = -1;
  s->pending_in = g_byte_array_new ();
  s->argv = argv;
  s->command = json_array_ref (r->command);
  s->instance = g_strdup (inst->row->name);
  inst->exec_sessions++;
  s->op = ferry_operation_new (d, FERRY_OP_CLASS_WEBSOCKET, "Executing command");
  ferry_operation_add_resource (s->op, "instances", url);
  for (int i = 0; i < N_CHANNELS; i++)
    {
      if (r->interactive && (i == CH_STDOUT || i == CH_STDERR))
        continue;
      json_object_set_string_member (fds, channel_names[i], ferry_operation_add_secret (s->op, channel_names[i]));
      if (i != CH_CONTROL)
        s->expected++;
    }
  json_node_take_object (fds_node, fds);
  /* LXD's exec metadata: what runs, and the channels' secrets. */
  ferry_operation_set_metadata_node (s->op, "command", json_node_init_array (json_node_alloc (), r->command));
  ferry_operation_set_metadata_node (s->op, "environment", reported_environment (d, inst, r));
  {
    JsonNode *interactive = json_node_new (JSON_NODE_VALUE);
    json_node_set_boolean (interactive, r->interactive);
    ferry_operation_set_metadata_node (s->op, "interactive", interactive);
  }
  ferry_operation_set_metadata_node (s->op, "fds", fds_node);
  ferry_operation_set_connect_handler (s->op, channel_connected, s);
  s->connect_timeout = g_timeout_add_seconds (EXEC_CONNECT_TIMEOUT_SECONDS, connect_timed_out, s);
  ferry_operation_register (s->op);
  return s->op;
}

/* ---- "wait-for-websocket": false: a task whose output is kept or dropped ---- */

typedef struct
{
  FerryDaemon *daemon;
  FerryOperation *op;
  char *instance; /* counted in its exec_sessions while the command runs */
  JsonNode *output; /* LXD's {"1": URL, "2": URL} of the recorded output, or NULL */
} DetachedExec;

static void
detached_exec_free (DetachedExec *x)
{
  FerryInstance *inst = g_hash_table_lookup (x->daemon->instances, x->instance);

  if (inst != NULL && inst->exec_sessions > 0)
    inst->exec_sessions--;
  g_free (x->instance);
  g_clear_pointer (&x->output, json_node_unref);
  ferry_operation_unref (x->op);
  g_free (x);
}

static void
detached_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DetachedExec *x = user_data;
  GSubprocess *proc = G_SUBPROCESS (source);
  int code;

  g_subprocess_wait_finish (proc, result, NULL);
  if (g_subprocess_get_if_signaled (proc))
    code = 128 + g_subprocess_get_term_sig (proc);
  else
    code = g_subprocess_get_exit_status (proc);
  ferry_operation_set_metadata_int (x->op, "return", code);
  if (x->output != NULL)
    ferry_operation_set_metadata_node (x->op, "output", g_steal_pointer (&x->output));
  ferry_operation_finish (x->op, NULL);
  detached_exec_free (x);
  g_object_unref (proc);
}

/* Creates logs/NAME/exec_UUID.SUFFIX for the command's output (as LXD
 * names it); its API URL goes into OUTPUT under KEY. */
static int
open_output_log (FerryDaemon *d, const char *instance, const char *uuid, const char *suffix, JsonObject *output,
                 const char *key, GError **error)
{
  g_autofree char *dir = ferry_layout_log_dir (d->layout, instance);
  g_autofree char *file = g_strdup_printf ("exec_%s.%s", uuid, suffix);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s/logs/%s", instance, file);
  int fd;

  if (g_mkdir_with_parents (dir, 0700) < 0
      || (fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating the output log %s: %s", path,
                   g_strerror (errno));
      return -1;
    }
  json_object_set_string_member (output, key, url);
  return fd;
}

static FerryOperation *
detached_exec_start (FerryDaemon *d, FerryInstance *inst, const ExecRequest *r, GPtrArray *argv, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GPtrArray) owned_argv = argv;
  g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  g_autoptr (JsonObject) output = json_object_new ();
  GSubprocess *proc;
  DetachedExec *x;

  if (r->record_output)
    {
      g_autofree char *uuid = g_uuid_string_random ();
      int out = open_output_log (d, inst->row->name, uuid, "stdout", output, "1", error);
      int err = out < 0 ? -1 : open_output_log (d, inst->row->name, uuid, "stderr", output, "2", error);
      if (err < 0)
        {
          if (out >= 0)
            close (out);
          return NULL;
        }
      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
      g_subprocess_launcher_take_stdout_fd (launcher, out);
      g_subprocess_launcher_take_stderr_fd (launcher, err);
    }
  else
    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  /* stdin is /dev/null: GSubprocess's default. */
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (proc == NULL)
    return NULL;
  x = g_new0 (DetachedExec, 1);
  x->daemon = d;
  x->instance = g_strdup (inst->row->name);
  inst->exec_sessions++;
  if (r->record_output)
    {
      x->output = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (x->output, output);
    }
  x->op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Executing command");
  ferry_operation_add_resource (x->op, "instances", url);
  ferry_operation_register (x->op);
  send_exec_event (d, inst->row->name, r->command);
  g_subprocess_wait_async (proc, NULL, detached_exited, x);
  return x->op;
}

void
ferry_api_exec (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  g_auto (ExecRequest) r = { 0 };
  GPtrArray *argv = NULL;
  FerryOperation *op;

  if (body == NULL || !parse_exec_request (body, &r, &error))
    ferry_respond_error (req->msg, error);
  else if (!ferry_instance_is_running (req->daemon, inst))
    ferry_respond_error_literal (req->msg, 400, "Instance is not running");
  else if ((argv = exec_argv (req->daemon, inst, &r, &error)) == NULL)
    ferry_respond_error (req->msg, error);
  else if (r.wait_for_websocket)
    ferry_respond_async (req->msg, exec_session_start (req->daemon, inst, &r, argv));
  else if ((op = detached_exec_start (req->daemon, inst, &r, argv, &error)) == NULL)
    {
      g_prefix_error (&error, "Running the command: ");
      ferry_respond_error (req->msg, error);
    }
  else
    ferry_respond_async (req->msg, op);
}
