/* File-system primitives that work relative to a directory fd and never
 * follow a symlink: the only way this module writes into a rootfs. */
#pragma once

#include <glib.h>
#include <sys/stat.h>

/* Opens directory rel ("" = rootfd itself; components separated by single
 * '/', no "." or "..") beneath rootfd, refusing any component that is a
 * symlink or not a directory. Missing components are created (mode 0755)
 * when create. Returns an O_CLOEXEC fd, or -1 with an error. */
int ferry_image_open_dir_beneath (int rootfd, const char *rel, gboolean create, GError **error);

/* "a/b/c" -> dir "a/b", base "c"; "c" -> dir "", base "c". */
void ferry_image_split_path (const char *rel, char **dir, const char **base);

/* Sets an fd's owner, then its mode (chown clears set-id bits), for files
 * and dirs. EPERM on chown is ignored when not running as root, so tests can
 * run unprivileged. */
gboolean ferry_image_set_owner_mode (int fd, uid_t uid, gid_t gid, mode_t mode, const char *what, GError **error);

gboolean ferry_image_write_all (int fd, const void *buf, gsize len, off_t offset, GError **error);

/* A FERRY_ERROR_FAILED error "<what>: strerror(errno)". Returns FALSE. */
gboolean ferry_image_errno_error (GError **error, int errsv, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
