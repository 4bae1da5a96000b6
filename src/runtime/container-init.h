/* The container's first process, from clone() to execve() of its init.
 * Everything it needs is prepared by the monitor before clone(); the child
 * itself is async-signal-safe plain C (no GLib, no malloc). */
#pragma once

#include "runtime/security.h"

#include <sys/types.h>

typedef struct
{
  const char *rootfs; /* absolute, symlinks resolved */
  const char *hostname;
  const char *init_path; /* inside the container */
  char *const *argv;
  char *const *envp;
  const FerrySeccompProgram *seccomp;
  int sock; /* SOCK_SEQPACKET to the monitor, close-on-exec */
  int userns; /* cloned with CLONE_NEWUSER: the monitor writes the maps and
               * sends an idmapped tree of the rootfs with "g" */
  /* Disk devices: their mount points inside, whether each is a file; the
   * monitor sends their detached binds with "g", after the rootfs tree. */
  int ndisks;
  const char *const *disk_paths;
  const int *disk_is_file;
} FerryInitConfig;

/* Namespaces the child is cloned into; the cgroup namespace is unshared
 * later, once the monitor has moved the child into the container's cgroup. */
#define FERRY_INIT_CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)

/* Messages on cfg->sock. The monitor sends one byte when the child is in
 * its cgroup (with, for a user namespace, the idmapped rootfs as a detached
 * mount, SCM_RIGHTS); the child answers with the console master and the listener of
 * its mount notifications (SCM_RIGHTS), then either an error or nothing: EOF
 * means execve() succeeded. */
enum
{
  FERRY_INIT_MSG_CONSOLE = 1,
  FERRY_INIT_MSG_ERROR = 2,
  FERRY_INIT_MSG_MOUNT_LISTENER = 3,
};

typedef struct
{
  int kind;
  int err; /* errno */
  char what[240];
} FerryInitMessage;

_Noreturn void ferry_container_init_run (const FerryInitConfig *cfg);
