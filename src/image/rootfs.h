/* Filling directories with a rootfs from a tarball (the cache fill). From
 * the cache into a container (every launch) is ferry_copy_tree_at(). */
#pragma once

#include <glib.h>

/* Extracts the rootfs/ tree of the unified tarball read from tar_fd into the
 * empty directory rootfd, after (and while) checking the tarball exactly as
 * import does. */
gboolean ferry_image_extract_rootfs (int tar_fd, int rootfd, GError **error);
