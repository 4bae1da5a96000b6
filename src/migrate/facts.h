/* Gathering the facts that feasibility.h's checks compare, on this host.
 * Runs CRIU, so only ferry-monitor calls these (ferryd never runs CRIU). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

/* Where the CPU description and CRIU's feature list are kept between runs
 * ($FERRY_MIGRATE_CACHE overrides): both change only with the boot (kernel,
 * CPU, microcode) or the CRIU binary, which the cache key names, and probing
 * them costs CRIU's kernel probe each time (~50 ms per feature here). */
#define FERRY_MIGRATE_CACHE "/run/ferry/migrate-host-cache.json"

/* This host's "host" object (feasibility.h): CRIU (CRIU_PATH, from
 * ferry_criu_locate; NULL gives version 0), kernel, architecture,
 * /proc/filesystems and the free bytes of ROOT_DIR. */
JsonNode *ferry_migrate_host_facts (const char *criu_path, const char *root_dir, GError **error);

/* The "container" object of the container whose init has host PID INIT_PID:
 * the types of the file systems mounted in its mount namespace. */
JsonNode *ferry_migrate_container_needs (pid_t init_pid, GError **error);

/* `criu cpuinfo check --cpu-cap=fpu,ins` with the source's cpuinfo.img
 * (SOURCE_HOST's criu.cpuinfo): can this host's CPU run what the source's CPU
 * ran? Sets *COMPATIBLE, and *CRIU_SAYS to CRIU's Error lines when not.
 * FALSE with an error only when the check could not be run at all. */
gboolean ferry_migrate_cpu_check (const char *criu_path, JsonObject *source_host, gboolean *compatible,
                                  char **criu_says, GError **error);

/* The target's check of a live move's disk devices (DEVICES: the
 * instance's expanded devices here): the source of every disk device
 * that is required must exist on this host, since the restore binds it
 * where the container had it. FALSE with "Migration check 'disks'
 * failed: ..." naming the first that does not. */
gboolean ferry_migrate_check_disks (JsonObject *devices, GError **error);
