/* Runtime pieces that need no container: limits.cpu resolution, cgroup path
 * checks, the device allow list, and the cgroup v2 manager driven on a real
 * cgroup2 mount. */
#include "common/error.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup-devices.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

static void
test_resolve_cpus (void)
{
  struct
  {
    const char *spec, *available, *want;
  } good[] = {
    { "1", "0-3", "0" },
    { "2", "0-3", "0,1" },
    { "2", "1,3-5", "1,3" },
    { "0-1,3", "0-1", "0-1,3" }, /* a set is taken as given; the kernel checks it */
    { "1-1", "0-3", "1-1" },
  };
  const char *bad[][2] = { { "5", "0-1" }, { "0", "0-1" }, { "a", "0-1" }, { "1-", "0-1" }, { "3-1", "0-3" } };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *got = ferry_cgroup_resolve_cpus (good[i].spec, good[i].available, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (got, ==, good[i].want);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *got = ferry_cgroup_resolve_cpus (bad[i][0], bad[i][1], &error);
      g_assert_null (got);
      g_assert_nonnull (error);
    }
}

static void
test_relpath (void)
{
  g_assert_true (ferry_cgroup_relpath_valid ("ferry/c1"));
  g_assert_true (ferry_cgroup_relpath_valid ("c1"));
  g_assert_false (ferry_cgroup_relpath_valid (NULL));
  g_assert_false (ferry_cgroup_relpath_valid (""));
  g_assert_false (ferry_cgroup_relpath_valid ("/ferry/c1"));
  g_assert_false (ferry_cgroup_relpath_valid ("ferry/../c1"));
  g_assert_false (ferry_cgroup_relpath_valid ("ferry//c1"));
  g_assert_false (ferry_cgroup_relpath_valid ("ferry/c1/"));
}

/* The v2 manager on the hybrid layout's controller-less cgroup2 (or on the
 * real one on a pure v2 host): create, attach, freeze, stats, destroy. */
