/* The device allow list, and its cgroup v2 form: a BPF_CGROUP_DEVICE
 * program in raw instructions (no libbpf, as crun and systemd build it). The
 * kernel runs it for every open and mknod of a device node by a task of the
 * cgroup or below, with struct bpf_cgroup_dev_ctx { access_type (access << 16
 * | type), major, minor }, and refuses the access with EPERM when it
 * returns 0. */
#include "runtime/cgroup-devices.h"

#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const FerryDeviceRule ferry_device_allow[] = {
  { 'c', -1, -1, "m" },    /* mknod of any node: opening it is what counts */
  { 'b', -1, -1, "m" },    /* (a rootfs may ship its own /dev) */
  { 'c', 1, 3, "rwm" },    /* null */
  { 'c', 1, 5, "rwm" },    /* zero */
  { 'c', 1, 7, "rwm" },    /* full */
  { 'c', 1, 8, "rwm" },    /* random */
  { 'c', 1, 9, "rwm" },    /* urandom */
  { 'c', 5, 0, "rwm" },    /* tty */
  { 'c', 5, 1, "rwm" },    /* console */
  { 'c', 5, 2, "rwm" },    /* ptmx */
  { 'c', 136, -1, "rwm" }, /* pts */
  { 'c', 10, 229, "rwm" }, /* fuse */
  { 'c', 10, 200, "rwm" }, /* net/tun */
};
const gsize ferry_device_allow_len = G_N_ELEMENTS(ferry_device_allow);

char *
ferry_device_rule_format(const FerryDeviceRule *rule)
{
  g_autofree char *major = rule->major < 0 ? g_strdup("*") : g_strdup_printf("%d", rule->major);
  g_autofree char *minor = rule->minor < 0 ? g_strdup("*") : g_strdup_printf("%d", rule->minor);

  return g_strdup_printf("%c %s:%s %s", rule->type, major, minor, rule->access);
}

/* The instructions used, as the kernel's filter.h spells them. */
#define INSN(CODE, DST, SRC, OFF, IMM)                                                                       \
  ((struct bpf_insn){ .code = (CODE), .dst_reg = (DST), .src_reg = (SRC), .off = (OFF), .imm = (IMM) })
#define LDX_W(DST, SRC, OFF) INSN(BPF_LDX | BPF_W | BPF_MEM, DST, SRC, OFF, 0)
#define ALU32_IMM(OP, DST, IMM) INSN(BPF_ALU | (OP) | BPF_K, DST, 0, 0, IMM)
#define MOV32_REG(DST, SRC) INSN(BPF_ALU | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define MOV64_IMM(DST, IMM) INSN(BPF_ALU64 | BPF_MOV | BPF_K, DST, 0, 0, IMM)
#define JNE_IMM(DST, IMM) INSN(BPF_JMP | BPF_JNE | BPF_K, DST, 0, 0, IMM)
#define JNE_REG(DST, SRC) INSN(BPF_JMP | BPF_JNE | BPF_X, DST, SRC, 0, 0)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers the prologue loads: the request's type, access, major, minor. */
enum
{
  R_TYPE = BPF_REG_2,
  R_ACCESS = BPF_REG_3,
  R_MAJOR = BPF_REG_4,
  R_MINOR = BPF_REG_5,
  R_SCRATCH = BPF_REG_1, /* the context pointer, no longer needed */
};

static int
access_bits(const char *access)
{
  int bits = 0;

  for (const char *a = access; *a; a++)
    bits |= *a == 'r'   ? BPF_DEVCG_ACC_READ
            : *a == 'w' ? BPF_DEVCG_ACC_WRITE
            : *a == 'm' ? BPF_DEVCG_ACC_MKNOD
                        : 0;
  return bits;
}

/* Appends "if the request matches RULE, return 1": each test that fails
 * jumps past the block to the next rule's. */
