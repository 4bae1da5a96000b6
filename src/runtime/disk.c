/* Disk devices: host paths bound into the container. The monitor opens
 * each source as a detached bind (open_tree) on the host's side; the
 * mount point is made and the bind moved onto it from inside the
 * container's mount namespace and root (rootfs.c), by the container's
 * first process at a start, by a helper joined to the container for a
 * live add. What is mounted is recorded in the run directory
 * (FERRY_DISK_RECORD): a checkpoint declares those mounts external, and a
 * restore binds them again from the sources the instance has then. */
#include "runtime/monitor.h"

#include "common/error.h"
#include "common/fs.h"
#include "runtime/rootfs.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void
ferry_disks_clear (FerryDisks *disks)
{
  for (int i = 0; i < disks->n; i++)
    if (disks->trees[i] >= 0)
      close (disks->trees[i]);
  disks->n = 0;
  g_clear_pointer (&disks->specs, g_ptr_array_unref);
}

/* In a child: TREE mounted in a mount namespace of its own, which a user
 * namespace of its own then copies: the kernel locks the read-only flag of
 * every mount such a copy takes (MNT_LOCK_READONLY), for anyone, root of
 * the host included. The copy's clone comes back through SOCK. */
static _Noreturn void
lock_child (int tree, int is_file, int sock)
{
  char control[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = (char[]) { 'l' }, .iov_len = 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  int locked;

  if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0
      || mount ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=16k") < 0
      || (is_file ? mknod ("/tmp/m", S_IFREG | 0600, 0) : mkdir ("/tmp/m", 0700)) < 0
      || syscall (SYS_move_mount, tree, "", AT_FDCWD, "/tmp/m", MOVE_MOUNT_F_EMPTY_PATH) < 0 || chdir ("/tmp") < 0
      || unshare (CLONE_NEWUSER | CLONE_NEWNS) < 0
      || (locked = (int) syscall (SYS_open_tree, AT_FDCWD, "m", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) < 0)
    _exit (errno & 0xff);
  memset (control, 0, sizeof control);
  struct cmsghdr *c = CMSG_FIRSTHDR (&mh);
  if (c == NULL)
    _exit (EPROTO);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &locked, sizeof (int));
  _exit (sendmsg (sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : EPROTO);
}

/* TREE (closed) as a detached bind whose read-only flag nobody can clear:
 * root in an unprivileged container is root of its user namespace, and
 * the mount(2) a privileged one makes is the monitor's (mount-notify.c);
 * without the lock either could remount the bind read-write. */
static int
lock_readonly (int tree, int is_file, const char *name, GError **error)
{
  char control[CMSG_SPACE (sizeof (int))], byte;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  int sv[2], locked = -1, status = 0;
  pid_t child;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || (child = fork ()) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Disk device \"%s\": locking the bind read-only: %s",
                   name, g_strerror (saved));
      close (tree);
      return -1;
    }
  if (child == 0)
    {
      close (sv[0]);
      lock_child (tree, is_file, sv[1]);
    }
  close (sv[1]);
  close (tree);
  if (recvmsg (sv[0], &mh, MSG_CMSG_CLOEXEC) == 1)
    for (struct cmsghdr *c = CMSG_FIRSTHDR (&mh); c != NULL; c = CMSG_NXTHDR (&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        memcpy (&locked, CMSG_DATA (c), sizeof (int));
  close (sv[0]);
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  if (locked < 0)
    {
      int err = WIFEXITED (status) && WEXITSTATUS (status) != 0 ? WEXITSTATUS (status) : EPROTO;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Disk device \"%s\": locking the bind read-only: %s",
                   name, g_strerror (err));
    }
  return locked;
}

/* SPEC's source as a detached bind, read-only if asked; -1 with an error
 * (FERRY_ERROR_NOT_FOUND when the source does not exist). */
static int
open_source (const FerryDiskSpec *spec, int *is_file, GError **error)
{
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
  struct stat st;
  int tree = (int) syscall (SYS_open_tree, AT_FDCWD, spec->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  int saved;

  if (tree < 0)
    {
      saved = errno;
      if (saved == ENOENT)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Disk device \"%s\": source \"%s\" does not exist",
                     spec->name, spec->source);
      else
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Disk device \"%s\": opening source \"%s\": %s",
                     spec->name, spec->source, g_strerror (saved));
      return -1;
    }
  if (fstat (tree, &st) < 0 || (!S_ISDIR (st.st_mode) && !S_ISREG (st.st_mode)))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Disk device \"%s\": source \"%s\" is neither a directory nor a regular file", spec->name,
                   spec->source);
      close (tree);
      return -1;
    }
  if (spec->readonly && syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    {
      saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Disk device \"%s\": making the bind read-only: %s",
                   spec->name, g_strerror (saved));
      close (tree);
      return -1;
    }
  *is_file = S_ISREG (st.st_mode);
  return spec->readonly ? lock_readonly (tree, *is_file, spec->name, error) : tree;
}

