/* /1.0/instances/NAME/files?path=P: LXD's file API (lxc file push, pull,
 * edit, delete; pylxd's instance.files), on running and stopped instances.
 *
 * Every path is resolved inside the instance's rootfs by openat2 with
 * RESOLVE_IN_ROOT: a symlink, wherever it is on the path and whatever it
 * points to, is resolved as the container would resolve it, so it never
 * leads out to the host's files. The last component is never followed:
 * creating, opening for write, listing and removing all act on the entry
 * itself (O_NOFOLLOW, O_EXCL, unlinkat), and a symlink is pulled and pushed
 * as a symlink (X-LXD-type: symlink), as LXD does.
 *
 * The rootfs on disk holds the container's own ids (Ferry mounts it
 * idmapped for unprivileged containers, volatile.last_state.idmap is "[]"),
 * so X-LXD-uid and X-LXD-gid are written and read as they are: the ids the
 * container sees. Bodies stream: a push goes to a file as it arrives
 * (http-guard.c), a pull is read and sent a chunk at a time. */
#include "daemon/api/api.h"
#include "daemon/http/http-guard.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/idmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PULL_CHUNK (256 * 1024)

/* ---- paths ---- */

/* A path without "..": anything else is refused before a file is touched.
 * A relative path is relative to the container's "/", as in LXD: lxc file
 * pull and delete send "etc/hostname" for c1/etc/hostname. */
static gboolean
check_path (const char *path, GError **error)
{
  g_auto (GStrv) parts = NULL;

  if (path == NULL || *path == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Missing path argument");
      return FALSE;
    }
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (strcmp (parts[i], "..") == 0)
      {
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Path \"%s\" contains \"..\"", path);
        return FALSE;
      }
  return TRUE;
}

static int
open_rootfs (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autofree char *rootfs = ferry_layout_rootfs (d->layout, inst->row->name);
  int fd = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening the root of %s (%s): %s", inst->row->name, rootfs,
                 g_strerror (errno));
  return fd;
}

/* PATH (absolute, inside ROOTFD) opened with FLAGS, every symlink on the way
 * resolved inside the root. -1 with errno on failure. */
static int
open_in_root (int rootfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = { .flags = (guint64) (flags | O_CLOEXEC),
                          .mode = (flags & O_CREAT) ? mode : 0,
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

  while (*path == '/')
    path++;
  return (int) syscall (SYS_openat2, rootfd, *path != '\0' ? path : ".", &how, sizeof how);
}

static gboolean
set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
  int code = errsv == ENOENT ? FERRY_ERROR_NOT_FOUND
             : (errsv == ENOTDIR || errsv == EISDIR || errsv == EEXIST || errsv == ENOTEMPTY || errsv == ELOOP
                || errsv == EXDEV || errsv == ENAMETOOLONG)
                 ? FERRY_ERROR_INVALID
                 : FERRY_ERROR_FAILED;

  g_set_error (error, FERRY_ERROR, code, "%s \"%s\": %s", what, path, g_strerror (errsv));
  return FALSE;
}

/* The directory holding PATH's last component (opened in the root), and
 * that component in *NAME_OUT; "/" has none. */
static int
open_parent (int rootfd, const char *path, char **name_out, GError **error)
{
  g_autofree char *trimmed = g_strdup (path);
  g_autofree char *parent = NULL;
  gsize len = strlen (trimmed);
  const char *slash;
  int fd;

  while (len > 1 && trimmed[len - 1] == '/')
    trimmed[--len] = '\0';
  slash = strrchr (trimmed, '/');
  if (slash[1] == '\0' || strcmp (slash + 1, ".") == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Path \"%s\" names no file", path);
      return -1;
    }
  parent = g_strndup (trimmed, (gsize) (slash - trimmed));
  fd = open_in_root (rootfd, parent, O_PATH | O_DIRECTORY, 0);
  if (fd < 0)
    return set_errno_error (error, errno, "Opening the directory of", path), -1;
  /* Without its trailing slashes, which would make the kernel follow a
   * final symlink. */
  *name_out = g_strdup (slash + 1);
  return fd;
}

/* An fd of the O_PATH fd's file itself, opened again for FLAGS: the same
 * inode, whatever now is at its path. */
static int
reopen (int pathfd, int flags)
{
  g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d", pathfd);

  return open (proc, flags | O_CLOEXEC | O_NOCTTY);
}

/* ---- headers ---- */

typedef struct
{
  gint64 uid, gid; /* -1: unchanged (new files: root) */
  gint mode;       /* -1: unchanged (new files 0644, directories 0755) */
  const char *type;
  gboolean append;
} FileHeaders;

