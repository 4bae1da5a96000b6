/* ferry exec (lxc/exec.go, exec_unix.go): runs a command in an instance over
 * the operation's websockets: control, then 0, 1, 2 (or control and 0 with a
 * pty). */
#include "config.h"

#include "exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cli.h"
#include "common/error.h"
#include "common/fs.h"
#include "terminal.h"

char *
ferry_exec_control_signal (int signal)
{
  return g_strdup_printf ("{\"command\":\"signal\",\"args\":null,\"signal\":%d}\n", signal);
}

char *
ferry_exec_control_resize (int width, int height)
{
  return g_strdup_printf ("{\"command\":\"window-resize\",\"args\":{\"height\":\"%d\",\"width\":\"%d\"},\"signal\":0}\n",
                          height, width);
}

gboolean
ferry_exec_is_interactive (FerryExecMode mode, gboolean stdin_tty, gboolean stdout_tty)
{
  switch (mode)
    {
    case FERRY_EXEC_MODE_INTERACTIVE:
      return TRUE;
    case FERRY_EXEC_MODE_NON_INTERACTIVE:
      return FALSE;
    case FERRY_EXEC_MODE_AUTO:
    default:
      return stdin_tty && stdout_tty;
    }
}

/* Signals lxc forwards to the command (SIGWINCH becomes a resize). */
static const int forwarded_signals[] = { SIGTERM, SIGHUP,  SIGINT,  SIGQUIT, SIGTSTP, SIGTTIN,
                                         SIGTTOU, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH };

static int signal_pipe[2] = { -1, -1 };

static void
on_signal (int signo)
{
  int saved = errno;
  unsigned char byte = (unsigned char) signo;

  if (write (signal_pipe[1], &byte, 1) < 0)
    {
      /* the pipe is full: the signal is dropped, like a coalesced one */
    }
  errno = saved;
}

typedef struct
{
  gboolean interactive;
  SoupWebsocketConnection *control;
  SoupWebsocketConnection *data[3];
  gboolean ended[3];
  guint stdin_source;
  guint signal_source;
} ExecSession;

static gboolean
ws_open (SoupWebsocketConnection *ws)
{
  return ws != NULL && soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
output_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  ExecSession *session = g_object_get_data (G_OBJECT (ws), "ferry-session");
  int fd = GPOINTER_TO_INT (user_data);
  int index = session->interactive ? 0 : fd;
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);

  /* any text message ends the stream (LXD sends an empty one) */
  if (type == SOUP_WEBSOCKET_DATA_TEXT)
    {
      session->ended[index] = TRUE;
      return;
    }
  ferry_write_all (fd, data, len); /* a closed stdout: nothing more to do */
}

static void
output_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  ExecSession *session = g_object_get_data (G_OBJECT (ws), "ferry-session");
  int fd = GPOINTER_TO_INT (user_data);

  session->ended[session->interactive ? 0 : fd] = TRUE;
}

