#include "common/tree-changes.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define HOLE_BLOCK 4096

static gboolean
fail (GError **error, int errsv, const char *what, const char *path)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s %s: %s", what, path, g_strerror (errsv));
  return FALSE;
}

int
ferry_changes_open_dir (int root, const char *path, int flags)
{
  struct open_how how = {
    .flags = (guint64) (flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
    .resolve = BENEATH,
  };

  return (int) syscall (SYS_openat2, root, *path != '\0' ? path : ".", &how, sizeof how);
}

/* PATH split into its directory ("" for the top) and its last name ("."
 * for the top itself). */
static void
split_path (const char *path, char **dir, const char **name)
{
  const char *slash = strrchr (path, '/');

  if (g_str_equal (path, "."))
    {
      *dir = g_strdup ("");
      *name = path;
      return;
    }
  *dir = slash != NULL ? g_strndup (path, (gsize) (slash - path)) : g_strdup ("");
  *name = slash != NULL ? slash + 1 : path;
}

static JsonArray *
time_array (const struct timespec *ts)
{
  JsonArray *a = json_array_new ();

  json_array_add_int_element (a, ts->tv_sec);
  json_array_add_int_element (a, ts->tv_nsec);
  return a;
}

static gint
by_name (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The names directory FD holds, sorted; NULL when it cannot be read
 * (with an error naming PATH), or, with *TOO_MANY set and no error, when
 * they come to more than MAX_BYTES in a record (a name, its quotes and
 * comma in JSON, escapes aside: a bound, not a measure). */
static GPtrArray *
read_names (int fd, gsize max_bytes, gboolean *too_many, const char *path, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int dup = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  DIR *d = dup >= 0 ? fdopendir (dup) : NULL;
  struct dirent *e;
  gsize bytes = 0;
  int errsv;

  *too_many = FALSE;
  if (d == NULL)
    {
      errsv = errno;
      if (dup >= 0)
        close (dup);
      fail (error, errsv, "Listing", path);
      return NULL;
    }
  while ((errno = 0, e = readdir (d)) != NULL)
    {
      if (g_str_equal (e->d_name, ".") || g_str_equal (e->d_name, ".."))
        continue;
      bytes += strlen (e->d_name) + 3;
      if (bytes > max_bytes)
        {
          closedir (d);
          *too_many = TRUE;
          return NULL;
        }
      g_ptr_array_add (names, g_strdup (e->d_name));
    }
  errsv = errno;
  closedir (d);
  if (errsv != 0)
    {
      fail (error, errsv, "Listing", path);
      return NULL;
    }
  g_ptr_array_sort (names, by_name);
  return g_steal_pointer (&names);
}

/* --- the source: records ---------------------------------------------------------- */

struct FerryChangesReader
{
  int root;
  GHashTable *inodes;   /* FerryInodeKey of a file with other links -> the path it was sent as */
  GHashTable *listings; /* a listed directory's path -> its names, read by _dirs_fit */
};

FerryChangesReader *
ferry_changes_reader_new (const char *root, GError **error)
{
  FerryChangesReader *r;
  int fd = open (root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    {
      fail (error, errno, "Opening", root);
      return NULL;
    }
  r = g_new0 (FerryChangesReader, 1);
  r->root = fd;
  r->inodes = g_hash_table_new_full (ferry_inode_key_hash, ferry_inode_key_equal, g_free, g_free);
  r->listings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  return r;
}

void
ferry_changes_reader_free (FerryChangesReader *r)
{
  if (r == NULL)
    return;
  close (r->root);
  g_hash_table_unref (r->inodes);
  g_hash_table_unref (r->listings);
  g_free (r);
}

/* Every xattr of the entry: through FD when it has one, else by NAME in
 * the opened directory DIR. */
static gboolean
read_xattrs (JsonObject *rec, int fd, int dir, const char *name, const char *path, GError **error)
{
  g_autofree char *at = fd < 0 ? g_strdup_printf ("/proc/self/fd/%d/%s", dir, name) : NULL;
  g_autofree char *names = NULL;
  JsonObject *xattrs = json_object_new ();
  ssize_t len;

  json_object_set_object_member (rec, "xattrs", xattrs);
  len = fd >= 0 ? flistxattr (fd, NULL, 0) : llistxattr (at, NULL, 0);
  if (len < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
    return TRUE;
  if (len > 0)
    {
      names = g_malloc ((gsize) len);
      len = fd >= 0 ? flistxattr (fd, names, (size_t) len) : llistxattr (at, names, (size_t) len);
    }
  if (len < 0)
    return fail (error, errno, "Listing the xattrs of", path);
  for (const char *n = names; n != NULL && n < names + len; n += strlen (n) + 1)
    {
      g_autofree char *value = g_malloc (XATTR_SIZE_MAX);
      ssize_t vlen = fd >= 0 ? fgetxattr (fd, n, value, XATTR_SIZE_MAX) : lgetxattr (at, n, value, XATTR_SIZE_MAX);
      g_autofree char *text = NULL;
      if (vlen < 0 && errno == ENODATA)
        continue;
      if (vlen < 0)
        return fail (error, errno, "Reading an xattr of", path);
      text = g_base64_encode ((const guchar *) value, (gsize) vlen);
      json_object_set_string_member (xattrs, n, text);
    }
  return TRUE;
}

static const char *
type_name (mode_t mode)
{
  switch (mode & S_IFMT)
    {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "symlink";
    case S_IFCHR:
      return "char";
    case S_IFBLK:
      return "block";
    case S_IFIFO:
      return "fifo";
    default:
      return "socket";
    }
}

/* A ferry_tree_state_changes path as the path of its entry ("D/." is
 * directory "D", "." the top); *DIR, unless NULL, if it names a directory. */
static char *
listed_path (const char *listed, gboolean *dir)
{
  gboolean is_dir = g_str_equal (listed, ".") || g_str_has_suffix (listed, "/.");

  if (dir != NULL)
    *dir = is_dir;
  return is_dir && !g_str_equal (listed, ".") ? g_strndup (listed, strlen (listed) - 2) : g_strdup (listed);
}

/* A directory's names (the receiver removes any other): those _dirs_fit
 * read, else read now. */
static gboolean
list_entries (FerryChangesReader *r, JsonObject *rec, int fd, const char *path, GError **error)
{
  g_autoptr (GPtrArray) names = NULL;
  g_autofree char *key = NULL;
  JsonArray *entries = json_array_new ();
  gboolean too_many;

  json_object_set_array_member (rec, "entries", entries);
  if (!g_hash_table_steal_extended (r->listings, path, (gpointer *) &key, (gpointer *) &names)
      && (names = read_names (fd, G_MAXSIZE, &too_many, path, error)) == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++)
    json_array_add_string_element (entries, g_ptr_array_index (names, i));
  return TRUE;
}

gboolean
ferry_changes_reader_dirs_fit (FerryChangesReader *r, GPtrArray *changes, gsize max_bytes)
{
  for (guint i = 0; i < changes->len; i++)
    {
      gboolean dir, too_many;
      g_autofree char *path = listed_path (g_ptr_array_index (changes, i), &dir);
      ferry_autofd int fd = -1;
      GPtrArray *names;

      if (!dir || (fd = ferry_changes_open_dir (r->root, path, O_RDONLY)) < 0)
        continue;
      if ((names = read_names (fd, max_bytes, &too_many, path, NULL)) != NULL)
        g_hash_table_replace (r->listings, g_steal_pointer (&path), names);
      else if (too_many)
        return FALSE;
    }
  return TRUE;
}

JsonObject *
ferry_changes_reader_record (FerryChangesReader *r, const char *listed, int *data, GError **error)
{
  g_autoptr (JsonObject) rec = json_object_new ();
  g_autofree char *path = NULL;
  g_autofree char *dir_path = NULL;
  const char *name;
  ferry_autofd int dir = -1;
  ferry_autofd int fd = -1;
  struct stat st;

  *data = -1;
  path = listed_path (listed, NULL);
  split_path (path, &dir_path, &name);
  if ((dir = ferry_changes_open_dir (r->root, dir_path, O_PATH)) < 0 || fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      /* Gone (the tree is frozen: removed by the host), or a directory
       * made something else: its own directory is in the list too. */
      if (errno == ENOENT || errno == ENOTDIR)
        return NULL;
      fail (error, errno, "Looking at", path);
      return NULL;
    }
  json_object_set_string_member (rec, "path", path);
  if (S_ISREG (st.st_mode) && st.st_nlink > 1)
    {
      FerryInodeKey key = { st.st_dev, st.st_ino };
      const char *first = g_hash_table_lookup (r->inodes, &key);
      if (first != NULL)
        {
          json_object_set_string_member (rec, "type", "link");
          json_object_set_string_member (rec, "to", first);
          return g_steal_pointer (&rec);
        }
      g_hash_table_insert (r->inodes, g_memdup2 (&key, sizeof key), g_strdup (path));
    }
  json_object_set_string_member (rec, "type", type_name (st.st_mode));
  json_object_set_int_member (rec, "uid", st.st_uid);
  json_object_set_int_member (rec, "gid", st.st_gid);
  json_object_set_int_member (rec, "mode", st.st_mode & 07777);
  json_object_set_array_member (rec, "atime", time_array (&st.st_atim));
  json_object_set_array_member (rec, "mtime", time_array (&st.st_mtim));
  if (S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
    {
      mode_t kind = st.st_mode & S_IFMT;
      fd = openat (dir, name, (S_ISDIR (st.st_mode) ? O_DIRECTORY : O_NONBLOCK) | O_RDONLY | O_NOFOLLOW | O_NOCTTY
                                  | O_CLOEXEC);
      if (fd < 0 || fstat (fd, &st) < 0)
        {
          fail (error, errno, "Opening", path);
          return NULL;
        }
      if ((st.st_mode & S_IFMT) != kind)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Sending %s: it changed while looked at", path);
          return NULL;
        }
    }
  if (!read_xattrs (rec, fd, dir, name, path, error))
    return NULL;
  if (S_ISDIR (st.st_mode) && !list_entries (r, rec, fd, path, error))
    return NULL;
  if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX + 1];
      ssize_t n = readlinkat (dir, name, target, sizeof target - 1);
      if (n < 0)
        {
          fail (error, errno, "Reading the symlink", path);
          return NULL;
        }
      target[n] = '\0';
      json_object_set_string_member (rec, "target", target);
    }
  if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    json_object_set_int_member (rec, "rdev", (gint64) st.st_rdev);
  if (S_ISREG (st.st_mode))
    {
      json_object_set_int_member (rec, "size", st.st_size);
      if (st.st_size > 0)
        *data = g_steal_fd (&fd);
    }
  return g_steal_pointer (&rec);
}

/* --- the target: entries made again ------------------------------------------------ */

typedef struct
{
  struct timespec times[2];
} DirTimes;

typedef struct
{
  guint32 uid, gid, mode;
  struct timespec times[2];
  GHashTable *xattrs; /* name -> GBytes */
} Attrs;

struct FerryChangesWriter
{
  int root;
  dev_t dev;
  GHashTable *dirs; /* path ("" the top) -> DirTimes to set at the end */
  /* The file being written. */
  int file;
  char *file_path;
  guint64 size, written;
  Attrs attrs;
};

FerryChangesWriter *
ferry_changes_writer_new (const char *root, GError **error)
{
  FerryChangesWriter *w;
  struct stat st;
  int fd = open (root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0 || fstat (fd, &st) < 0)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      fail (error, errsv, "Opening", root);
      return NULL;
    }
  w = g_new0 (FerryChangesWriter, 1);
  w->root = fd;
  w->dev = st.st_dev;
  w->dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  w->file = -1;
  return w;
}

static void
attrs_clear (Attrs *a)
{
  g_clear_pointer (&a->xattrs, g_hash_table_unref);
}

void
ferry_changes_writer_free (FerryChangesWriter *w)
{
  if (w == NULL)
    return;
  close (w->root);
  if (w->file >= 0)
    close (w->file);
  g_free (w->file_path);
  attrs_clear (&w->attrs);
  g_hash_table_unref (w->dirs);
  g_free (w);
}

static gboolean
invalid (GError **error, const char *path, const char *why)
{
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source sent a change this side refuses (%s): %.200s",
               why, path != NULL ? path : "");
  return FALSE;
}

