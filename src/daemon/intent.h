/* Crash consistency (docs/durability.md). The database is the commit point
 * of every operation on an instance; what an operation does to files before
 * its commit is recorded first as an intent (src/db), settled in its done
 * callback; recovery.c settles at start what a dead ferryd left. */
#pragma once

#include "daemon/daemon.h"

/* A delete moves each directory DIR aside to DIR + this, removed once the
 * delete commits. */
#define FERRY_INTENT_ASIDE_SUFFIX ".deleting"

/* Records that OP is about to change INSTANCE's files (NAME: the snapshot,
 * or the new name of a rename; or NULL); its id for ferry_intent_settle, or
 * 0 with an error. */
gint64 ferry_intent_begin (FerryDaemon *d, const char *instance, const char *op, const char *name, GError **error);
/* The operation's outcome is recorded: nothing is left to recover. */
void ferry_intent_settle (FerryDaemon *d, gint64 id);

/* The aside name of DIR for a delete: removed once the delete commits. */
char *ferry_intent_aside_path (const char *dir);
/* The dump in IMAGES is complete: marked by its monitor, or ended by CRIU
 * (PROCESSES_GONE) and then synced and marked here. */
gboolean ferry_intent_dump_complete (const char *images, gboolean processes_gone);
