/* `ferry-monitor checkpoint` and `ferry-monitor check-criu`: what the runtime
 * knows about a running container (its init, freezer cgroup, console,
 * interfaces) turned into a CRIU dump request. */
#include "runtime/monitor.h"
#include "runtime/criu-watchdog.h"

#include "checkpoint/checkpoint.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/testhook.h"
#include "runtime/cgroup.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* tty[rdev:dev] of the container's /dev/console when it is a pty (the key
 * CRIU's --external and --inherit-fd use), and whether it is a mount. */
static char *
console_key (pid_t init_pid, gboolean *is_mount)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/root/dev/console", (int) init_pid);
  g_autofree char *mountinfo_path = g_strdup_printf ("/proc/%d/mountinfo", (int) init_pid);
  g_autofree char *mountinfo = NULL;
  struct stat st;

  *is_mount = FALSE;
  if (g_file_get_contents (mountinfo_path, &mountinfo, NULL, NULL))
    *is_mount = strstr (mountinfo, " /dev/console ") != NULL;
  /* Unix98 pty slaves: majors 136-143. */
  if (stat (path, &st) < 0 || !S_ISCHR (st.st_mode) || major (st.st_rdev) < 136 || major (st.st_rdev) > 143)
    return NULL;
  return g_strdup_printf ("tty[%llx:%llx]", (unsigned long long) st.st_rdev, (unsigned long long) st.st_dev);
}

/* Interfaces of the container's network namespace other than lo. */
static int
count_interfaces (pid_t init_pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/net/dev", (int) init_pid);
  g_autofree char *text = NULL;
  int n = 0;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      const char *colon = strchr (*l, ':');
      if (colon == NULL)
        continue;
      g_autofree char *name = g_strstrip (g_strndup (*l, colon - *l));
      if (!g_str_equal (name, "lo"))
        n++;
    }
  return n;
}

static pid_t
parent_of (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = ferry_read_small_file (path);
  const char *p = stat ? strrchr (stat, ')') : NULL;
  int ppid = 0;

  if (p == NULL || sscanf (p + 2, "%*c %d", &ppid) != 1)
    return 0;
  return ppid;
}

/* The first process listed in DIR or below that does not descend from
 * INIT_PID, as "PID (command)". */
static char *
find_foreign_in(const char *dir, pid_t init_pid)
{
  g_autofree char *procs = ferry_cgroup_read(dir, "cgroup.procs");
  g_auto(GStrv) lines = g_strsplit(procs ? procs : "", "\n", -1);
  GDir *d;

  for (char **l = lines; *l != NULL; l++)
    {
      pid_t pid = (pid_t) g_ascii_strtoll (*l, NULL, 10), p = pid;
      if (pid <= 0)
        continue;
      for (int depth = 0; p > 1 && p != init_pid && depth < 4096; depth++)
        p = parent_of (p);
      if (p != init_pid && parent_of (pid) != 0)
        {
          g_autofree char *comm_path = g_strdup_printf ("/proc/%d/comm", (int) pid);
          g_autofree char *comm = ferry_read_small_file (comm_path);
          return g_strdup_printf ("%d (%s)", (int) pid, comm ? comm : "?");
        }
    }
    if ((d = g_dir_open(dir, 0, NULL)) == NULL)
      return NULL;
    char *found = NULL;
    for (const char *e; found == NULL && (e = g_dir_read_name(d)) != NULL;) {
      g_autofree char *sub = g_build_filename(dir, e, NULL);
      if (g_file_test(sub, G_FILE_TEST_IS_DIR))
        found = find_foreign_in(sub, init_pid);
    }
    g_dir_close(d);
    return found;
}

/* A process in the container's cgroups that does not descend from its init
 * entered from outside (`ferry-monitor exec`): CRIU cannot dump it (its
 * parent is outside the tree). Returns "PID (command)" of the first one. */
