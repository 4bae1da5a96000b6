#include "daemon/api/api.h"
#include "daemon/hostinfo.h"
#include "daemon/operations.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "runtime/runtime.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the report's own files get: the mode ferryd's umask (0077) gave
 * them when they were written to a directory and packed by tar. */
#define REPORT_FILE_MODE 0600
#define REPORT_DIR_MODE 0700

typedef struct archive ArchiveWriter;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveWriter, archive_write_free)
typedef struct archive ArchiveLookup;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveLookup, archive_read_free)
typedef struct archive_entry ArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveEntry, archive_entry_free)
typedef struct archive_entry_linkresolver ArchiveLinks;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveLinks, archive_entry_linkresolver_free)

typedef struct
{
  char *file;
  char *text;
} ReportText;

typedef struct
{
  FerryDaemon *daemon;
  SoupServerMessage *msg;
  char *name;
  char *top;        /* the tarball's top directory, ferry-report-NAME-XXXXXX */
  GPtrArray *texts; /* ReportText: what the main thread gathered */
  char *log_dir;    /* the instance's log directory */
  char *ferryd_log;
  char *monitor; /* ferry-monitor, which reports the CRIU it would use */
  pid_t init_pid;
  GBytes *tarball;
  GError *error;
} ReportData;

/* The tarball being written, straight into memory (it is the answer). */
typedef struct
{
  struct archive *a;
  struct archive *names; /* uid/gid -> user/group names, recorded as tar does */
  struct archive_entry_linkresolver *links;
  const char *top;
  time_t now;
} Pack;

static void
report_text_free (gpointer p)
{
  ReportText *t = p;

  g_free (t->file);
  g_free (t->text);
  g_free (t);
}

static void
report_data_free (ReportData *data)
{
  g_free (data->name);
  g_free (data->top);
  g_clear_pointer (&data->texts, g_ptr_array_unref);
  g_free (data->log_dir);
  g_free (data->ferryd_log);
  g_free (data->monitor);
  g_clear_pointer (&data->tarball, g_bytes_unref);
  g_clear_error (&data->error);
  g_object_unref (data->msg);
  g_free (data);
}

static void
add_text (ReportData *data, const char *file, char *text)
{
  ReportText *t = g_new0 (ReportText, 1);

  t->file = g_strdup (file);
  t->text = text;
  g_ptr_array_add (data->texts, t);
}

static void
add_json (ReportData *data, const char *file, JsonNode *node)
{
  add_text (data, file, ferry_json_to_string (node, TRUE));
}

static gboolean
pack_failed (struct archive *a, GError **error)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Packing the report: %s", archive_error_string (a));
  return FALSE;
}

static la_ssize_t
append_to_bytes (struct archive *a, void *user_data, const void *buf, size_t len)
{
  (void) a;
  g_byte_array_append (user_data, buf, (guint) len);
  return (la_ssize_t) len;
}

/* An entry TOP/REL of the given type, owned by ferryd, made now. */
static struct archive_entry *
new_entry (Pack *p, const char *rel, unsigned type, mode_t perm)
{
  struct archive_entry *e = archive_entry_new ();
  g_autofree char *path = rel ? g_build_filename (p->top, rel, NULL) : g_strdup (p->top);

  archive_entry_copy_pathname (e, path);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_uid (e, geteuid ());
  archive_entry_set_gid (e, getegid ());
  archive_entry_set_mtime (e, p->now, 0);
  return e;
}

static gboolean
pack_header (Pack *p, struct archive_entry *e, GError **error)
{
  const char *user = archive_read_disk_uname (p->names, archive_entry_uid (e));
  const char *group = archive_read_disk_gname (p->names, archive_entry_gid (e));

  if (user != NULL)
    archive_entry_copy_uname (e, user);
  if (group != NULL)
    archive_entry_copy_gname (e, group);
  if (archive_write_header (p->a, e) < ARCHIVE_WARN)
    return pack_failed (p->a, error);
  return TRUE;
}

