/* Filling directories with a rootfs: from a tarball (the cache fill) and
 * from the cache into a container (every launch). */
#pragma once

#include <glib.h>

/* Extracts the rootfs/ tree of the unified tarball read from tar_fd into the
 * empty directory rootfd, after (and while) checking the tarball exactly as
 * import does. */
gboolean ferry_image_extract_rootfs (int tar_fd, int rootfd, GError **error);

/* Copies the tree under src_fd into the empty directory dst_fd: owners,
 * modes, mtimes, xattrs, symlinks and hard links; file data by reflink when
 * the file system can, else copy_file_range(). Only regular files,
 * directories and symlinks are expected. */
gboolean ferry_image_copy_tree (int src_fd, int dst_fd, GError **error);