static char *
find_foreign_process(const char *relpath, pid_t init_pid)
{
  const FerryCgroupManager *m = ferry_cgroup_manager_get();
  g_autofree char *dir = m->ops->freezer_dir(m, relpath);

  return dir ? find_foreign_in(dir, init_pid) : NULL;
}

/* After a stateful stop the monitor reaps the killed init and cleans up:
 * return when it is gone, as `stop` does. */
static void
wait_monitor_exit (int pidfd)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };

  while (poll (&p, 1, 10000) < 0 && errno == EINTR)
    ;
}

#define DUMP_ATTEMPTS 3

/* The frozen container's whole cgroup tree, for the restore to recreate
 * the empty cgroups CRIU does not (ferry_cgroup_subtree_list()). */
void
ferry_monitor_record_cgroups (gpointer data)
{
  const FerryCgroupRecord *r = data;
  g_autofree char *ns = g_build_filename (r->relpath, FERRY_CGROUP_NS, NULL);
  g_autofree char *list = ferry_cgroup_subtree_list (ferry_cgroup_manager_get (), ns);
  g_autofree char *path = g_build_filename (r->images, FERRY_CHECKPOINT_CGROUPS_FILE, NULL);
  g_autoptr (GError) error = NULL;

  if (!ferry_write_file_atomic (path, list, -1, 0600, &error))
    ferry_monitor_log ("recording the cgroup tree: %s (a restore makes only the cgroups with tasks)",
                       error->message);
}

/* The empty cgroups of the dumped tree, below those CRIU made (with their
 * properties) for the tasks: systemd's inotify watches on their
 * cgroup.events are restored next. A checkpoint without the record (an
 * older Ferry's) restores as before. */
int
ferry_monitor_make_cgroups (gpointer data)
{
  const FerryCgroupRecord *r = data;
  g_autofree char *path = g_build_filename (r->images, FERRY_CHECKPOINT_CGROUPS_FILE, NULL);
  g_autofree char *list = NULL;
  g_autofree char *ns = g_build_filename (r->relpath, FERRY_CGROUP_NS, NULL);
  g_autoptr (GError) error = NULL;

  if (!g_file_get_contents (path, &list, NULL, NULL))
    return 0;
  if (!ferry_cgroup_subtree_make (ferry_cgroup_manager_get (), ns, list, &error))
    {
      ferry_monitor_log ("recreating the container's cgroups: %s", error->message);
      return 1;
    }
  return 0;
}

/* ADDRESS:PORT of --page-server: the address (new), and *PORT; NULL
 * (said why) if it is not one. */
static char *
page_server_address (const char *spec, int *port)
{
  const char *colon = strrchr (spec, ':');
  gint64 n = colon ? g_ascii_strtoll (colon + 1, NULL, 10) : 0;

  if (colon == NULL || n <= 0 || n > 65535)
    {
      ferry_monitor_error ("--page-server takes ADDRESS:PORT, not \"%s\"", spec);
      return NULL;
    }
  *port = (int) n;
  return g_strndup (spec, colon - spec);
}

/* One dump, under a watchdog: a CRIU killed early can leave a probe child
 * holding libcriu's socket, and the dump would never return. */
static gboolean
dump_watched (FerryDumpRequest *req, GError **error)
{
  FerryCriuWatchdog *watchdog = ferry_criu_watchdog_start ();
  gboolean ok = ferry_checkpoint_dump (req, error);

  ferry_criu_watchdog_stop (watchdog);
  return ok;
}

/* What a failed dump says when it met a queue in a moment's state: a
 * netlink socket with unread messages (systemd's daemons read their
 * rtnetlink events promptly; CRIU cannot dump such a queue), a unix
 * socket's queued message with credentials or a pidfd attached (every
 * message to journald or to systemd's notify socket, SO_PASSCRED,
 * SO_PASSPIDFD: read at once; CRIU dumps only SCM_RIGHTS). */
static const char *
transient_queue (const GError *error)
{
  if (strstr (error->message, "The socket has data to read") != NULL)
    return "a netlink socket had unread messages";
  if (strstr (error->message, "Control messages in queue, not supported") != NULL)
    return "a unix socket had a queued message with credentials";
  return NULL;
}