static gboolean
stdin_ready (gint fd, GIOCondition condition, gpointer user_data)
{
  ExecSession *session = user_data;
  char buf[65536];
  ssize_t n;

  n = read (fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (!ws_open (session->data[0]))
    {
      session->stdin_source = 0;
      return G_SOURCE_REMOVE;
    }
  if (n > 0)
    {
      soup_websocket_connection_send_binary (session->data[0], buf, n);
      return G_SOURCE_CONTINUE;
    }
  /* EOF: one empty text message, the socket stays open */
  soup_websocket_connection_send_text (session->data[0], "");
  session->stdin_source = 0;
  return G_SOURCE_REMOVE;
}

static void
send_control (ExecSession *session, char *message)
{
  if (ws_open (session->control))
    soup_websocket_connection_send_text (session->control, message);
  g_free (message);
}

static gboolean
signal_ready (gint fd, GIOCondition condition, gpointer user_data)
{
  ExecSession *session = user_data;
  unsigned char signo;

  if (read (fd, &signo, 1) != 1)
    return G_SOURCE_CONTINUE;
  if (signo == SIGWINCH)
    {
      int width, height;
      if (session->interactive && ferry_terminal_size (STDOUT_FILENO, &width, &height))
        send_control (session, ferry_exec_control_resize (width, height));
      return G_SOURCE_CONTINUE;
    }
  send_control (session, ferry_exec_control_signal (signo));
  return G_SOURCE_CONTINUE;
}

static gboolean
install_signal_forwarding (ExecSession *session, GError **error)
{
  struct sigaction sa;

  if (!g_unix_open_pipe (signal_pipe, FD_CLOEXEC, error) || !g_unix_set_fd_nonblocking (signal_pipe[1], TRUE, error))
    return FALSE;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset (&sa.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
  session->signal_source = g_unix_fd_add (signal_pipe[0], G_IO_IN, signal_ready, session);
  return TRUE;
}

static void
restore_signals (ExecSession *session)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
  if (session->signal_source != 0)
    g_source_remove (session->signal_source);
}

static JsonNode *
build_exec_request (FerryArgs *args, char **command, gboolean interactive, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  const char *term = g_getenv ("TERM");
  int width = 0, height = 0;
  gint64 user = ferry_args_get_int (args, "user", 0);
  gint64 group = ferry_args_get_int (args, "group", 0);

  if (isatty (STDOUT_FILENO))
    ferry_terminal_size (STDOUT_FILENO, &width, &height);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "command");
  json_builder_begin_array (b);
  for (char **c = command; *c != NULL; c++)
    json_builder_add_string_value (b, *c);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "wait-for-websocket");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "interactive");
  json_builder_add_boolean_value (b, interactive);
  json_builder_set_member_name (b, "environment");
  json_builder_begin_object (b);
  if (term != NULL)
    {
      json_builder_set_member_name (b, "TERM");
      json_builder_add_string_value (b, term);
    }
  for (const char *const *env = ferry_args_get_strv (args, "env"); *env != NULL; env++)
    {
      g_autofree char *key = NULL;
      const char *value;

      if (!ferry_args_split_pair (*env, &key, &value, error))
        return NULL;
      json_builder_set_member_name (b, key);
      json_builder_add_string_value (b, value);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, width);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, height);
  json_builder_set_member_name (b, "record-output");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "user");
  json_builder_add_int_value (b, user);
  json_builder_set_member_name (b, "group");
  json_builder_add_int_value (b, group);
  json_builder_set_member_name (b, "cwd");
  json_builder_add_string_value (b, ferry_args_get_string (args, "cwd", ""));
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
parse_mode (FerryArgs *args, FerryExecMode *mode, GError **error)
{
  const char *text = ferry_args_get_string (args, "mode", "auto");

  if (g_strcmp0 (text, "auto") == 0)
    *mode = FERRY_EXEC_MODE_AUTO;
  else if (g_strcmp0 (text, "interactive") == 0)
    *mode = FERRY_EXEC_MODE_INTERACTIVE;
  else if (g_strcmp0 (text, "non-interactive") == 0)
    *mode = FERRY_EXEC_MODE_NON_INTERACTIVE;
  else
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid mode %s", text);
      return FALSE;
    }
  if (ferry_args_get_bool (args, "force-interactive") && ferry_args_get_bool (args, "force-noninteractive"))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "You can't pass -t and -T at the same time");
      return FALSE;
    }
  if (ferry_args_get_bool (args, "force-interactive"))
    *mode = FERRY_EXEC_MODE_INTERACTIVE;
  if (ferry_args_get_bool (args, "force-noninteractive") || ferry_args_get_bool (args, "disable-stdin"))
    *mode = FERRY_EXEC_MODE_NON_INTERACTIVE;
  return TRUE;
}

static gboolean
outputs_ended (ExecSession *session)
{
  if (session->interactive)
    return session->ended[0];
  return session->ended[1] && session->ended[2];
}

/* Closes the TCP connections under the data websockets without a close
 * frame, as lxc does; the control socket stays open until exit. */
