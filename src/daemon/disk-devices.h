/* Disk devices of instances as ferryd sees them (disk-devices.c): the
 * `--disk` specs of a start or restore, and the live changes of a running
 * instance's disks, run through ferry-monitor. */
#pragma once

#include "daemon/instance.h"

#include <json-glib/json-glib.h>

/* The FerryDiskSpec (runtime/disk-spec.h) of every disk device of DEVICES
 * (expanded) other than the root disk. */
GPtrArray *ferry_disk_devices_specs (JsonObject *devices);
/* ARGV (start_arguments) gets "--disk SPEC" for each of INST's disks. */
void ferry_disk_devices_add_arguments (FerryDaemon *d, FerryInstance *inst, GPtrArray *argv);
/* A running INST whose expanded devices were OLD: its disks brought in
 * line with its devices now (removed ones unmounted, new ones mounted,
 * changed ones both). On failure what was changed is put back as far as
 * it can be, and the error says which device failed. */
gboolean ferry_disk_devices_apply_live (FerryDaemon *d, FerryInstance *inst, JsonObject *old, GError **error);
