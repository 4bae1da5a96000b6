/* Whether a directory tree is as it was: what lets a live move skip its
 * final rootfs sync (an rsync of the whole tree inside the freeze) when
 * nothing changed since the pre-copy began.
 *
 * Taken before the pre-copy reads the tree, the state lists every entry
 * (lstat, one file system, no symlink followed) by path with its inode
 * change time. Every change to an entry after that (data, size, mode, owner,
 * xattrs, links, a rename; for a directory, an entry added or removed)
 * sets its ctime to the clock, which userspace cannot set back. So when
 * every recorded ctime is older than the moment the state was taken (with
 * a margin for the timestamps' coarse clock) and a second walk finds the
 * same entries with the same ctimes, the tree is what the pre-copy read.
 * A state with a recent ctime is "unsettled": it never compares equal.
 * Writes through a shared mapping that dirty an already dirty page do
 * not update ctime; rsync's quick check (size and mtime) misses them too. */
#pragma once

#include <glib.h>

typedef struct FerryTreeState FerryTreeState;

/* NULL (with an error) when DIR cannot be walked. */
FerryTreeState *ferry_tree_state_take (const char *dir, GError **error);
/* TRUE when DIR is the same tree as STATE recorded; stops at the first
 * difference. */
gboolean ferry_tree_state_unchanged (const FerryTreeState *state, const char *dir);
/* What changed in DIR since STATE was taken, for a sync of just that:
 * paths relative to DIR of the entries that changed or are new (an
 * entry whose recorded ctime was as recent as the state counts as
 * changed); a directory as "PATH/." ("." for DIR itself): one that changed
 * had an entry added, removed or renamed, or its own attributes changed,
 * and a sync compares its entries one by one and deletes those gone. An
 * empty list: DIR is as the state saw it. Every name of a changed file
 * is listed (its names share its change time). NULL, with *WHY, when an
 * entry could not be read. */
GPtrArray *ferry_tree_state_changes (const FerryTreeState *state, const char *dir, const char **why);
gboolean ferry_tree_state_settled (const FerryTreeState *state);
guint ferry_tree_state_entries (const FerryTreeState *state);
void ferry_tree_state_free (FerryTreeState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryTreeState, ferry_tree_state_free)

/* How recent a ctime makes a state unsettled (ns): on a file system whose
 * times have nanoseconds (one ctime in the tree with some), ten ticks of
 * the kernel's coarse clock at HZ=100; else two seconds. _full takes
 * another margin (tests; -1: that choice). */
#define FERRY_TREE_STATE_MARGIN_NS (2 * G_GINT64_CONSTANT (1000000000))
#define FERRY_TREE_STATE_FINE_MARGIN_NS (100 * G_GINT64_CONSTANT (1000000))
FerryTreeState *ferry_tree_state_take_full (const char *dir, gint64 margin_ns, GError **error);
