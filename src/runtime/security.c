#include "runtime/security.h"

#include "common/error.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* lxc.cap.drop defaults of LXC's common.conf. */
static const int dropped_caps[] = { CAP_MAC_ADMIN, CAP_MAC_OVERRIDE, CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYS_RAWIO };

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

int
ferry_security_load_seccomp (const FerrySeccompProgram *prog)
{
  struct sock_fprog fprog = { .len = prog->len, .filter = prog->filter };

  /* No PR_SET_NO_NEW_PRIVS: it would break setuid programs in a system
   * container; we hold CAP_SYS_ADMIN, which the kernel accepts instead. */
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
    return -errno;
  return 0;
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
  { "kexec_load", EPERM },    { "open_by_handle_at", EPERM }, { "init_module", EPERM },
  { "finit_module", EPERM },  { "delete_module", EPERM },     { "keyctl", ENOSYS },
};

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
