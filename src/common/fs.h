/* Small file-system helpers shared by the daemon, the client and the tools. */
#pragma once

#include <errno.h>
#include <glib.h>
#include <sys/types.h>
#include <unistd.h>

/* An fd closed when it leaves its scope, as GLib 2.76's g_autofd (Debian
 * 12 has 2.74): `ferry_autofd int fd = open (...)`; g_steal_fd() hands it
 * off. errno survives the close, for the error path that reads it. */
static inline void
ferry_close_fdp (int *fd)
{
  int errsv = errno;

  if (*fd >= 0)
    close (*fd);
  errno = errsv;
}
#define ferry_autofd __attribute__ ((cleanup (ferry_close_fdp)))

/* mkdir -p with the given mode for the directories it creates. */
gboolean ferry_mkdir_p (const char *path, int mode, GError **error);

/* Writes the whole file through a temporary file and rename(), so readers
 * never see half of it. */
gboolean ferry_write_file_atomic (const char *path, const char *data, gssize len, int mode, GError **error);

/* rm -rf that never follows symbolic links and never descends into another
 * mount (a forgotten bind mount inside a rootfs must not take the host's
 * files with it). A missing path is success. */
gboolean ferry_rm_rf (const char *path, GError **error);

/* fsync of the directory PATH (its entries: a rename or a new file in it). */
gboolean ferry_fsync_dir (const char *path, GError **error);

/* syncfs(2) of the file system PATH is on: what was written there is on
 * disk (a tree before the database records it). */
gboolean ferry_syncfs (const char *path, GError **error);

/* rename(FROM, TO), durable: the directories of both synced. */
gboolean ferry_rename_durable (const char *from, const char *to, GError **error);

/* Tree copies (copy-tree.c). Always kept: owners, modes (set-id bits
 * included), atimes and mtimes, xattrs, hard links within the tree, holes;
 * symlinks are copied as links, never followed, and the source is only
 * ever opened beneath the directory being copied (it may be a container's).
 * Data is shared (FICLONE) where the file systems can, else copied with
 * copy_file_range(), else read and written. Mounts in the source are
 * crossed. What differs between users is a flag: */
typedef enum
{
  FERRY_COPY_DEVICES = 1 << 0, /* character and block devices are made again; else refused */
  FERRY_COPY_FIFOS = 1 << 1,   /* fifos and sockets are made again; else refused */
  /* An xattr that cannot be read or set is skipped, as cp -a does; else
   * only one the destination cannot hold (ENOTSUP) is. */
  FERRY_COPY_XATTRS_BEST_EFFORT = 1 << 2,
  /* The source must not change: a file whose size differs from what it had
   * when it was looked at fails the copy (an image cache). Else a live tree
   * is copied as found (a running container's rootfs): an entry gone when
   * looked at is skipped, one that changed kind is looked at again. */
  FERRY_COPY_STABLE_SOURCE = 1 << 3,
} FerryCopyFlags;

/* Copies what is in the directory src_dirfd into the empty directory
 * dst_dirfd, whose own owner, mode and times are left alone. On failure the
 * error names the entry and what is copied so far stays (the caller removes
 * it). */
gboolean ferry_copy_tree_at (int src_dirfd, int dst_dirfd, FerryCopyFlags flags, GError **error);

/* What cp -a --reflink=auto FROM TO did, without the process: TO is made a
 * copy of the directory FROM, its own attributes included, with
 * FERRY_COPY_DEVICES | FERRY_COPY_FIFOS | FERRY_COPY_XATTRS_BEST_EFFORT (a
 * snapshot, a restore, a rootfs copy taken while frozen). FROM must be a
 * directory (FERRY_ERROR_NOT_FOUND) and TO must not exist
 * (FERRY_ERROR_CONFLICT); a partial TO is removed on failure. */
gboolean ferry_copy_tree (const char *from, const char *to, GError **error);

/* A file by its inode (hard links: its names share it), as a hash table
 * key (g_hash_table_new_full (ferry_inode_key_hash, ferry_inode_key_equal,
 * g_free, ...)). */
typedef struct
{
  dev_t dev;
  ino_t ino;
} FerryInodeKey;
guint ferry_inode_key_hash (gconstpointer key);
gboolean ferry_inode_key_equal (gconstpointer a, gconstpointer b);

/* write() until all LEN bytes are out (EINTR retried); FALSE with errno set
 * on failure (0: the fd took nothing). */
gboolean ferry_write_all (int fd, const void *data, gsize len);

/* Closes every fd above 2 but KEEP and ALSO (-1: none). */
void ferry_close_fds_but (int keep, int also);

/* Reads a small text file (proc, sysfs, cgroupfs) and strips the trailing
 * newline; NULL with errno set on failure. */
char *ferry_read_small_file (const char *path);

/* Starting time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat), 0 if it does not exist or has exited (a zombie its
 * reaper has not got to yet runs nothing: this sandbox's PID 1 reaps
 * orphans late). Used with the PID to identify a live process across daemon
 * restarts without being fooled by PID reuse. */
guint64 ferry_proc_starttime (pid_t pid);
/* The hexadecimal mask of FIELD ("CapEff", "SigBlk"...) in STATUS, the text
 * of a /proc/PID/status; 0 when STATUS is NULL or lacks the field. */
guint64 ferry_proc_status_mask (const char *status, const char *field);
/* Whether process PID is in the calling process's namespace NS ("user",
 * "time"...): 1 yes, 0 no, -1 when either cannot be looked at. */
int ferry_proc_same_namespace (pid_t pid, const char *ns);
