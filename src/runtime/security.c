#include "runtime/security.h"

#include "common/error.h"

#include <errno.h>
#include <sched.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* lxc.cap.drop defaults of LXC's common.conf, plus CAP_SYSLOG: with it the
 * host's kernel log is readable whatever kernel.dmesg_restrict says (on 6.x
 * CAP_SYS_ADMIN no longer stands in for it). */
static const int dropped_caps[]
    = { CAP_MAC_ADMIN, CAP_MAC_OVERRIDE, CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYSLOG };

int
ferry_security_drop_capabilities (void)
{
  for (size_t i = 0; i < sizeof dropped_caps / sizeof dropped_caps[0]; i++)
    if (prctl (PR_CAPBSET_DROP, dropped_caps[i], 0, 0, 0) < 0 && errno != EINVAL)
      return -errno;
  /* Ambient capabilities would survive exec whatever the bounding set says. */
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return -errno;
  return 0;
}

/* No PR_SET_NO_NEW_PRIVS: it would break setuid programs in a system
 * container; we hold CAP_SYS_ADMIN, which the kernel accepts instead. */
static int
load_filter(const struct sock_filter *filter, unsigned short len, unsigned flags)
{
  struct sock_fprog fprog = { .len = len, .filter = (struct sock_filter *)filter };
  int rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);

  return rc < 0 ? -errno : rc;
}

#define ARCH_NR offsetof(struct seccomp_data, arch)
#define SYSCALL_NR offsetof(struct seccomp_data, nr)
#define X32_BIT 0x40000000u
#define NR_OPEN_TREE_ATTR 467 /* 6.15; unknown to libseccomp 2.5 */

/* Syscalls newer than libseccomp's table, by number: open_tree_attr clones
 * a mount tree with other attributes (a writable copy of /proc/sys). */
static const struct sock_filter unknown_syscalls_filter[] = {
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_NR),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 2, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SYSCALL_NR),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_OPEN_TREE_ATTR, 1, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_OPEN_TREE_ATTR | X32_BIT, 0, 1),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

/* mount(2) and umount(2) of every ABI go to the monitor (mount-notify.c).
 * Kept apart from the deny list, and hand-written so that its bytes are
 * known: a restore removes CRIU's dumped copy of it (seccomp-image.c). */
static const struct sock_filter mount_notify_filter[] = {
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_NR),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 2, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 7, 0),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SYSCALL_NR),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 165 /* mount */, 8, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 166 /* umount2 */, 7, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 165 | X32_BIT, 6, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 166 | X32_BIT, 5, 0),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SYSCALL_NR),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 21 /* i386 mount */, 2, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 52 /* i386 umount2 */, 1, 0),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 22 /* i386 umount */, 0, 1),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

const struct sock_filter *
ferry_security_mount_notify_filter(gsize *len)
{
  *len = G_N_ELEMENTS(mount_notify_filter);
  return mount_notify_filter;
}

int
ferry_security_load_seccomp (const FerrySeccompProgram *prog)
{
  int rc = load_filter(prog->filter, prog->len, 0);

  if (rc < 0)
    return rc;
  rc = load_filter(unknown_syscalls_filter, G_N_ELEMENTS(unknown_syscalls_filter), 0);
  return rc < 0 ? rc : 0;
}

int
ferry_security_load_mount_notify(void)
{
  /* A notification the monitor has received is not abandoned on a signal
   * (the monitor may have mounted already): the caller waits, killable. */
  int fd = load_filter(mount_notify_filter, G_N_ELEMENTS(mount_notify_filter),
                       SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);

  if (fd == -EINVAL) /* kernels before 5.19 */
    fd = load_filter(mount_notify_filter, G_N_ELEMENTS(mount_notify_filter),
                     SECCOMP_FILTER_FLAG_NEW_LISTENER);
  return fd;
}

void
ferry_security_seccomp_clear (FerrySeccompProgram *prog)
{
  g_clear_pointer (&prog->filter, g_free);
  prog->len = 0;
}