static gboolean
pack_text (Pack *p, const char *file, const char *text, GError **error)
{
  g_autoptr (ArchiveEntry) e = new_entry (p, file, AE_IFREG, REPORT_FILE_MODE);
  gsize len = text ? strlen (text) : 0;

  archive_entry_set_size (e, (la_int64_t) len);
  if (!pack_header (p, e, error))
    return FALSE;
  if ((len > 0 && archive_write_data (p->a, text, len) < 0)
      || archive_write_finish_entry (p->a) < ARCHIVE_WARN)
    return pack_failed (p->a, error);
  return TRUE;
}

/* Streams the header's size of bytes from fd. A file that shrank meanwhile
 * is padded with zeros (by libarchive), one that grew is cut at that size:
 * a log being written is copied as it was when looked at. */
static gboolean
pack_data (Pack *p, struct archive_entry *e, int fd, GError **error)
{
  char buf[64 * 1024];
  la_int64_t left = archive_entry_size (e);

  if (!pack_header (p, e, error))
    return FALSE;
  while (left > 0)
    {
      ssize_t n = read (fd, buf, (size_t) MIN ((la_int64_t) sizeof buf, left));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (archive_write_data (p->a, buf, (size_t) n) < 0)
        return pack_failed (p->a, error);
      left -= n;
    }
  if (archive_write_finish_entry (p->a) < ARCHIVE_WARN)
    return pack_failed (p->a, error);
  return TRUE;
}

/* Copies the file at PATH (ferryd's log, a mountinfo) as FILE; a missing
 * or unreadable one is left out. /proc files say size 0 and are small: those
 * are read whole first. */
static gboolean
pack_copy (Pack *p, const char *path, const char *file, GError **error)
{
  ferry_autofd int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return TRUE;
  if (st.st_size == 0)
    {
      g_autoptr (GString) contents = g_string_new (NULL);
      char buf[4096];
      ssize_t n;
      while ((n = read (fd, buf, sizeof buf)) != 0)
        {
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return TRUE;
          g_string_append_len (contents, buf, n);
        }
      return pack_text (p, file, contents->str, error);
    }
  g_autoptr (ArchiveEntry) e = new_entry (p, file, AE_IFREG, REPORT_FILE_MODE);
  archive_entry_set_size (e, st.st_size);
  return pack_data (p, e, fd, error);
}

static gboolean pack_tree (Pack *p, int dirfd, const char *rel, GError **error);

/* One entry NAME of the directory dirfd, as tar would record it. Each file is
 * opened beneath dirfd without following a symlink, and described by what
 * was opened. What vanished or cannot be read is left out. */
static gboolean
pack_tree_entry (Pack *p, int dirfd, const char *name, const char *rel, GError **error)
{
  g_autoptr (ArchiveEntry) e = archive_entry_new ();
  g_autofree char *path = g_build_filename (p->top, rel, NULL);
  ferry_autofd int fd = -1;
  struct stat st;

  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISSOCK (st.st_mode))
    return TRUE; /* tar ignores sockets */
  if (S_ISDIR (st.st_mode) || S_ISREG (st.st_mode))
    {
      int flags = S_ISDIR (st.st_mode) ? O_DIRECTORY : O_NONBLOCK;
      fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags);
      if (fd < 0 || fstat (fd, &st) < 0 || !(S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)))
        return TRUE;
    }
  archive_entry_copy_stat (e, &st);
  archive_entry_copy_pathname (e, path);
  if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX + 1];
      ssize_t n = readlinkat (dirfd, name, target, sizeof target - 1);
      if (n < 0)
        return TRUE;
      target[n] = '\0';
      archive_entry_copy_symlink (e, target);
    }
  if (S_ISDIR (st.st_mode))
    return pack_header (p, e, error) && pack_tree (p, fd, rel, error);
  if (!S_ISREG (st.st_mode))
    return pack_header (p, e, error);
  {
    struct archive_entry *spare = NULL;
    archive_entry_linkify (p->links, &e, &spare); /* a second name of a file is a hard link */
  }
  if (archive_entry_hardlink (e) != NULL)
    return pack_header (p, e, error);
  return pack_data (p, e, fd, error);
}

static gboolean
pack_tree (Pack *p, int dirfd, const char *rel, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int fd = fcntl (dirfd, F_DUPFD_CLOEXEC, 3);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;

  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return TRUE;
    }
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (de->d_name));
  closedir (d);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *child = g_build_filename (rel, name, NULL);
      if (!pack_tree_entry (p, dirfd, name, child, error))
        return FALSE;
    }
  return TRUE;
}

