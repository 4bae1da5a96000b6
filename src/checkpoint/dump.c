/* Dump of a container's process tree. CRIU freezes the container's freezer
 * cgroup, dumps, then calls us back ("post-dump") while everything is still
 * frozen: that is when the rootfs is copied, so the copy and the memory image
 * are the same instant. A failing callback fails the dump and CRIU thaws. */
#include "checkpoint/checkpoint.h"
#include "checkpoint/criu-opts.h"
#include "checkpoint/rootfs-copy.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/btrfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

gboolean
ferry_checkpoint_mark_complete (const char *images, GError **error)
{
  g_autofree char *marker = g_build_filename (images, FERRY_CHECKPOINT_COMPLETE_FILE, NULL);
  int dir = open (images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  gboolean ok = dir >= 0 && syncfs (dir) == 0;

  ok = ok && ferry_write_file_atomic (marker, "", 0, 0644, error) && fsync (dir) == 0;
  if (!ok && error != NULL && *error == NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Syncing the checkpoint %s: %s", images,
                 g_strerror (errno));
  if (dir >= 0)
    close (dir);
  return ok;
}

gboolean
ferry_checkpoint_marked_complete (const char *images)
{
  g_autofree char *marker = g_build_filename (images, FERRY_CHECKPOINT_COMPLETE_FILE, NULL);
  return g_file_test (marker, G_FILE_TEST_IS_REGULAR);
}

gboolean
ferry_checkpoint_criu_finished (const char *images)
{
  g_autofree char *stats = g_build_filename (images, "stats-dump", NULL);
  return g_file_test (stats, G_FILE_TEST_IS_REGULAR);
}

/* libcriu's notify callback takes no user data: the one dump a process does
 * at a time is described here. */
static struct
{
  const FerryDumpRequest *req;
  GError *copy_error;
  gboolean copied;
  gboolean aborted; /* the hold said no: the tree runs on */
  gboolean froze;   /* we froze the cgroup at pre-dump: we thaw it */
  FerryRootfsCopy *rootfs_copy; /* made before the freeze, finished in it */
  struct Writeback *writeback;
} dump_ctx;

static gboolean fast_freeze (const char *dir);
static void settle_netlink (const FerryDumpRequest *req);
static void writeback_dumped (struct Writeback *w);

/* Live migration's hold: tell the daemon the tree is frozen and dumped,
 * wait for its verdict. */
static gboolean
hold_commit (int fd)
{
  static const char frozen[] = "frozen\n";
  char verdict = 0;
  ssize_t n;

  if (write (fd, frozen, sizeof frozen - 1) != (ssize_t) (sizeof frozen - 1))
    return FALSE;
  do
    n = read (fd, &verdict, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 && verdict == 'c';
}

static int
dump_notify (char *action, criu_notify_arg_t na)
{
  const FerryDumpRequest *req = dump_ctx.req;

  /* CRIU freezes next, polling the v1 freezer in 100 ms steps: freezing
   * here, polled every millisecond, takes that step out of the downtime. */
  if (req != NULL && strcmp (action, "pre-dump") == 0 && req->freeze_cgroup != NULL)
    {
      dump_ctx.froze = fast_freeze (req->freeze_cgroup);
      if (dump_ctx.froze)
        settle_netlink (req);
      /* Files stand still: the rootfs copy catches up beside the dump. */
      if (dump_ctx.froze && dump_ctx.rootfs_copy != NULL)
        ferry_rootfs_copy_frozen (dump_ctx.rootfs_copy);
      if (req->frozen != NULL)
        req->frozen (req->frozen_data);
      /* A migration may sync the rootfs now, while the pages stream. */
      if (dump_ctx.froze && req->hold_fd > 0 && write (req->hold_fd, "early\n", 6) != 6)
        return 1;
      return 0;
    }
  if (req == NULL || strcmp (action, "post-dump") != 0)
    return 0;
  if (req->hold_fd > 0 && !hold_commit (req->hold_fd))
    {
      dump_ctx.aborted = TRUE;
      return 1;
    }
  writeback_dumped (dump_ctx.writeback);
  if (req->rootfs_copy_src != NULL)
    {
      FerryRootfsCopy *copy = g_steal_pointer (&dump_ctx.rootfs_copy);
      if (req->rootfs_snapshot
            ? !ferry_btrfs_snapshot (req->rootfs_copy_src, req->rootfs_copy_dst, TRUE, &dump_ctx.copy_error)
          : copy != NULL ? !ferry_rootfs_copy_finish (copy, &dump_ctx.copy_error)
                         : !ferry_copy_tree (req->rootfs_copy_src, req->rootfs_copy_dst, &dump_ctx.copy_error))
        return 1;
      dump_ctx.copied = TRUE;
    }
  if (!req->leave_running && req->dying != NULL)
    req->dying (req->dying_data);
  return 0;
}

/* TRUE when the freezer cgroup is frozen now (v1 freezer.state or
 * v2 cgroup.freeze). */
static gboolean
cgroup_frozen (const char *dir, gboolean *v1)
{
  g_autofree char *path = g_build_filename (dir, "freezer.state", NULL);
  g_autofree char *state = ferry_read_small_file (path);

  *v1 = state != NULL;
  if (state != NULL)
    return !g_str_equal (state, "THAWED");
  g_autofree char *path2 = g_build_filename (dir, "cgroup.freeze", NULL);
  g_autofree char *freeze = ferry_read_small_file (path2);
  return freeze != NULL && g_str_equal (freeze, "1");
}

static gboolean
write_value (const char *dir, const char *file, const char *value)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = write (fd, value, strlen (value)) == (ssize_t) strlen (value);
  close (fd);
  return ok;
}

static gboolean
fast_freeze (const char *dir)
{
  gboolean v1 = FALSE;

  cgroup_frozen (dir, &v1);
  if (!write_value (dir, v1 ? "freezer.state" : "cgroup.freeze", v1 ? "FROZEN" : "1"))
    return FALSE;
  for (int i = 0; i < 5000; i++)
    {
      g_autofree char *path = g_build_filename (dir, v1 ? "freezer.state" : "cgroup.events", NULL);
      g_autofree char *state = ferry_read_small_file (path);
      if (state != NULL && (v1 ? g_str_equal (state, "FROZEN") : strstr (state, "frozen 1") != NULL))
        return TRUE;
      g_usleep (1000);
    }
  return TRUE; /* CRIU goes on waiting, its own way */
}

static void
thaw (const char *dir, gboolean v1)
{
  if (!write_value (dir, v1 ? "freezer.state" : "cgroup.freeze", v1 ? "THAWED" : "0"))
    g_debug ("thawing %s: %s", dir, g_strerror (errno));
}

/* Bytes waiting on the netlink sockets of PID's network namespace (the
 * Rmem column of /proc/PID/net/netlink); -1 if unknown. */
static gint64
netlink_queued (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/net/netlink", (int) pid);
  g_autofree char *text = ferry_read_small_file (path);
  gint64 total = 0;

  if (text == NULL)
    return -1;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines + 1; *l != NULL && **l != '\0'; l++)
    {
      g_auto (GStrv) f = g_strsplit_set (*l, " ", -1);
      int column = 0;
      for (char **c = f; *c != NULL; c++)
        if (**c != '\0' && column++ == 4)
          total += g_ascii_strtoll (*c, NULL, 10);
    }
  return total;
}