/* LXC's common.seccomp: a deny list on top of "allow everything". */
static const struct
{
  const char *name;
  int err;
} denied_syscalls[] = {
  { "kexec_load", EPERM },
  { "open_by_handle_at", EPERM },
  { "init_module", EPERM },
  { "finit_module", EPERM },
  { "delete_module", EPERM },
  { "keyctl", ENOSYS },
  /* Detaching or replacing the cgroup BPF programs that guard the
   * container, and BPF programs CRIU could not dump anyway. */
  { "bpf", EPERM },
  /* The new mount API takes file descriptors and strings the monitor cannot
   * check the way it checks mount(2) (see mount-notify.c); ENOSYS makes
   * libmount and systemd fall back to mount(2). */
  { "fsopen", ENOSYS },
  { "fsconfig", ENOSYS },
  { "fsmount", ENOSYS },
  { "fspick", ENOSYS },
  { "open_tree", ENOSYS },
  { "move_mount", ENOSYS },
  { "mount_setattr", ENOSYS },
};

/* New UTS namespaces inside the container: CRIU cannot dump a nested one
 * (checkpoint-restore/criu#1430), and systemd makes one for every unit with
 * ProtectHostname= (logind, hostnamed, ...). Refused with EPERM, systemd
 * logs that the container manager prohibits it and starts the unit in the
 * container's own UTS namespace (systemd PR 15418): the unit still cannot
 * change the host's hostname, only the container's. clone3() keeps its
 * flags in memory, where a filter cannot read them: ENOSYS, and glibc
 * falls back to clone(). */
static int
add_uts_rules (scmp_filter_ctx ctx, const char **step)
{
  int rc;

  *step = "unshare(CLONE_NEWUTS)";
  if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (unshare), 1,
                              SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NEWUTS, CLONE_NEWUTS))) < 0)
    return rc;
  *step = "clone(CLONE_NEWUTS)";
  if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
                              SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NEWUTS, CLONE_NEWUTS))) < 0)
    return rc;
  *step = "clone3";
  if (seccomp_syscall_resolve_name ("clone3") == __NR_SCMP_ERROR)
    return 0;
  return seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), seccomp_syscall_resolve_name ("clone3"), 0);
}

gboolean
ferry_security_build_seccomp (FerrySeccompProgram *prog, GError **error)
{
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
  int rc = 0, memfd = -1;
  const char *step = "initialising";

  memset (prog, 0, sizeof *prog);
  if (ctx == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Building the seccomp filter: seccomp_init failed");
      return FALSE;
    }
  /* Without the compat ABIs in the filter, the kernel would kill every
   * 32-bit process (libseccomp's bad-arch action). */
  if (seccomp_arch_native () == SCMP_ARCH_X86_64)
    {
      step = "adding the x86 and x32 ABIs";
      if ((rc = seccomp_arch_add (ctx, SCMP_ARCH_X86)) < 0 && rc != -EEXIST)
        goto out;
      if ((rc = seccomp_arch_add (ctx, SCMP_ARCH_X32)) < 0 && rc != -EEXIST)
        goto out;
      rc = 0;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (denied_syscalls); i++)
    {
      int nr = seccomp_syscall_resolve_name (denied_syscalls[i].name);
      step = denied_syscalls[i].name;
      if (nr == __NR_SCMP_ERROR)
        continue;
      if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (denied_syscalls[i].err), nr, 0)) < 0)
        goto out;
    }
  if ((rc = add_uts_rules (ctx, &step)) < 0)
    goto out;
  /* libseccomp 2.5 can only export to an fd: go through a memfd. */
  step = "exporting";
  memfd = memfd_create ("ferry-seccomp", MFD_CLOEXEC);
  if (memfd < 0)
    {
      rc = -errno;
      goto out;
    }
  if ((rc = seccomp_export_bpf (ctx, memfd)) < 0)
    goto out;
  struct stat st;
  if (fstat (memfd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof (struct sock_filter) != 0
      || st.st_size / sizeof (struct sock_filter) > 0xffff)
    {
      rc = -EINVAL;
      goto out;
    }
  prog->filter = g_malloc (st.st_size);
  if (pread (memfd, prog->filter, st.st_size, 0) != st.st_size)
    {
      rc = -EIO;
      ferry_security_seccomp_clear (prog);
      goto out;
    }
  prog->len = (unsigned short) (st.st_size / sizeof (struct sock_filter));

out:
  if (memfd >= 0)
    close (memfd);
  seccomp_release (ctx);
  if (rc < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Building the seccomp filter (%s): %s", step,
                   g_strerror (-rc));
      return FALSE;
    }
  return TRUE;
}