gboolean
ferry_disks_open (char **spec_texts, FerryDisks *disks, GError **error)
{
  disks->specs = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_disk_spec_free);
  disks->n = 0;
  for (char **t = spec_texts; t != NULL && *t != NULL; t++)
    {
      g_autoptr (GError) local = NULL;
      g_autoptr (FerryDiskSpec) spec = ferry_disk_spec_parse (*t, error);
      int is_file = 0, tree;

      if (spec == NULL)
        return FALSE;
      if (disks->n >= FERRY_DISK_MAX)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "More than %d disk devices", FERRY_DISK_MAX);
          return FALSE;
        }
      if ((tree = open_source (spec, &is_file, &local)) < 0)
        {
          /* required=false: a missing source leaves the device out. */
          if (!spec->required && g_error_matches (local, FERRY_ERROR, FERRY_ERROR_NOT_FOUND))
            {
              ferry_monitor_log ("%s; not required, left out", local->message);
              continue;
            }
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      disks->trees[disks->n] = tree;
      disks->is_file[disks->n] = is_file;
      disks->paths[disks->n] = spec->path;
      disks->n++;
      g_ptr_array_add (disks->specs, g_steal_pointer (&spec));
    }
  disks->paths[disks->n] = NULL;
  return TRUE;
}

gboolean
ferry_disks_record (const char *run_dir, GPtrArray *specs, GError **error)
{
  g_autofree char *path = g_build_filename (run_dir, FERRY_DISK_RECORD, NULL);

  return ferry_disk_record_write (path, specs, error);
}

typedef struct
{
  int err;
  char what[200];
} HelperReport;

/* Runs in a child joined to the mount namespace (and user namespace, as
 * its root) of the container of PIDFD: mounts TREE on PATH, or (TREE < 0)
 * unmounts PATH. */
static _Noreturn void
helper_main (int pidfd, gboolean userns, int tree, const char *path, int is_file, int report)
{
  HelperReport r = { 0 };
  const char *what = "joining the container for ";
  int rc = 0;

  if (setns (pidfd, CLONE_NEWNS | (userns ? CLONE_NEWUSER : 0)) < 0
      || (userns && (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)))
    rc = -errno;
  else if (tree >= 0)
    rc = ferry_rootfs_mount_disk (tree, path, is_file, &what);
  else
    rc = ferry_rootfs_umount_disk (path, &what);
  r.err = -rc;
  if (rc < 0)
    g_strlcpy (r.what, what, sizeof r.what);
  if (write (report, &r, sizeof r) < 0)
    _exit (2);
  _exit (rc < 0 ? 1 : 0);
}

/* Mounts (TREE >= 0) or unmounts SPEC in the running container of RUN_DIR
 * (or of INIT_PID, the monitor's child, when > 0). */
static gboolean
run_helper (const char *run_dir, pid_t init_pid, const FerryDiskSpec *spec, int tree, int is_file, GError **error)
{
  pid_t child;
  int pidfd = init_pid > 0 ? (int) syscall (SYS_pidfd_open, init_pid, 0)
                           : ferry_rundir_open_pidfd (run_dir, FERRY_RUNTIME_INIT_PID, &init_pid);
  int p[2] = { -1, -1 };
  HelperReport r = { .err = EPROTO };

  if (pidfd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "The container is not running");
      return FALSE;
    }
  gboolean userns = ferry_proc_same_namespace (init_pid, "user") == 0;
  if (pipe2 (p, O_CLOEXEC) < 0 || (child = fork ()) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Starting the disk helper: %s", g_strerror (saved));
      close (pidfd);
      if (p[0] >= 0)
        close (p[0]), close (p[1]);
      return FALSE;
    }
  if (child == 0)
    helper_main (pidfd, userns, tree, spec->path, is_file, p[1]);
  close (p[1]);
  close (pidfd);
  if (read (p[0], &r, sizeof r) != sizeof r)
    r.err = EPROTO;
  close (p[0]);
  while (waitpid (child, NULL, 0) < 0 && errno == EINTR)
    ;
  if (r.err != 0)
    {
      r.what[sizeof r.what - 1] = '\0';
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Disk device \"%s\": %s%s in the container: %s",
                   spec->name, r.what, spec->path, g_strerror (r.err));
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_disks_attach_live (const char *run_dir, pid_t init_pid, const FerryDiskSpec *spec, gboolean *mounted,
                         GError **error)
{
  g_autoptr (GError) local = NULL;
  int is_file = 0, tree = open_source (spec, &is_file, &local);
  gboolean ok;

  *mounted = FALSE;
  if (tree < 0)
    {
      if (!spec->required && g_error_matches (local, FERRY_ERROR, FERRY_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  ok = run_helper (run_dir, init_pid, spec, tree, is_file, error);
  close (tree);
  *mounted = ok;
  return ok;
}

/* `ferry-monitor device-attach`: SPEC_TEXT into the running container,
 * recorded with the others. */
int
ferry_monitor_device_attach (const char *run_dir, const char *spec_text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryDiskSpec) spec = ferry_disk_spec_parse (spec_text, &error);
  g_autofree char *record = g_build_filename (run_dir, FERRY_DISK_RECORD, NULL);
  g_autoptr (GPtrArray) specs = ferry_disk_record_read (record);
  gboolean mounted = FALSE;

  if (spec == NULL)
    goto fail;
  for (guint i = 0; i < specs->len; i++)
    if (strcmp (((FerryDiskSpec *) g_ptr_array_index (specs, i))->name, spec->name) == 0)
      {
        g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Disk device \"%s\" is already mounted",
                     spec->name);
        goto fail;
      }
  if (specs->len >= FERRY_DISK_MAX)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "More than %d disk devices", FERRY_DISK_MAX);
      goto fail;
    }
  if (!ferry_disks_attach_live (run_dir, 0, spec, &mounted, &error))
    goto fail;
  if (!mounted)
    return 0;
  g_ptr_array_add (specs, g_steal_pointer (&spec));
  if (!ferry_disk_record_write (record, specs, &error))
    goto fail;
  return 0;
