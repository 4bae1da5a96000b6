/* Real containers started with ferry-monitor (as root): namespaces, mounts,
 * console, cgroup limits, exec, freeze, stop, survival of the starter's
 * death, clean failures, and a CRIU dump when CRIU is installed. */
#include "common/fs.h"
#include "rootfs-helper.h"
#include "runtime/runtime.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

typedef struct
{
  char *tmp, *rootfs, *run_dir, *log_dir, *name;
  pid_t init_pid, monitor_pid;
} Ctr;

static char *cgroup_parent;

static const char *
monitor_bin (void)
{
  const char *m = g_getenv ("FERRY_MONITOR");
  g_assert_nonnull (m);
  return m;
}

static gboolean
is_cgroup2 (void)
{
  struct statfs sfs;
  return statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Runs ARGV; returns its exit code (128+N when killed by signal N). */
static int
run_argv (const char *const *argv, char **out, char **err)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *o = NULL, *e = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, &error));
  g_assert_no_error (error);
  if (e != NULL && *e != '\0')
    g_test_message ("stderr of %s %s: %s", argv[0], argv[1], e);
  if (out)
    *out = g_steal_pointer (&o);
  if (err)
    *err = g_steal_pointer (&e);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static Ctr *
ctr_new (const char *name)
{
  g_autoptr (GError) error = NULL;
  Ctr *c = g_new0 (Ctr, 1);

  c->tmp = g_dir_make_tmp ("ferry-rt-XXXXXX", &error);
  g_assert_no_error (error);
  c->rootfs = g_build_filename (c->tmp, "rootfs", NULL);
  c->run_dir = g_build_filename (c->tmp, "run", NULL);
  c->log_dir = g_build_filename (c->tmp, "log", NULL);
  c->name = g_strdup (name);
  g_assert_true (test_make_busybox_rootfs (c->rootfs, &error));
  g_assert_no_error (error);
  return c;
}

/* argv for `start` with this container's paths plus EXTRA (NULL-terminated). */
static GPtrArray *
start_argv (Ctr *c, const char *const *extra)
{
  GPtrArray *a = g_ptr_array_new ();
  const char *base[] = { monitor_bin (), "start", "--name", c->name, "--rootfs", c->rootfs, "--run-dir", c->run_dir,
                         "--log-dir", c->log_dir, "--cgroup-parent", cgroup_parent };

  for (gsize i = 0; i < G_N_ELEMENTS (base); i++)
    g_ptr_array_add (a, (char *) base[i]);
  for (const char *const *e = extra; e && *e; e++)
    g_ptr_array_add (a, (char *) *e);
  g_ptr_array_add (a, NULL);
  return a;
}

static void
ctr_start (Ctr *c, const char *const *extra)
{
  g_autoptr (GPtrArray) argv = start_argv (c, extra);
  g_autofree char *out = NULL, *err = NULL;
  int init_pid = 0, monitor_pid = 0;

  g_assert_cmpint (run_argv ((const char *const *) argv->pdata, &out, &err), ==, 0);
  g_assert_cmpint (sscanf (out, "%d %d", &init_pid, &monitor_pid), ==, 2);
  g_assert_true (g_str_has_suffix (out, "\n") && strchr (out, '\n') == out + strlen (out) - 1);
  c->init_pid = init_pid;
  c->monitor_pid = monitor_pid;
}

static int
ctr_exec (Ctr *c, char **out, ...)
{
  g_autoptr (GPtrArray) a = g_ptr_array_new ();
  va_list ap;

  g_ptr_array_add (a, (char *) monitor_bin ());
  g_ptr_array_add (a, "exec");
  g_ptr_array_add (a, "--run-dir");
  g_ptr_array_add (a, c->run_dir);
  va_start (ap, out);
  for (const char *s; (s = va_arg (ap, const char *)) != NULL;)
    g_ptr_array_add (a, (char *) s);
  va_end (ap);
  g_ptr_array_add (a, NULL);
  return run_argv ((const char *const *) a->pdata, out, NULL);
}

