/* A directory of regular files over the fs channel, without a process on
 * either side: the CRIU images of a live move (all but the pages, which
 * went through the page server). An rsync session for them cost ~100 ms of
 * the freeze (two processes, their handshake over the link); this is a
 * header, the bytes and the next header.
 *
 * On the channel: per file a text message {"name": NAME, "size": N},
 * then N bytes in binary messages; then a text message "EOF". The
 * receiver writes NAME (a plain file name) into the directory it chose,
 * creating it (never replacing what is there). */
#include "migrate/migration.h"
#include "common/tree-changes.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1024 * 1024)

gboolean
ferry_migration_file_name_ok (const char *name)
{
  gsize len = name != NULL ? strlen (name) : 0;

  if (len == 0 || len > 255 || g_str_equal (name, ".") || g_str_equal (name, ".."))
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (*c == '/' || (guchar) *c < 0x20 || *c == 0x7f)
      return FALSE;
  return TRUE;
}

/* SIZE bytes of FD in binary messages. */
static gboolean
send_body (FerryWsConn *ch, int fd, const char *name, guint64 size, guint8 *buf, guint64 *bytes, GError **error)
{
  for (guint64 left = size; left > 0;)
    {
      ssize_t n = read (fd, buf, MIN (left, CHUNK));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", name,
                       n < 0 ? g_strerror (errno) : "it shrank while sent");
          return FALSE;
        }
      if (!ferry_ws_conn_send (ch, FERRY_WS_BINARY, buf, (gsize) n, error))
        return FALSE;
      left -= (guint64) n;
      *bytes += (guint64) n;
    }
  return TRUE;
}

static gboolean
send_head (FerryWsConn *ch, JsonObject *head, GError **error)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), head);
  g_autofree char *text = ferry_json_to_string (node, FALSE);

  return ferry_ws_conn_send_text (ch, text, error);
}

static gboolean
send_one (FerryWsConn *ch, int dir, const char *name, guint8 *buf, guint64 *bytes, GError **error)
{
  g_autoptr (JsonObject) head = json_object_new ();
  ferry_autofd int fd = openat (dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Sending %s: %s", name,
                   fd < 0 || saved != 0 ? g_strerror (saved) : "not a regular file");
      return FALSE;
    }
  json_object_set_string_member (head, "name", name);
  json_object_set_int_member (head, "size", st.st_size);
  return send_head (ch, head, error) && send_body (ch, fd, name, (guint64) st.st_size, buf, bytes, error);
}

