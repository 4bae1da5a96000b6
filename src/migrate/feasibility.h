/* Can the target host take this container? The checks a live migration runs
 * on the TARGET before the source freezes anything (issue 5, requirement 5).
 * Pure logic over recorded facts: no I/O, so every verdict can be unit-tested
 * with facts captured on other machines. Gathering the facts (and running
 * CRIU's CPU check) is facts.h's job, in ferry-monitor.
 *
 * The facts travel as JSON, the shape `ferry-monitor migrate-facts` prints
 * (docs/migration-feasibility.md):
 *
 *   {
 *     "format": 1,
 *     "host": {
 *       "architecture": "x86_64",                     uname -m
 *       "kernel": { "release": "6.18.44-fc-v657",     uname -r
 *                   "major": 6, "minor": 18, "patch": 44 },
 *       "cpu_model": "AMD EPYC",                      /proc/cpuinfo, for messages; may be absent
 *       "criu": { "version": 40201,                   0 if no CRIU
 *                 "version_text": "4.2.1",
 *                 "cpuinfo": "GUNWVBNA...",           base64 of `criu cpuinfo dump`'s cpuinfo.img
 *                 "features": { "timens": true,       `criu check --feature F` exit status == 0,
 *                               "mem_dirty_track": false, ... } },   absent if not probed
 *       "filesystems": [ "sysfs", "tmpfs", "ext4", ... ],   /proc/filesystems, nodev included
 *       "root": "/var/lib/ferry",
 *       "free_bytes": 21474836480                     statvfs(root): f_bavail * f_frsize
 *     },
 *     "container": {                                  only with --pid
 *       "pid": 4242,
 *       "architecture": "x86_64",
 *       "filesystems": [ "ext4", "proc", "sysfs", "tmpfs", "devpts", ... ]   mountinfo fs types
 *     }
 *   }
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Version of the JSON shape above; a reader refuses any other. */
#define FERRY_MIGRATE_FACTS_FORMAT 1

/* Room kept free on the target beyond what the container needs: the larger
 * of 5% of the need and 64 MiB (CRIU's logs, the rootfs sync's metadata). */
#define FERRY_MIGRATE_MARGIN_MIN (64 * 1024 * 1024)
#define FERRY_MIGRATE_MARGIN_PERCENT 5

typedef enum
{
  FERRY_MIGRATE_CHECK_NONE,  /* feasible */
  FERRY_MIGRATE_CHECK_FACTS, /* the facts themselves are malformed */
  FERRY_MIGRATE_CHECK_CRIU,  /* CRIU version */
  FERRY_MIGRATE_CHECK_ARCHITECTURE,
  FERRY_MIGRATE_CHECK_KERNEL, /* kernel version */
  FERRY_MIGRATE_CHECK_CRIU_FEATURES,
  FERRY_MIGRATE_CHECK_CPU,
  FERRY_MIGRATE_CHECK_FILESYSTEMS,
  FERRY_MIGRATE_CHECK_STORAGE,
  FERRY_MIGRATE_CHECK_DISKS, /* disk devices' sources (facts.h) */
} FerryMigrateCheck;

/* "criu", "architecture", "kernel", ...: the name each refusal quotes. */
const char *ferry_migrate_check_name (FerryMigrateCheck check);

/* What `criu cpuinfo check` on the target said of the source's cpuinfo.img. */
typedef struct
{
  gboolean compatible;
  const char *criu_says; /* CRIU's Error lines when not compatible, or NULL */
} FerryMigrateCpuVerdict;

/* TRUE when TARGET_HOST can take CONTAINER from SOURCE_HOST (the "host" and
 * "container" objects above), with BYTES_NEEDED (rootfs + snapshots + memory
 * estimate, the caller's figure) to store. Otherwise FALSE, *FAILED (if not
 * NULL) naming the first failed check, and a FERRY_ERROR_CONFLICT error of
 * one sentence: "Migration check 'NAME' failed: ..." with the values seen on
 * both sides and what to do (FERRY_ERROR_INVALID for malformed facts).
 * The checks, in this order:
 *   criu          target CRIU >= FERRY_CRIU_MIN_VERSION and >= the source's
 *   architecture  same on source, container and target
 *   kernel        target major.minor >= the source's
 *   criu-features every CRIU feature the source has, the target has
 *   cpu           CPU_VERDICT (from ferry_migrate_cpu_check on the target)
 *   filesystems   every fs type mounted in the container is in the target's
 *                 /proc/filesystems
 *   storage       target free_bytes >= BYTES_NEEDED + margin */
gboolean ferry_migrate_check_feasible (JsonObject *source_host, JsonObject *container,
                                       JsonObject *target_host, const FerryMigrateCpuVerdict *cpu_verdict,
                                       gint64 bytes_needed, FerryMigrateCheck *failed, GError **error);

/* Splits migrate-facts output into its "host" and "container" objects
 * (borrowed from the returned root; *CONTAINER NULL if absent). */
JsonNode *ferry_migrate_parse_facts (const char *text, JsonObject **host, JsonObject **container,
                                     GError **error);