static gboolean
parse_id (SoupMessageHeaders *h, const char *name, gint64 *out, GError **error)
{
  const char *v = soup_message_headers_get_one (h, name);
  guint64 n;

  *out = -1;
  if (v == NULL || *v == '\0' || strcmp (v, "-1") == 0)
    return TRUE;
  if (!g_ascii_string_to_unsigned (v, 10, 0, G_MAXUINT32 - 1, &n, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid %s header \"%s\"", name, v);
      return FALSE;
    }
  *out = (gint64) n;
  return TRUE;
}

/* As LXD: uid, gid and mode optional, type file, directory or symlink,
 * write overwrite or append; the mode is octal with a leading 0 (lxc sends
 * "0644"), and only its permission bits count. */
static gboolean
parse_file_headers (SoupServerMessage *msg, FileHeaders *fh, GError **error)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *mode = soup_message_headers_get_one (h, "X-LXD-mode");
  const char *type = soup_message_headers_get_one (h, "X-LXD-type");
  const char *write = soup_message_headers_get_one (h, "X-LXD-write");
  guint64 m;

  if (!parse_id (h, "X-LXD-uid", &fh->uid, error) || !parse_id (h, "X-LXD-gid", &fh->gid, error))
    return FALSE;
  fh->mode = -1;
  if (mode != NULL && *mode != '\0' && strcmp (mode, "-1") != 0)
    {
      if (!g_ascii_string_to_unsigned (mode, mode[0] == '0' ? 8 : 10, 0, 07777, &m, NULL))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid X-LXD-mode header \"%s\"", mode);
          return FALSE;
        }
      fh->mode = (gint) (m & 0777);
    }
  fh->type = type != NULL && *type != '\0' ? type : "file";
  if (strcmp (fh->type, "file") != 0 && strcmp (fh->type, "directory") != 0 && strcmp (fh->type, "symlink") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Bad file type: %s", fh->type);
      return FALSE;
    }
  if (write != NULL && *write != '\0' && strcmp (write, "overwrite") != 0 && strcmp (write, "append") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Bad file write mode: %s", write);
      return FALSE;
    }
  fh->append = g_strcmp0 (write, "append") == 0;
  return TRUE;
}

static void
set_file_headers (SoupServerMessage *msg, const struct stat *st, const char *type)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  g_autoptr (GDateTime) mtime = g_date_time_new_from_unix_utc (st->st_mtime);
  g_autofree char *modified = mtime != NULL ? g_date_time_format (mtime, "%Y-%m-%d %H:%M:%S +0000 UTC") : NULL;
  char buf[32];

  /* LXD's format: Go's time.String() of the mtime in whole seconds (SFTP's). */
  if (modified != NULL)
    soup_message_headers_replace (h, "X-LXD-modified", modified);
  g_snprintf (buf, sizeof buf, "%u", (unsigned) st->st_uid);
  soup_message_headers_replace (h, "X-LXD-uid", buf);
  g_snprintf (buf, sizeof buf, "%u", (unsigned) st->st_gid);
  soup_message_headers_replace (h, "X-LXD-gid", buf);
  g_snprintf (buf, sizeof buf, "%04o", (unsigned) (st->st_mode & 0777));
  soup_message_headers_replace (h, "X-LXD-mode", buf);
  soup_message_headers_replace (h, "X-LXD-type", type);
}

/* ---- GET: a file streamed, a symlink's target, a directory's names ---- */

typedef struct
{
  int fd;
  goffset left;
} Pull;

static void
pull_free (Pull *p)
{
  if (p->fd >= 0)
    close (p->fd);
  g_free (p);
}

/* Called when the headers and then each chunk are written: the next chunk
 * is appended then, so one chunk at a time is in memory. */
static void
pull_next_chunk (SoupServerMessage *msg, gpointer data)
{
  Pull *p = data;
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  gsize want = (gsize) MIN ((goffset) PULL_CHUNK, p->left);
  char *buf;
  ssize_t n;

  if (p->left <= 0)
    {
      soup_message_body_complete (body);
      return;
    }
  buf = g_malloc (want);
  do
    n = read (p->fd, buf, want);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    {
      /* The file shrank (or failed) under us: the length is promised, so
       * the connection is cut rather than the body padded. */
      g_free (buf);
      g_warning ("Pulling a file: %s", n < 0 ? g_strerror (errno) : "the file shrank while sent");
      g_io_stream_close (soup_server_message_steal_connection (msg), NULL, NULL);
      return;
    }
  p->left -= n;
  soup_message_body_append_take (body, (guchar *) buf, (gsize) n);
}