/* The instance's log directory as logs/. */
static gboolean
pack_logs (Pack *p, const char *log_dir, GError **error)
{
  ferry_autofd int fd = open (log_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr (ArchiveEntry) e = NULL;
  g_autofree char *path = NULL;
  struct stat st;

  if (fd < 0 || fstat (fd, &st) < 0)
    return TRUE;
  e = archive_entry_new ();
  path = g_build_filename (p->top, "logs", NULL);
  archive_entry_copy_stat (e, &st);
  archive_entry_copy_pathname (e, path);
  return pack_header (p, e, error) && pack_tree (p, fd, "logs", error);
}

/* Runs a command; its output (and failure, if any) is the text of FILE. */
static gboolean
pack_command (Pack *p, const char *file, const char *const *argv, GError **error)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) local = NULL;
  int status = 0;
  g_autoptr (GString) text = g_string_new (NULL);

  g_string_append_printf (text, "$");
  for (int i = 0; argv[i] != NULL; i++)
    g_string_append_printf (text, " %s", argv[i]);
  g_string_append_c (text, '\n');
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                     &local))
    g_string_append_printf (text, "(could not run: %s)\n", local->message);
  else
    g_string_append_printf (text, "%s%s", out ? out : "", err ? err : "");
  return pack_text (p, file, text->str, error);
}

static gboolean
pack_report (ReportData *data, struct archive *a, GError **error)
{
  const char *uname_argv[] = { "uname", "-a", NULL };
  const char *dmesg_argv[] = { "dmesg", NULL };
  const char *links_argv[] = { "ip", "-d", "link", "show", NULL };
  const char *addr_argv[] = { "ip", "addr", "show", NULL };
  const char *route_argv[] = { "ip", "route", "show", NULL };
  const char *bridge_argv[] = { "bridge", "link", "show", NULL };
  const char *criu_argv[] = { data->monitor, "check-criu", NULL };
  g_autoptr (ArchiveLookup) names = archive_read_disk_new ();
  g_autoptr (ArchiveLinks) links = archive_entry_linkresolver_new ();
  g_autoptr (ArchiveEntry) top = NULL;
  g_autofree char *container_mountinfo = NULL;
  Pack p = { .a = a, .names = names, .links = links, .top = data->top, .now = time (NULL) };

  archive_read_disk_set_standard_lookup (names);
  archive_entry_linkresolver_set_strategy (links, archive_format (a));
  top = new_entry (&p, NULL, AE_IFDIR, REPORT_DIR_MODE);
  if (!pack_header (&p, top, error))
    return FALSE;
  for (guint i = 0; i < data->texts->len; i++)
    {
      ReportText *t = g_ptr_array_index (data->texts, i);
      if (!pack_text (&p, t->file, t->text, error))
        return FALSE;
    }
  if (data->init_pid > 0)
    container_mountinfo = g_strdup_printf ("/proc/%d/mountinfo", (int) data->init_pid);
  return pack_command (&p, "uname.txt", uname_argv, error)
         && pack_command (&p, "dmesg.txt", dmesg_argv, error)
         && pack_command (&p, "network-links.txt", links_argv, error)
         && pack_command (&p, "network-addresses.txt", addr_argv, error)
         && pack_command (&p, "network-routes.txt", route_argv, error)
         && pack_command (&p, "network-bridges.txt", bridge_argv, error)
         && pack_command (&p, "criu-check.txt", criu_argv, error)
         && pack_copy (&p, "/proc/self/mountinfo", "host-mountinfo.txt", error)
         && (container_mountinfo != NULL
                 ? pack_copy (&p, container_mountinfo, "container-mountinfo.txt", error)
                 : pack_text (&p, "container-mountinfo.txt", "(the instance is not running)\n", error))
         && pack_copy (&p, data->ferryd_log, "ferryd.log", error) && pack_logs (&p, data->log_dir, error);
}

