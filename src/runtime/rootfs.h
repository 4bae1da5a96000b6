/* The container's file system view, set up by the child between clone() and
 * exec(): async-signal-safe, no allocation. Each function returns 0 or -errno
 * and points *what at a description of the failing step. */
#pragma once

/* Binds ROOTFS onto itself, makes the tree private, pivot_root()s into it
 * and detaches the old root. */
int ferry_rootfs_pivot (const char *rootfs, const char **what);
/* The same into TREE, a detached mount (the idmapped rootfs of a user
 * namespace), by descriptor: root of the namespace is nobody to the host
 * directories above the rootfs, which it could not even traverse. The old
 * root stays stacked on the new one until ferry_rootfs_detach_old_root():
 * a user namespace may mount proc and sysfs only while a full view of each
 * is in its mount namespace (the kernel's mount_too_revealing), and bind
 * the host's device nodes only from a mount in it. */
int ferry_rootfs_pivot_tree (int tree, const char **what);
int ferry_rootfs_detach_old_root (const char **what);
/* /proc (LXC's proc:mixed), /sys read-only, and the masked /proc paths
 * (needs /dev/null: call after ferry_rootfs_setup_dev). */
int ferry_rootfs_mount_proc_sys (const char **what);
int ferry_rootfs_mask_proc (const char **what);
/* tmpfs /dev with the standard nodes, devpts, /dev/shm, /dev/mqueue and an
 * empty /dev/console to bind the console onto. The nodes are made with
 * mknod(), or, in a user namespace (which may not), bound from HOST_NODES:
 * the host's, opened by ferry_rootfs_open_dev_nodes() before the pivot. */
#define FERRY_ROOTFS_DEV_NODES 6
typedef struct
{
  const char *path;
  unsigned major, minor;
} FerryRootfsDevNode;
extern const FerryRootfsDevNode ferry_rootfs_dev_nodes[FERRY_ROOTFS_DEV_NODES];
int ferry_rootfs_open_dev_nodes (int host_nodes[FERRY_ROOTFS_DEV_NODES], const char **what);
int ferry_rootfs_setup_dev (const int *host_nodes, const char **what);
/* Disk devices, from inside the container's mount namespace and root:
 * walks PATH from "/" component by component, never following a symlink
 * (root inside controls the rootfs: a /mnt -> /etc there must not turn a
 * bind into one over something else), creating the directories missing
 * and, for a file (IS_FILE), an empty file as the mount point; then moves
 * TREE (a detached bind of the host's source, open_tree) onto it.
 * ELOOP means a symlink on the way. */
int ferry_rootfs_mount_disk (int tree, const char *path, int is_file, const char **what);
/* Detaches the mount on PATH (found the same way), lazily if busy. */
int ferry_rootfs_umount_disk (const char *path, const char **what);