static int
ctr_stop (Ctr *c, gboolean force)
{
  const char *argv[] = { monitor_bin (), "stop", "--run-dir", c->run_dir, "--timeout", "20",
                         force ? "--force" : NULL, NULL };
  return run_argv (argv, NULL, NULL);
}

static char *
cgroup_file (Ctr *c, const char *controller, const char *file)
{
  if (is_cgroup2 ())
    return g_build_filename ("/sys/fs/cgroup", cgroup_parent, c->name, file, NULL);
  return g_build_filename ("/sys/fs/cgroup", controller, cgroup_parent, c->name, file, NULL);
}

static gboolean
cgroup_exists (Ctr *c)
{
  g_autofree char *dir = cgroup_file (c, "pids", "");
  return g_file_test (dir, G_FILE_TEST_EXISTS);
}

static void
ctr_free (Ctr *c)
{
  ctr_stop (c, TRUE);
  g_assert_true (ferry_rm_rf (c->tmp, NULL));
  g_free (c->tmp);
  g_free (c->rootfs);
  g_free (c->run_dir);
  g_free (c->log_dir);
  g_free (c->name);
  g_free (c);
}

static char *
wait_console (Ctr *c, const char *want)
{
  g_autofree char *path = g_build_filename (c->log_dir, "console.log", NULL);

  for (int i = 0; i < 500; i++)
    {
      char *log = ferry_read_small_file (path);
      if (log != NULL && strstr (log, want) != NULL)
        return log;
      g_free (log);
      g_usleep (10000);
    }
  return NULL;
}

static gboolean
skip_unless_root (void)
{
  if (getuid () != 0)
    {
      g_test_skip ("needs root");
      return TRUE;
    }
  return FALSE;
}

