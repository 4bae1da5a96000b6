/* Requests' trust and body caps, checked before bodies are read (see
 * http-guard.h). Main-thread only. */
#include "config.h"
#include "daemon/http/http-guard.h"
#include "daemon/http/request.h"
#include "daemon/http/https-listener.h"
#include "daemon/http/tls.h"
#include "daemon/http/unix-listener.h"
#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define GUARD_KEY "ferry-http-guard"
/* After a refusal, what the client still sends is read and dropped for a
 * while (as Apache's lingering close), so that closing with unread data
 * does not send a reset that could destroy the response before the client
 * reads it. Bounded in time and bytes: the refused body is not taken. */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)
/* An upload stops when less than 1 % of ROOT's disk (at most 64 MiB)
 * would be left, checked every UPLOAD_CHECK_EVERY bytes. */
#define UPLOAD_RESERVE_MAX ((guint64) 64 * 1024 * 1024)
#define UPLOAD_CHECK_EVERY (16 * 1024 * 1024)

typedef struct
{
  gboolean trusted;
  char *fingerprint;
  gsize cap; /* 0 for an upload (no cap) */
  gsize received;
  int upload_fd;
  char *upload_path; /* removed with the guard unless stolen */
} Guard;

static void
guard_free (Guard *guard)
{
  if (guard->upload_fd >= 0)
    close (guard->upload_fd);
  if (guard->upload_path != NULL)
    unlink (guard->upload_path);
  g_free (guard->upload_path);
  g_free (guard->fingerprint);
  g_free (guard);
}

static Guard *
guard_of (SoupServerMessage *msg)
{
  return g_object_get_data (G_OBJECT (msg), GUARD_KEY);
}

gboolean
ferry_http_guard_trusted (SoupServerMessage *msg, const char **fingerprint_out)
{
  Guard *guard = guard_of (msg);

  if (fingerprint_out != NULL)
    *fingerprint_out = guard != NULL ? guard->fingerprint : NULL;
  return guard != NULL && guard->trusted;
}

void
ferry_http_guard_request_read (SoupServerMessage *msg)
{
  Guard *guard = guard_of (msg);

  ferry_https_conn_request_read (msg);
  if (guard != NULL && guard->upload_fd >= 0)
    {
      close (guard->upload_fd);
      guard->upload_fd = -1;
    }
}

char *
ferry_http_guard_steal_upload (SoupServerMessage *msg, goffset *size_out)
{
  Guard *guard = guard_of (msg);

  if (guard == NULL || guard->upload_path == NULL)
    return NULL;
  if (size_out != NULL)
    *size_out = (goffset) guard->received;
  return g_steal_pointer (&guard->upload_path);
}

#define HTTPS_KEY "ferry-http-guard-https"

static gboolean
came_over_https (SoupServerMessage *msg)
{
  return g_object_get_data (G_OBJECT (msg), HTTPS_KEY) != NULL;
}

static GSocket *
message_socket (SoupServerMessage *msg)
{
  return came_over_https (msg) ? ferry_https_conn_socket (msg) : ferry_unix_conn_socket (msg);
}

/* ---- refusing a request before its body ---- */

typedef struct
{
  GIOStream *stream;
  GSocket *socket;
  char *response;
  guint timeout;
  GSource *drain;
  gsize drained;
} Refusal;

static void
refusal_end (Refusal *r)
{
  if (r->timeout != 0)
    g_source_remove (r->timeout);
  if (r->drain != NULL)
    {
      g_source_destroy (r->drain);
      g_source_unref (r->drain);
    }
  g_io_stream_close (r->stream, NULL, NULL);
  g_object_unref (r->stream);
  g_object_unref (r->socket);
  g_free (r->response);
  g_free (r);
}

static gboolean
linger_over (gpointer data)
{
  Refusal *r = data;

  r->timeout = 0;
  refusal_end (r);
  return G_SOURCE_REMOVE;
}

static gboolean
drain_input (GSocket *sock, GIOCondition condition, gpointer data)
{
  Refusal *r = data;
  char buf[16384];
  gssize n = g_socket_receive_with_blocking (sock, buf, sizeof buf, FALSE, NULL, NULL);

  if (n > 0)
    r->drained += (gsize) n;
  if (n > 0 && r->drained < LINGER_MAX_BYTES)
    return G_SOURCE_CONTINUE;
  /* End of stream, error, or enough: nothing more to wait for. */
  g_source_unref (g_steal_pointer (&r->drain));
  refusal_end (r);
  return G_SOURCE_REMOVE;
}