static void
drop_data_sockets (ExecSession *session)
{
  if (session->stdin_source != 0)
    {
      g_source_remove (session->stdin_source);
      session->stdin_source = 0;
    }
  for (int fd = 0; fd < 3; fd++)
    {
      if (session->data[fd] == NULL)
        continue;
      g_signal_handlers_disconnect_by_func (session->data[fd], output_message, GINT_TO_POINTER (fd == 0 ? STDOUT_FILENO : fd));
      g_io_stream_close (soup_websocket_connection_get_io_stream (session->data[fd]), NULL, NULL);
    }
}

/* The operation's websockets, in lxc's order: control, 0, then 1 and 2
 * (only 0 on a pty, whose output comes back on it). */
static gboolean
connect_session (FerryClient *client, const char *op_id, JsonObject *fds, ExecSession *session, GError **error)
{
  session->control = ferry_client_operation_websocket (client, op_id, ferry_obj_string (fds, "control"), error);
  if (session->control == NULL)
    return FALSE;
  for (int fd = 0; fd < (session->interactive ? 1 : 3); fd++)
    {
      char key[2] = { (char) ('0' + fd), '\0' };
      int out_fd = session->interactive ? STDOUT_FILENO : fd;

      session->data[fd] = ferry_client_operation_websocket (client, op_id, ferry_obj_string (fds, key), error);
      if (session->data[fd] == NULL)
        return FALSE;
      g_object_set_data (G_OBJECT (session->data[fd]), "ferry-session", session);
      if (fd == 0 && !session->interactive)
        continue;
      g_signal_connect (session->data[fd], "message", G_CALLBACK (output_message), GINT_TO_POINTER (out_fd));
      /* LXD ends a pty stream with a close frame; libsoup may sit in the
       * closing state until the peer drops TCP, so closing already ends it */
      g_signal_connect (session->data[fd], "closing", G_CALLBACK (output_closed), GINT_TO_POINTER (out_fd));
      g_signal_connect (session->data[fd], "closed", G_CALLBACK (output_closed), GINT_TO_POINTER (out_fd));
    }
  return TRUE;
}

/* The command's exit status, once the operation ends; a failed exec may
 * still carry one (else 1, its error printed). */
static int
wait_exit_status (FerryClient *client, JsonObject *op, const char *op_id)
{
  g_autoptr (GError) wait_error = NULL;
  g_autoptr (JsonObject) done = ferry_client_wait (client, op, NULL, NULL, NULL, &wait_error);
  g_autoptr (JsonObject) failed = NULL;
  g_autofree char *op_path = NULL;

  ferry_terminal_restore ();
  if (done != NULL)
    return (int) ferry_obj_int (ferry_obj_object (done, "metadata"), "return");
  op_path = g_strdup_printf ("/1.0/operations/%s", op_id);
  failed = ferry_client_get_object (client, op_path, NULL, NULL);
  g_printerr ("Error: %s\n", wait_error->message);
  return failed != NULL && json_object_has_member (ferry_obj_object (failed, "metadata"), "return")
           ? (int) ferry_obj_int (ferry_obj_object (failed, "metadata"), "return")
           : 1;
}

