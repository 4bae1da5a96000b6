/* The requests of `ferry move` / `ferry copy` between two daemons, built
 * the way lxc 5.0 builds them (client/lxd_instances.go CopyInstance,
 * tryCreateInstance, tryMigrateInstance), and the migration figures that
 * --verbose prints. Pure functions: the flow is in cmd-move.c. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* The source's POST /1.0/instances/NAME body (api.InstancePost) asking for
 * a migration. In pull mode target_certificate is NULL and "target" is
 * null; in push mode it names the target's operation and secrets. */
JsonNode *ferry_migration_source_request (gboolean live, gboolean instance_only, const char *target_certificate,
                                          const char *target_operation, JsonObject *target_secrets);

/* How the target gets the instance: mode "pull" (operation and secrets of
 * the source), "push" (the source will connect; operation, secrets NULL) or
 * "copy" (a local copy of the instance named by operation). */
typedef struct
{
  const char *mode;
  gboolean live;
  gboolean instance_only;
  const char *certificate;
  const char *operation;
  JsonObject *secrets;
} FerryMigrationSource;

/* The target's POST /1.0/instances body (api.InstancesPost) for a copy of
 * instance (as GET /1.0/instances/NAME returned it) named name. A move
 * keeps the volatile keys; a copy keeps only volatile.base_image. Both drop
 * volatile.last_state.power. */
JsonNode *ferry_migration_target_request (JsonObject *instance, const char *name, gboolean is_move,
                                          const FerryMigrationSource *source);

/* -s POOL (lxc/copy.go): the instance's own root disk device (as GET
 * /1.0/instances/NAME returned it) names POOL, or a root disk "root" on
 * POOL is added when its root disk comes from a profile. */
void ferry_migration_set_root_pool (JsonObject *instance, const char *pool);

/* Where a daemon is reached for migration (client/lxd.go GetConnectionInfo):
 * its own HTTPS URL when it is an HTTPS remote, then every
 * environment.addresses entry not starting with ':' as https://<entry>,
 * without duplicates. */
GStrv ferry_migration_addresses (const char *https_url, JsonObject *server);

/* "<address>/1.0/operations/<id>". */
char *ferry_migration_operation_url (const char *address, const char *operation_id);

/* An operation's metadata as migration secrets: an object of strings (lxc
 * panics on anything else; Ferry refuses it). */
JsonObject *ferry_migration_secrets (JsonObject *operation, GError **error);

/* Whether trying the next address may help (shared.IsConnectionError). */
gboolean ferry_migration_is_connection_error (const GError *error);

/* lxc's remoteOperationError: one error "<what>: <err>" when every address
 * failed the same way, else one line per address. Takes addresses and
 * errors (parallel arrays of char * and GError *). */
void ferry_migration_set_error (GError **error, const char *what, GPtrArray *addresses, GPtrArray *errors);

/* The "migration_*" members of an operation's metadata as an aligned
 * table ("Freeze:    120 ms\n..."), known figures first in a fixed order
 * with their labels and units, then any other migration_ key. NULL when
 * there is none. */
char *ferry_migration_figures (JsonObject *metadata);