/* The whole tarball, as `tar -czf` wrote it (GNU format, gzip), in BYTES. */
static gboolean
pack_in_memory (ReportData *data, GByteArray *bytes, GError **error)
{
  g_autoptr (ArchiveWriter) a = archive_write_new ();

  if (archive_write_set_format_gnutar (a) != ARCHIVE_OK || archive_write_add_filter_gzip (a) != ARCHIVE_OK
      || archive_write_open (a, bytes, NULL, append_to_bytes, NULL) != ARCHIVE_OK)
    return pack_failed (a, error);
  if (!pack_report (data, a, error))
    return FALSE;
  if (archive_write_close (a) != ARCHIVE_OK)
    return pack_failed (a, error);
  return TRUE;
}

static void
gather_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ReportData *data = task_data;
  g_autoptr (GByteArray) bytes = g_byte_array_new ();

  if (!pack_in_memory (data, bytes, &data->error))
    {
      g_task_return_boolean (task, FALSE);
      return;
    }
  data->tarball = g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
  g_task_return_boolean (task, TRUE);
}

static void
gathered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReportData *data = user_data;

  if (data->error != NULL)
    ferry_respond_error (data->msg, data->error);
  else
    {
      g_autofree char *disposition
          = g_strdup_printf ("attachment; filename=ferry-report-%s.tar.gz", data->name);
      ferry_respond_raw (data->msg, "application/gzip", data->tarball);
      soup_message_headers_replace (soup_server_message_get_response_headers (data->msg),
                                    "Content-Disposition", disposition);
    }
  soup_server_message_unpause (data->msg);
  report_data_free (data);
}

/* ferry-report-NAME-XXXXXX, as mkdtemp() named the directory tar used to
 * pack: two reports unpack side by side. */
static char *
report_top_name (const char *name)
{
  static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  GString *top = g_string_new (NULL);

  g_string_printf (top, "ferry-report-%s-", name);
  for (int i = 0; i < 6; i++)
    g_string_append_c (top, chars[g_random_int_range (0, (gint32) sizeof chars - 1)]);
  return g_string_free (top, FALSE);
}

void
ferry_api_report (FerryRequest *req, FerryInstance *inst)
{
  FerryDaemon *d = req->daemon;
  ReportData *data = g_new0 (ReportData, 1);
  g_autoptr (GTask) task = NULL;
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
  FerryRuntimeState st = { 0 };
  g_autoptr (JsonNode) info = NULL;
  g_autoptr (JsonNode) server = NULL;
  g_autoptr (JsonNode) ops = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer value;

  data->daemon = d;
  data->msg = g_object_ref (req->msg);
  data->name = g_strdup (inst->row->name);
  data->top = report_top_name (inst->row->name);
  data->texts = g_ptr_array_new_with_free_func (report_text_free);
  data->log_dir = ferry_layout_log_dir (d->layout, inst->row->name);
  data->ferryd_log = g_strdup (d->layout->daemon_log);
  data->monitor = g_strdup (d->monitor_path);
  if (ferry_runtime_read_state (run_dir, &st, NULL) && st.running)
    data->init_pid = st.init_pid;

  /* What needs the daemon's state is gathered here, in the main thread. */
  server = ferry_api_server_json (d);
  add_json (data, "host-info.json", server);
  info = ferry_instance_to_json (d, inst, TRUE);
  add_json (data, "instance-info.json", info);
  {
    JsonObject *o = json_node_get_object (info);
    g_autoptr (JsonBuilder) eb = json_builder_new ();
    g_autoptr (JsonNode) expanded = NULL;
    json_builder_begin_object (eb);
    json_builder_set_member_name (eb, "expanded_config");
    json_builder_add_value (eb, json_node_copy (json_object_get_member (o, "expanded_config")));
    json_builder_set_member_name (eb, "expanded_devices");
    json_builder_add_value (eb, json_node_copy (json_object_get_member (o, "expanded_devices")));
    json_builder_end_object (eb);
    expanded = json_builder_get_root (eb);
    add_json (data, "expanded-config.json", expanded);
  }
  /* Failed operations still remembered: the commands that went wrong. */
  json_builder_begin_array (b);
  g_hash_table_iter_init (&iter, d->operations);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    json_builder_add_value (b, ferry_operation_to_json (value));
  json_builder_end_array (b);
  ops = json_builder_get_root (b);
  add_json (data, "recent-operations.json", ops);

  task = g_task_new (NULL, NULL, gathered, data);
  g_task_set_task_data (task, data, NULL);
  soup_server_message_pause (req->msg);
  g_task_run_in_thread (task, gather_in_thread);
}
