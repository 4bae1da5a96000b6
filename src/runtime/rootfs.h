/* The container's file system view, set up by the child between clone() and
 * exec(): async-signal-safe, no allocation. Each function returns 0 or -errno
 * and points *what at a description of the failing step. */
#pragma once

/* Binds ROOTFS onto itself, makes the tree private, pivot_root()s into it
 * and detaches the old root. */
int ferry_rootfs_pivot (const char *rootfs, const char **what);
/* /proc (LXC's proc:mixed), /sys read-only, and the masked /proc paths
 * (needs /dev/null: call after ferry_rootfs_setup_dev). */
int ferry_rootfs_mount_proc_sys (const char **what);
int ferry_rootfs_mask_proc (const char **what);
/* tmpfs /dev with the standard nodes, devpts, /dev/shm, /dev/mqueue and an
 * empty /dev/console to bind the console onto. */
int ferry_rootfs_setup_dev (const char **what);