static void
pull_file (SoupServerMessage *msg, int pathfd, const struct stat *st, const char *path, GError **error)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *disposition = NULL;
  Pull *p;
  int fd = reopen (pathfd, O_RDONLY | O_NONBLOCK);

  if (fd < 0)
    {
      set_errno_error (error, errno, "Opening", path);
      return;
    }
  p = g_new0 (Pull, 1);
  p->fd = fd;
  p->left = st->st_size;
  set_file_headers (msg, st, "file");
  soup_message_headers_set_content_type (h, "application/octet-stream", NULL);
  soup_message_headers_set_content_length (h, st->st_size);
  disposition = g_strdup_printf ("inline;filename=%s", base);
  soup_message_headers_replace (h, "Content-Disposition", disposition);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_set_status (msg, 200, NULL);
  g_signal_connect (msg, "wrote-headers", G_CALLBACK (pull_next_chunk), p);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (pull_next_chunk), p);
  g_signal_connect_swapped (msg, "finished", G_CALLBACK (pull_free), p);
}

static void
pull_symlink (SoupServerMessage *msg, int pathfd, const struct stat *st, const char *path, GError **error)
{
  char target[PATH_MAX + 1];
  ssize_t n = readlinkat (pathfd, "", target, sizeof target - 1);

  if (n < 0)
    {
      set_errno_error (error, errno, "Reading the symlink", path);
      return;
    }
  set_file_headers (msg, st, "symlink");
  {
    /* As for a file: LXD serves the target as a file named as the link. */
    g_autofree char *base = g_path_get_basename (path);
    g_autofree char *disposition = g_strdup_printf ("inline;filename=%s", base);
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Content-Disposition",
                                  disposition);
  }
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY, target, (gsize) n);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
pull_directory (SoupServerMessage *msg, int pathfd, const struct stat *st, const char *path, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int fd = reopen (pathfd, O_RDONLY | O_DIRECTORY);
  DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;

  if (dir == NULL)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      set_errno_error (error, errsv, "Listing", path);
      return;
    }
  while ((e = readdir (dir)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (e->d_name));
  closedir (dir);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  ferry_respond_sync (msg, ferry_json_string_list ((const char *const *) names->pdata));
  set_file_headers (msg, st, "directory");
}

static void
files_get (FerryRequest *req, int rootfd, const char *path, GError **error)
{
  ferry_autofd int fd = open_in_root (rootfd, path, O_PATH | O_NOFOLLOW, 0);
  struct stat st;

  if (fd < 0 || fstat (fd, &st) < 0)
    {
      set_errno_error (error, errno, "Opening", path);
      return;
    }
  if (S_ISREG (st.st_mode))
    pull_file (req->msg, fd, &st, path, error);
  else if (S_ISLNK (st.st_mode))
    pull_symlink (req->msg, fd, &st, path, error);
  else if (S_ISDIR (st.st_mode))
    pull_directory (req->msg, fd, &st, path, error);
  else
    /* Device nodes, fifos and sockets are never opened: a device node of
     * a privileged container could be the host's disk. */
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "\"%s\" is not a file, directory or symlink", path);
}

/* ---- POST: create or write ---- */

static gboolean
set_owner_mode (int fd, const FileHeaders *fh, const char *path, GError **error)
{
  if ((fh->uid >= 0 || fh->gid >= 0) && fchown (fd, (uid_t) fh->uid, (gid_t) fh->gid) < 0)
    return set_errno_error (error, errno, "Setting the owner of", path);
  if (fh->mode >= 0 && fchmod (fd, (mode_t) fh->mode) < 0)
    return set_errno_error (error, errno, "Setting the mode of", path);
  return TRUE;
}

/* The file NAME in PARENTFD for writing: the regular file that is there,
 * or a new one. Never a symlink (O_NOFOLLOW), device or fifo (only a
 * regular file found is opened again for writing). */
static int
open_for_write (int parentfd, const char *name, const FileHeaders *fh, const char *path, gboolean *created,
                GError **error)
{
  for (int attempt = 0; attempt < 3; attempt++)
    {
      ferry_autofd int found = openat (parentfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      int fd;

      if (found >= 0)
        {
          if (fstat (found, &st) < 0)
            return set_errno_error (error, errno, "Opening", path), -1;
          if (!S_ISREG (st.st_mode))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "\"%s\" exists and is not a regular file", path);
              return -1;
            }
          fd = reopen (found, O_WRONLY | (fh->append ? O_APPEND : 0));
          if (fd < 0)
            return set_errno_error (error, errno, "Opening", path), -1;
          if (!fh->append && ftruncate (fd, 0) < 0)
            {
              close (fd);
              return set_errno_error (error, errno, "Truncating", path), -1;
            }
          *created = FALSE;
          return fd;
        }
      if (errno != ENOENT)
        return set_errno_error (error, errno, "Opening", path), -1;
      fd = openat (parentfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   fh->mode >= 0 ? (mode_t) fh->mode : 0644);
      if (fd >= 0)
        {
          *created = TRUE;
          return fd;
        }
      if (errno != EEXIST)
        return set_errno_error (error, errno, "Creating", path), -1;
      /* Something appeared meanwhile: look again. */
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "\"%s\" keeps changing", path);
  return -1;
}

