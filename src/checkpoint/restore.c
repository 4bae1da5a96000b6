/* Restore of a container's process tree as a child of the caller (the
 * container's monitor): CRIU's swrk runs as our child and forks the restored
 * init with CLONE_PARENT, so the monitor reaps it as it would a fresh one. */
#include "checkpoint/checkpoint.h"
#include "checkpoint/criu-opts.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libcriu's notify callback takes no user data: the one restore a process
 * does at a time is described here. */
static const FerryRestoreRequest *restore_req;

static int
restore_notify(char *action, criu_notify_arg_t na)
{
  if (restore_req != NULL && restore_req->pre_resume != NULL && strcmp(action, "pre-resume") == 0)
    return restore_req->pre_resume();
  if (restore_req != NULL && restore_req->namespaces_ready != NULL && strcmp(action, "setup-namespaces") == 0)
    return restore_req->namespaces_ready(restore_req->namespaces_data);
  if (restore_req != NULL && restore_req->restored != NULL && strcmp(action, "post-restore") == 0)
    return restore_req->restored(restore_req->restored_data);
  return 0;
}

static gboolean
fill_options (criu_opts *opts, const FerryRestoreRequest *req, GError **error)
{
  g_autofree char *key_file = g_build_filename (req->images_dir, FERRY_CHECKPOINT_CONSOLE_KEY_FILE, NULL);
  g_autofree char *console_key = ferry_read_small_file (key_file);
  gboolean ok = TRUE;

  ok &= criu_local_set_root (opts, req->rootfs) == 0;
  criu_local_set_tcp_established (opts, req->tcp_established);
  criu_local_set_file_locks (opts, TRUE);
  criu_local_set_shell_job (opts, FALSE);
  /* The monitor made the cgroup with its limits: CRIU moves the tasks into
   * it (soft: no properties on a cgroup it did not create), whatever the
   * path at dump time was. */
  criu_local_set_manage_cgroups_mode (opts, CRIU_CG_MODE_SOFT);
  if (req->cgroup_root != NULL)
    ok &= criu_local_add_cg_root (opts, NULL, req->cgroup_root) == 0;
  /* Without external interfaces nothing is locked at dump (network-lock
   * skip): nothing to unlock here either. */
  if (req->network_lock_skip)
    ok &= criu_local_set_network_lock (opts, CRIU_NETWORK_LOCK_SKIP) == 0;
  for (const char *const *e = req->external; e != NULL && *e != NULL; e++)
    ok &= criu_local_add_external (opts, *e) == 0;
  if (console_key != NULL && *console_key != '\0')
    {
      if (req->console_slave < 0 || req->console_path == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The checkpoint has a console but none was given");
          return FALSE;
        }
      /* Every fd of the dumped console becomes the new slave, and the
       * container's /dev/console a bind mount of it. */
      ok &= criu_local_add_inherit_fd (opts, req->console_slave, console_key) == 0;
      ok &= criu_local_add_ext_mount (opts, "console", req->console_path) == 0;
    }
    if (req->pre_resume != NULL || req->namespaces_ready != NULL || req->restored != NULL)
      criu_local_set_notify_cb(opts, restore_notify);
    if (!ok && error != NULL && *error == NULL)
      g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "libcriu: cannot set the restore options");
    return ok;
}

/* CRIU reads some images from inside the restored tree, as the root of its
 * user namespace (host uid UID): the directory and its files become that
 * root's. One (timens-0.img) it reads before it writes the namespace's maps,
 * as nobody: the files are readable by others too, the directory
 * searchable. It is reached by descriptor; its parents stay closed. */
static gboolean
give_images_to (const char *images, uid_t uid, gid_t gid, GError **error)
{
  g_autoptr (GDir) dir = g_dir_open (images, 0, error);
  gboolean ok;
  int fd;

  if (dir == NULL)
    return FALSE;
  ok = (fd = open (images, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) >= 0;
  for (const char *e; ok && (e = g_dir_read_name (dir)) != NULL;)
    {
      struct stat st;
      ok = fstatat (fd, e, &st, AT_SYMLINK_NOFOLLOW) == 0;
      /* A symlink of a view (images on another file system) stays as it is. */
      if (ok && S_ISREG (st.st_mode))
        ok = fchownat (fd, e, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 && fchmodat (fd, e, 0644, 0) == 0;
    }
  ok = ok && fchown (fd, uid, gid) == 0 && fchmod (fd, 0711) == 0;
  if (!ok)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Giving the checkpoint %s to the container's root: %s",
                   images, g_strerror (saved));
    }
  if (fd >= 0)
    close (fd);
  return ok;
}

static char *
view_parent_for (const char *images_dir, const char *log_dir)
{
  struct stat images_st, log_st;

  if (log_dir == NULL)
    return NULL;
  if (stat (images_dir, &images_st) == 0 && stat (log_dir, &log_st) == 0 && images_st.st_dev != log_st.st_dev)
    return g_path_get_dirname (images_dir);
  return g_strdup (log_dir);
}

pid_t
ferry_checkpoint_restore (const FerryRestoreRequest *req, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *log_dir = req->log_path ? g_path_get_dirname(req->log_path) : NULL;
  g_autofree char *view = NULL;
  criu_opts *opts = NULL;
  int images_fd, work_fd = -1;
  pid_t pid = 0;

  /* In CRIU's work directory: it goes on the filesystem of the logs,
   * unless the images are on another (a btrfs pool's): then beside them,
   * where hard links work and no closed directory is in the way. */
  g_autofree char *view_parent = view_parent_for (req->images_dir, log_dir);
  if (req->inherited_filter != NULL && view_parent != NULL
      && (view = ferry_checkpoint_images_without_filter(req->images_dir, view_parent, req->inherited_filter,
                                                        req->inherited_filter_len, &local))
             == NULL
      && local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return 0;
  }
  if (req->images_owner != 0 && !give_images_to(view ? view : req->images_dir, req->images_owner, req->images_group, error)) {
    if (view != NULL)
      ferry_rm_rf(view, NULL);
    return 0;
  }
  if ((images_fd = open(view ? view : req->images_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0) {
    int saved = errno;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Opening the images directory %s: %s",
                req->images_dir, g_strerror(saved));
    if (view != NULL)
      ferry_rm_rf(view, NULL);
    return 0;
  }
  if ((opts = ferry_criu_opts_new (req->criu_path, req->log_path, &work_fd, error)) == NULL)
    goto out;
  criu_local_set_images_dir_fd (opts, images_fd);
  if (!fill_options (opts, req, error))
    goto out;
  restore_req = req;
  int rc = criu_local_restore_child (opts);
  restore_req = NULL;
  if (rc > 0)
    pid = rc;
  else
    {
      g_autofree char *errors = ferry_criu_log_errors (req->log_path);
      g_autofree char *detail = *errors ? g_strdup (errors) : g_strdup_printf ("(libcriu returned %d)", rc);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "CRIU could not restore the container; the checkpoint is kept.\n%s\nLog: %s",
                   detail, req->log_path);
    }

out:
  if (opts != NULL)
    criu_local_free_opts (opts);
  if (work_fd >= 0)
    close (work_fd);
  close (images_fd);
  if (view != NULL)
    ferry_rm_rf(view, NULL);
  return pid;
}
