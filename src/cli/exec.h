/* Messages of the exec "control" websocket (api.InstanceExecControl), as
 * lxc writes them: Go's JSON encoder, one object and a newline. */
#pragma once

#include <glib.h>

char *ferry_exec_control_signal (int signal);
char *ferry_exec_control_resize (int width, int height);

/* Whether exec runs with a pty: -t forces it, -T or -n (or --mode) forbid
 * it, else both stdin and stdout must be terminals. */
typedef enum
{
  FERRY_EXEC_MODE_AUTO,
  FERRY_EXEC_MODE_INTERACTIVE,
  FERRY_EXEC_MODE_NON_INTERACTIVE,
} FerryExecMode;

gboolean ferry_exec_is_interactive (FerryExecMode mode, gboolean stdin_tty, gboolean stdout_tty);