static void
response_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Refusal *r = data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      refusal_end (r);
      return;
    }
  /* Our side is done; theirs is read (and dropped) until they stop. */
  g_socket_shutdown (r->socket, FALSE, TRUE, NULL);
  r->drain = g_socket_create_source (r->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (r->drain, (GSourceFunc) (void (*) (void)) drain_input, r, NULL);
  g_source_attach (r->drain, NULL);
  r->timeout = g_timeout_add (LINGER_MS, linger_over, r);
}

/* Answers msg with an error envelope and closes its connection, taking the
 * connection from libsoup before it reads any (more) of the body. */
static void
refuse (SoupServerMessage *msg, int status, const char *message)
{
  GSocket *sock = message_socket (msg);
  g_autofree char *body = ferry_json_error_text (status, message);
  Refusal *r;

  g_debug ("Refused %s %s before its body: %d %s", soup_server_message_get_method (msg),
           g_uri_get_path (soup_server_message_get_uri (msg)), status, message);
  if (sock == NULL)
    {
      /* Not a socket we know: let libsoup read and drop the body. */
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
      ferry_respond_error_literal (msg, status, message);
      return;
    }
  r = g_new0 (Refusal, 1);
  r->socket = g_object_ref (sock);
  r->stream = soup_server_message_steal_connection (msg);
  r->response = g_strdup_printf ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                 "Connection: close\r\n\r\n%s",
                                 status, soup_status_get_phrase (status), strlen (body), body);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (r->stream), r->response, strlen (r->response),
                                   G_PRIORITY_DEFAULT, NULL, response_written, r);
}

/* ---- the checks ---- */

