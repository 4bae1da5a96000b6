/* Facts about the host shown by GET /1.0 and `ferry info`: the OS, the
 * cgroup layout and the CRIU that checkpoints will use. */
#pragma once

#include "daemon/daemon.h"

typedef struct
{
  char *os_name;
  char *os_version;
  char *cgroup_layout; /* "hybrid", "cgroup2", "legacy" */
  char *criu_path;     /* "" when no usable CRIU was found */
  char *criu_version;  /* "4.2.1", or "" */
  char *criu_check;    /* "Looks good." or CRIU's complaint, or "probing" */
} FerryHostInfo;

void ferry_host_info_free (FerryHostInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryHostInfo, ferry_host_info_free)

/* Starts probing CRIU in a thread (it takes a while); results appear in
 * later ferry_hostinfo_get() calls. */
void ferry_hostinfo_probe (FerryDaemon *d);
FerryHostInfo *ferry_hostinfo_get (FerryDaemon *d);