static void
test_start_and_exec (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-basic");
  const char *extra[] = { "--env", "FERRY_TEST=yes", NULL };
  FerryRuntimeState st;
  g_autoptr (GError) error = NULL;
  char *out = NULL;

  ctr_start (c, extra);
  g_assert_cmpint (getsid (c->monitor_pid), ==, c->monitor_pid); /* detached */

  /* The init is PID 1 of its own namespace, running /sbin/init. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "readlink", "/proc/1/exe", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "/bin/busybox");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/1/cmdline", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "init"); /* busybox init rewrites its argv[0] "/sbin/init" */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "hostname", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "rt-basic");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c", "ps -o pid,comm | grep -c .", NULL), ==, 0);
  g_assert_cmpint (atoi (out), >=, 3);
  g_clear_pointer (&out, g_free);

  /* Mounts: proc:mixed, read-only sysfs, tmpfs /dev, devpts, console. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/self/mountinfo", NULL), ==, 0);
  g_assert_nonnull (strstr (out, " /proc rw,nosuid,nodev,noexec"));
  g_assert_nonnull (strstr (out, " /proc/sys ro,"));
  g_assert_nonnull (strstr (out, " /proc/sys/net rw,"));
  g_assert_nonnull (strstr (out, " /sys ro,"));
  g_assert_nonnull (strstr (out, " /dev rw,nosuid"));
  g_assert_nonnull (strstr (out, "- tmpfs tmpfs rw,size=65536k,mode=755"));
  g_assert_nonnull (strstr (out, " /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666"));
  g_assert_nonnull (strstr (out, " /dev/console "));
  g_assert_nonnull (strstr (out, " /dev/shm "));
  g_assert_nonnull (strstr (out, " /dev/mqueue "));
  g_assert_nonnull (strstr (out, " /proc/keys "));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/keys", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "ls", "/dev", NULL), ==, 0);
  for (const char *const *n = (const char *const[]) { "null", "zero", "full", "random", "urandom", "tty", "console",
                                                      "ptmx", "fd", "stdin", "pts", "shm", NULL };
       *n; n++)
    g_assert_nonnull (strstr (out, *n));
  g_clear_pointer (&out, g_free);
  /* Only lo, up; own cgroup namespace. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "ls", "/sys/class/net", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "lo");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/sys/class/net/lo/flags", NULL), ==, 0);
  g_assert_true (strtol (out, NULL, 16) & 1);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/self/cgroup", NULL), ==, 0);
  g_assert_true (g_str_has_suffix (g_strstrip (out), ":/"));
  g_clear_pointer (&out, g_free);
  /* Capabilities: sys_module (16), sys_rawio (17), sys_time (25) gone. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "grep", "CapBnd", "/proc/self/status", NULL), ==, 0);
  guint64 bnd = g_ascii_strtoull (strchr (out, ':') + 1, NULL, 16);
  g_assert_cmpuint (bnd & ((1ull << 16) | (1ull << 17) | (1ull << 25) | (1ull << 32) | (1ull << 33)), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "grep", "Seccomp:", "/proc/1/status", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "2"));
  g_clear_pointer (&out, g_free);

  /* The init's environment and stdio: nothing points outside the container. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c", "tr '\\0' '\\n' < /proc/1/environ", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "container=ferry\n"));
  g_assert_nonnull (strstr (out, "FERRY_TEST=yes\n"));
  g_clear_pointer (&out, g_free);
  {
    g_autofree char *fd_dir = g_strdup_printf ("/proc/%d/fd", (int) c->init_pid);
    GDir *d = g_dir_open (fd_dir, 0, NULL);
    int n = 0;
    g_assert_nonnull (d);
    for (const char *e; (e = g_dir_read_name (d)) != NULL; n++)
      {
        g_autofree char *p = g_build_filename (fd_dir, e, NULL);
        g_autofree char *target = g_file_read_link (p, NULL);
        g_assert_cmpstr (target, ==, "/dev/console");
      }
    g_dir_close (d);
    g_assert_cmpint (n, ==, 3);
  }

  /* exec: exit codes, environment, users. */
  g_assert_cmpint (ctr_exec (c, NULL, "--", "sh", "-c", "exit 7", NULL), ==, 7);
  g_assert_cmpint (ctr_exec (c, NULL, "--", "no-such-command", NULL), ==, 127);
  g_assert_cmpint (ctr_exec (c, NULL, "--", "/etc/passwd", NULL), ==, 126);
  g_assert_cmpint (ctr_exec (c, NULL, "--", "sh", "-c", "kill -TERM $$", NULL), ==, 128 + SIGTERM);
  g_assert_cmpint (ctr_exec (c, &out, "--env", "LANG=fr", "--", "sh", "-c", "echo $container $HOME $USER $LANG $PWD",
                             NULL),
                   ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "ferry /root root fr /root");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--uid", "65534", "--gid", "65534", "--cwd", "/tmp", "--", "sh", "-c",
                             "echo $(id -u) $(id -g) $USER $PWD", NULL),
                   ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "65534 65534 nobody /tmp");
  g_clear_pointer (&out, g_free);

  /* Signals sent to `exec` reach the command. */
  {
    const char *argv[] = { monitor_bin (), "exec", "--run-dir", c->run_dir, "--", "sleep", "100", NULL };
    GPid pid;
    int status;
    g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error));
    g_usleep (300000);
    kill (pid, SIGTERM);
    g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 128 + SIGTERM);
  }

  /* Console output reaches console.log. */
  g_autofree char *log = wait_console (c, "ferry-boot-ok");
  g_assert_nonnull (log);

  /* The library's view. */
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, &error));
  g_assert_no_error (error);
  g_assert_true (st.running);
  g_assert_false (st.frozen);
  g_assert_cmpint (st.init_pid, ==, c->init_pid);
  g_assert_cmpint (st.monitor_pid, ==, c->monitor_pid);
  g_assert_cmpint (st.processes, >=, 2);
  g_assert_cmpint (st.memory_usage, >, 0);
  g_assert_cmpint (st.cpu_usage_ns, >, 0);
  g_autofree char *relpath = ferry_runtime_read_cgroup (c->run_dir);
  g_autofree char *want_relpath = g_strdup_printf ("%s/rt-basic", cgroup_parent);
  g_assert_cmpstr (relpath, ==, want_relpath);
  g_assert_null (ferry_runtime_read_exit_status (c->run_dir));

  /* Starting twice is refused without harm. */
  {
    g_autoptr (GPtrArray) argv = start_argv (c, NULL);
    g_autofree char *err = NULL;
    g_assert_cmpint (run_argv ((const char *const *) argv->pdata, NULL, &err), ==, 1);
    g_assert_nonnull (strstr (err, "already running"));
    g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL) && st.running);
  }
  ctr_free (c);
}