static gboolean
peer_is_root (SoupServerMessage *msg)
{
  GSocket *sock = ferry_unix_conn_socket (msg);
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (sock == NULL)
    return FALSE;
  if (getsockopt (g_socket_get_fd (sock), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return FALSE;
  return cred.uid == 0;
}

/* The path without its trailing slashes equals want. */
static gboolean
path_is (SoupServerMessage *msg, const char *want)
{
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  gsize len = strlen (path);

  while (len > 1 && path[len - 1] == '/')
    len--;
  return len == strlen (want) && strncmp (path, want, len) == 0;
}

static gboolean
is_image_upload (SoupServerMessage *msg)
{
  const char *type = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);

  /* api/images.c answers JSON (remote sources) and multipart (split images)
   * with an error: those stay small documents. */
  if (strcmp (soup_server_message_get_method (msg), "POST") != 0)
    return FALSE;
  if (path_is (msg, "/1.0/images"))
    return type == NULL || (strcmp (type, "application/json") != 0 && !g_str_has_prefix (type, "multipart/"));
  /* lxc import: a backup tarball as the body of an instance create. */
  return (path_is (msg, "/1.0/instances") || path_is (msg, "/1.0/containers")) && type != NULL
         && strcmp (type, "application/octet-stream") == 0;
}

/* Room an upload may still take under ROOT/images, where uploads stream
 * to: what is free but a reserve for the containers on the same disk. */
static guint64
upload_room (FerryDaemon *d)
{
  struct statvfs sv;
  guint64 avail, reserve;

  if (statvfs (d->layout->images, &sv) < 0)
    return G_MAXUINT64;
  avail = (guint64) sv.f_bavail * sv.f_frsize;
  reserve = MIN ((guint64) sv.f_blocks * sv.f_frsize / 100, UPLOAD_RESERVE_MAX);
  return avail > reserve ? avail - reserve : 0;
}

/* POST /1.0/instances/NAME/files (or /1.0/containers/...): a file pushed
 * into an instance (api/files.c), of any size. */
static gboolean
is_file_push (SoupServerMessage *msg)
{
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  g_auto (GStrv) parts = NULL;
  guint n = 0;

  if (strcmp (soup_server_message_get_method (msg), "POST") != 0)
    return FALSE;
  parts = g_strsplit (path, "/", -1);
  n = g_strv_length (parts);
  while (n > 0 && *parts[n - 1] == '\0')
    n--;
  return n == 5 && *parts[0] == '\0' && strcmp (parts[1], "1.0") == 0
         && (strcmp (parts[2], "instances") == 0 || strcmp (parts[2], "containers") == 0) && *parts[3] != '\0'
         && strcmp (parts[4], "files") == 0;
}

static gboolean
start_upload (FerryDaemon *d, SoupServerMessage *msg, Guard *guard)
{
  guard->upload_path = g_build_filename (d->layout->images, "upload-XXXXXX", NULL);
  guard->upload_fd = g_mkstemp_full (guard->upload_path, O_RDWR | O_CLOEXEC, 0600);
  if (guard->upload_fd < 0)
    {
      g_autofree char *message = g_strdup_printf ("Saving upload: %s", g_strerror (errno));
      g_clear_pointer (&guard->upload_path, g_free);
      refuse (msg, 500, message);
      return FALSE;
    }
  /* Written to the file chunk by chunk instead of kept in memory. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  return TRUE;
}

static void
got_headers (SoupServerMessage *msg, gpointer user_data)
{
  FerryDaemon *d = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding = soup_message_headers_get_encoding (headers);
  goffset declared
      = encoding == SOUP_ENCODING_CONTENT_LENGTH ? soup_message_headers_get_content_length (headers) : 0;
  gboolean has_body = declared > 0 || encoding == SOUP_ENCODING_CHUNKED;
  gboolean https = came_over_https (msg);
  Guard *guard = g_new0 (Guard, 1);
  g_autofree char *fingerprint = NULL;

  guard->upload_fd = -1;
  g_object_set_data_full (G_OBJECT (msg), GUARD_KEY, guard, (GDestroyNotify) guard_free);
  if (!https)
    guard->trusted = peer_is_root (msg);
  else
    {
      guard->trusted = ferry_trust_check (d, msg, &fingerprint);
      guard->fingerprint = g_steal_pointer (&fingerprint);
      if (guard->trusted)
        ferry_https_conn_set_trusted (msg);
      ferry_https_conn_progress (msg);
    }
  if (!https && !guard->trusted)
    {
      refuse (msg, 403, "Only root may use the local socket");
      return;
    }
  if (!guard->trusted)
    {
      /* The only body an untrusted client may send is a certificate
       * request; any other is refused, unread (the handler would say 403). */
      if (has_body
          && !(strcmp (soup_server_message_get_method (msg), "POST") == 0 && path_is (msg, "/1.0/certificates")))
        {
          refuse (msg, 403, "not authorized");
          return;
        }
      guard->cap = FERRY_HTTP_UNTRUSTED_BODY_MAX;
    }
  else if (has_body && (is_image_upload (msg) || is_file_push (msg)))
    {
      /* Refused before a byte is written when it cannot fit; a chunked
       * body (lxc import sends one) is watched as it comes (got_chunk). */
      if (declared > 0 && (guint64) declared > upload_room (d))
        {
          g_autofree char *message = g_strdup_printf (
              "Not enough free space for the upload: %" G_GINT64_FORMAT " bytes", (gint64) declared);
          refuse (msg, 507, message);
          return;
        }
      start_upload (d, msg, guard);
      return;
    }
  else
    guard->cap = FERRY_HTTP_TRUSTED_BODY_MAX;
  if (declared > 0 && (guint64) declared > guard->cap)
    {
      g_autofree char *message = g_strdup_printf (
          "Request body too large: %" G_GINT64_FORMAT " bytes (at most %zu)", (gint64) declared, guard->cap);
      refuse (msg, 413, message);
    }
}

static void
got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  Guard *guard = guard_of (msg);
  gsize len = 0;
  const char *data = g_bytes_get_data (chunk, &len);

  if (guard == NULL)
    return;
  guard->received += len;
  ferry_https_conn_progress (msg);
  if (guard->upload_fd >= 0)
    {
      /* Stopped before it fills the disk the containers live on. */
      if (guard->received / UPLOAD_CHECK_EVERY != (guard->received - len) / UPLOAD_CHECK_EVERY
          && upload_room (user_data) == 0)
        {
          refuse (msg, 507, "Not enough free space for the upload");
          return;
        }
      if (!ferry_write_all (guard->upload_fd, data, len))
        {
          g_autofree char *message = g_strdup_printf ("Saving upload: %s", g_strerror (errno));
          refuse (msg, errno == ENOSPC ? 507 : 500, message);
        }
      return;
    }
  /* Chunked bodies (or lying lengths) are stopped at the cap. */
  if (guard->received > guard->cap)
    {
      g_autofree char *message = g_strdup_printf ("Request body too large (at most %zu bytes)", guard->cap);
      refuse (msg, 413, message);
    }
}

static void
request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  FerryDaemon *d = user_data;

  if (server != d->server)
    g_object_set_data (G_OBJECT (msg), HTTPS_KEY, GINT_TO_POINTER (1));
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers), user_data);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (got_chunk), user_data);
}

void
ferry_http_guard_attach (FerryDaemon *d, SoupServer *server)
{
  g_signal_connect (server, "request-started", G_CALLBACK (request_started), d);
}