fail:
  ferry_monitor_error ("%s", error->message);
  return 1;
}

/* `ferry-monitor device-detach`: the disk NAME out of the running
 * container (nothing to do if it was never mounted: a missing source that
 * was not required). */
int
ferry_monitor_device_detach (const char *run_dir, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *record = g_build_filename (run_dir, FERRY_DISK_RECORD, NULL);
  g_autoptr (GPtrArray) specs = ferry_disk_record_read (record);

  for (guint i = 0; i < specs->len; i++)
    {
      FerryDiskSpec *s = g_ptr_array_index (specs, i);
      if (strcmp (s->name, name) != 0)
        continue;
      if (!run_helper (run_dir, 0, s, -1, 0, &error))
        break;
      g_ptr_array_remove_index (specs, i);
      if (!ferry_disk_record_write (record, specs, &error))
        break;
      return 0;
    }
  if (error == NULL)
    return 0;
  ferry_monitor_error ("%s", error->message);
  return 1;
}

char **
ferry_disks_dump_keys (char **keys, const char *run_dir, const char *images, GError **error)
{
  g_autofree char *record = g_build_filename (run_dir, FERRY_DISK_RECORD, NULL);
  g_autofree char *copy = g_build_filename (images, FERRY_DISK_IMAGES_RECORD, NULL);
  g_autoptr (GPtrArray) specs = ferry_disk_record_read (record);
  GStrvBuilder *b = g_strv_builder_new ();
  char **all;

  if (!ferry_disk_record_write (copy, specs, error))
    {
      g_strv_builder_unref (b);
      g_strfreev (keys);
      return NULL;
    }
  g_strv_builder_addv (b, (const char **) keys);
  for (guint i = 0; i < specs->len; i++)
    {
      FerryDiskSpec *s = g_ptr_array_index (specs, i);
      g_autofree char *k = g_strdup_printf ("mnt[%s]:ferry-disk-%s", s->path, s->name);
      g_strv_builder_add (b, k);
    }
  all = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  g_strfreev (keys);
  return all;
}

/* Where a read-only disk's locked bind waits for CRIU at a restore. */
static char *
staging_path (const char *run_dir, const char *name)
{
  return g_strdup_printf ("%s/disk-%s", run_dir, name);
}

/* A restore binds each disk from the path its key names. CRIU's binds are
 * its own (nothing locked): a read-only disk is bound from a locked bind of
 * its source instead (lock_readonly), mounted for CRIU at a staging path in
 * the monitor's own mount namespace, and the clone keeps the lock. */
