/* The devices a container may use: one allow list for both cgroup layouts,
 * written to devices.allow on v1 and compiled into a BPF_CGROUP_DEVICE
 * program on v2 (which has no devices controller). */
#pragma once

#include <glib.h>
#include <linux/bpf.h>

typedef struct
{
  char type;          /* 'c' or 'b' */
  int major, minor;   /* -1 = any ("*") */
  const char *access; /* of "rwm" */
} FerryDeviceRule;

/* LXC's default list, after every device is denied. */
extern const FerryDeviceRule ferry_device_allow[];
extern const gsize ferry_device_allow_len;

/* RULE as v1's devices.allow wants it ("c 136:* rwm"). */
char *ferry_device_rule_format(const FerryDeviceRule *rule);

/* The BPF_PROG_TYPE_CGROUP_DEVICE program allowing exactly RULES and
 * denying the rest; *N_INSNS gets its length. */
struct bpf_insn *ferry_device_program_build(const FerryDeviceRule *rules, gsize n_rules, gsize *n_insns);

/* Loads the program of ferry_device_allow and attaches it to the cgroup
 * directory DIR with BPF_F_ALLOW_MULTI (a program a child cgroup adds can
 * only deny more). The kernel keeps it there until DIR is removed. */
gboolean ferry_device_policy_attach(const char *dir, GError **error);
