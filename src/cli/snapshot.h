/* Snapshot names and requests shared by snapshot, restore, delete, rename
 * and config show (lxc/snapshot.go, restore.go; shared.IsSnapshot). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Splits "instance[/snapshot]". snapshot_out is NULL when there is no '/'.
 * "c1/", "/s" and "c1/a/b" are refused: LXD names hold no '/'. */
gboolean ferry_snapshot_parse (const char *name, char **instance_out, char **snapshot_out, GError **error);

/* "/1.0/instances/<instance>/snapshots/<snapshot>", escaped. */
char *ferry_snapshot_path (const char *instance, const char *snapshot);

/* api.InstanceSnapshotsPost as lxc sends it: {"name","stateful","expires_at"};
 * no_expiry sends Go's zero time instead of null. */
JsonNode *ferry_snapshot_create_request (const char *name, gboolean stateful, gboolean no_expiry);

/* The PUT /1.0/instances/<instance> body of `lxc restore`: api.InstancePut
 * with only restore and stateful set. The restore value is
 * "<instance>/<snapshot>" unless the snapshot argument already has a '/'. */
JsonNode *ferry_restore_request (const char *instance, const char *snapshot, gboolean stateful);

/* `ferry rename`: the POST body and its path for an instance ("c1" → "c2")
 * or a snapshot ("c1/s1" → "c1/s2"; lxc 5.0 wants the same parent on both
 * sides and refuses "c1/s1 s2"). */
JsonNode *ferry_rename_request (const char *old_name, const char *new_name, char **path_out, GError **error);