static char *
stage_readonly (const FerryStartOptions *o, const FerryDiskSpec *spec, GError **error)
{
  static gboolean private_ns;
  g_autofree char *staging = staging_path (o->run_dir, spec->name);
  FerryDiskSpec ro = *spec;
  int is_file = 0, tree, fd = -1;

  ro.readonly = TRUE;
  /* Unprivileged, the monitor has a mount namespace of its own already
   * (ferry_monitor_mount_idmapped_rootfs). */
  if (o->idmap == NULL && !private_ns)
    {
      if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "A mount namespace for the restore: %s",
                       g_strerror (saved));
          return NULL;
        }
      private_ns = TRUE;
    }
  if ((tree = open_source (&ro, &is_file, error)) < 0)
    return NULL;
  umount2 (staging, MNT_DETACH);
  unlink (staging);
  rmdir (staging);
  if (is_file && (fd = open (staging, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0)
    close (fd);
  if ((is_file ? access (staging, F_OK) : mkdir (staging, 0755)) < 0
      || syscall (SYS_move_mount, tree, "", AT_FDCWD, staging, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Disk device \"%s\": staging its bind at %s: %s",
                   spec->name, staging, g_strerror (saved));
      close (tree);
      return NULL;
    }
  close (tree);
  return g_steal_pointer (&staging);
}

void
ferry_disks_unstage (const char *run_dir, GPtrArray *restored)
{
  for (guint i = 0; restored != NULL && i < restored->len; i++)
    {
      FerryDiskSpec *s = g_ptr_array_index (restored, i);
      g_autofree char *staging = staging_path (run_dir, s->name);
      if (!s->readonly)
        continue;
      umount2 (staging, MNT_DETACH);
      if (unlink (staging) < 0)
        rmdir (staging);
    }
}

char **
ferry_disks_restore_keys (char **keys, const FerryStartOptions *o, GPtrArray **restored, GError **error)
{
  g_autofree char *record = g_build_filename (o->images, FERRY_DISK_IMAGES_RECORD, NULL);
  g_autoptr (GPtrArray) dumped = ferry_disk_record_read (record);
  g_autoptr (GPtrArray) now = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_disk_spec_free);
  GStrvBuilder *b = g_strv_builder_new ();
  char **all = NULL;

  *restored = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_disk_spec_free);
  for (char **t = o->disks; t != NULL && *t != NULL; t++)
    {
      FerryDiskSpec *s = ferry_disk_spec_parse (*t, error);
      if (s == NULL)
        goto out;
      g_ptr_array_add (now, s);
    }
  g_strv_builder_addv (b, (const char **) keys);
  for (guint i = 0; i < dumped->len; i++)
    {
      FerryDiskSpec *d = g_ptr_array_index (dumped, i), *cur = NULL;
      struct stat st;
      for (guint j = 0; j < now->len && cur == NULL; j++)
        if (strcmp (((FerryDiskSpec *) g_ptr_array_index (now, j))->name, d->name) == 0)
          cur = g_ptr_array_index (now, j);
      if (cur == NULL || strcmp (cur->path, d->path) != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "Disk device \"%s\" was mounted on %s when the state was saved, and the instance "
                       "has no such device now: add it back, or start without the state (--stateless)",
                       d->name, d->path);
          goto out;
        }
      if (stat (cur->source, &st) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Disk device \"%s\": source \"%s\" does not exist",
                       cur->name, cur->source);
          goto out;
        }
      g_autofree char *staged = d->readonly ? stage_readonly (o, cur, error) : NULL;
      if (d->readonly && staged == NULL)
        goto out;
      /* CRIU binds the key's path itself without following a final
       * symlink: the source as the kernel resolves it. */
      g_autofree char *real = staged ? NULL : realpath (cur->source, NULL);
      g_autofree char *k
          = g_strdup_printf ("mnt[ferry-disk-%s]:%s", cur->name, staged ? staged : real ? real : cur->source);
      g_strv_builder_add (b, k);
      FerryDiskSpec *copy = g_new0 (FerryDiskSpec, 1);
      copy->name = g_strdup (cur->name);
      copy->source = g_strdup (cur->source);
      copy->path = g_strdup (cur->path);
      copy->readonly = d->readonly;
      copy->required = cur->required;
      g_ptr_array_add (*restored, copy);
    }
  all = g_strv_builder_end (b);
out:
  g_strv_builder_unref (b);
  g_strfreev (keys);
  if (all == NULL)
    {
      ferry_disks_unstage (o->run_dir, *restored);
      g_clear_pointer (restored, g_ptr_array_unref);
    }
  return all;
}

gboolean
ferry_disks_attach_added (const FerryStartOptions *o, pid_t init_pid, GPtrArray *restored, GError **error)
{
  for (char **t = o->disks; t != NULL && *t != NULL; t++)
    {
      g_autoptr (FerryDiskSpec) spec = ferry_disk_spec_parse (*t, error);
      gboolean known = FALSE, mounted = FALSE;

      if (spec == NULL)
        return FALSE;
      for (guint i = 0; i < restored->len && !known; i++)
        known = strcmp (((FerryDiskSpec *) g_ptr_array_index (restored, i))->name, spec->name) == 0;
      if (known)
        continue;
      if (!ferry_disks_attach_live (o->run_dir, init_pid, spec, &mounted, error))
        return FALSE;
      if (mounted)
        g_ptr_array_add (restored, g_steal_pointer (&spec));
    }
  return TRUE;
}