static void
append_rule(GArray *prog, const FerryDeviceRule *rule)
{
  const int all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
  int bits = access_bits(rule->access);
  guint jumps[4], n_jumps = 0;
  struct bpf_insn insn;

  insn = JNE_IMM(R_TYPE, rule->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
  jumps[n_jumps++] = prog->len;
  g_array_append_val(prog, insn);
  if (bits != all) {
    /* Every access asked for must be allowed: (asked & allowed) == asked. */
    struct bpf_insn mask[] = { MOV32_REG(R_SCRATCH, R_ACCESS), ALU32_IMM(BPF_AND, R_SCRATCH, bits) };
    g_array_append_vals(prog, mask, G_N_ELEMENTS(mask));
    insn = JNE_REG(R_SCRATCH, R_ACCESS);
    jumps[n_jumps++] = prog->len;
    g_array_append_val(prog, insn);
  }
  if (rule->major >= 0) {
    insn = JNE_IMM(R_MAJOR, rule->major);
    jumps[n_jumps++] = prog->len;
    g_array_append_val(prog, insn);
  }
  if (rule->minor >= 0) {
    insn = JNE_IMM(R_MINOR, rule->minor);
    jumps[n_jumps++] = prog->len;
    g_array_append_val(prog, insn);
  }
  struct bpf_insn allow[] = { MOV64_IMM(BPF_REG_0, 1), EXIT() };
  g_array_append_vals(prog, allow, G_N_ELEMENTS(allow));
  /* A jump's offset counts from the instruction after it. */
  for (guint i = 0; i < n_jumps; i++)
    g_array_index(prog, struct bpf_insn, jumps[i]).off = (gint16)(prog->len - jumps[i] - 1);
}

struct bpf_insn *
ferry_device_program_build(const FerryDeviceRule *rules, gsize n_rules, gsize *n_insns)
{
  GArray *prog = g_array_new(FALSE, TRUE, sizeof(struct bpf_insn));
  const struct bpf_insn prologue[] = {
    LDX_W(R_TYPE, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type)),
    ALU32_IMM(BPF_AND, R_TYPE, 0xffff),
    LDX_W(R_ACCESS, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type)),
    ALU32_IMM(BPF_RSH, R_ACCESS, 16),
    LDX_W(R_MAJOR, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, major)),
    LDX_W(R_MINOR, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, minor)),
  };
  const struct bpf_insn deny[] = { MOV64_IMM(BPF_REG_0, 0), EXIT() };

  g_array_append_vals(prog, prologue, G_N_ELEMENTS(prologue));
  for (gsize i = 0; i < n_rules; i++)
    append_rule(prog, &rules[i]);
  g_array_append_vals(prog, deny, G_N_ELEMENTS(deny));
  *n_insns = prog->len;
  return (struct bpf_insn *)g_array_free(prog, FALSE);
}

static int
sys_bpf(int cmd, union bpf_attr *attr)
{
  return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

static int
load_once(const struct bpf_insn *insns, gsize n_insns, char *log, guint32 log_size)
{
  union bpf_attr attr;

  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (guint64)(uintptr_t)insns;
  attr.insn_cnt = (guint32)n_insns;
  attr.license = (guint64)(uintptr_t) "GPL";
  attr.log_buf = (guint64)(uintptr_t)log;
  attr.log_size = log_size;
  attr.log_level = log != NULL ? 1 : 0;
  return sys_bpf(BPF_PROG_LOAD, &attr);
}

/* Returns the program's fd, or -1 with the verifier's log in the error (a
 * second load asks for it: logging every load could overflow the buffer). */
static int
load_program(GError **error)
{
  enum
  {
    LOG_SIZE = 1 << 16
  };
  gsize n_insns;
  g_autofree struct bpf_insn *insns
      = ferry_device_program_build(ferry_device_allow, ferry_device_allow_len, &n_insns);
  int fd = load_once(insns, n_insns, NULL, 0);

  if (fd >= 0)
    return fd;
  int saved = errno;
  g_autofree char *log = g_malloc0(LOG_SIZE);
  if ((fd = load_once(insns, n_insns, log, LOG_SIZE)) >= 0)
    close(fd); /* a transient failure: still report the first one */
  if (*log == '\0')
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "Loading the device policy's BPF program: %s",
                g_strerror(saved));
  else
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "Loading the device policy's BPF program: %s: %s",
                g_strerror(saved), g_strstrip(log));
  return -1;
}

gboolean
ferry_device_policy_attach(const char *dir, GError **error)
{
  int prog = load_program(error);
  int dirfd;
  union bpf_attr attr;

  if (prog < 0)
    return FALSE;
  if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    int saved = errno;
    close(prog);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening cgroup %s: %s", dir, g_strerror(saved));
    return FALSE;
  }
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (guint32)dirfd;
  attr.attach_bpf_fd = (guint32)prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  int rc = sys_bpf(BPF_PROG_ATTACH, &attr);
  int saved = errno;
  close(dirfd);
  close(prog); /* the attachment holds the program */
  if (rc < 0) {
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED,
                "Attaching the device policy (BPF_CGROUP_DEVICE) to %s: %s", dir, g_strerror(saved));
    return FALSE;
  }
  return TRUE;
}