static void
test_limits (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-limits");
  const char *extra[] = { "--limit-memory", "134217728", "--limit-cpu", "1", "--limit-processes", "50",
                          "--hostname", "other-name", NULL };
  char *out = NULL;

  ctr_start (c, extra);
  g_autofree char *mem = cgroup_file (c, "memory", is_cgroup2 () ? "memory.max" : "memory.limit_in_bytes");
  g_autofree char *pids = cgroup_file (c, "pids", "pids.max");
  g_autofree char *cpus = cgroup_file (c, "cpuset", "cpuset.cpus");
  g_autofree char *mem_v = ferry_read_small_file (mem);
  g_autofree char *pids_v = ferry_read_small_file (pids);
  g_autofree char *cpus_v = ferry_read_small_file (cpus);
  g_assert_cmpstr (mem_v, ==, "134217728");
  g_assert_cmpstr (pids_v, ==, "50");
  g_assert_cmpstr (cpus_v, ==, "0");
  if (!is_cgroup2 ())
    {
      g_autofree char *devices = cgroup_file (c, "devices", "devices.list");
      g_autofree char *list = ferry_read_small_file (devices);
      g_assert_nonnull (strstr (list, "c 1:3 rwm"));
      g_assert_nonnull (strstr (list, "c 136:* rwm"));
      g_assert_null (strstr (list, "a *:* rwm"));
    }
  g_assert_cmpint (ctr_exec (c, &out, "--", "grep", "Cpus_allowed_list", "/proc/self/status", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "\t0\n"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "hostname", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "other-name");
  g_clear_pointer (&out, g_free);
  ctr_free (c);

  /* A CPU count larger than the machine fails cleanly. */
  c = ctr_new ("rt-limits2");
  {
    const char *bad[] = { "--limit-cpu", "4096", NULL };
    g_autoptr (GPtrArray) argv = start_argv (c, bad);
    g_autofree char *err = NULL;
    g_assert_cmpint (run_argv ((const char *const *) argv->pdata, NULL, &err), ==, 1);
    g_assert_nonnull (strstr (err, "limits.cpu"));
    g_assert_false (cgroup_exists (c));
  }
  ctr_free (c);
}

static void
test_freeze (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-freeze");
  g_autoptr (GError) error = NULL;
  FerryRuntimeState st;

  ctr_start (c, NULL);
  g_assert_true (ferry_runtime_freeze (c->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_true (st.running && st.frozen);
  const char *unfreeze[] = { monitor_bin (), "unfreeze", "--run-dir", c->run_dir, NULL };
  g_assert_cmpint (run_argv (unfreeze, NULL, NULL), ==, 0);
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_false (st.frozen);
  const char *freeze[] = { monitor_bin (), "freeze", "--run-dir", c->run_dir, NULL };
  g_assert_cmpint (run_argv (freeze, NULL, NULL), ==, 0);
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL) && st.frozen);
  g_assert_true (ferry_runtime_unfreeze (c->run_dir, &error));
  g_assert_cmpint (ctr_exec (c, NULL, "--", "true", NULL), ==, 0);
  /* A frozen container still stops. */
  g_assert_true (ferry_runtime_freeze (c->run_dir, &error));
  g_assert_cmpint (ctr_stop (c, TRUE), ==, 0);
  g_assert_false (cgroup_exists (c));
  g_assert_false (ferry_runtime_freeze (c->run_dir, &error));
  ctr_free (c);
}

static gboolean
pidfd_readable (int fd, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll (&p, 1, timeout_ms) == 1;
}

/* Gone or a zombie (the monitor is reparented to PID 1, which may reap late). */
static gboolean
process_gone (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = ferry_read_small_file (path);
  const char *p = stat ? strrchr (stat, ')') : NULL;

  return p == NULL || p[2] == 'Z';
}

static void
check_stopped (Ctr *c, const char *want_status)
{
  FerryRuntimeState st;
  g_autofree char *status = ferry_runtime_read_exit_status (c->run_dir);
  g_autofree char *mpid = g_build_filename (c->run_dir, FERRY_RUNTIME_MONITOR_PID, NULL);
  g_autofree char *ipid = g_build_filename (c->run_dir, FERRY_RUNTIME_INIT_PID, NULL);

  g_assert_cmpstr (status, ==, want_status);
  g_assert_false (cgroup_exists (c));
  g_assert_false (g_file_test (mpid, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (ipid, G_FILE_TEST_EXISTS));
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_false (st.running);
  g_assert_cmpint (st.init_pid, ==, 0);
  g_assert_true (process_gone (c->monitor_pid));
  g_assert_cmpint (ferry_runtime_open_pidfd (c->run_dir), ==, -1);
}

static void
test_stop_graceful (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-stop");

  ctr_start (c, NULL);
  g_free (wait_console (c, "ferry-boot-ok")); /* busybox init handles signals once it runs its actions */
  int pidfd = ferry_runtime_open_pidfd (c->run_dir);
  g_assert_cmpint (pidfd, >=, 0);
  g_assert_false (pidfd_readable (pidfd, 0));
  g_assert_cmpint (ctr_stop (c, FALSE), ==, 0);
  g_assert_true (pidfd_readable (pidfd, 0));
  close (pidfd);
  /* busybox's halt ends in reboot(HALT), which ends a PID namespace with SIGINT. */
  check_stopped (c, "signaled 2");
  g_autofree char *log = wait_console (c, "ferry-shutdown");
  g_assert_nonnull (log);
  g_assert_cmpint (ctr_stop (c, FALSE), ==, 0); /* already stopped */

  /* Restart in the same directories. */
  ctr_start (c, NULL);
  g_assert_null (ferry_runtime_read_exit_status (c->run_dir));
  g_assert_cmpint (ctr_stop (c, TRUE), ==, 0);
  check_stopped (c, "signaled 9");
  ctr_free (c);
}

static void
test_stop_timeout (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-timeout");
  /* An init that ignores the halt signal: stop must fall back to SIGKILL. */
  const char *extra[] = { "--init", "/bin/sleep", NULL };

  /* /bin/sleep without arguments exits at once: use a tiny script instead. */
  g_autofree char *script = g_build_filename (c->rootfs, "sbin", "stubborn", NULL);
  g_assert_true (g_file_set_contents (script, "#!/bin/sh\ntrap '' PWR USR1 USR2 TERM\nwhile :; do sleep 1; done\n",
                                      -1, NULL));
  chmod (script, 0755);
  extra[1] = "/sbin/stubborn";
  ctr_start (c, extra);
  const char *argv[] = { monitor_bin (), "stop", "--run-dir", c->run_dir, "--timeout", "1", NULL };
  gint64 t0 = g_get_monotonic_time ();
  g_assert_cmpint (run_argv (argv, NULL, NULL), ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 900000);
  check_stopped (c, "signaled 9");
  ctr_free (c);
}

static void
test_survives_starter_death (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-orphan");
  g_autofree char *out_path = g_build_filename (c->tmp, "start.out", NULL);
  g_autofree char *cmd = g_strdup_printf ("'%s' start --name %s --rootfs '%s' --run-dir '%s' --log-dir '%s' "
                                          "--cgroup-parent %s > '%s' && kill -KILL $$",
                                          monitor_bin (), c->name, c->rootfs, c->run_dir, c->log_dir, cgroup_parent,
                                          out_path);
  const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
  FerryRuntimeState st;

  g_assert_cmpint (run_argv (argv, NULL, NULL), ==, 128 + SIGKILL);
  g_autofree char *out = ferry_read_small_file (out_path);
  int init_pid = 0, monitor_pid = 0;
  g_assert_cmpint (sscanf (out, "%d %d", &init_pid, &monitor_pid), ==, 2);
  c->init_pid = init_pid;
  c->monitor_pid = monitor_pid;
  g_usleep (100000);
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_true (st.running);
  g_assert_cmpint (st.monitor_pid, ==, monitor_pid);
  g_assert_cmpint (ctr_exec (c, NULL, "--", "sh", "-c", "exit 3", NULL), ==, 3);
  { g_autofree char *boot = wait_console (c, "ferry-boot-ok"); g_assert_nonnull (boot); }
  g_assert_cmpint (ctr_stop (c, TRUE), ==, 0);
  check_stopped (c, "signaled 9");
  ctr_free (c);
}

static int
count_mounts (void)
{
  g_autofree char *mi = NULL;
  int n = 0;

  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &mi, NULL, NULL));
  for (const char *p = mi; *p; p++)
    n += *p == '\n';
  return n;
}