/* Copies the upload into FD without holding it in memory. */
static gboolean
copy_upload (int from, int to, const char *path, GError **error)
{
  for (;;)
    {
      ssize_t n = copy_file_range (from, NULL, to, NULL, 1 << 30, 0);
      if (n == 0)
        return TRUE;
      if (n > 0)
        continue;
      if (errno == EINTR)
        continue;
      /* EBADF: an O_APPEND target, which copy_file_range refuses. */
      if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS && errno != EBADF)
        return set_errno_error (error, errno, "Writing", path);
      break;
    }
  /* A file system that cannot copy ranges across: read and write. */
  char buf[65536];
  for (;;)
    {
      ssize_t n = read (from, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, errno, "Reading the upload for", path);
      if (n == 0)
        return TRUE;
      if (!ferry_write_all (to, buf, (gsize) n))
        return set_errno_error (error, errno, "Writing", path);
    }
}

/* The copy of an upload into its file, in a worker thread: a large file
 * must not hold up ferryd's main loop. */
typedef struct
{
  int from, to;
  char *path;
} CopyJob;

static void
copy_job_free (CopyJob *job)
{
  close (job->from);
  close (job->to);
  g_free (job->path);
  g_free (job);
}

static void
copy_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  CopyJob *job = data;
  GError *error = NULL;

  if (copy_upload (job->from, job->to, job->path, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
copy_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  g_autoptr (GError) error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error))
    ferry_respond_sync_empty (msg);
  else
    ferry_respond_error (msg, error);
  soup_server_message_unpause (msg);
  g_object_unref (msg);
}

/* Opens (or creates) the file and sets its owner and mode here; the body,
 * if any, is copied in by a worker thread that answers MSG. FALSE: answer
 * ERROR; TRUE with *ANSWERED unset: answer now. */
static gboolean
push_file (SoupServerMessage *msg, int parentfd, const char *name, const FileHeaders *fh, int *upload,
           const char *path, gboolean *answered, GError **error)
{
  gboolean created = FALSE;
  ferry_autofd int fd = open_for_write (parentfd, name, fh, path, &created, error);
  g_autoptr (GTask) task = NULL;
  CopyJob *job;

  if (fd < 0)
    return FALSE;
  if (!set_owner_mode (fd, fh, path, error))
    return FALSE;
  if (*upload < 0)
    return TRUE;
  job = g_new0 (CopyJob, 1);
  job->from = g_steal_fd (upload);
  job->to = g_steal_fd (&fd);
  job->path = g_strdup (path);
  task = g_task_new (NULL, NULL, copy_done, g_object_ref (msg));
  g_task_set_task_data (task, job, (GDestroyNotify) copy_job_free);
  soup_server_message_pause (msg);
  g_task_run_in_thread (task, copy_in_thread);
  *answered = TRUE;
  return TRUE;
}