static int
cmd_exec (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonObject) op = NULL;
  ExecSession session = { 0 };
  FerryExecMode mode;
  FerryClient *client;
  JsonObject *fds;
  const char *op_id;
  int status = 0;

  if (ferry_args_n_positional (args) < 2)
    {
      ferry_cli_usage_error (error);
      return FERRY_EXIT_ERROR;
    }
  if (!parse_mode (args, &mode, error))
    return FERRY_EXIT_ERROR;
  client = ferry_cli_resolve (cli, pos[0], &name, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if ((ferry_args_is_set (args, "user") || ferry_args_is_set (args, "group") || ferry_args_is_set (args, "cwd"))
      && !ferry_client_has_extension (client, "container_exec_user_group_cwd"))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The server is missing the required \"container_exec_user_group_cwd\" API extension");
      return FERRY_EXIT_ERROR;
    }
  session.interactive = ferry_exec_is_interactive (mode, isatty (STDIN_FILENO), isatty (STDOUT_FILENO));
  body = build_exec_request (args, pos + 1, session.interactive, error);
  if (body == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (name);
  path = g_strdup_printf ("/1.0/instances/%s/exec", escaped);
  op = ferry_client_operation (client, "POST", path, body, error);
  if (op == NULL)
    return FERRY_EXIT_ERROR;
  op_id = ferry_obj_string (op, "id");
  fds = ferry_obj_object (ferry_obj_object (op, "metadata"), "fds");
  if (fds == NULL || *ferry_obj_string (fds, "control") == '\0' || *ferry_obj_string (fds, "0") == '\0'
      || (!session.interactive && (*ferry_obj_string (fds, "1") == '\0' || *ferry_obj_string (fds, "2") == '\0')))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The server did not return the exec websocket secrets");
      return FERRY_EXIT_ERROR;
    }

  if (!connect_session (client, op_id, fds, &session, error))
    goto out;

  if (!install_signal_forwarding (&session, error))
    goto out;
  if (session.interactive && isatty (STDIN_FILENO) && !ferry_terminal_make_raw (STDIN_FILENO, error))
    goto out;
  if (ferry_args_get_bool (args, "disable-stdin"))
    soup_websocket_connection_send_text (session.data[0], "");
  else
    session.stdin_source = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, &session);

  /* Output first: LXD only ends the operation once the client has dropped
   * the data sockets, which lxc does as soon as their output has ended. */
  while (!outputs_ended (&session))
    g_main_context_iteration (NULL, TRUE);
  drop_data_sockets (&session);
  status = wait_exit_status (client, op, op_id);

out:
  ferry_terminal_restore ();
  restore_signals (&session);
  if (session.stdin_source != 0)
    g_source_remove (session.stdin_source);
  for (int fd = 0; fd < 3; fd++)
    g_clear_object (&session.data[fd]);
  g_clear_object (&session.control);
  if (error != NULL && *error != NULL)
    return FERRY_EXIT_ERROR;
  return status;
}

static const FerryOption exec_options[] = {
  { "cwd", 0, FERRY_OPT_STRING, "Directory to run the command in (default /root)" },
  { "disable-stdin", 'n', FERRY_OPT_BOOL, "Disable stdin (reads from /dev/null)" },
  { "env", 0, FERRY_OPT_STRV, "Environment variable to set (e.g. HOME=/home/foo)" },
  { "force-interactive", 't', FERRY_OPT_BOOL, "Force pseudo-terminal allocation" },
  { "force-noninteractive", 'T', FERRY_OPT_BOOL, "Disable pseudo-terminal allocation" },
  { "group", 0, FERRY_OPT_INT, "Group ID to run the command as (default 0)" },
  { "mode", 0, FERRY_OPT_STRING,
    "Override the terminal mode (auto, interactive or non-interactive) (default \"auto\")" },
  { "user", 0, FERRY_OPT_INT, "User ID to run the command as (default 0)" },
  { NULL },
};

const FerryCommand ferry_cmd_exec = {
  .name = "exec",
  .summary = "Execute commands in instances",
  .description = "Execute commands in instances\n\n"
                 "The command is executed directly using exec, so there is no shell and\n"
                 "shell patterns (variables, file redirects, ...) won't be understood.\n"
                 "If you need a shell environment you need to execute the shell\n"
                 "executable, passing the shell commands as arguments, for example:\n\n"
                 "  ferry exec <instance> -- sh -c \"cd /tmp && pwd\"\n\n"
                 "Mode defaults to non-interactive, interactive mode is selected if both stdin AND stdout are terminals (stderr is ignored).",
  .usage = "[<remote>:]<instance> [flags] [--] <command line>",
  .options = exec_options,
  .run = cmd_exec,
  .min_args = -1,
};
