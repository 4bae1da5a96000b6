/* Instance requests shared by several commands (list, info, config,
 * life cycle; later snapshot, restore, move). */
#pragma once

#include "client.h"

/* GET /1.0/instances/NAME (full = ?recursion=1: with state and snapshots). */
JsonObject *ferry_instance_get (FerryClient *client, const char *name, gboolean full, char **etag_out,
                                GError **error);

/* PUT /1.0/instances/NAME/state; returns the operation. */
JsonObject *ferry_instance_state_change (FerryClient *client, const char *name, const char *action,
                                         gint64 timeout, gboolean force, gboolean stateful, GError **error);

/* The writable part of an instance (api.InstancePut), in lxc's YAML order:
 * architecture, config, devices, ephemeral, profiles, stateful, description. */
JsonNode *ferry_instance_writable (JsonObject *instance);

/* lxc delete's sequence for one instance: a running one is stopped (forced)
 * only when force is set, and is then gone if ephemeral;
 * security.protection.delete is lifted; DELETE and wait. remote names the
 * instance in errors. */
gboolean ferry_instance_delete (FerryClient *client, const char *remote, const char *name, gboolean force,
                                GError **error);