static void
test_v2_manager (void)
{
  struct statfs sfs;
  const char *root = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("needs root");
      return;
    }
  if (statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    root = "/sys/fs/cgroup";
  else if (statfs ("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    root = "/sys/fs/cgroup/unified";
  if (root == NULL)
    {
      g_test_skip ("no cgroup2 mount");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *parent = g_strdup_printf ("ferry-test-v2-%d", (int) getpid ());
  g_autofree char *relpath = g_strdup_printf ("%s/c1", parent);
  g_autofree char *dir = g_build_filename (root, relpath, NULL);
  g_autofree char *parent_dir = g_build_filename (root, parent, NULL);
  FerryCgroupManager *m = ferry_cgroup_manager_new_v2 (root);
  FerryCgroupLimits none = { 0 };
  FerryCgroupStats stats;

  /* ferryd's umask (0077) must not hide a container's limits from its own
   * non-root processes. */
  mode_t old_umask = umask (0077);
  g_assert_true (m->ops->create (m, relpath, &none, &error));
  umask (old_umask);
  g_assert_no_error (error);
  g_assert_true (m->ops->exists (m, relpath));
  struct stat st;
  g_assert_cmpint (stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0755);
  g_assert_cmpint (stat (parent_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0755);
  g_assert_false (m->ops->create (m, relpath, &none, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
  g_clear_error (&error);

  pid_t child = fork ();
  if (child == 0)
    {
      for (;;)
        pause ();
    }
  g_assert_true (m->ops->attach (m, relpath, child, &error));
  g_assert_no_error (error);
  g_assert_true (m->ops->read_stats (m, relpath, &stats, &error));
  g_assert_cmpint (stats.processes, ==, 1);
  g_assert_false (stats.frozen);

  g_assert_true (m->ops->set_frozen (m, relpath, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (m->ops->read_stats (m, relpath, &stats, NULL));
  g_assert_true (stats.frozen);
  g_assert_true (m->ops->set_frozen (m, relpath, FALSE, &error));
  g_assert_true (m->ops->read_stats (m, relpath, &stats, NULL));
  g_assert_false (stats.frozen);

  /* Destroy kills what is inside, even frozen. */
  g_assert_true (m->ops->set_frozen (m, relpath, TRUE, &error));
  g_assert_true (m->ops->destroy (m, relpath, &error));
  g_assert_no_error (error);
  int status;
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_true (m->ops->destroy (m, relpath, &error)); /* missing is fine */
  g_assert_cmpint (rmdir (parent_dir), ==, 0);
  ferry_cgroup_manager_free (m);
}

/* v1 gets the list as LXC writes it. */
static void
test_device_rules_v1 (void)
{
  const char *want[] = { "c *:* m",   "b *:* m",   "c 1:3 rwm",   "c 1:5 rwm",    "c 1:7 rwm",
                         "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",   "c 5:1 rwm",    "c 5:2 rwm",
                         "c 136:* rwm", "c 10:229 rwm", "c 10:200 rwm" };

  g_assert_cmpuint (ferry_device_allow_len, ==, G_N_ELEMENTS (want));
  for (gsize i = 0; i < G_N_ELEMENTS (want); i++)
    {
      g_autofree char *rule = ferry_device_rule_format (&ferry_device_allow[i]);
      g_assert_cmpstr (rule, ==, want[i]);
    }
}

/* Every rule jumps to the next one or allows; the program ends denying. */
static void
test_device_program_shape (void)
{
  gsize n = 0;
  g_autofree struct bpf_insn *insns = ferry_device_program_build (ferry_device_allow, ferry_device_allow_len, &n);

  g_assert_cmpuint (n, >, 6 + 2);
  g_assert_cmpint (insns[n - 2].code, ==, BPF_ALU64 | BPF_MOV | BPF_K);
  g_assert_cmpint (insns[n - 2].imm, ==, 0);
  g_assert_cmpint (insns[n - 1].code, ==, BPF_JMP | BPF_EXIT);
  for (gsize i = 0; i < n; i++)
    if (BPF_CLASS (insns[i].code) == BPF_JMP && BPF_OP (insns[i].code) == BPF_JNE)
      {
        gsize target = i + 1 + (gsize) insns[i].off;
        g_assert_cmpint (insns[i].off, >, 0);
        g_assert_cmpuint (target, <, n);
        /* The target starts a rule (a type test) or is the final deny. */
        g_assert_true (target == n - 2 || (insns[target].code == (BPF_JMP | BPF_JNE | BPF_K) && insns[target].dst_reg == BPF_REG_2));
      }
}

/* What a process in the container's cgroup may do with device nodes, as the
 * kernel enforces the attached program: a bitmask of the failed checks. */
static int
device_checks (const char *dir)
{
  g_autofree char *loop = g_build_filename (dir, "loop0", NULL);
  g_autofree char *mem = g_build_filename (dir, "mem", NULL);
  g_autofree char *null = g_build_filename (dir, "null", NULL);
  int failed = 0, fd;

  /* mknod is allowed for any node: opening is what the list restricts. */
  if (mknod (loop, S_IFBLK | 0600, makedev (7, 0)) < 0)
    failed |= 1 << 0;
  if ((fd = open (loop, O_RDONLY)) >= 0 || errno != EPERM)
    failed |= 1 << 1;
  if (mknod (mem, S_IFCHR | 0600, makedev (1, 1)) < 0)
    failed |= 1 << 2;
  if ((fd = open (mem, O_RDONLY)) >= 0 || errno != EPERM)
    failed |= 1 << 3;
  if (mknod (null, S_IFCHR | 0666, makedev (1, 3)) < 0)
    failed |= 1 << 4;
  if ((fd = open (null, O_RDWR)) < 0)
    failed |= 1 << 5;
  else
    close (fd);
  for (const char *const *p = (const char *const[]) { "/dev/null", "/dev/zero", "/dev/urandom", NULL }; *p; p++)
    if ((fd = open (*p, O_RDONLY)) < 0)
      failed |= 1 << 6;
    else
      close (fd);
  return failed;
}

/* The v2 manager attaches the device program to the container's cgroup:
 * a process in its "ns" child (where a container runs) is held to it. */
static void
test_v2_device_policy (void)
{
  struct statfs sfs;
  const char *root = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("needs root");
      return;
    }
  if (statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    root = "/sys/fs/cgroup";
  else if (statfs ("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    root = "/sys/fs/cgroup/unified";
  if (root == NULL)
    {
      g_test_skip ("no cgroup2 mount");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *relpath = g_strdup_printf ("ferry-test-dev-%d", (int) getpid ());
  g_autofree char *tmp = g_dir_make_tmp ("ferry-test-dev-XXXXXX", NULL);
  FerryCgroupManager *m = ferry_cgroup_manager_new_v2 (root);
  FerryCgroupLimits none = { 0 };
  int go[2];

  g_assert_nonnull (tmp);
  g_assert_true (m->ops->create (m, relpath, &none, &error));
  g_assert_no_error (error);
  g_assert_cmpint (pipe (go), ==, 0);
  pid_t child = fork ();
  if (child == 0)
    {
      char c;
      close (go[1]);
      if (read (go[0], &c, 1) != 1)
        _exit (255);
      _exit (device_checks (tmp));
    }
  close (go[0]);
  g_assert_true (m->ops->attach (m, relpath, child, &error));
  g_assert_no_error (error);
  g_assert_cmpint (write (go[1], "g", 1), ==, 1);
  close (go[1]);
  int status;
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_assert_true (m->ops->destroy (m, relpath, &error));
  g_assert_no_error (error);
  for (const char *const *f = (const char *const[]) { "loop0", "mem", "null", NULL }; *f; f++)
    {
      g_autofree char *path = g_build_filename (tmp, *f, NULL);
      unlink (path);
    }
  g_assert_cmpint (rmdir (tmp), ==, 0);
  ferry_cgroup_manager_free (m);
}

/* The start-up check: a cgroup2 mount passes, a directory with no
 * hierarchy on it (what `ip netns exec` leaves of /sys/fs/cgroup) fails. */
static void
test_v2_check (void)
{
  struct statfs sfs;
  const char *root = NULL;
  g_autoptr (GError) error = NULL;

  if (statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    root = "/sys/fs/cgroup";
  else if (statfs ("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    root = "/sys/fs/cgroup/unified";
  if (root == NULL)
    {
      g_test_skip ("no cgroup2 mount");
      return;
    }
  FerryCgroupManager *m = ferry_cgroup_manager_new_v2 (root);
  g_assert_true (m->ops->check (m, &error));
  g_assert_no_error (error);
  ferry_cgroup_manager_free (m);

  g_autofree char *empty = g_dir_make_tmp ("ferry-test-cgroup-XXXXXX", NULL);
  m = ferry_cgroup_manager_new_v2 (empty);
  g_assert_false (m->ops->check (m, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, empty));
  ferry_cgroup_manager_free (m);
  g_assert_cmpint (rmdir (empty), ==, 0);
}

/* The layout ferryd runs on here passes (hybrid or v2). */
static void
test_host_check (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (ferry_cgroup_check_host (&error));
  g_assert_no_error (error);
}

/* The subtree record of a checkpoint, on plain directories standing for a
 * cgroup2 root: every directory below the container's, empty ones too, with
 * mode and owner, made again below another container's; lines that would
 * leave the container's subtree are refused. */
static void
test_subtree_record (void)
{
  g_autofree char *top = g_dir_make_tmp ("ferry-subtree-XXXXXX", NULL);
  FerryCgroupManager *m = ferry_cgroup_manager_new_v2 (top);
  g_autoptr (GError) error = NULL;
  struct stat st;

  for (const char *const *d = (const char *const[]) { "a/ns", "a/ns/system.slice", "a/ns/system.slice/x.service",
                                                      "a/ns/user.slice", "a/ns/user.slice/user@1000.service",
                                                      "b", NULL };
       *d; d++)
    {
      g_autofree char *path = g_build_filename (top, *d, NULL);
      g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
    }
  g_autofree char *delegated = g_build_filename (top, "a/ns/user.slice/user@1000.service", NULL);
  g_autofree char *procs = g_build_filename (delegated, "cgroup.procs", NULL);
  g_autofree char *limit = g_build_filename (delegated, "memory.max", NULL);
  g_assert_true (g_file_set_contents (procs, "", 0, NULL));
  g_assert_true (g_file_set_contents (limit, "", 0, NULL));
  g_assert_cmpint (chmod (delegated, 0700), ==, 0);
  if (getuid () == 0)
    {
      g_assert_cmpint (chown (delegated, 1000, 1000), ==, 0);
      g_assert_cmpint (chown (procs, 1000, 1000), ==, 0);
    }

  g_autofree char *list = ferry_cgroup_subtree_list (m, "a/ns");
  g_assert_nonnull (strstr (list, ".\t755\t0\t0\tsystem.slice\t\n"));
  g_assert_nonnull (strstr (list, "\tsystem.slice/x.service\t\n"));
  g_assert_nonnull (strstr (list, ".\t700\t"));
  g_assert_null (strstr (list, "ns\n"));
  /* The files not host root's, with their owners. */
  if (getuid () == 0)
    g_assert_nonnull (strstr (list, "\tuser.slice/user@1000.service\tcgroup.procs=1000:1000\n"));
  /* Parents come before their children. */
  g_assert_true (strstr (list, "\tuser.slice\t") < strstr (list, "\tuser.slice/user@1000.service\t"));

  /* One of them already there, host root's (as CRIU makes a cgroup that
   * holds tasks): it gets its dumped owners too. */
  g_autofree char *made = g_build_filename (top, "b/user.slice/user@1000.service", NULL);
  g_autofree char *made_procs = g_build_filename (made, "cgroup.procs", NULL);
  g_autofree char *made_limit = g_build_filename (made, "memory.max", NULL);
  g_assert_cmpint (g_mkdir_with_parents (made, 0700), ==, 0);
  g_assert_true (g_file_set_contents (made_procs, "", 0, NULL));
  g_assert_true (g_file_set_contents (made_limit, "", 0, NULL));
  g_assert_true (ferry_cgroup_subtree_make (m, "b", list, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (made, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  if (getuid () == 0)
    {
      g_assert_cmpint (st.st_uid, ==, 1000);
      g_assert_cmpint (stat (made_procs, &st), ==, 0);
      g_assert_cmpint (st.st_uid, ==, 1000);
      g_assert_cmpint (stat (made_limit, &st), ==, 0);
      g_assert_cmpint (st.st_uid, ==, 0); /* not delegated: stays host root's */
    }
  /* A record of an older Ferry (no file list): the delegation files. */
  g_assert_true (ferry_cgroup_subtree_make (m, "b", ".\t700\t1000\t1000\told\n", &error));
  g_assert_no_error (error);
  /* Again: what exists is left alone. */
  g_assert_true (ferry_cgroup_subtree_make (m, "b", list, &error));
  /* Another hierarchy's lines are skipped; a path out of the subtree is refused. */
  g_assert_true (ferry_cgroup_subtree_make (m, "b", "memory\t755\t0\t0\tz\n", &error));
  g_autofree char *skipped = g_build_filename (top, "b/z", NULL);
  g_assert_false (g_file_test (skipped, G_FILE_TEST_EXISTS));
  /* A file list naming a path out of the cgroup is ignored. */
  g_assert_true (ferry_cgroup_subtree_make (m, "b", ".\t755\t0\t0\tq\t../../x=1:1,/etc/passwd=1:1,..=1:1\n", &error));
  g_assert_no_error (error);
  for (const char *const *bad = (const char *const[]) { ".\t755\t0\t0\t../escape\n", ".\t755\t0\t0\t/abs\n",
                                                        ".\t999\t0\t0\tq\n", ".\t755\tx\t0\tq\n", "junk\n", NULL };
       *bad; bad++)
    {
      g_assert_false (ferry_cgroup_subtree_make (m, "b", *bad, &error));
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
      g_clear_error (&error);
    }
  g_autofree char *escaped = g_build_filename (top, "escape", NULL);
  g_assert_false (g_file_test (escaped, G_FILE_TEST_EXISTS));
  ferry_cgroup_manager_free (m);
  g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", top);
  g_assert_cmpint (system (rm), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runtime/cgroup/resolve-cpus", test_resolve_cpus);
  g_test_add_func ("/runtime/cgroup/relpath", test_relpath);
  g_test_add_func ("/runtime/cgroup/v2-manager", test_v2_manager);
  g_test_add_func ("/runtime/cgroup/v2-check", test_v2_check);
  g_test_add_func ("/runtime/cgroup/device-rules-v1", test_device_rules_v1);
  g_test_add_func ("/runtime/cgroup/device-program-shape", test_device_program_shape);
  g_test_add_func ("/runtime/cgroup/v2-device-policy", test_v2_device_policy);
  g_test_add_func ("/runtime/cgroup/host-check", test_host_check);
  g_test_add_func ("/runtime/cgroup/subtree-record", test_subtree_record);
  return g_test_run ();
}
