/* A copy of a tree brought up to date with the entries a tree state lists
 * as changed (ferry_tree_state_changes), one record per entry, made again
 * under the copy's top. A live move's final rootfs sync sends them over its
 * fs channel (an rsync session for them cost ~100 ms of the freeze: two
 * processes started, their handshake over the link, both walking the
 * list); a stateful snapshot copies its rootfs before the freeze and only
 * the changes in it (ferry_changes_copy).
 *
 * A record is a JSON object: "path" (relative to the tree, "." for its
 * top), "type" (file, dir, symlink, char, block, fifo, socket, or link: a
 * further name of a file sent before, "to" its path), "uid", "gid",
 * "mode" (the permission and set-id bits), "atime" and "mtime" ([seconds,
 * nanoseconds]), "xattrs" ({name: base64 value}, every one it has); a
 * file's "size" (its data follows, that many bytes), a symlink's
 * "target", a device's "rdev"; a directory's "entries", the names it holds
 * (the receiver removes any other). As rsync -aHAX --numeric-ids --sparse:
 * ids as numbers, holes kept, a hard link within the list kept, a file
 * made anew (a link to it from outside the list is parted; the tree state
 * lists every name of a changed inode, whose change time they share).
 *
 * Both sides resolve a path beneath the tree's top without following a
 * symlink or crossing a mount; the receiver takes a record from a peer as
 * untrusted: a path that is not a plain relative path, an entry that does
 * not fit (a name under a file, a link to a directory) is an error. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Directory PATH of the tree at ROOT ("" or "." for its top), resolved
 * beneath it: no symlink or magic link followed, no mount crossed (openat2);
 * FLAGS O_PATH or O_RDONLY. -1 with errno. */
int ferry_changes_open_dir (int root, const char *path, int flags);

typedef struct FerryChangesReader FerryChangesReader;

FerryChangesReader *ferry_changes_reader_new (const char *root, GError **error);
/* The record of PATH, as ferry_tree_state_changes names it ("D/." for a
 * directory). For a file with data, *DATA is an fd to read the record's
 * "size" bytes from (the caller closes it), else -1. NULL without an error
 * when the entry is gone. */
JsonObject *ferry_changes_reader_record (FerryChangesReader *r, const char *path, int *data, GError **error);
/* Whether every directory CHANGES lists ("D/.") has names that fit one
 * record of at most MAX_BYTES (a channel's message): FALSE for one that
 * does not (a spool of a million files), whose changes then go another
 * way. An unreadable directory fits (its record will say why). The names
 * read are kept for the records (read once, in the freeze). */
gboolean ferry_changes_reader_dirs_fit (FerryChangesReader *r, GPtrArray *changes, gsize max_bytes);
void ferry_changes_reader_free (FerryChangesReader *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryChangesReader, ferry_changes_reader_free)

typedef struct FerryChangesWriter FerryChangesWriter;

FerryChangesWriter *ferry_changes_writer_new (const char *root, GError **error);
/* Makes RECORD's entry. *SIZE: the bytes of data to pass to _data before
 * _commit (a file), else 0 and the entry is done. */
gboolean ferry_changes_writer_apply (FerryChangesWriter *w, JsonObject *record, guint64 *size, GError **error);
/* The next LEN bytes of the file's data (all-zero blocks left as holes). */
gboolean ferry_changes_writer_data (FerryChangesWriter *w, const guint8 *data, gsize len, GError **error);
/* The file's data complete: its size, owner, mode, xattrs and times. */
gboolean ferry_changes_writer_commit (FerryChangesWriter *w, GError **error);
/* After the last record: the times of the directories (every change in a
 * directory sets its mtime), the records' or, for a directory only written
 * into, those it had. */
gboolean ferry_changes_writer_finish (FerryChangesWriter *w, GError **error);
void ferry_changes_writer_free (FerryChangesWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryChangesWriter, ferry_changes_writer_free)

/* The entries of CHANGES (as ferry_tree_state_changes lists them) of the
 * tree at SRC made again in its copy at DST, as the records would on a
 * peer: DST is then SRC, entry by entry. */
gboolean ferry_changes_copy (const char *src, const char *dst, GPtrArray *changes, GError **error);