static gboolean
push_directory (int parentfd, const char *name, const FileHeaders *fh, const char *path, GError **error)
{
  ferry_autofd int fd = -1;

  /* An existing directory is left as it is, as LXD does. */
  if (mkdirat (parentfd, name, fh->mode >= 0 ? (mode_t) fh->mode : 0755) < 0)
    {
      struct stat st;
      if (errno == EEXIST && fstatat (parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode))
        return TRUE;
      return set_errno_error (error, errno, "Creating the directory", path);
    }
  fd = openat (parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return set_errno_error (error, errno, "Opening", path);
  return set_owner_mode (fd, fh, path, error);
}

static gboolean
push_symlink (int parentfd, const char *name, const FileHeaders *fh, int upload, const char *path, GError **error)
{
  char target[PATH_MAX + 1], current[PATH_MAX + 1];
  ssize_t n = upload >= 0 ? read (upload, target, sizeof target - 1) : 0;
  ssize_t m;

  if (n <= 0 || memchr (target, '\0', (gsize) n) != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "A symlink's target must be the body (1 to %d bytes, no NUL)",
                   PATH_MAX - 1);
      return FALSE;
    }
  target[n] = '\0';
  /* The target is stored, never followed here: it may point anywhere. */
  m = readlinkat (parentfd, name, current, sizeof current - 1);
  if (m >= 0 && m == n && memcmp (current, target, (gsize) n) == 0)
    return TRUE;
  if (symlinkat (target, parentfd, name) < 0)
    return set_errno_error (error, errno, "Creating the symlink", path);
  if ((fh->uid >= 0 || fh->gid >= 0)
      && fchownat (parentfd, name, (uid_t) fh->uid, (gid_t) fh->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return set_errno_error (error, errno, "Setting the owner of", path);
  return TRUE;
}

/* An id outside the container's idmap would show up as nobody inside (LXD's
 * chown in the user namespace fails on it): refused. The map is the one the
 * container runs with, or will start with when stopped. */
static gboolean
check_ids_mapped (FerryDaemon *d, FerryInstance *inst, const FileHeaders *fh, GError **error)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  const char *json = ferry_instance_is_running (d, inst) ? g_hash_table_lookup (config, "volatile.idmap.current")
                                                         : NULL;
  g_autoptr (GArray) map = NULL;

  if (json == NULL)
    json = g_hash_table_lookup (config, "volatile.idmap.next");
  if (json == NULL || (fh->uid < 0 && fh->gid < 0))
    return TRUE;
  if ((map = ferry_idmap_from_json (json, error)) == NULL)
    return FALSE;
  if (map->len == 0)
    return TRUE; /* privileged: every id is the host's */
  if (fh->uid >= 0 && ferry_idmap_to_host (map, TRUE, fh->uid) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "uid %" G_GINT64_FORMAT " isn't mapped in the instance",
                   fh->uid);
      return FALSE;
    }
  if (fh->gid >= 0 && ferry_idmap_to_host (map, FALSE, fh->gid) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "gid %" G_GINT64_FORMAT " isn't mapped in the instance",
                   fh->gid);
      return FALSE;
    }
  return TRUE;
}

static void
files_post (FerryRequest *req, FerryInstance *inst, int rootfd, const char *path, GError **error)
{
  FileHeaders fh = { 0 };
  g_autofree char *upload_path = ferry_http_guard_steal_upload (req->msg, NULL);
  ferry_autofd int upload = -1;
  ferry_autofd int parentfd = -1;
  g_autofree char *name = NULL;
  gboolean ok, answered = FALSE;

  if (upload_path != NULL)
    {
      upload = open (upload_path, O_RDONLY | O_CLOEXEC);
      unlink (upload_path);
    }
  if (!parse_file_headers (req->msg, &fh, error) || !check_ids_mapped (req->daemon, inst, &fh, error))
    return;
  parentfd = open_parent (rootfd, path, &name, error);
  if (parentfd < 0)
    return;
  if (strcmp (fh.type, "directory") == 0)
    ok = push_directory (parentfd, name, &fh, path, error);
  else if (strcmp (fh.type, "symlink") == 0)
    ok = push_symlink (parentfd, name, &fh, upload, path, error);
  else
    ok = push_file (req->msg, parentfd, name, &fh, &upload, path, &answered, error);
  if (ok && !answered)
    ferry_respond_sync_empty (req->msg);
}

/* ---- DELETE ---- */

static void
files_delete (FerryRequest *req, int rootfd, const char *path, GError **error)
{
  g_autofree char *name = NULL;
  ferry_autofd int parentfd = open_parent (rootfd, path, &name, error);

  if (parentfd < 0)
    return;
  /* unlinkat never follows the last component: a symlink goes, not what
   * it points to. A directory goes only when empty, as in LXD. */
  if (unlinkat (parentfd, name, 0) < 0 && (errno != EISDIR || unlinkat (parentfd, name, AT_REMOVEDIR) < 0))
    {
      set_errno_error (error, errno, "Removing", path);
      return;
    }
  ferry_respond_sync_empty (req->msg);
}

void
ferry_api_instance_files (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  const char *query = ferry_request_query (req, "path");
  /* As the container names it, for the messages. */
  g_autofree char *path = query != NULL && *query != '/' ? g_strconcat ("/", query, NULL) : g_strdup (query);
  ferry_autofd int rootfd = -1;

  if (check_path (query, &error) && (rootfd = open_rootfs (req->daemon, inst, &error)) >= 0)
    {
      if (strcmp (req->method, "GET") == 0)
        files_get (req, rootfd, path, &error);
      else if (strcmp (req->method, "POST") == 0)
        files_post (req, inst, rootfd, path, &error);
      else
        files_delete (req, rootfd, path, &error);
    }
  if (error != NULL)
    ferry_respond_error (req->msg, error);
}
