/* Capability bounding set and seccomp filter, LXC's defaults for privileged
 * containers. The filter is compiled (with GLib and libseccomp) before fork;
 * applying it and dropping capabilities are async-signal-safe. */
#pragma once

#include <glib.h>
#include <linux/filter.h>

typedef struct
{
  struct sock_filter *filter;
  unsigned short len;
} FerrySeccompProgram;

gboolean ferry_security_build_seccomp (FerrySeccompProgram *prog, GError **error);
void ferry_security_seccomp_clear (FerrySeccompProgram *prog);

/* Async-signal-safe; 0 or -errno. */
int ferry_security_drop_capabilities (void);
/* PROG (LXC's deny list) and the filter of syscalls too new for libseccomp. */
int ferry_security_load_seccomp (const FerrySeccompProgram *prog);
/* Stacks the mount notification filter on the caller; returns its listener
 * fd (for the monitor) or -errno. Async-signal-safe. */
int ferry_security_load_mount_notify(void);
/* The mount notification filter's program (to recognise it in CRIU images). */
const struct sock_filter *ferry_security_mount_notify_filter(gsize *len);
