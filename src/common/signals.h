/* Signal names as LXC's lxc.signal.halt takes them. */
#pragma once

#include <glib.h>

/* "SIGRTMIN+3", "RTMIN+3", "SIGPWR", "pwr", "37": the signal number, or -1
 * for anything else (no signal 0, no SIGKILL or SIGSTOP, which no init can
 * handle, and nothing past SIGRTMAX). */
int ferry_signal_parse (const char *name);
