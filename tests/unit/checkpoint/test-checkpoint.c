/* Checkpoint/restore of real busybox containers through ferry-monitor, in
 * the spirit of CRIU's zdtm: cr-workload sets up state inside the container,
 * the test checkpoints and restores, the workload says whether its state
 * survived. Runs as root with the CRIU that ferry-monitor finds. */
#include "checkpoint/checkpoint.h"
#include "common/fs.h"
#include "rootfs-helper.h"
#include "runtime/cgroup.h"
#include "runtime/runtime.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
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

/* ARGS (NULL-terminated varargs) after "ferry-monitor". */
static int
monitor (char **out, char **err, ...)
{
  g_autoptr (GPtrArray) a = g_ptr_array_new ();
  va_list ap;

  g_ptr_array_add (a, (char *) monitor_bin ());
  va_start (ap, err);
  for (const char *s; (s = va_arg (ap, const char *)) != NULL;)
    g_ptr_array_add (a, (char *) s);
  va_end (ap);
  g_ptr_array_add (a, NULL);
  return run_argv ((const char *const *) a->pdata, out, err);
}

static void
write_text (const char *dir, const char *rel, const char *text, int mode)
{
  g_autofree char *path = g_build_filename (dir, rel, NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  chmod (path, mode);
}

/* A busybox rootfs with syslogd, crond, httpd and the workload started by
 * init with WORKLOAD_ARGS ("" for none). */
static Ctr *
ctr_new (const char *name, const char *workload_args)
{
  g_autoptr (GError) error = NULL;
  Ctr *c = g_new0 (Ctr, 1);
  static const char *const applets[] = { "syslogd", "crond", "httpd", "pidof", "logger", "touch", "rm", "wget", "sort", NULL };

  c->tmp = g_dir_make_tmp ("ferry-cr-XXXXXX", &error);
  g_assert_no_error (error);
  c->rootfs = g_build_filename (c->tmp, "rootfs", NULL);
  c->run_dir = g_build_filename (c->tmp, "run", NULL);
  c->log_dir = g_build_filename (c->tmp, "log", NULL);
  c->name = g_strdup (name);
  g_assert_true (test_make_busybox_rootfs (c->rootfs, &error));
  g_assert_no_error (error);
  for (const char *const *a = applets; *a; a++)
    {
      g_autofree char *link = g_build_filename (c->rootfs, "bin", *a, NULL);
      g_assert_cmpint (symlink ("/bin/busybox", link), ==, 0);
    }
  write_text (c->rootfs, "etc/crontabs/root", "* * * * * /bin/true\n", 0600);
  write_text (c->rootfs, "www/index.html", "ferry\n", 0644);
  g_autofree char *inittab = g_strdup_printf ("::sysinit:/bin/echo ferry-boot-ok\n"
                                              "::respawn:/bin/syslogd -n -O /tmp/messages\n"
                                              "::respawn:/bin/crond -f -c /etc/crontabs\n"
                                              "::respawn:/bin/httpd -f -p 8080 -h /www\n"
                                              "%s%s%s"
                                              "::respawn:/bin/sleep 1000\n",
                                              *workload_args ? "::once:/cr/cr-workload " : "", workload_args,
                                              *workload_args ? "\n" : "");
  write_text (c->rootfs, "etc/inittab", inittab, 0644);
  g_autofree char *cr = g_build_filename (c->rootfs, "cr", NULL);
  g_assert_cmpint (g_mkdir (cr, 0755), ==, 0);
  g_autofree char *dst = g_build_filename (cr, "cr-workload", NULL);
  g_autoptr (GFile) src_file = g_file_new_for_path (g_getenv ("CR_WORKLOAD"));
  g_autoptr (GFile) dst_file = g_file_new_for_path (dst);
  g_assert_true (g_file_copy (src_file, dst_file, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  chmod (dst, 0755);
  return c;
}

static GPtrArray *
start_argv (Ctr *c, const char *verb, const char *rootfs)
{
  GPtrArray *a = g_ptr_array_new ();
  const char *base[] = { monitor_bin (), verb, "--name", c->name, "--rootfs", rootfs ? rootfs : c->rootfs,
                         "--run-dir", c->run_dir, "--log-dir", c->log_dir, "--cgroup-parent", cgroup_parent,
                         "--limit-memory", "268435456", "--limit-processes", "100" };

  for (gsize i = 0; i < G_N_ELEMENTS (base); i++)
    g_ptr_array_add (a, (char *) base[i]);
  return a;
}

static void
parse_started (Ctr *c, const char *out)
{
  int init_pid = 0, monitor_pid = 0;

  g_assert_cmpint (sscanf (out, "%d %d", &init_pid, &monitor_pid), ==, 2);
  c->init_pid = init_pid;
  c->monitor_pid = monitor_pid;
}

static void
ctr_start (Ctr *c)
{
  g_autoptr (GPtrArray) argv = start_argv (c, "start", NULL);
  g_autofree char *out = NULL;

  g_ptr_array_add (argv, NULL);
  g_assert_cmpint (run_argv ((const char *const *) argv->pdata, &out, NULL), ==, 0);
  parse_started (c, out);
}

/* restore; returns the exit code, *err the stderr. */
static int
ctr_restore (Ctr *c, const char *rootfs, const char *images, const char *log, const char *stats, char **err)
{
  g_autoptr (GPtrArray) argv = start_argv (c, "restore", rootfs);
  g_autofree char *out = NULL;

  g_ptr_array_add (argv, "--images");
  g_ptr_array_add (argv, (char *) images);
  g_ptr_array_add (argv, "--log");
  g_ptr_array_add (argv, (char *) log);
  if (stats)
    {
      g_ptr_array_add (argv, "--stats");
      g_ptr_array_add (argv, (char *) stats);
    }
  g_ptr_array_add (argv, NULL);
  int rc = run_argv ((const char *const *) argv->pdata, &out, err);
  if (rc == 0)
    parse_started (c, out);
  else
    g_assert_cmpstr (out, ==, "");
  return rc;
}

static char *
wait_file (const char *dir, const char *rel, const char *want, int timeout_ms)
{
  g_autofree char *path = g_build_filename (dir, rel, NULL);

  for (int i = 0; i < timeout_ms / 10; i++)
    {
      char *text = ferry_read_small_file (path);
      if (text != NULL && (want == NULL || strstr (text, want) != NULL))
        return text;
      g_free (text);
      g_usleep (10000);
    }
  return NULL;
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

static gboolean
is_running (Ctr *c)
{
  FerryRuntimeState st;
  return ferry_runtime_read_state (c->run_dir, &st, NULL) && st.running && !st.frozen;
}

static void
ctr_free (Ctr *c)
{
  monitor (NULL, NULL, "stop", "--run-dir", c->run_dir, "--force", NULL);
  g_assert_true (ferry_rm_rf (c->tmp, NULL));
  g_free (c->tmp);
  g_free (c->rootfs);
  g_free (c->run_dir);
  g_free (c->log_dir);
  g_free (c->name);
  g_free (c);
}

static char *
exec_out (Ctr *c, const char *cmd)
{
  char *out = NULL;
  g_assert_cmpint (monitor (&out, NULL, "exec", "--run-dir", c->run_dir, "--", "sh", "-c", cmd, NULL), ==, 0);
  return out;
}

/* "PID COMMAND" lines of the container's processes: the ps itself, and
 * zombies of earlier exec probes not yet reaped ("[true]"), left out: they
 * are not the container's state. */
static char *
process_list (Ctr *c)
{
  return exec_out (c, "ps -o pid,args | grep -v -e 'ps -o' -e grep -e 'sh -c' -e ' \\[' | sort");
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Names, sizes and modification times of DIR's files. */
static char *
dir_fingerprint (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_assert_nonnull (d);
  for (const char *e; (e = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *p = g_build_filename (dir, e, NULL);
      struct stat st;
      g_assert_cmpint (stat (p, &st), ==, 0);
      g_ptr_array_add (lines, g_strdup_printf ("%s %lld %lld.%09ld", e, (long long) st.st_size,
                                               (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec));
    }
  g_dir_close (d);
  g_ptr_array_sort (lines, compare_strings);
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
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

static pid_t
getppid_of (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = ferry_read_small_file (path);
  const char *p = stat ? strrchr (stat, ')') : NULL;
  int ppid = 0;

  g_assert_nonnull (p);
  g_assert_cmpint (sscanf (p + 2, "%*c %d", &ppid), ==, 1);
  return ppid;
}

static gboolean
skip_unless_ready (void)
{
  if (getuid () != 0)
    {
      g_test_skip ("needs root");
      return TRUE;
    }
  if (monitor (NULL, NULL, "check-criu", NULL) != 0)
    {
      g_test_skip ("no usable CRIU (ferry-monitor check-criu)");
      return TRUE;
    }
  return FALSE;
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

/* A stats-dump image written by CRIU 4.2.1 here. */
static void
test_stats_parse (void)
{
  static const guint8 image[] = {
    0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57, 0x23, 0x00, 0x00, 0x00, 0x0a, 0x21, 0x08, 0xd8,
    0x09, 0x10, 0x8f, 0xd0, 0x0e, 0x18, 0xb2, 0x11, 0x20, 0xe4, 0x01, 0x28, 0x2f, 0x30, 0x00, 0x38,
    0x21, 0x40, 0x00, 0x48, 0x00, 0x50, 0x08, 0x58, 0x08, 0x60, 0x00, 0x68, 0x00, 0x70, 0x00,
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *json = ferry_criu_stats_parse (image, sizeof image, TRUE, 42, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (json, ==,
                   "{\"freezing_time\":1240,\"frozen_time\":239631,\"memdump_time\":2226,\"memwrite_time\":228,"
                   "\"pages_scanned\":47,\"pages_skipped_parent\":0,\"pages_written\":33,\"irmap_resolve\":0,"
                   "\"pages_lazy\":0,\"page_pipes\":8,\"page_pipe_bufs\":8,\"shpages_scanned\":0,"
                   "\"shpages_skipped_parent\":0,\"shpages_written\":0,\"total_time\":42}");
  /* No restore entry in a dump image; truncation is refused. */
  g_autofree char *none = ferry_criu_stats_parse (image, sizeof image, FALSE, 0, NULL);
  g_assert_null (none);
  for (gsize len = 0; len < sizeof image; len++)
    {
      g_autofree char *cut = ferry_criu_stats_parse (image, len, TRUE, 0, NULL);
      g_assert_null (cut);
    }
}

static void
test_check_criu (void)
{
  g_autofree char *out = NULL, *err = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("needs root");
      return;
    }
  int rc = monitor (&out, &err, "check-criu", "--json", NULL);
  g_assert_nonnull (strstr (out, "\"path\":"));
  if (rc == 0)
    {
      g_assert_nonnull (strstr (out, "\"usable\":true"));
      g_assert_nonnull (strstr (out, "\"check\":\"ok\""));
      g_assert_nonnull (strstr (out, "\"version\":\"4."));
    }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A missing CRIU is refused, naming the fix. */
  const char *argv[] = { "/usr/bin/env", "FERRY_CRIU=/nonexistent/criu", monitor_bin (), "check-criu", NULL };
  g_assert_cmpint (run_argv (argv, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "/nonexistent/criu"));
  g_assert_nonnull (strstr (err, "scripts/setup-criu"));
}

static void
test_leave_running (void)
{
  if (skip_unless_ready ())
    return;
  Ctr *c = ctr_new ("cr-live", "state /cr 64");
  g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *log = g_build_filename (c->tmp, "dump.log", NULL);
  g_autofree char *stats = g_build_filename (c->tmp, "stats.json", NULL);
  g_autofree char *cr = g_build_filename (c->rootfs, "cr", NULL);

  ctr_start (c);
  g_free (wait_file (cr, "ready", NULL, 10000));
  g_autofree char *before = process_list (c);
  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  g_assert_cmpint (monitor (NULL, NULL, "checkpoint", "--run-dir", c->run_dir, "--images", images, "--log", log,
                            "--leave-running", "--stats", stats, NULL),
                   ==, 0);
  g_autofree char *core = g_build_filename (images, "core-1.img", NULL);
  g_assert_true (g_file_test (core, G_FILE_TEST_EXISTS));
  g_autofree char *json = ferry_read_small_file (stats);
  g_test_message ("dump statistics (64 MiB workload): %s", json);
  for (const char *const *k = (const char *const[]) { "\"freezing_time\":", "\"frozen_time\":", "\"memdump_time\":",
                                                      "\"memwrite_time\":", "\"pages_written\":", "\"total_time\":",
                                                      "\"sync_time\":", NULL };
       *k; k++)
    g_assert_nonnull (strstr (json, *k));
  /* Untouched: same init, same processes, thawed, and the state verifies. */
  FerryRuntimeState st;
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_true (st.running && !st.frozen);
  g_assert_cmpint (st.init_pid, ==, c->init_pid);
  g_autofree char *after = process_list (c);
  g_assert_cmpstr (before, ==, after);
  write_text (cr, "go", "", 0644);
  g_autofree char *result = wait_file (cr, "result", NULL, 10000);
  g_assert_cmpstr (result, ==, "PASS");
  ctr_free (c);
}

static void
test_stop_restore (void)
{
  if (skip_unless_ready ())
    return;
  Ctr *c = ctr_new ("cr-stop", "state /cr 64");
  g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *dump_log = g_build_filename (c->tmp, "dump.log", NULL);
  g_autofree char *restore_log = g_build_filename (c->tmp, "restore.log", NULL);
  g_autofree char *dump_stats = g_build_filename (c->tmp, "dump.json", NULL);
  g_autofree char *restore_stats = g_build_filename (c->tmp, "restore.json", NULL);
  g_autofree char *cr = g_build_filename (c->rootfs, "cr", NULL);
  g_autofree char *console = g_build_filename (c->log_dir, "console.log", NULL);
  int mounts = count_mounts ();

  ctr_start (c);
  g_free (wait_file (cr, "ready", NULL, 10000));
  g_free (exec_out (c, "for i in 1 2 3 4 5 6 7 8 9 10; do pidof syslogd crond httpd | grep -q ' .* ' && break; sleep 0.1; done"));
  g_autofree char *before = process_list (c);
  g_assert_nonnull (strstr (before, "syslogd"));
  g_assert_nonnull (strstr (before, "httpd"));
  pid_t old_monitor = c->monitor_pid;

  /* Stateful stop: dumped, killed, cleaned up as any stop. */
  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  g_assert_cmpint (monitor (NULL, NULL, "checkpoint", "--run-dir", c->run_dir, "--images", images, "--log", dump_log,
                            "--stats", dump_stats, NULL),
                   ==, 0);
  FerryRuntimeState st;
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_false (st.running);
  g_assert_false (cgroup_exists (c));
  g_assert_true (process_gone (old_monitor));
  g_autofree char *dstats = ferry_read_small_file (dump_stats);
  g_test_message ("stateful stop (64 MiB workload): %s", dstats);

  /* Restore: same processes and PIDs, the workload's state intact. */
  gsize console_before = 0;
  {
    g_autofree char *text = NULL;
    g_assert_true (g_file_get_contents (console, &text, &console_before, NULL));
  }
  g_assert_cmpint (ctr_restore (c, NULL, images, restore_log, restore_stats, NULL), ==, 0);
  g_autofree char *rstats = ferry_read_small_file (restore_stats);
  g_test_message ("restore (64 MiB workload): %s", rstats);
  g_assert_nonnull (strstr (rstats, "\"restore_time\":"));
  g_assert_nonnull (strstr (rstats, "\"forking_time\":"));
  g_assert_true (is_running (c));
  g_assert_cmpint (getppid_of (c->init_pid), ==, c->monitor_pid);
  g_autofree char *after = process_list (c);
  g_assert_cmpstr (before, ==, after);
  write_text (cr, "go", "", 0644);
  g_autofree char *result = wait_file (cr, "result", NULL, 10000);
  g_assert_cmpstr (result, ==, "PASS");

  /* Services answer, the hostname and the cgroup (namespace) are right. */
  g_autofree char *page = exec_out (c, "wget -q -O - http://127.0.0.1:8080/ || echo no-httpd");
  g_assert_cmpstr (page, ==, "ferry\n");
  g_autofree char *hostname = exec_out (c, "hostname");
  g_assert_cmpstr (hostname, ==, "cr-stop\n");
  g_autofree char *cg = exec_out (c, "cat /proc/1/cgroup");
  g_assert_true (g_str_has_suffix (cg, ":/\n"));
  g_autofree char *mem = cgroup_file (c, "memory", is_cgroup2 () ? "memory.max" : "memory.limit_in_bytes");
  g_autofree char *pids = cgroup_file (c, "pids", "pids.max");
  g_autofree char *mem_v = ferry_read_small_file (mem);
  g_autofree char *pids_v = ferry_read_small_file (pids);
  g_assert_cmpstr (mem_v, ==, "268435456");
  g_assert_cmpstr (pids_v, ==, "100");
  /* The init is back in the cgroup namespace's root, below the limits. */
  g_autofree char *procs_file = cgroup_file(c, "pids", FERRY_CGROUP_NS "/cgroup.procs");
  g_autofree char *procs = ferry_read_small_file (procs_file);
  g_autofree char *init_line = g_strdup_printf ("%d", (int) c->init_pid);
  g_assert_nonnull (strstr (procs, init_line));

  /* The console continues into console.log. */
  g_free (exec_out (c, "echo console-after-restore > /dev/console; logger ferry-syslog-after-restore"));
  g_autofree char *log = NULL;
  gsize console_after = 0;
  for (int i = 0; i < 200 && (log == NULL || strstr (log, "console-after-restore") == NULL); i++)
    {
      g_clear_pointer (&log, g_free);
      g_usleep (10000);
      g_file_get_contents (console, &log, &console_after, NULL);
    }
  g_assert_nonnull (strstr (log, "console-after-restore"));
  g_assert_cmpuint (console_after, >, console_before);
  g_autofree char *messages = NULL;
  for (int i = 0; i < 100; i++)
    {
      g_clear_pointer (&messages, g_free);
      messages = exec_out (c, "cat /tmp/messages");
      if (strstr (messages, "ferry-syslog-after-restore") != NULL)
        break;
      g_usleep (20000);
    }
  g_assert_nonnull (strstr (messages, "ferry-syslog-after-restore"));
  g_assert_cmpint (count_mounts (), ==, mounts);

  /* A restored container stops like any other. */
  g_assert_cmpint (monitor (NULL, NULL, "stop", "--run-dir", c->run_dir, "--timeout", "10", NULL), ==, 0);
  g_assert_false (is_running (c));
  g_assert_false (cgroup_exists (c));
  g_autofree char *status = ferry_runtime_read_exit_status (c->run_dir);
  g_assert_cmpstr (status, ==, "signaled 2"); /* busybox's halt, as for a booted container */
  ctr_free (c);
}

static void
test_rootfs_copy (void)
{
  if (skip_unless_ready ())
    return;
  Ctr *c = ctr_new ("cr-copy", "counter /cr");
  g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *log = g_build_filename (c->tmp, "dump.log", NULL);
  g_autofree char *copy = g_build_filename (c->tmp, "rootfs-copy", NULL);
  g_autofree char *cr = g_build_filename (c->rootfs, "cr", NULL);
  g_autofree char *copy_cr = g_build_filename (copy, "cr", NULL);

  ctr_start (c);
  g_free (wait_file (cr, "ready", NULL, 10000));
  g_usleep (100000);
  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  g_assert_cmpint (monitor (NULL, NULL, "checkpoint", "--run-dir", c->run_dir, "--images", images, "--log", log,
                            "--leave-running", "--rootfs-copy", c->rootfs, copy, NULL),
                   ==, 0);
  g_assert_true (is_running (c));
  /* A faithful copy: owners, modes, symlinks. */
  g_autofree char *link = g_build_filename (copy, "bin", "sh", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_assert_cmpstr (target, ==, "/bin/busybox");
  struct stat a, b;
  g_autofree char *crontab_a = g_build_filename (c->rootfs, "etc/crontabs/root", NULL);
  g_autofree char *crontab_b = g_build_filename (copy, "etc/crontabs/root", NULL);
  g_assert_cmpint (stat (crontab_a, &a), ==, 0);
  g_assert_cmpint (stat (crontab_b, &b), ==, 0);
  g_assert_cmpint (a.st_mode, ==, b.st_mode);
  g_assert_cmpint (a.st_uid, ==, b.st_uid);
  g_autofree char *copied_counter = wait_file (copy_cr, "counter", NULL, 100);
  g_assert_cmpuint (g_ascii_strtoull (copied_counter, NULL, 10), >, 0);
  /* The original moved on after the thaw. */
  g_usleep (50000);
  g_autofree char *live_counter = wait_file (cr, "counter", NULL, 100);
  g_assert_cmpuint (g_ascii_strtoull (live_counter, NULL, 10), >, g_ascii_strtoull (copied_counter, NULL, 10));
  g_assert_cmpint (monitor (NULL, NULL, "stop", "--run-dir", c->run_dir, "--force", NULL), ==, 0);

  /* Restored onto the copy, the counter in memory equals the file's. */
  g_autofree char *rlog = g_build_filename (c->tmp, "restore.log", NULL);
  g_assert_cmpint (ctr_restore (c, copy, images, rlog, NULL, NULL), ==, 0);
  g_usleep (50000);
  write_text (copy_cr, "go", "", 0644);
  g_autofree char *result = wait_file (copy_cr, "result", NULL, 10000);
  g_assert_nonnull (result);
  g_test_message ("restored onto the copy: %s", result);
  g_assert_true (g_str_has_prefix (result, "PASS"));
  g_assert_cmpint (monitor (NULL, NULL, "stop", "--run-dir", c->run_dir, "--force", NULL), ==, 0);

  /* Control: restored onto the rootfs that kept running, the workload
   * notices (so the PASS above means something). Inconclusive in the rare
   * dump that froze the workload inside its write (see cr-workload.c). */
  g_autofree char *stopped_counter = wait_file (cr, "counter", NULL, 100);
  g_test_message ("copy %s, live at stop %s", copied_counter, stopped_counter);
  g_assert_cmpint (ctr_restore (c, NULL, images, rlog, NULL, NULL), ==, 0);
  g_usleep (50000);
  write_text (cr, "go", "", 0644);
  g_autofree char *control = wait_file (cr, "result", NULL, 10000);
  g_test_message ("restored onto the live rootfs: %s", control);
  g_assert_nonnull (control);
  if (!g_str_has_prefix (control, "FAIL"))
    g_test_message ("control inconclusive: the dump caught the workload inside its write");
  ctr_free (c);
}

static void
test_dump_fails (void)
{
  if (skip_unless_ready ())
    return;
  Ctr *c = ctr_new ("cr-fail", "hold-socket /cr /ext.sock");
  g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *log = g_build_filename (c->tmp, "dump.log", NULL);
  g_autofree char *copy = g_build_filename (c->tmp, "rootfs-copy", NULL);
  g_autofree char *sock_path = g_build_filename (c->rootfs, "ext.sock", NULL);
  g_autofree char *cr = g_build_filename (c->rootfs, "cr", NULL);
  g_autofree char *out = NULL, *err = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  /* A host process (the test) listens; the container connects to it. */
  int lsk = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (lsk, >=, 0);
  g_assert_cmpuint (strlen (sock_path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, sock_path);
  g_assert_cmpint (bind (lsk, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (lsk, 1), ==, 0);
  ctr_start (c);
  g_free (wait_file (cr, "ready", NULL, 10000));
  int peer = accept4 (lsk, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (peer, >=, 0);
  g_autofree char *before = process_list (c);

  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  g_assert_cmpint (monitor (&out, &err, "checkpoint", "--run-dir", c->run_dir, "--images", images, "--log", log,
                            "--rootfs-copy", c->rootfs, copy, NULL),
                   ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_true (g_str_has_prefix (err, "ferry-monitor: CRIU could not checkpoint the container"));
  g_assert_nonnull (strstr (err, "Error ("));
  g_assert_nonnull (strstr (err, log));
  g_assert_true (g_str_has_suffix (g_strstrip (err), log));
  /* Running as before, thawed; nothing half-made is left. */
  FerryRuntimeState st;
  g_assert_true (ferry_runtime_read_state (c->run_dir, &st, NULL));
  g_assert_true (st.running && !st.frozen);
  g_assert_cmpint (st.init_pid, ==, c->init_pid);
  g_autofree char *after = process_list (c);
  g_assert_cmpstr (before, ==, after);
  g_assert_false (g_file_test (images, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (copy, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (log, G_FILE_TEST_EXISTS));
  /* The socket still works. */
  g_assert_cmpint (send (peer, "x", 1, MSG_NOSIGNAL), ==, 1);
  close (peer);
  close (lsk);
  ctr_free (c);

  /* A process that entered with exec is refused up front, clearly. */
  c = ctr_new ("cr-exec", "");
  ctr_start (c);
  const char *exec_argv[] = { monitor_bin (), "exec", "--run-dir", c->run_dir, "--", "sleep", "30", NULL };
  GPid exec_pid;
  g_assert_true (g_spawn_async (NULL, (char **) exec_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &exec_pid,
                                NULL));
  g_autofree char *images2 = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *log2 = g_build_filename (c->tmp, "dump.log", NULL);
  g_autofree char *err2 = NULL;
  g_assert_cmpint (g_mkdir (images2, 0700), ==, 0);
  int rc = 0;
  for (int i = 0; i < 100; i++) /* until the exec'd sleep is inside */
    {
      g_clear_pointer (&err2, g_free);
      rc = monitor (NULL, &err2, "checkpoint", "--run-dir", c->run_dir, "--images", images2, "--log", log2,
                    "--leave-running", NULL);
      if (rc != 0 && strstr (err2, "exec session") != NULL)
        break;
      ferry_rm_rf (images2, NULL);
      g_assert_cmpint (g_mkdir (images2, 0700), ==, 0);
      g_usleep (20000);
    }
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (err2, "exec session"));
  g_assert_true (is_running (c));
  kill (exec_pid, SIGTERM);
  waitpid (exec_pid, NULL, 0);
  ctr_free (c);
}

static void
test_restore_fails (void)
{
  if (skip_unless_ready ())
    return;
  Ctr *c = ctr_new ("cr-rfail", "");
  g_autofree char *images = g_build_filename (c->tmp, "images", NULL);
  g_autofree char *bad = g_build_filename (c->tmp, "images-bad", NULL);
  g_autofree char *log = g_build_filename (c->tmp, "dump.log", NULL);
  g_autofree char *rlog = g_build_filename (c->tmp, "restore.log", NULL);
  int mounts = count_mounts ();

  ctr_start (c);
  g_free (wait_file (c->log_dir, "console.log", "ferry-boot-ok", 10000));
  g_assert_cmpint (g_mkdir (images, 0700), ==, 0);
  g_assert_cmpint (monitor (NULL, NULL, "checkpoint", "--run-dir", c->run_dir, "--images", images, "--log", log, NULL),
                   ==, 0);
  g_assert_false (is_running (c));

  /* A corrupt image: CRIU's error quoted, nothing left, images untouched. */
  const char *cp[] = { "/bin/cp", "-a", images, bad, NULL };
  g_assert_cmpint (run_argv (cp, NULL, NULL), ==, 0);
  g_autofree char *core = g_build_filename (bad, "core-1.img", NULL);
  g_assert_true (g_file_set_contents (core, "garbage", -1, NULL));
  g_autofree char *bad_before = dir_fingerprint (bad);
  g_autofree char *good_before = dir_fingerprint (images);
  g_autofree char *err = NULL;
  g_assert_cmpint (ctr_restore (c, NULL, bad, rlog, NULL, &err), ==, 1);
  g_assert_true (g_str_has_prefix (err, "ferry-monitor: CRIU could not restore the container"));
  g_assert_nonnull (strstr (err, "Error ("));
  g_assert_true (g_str_has_suffix (g_strstrip (err), rlog));
  g_autofree char *bad_after = dir_fingerprint (bad);
  g_assert_cmpstr (bad_before, ==, bad_after);
  g_assert_false (is_running (c));
  g_assert_false (cgroup_exists (c));
  g_assert_cmpint (count_mounts (), ==, mounts);
  g_autofree char *pts = g_build_filename (c->run_dir, "console-pts", NULL);
  g_assert_false (g_file_test (pts, G_FILE_TEST_EXISTS));
  g_autofree char *mpid = g_build_filename (c->run_dir, FERRY_RUNTIME_MONITOR_PID, NULL);
  g_assert_false (g_file_test (mpid, G_FILE_TEST_EXISTS));

  /* A missing rootfs. */
  g_autofree char *nowhere = g_build_filename (c->tmp, "no-rootfs", NULL);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctr_restore (c, nowhere, images, rlog, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "rootfs"));
  g_assert_false (cgroup_exists (c));

  /* The intact images still restore. */
  g_autofree char *good_after = dir_fingerprint (images);
  g_assert_cmpstr (good_before, ==, good_after);
  g_assert_cmpint (ctr_restore (c, NULL, images, rlog, NULL, NULL), ==, 0);
  g_assert_true (is_running (c));
  g_free (exec_out (c, "true"));
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
  cgroup_parent = g_strdup_printf ("ferry-crtest-%d", (int) getpid ());
  g_test_add_func ("/checkpoint/stats-parse", test_stats_parse);
  g_test_add_func ("/checkpoint/check-criu", test_check_criu);
  g_test_add_func ("/checkpoint/leave-running", test_leave_running);
  g_test_add_func ("/checkpoint/stop-restore", test_stop_restore);
  g_test_add_func ("/checkpoint/rootfs-copy", test_rootfs_copy);
  g_test_add_func ("/checkpoint/dump-fails", test_dump_fails);
  g_test_add_func ("/checkpoint/restore-fails", test_restore_fails);
  int rc = g_test_run ();
  remove_cgroup_parent ();
  g_free (cgroup_parent);
  return rc;
}
