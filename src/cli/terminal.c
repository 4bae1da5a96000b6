#include "config.h"

#include "terminal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/error.h"

/* One terminal per process: the state to restore is process-wide by nature. */
static struct termios saved_mode;
static int saved_fd = -1;

void
ferry_terminal_restore (void)
{
  if (saved_fd < 0)
    return;
  tcsetattr (saved_fd, TCSADRAIN, &saved_mode);
  saved_fd = -1;
}

gboolean
ferry_terminal_make_raw (int fd, GError **error)
{
  static gboolean registered;
  struct termios raw;

  if (tcgetattr (fd, &saved_mode) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Failed to read the terminal mode: %s", g_strerror (errno));
      return FALSE;
    }
  raw = saved_mode;
  cfmakeraw (&raw);
  if (tcsetattr (fd, TCSADRAIN, &raw) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Failed to set the terminal to raw mode: %s",
                   g_strerror (errno));
      return FALSE;
    }
  saved_fd = fd;
  if (!registered)
    {
      atexit (ferry_terminal_restore);
      registered = TRUE;
    }
  return TRUE;
}

gboolean
ferry_terminal_size (int fd, int *width, int *height)
{
  struct winsize ws;

  if (ioctl (fd, TIOCGWINSZ, &ws) < 0)
    return FALSE;
  *width = ws.ws_col;
  *height = ws.ws_row;
  return TRUE;
}
