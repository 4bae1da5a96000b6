/* The local terminal for interactive exec: raw mode that is always undone,
 * and its size. */
#pragma once

#include <glib.h>

/* Puts fd in raw mode; the previous mode comes back with
 * ferry_terminal_restore() and, as a safety net, at exit. */
gboolean ferry_terminal_make_raw (int fd, GError **error);
void ferry_terminal_restore (void);

/* Columns and rows of the terminal on fd; FALSE if it is not one. */
gboolean ferry_terminal_size (int fd, int *width, int *height);