/* CRIU refuses a netlink socket with unread messages ("The socket has
 * data to read"): an rtnetlink event that reached a daemon just before the
 * freeze (a router advertisement refreshing an address, for systemd's
 * networkd and resolved) stays queued in the frozen tree. Thawing for a
 * moment lets the daemon read it; a socket nobody ever reads is left to
 * CRIU after ~0.2 s. Only the init's network namespace is looked at. */
static void
settle_netlink (const FerryDumpRequest *req)
{
  gboolean v1 = FALSE;

  cgroup_frozen (req->freeze_cgroup, &v1);
  for (int i = 0; i < 20 && netlink_queued (req->init_pid) > 0; i++)
    {
      thaw (req->freeze_cgroup, v1);
      g_usleep (10000);
      fast_freeze (req->freeze_cgroup);
    }
}

/* Leaves nothing of a failed dump but the log (when it lives in the images
 * directory, it is the one thing the user needs). */
static void
remove_partial_images (const FerryDumpRequest *req)
{
  g_autofree char *log_dir = g_path_get_dirname (req->log_path);
  g_autofree char *images = realpath (req->images_dir, NULL);
  g_autofree char *logs = realpath (log_dir, NULL);

  if (images != NULL && logs != NULL && g_str_equal (images, logs))
    {
      g_autofree char *keep = g_path_get_basename (req->log_path);
      GDir *d = g_dir_open (req->images_dir, 0, NULL);
      if (d == NULL)
        return;
      for (const char *e; (e = g_dir_read_name (d)) != NULL;)
        if (!g_str_equal (e, keep))
          {
            g_autofree char *p = g_build_filename (req->images_dir, e, NULL);
            ferry_rm_rf (p, NULL);
          }
      g_dir_close (d);
      return;
    }
  ferry_rm_rf (req->images_dir, NULL);
}

