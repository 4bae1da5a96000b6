/* Instance backups in LXD 5.0's tarball layout (its dir storage driver):
 *   backup/index.yaml              name, backend, pool, snapshots, type
 *   backup/container/backup.yaml   the instance and its snapshots (LXD's api objects)
 *   backup/container/rootfs/       the rootfs, owners as on disk
 *   backup/container/state/        saved processes of a stateful stop (CRIU images)
 *   backup/snapshots/SNAP/rootfs/  each snapshot's rootfs
 *   backup/snapshots/SNAP/state/   a stateful snapshot's CRIU images
 * Writing reads the instance's directories; reading checks every entry as
 * an image import does and writes only beneath a staging directory. */
#pragma once

#include <gio/gio.h>

/* One directory of the instance holding rootfs/ and maybe state/. */
typedef struct
{
  const char *tar_dir;  /* "container" or "snapshots/SNAP" */
  const char *disk_dir; /* e.g. ROOT/containers/c1 or ROOT/snapshots/c1/SNAP */
} FerryBackupPart;

/* TRUE for the compression_algorithm values Ferry writes: gzip (LXD's
 * default), none, bzip2, xz, lzma, zstd, lz4. */
gboolean ferry_backup_compression_known (const char *name);

/* Writes the backup tarball to fd: index.yaml, container/backup.yaml, then
 * each part's rootfs/ and state/ (FerryBackupPart, the instance's first).
 * Sockets, fifos and device nodes are left out (an import refuses them;
 * a container gets a fresh /dev and /run). */
gboolean ferry_backup_write (int fd, const char *compression, const char *index_yaml, const char *backup_yaml,
                             GPtrArray *parts, GCancellable *cancellable, GError **error);

typedef struct
{
  char *index_yaml;
  char *backup_yaml;    /* backup/container/backup.yaml */
  GPtrArray *snapshots; /* names (char *) of the snapshot directories extracted */
} FerryBackupContents;

void ferry_backup_contents_free (FerryBackupContents *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryBackupContents, ferry_backup_contents_free)

/* Reads the tarball from tar_fd (from offset 0), checking every entry (no
 * absolute path or "..", nothing beneath a symlink or file, no device
 * node, fifo or socket, hard links only to earlier files of the same
 * rootfs/ or state/, a complete archive), and writes the rootfs/ and state/
 * trees into the empty directory stage_fd: container/{rootfs,state} and
 * snapshots/SNAP/{rootfs,state}. On FERRY_ERROR_INVALID (naming the
 * offending entry) or another error, what was written stays for the caller
 * to remove. */
FerryBackupContents *ferry_backup_extract (int tar_fd, int stage_fd, GCancellable *cancellable, GError **error);