/* A path a record may name: relative, each name 1-255 bytes, not "." or
 * "..", no empty name; "." alone (the top) only if TOP_OK. */
static gboolean
path_ok (const char *path, gboolean top_ok)
{
  g_auto (GStrv) parts = NULL;

  if (path == NULL || *path == '\0' || *path == '/' || strlen (path) >= PATH_MAX)
    return FALSE;
  if (g_str_equal (path, "."))
    return top_ok;
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] == '\0' || strlen (parts[i]) > 255 || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

/* [seconds, nanoseconds] */
static gboolean
get_time (JsonObject *rec, const char *member, struct timespec *ts)
{
  JsonArray *a = NULL;

  if (!ferry_json_get_array (rec, member, &a, NULL) || a == NULL || json_array_get_length (a) != 2)
    return FALSE;
  for (guint i = 0; i < 2; i++)
    {
      JsonNode *n = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
        return FALSE;
    }
  ts->tv_sec = json_array_get_int_element (a, 0);
  ts->tv_nsec = json_array_get_int_element (a, 1);
  return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

static gboolean
get_id (JsonObject *rec, const char *member, guint32 *out)
{
  gint64 v = -1;

  if (!ferry_json_get_int (rec, member, &v, NULL) || v < 0 || v >= G_MAXUINT32)
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

static gboolean
attrs_parse (JsonObject *rec, Attrs *a, const char *path, GError **error)
{
  g_autoptr (GList) members = NULL;
  JsonObject *xattrs = NULL;
  gint64 mode = -1;

  attrs_clear (a);
  if (!get_id (rec, "uid", &a->uid) || !get_id (rec, "gid", &a->gid) || !ferry_json_get_int (rec, "mode", &mode, NULL)
      || mode < 0 || mode > 07777 || !get_time (rec, "atime", &a->times[0]) || !get_time (rec, "mtime", &a->times[1])
      || !ferry_json_get_object (rec, "xattrs", &xattrs, NULL) || xattrs == NULL)
    return invalid (error, path, "its owner, mode, times or xattrs");
  a->mode = (guint32) mode;
  a->xattrs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  members = json_object_get_members (xattrs);
  for (GList *m = members; m != NULL; m = m->next)
    {
      JsonNode *n = json_object_get_member (xattrs, m->data);
      const char *text = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
                           ? json_node_get_string (n)
                           : NULL;
      gsize len = 0;
      guchar *value;

      if (text == NULL || strlen (m->data) == 0 || strlen (m->data) > XATTR_NAME_MAX)
        return invalid (error, path, "an xattr");
      value = g_base64_decode (text, &len);
      if (len > XATTR_SIZE_MAX)
        {
          g_free (value);
          return invalid (error, path, "an xattr's size");
        }
      g_hash_table_insert (a->xattrs, g_strdup (m->data), g_bytes_new_take (value, len));
    }
  return TRUE;
}

/* Those of A, and no other (a new file may have inherited a default
 * ACL; a directory kept may have had one removed). */
static gboolean
set_xattrs (const Attrs *a, int fd, const char *at, const char *path, GError **error)
{
  g_autofree char *names = NULL;
  GHashTableIter iter;
  gpointer key, value;
  ssize_t len = fd >= 0 ? flistxattr (fd, NULL, 0) : llistxattr (at, NULL, 0);

  if (len > 0)
    {
      names = g_malloc ((gsize) len);
      len = fd >= 0 ? flistxattr (fd, names, (size_t) len) : llistxattr (at, names, (size_t) len);
    }
  if (len < 0 && errno != ENOTSUP && errno != EOPNOTSUPP)
    return fail (error, errno, "Listing the xattrs of", path);
  for (const char *n = names; n != NULL && n < names + len; n += strlen (n) + 1)
    if (!g_hash_table_contains (a->xattrs, n) && (fd >= 0 ? fremovexattr (fd, n) : lremovexattr (at, n)) < 0
        && errno != ENODATA)
      return fail (error, errno, "Removing an xattr of", path);
  g_hash_table_iter_init (&iter, a->xattrs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gsize vlen;
      const void *v = g_bytes_get_data (value, &vlen);
      if ((fd >= 0 ? fsetxattr (fd, key, v, vlen, 0) : lsetxattr (at, key, v, vlen, 0)) < 0)
        return fail (error, errno, "Setting an xattr of", path);
    }
  return TRUE;
}

/* Owner, then mode (chown clears set-id bits), xattrs and (unless a
 * directory's, set at the end) times: through FD, else by NAME in DIR. */
static gboolean
set_attrs (const Attrs *a, int fd, int dir, const char *name, gboolean symlink, gboolean times, const char *path,
           GError **error)
{
  g_autofree char *at = fd < 0 ? g_strdup_printf ("/proc/self/fd/%d/%s", dir, name) : NULL;

  if ((fd >= 0 ? fchown (fd, a->uid, a->gid) : fchownat (dir, name, a->uid, a->gid, AT_SYMLINK_NOFOLLOW)) < 0)
    return fail (error, errno, "Setting the owner of", path);
  if (!symlink && (fd >= 0 ? fchmod (fd, a->mode) : fchmodat (dir, name, a->mode, AT_SYMLINK_NOFOLLOW)) < 0)
    return fail (error, errno, "Setting the mode of", path);
  if (!set_xattrs (a, fd, at, path, error))
    return FALSE;
  if (times && (fd >= 0 ? futimens (fd, a->times) : utimensat (dir, name, a->times, AT_SYMLINK_NOFOLLOW)) < 0)
    return fail (error, errno, "Setting the times of", path);
  return TRUE;
}

/* Directory DIR_PATH is about to change: the times it has now are set
 * again at the end, unless a record gives it others. */
static gboolean
keep_dir_times (FerryChangesWriter *w, int dir, const char *dir_path, const char *path, GError **error)
{
  struct stat st;
  DirTimes *t;

  if (g_hash_table_contains (w->dirs, dir_path))
    return TRUE;
  if (fstat (dir, &st) < 0)
    return fail (error, errno, "Looking at the directory of", path);
  t = g_new0 (DirTimes, 1);
  t->times[0] = st.st_atim;
  t->times[1] = st.st_mtim;
  g_hash_table_insert (w->dirs, g_strdup (dir_path), t);
  return TRUE;
}

static gboolean remove_entry (FerryChangesWriter *w, int dir, const char *name, const char *path, GError **error);

/* What directory FD holds but KEEP (NULL: everything). */
static gboolean
remove_entries (FerryChangesWriter *w, int fd, GHashTable *keep, const char *path, GError **error)
{
  gboolean too_many;
  g_autoptr (GPtrArray) names = read_names (fd, G_MAXSIZE, &too_many, path, error);

  for (guint i = 0; names != NULL && i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *sub = NULL;
      if (keep != NULL && g_hash_table_contains (keep, name))
        continue;
      sub = g_strconcat (path, "/", name, NULL);
      if (!remove_entry (w, fd, name, sub, error))
        return FALSE;
    }
  return names != NULL;
}

/* NAME in DIR, a directory with all it holds (never below a mount). */
static gboolean
remove_entry (FerryChangesWriter *w, int dir, const char *name, const char *path, GError **error)
{
  ferry_autofd int fd = -1;
  struct stat st;

  if (fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT || fail (error, errno, "Looking at", path);
  if (!S_ISDIR (st.st_mode))
    return unlinkat (dir, name, 0) == 0 || errno == ENOENT || fail (error, errno, "Removing", path);
  if (st.st_dev != w->dev)
    return fail (error, EXDEV, "Removing", path);
  if ((fd = openat (dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return fail (error, errno, "Opening", path);
  if (!remove_entries (w, fd, NULL, path, error))
    return FALSE;
  return unlinkat (dir, name, AT_REMOVEDIR) == 0 || fail (error, errno, "Removing", path);
}

/* A directory: made if missing (what was there instead removed), then
 * stripped of the names the record does not list. */
static gboolean
apply_dir (FerryChangesWriter *w, JsonObject *rec, int dir, const char *name, const char *path, GError **error)
{
  g_autoptr (GHashTable) keep = g_hash_table_new (g_str_hash, g_str_equal);
  JsonArray *entries = NULL;
  ferry_autofd int fd = -1;
  struct stat st;
  DirTimes *t;

  if (!ferry_json_get_array (rec, "entries", &entries, NULL) || entries == NULL)
    return invalid (error, path, "a directory without its entries");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonNode *n = json_array_get_element (entries, i);
      const char *e = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
                        ? json_node_get_string (n)
                        : NULL;
      if (e == NULL || strchr (e, '/') != NULL || !path_ok (e, FALSE))
        return invalid (error, path, "an entry name");
      g_hash_table_add (keep, (gpointer) e);
    }
  if (fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR (st.st_mode)
      && unlinkat (dir, name, 0) < 0)
    return fail (error, errno, "Removing", path);
  if (mkdirat (dir, name, 0700) < 0 && errno != EEXIST)
    return fail (error, errno, "Creating the directory", path);
  if ((fd = openat (dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat (fd, &st) < 0)
    return fail (error, errno, "Opening", path);
  if (st.st_dev != w->dev)
    return fail (error, EXDEV, "Writing into", path);
  if (!remove_entries (w, fd, keep, path, error) || !set_attrs (&w->attrs, fd, -1, NULL, FALSE, FALSE, path, error))
    return FALSE;
  t = g_new0 (DirTimes, 1);
  t->times[0] = w->attrs.times[0];
  t->times[1] = w->attrs.times[1];
  g_hash_table_insert (w->dirs, g_strdup (g_str_equal (path, ".") ? "" : path), t);
  return TRUE;
}

/* A further name of a file this session made (RECORD's "to"). */
static gboolean
apply_link (FerryChangesWriter *w, JsonObject *rec, int dir, const char *name, const char *path, GError **error)
{
  const char *to = NULL;
  g_autofree char *to_dir_path = NULL;
  const char *to_name;
  ferry_autofd int to_dir = -1;
  struct stat st;

  if (!ferry_json_get_string (rec, "to", &to, NULL) || !path_ok (to, FALSE))
    return invalid (error, path, "a link's other name");
  split_path (to, &to_dir_path, &to_name);
  if ((to_dir = ferry_changes_open_dir (w->root, to_dir_path, O_PATH)) < 0 || fstatat (to_dir, to_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return fail (error, errno, "Looking at", to);
  if (!S_ISREG (st.st_mode))
    return invalid (error, path, "a link to what is not a file");
  if (!remove_entry (w, dir, name, path, error))
    return FALSE;
  return linkat (to_dir, to_name, dir, name, 0) == 0 || fail (error, errno, "Linking", path);
}

/* A file made anew (what was there removed), its data to come. */
static gboolean
apply_file (FerryChangesWriter *w, JsonObject *rec, int dir, const char *name, const char *path, guint64 *size,
            GError **error)
{
  gint64 len = -1;

  if (!ferry_json_get_int (rec, "size", &len, NULL) || len < 0)
    return invalid (error, path, "a file without its size");
  if (!remove_entry (w, dir, name, path, error))
    return FALSE;
  if ((w->file = openat (dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
    return fail (error, errno, "Creating", path);
  g_free (w->file_path);
  w->file_path = g_strdup (path);
  w->size = *size = (guint64) len;
  w->written = 0;
  return len > 0 || ferry_changes_writer_commit (w, error);
}

static gboolean
apply_symlink (FerryChangesWriter *w, JsonObject *rec, int dir, const char *name, const char *path, GError **error)
{
  const char *target = NULL;

  if (!ferry_json_get_string (rec, "target", &target, NULL) || target == NULL || *target == '\0'
      || strlen (target) >= PATH_MAX)
    return invalid (error, path, "a symlink without its target");
  if (!remove_entry (w, dir, name, path, error))
    return FALSE;
  if (symlinkat (target, dir, name) < 0)
    return fail (error, errno, "Creating the symlink", path);
  return set_attrs (&w->attrs, -1, dir, name, TRUE, TRUE, path, error);
}

/* A device, fifo or socket. */
static gboolean
apply_node (FerryChangesWriter *w, JsonObject *rec, const char *type, int dir, const char *name, const char *path,
            GError **error)
{
  mode_t kind = g_str_equal (type, "char")    ? S_IFCHR
                : g_str_equal (type, "block") ? S_IFBLK
                : g_str_equal (type, "fifo")  ? S_IFIFO
                : g_str_equal (type, "socket") ? S_IFSOCK
                                               : 0;
  gint64 rdev = 0;

  if (kind == 0)
    return invalid (error, path, "an entry of no type this side knows");
  if ((kind == S_IFCHR || kind == S_IFBLK) && (!ferry_json_get_int (rec, "rdev", &rdev, NULL) || rdev < 0))
    return invalid (error, path, "a device without its number");
  if (!remove_entry (w, dir, name, path, error))
    return FALSE;
  if (mknodat (dir, name, kind | 0600, (dev_t) rdev) < 0)
    return fail (error, errno, "Creating", path);
  return set_attrs (&w->attrs, -1, dir, name, FALSE, TRUE, path, error);
}

gboolean
ferry_changes_writer_apply (FerryChangesWriter *w, JsonObject *rec, guint64 *size, GError **error)
{
  const char *path = NULL, *type = NULL, *name;
  g_autofree char *dir_path = NULL;
  ferry_autofd int dir = -1;

  *size = 0;
  if (w->file >= 0)
    return invalid (error, w->file_path, "a record before the file's data ended");
  if (!ferry_json_get_string (rec, "path", &path, NULL) || !ferry_json_get_string (rec, "type", &type, NULL)
      || path == NULL || type == NULL)
    return invalid (error, path, "a record without its path or type");
  if (!path_ok (path, g_str_equal (type, "dir")))
    return invalid (error, path, "a path that is not a relative path in the tree");
  split_path (path, &dir_path, &name);
  if ((dir = ferry_changes_open_dir (w->root, dir_path, O_PATH)) < 0)
    return fail (error, errno, "Opening the directory of", path);
  if (!keep_dir_times (w, dir, dir_path, path, error))
    return FALSE;
  if (g_str_equal (type, "link"))
    return apply_link (w, rec, dir, name, path, error);
  if (!attrs_parse (rec, &w->attrs, path, error))
    return FALSE;
  if (g_str_equal (type, "dir"))
    return apply_dir (w, rec, dir, name, path, error);
  if (g_str_equal (type, "file"))
    return apply_file (w, rec, dir, name, path, size, error);
  if (g_str_equal (type, "symlink"))
    return apply_symlink (w, rec, dir, name, path, error);
  return apply_node (w, rec, type, dir, name, path, error);
}

static gboolean
all_zero (const guint8 *p, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (p[i] != 0)
      return FALSE;
  return TRUE;
}

gboolean
ferry_changes_writer_data (FerryChangesWriter *w, const guint8 *data, gsize len, GError **error)
{
  if (w->file < 0 || len > w->size - w->written)
    return invalid (error, w->file_path, "more data than the file's size");
  while (len > 0)
    {
      /* Up to the next block boundary of the file. The file is new:
       * zeroes not written read as zeroes, a block of them is a hole. */
      gsize n = MIN (len, HOLE_BLOCK - (w->written % HOLE_BLOCK));
      if (!all_zero (data, n))
        for (gsize off = 0; off < n;)
          {
            ssize_t k = pwrite (w->file, data + off, n - off, (off_t) (w->written + off));
            if (k < 0 && errno == EINTR)
              continue;
            if (k <= 0)
              return fail (error, k < 0 ? errno : EIO, "Writing", w->file_path);
            off += (gsize) k;
          }
      w->written += n;
      data += n;
      len -= n;
    }
  return TRUE;
}

gboolean
ferry_changes_writer_commit (FerryChangesWriter *w, GError **error)
{
  ferry_autofd int fd = w->file;

  w->file = -1;
  if (fd < 0 || w->written != w->size)
    return invalid (error, w->file_path, "a file's data cut short");
  if (ftruncate (fd, (off_t) w->size) < 0)
    return fail (error, errno, "Sizing", w->file_path);
  return set_attrs (&w->attrs, fd, -1, NULL, FALSE, TRUE, w->file_path, error);
}

gboolean
ferry_changes_writer_finish (FerryChangesWriter *w, GError **error)
{
  GHashTableIter iter;
  gpointer key, value;

  if (w->file >= 0)
    return invalid (error, w->file_path, "the end before the file's data ended");
  g_hash_table_iter_init (&iter, w->dirs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const DirTimes *t = value;
      ferry_autofd int fd = ferry_changes_open_dir (w->root, key, O_RDONLY);
      /* A directory the records then removed has no times to keep. */
      if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
        continue;
      if (fd < 0 || futimens (fd, t->times) < 0)
        return fail (error, errno, "Setting the times of", *(char *) key != '\0' ? (char *) key : ".");
    }
  return TRUE;
}

gboolean
ferry_changes_copy (const char *src, const char *dst, GPtrArray *changes, GError **error)
{
  g_autoptr (FerryChangesReader) r = ferry_changes_reader_new (src, error);
  g_autoptr (FerryChangesWriter) w = r != NULL ? ferry_changes_writer_new (dst, error) : NULL;
  g_autofree guint8 *buf = g_malloc (1 << 16);

  if (w == NULL)
    return FALSE;
  for (guint i = 0; i < changes->len; i++)
    {
      GError *local = NULL;
      ferry_autofd int data = -1;
      g_autoptr (JsonObject) rec = ferry_changes_reader_record (r, g_ptr_array_index (changes, i), &data, &local);
      guint64 size = 0;

      if (local != NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      if (rec == NULL)
        continue; /* gone */
      if (!ferry_changes_writer_apply (w, rec, &size, error))
        return FALSE;
      if (data < 0)
        continue;
      for (guint64 left = size; left > 0;)
        {
          ssize_t n = read (data, buf, MIN (left, (guint64) (1 << 16)));
          if (n <= 0)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s in %s: %s",
                           (const char *) g_ptr_array_index (changes, i), src,
                           n < 0 ? g_strerror (errno) : "it is shorter than it was");
              return FALSE;
            }
          if (!ferry_changes_writer_data (w, buf, (gsize) n, error))
            return FALSE;
          left -= (guint64) n;
        }
      if (!ferry_changes_writer_commit (w, error))
        return FALSE;
    }
  return ferry_changes_writer_finish (w, error);
}