/* The dump, tried again while it fails on a queue in a moment's state
 * (transient_queue): the tree runs on after a failed dump. A dump into a
 * page server cannot be repeated. */
static gboolean
dump_retrying (const FerryCheckpointOptions *o, FerryDumpRequest *req)
{
  g_autoptr (GError) error = NULL;

  for (int attempt = 1; !dump_watched (req, &error); attempt++)
    {
      const char *why = transient_queue (error);
      if (attempt >= DUMP_ATTEMPTS || o->page_server != NULL || why == NULL)
        {
          ferry_monitor_error ("%s", error->message);
          return FALSE;
        }
      ferry_monitor_log ("retrying the checkpoint: %s", why);
      g_clear_error (&error);
      g_usleep (100000 * attempt);
      /* The failed dump removed the images directory with what it held. */
      if (g_mkdir_with_parents (o->images, 0700) < 0)
        {
          ferry_monitor_error ("Making %s again: %s", o->images, g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

/* CRIU's statistics of a complete dump, for ferryd (--stats). */
static void
write_stats (const FerryCheckpointOptions *o, gint64 elapsed, gint64 sync_time)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = ferry_criu_stats_json (o->images, TRUE, elapsed, &error);
  g_autoptr (JsonObject) stats = json ? ferry_json_parse_object (json, strlen (json), FALSE, &error) : NULL;
  g_autofree char *data = NULL;

  /* Beside CRIU's own times: how long putting the images on disk took
   * (what a raw CRIU dump does not do). */
  if (stats != NULL)
    {
      g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), stats);
      json_object_set_int_member (stats, "sync_time", sync_time);
      g_free (json);
      json = ferry_json_to_string (node, FALSE);
      data = g_strconcat (json, "\n", NULL);
    }

  if (data == NULL || !ferry_write_file_atomic (o->stats, data, -1, 0644, &error))
    ferry_monitor_error ("The checkpoint is complete, but its statistics are lost: %s", error->message);
}

int
ferry_monitor_checkpoint (const FerryCheckpointOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *relpath = NULL, *freezer = NULL, *key = NULL, *foreign = NULL, *ps_address = NULL;
  g_auto (GStrv) veth_keys = NULL;
  const FerryCgroupManager *m = ferry_cgroup_manager_get ();
  FerryCriuInfo criu = { 0 };
  gint64 t0 = g_get_monotonic_time (), t_sync;
  pid_t init_pid = 0;
  gboolean console_is_mount = FALSE, userns = FALSE;
  int init_fd = -1, monitor_fd = -1, lock_fd = -1, rc = 1;

  if (o->run_dir == NULL || o->images == NULL || o->log == NULL)
    {
      ferry_monitor_error ("checkpoint needs --run-dir, --images and --log");
      return 1;
    }
  if (!ferry_criu_probe (&criu, FERRY_CRIU_CHECK_CACHED, &error))
    {
      ferry_monitor_error ("Cannot checkpoint: %s", error->message);
      goto out;
    }
  /* Held until this process exits, dump done or not (runtime.h); and by
   * CRIU, our child, which inherits it: a CRIU that outlives a killed
   * monitor holds it until its dump has ended. */
  if ((lock_fd = ferry_rundir_lock_busy (o->run_dir, &error)) < 0 || fcntl (lock_fd, F_SETFD, 0) < 0)
    {
      ferry_monitor_error ("%s", error ? error->message : g_strerror (errno));
      goto out;
    }
  monitor_fd = ferry_rundir_open_pidfd (o->run_dir, FERRY_RUNTIME_MONITOR_PID, NULL);
  init_fd = ferry_rundir_open_pidfd (o->run_dir, FERRY_RUNTIME_INIT_PID, &init_pid);
  relpath = ferry_runtime_read_cgroup (o->run_dir);
  if (monitor_fd < 0 || init_fd < 0 || relpath == NULL)
    {
      ferry_monitor_error ("The container in %s is not running", o->run_dir);
      goto out;
    }
  userns = ferry_proc_same_namespace (init_pid, "user") == 0;
  if ((freezer = m->ops->freezer_dir (m, relpath)) == NULL)
    {
      ferry_monitor_error ("Cannot checkpoint: no freezer cgroup for %s", relpath);
      goto out;
    }
  if ((foreign = find_foreign_process (relpath, init_pid)) != NULL)
    {
      ferry_monitor_error ("Cannot checkpoint while a process entered the container from outside "
                           "(an exec session: PID %s); CRIU can only dump the init's process tree. "
                           "End the session and retry",
                           foreign);
      goto out;
    }
  key = console_key (init_pid, &console_is_mount);
  /* Host sides of the nics are external (recreated at restore); the
   * network is locked while frozen unless there is nothing but lo. */
  int nics = count_interfaces (init_pid);
  veth_keys = ferry_monitor_nic_dump_keys (o->run_dir);
  gboolean has_nics = veth_keys[0] != NULL;
  /* An unprivileged container's device nodes are binds of the host's:
   * external mounts, bound again from the host at restore. */
  if (userns)
    veth_keys = ferry_monitor_add_dev_node_keys (veth_keys, FALSE);
  /* Disk devices are binds of host paths: external, bound again from the
   * sources the instance has where it is restored. */
  {
    g_autoptr (GError) disk_error = NULL;
    if ((veth_keys = ferry_disks_dump_keys (veth_keys, o->run_dir, o->images, &disk_error)) == NULL)
      {
        ferry_monitor_error ("Cannot checkpoint: %s", disk_error->message);
        goto out;
      }
  }
  FerryDumpRequest req = {
    .criu_path = criu.path,
    .init_pid = init_pid,
    .freeze_cgroup = freezer,
    .images_dir = o->images,
    .log_path = o->log,
    .leave_running = o->leave_running,
    .tcp_established = o->tcp_established || has_nics,
    .network_lock_skip = nics == 0,
    .external = (const char *const *) veth_keys,
    .console_key = key,
    .console_is_mount = console_is_mount,
    .rootfs_copy_src = o->rootfs_copy[0],
    .rootfs_copy_dst = o->rootfs_copy[1],
    .rootfs_snapshot = o->rootfs_snapshot,
    .hold_fd = o->hold_fd,
    .frozen = ferry_monitor_record_cgroups,
    .frozen_data = &(FerryCgroupRecord){ .relpath = relpath, .images = o->images },
    .dying = ferry_monitor_nics_down,
    .dying_data = (gpointer) o->run_dir,
  };
  /* CRIU must not inherit the hold: its end of the socket closing is how
   * the daemon learns that this process died. */
  if (o->hold_fd > 0)
    fcntl (o->hold_fd, F_SETFD, FD_CLOEXEC);
  if (o->page_server != NULL && (ps_address = page_server_address (o->page_server, &req.page_server_port)) == NULL)
    goto out;
  req.page_server_address = ps_address;
  if (!dump_retrying (o, &req))
    goto out;
  if (!o->leave_running)
    wait_monitor_exit (monitor_fd);
  ferry_test_crash_point ("checkpoint-before-mark");
  t_sync = g_get_monotonic_time ();
  if (!ferry_checkpoint_mark_complete (o->images, &error))
    {
      ferry_monitor_error ("%s", error->message);
      goto out;
    }
  rc = 0;
  if (o->stats != NULL)
    write_stats (o, g_get_monotonic_time () - t0, g_get_monotonic_time () - t_sync);

out:
  ferry_criu_info_clear (&criu);
  if (init_fd >= 0)
    close (init_fd);
  if (monitor_fd >= 0)
    close (monitor_fd);
  if (lock_fd >= 0)
    close (lock_fd);
  return rc;
}

int
ferry_monitor_check_criu (gboolean json)
{
  g_autoptr (GError) error = NULL;
  FerryCriuInfo info = { 0 };
  gboolean ok = ferry_criu_probe (&info, FERRY_CRIU_CHECK_RUN, &error);

  if (json)
    {
      g_autoptr (GString) s = g_string_new ("{");
      g_autofree char *path = info.path ? g_strescape (info.path, NULL) : NULL;
      g_autofree char *found_by = info.found_by ? g_strescape (info.found_by, NULL) : NULL;
      g_autofree char *nested = info.nested ? g_strescape (info.nested, NULL) : NULL;
      g_autofree char *message = error ? g_strescape (error->message, NULL) : NULL;
      g_string_append_printf (s, "\"usable\":%s,", ok ? "true" : "false");
      if (path)
        g_string_append_printf (s, "\"path\":\"%s\",\"found_by\":\"%s\",", path, found_by);
      if (info.version_text)
        g_string_append_printf (s, "\"version\":\"%s\",", info.version_text);
      if (info.check_ran)
        g_string_append_printf (s, "\"check\":\"%s\",", info.check_ok ? "ok" : "failed");
      g_string_append_printf (s, "\"nested\":%s%s%s", nested ? "\"" : "", nested ? nested : "null", nested ? "\"" : "");
      if (message)
        g_string_append_printf (s, ",\"error\":\"%s\"", message);
      g_string_append (s, "}\n");
      fputs (s->str, stdout);
    }
  else
    {
      if (info.path)
        printf ("criu: %s (from %s)\n", info.path, info.found_by);
      if (info.version_text)
        printf ("version: %s\n", info.version_text);
      if (info.check_ran)
        printf ("criu check: %s\n", info.check_ok ? "Looks good." : "failed");
      printf ("nested: %s\n", info.nested ? info.nested : "no");
    }
  fflush (stdout);
  if (!ok)
    ferry_monitor_error ("%s", error->message);
  ferry_criu_info_clear (&info);
  return ok ? 0 : 1;
}

int
ferry_monitor_page_server (const char *images, const char *log, int fd)
{
  g_autoptr (GError) error = NULL;
  FerryCriuInfo criu = { 0 };
  int rc = 1;

  if (images == NULL || log == NULL || fd <= 2)
    ferry_monitor_error ("page-server needs --images, --log and --fd");
  else if (!ferry_criu_probe (&criu, FERRY_CRIU_CHECK_CACHED, &error))
    ferry_monitor_error ("Cannot receive a checkpoint: %s", error->message);
  else if (!ferry_checkpoint_page_server (criu.path, images, fd, log, &error))
    ferry_monitor_error ("%s", error->message);
  else
    rc = 0;
  ferry_criu_info_clear (&criu);
  return rc;
}

/* Copies IN to OUT until EOF; then shuts OUT's write side (or closes it). */
static gboolean
copy_until_eof (int in, int out)
{
  char buf[65536];

  for (;;)
    {
      ssize_t n = read (in, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      for (ssize_t off = 0; off < n;)
        {
          ssize_t w = write (out, buf + off, (size_t) (n - off));
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            return FALSE;
          off += w;
        }
    }
  if (shutdown (out, SHUT_WR) < 0)
    close (out);
  return TRUE;
}

/* The far end finished (as ssh does when the remote command exits): rsync
 * waits for its -e command to exit before it closes our stdin. */
static gpointer
netcat_reader (gpointer data)
{
  int fd = GPOINTER_TO_INT (data);

  copy_until_eof (fd, STDOUT_FILENO);
  _exit (0);
}

int
ferry_monitor_netcat (int fd)
{
  GThread *reader;

  if (fd <= 2)
    {
      ferry_monitor_error ("netcat needs --fd N (an inherited socket)");
      return 1;
    }
  reader = g_thread_new ("netcat", netcat_reader, GINT_TO_POINTER (fd));
  copy_until_eof (STDIN_FILENO, fd);
  g_thread_join (reader);
  return 0;
}
