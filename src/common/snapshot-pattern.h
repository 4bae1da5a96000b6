/* snapshots.pattern, as LXD's NextSnapshotName reads it: a snapshot name
 * with at most one %d (the next free index) and Pongo2 tags of which Ferry
 * takes the one LXD documents, {{ creation_date|date:'LAYOUT' }} with a Go
 * time layout ("2006-01-02_15-04-05"). Anything else in {{ }} or {% %} is
 * refused with a clear error rather than copied into the name. Pure logic. */
#pragma once

#include <glib.h>

/* The pattern with its tags rendered for CREATED; %d left in place.
 * NULL with an error for a tag Ferry does not render, a second %d, or a
 * result that is not a valid snapshot name. */
char *ferry_snapshot_pattern_render (const char *pattern, GDateTime *created, GError **error);

/* The name PATTERN (rendered) gives next, given the names that EXISTING
 * (a NULL-terminated list) already holds: with %d, the index one above
 * the highest one used ("snap0" first); without, the name itself, or
 * NAME-0, NAME-1... once it is taken. */
char *ferry_snapshot_pattern_next (const char *rendered, const char *const *existing);