static void
test_start_failures (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-fail");
  int mounts = count_mounts ();
  const char *cases[][3] = {
    { "--init", "/no/such/init", "executing the init" },
    { "--limit-memory", "-5", "negative" },
    { "--cgroup-parent", "../escape", "cgroup-parent" },
    { "--name", "bad_name!", "name" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *extra[] = { cases[i][0], cases[i][1], NULL };
      g_autoptr (GPtrArray) argv = start_argv (c, extra);
      g_autofree char *out = NULL, *err = NULL;
      g_assert_cmpint (run_argv ((const char *const *) argv->pdata, &out, &err), ==, 1);
      g_assert_cmpstr (out, ==, "");
      g_assert_nonnull (strstr (err, cases[i][2]));
      g_assert_true (g_str_has_prefix (err, "ferry-monitor: "));
      g_assert_false (cgroup_exists (c));
      g_autofree char *mpid = g_build_filename (c->run_dir, FERRY_RUNTIME_MONITOR_PID, NULL);
      g_assert_false (g_file_test (mpid, G_FILE_TEST_EXISTS));
      g_assert_cmpint (count_mounts (), ==, mounts);
    }
  /* A missing rootfs. */
  g_assert_true (ferry_rm_rf (c->rootfs, NULL));
  {
    g_autoptr (GPtrArray) argv = start_argv (c, NULL);
    g_autofree char *err = NULL;
    g_assert_cmpint (run_argv ((const char *const *) argv->pdata, NULL, &err), ==, 1);
    g_assert_nonnull (strstr (err, "rootfs"));
    g_assert_false (cgroup_exists (c));
  }
  ctr_free (c);
}

/* CRIU must be able to checkpoint what the runtime builds (the reason Ferry
 * exists). The console is a pty of the container's devpts whose master the
 * monitor holds: the CLI needs it declared external (tty[rdev:dev]) and the
 * /dev/console bind mount too; libcriu can use orphan_pts_master instead. */
static void
test_criu_dump (void)
{
  const char *criu = "/opt/ferry/criu/bin/criu";

  if (skip_unless_root ())
    return;
  if (!g_file_test (criu, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no CRIU in /opt/ferry/criu");
      return;
    }
  Ctr *c = ctr_new ("rt-criu");
  struct stat console;

  ctr_start (c, NULL);
  { g_autofree char *boot = wait_console (c, "ferry-boot-ok"); g_assert_nonnull (boot); }
  g_autofree char *fd0 = g_strdup_printf ("/proc/%d/fd/0", (int) c->init_pid);
  g_assert_cmpint (stat (fd0, &console), ==, 0);
  g_autofree char *tty = g_strdup_printf ("tty[%llx:%llx]", (unsigned long long) console.st_rdev,
                                          (unsigned long long) console.st_dev);
  g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *pid = g_strdup_printf ("%d", (int) c->init_pid);
  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  const char *argv[] = { criu, "dump", "-t", pid, "-D", images, "--root", c->rootfs, "--leave-running",
                         "--external", tty, "--external", "mnt[/dev/console]:console", "-v4", "-o", "dump.log",
                         NULL };
  int rc = run_argv (argv, NULL, NULL);
  if (rc != 0)
    {
      g_autofree char *log_path = g_build_filename (images, "dump.log", NULL);
      g_autofree char *log = ferry_read_small_file (log_path);
      g_auto (GStrv) lines = g_strsplit (log ? log : "", "\n", -1);
      for (char **l = lines; *l; l++)
        if (strstr (*l, "Error") != NULL)
          g_printerr ("%s\n", *l);
    }
  g_assert_cmpint (rc, ==, 0);
  g_autofree char *core = g_build_filename (images, "core-1.img", NULL);
  g_assert_true (g_file_test (core, G_FILE_TEST_EXISTS));
  /* Left running and usable. */
  g_assert_cmpint (ctr_exec (c, NULL, "--", "true", NULL), ==, 0);
  ctr_free (c);
}

/* --idmap: root inside is uid 1000000 on the host, through the whole tree;
 * the rootfs (owned by on-disk root) is root's inside and stays on-disk
 * root's when the container writes; /dev's nodes are the host's. */
static void
test_unprivileged (void)
{
  if (skip_unless_root ())
    return;
  Ctr *c = ctr_new ("rt-userns");
  const char *extra[] = { "--idmap", "1000000:65536", NULL };
  char *out = NULL;
  struct stat st;

  ctr_start (c, extra);
  g_autofree char *status = g_strdup_printf ("/proc/%d/status", (int) c->init_pid);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (status, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\nUid:\t1000000\t1000000\t1000000\t1000000\n"));
  g_assert_nonnull (strstr (text, "\nGid:\t1000000\t1000000\t1000000\t1000000\n"));

  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "         0    1000000      65536\n         0    1000000      65536\n");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "id", "-u", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "0");
  g_clear_pointer (&out, g_free);
  /* The image's files are root's inside; what the container writes is on-disk root's. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c", "ls -ln /bin/busybox | awk '{print $3 \":\" $4}'", NULL), ==,
                   0);
  g_assert_cmpstr (g_strstrip (out), ==, "0:0");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, NULL, "--", "sh", "-c", "echo x > /written", NULL), ==, 0);
  g_autofree char *written = g_build_filename (c->rootfs, "written", NULL);
  g_assert_cmpint (stat (written, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 0);
  g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/self/mountinfo", NULL), ==, 0);
  g_assert_nonnull (strstr (out, " / rw,relatime,idmapped "));
  g_assert_nonnull (strstr (out, " /proc/sys ro,"));
  g_assert_nonnull (strstr (out, " /sys ro,"));
  g_assert_nonnull (strstr (out, " /dev/null "));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c", "echo hi > /dev/null && head -c 4 /dev/zero | wc -c", NULL),
                   ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "4");
  g_clear_pointer (&out, g_free);
  /* Root inside is nobody outside: no host device, no host sysctl. */
  g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c", "busybox mknod /sda b 8 0 2>&1; echo rc=$?", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "rc=1"));
  g_clear_pointer (&out, g_free);
  /* /proc/sys is its own mount, so it may make it writable; the kernel's
   * sysctls still belong to the host's root. */
  g_autofree char *panic = NULL, *panic_after = NULL;
  g_assert_true (g_file_get_contents ("/proc/sys/kernel/panic", &panic, NULL, NULL));
  g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c",
                             "mount -o remount,rw /proc/sys; echo 4242 > /proc/sys/kernel/panic 2>&1; echo rc=$?",
                             NULL),
                   ==, 0);
  g_assert_nonnull (strstr (out, "rc=1"));
  g_clear_pointer (&out, g_free);
  g_assert_true (g_file_get_contents ("/proc/sys/kernel/panic", &panic_after, NULL, NULL));
  g_assert_cmpstr (panic_after, ==, panic);
  /* A mount of its own works (the kernel decides in its user namespace). */
  g_assert_cmpint (ctr_exec (c, NULL, "--", "sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs t /mnt/t && umount /mnt/t",
                             NULL),
                   ==, 0);
  /* A stateful stop and start: CRIU makes the user namespace again from the
   * images, its root the rootfs idmapped the same way, /dev's nodes the host's. */
  if (g_file_test ("/opt/ferry/criu/bin/criu", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
      g_autofree char *dump_log = g_build_filename (c->tmp, "dump.log", NULL);
      g_autofree char *restore_log = g_build_filename (c->tmp, "restore.log", NULL);
      const char *dump[] = { monitor_bin (), "checkpoint", "--run-dir", c->run_dir, "--images", images,
                             "--log", dump_log, NULL };
      const char *restore_extra[] = { "--idmap", "1000000:65536", "--images", images, "--log", restore_log, NULL };
      g_autoptr (GPtrArray) restore = start_argv (c, restore_extra);
      g_autofree char *err = NULL;
      int init_pid = 0, monitor_pid = 0;

      g_ptr_array_index (restore, 1) = "restore";
      /* As ferryd's own directories: the container's root reaches its console
       * in the run directory by path at restore (LXD's 0711 for the same reason). */
      g_assert_cmpint (chmod (c->tmp, 0711), ==, 0);
      g_assert_cmpint (chmod (c->run_dir, 0711), ==, 0);
      g_assert_cmpint (ctr_exec (c, NULL, "--", "sh", "-c", "echo before > /state", NULL), ==, 0);
      g_assert_cmpint (g_mkdir_with_parents (images, 0700), ==, 0);
      g_assert_cmpint (run_argv (dump, NULL, &err), ==, 0);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (run_argv ((const char *const *) restore->pdata, &out, &err), ==, 0);
      g_assert_cmpint (sscanf (out, "%d %d", &init_pid, &monitor_pid), ==, 2);
      g_clear_pointer (&out, g_free);
      c->init_pid = init_pid;
      c->monitor_pid = monitor_pid;
      /* Nothing of the restore (idmapped rootfs, console) shows in our namespace. */
      g_autofree char *ours = NULL;
      g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &ours, NULL, NULL));
      g_assert_null (strstr (ours, c->tmp));
      g_autofree char *status2 = g_strdup_printf ("/proc/%d/status", init_pid);
      g_autofree char *text2 = NULL;
      g_assert_true (g_file_get_contents (status2, &text2, NULL, NULL));
      g_assert_nonnull (strstr (text2, "\nUid:\t1000000\t1000000\t1000000\t1000000\n"));
      g_assert_cmpint (ctr_exec (c, &out, "--", "sh", "-c",
                                 "cat /proc/self/uid_map /state; echo x > /dev/null && echo null-ok; "
                                 "echo after > /state2",
                                 NULL),
                       ==, 0);
      g_assert_cmpstr (out, ==, "         0    1000000      65536\nbefore\nnull-ok\n");
      g_clear_pointer (&out, g_free);
      g_autofree char *state2 = g_build_filename (c->rootfs, "state2", NULL);
      g_assert_cmpint (stat (state2, &st), ==, 0);
      g_assert_cmpuint (st.st_uid, ==, 0);
      g_assert_cmpint (ctr_exec (c, &out, "--", "cat", "/proc/self/mountinfo", NULL), ==, 0);
      g_assert_nonnull (strstr (out, " / rw,relatime,idmapped "));
      g_clear_pointer (&out, g_free);
    }
  g_assert_cmpint (ctr_stop (c, FALSE), ==, 0);
  ctr_free (c);
}

