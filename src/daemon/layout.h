/* Who may read what under ferryd's root. Everything ferryd keeps there is
 * root's alone: a local user on the host can neither list nor open it, and
 * cannot reach (so cannot execute) a setuid file that root inside a
 * container put in its rootfs. Only ROOT and ROOT/containers are 0711, as
 * LXD's, for the unprivileged containers to come, whose mapped root must
 * pass through them to its rootfs. */
#pragma once

#include "daemon/daemon.h"

#include <sys/types.h>

/* The mode of ROOT/containers/NAME. 0700 for a privileged container (the
 * only kind so far); an unprivileged one will need LXD's 0100 with the
 * rootfs owned by its mapped root. The one place that decides it. */
mode_t ferry_layout_instance_dir_mode (void);

/* A rootfs is the container's "/": 0755 like any root directory, so that
 * its own non-root users can use it. The instance directory above it is
 * what keeps the host's users out. */
#define FERRY_LAYOUT_ROOTFS_MODE 0755

/* Creates ROOT/containers/NAME with ferry_layout_instance_dir_mode(); an
 * existing one gets that mode. */
gboolean ferry_layout_make_instance_dir (const char *path, GError **error);

/* Creates ROOT and the directories under it with their modes, or sets
 * those modes on existing ones, and tightens what an older ferryd left
 * open (0711 instance directories over 0755 rootfs): users upgrade in
 * place. Called before anything else is written under ROOT. */
gboolean ferry_layout_setup (FerryDaemon *d, GError **error);
