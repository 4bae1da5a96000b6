/* ferryd's storage pools (src/storage/driver.h): loading and mounting them
 * at start, which pool an instance is on, and making or removing an
 * instance's directories in its pool. */
#pragma once

#include "daemon/daemon.h"
#include "storage/driver.h"

/* Loads the pools from the database and mounts them; a pool that cannot
 * be mounted is logged and stays listed (its instances fail to start). */
gboolean ferry_storage_load (FerryDaemon *d, GError **error);

FerryStoragePool *ferry_storage_pool_get (FerryDaemon *d, const char *name);
/* The pool instance NAME's files are on: the one its directory links into,
 * else "default". Never NULL. */
FerryStoragePool *ferry_storage_pool_of_instance (FerryDaemon *d, const char *name);
/* The pool named by the root disk device of EXPANDED_DEVICES ("default"
 * when none names one); NULL with an error for an unknown pool. */
FerryStoragePool *ferry_storage_pool_for_devices (FerryDaemon *d, JsonObject *expanded_devices, GError **error);

/* The "pool" of the root disk device (path "/") of DEVICES, or NULL. */
const char *ferry_storage_root_pool_name (JsonObject *devices);

/* DEVICES_JSON with its root disk device (if it has one naming a pool) on
 * POOL instead (a new string). An incoming migration lands on "default":
 * the source's pool may not exist here (LXD falls back likewise). */
char *ferry_storage_devices_on_pool (const char *devices_json, const char *pool);

/* Makes instance NAME's directories in POOL (outside "default": its
 * directories in the pool and the links to them from ROOT/containers and
 * ROOT/snapshots). A rename renames the links only: what they link to
 * keeps its name, and a later instance of that name gets another. */
gboolean ferry_storage_prepare_instance (FerryDaemon *d, FerryStoragePool *pool, const char *name, GError **error);
/* Removes PATH; when it is a link into a pool, what it links to as well
 * (that first: a link a crash leaves is removed by the next start's sweep). */
gboolean ferry_storage_remove_linked (const char *path, GError **error);