static void
remove_cgroup_parent (void)
{
  if (is_cgroup2 ())
    {
      g_autofree char *d = g_build_filename ("/sys/fs/cgroup", cgroup_parent, NULL);
      rmdir (d);
      return;
    }
  GDir *dir = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  if (dir == NULL)
    return;
  for (const char *e; (e = g_dir_read_name (dir)) != NULL;)
    {
      g_autofree char *d = g_build_filename ("/sys/fs/cgroup", e, cgroup_parent, NULL);
      rmdir (d);
    }
  g_dir_close (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  cgroup_parent = g_strdup_printf ("ferry-test-%d", (int) getpid ());
  g_test_add_func ("/runtime/start-and-exec", test_start_and_exec);
  g_test_add_func ("/runtime/limits", test_limits);
  g_test_add_func ("/runtime/freeze", test_freeze);
  g_test_add_func ("/runtime/stop-graceful", test_stop_graceful);
  g_test_add_func ("/runtime/stop-timeout", test_stop_timeout);
  g_test_add_func ("/runtime/survives-starter-death", test_survives_starter_death);
  g_test_add_func ("/runtime/start-failures", test_start_failures);
  g_test_add_func ("/runtime/criu-dump", test_criu_dump);
  g_test_add_func ("/runtime/unprivileged", test_unprivileged);
  int rc = g_test_run ();
  remove_cgroup_parent ();
  g_free (cgroup_parent);
  return rc;
}
