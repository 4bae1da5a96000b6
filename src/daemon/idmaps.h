/* Which ids an unprivileged container runs with, chosen as LXD 5.0 chooses
 * them, and the volatile keys that record the choice:
 *   volatile.idmap.next     the map the next cold start uses (set at create
 *                           and whenever the idmap keys change)
 *   volatile.idmap.base     the first host id of an isolated map, else "0"
 *   volatile.idmap.current  the map the container last ran with: the map of
 *                           its checkpoints, which a restore must recreate
 *   volatile.last_state.idmap  the map the rootfs is shifted to on disk:
 *                           always "[]", Ferry mounts the rootfs idmapped
 * A map of "[]" is a privileged container. */
#pragma once

#include <glib.h>

#include "common/idmap.h"
#include "daemon/daemon.h"

/* Root's range on this host (/etc/subuid, /etc/subgid). */
FerryIdRange ferry_idmap_this_host (void);

/* The isolated ranges (FerryIdRange) of the instances but SELF. */
GArray *ferry_instance_taken_idmaps (FerryDaemon *d, FerryInstance *self);

/* Sets INST's volatile.idmap.next and .base for its config now (and
 * volatile.last_state.idmap "[]" when missing). */
gboolean ferry_instance_choose_idmap (FerryDaemon *d, FerryInstance *inst, GError **error);

/* The map a start of INST uses: for a cold start the one chosen now
 * (recorded as next and current); for a RESTORE its checkpoint's,
 * CHECKPOINT_IDMAP (a stateful snapshot's, then recorded as current) or
 * else volatile.idmap.current, refused when this host cannot apply it. An
 * empty array: privileged. */
GArray *ferry_instance_start_idmap (FerryDaemon *d, FerryInstance *inst, gboolean restore,
                                    const char *checkpoint_idmap, GError **error);