/* CRIU writes stats-dump into its work directory, the log's: the images
 * keep it, as in LXD's state directories. */
static void
move_stats_to_images (const FerryDumpRequest *req)
{
  g_autofree char *log_dir = g_path_get_dirname (req->log_path);
  g_autofree char *from = g_build_filename (log_dir, "stats-dump", NULL);
  g_autofree char *to = g_build_filename (req->images_dir, "stats-dump", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;

  if (g_str_equal (from, to) || rename (from, to) == 0)
    return;
  if (g_file_get_contents (from, &data, &len, NULL) && ferry_write_file_atomic (to, data, (gssize) len, 0600, NULL))
    unlink (from);
}

static gboolean
fill_options (criu_opts *opts, const FerryDumpRequest *req, GError **error)
{
  gboolean ok = TRUE;

  criu_local_set_pid (opts, req->init_pid);
  criu_local_set_leave_running (opts, req->leave_running);
  criu_local_set_tcp_established (opts, req->tcp_established);
  criu_local_set_file_locks (opts, TRUE);
  /* Record the cgroups (restore puts the tasks into the container's new
   * cgroup); the monitor owns their properties. */
  criu_local_set_manage_cgroups_mode (opts, CRIU_CG_MODE_SOFT);
  criu_local_set_ext_unix_sk (opts, FALSE);
  criu_local_set_shell_job (opts, FALSE);
  /* Locked with nftables, through libnftables inside CRIU: the iptables
   * lock starts iptables-restore (through sh) twice at the dump and five
   * to six times at the unlock, ~50 ms each side, all of it while the
   * container is frozen. The restore unlocks by the method recorded in
   * the images. Ferry's own firewall needs nftables already. */
  ok &= criu_local_set_network_lock (opts, req->network_lock_skip ? CRIU_NETWORK_LOCK_SKIP
                                                                  : CRIU_NETWORK_LOCK_NFTABLES)
        == 0;
  if (req->freeze_cgroup != NULL)
    ok &= criu_local_set_freeze_cgroup (opts, req->freeze_cgroup) == 0;
  /* The console: the monitor holds the master, outside the dump, so the
   * slave is external; /dev/console is a bind mount of it, external too
   * (restore binds the new console there). */
  if (req->console_key != NULL)
    ok &= criu_local_add_external (opts, req->console_key) == 0;
  if (req->console_is_mount)
    ok &= criu_local_add_external (opts, "mnt[/dev/console]:console") == 0;
  for (const char *const *e = req->external; e != NULL && *e != NULL; e++)
    ok &= criu_local_add_external (opts, *e) == 0;
  /* systemd mounts hugetlbfs on /dev/hugepages (dev-hugepages.mount). CRIU
   * has no dumper of its own for it; an empty one is restored by mounting
   * it again with its options, which is what enable-fs does. Files in it
   * would be lost: hugetlb memory of the container's processes is dumped
   * with their mappings, not through this mount. */
  ok &= criu_local_add_enable_fs (opts, "hugetlbfs") == 0;
  /* libcriu 4.2 answers -ENOMEM even when it set the address. */
  if (req->page_server_address != NULL)
    (void) criu_local_set_page_server_address_port (opts, req->page_server_address, req->page_server_port);
  criu_local_set_notify_cb (opts, dump_notify);
  if (!ok)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "libcriu: cannot set the dump options");
  return ok;
}

