/* Image templates applied to an instance's rootfs as LXD applies them
 * (driver_lxc.go templateApplyNow): at each start, the templates whose
 * `when` names "start", and first those of the trigger an earlier create
 * or copy deferred (volatile.apply_template: "create", "copy"). */
#pragma once

#include "daemon/instance.h"

typedef struct FerryTemplateJob FerryTemplateJob;

/* Main thread: what applying INST's templates needs (name, config,
 * paths), copied for a worker. */
FerryTemplateJob *ferry_templates_job_new (FerryDaemon *d, FerryInstance *inst);
void ferry_templates_job_free (FerryTemplateJob *job);

/* Worker thread, before the container starts: renders each template whose
 * `when` names the deferred trigger or "start" and writes it inside the
 * rootfs. Every path is resolved inside the rootfs (openat2
 * RESOLVE_IN_ROOT, no magic links): a symlink planted by the container
 * leads nowhere outside it; only regular files are written. */
gboolean ferry_templates_apply (FerryTemplateJob *job, GError **error);

/* Main thread, after ferry_templates_apply ran: clears the deferred
 * trigger, as LXD does once it is applied (saved with the instance). */
void ferry_templates_job_done (FerryDaemon *d, FerryInstance *inst, FerryTemplateJob *job);
