/* The monitor's answer to mount(2) and umount(2) inside a privileged
 * container. Without a user namespace the kernel locks nothing: root in the
 * container could remount /proc/sys read-write, mount a fresh proc or sysfs,
 * or a cgroup v1 hierarchy with a release_agent. The container's seccomp
 * filter hands these calls to the monitor (SECCOMP_RET_USER_NOTIF), which
 * checks the arguments it copied and performs the allowed ones itself in the
 * caller's namespaces, root and working directory: letting the kernel go on
 * after a check would re-read strings another thread may have changed. */
#pragma once

#include <glib.h>

typedef enum
{
  /* Every call goes on untouched: CRIU restoring the container's mounts. */
  FERRY_MOUNT_NOTIFY_RESTORING,
  FERRY_MOUNT_NOTIFY_ENFORCING,
} FerryMountNotifyMode;

/* Answers the notification pending on LISTENER (called when it is
 * readable). Calls from the monitor's own PID namespace (CRIU's processes)
 * always go on. Returns FALSE once the listener is dead (no process uses the
 * filter any more). */
gboolean ferry_mount_notify_handle(int listener, FerryMountNotifyMode mode);