/* The checkpoint counts only once it is on disk (the syncfs of
 * ferry_checkpoint_mark_complete). Left alone, the kernel starts writing
 * CRIU's page images back only past its dirty thresholds (gigabytes here),
 * so the whole image waited for that sync after the dump: 0.3-0.4 s of a
 * 512 MiB stateful stop. Asking for writeback every 20 ms while CRIU still
 * writes puts the disk to work during the dump (a stop: 0.94 -> 0.84 s). */
typedef struct Writeback
{
  const char *dir;
  GMutex lock;
  GCond cond;
  gboolean stop;
  gboolean dumped; /* post-dump: the pages are all written */
  gboolean wait_for_dump;
} Writeback;

static void
start_writeback (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);

  for (const char *e; d != NULL && (e = g_dir_read_name (d)) != NULL;)
    if (g_str_has_prefix (e, "pages-"))
      {
        g_autofree char *path = g_build_filename (dir, e, NULL);
        int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
          {
            sync_file_range (fd, 0, 0, SYNC_FILE_RANGE_WRITE);
            close (fd);
          }
      }
}

static gpointer
writeback_main (gpointer data)
{
  Writeback *w = data;

  g_mutex_lock (&w->lock);
  while (!w->stop)
    {
      g_cond_wait_until (&w->cond, &w->lock, g_get_monotonic_time () + 20 * G_TIME_SPAN_MILLISECOND);
      if (w->stop || (w->wait_for_dump && !w->dumped))
        continue;
      g_mutex_unlock (&w->lock);
      start_writeback (w->dir);
      g_mutex_lock (&w->lock);
      if (w->wait_for_dump)
        break;
    }
  g_mutex_unlock (&w->lock);
  return NULL;
}

