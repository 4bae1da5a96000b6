/* Migration between two ferryds (LXD's migration API; the protocol on its
 * channels is Ferry's own, docs/migration.md). The source exposes or
 * dials a websocket operation with three channels: control (JSON text
 * messages), fs (rsync streams: rootfs, snapshots, CRIU images) and criu
 * (CRIU's page-server stream, live moves only). */
#pragma once

#include "daemon/daemon.h"
#include "daemon/http/http.h"
#include "daemon/lifecycle.h"
#include "daemon/operations.h"
#include "daemon/http/wsconn.h"
#include "common/tree-changes.h"
#include "storage/driver.h"

typedef enum
{
  FERRY_MIGRATION_CONTROL,
  FERRY_MIGRATION_FS,
  FERRY_MIGRATION_CRIU,
  FERRY_MIGRATION_N_CHANNELS,
} FerryMigrationChannel;

typedef struct FerryMigrationLink FerryMigrationLink;

/* The side that hands out secrets: adds them to OP (as string metadata,
 * what LXD's clients read) and takes the peer's websockets. */
FerryMigrationLink *ferry_migration_link_accepting (FerryOperation *op, gboolean live);
/* The side that dials: URL of the peer's operation, its certificate, and
 * the secrets object of the request. */
FerryMigrationLink *ferry_migration_link_connecting (const char *url, const char *cert_pem, JsonObject *secrets,
                                                     gboolean live, GError **error);
void ferry_migration_link_free (FerryMigrationLink *link);
/* Worker thread: connects, or waits for the peer's connections. */
gboolean ferry_migration_link_establish (FerryMigrationLink *link, GCancellable *cancellable, GError **error);
FerryWsConn *ferry_migration_link_channel (FerryMigrationLink *link, FerryMigrationChannel ch);
/* Any thread: unblocks everything waiting on the link. */
void ferry_migration_link_shutdown (FerryMigrationLink *link);

/* Control messages: JSON objects with a "type". recv fails with the peer's
 * own words when it sends {"type":"error"}, and when TYPE (if not NULL)
 * is not the type received. */
gboolean ferry_migration_send (FerryMigrationLink *link, JsonObject *msg, GError **error);
gboolean ferry_migration_send_type (FerryMigrationLink *link, const char *type, GError **error);
JsonObject *ferry_migration_recv (FerryMigrationLink *link, const char *type, GCancellable *cancellable,
                                  GError **error);
/* Tells the peer why this side failed (best effort). */
void ferry_migration_send_error (FerryMigrationLink *link, const GError *error);

typedef struct
{
  gboolean delete;        /* what the sender does not have goes */
  const char *exclude;    /* an rsync pattern, or NULL */
  gboolean every_file;    /* --ignore-times: none skipped for its size and time */
} FerryRsyncOptions;

/* One rsync session over the fs channel: SRC/ of this host into the
 * directory the receiver chose (DEST); both sides must agree on O. */
gboolean ferry_migration_rsync_send (FerryDaemon *d, FerryMigrationLink *link, const char *src,
                                     const FerryRsyncOptions *o, const char *log, guint64 *bytes,
                                     GError **error);
gboolean ferry_migration_rsync_receive (FerryMigrationLink *link, const char *dest, const FerryRsyncOptions *o,
                                        const char *log, guint64 *bytes, GError **error);

/* The regular files of directory SRC over the fs channel, in-process (the
 * CRIU images of a live move: no rsync to start inside the freeze); the
 * receiver creates each one in DEST (made 0700 if missing), never
 * replacing a file, and refuses a name that is not a plain file name
 * (ferry_migration_file_name_ok), more than MAX_FILES files or more than
 * MAX_BYTES bytes in all. */
gboolean ferry_migration_files_send (FerryMigrationLink *link, const char *src, guint64 *bytes, GError **error);
gboolean ferry_migration_files_receive (FerryMigrationLink *link, const char *dest, guint max_files, guint64 max_bytes,
                                        guint64 *bytes, GError **error);
/* The entries CHANGES lists (ferry_tree_state_changes's paths) of the
 * tree R reads, over the fs channel, in-process (common/tree-changes.h), made again
 * under the receiver's ROOT. */
gboolean ferry_migration_changes_send (FerryMigrationLink *link, FerryChangesReader *r, GPtrArray *changes,
                                       guint64 *bytes, GError **error);
gboolean ferry_migration_changes_receive (FerryMigrationLink *link, const char *root, guint64 *bytes, GError **error);
/* A name one file of a directory may have: no '/', not "." or "..", no
 * control character, 1-255 bytes. */
gboolean ferry_migration_file_name_ok (const char *name);

/* One `btrfs send` stream over the fs channel: readonly SUBVOLUME, as the
 * difference from PARENT (a readonly subvolume the receiver received
 * before) unless NULL. The receiver's `btrfs receive` makes it DIR/NAME, NAME
 * the subvolume's own name, readonly. */
gboolean ferry_migration_btrfs_send (FerryMigrationLink *link, const char *subvolume, const char *parent,
                                     const char *log, guint64 *bytes, GError **error);
gboolean ferry_migration_btrfs_receive (FerryMigrationLink *link, const char *dir, const char *log, guint64 *bytes,
                                        GError **error);

/* Timing helpers for the figures reported in operation metadata (strings,
 * as LXD's clients require of migration operations). */
void ferry_migration_set_figure (FerryOperation *op, JsonObject *figures, const char *key, gint64 value);

/* POST /1.0/instances/NAME with "migration": true (source side). */
void ferry_migration_source_start (FerryRequest *req, FerryInstance *inst, JsonObject *body);
/* POST /1.0/instances with source type "migration" (target side); the
 * instance (not yet in the database) is INST, already in d->instances. */
/* It lands on POOL; MISSING_POOL (or NULL) is the pool its root disk named
 * that this host lacks: the source's own pool (the instance falls back to
 * POOL, as in LXD), else the migration fails (the user named it, -s). */
FerryOperation *ferry_migration_target_start (FerryDaemon *d, FerryInstance *inst, JsonObject *source,
                                              FerryStoragePool *pool, const char *missing_pool, GError **error);

/* An incoming migration marks its instance directory
 * (ferry_layout_incoming_marker); at start, ferryd removes what such a
 * migration left if it never completed. */
/* Kills whatever container runs from RUN_DIR (a half-received instance). */
gboolean ferry_migration_force_stop (FerryDaemon *d, const char *run_dir, GError **error);
void ferry_migration_cleanup_incoming (FerryDaemon *d);