gboolean
ferry_migration_files_send (FerryMigrationLink *link, const char *src, guint64 *bytes, GError **error)
{
  FerryWsConn *ch = ferry_migration_link_channel (link, FERRY_MIGRATION_FS);
  g_autoptr (GDir) d = g_dir_open (src, 0, error);
  g_autofree guint8 *buf = g_malloc (CHUNK);
  gboolean ok;
  int dir;

  if (d == NULL)
    return FALSE;
  if ((dir = open (src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", src, g_strerror (saved));
      return FALSE;
    }
  ok = TRUE;
  for (const char *e; ok && (e = g_dir_read_name (d)) != NULL;)
    ok = send_one (ch, dir, e, buf, bytes, error);
  close (dir);
  /* The receiver waits for the end either way. */
  return ferry_ws_conn_send_text (ch, "EOF", ok ? error : NULL) && ok;
}

typedef gboolean (*BodySink) (gpointer sink, const guint8 *data, gsize len, const char *name, GError **error);

/* FD: its next LEN bytes. */
static gboolean
write_fd (gpointer sink, const guint8 *data, gsize len, const char *name, GError **error)
{
  if (!ferry_write_all (GPOINTER_TO_INT (sink), data, len))
    {
      int saved = errno != 0 ? errno : EIO;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s: %s", name, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* The body of one file: SIZE bytes of binary messages, each to SINK. */
static gboolean
receive_body (FerryWsConn *ch, BodySink write, gpointer sink, const char *name, guint64 size, GByteArray *buf,
              guint64 *bytes, GError **error)
{
  for (guint64 got = 0; got < size;)
    {
      FerryWsKind kind;
      if (!ferry_ws_conn_recv (ch, &kind, buf, NULL, error))
        return FALSE;
      if (kind != FERRY_WS_BINARY || buf->len > size - got)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source sent more or other than %s's %" G_GUINT64_FORMAT " bytes",
                       name, size);
          return FALSE;
        }
      if (!write (sink, buf->data, buf->len, name, error))
        return FALSE;
      got += buf->len;
      *bytes += buf->len;
    }
  return TRUE;
}

static gboolean
is_eof (FerryWsKind kind, GByteArray *buf)
{
  return kind == FERRY_WS_TEXT && buf->len == 3 && memcmp (buf->data, "EOF", 3) == 0;
}

gboolean
ferry_migration_files_receive (FerryMigrationLink *link, const char *dest, guint max_files, guint64 max_bytes,
                               guint64 *bytes, GError **error)
{
  FerryWsConn *ch = ferry_migration_link_channel (link, FERRY_MIGRATION_FS);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint64 total = 0;
  guint files = 0;
  int dir;

  if (g_mkdir_with_parents (dest, 0700) < 0 || (dir = open (dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", dest, g_strerror (saved));
      return FALSE;
    }
  for (;;)
    {
      g_autoptr (JsonObject) head = NULL;
      const char *name = NULL;
      gint64 size = -1;
      FerryWsKind kind;
      gboolean ok;
      int fd;

      if (!ferry_ws_conn_recv (ch, &kind, buf, NULL, error))
        break;
      if (is_eof (kind, buf))
        {
          close (dir);
          return TRUE;
        }
      if (kind != FERRY_WS_TEXT
          || (head = ferry_json_parse_object ((const char *) buf->data, buf->len, FALSE, error)) == NULL
          || !ferry_json_get_string (head, "name", &name, error) || !ferry_json_get_int (head, "size", &size, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source sent a file without its header");
          break;
        }
      if (!ferry_migration_file_name_ok (name) || size < 0 || ++files > max_files
          || (guint64) size > max_bytes - MIN (total, max_bytes))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "the source sent a file this side refuses (a name that is not a file name, more than %u files "
                       "or %" G_GUINT64_FORMAT " bytes): %.64s",
                       max_files, max_bytes, name != NULL ? name : "");
          break;
        }
      total += (guint64) size;
      if ((fd = openat (dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s in %s: %s", name, dest, g_strerror (saved));
          break;
        }
      ok = receive_body (ch, write_fd, GINT_TO_POINTER (fd), name, (guint64) size, buf, bytes, error);
      close (fd);
      if (!ok)
        break;
    }
  close (dir);
  return FALSE;
}

/* --- a tree's changes (common/tree-changes.h) ------------------------------------------ */

gboolean
ferry_migration_changes_send (FerryMigrationLink *link, FerryChangesReader *r, GPtrArray *changes, guint64 *bytes,
                              GError **error)
{
  FerryWsConn *ch = ferry_migration_link_channel (link, FERRY_MIGRATION_FS);
  g_autofree guint8 *buf = g_malloc (CHUNK);
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < changes->len; i++)
    {
      const char *path = g_ptr_array_index (changes, i);
      ferry_autofd int data = -1;
      g_autoptr (GError) local = NULL;
      g_autoptr (JsonObject) rec = ferry_changes_reader_record (r, path, &data, &local);
      if (rec == NULL)
        {
          ok = local == NULL;
          if (!ok)
            g_propagate_error (error, g_steal_pointer (&local));
          continue;
        }
      ok = send_head (ch, rec, error)
           && (data < 0
               || send_body (ch, data, path, (guint64) json_object_get_int_member (rec, "size"), buf, bytes, error));
    }
  /* The receiver waits for the end either way. */
  return ferry_ws_conn_send_text (ch, "EOF", ok ? error : NULL) && ok;
}

static gboolean
write_changes (gpointer sink, const guint8 *data, gsize len, const char *name, GError **error)
{
  return ferry_changes_writer_data (sink, data, len, error);
}

gboolean
ferry_migration_changes_receive (FerryMigrationLink *link, const char *root, guint64 *bytes, GError **error)
{
  FerryWsConn *ch = ferry_migration_link_channel (link, FERRY_MIGRATION_FS);
  g_autoptr (FerryChangesWriter) w = ferry_changes_writer_new (root, error);
  g_autoptr (GByteArray) buf = g_byte_array_new ();

  if (w == NULL)
    return FALSE;
  for (;;)
    {
      g_autoptr (JsonObject) rec = NULL;
      FerryWsKind kind;
      guint64 size = 0;

      if (!ferry_ws_conn_recv (ch, &kind, buf, NULL, error))
        return FALSE;
      if (is_eof (kind, buf))
        return ferry_changes_writer_finish (w, error);
      if (kind != FERRY_WS_TEXT)
        {
          g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the source sent data without its record");
          return FALSE;
        }
      if ((rec = ferry_json_parse_object ((const char *) buf->data, buf->len, FALSE, error)) == NULL
          || !ferry_changes_writer_apply (w, rec, &size, error))
        return FALSE;
      if (size > 0
          && (!receive_body (ch, write_changes, w, json_object_get_string_member (rec, "path"), size, buf, bytes,
                             error)
              || !ferry_changes_writer_commit (w, error)))
        return FALSE;
    }
}