static void
writeback_tell (Writeback *w, gboolean *flag)
{
  g_mutex_lock (&w->lock);
  *flag = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
writeback_dumped (struct Writeback *w)
{
  if (w != NULL)
    writeback_tell (w, &w->dumped);
}

static void
writeback_stop (Writeback *w, GThread *thread)
{
  if (thread == NULL)
    return;
  writeback_tell (w, &w->stop);
  g_thread_join (thread);
}

gboolean
ferry_checkpoint_dump (const FerryDumpRequest *req, GError **error)
{
  g_autoptr (GError) local = NULL;
  criu_opts *opts = NULL;
  int images_fd = -1, work_fd = -1, rc = -1;
  gboolean ok = FALSE, v1 = FALSE;
  gboolean was_frozen = req->freeze_cgroup != NULL && cgroup_frozen (req->freeze_cgroup, &v1);

  if (req->rootfs_copy_dst != NULL && g_file_test (req->rootfs_copy_dst, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "The rootfs copy's destination %s already exists",
                   req->rootfs_copy_dst);
      return FALSE;
    }
  if ((images_fd = open (req->images_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening the images directory %s: %s", req->images_dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (req->console_key != NULL)
    {
      g_autofree char *key_file = g_build_filename (req->images_dir, FERRY_CHECKPOINT_CONSOLE_KEY_FILE, NULL);
      g_autofree char *key = g_strconcat (req->console_key, "\n", NULL);
      if (!ferry_write_file_atomic (key_file, key, -1, 0600, error))
        goto out;
    }
  if ((opts = ferry_criu_opts_new (req->criu_path, req->log_path, &work_fd, error)) == NULL)
    goto out;
  criu_local_set_images_dir_fd (opts, images_fd);
  if (!fill_options (opts, req, error))
    goto out;

  dump_ctx.req = req;
  dump_ctx.copied = FALSE;
  dump_ctx.aborted = FALSE;
  dump_ctx.froze = FALSE;
  g_clear_error (&dump_ctx.copy_error);
  {
    /* Pages through a page server are written on the other side. A
     * snapshot's tree runs on after the dump, and writeback during its
     * memory dump lengthened the freeze (bench/checkpoint: +50 ms at 512
     * MiB): it is asked for once the pages are written (post-dump), so the
     * disk works while the rootfs copy catches up, the network is unlocked
     * and the tree thawed (the sync after the dump: 30-44 -> 5-25 ms at 64 MiB). */
    Writeback wb = { .dir = req->images_dir, .wait_for_dump = req->leave_running };
    GThread *writeback = req->page_server_address == NULL ? g_thread_new ("writeback", writeback_main, &wb) : NULL;
    dump_ctx.writeback = writeback != NULL ? &wb : NULL;
    /* The dir driver's copy of the rootfs, made before CRIU starts; only
     * what changes until the freeze is copied in it. */
    if (req->rootfs_copy_src != NULL && !req->rootfs_snapshot && req->freeze_cgroup != NULL)
      dump_ctx.rootfs_copy = ferry_rootfs_copy_start (req->rootfs_copy_src, req->rootfs_copy_dst, req->freeze_cgroup);
    rc = criu_local_dump (opts);
    dump_ctx.writeback = NULL;
    writeback_stop (&wb, writeback);
    /* CRIU failed before its post-dump. */
    if (dump_ctx.rootfs_copy != NULL)
      ferry_rootfs_copy_cancel (g_steal_pointer (&dump_ctx.rootfs_copy));
  }
  dump_ctx.req = NULL;
  /* CRIU leaves a cgroup it found frozen frozen: the tree runs on (or, killed,
   * dies) only once thawed. */
  if (dump_ctx.froze && !was_frozen)
    {
      gboolean v1_now = v1;
      if (cgroup_frozen (req->freeze_cgroup, &v1_now))
        thaw (req->freeze_cgroup, v1_now);
    }
  if (rc == 0)
    {
      ok = TRUE;
      move_stats_to_images (req);
    }
  else if (dump_ctx.aborted)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                 "The migration was called off after the dump; the container runs on as before");
  else if (dump_ctx.copy_error != NULL)
    {
      g_autoptr (GError) copy_error = g_steal_pointer (&dump_ctx.copy_error);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                   "Copying the rootfs while the container was frozen failed (the container runs on): %s",
                   copy_error->message);
    }
  else
    {
      g_autofree char *errors = ferry_criu_log_errors (req->log_path);
      g_autofree char *detail = *errors ? g_strdup (errors) : g_strdup_printf ("(libcriu returned %d)", rc);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "CRIU could not checkpoint the container; it runs on as before.\n%s\nLog: %s",
                   detail, req->log_path);
    }

out:
  if (!ok)
    {
      /* CRIU thaws on failure; make sure of it, unless it was frozen before. */
      gboolean v1_now = v1;
      if (req->freeze_cgroup != NULL && !was_frozen && cgroup_frozen (req->freeze_cgroup, &v1_now))
        thaw (req->freeze_cgroup, v1_now);
      remove_partial_images (req);
      if (req->rootfs_copy_dst != NULL && (dump_ctx.copied || rc != 0))
        ferry_rm_rf (req->rootfs_copy_dst, NULL);
    }
  if (opts != NULL)
    criu_local_free_opts (opts);
  if (work_fd >= 0)
    close (work_fd);
  close (images_fd);
  return ok;
}
