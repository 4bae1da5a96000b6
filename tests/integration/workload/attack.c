/* Attacks on the host from root inside a container (privileged or not), for
 * test_security_container.py: the calls busybox does not make. Each prints
 * one line per attempt, "NAME ok" or "NAME ERRNO-NAME". Static: the busybox
 * rootfs has no libc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/magic.h>

static void
report(const char *name, long rc)
{
  if (rc < 0)
    printf("%s %s\n", name, strerrorname_np(errno));
  else
    printf("%s ok\n", name);
  fflush(stdout);
}

/* The new mount API, open_tree_attr (467) and bpf(). */
static int
syscalls(void)
{
  struct
  {
    unsigned long long set, clr, prop, userns;
  } attr = { 0 };
  union bpf_attr battr;

  report("fsopen", syscall(SYS_fsopen, "proc", 0));
  report("fspick", syscall(SYS_fspick, AT_FDCWD, "/proc", 0));
  report("fsconfig", syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0));
  report("fsmount", syscall(SYS_fsmount, -1, 0, 0));
  report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/proc", 1 /* OPEN_TREE_CLONE */));
  report("open_tree_attr", syscall(467, AT_FDCWD, "/proc/sys", 1, &attr, sizeof attr));
  report("move_mount", syscall(SYS_move_mount, -1, "", -1, "", 0));
  attr.clr = 1; /* MOUNT_ATTR_RDONLY */
  report("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/proc/sys", 0, &attr, sizeof attr));
  memset(&battr, 0, sizeof battr);
  report("bpf", syscall(SYS_bpf, BPF_PROG_GET_NEXT_ID, &battr, sizeof battr));
  return 0;
}

/* What LXD's default seccomp policy denies, and what a user namespace's
 * root may not do to the kernel: modules, kexec, file handles, keyrings,
 * I/O ports. */
static int
kernel_calls(void)
{
  struct
  {
    unsigned int bytes;
    int type;
    unsigned char data[8];
  } handle = { .bytes = 8, .type = 1 };

  report("init_module", syscall(SYS_init_module, NULL, 0UL, ""));
  report("finit_module", syscall(SYS_finit_module, -1, "", 0));
  report("delete_module", syscall(SYS_delete_module, "ext4", O_NONBLOCK));
  report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL));
  report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0UL));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY));
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  report("iopl", syscall(SYS_iopl, 3));
  report("ioperm", syscall(SYS_ioperm, 0x80UL, 1UL, 1));
  return 0;
}

static char fstype[16] = "tmpfs";
static volatile int racing = 1;

static void *
flip(void *arg)
{
  while (racing) {
    memcpy(fstype, "proc", 5);
    memcpy(fstype, "tmpfs", 6);
  }
  return NULL;
}

/* mount(2) of "tmpfs" while another thread keeps rewriting it to "proc":
 * the monitor must mount what it checked, never what the string became. */
static int
race(const char *dir, int rounds)
{
  pthread_t t;
  int escaped = 0, mounted = 0;

  mkdir(dir, 0755);
  pthread_create(&t, NULL, flip, NULL);
  for (int i = 0; i < rounds; i++) {
    struct statfs sfs;
    if (mount("race", dir, fstype, 0, NULL) < 0)
      continue;
    mounted++;
    if (statfs(dir, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC)
      escaped++;
    umount2(dir, MNT_DETACH);
  }
  racing = 0;
  pthread_join(t, NULL);
  printf("race mounted %d escaped %d\n", mounted, escaped);
  return 0;
}

static int
open_write(const char *path)
{
  report("open-write", open(path, O_WRONLY));
  return 0;
}

/* The end of pivot_root(".", ".") as systemd, runc and LXC do it, in a
 * mount namespace of its own: the old root stacked on "." is unmounted
 * with umount2("."). DIR becomes "/" only if both calls work. */
static int
pivot(const char *dir)
{
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 || chdir(dir) < 0) {
    report("pivot-setup", -1);
    return 1;
  }
  long rc = syscall(SYS_pivot_root, ".", ".");
  report("pivot_root", rc);
  if (rc == 0)
    report("umount-dot", rc = umount2(".", MNT_DETACH));
  if (rc == 0)
    report("new-root", rc = access("/pivot-marker", F_OK));
  return rc == 0 ? 0 : 1;
}

/* umount2(".") with DIR as the working directory. */
static int
umount_dot(const char *dir)
{
  if (chdir(dir) < 0) {
    report("chdir", -1);
    return 1;
  }
  int rc = umount2(".", MNT_DETACH);
  report("umount-dot", rc);
  return rc == 0 ? 0 : 1;
}

/* How systemd 257 starts units: PID 1 holds systemd-executor open with
 * O_PATH and executes that descriptor in a child. Here the process holds
 * its own binary with O_PATH and its child executes it ("sleep"). */
static int
opath_exec(void)
{
  int fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
  pid_t pid;

  if (fd < 0 || (pid = fork()) < 0) {
    report("opath-exec", -1);
    return 1;
  }
  if (pid == 0) {
    char *const args[] = { "attack", "sleep", NULL };
    char *const env[] = { NULL };
    syscall(SYS_execveat, fd, "", args, env, AT_EMPTY_PATH);
    _exit(127);
  }
  printf("opath-exec ok %d\n", (int)pid);
  fflush(stdout);
  for (;;)
    pause();
}

int
main(int argc, char **argv)
{
  if (argc == 2 && strcmp(argv[1], "sleep") == 0)
    for (;;)
      pause();
  if (argc == 2 && strcmp(argv[1], "opath-exec") == 0)
    return opath_exec();
  if (argc == 3 && strcmp(argv[1], "pivot") == 0)
    return pivot(argv[2]);
  if (argc == 3 && strcmp(argv[1], "umount-dot") == 0)
    return umount_dot(argv[2]);
  if (argc == 2 && strcmp(argv[1], "syscalls") == 0)
    return syscalls();
  if (argc == 2 && strcmp(argv[1], "kernel") == 0)
    return kernel_calls();
  if (argc == 4 && strcmp(argv[1], "race") == 0)
    return race(argv[2], atoi(argv[3]));
  if (argc == 3 && strcmp(argv[1], "open-write") == 0)
    return open_write(argv[2]);
  fprintf(stderr, "usage: attack syscalls | kernel | race DIR ROUNDS | open-write PATH | pivot DIR | umount-dot DIR"
                  " | opath-exec | sleep\n");
  return 2;
}
