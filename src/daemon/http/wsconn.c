/* Blocking RFC 6455 websockets for migration channels (see wsconn.h). */
#include "daemon/http/wsconn.h"
#include "daemon/http/wsframe.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Frames we send carry at most SEND_CHUNK bytes; a peer's message (its
 * continuation frames summed) may be up to FERRY_WS_MAX_MESSAGE, read in pieces of
 * at most SEND_CHUNK so that a declared length costs memory only as the
 * bytes arrive. */
#define SEND_CHUNK (1024 * 1024)
/* The server's answer to the upgrade request, headers and blank line. */
#define UPGRADE_ANSWER_MAX (16 * 1024)
/* Masking keys drawn from the kernel per getrandom(2). */
#define MASK_POOL 64
#define CHANNEL_SHUT "the migration channel was shut after a failure on this server"

struct FerryWsConn
{
  GIOStream *stream;
  GInputStream *in;
  GOutputStream *out;
  gboolean is_client;  /* clients mask their frames, servers must not */
  guint64 max_message; /* a peer's longer message ends the connection (1009) */
  GMutex send_lock;
  guint8 *send_buf;           /* header + masked payload of a client's frame, under send_lock */
  guint32 masks[MASK_POOL];   /* random masking keys, under send_lock... */
  guint masks_left;           /* ...of which the first masks_left are unused */
  guint8 *early;              /* read with the server's 101: the start of its first frame */
  gsize early_len, early_pos; /* its length, and how much of it was read */
  GCancellable *cancel;       /* cancelled by ferry_ws_conn_shutdown */
  int fd;                     /* the TCP socket underneath, to shut, or -1 */
};

FerryWsConn *
ferry_ws_conn_new (GIOStream *stream, gboolean is_client)
{
  FerryWsConn *c = g_new0 (FerryWsConn, 1);

  c->stream = g_object_ref (stream);
  c->in = g_io_stream_get_input_stream (stream);
  c->out = g_io_stream_get_output_stream (stream);
  c->is_client = is_client;
  c->max_message = FERRY_WS_MAX_MESSAGE;
  c->cancel = g_cancellable_new ();
  c->fd = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (stream), "ferry-socket-fd")) - 1;
  if (c->fd < 0 && G_IS_SOCKET_CONNECTION (stream))
    c->fd = g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream)));
  g_mutex_init (&c->send_lock);
  return c;
}

void
ferry_ws_conn_free (FerryWsConn *c)
{
  if (c == NULL)
    return;
  g_io_stream_close (c->stream, NULL, NULL);
  g_object_unref (c->stream);
  g_object_unref (c->cancel);
  g_mutex_clear (&c->send_lock);
  g_free (c->send_buf);
  g_free (c->early);
  g_free (c);
}

void
ferry_ws_tune_socket (int fd)
{
  int one = 1, size = 4 * 1024 * 1024;
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;

  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (getsockname (fd, (struct sockaddr *) &sa, &len) == 0 && sa.ss_family != AF_UNIX)
    {
      /* A peer that vanished without a reset (a cut cable, a firewall)
       * must not keep the source frozen for TCP's 15 minutes: unacked data
       * for 15 s, or 5 s of silence and 3 unanswered probes, end it. */
      int user_timeout = 15000, idle = 5, interval = 2, count = 3;
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      setsockopt (fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      setsockopt (fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
      setsockopt (fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
      setsockopt (fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    }
}

void
ferry_ws_conn_shutdown (FerryWsConn *c)
{
  if (c == NULL)
    return;
  g_cancellable_cancel (c->cancel);
  /* The peer learns it at once, instead of filling a window nobody reads. */
  if (c->fd >= 0)
    shutdown (c->fd, SHUT_RDWR);
}

gboolean
ferry_ws_conn_peer_closed (FerryWsConn *c)
{
  struct pollfd p = { .fd = c != NULL ? c->fd : -1, .events = POLLIN | POLLRDHUP };

  if (p.fd < 0 || poll (&p, 1, 0) <= 0)
    return FALSE;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static gboolean
peer_gone (GError **error, GError *cause)
{
  if (cause != NULL && g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, CHANNEL_SHUT);
  else
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the connection to the other server was lost (%s)",
                 cause ? cause->message : "end of stream");
  return FALSE;
}

static gboolean
read_exact (FerryWsConn *c, void *buf, gsize len, GError **error)
{
  gsize early = 0, got = 0;
  g_autoptr (GError) local = NULL;

  if (c->early != NULL)
    {
      early = MIN (len, c->early_len - c->early_pos);
      memcpy (buf, c->early + c->early_pos, early);
      c->early_pos += early;
      if (c->early_pos == c->early_len)
        g_clear_pointer (&c->early, g_free);
    }
  if (early < len
      && (!g_input_stream_read_all (c->in, (guint8 *) buf + early, len - early, &got, c->cancel, &local)
          || got != len - early))
    return peer_gone (error, local);
  return TRUE;
}

static gboolean
write_all (FerryWsConn *c, const void *buf, gsize len, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!g_output_stream_write_all (c->out, buf, len, NULL, c->cancel, &local))
    return peer_gone (error, local);
  return TRUE;
}

static gboolean
random_bytes (void *buf, gsize len, GError **error)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t n = getrandom ((guint8 *) buf + got, len - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "no random bytes for the websocket: %s",
                       g_strerror (errno));
          return FALSE;
        }
      got += (gsize) n;
    }
  return TRUE;
}

/* A fresh masking key per frame from the kernel's CSPRNG (RFC 6455 5.3:
 * unpredictable, so that a peer's payload cannot steer what an
 * intermediary sees on the wire), drawn MASK_POOL at a time so that small
 * frames do not cost a system call each. A zero key would send the
 * payload as it is: it is skipped. The caller holds send_lock. */
static gboolean
next_mask (FerryWsConn *c, guint8 mask[4], GError **error)
{
  guint32 key = 0;

  while (key == 0)
    {
      if (c->masks_left == 0)
        {
          if (!random_bytes (c->masks, sizeof c->masks, error))
            return FALSE;
          c->masks_left = MASK_POOL;
        }
      key = c->masks[--c->masks_left];
    }
  memcpy (mask, &key, 4);
  return TRUE;
}

/* Sends one frame; the caller holds send_lock. */
static gboolean
send_frame (FerryWsConn *c, guint8 opcode, gboolean fin, const void *data, gsize len, GError **error)
{
  guint8 header[FERRY_WS_HEADER_MAX], mask[4];
  gsize n;

  g_assert (len <= SEND_CHUNK);
  if (!c->is_client)
    {
      n = ferry_ws_frame_header_write (header, opcode, fin, len, NULL);
      return write_all (c, header, n, error) && (len == 0 || write_all (c, data, len, error));
    }
  /* The caller's bytes stay untouched: the masked copy goes out in one write. */
  if (!next_mask (c, mask, error))
    return FALSE;
  if (c->send_buf == NULL)
    c->send_buf = g_malloc (FERRY_WS_HEADER_MAX + SEND_CHUNK);
  n = ferry_ws_frame_header_write (c->send_buf, opcode, fin, len, mask);
  if (len > 0)
    memcpy (c->send_buf + n, data, len);
  ferry_ws_mask (c->send_buf + n, len, mask, 0);
  return write_all (c, c->send_buf, n + len, error);
}

/* Tells the peer why we end the connection, without blocking: a peer that
 * does not read, or a sender stuck in a write, must not hold up the end of
 * the connection. Best effort: a close frame that does not fit now is not
 * sent. */
static void
send_close (FerryWsConn *c, guint16 code)
{
  guint8 frame[FERRY_WS_HEADER_MAX + 2], mask[4];
  gsize n;

  if (!G_IS_POLLABLE_OUTPUT_STREAM (c->out) || !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (c->out))
      || !g_mutex_trylock (&c->send_lock))
    return;
  if (!c->is_client || next_mask (c, mask, NULL))
    {
      n = ferry_ws_frame_header_write (frame, FERRY_WS_OP_CLOSE, TRUE, 2, c->is_client ? mask : NULL);
      frame[n] = (guint8) (code >> 8);
      frame[n + 1] = (guint8) code;
      if (c->is_client)
        ferry_ws_mask (frame + n, 2, mask, 0);
      g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (c->out), frame, n + 2, NULL, NULL);
    }
  g_mutex_unlock (&c->send_lock);
}

/* Binary data goes out as messages of at most SEND_CHUNK bytes (a byte
 * stream does not care where they split, and the receiver holds one at a
 * time); a longer text message is fragmented into continuation frames. */
gboolean
ferry_ws_conn_send (FerryWsConn *c, FerryWsKind kind, const void *data, gsize len, GError **error)
{
  const guint8 *p = data;
  guint8 opcode = (guint8) kind;
  gboolean ok = TRUE;

  g_mutex_lock (&c->send_lock);
  do
    {
      gsize chunk = MIN (len, SEND_CHUNK);
      gboolean fin = kind == FERRY_WS_BINARY || chunk == len;

      ok = send_frame (c, opcode, fin, p, chunk, error);
      if (kind != FERRY_WS_BINARY)
        opcode = FERRY_WS_OP_CONTINUATION;
      p += chunk;
      len -= chunk;
    }
  while (ok && len > 0);
  g_mutex_unlock (&c->send_lock);
  return ok;
}

gboolean
ferry_ws_conn_send_text (FerryWsConn *c, const char *text, GError **error)
{
  return ferry_ws_conn_send (c, FERRY_WS_TEXT, text, strlen (text), error);
}

void
ferry_ws_conn_set_max_message (FerryWsConn *c, guint64 max_len)
{
  /* A message is held in a GByteArray, whose length is a guint. */
  c->max_message = MIN (max_len, G_MAXUINT);
}

/* Reads the next frame's header into FRAME. */
static gboolean
read_frame_header (FerryWsConn *c, FerryWsFrame *frame, guint16 *close_code, GError **error)
{
  guint8 header[FERRY_WS_HEADER_MAX];
  gsize have = 0, need = 2;

  for (;;)
    {
      if (!read_exact (c, header + have, need - have, error))
        {
          *close_code = 0; /* the peer is gone: nobody to tell */
          return FALSE;
        }
      have = need;
      switch (ferry_ws_frame_parse (header, have, !c->is_client, frame, &need, close_code, error))
        {
        case FERRY_WS_PARSE_FRAME:
          return TRUE;
        case FERRY_WS_PARSE_NEED_MORE:
          continue;
        case FERRY_WS_PARSE_ERROR:
          return FALSE;
        }
    }
}

/* Appends FRAME's payload to BUF, unmasked. */
static gboolean
read_payload (FerryWsConn *c, const FerryWsFrame *frame, GByteArray *buf, GError **error)
{
  guint64 done = 0;

  while (done < frame->payload_len)
    {
      guint piece = (guint) MIN (frame->payload_len - done, SEND_CHUNK);
      guint old = buf->len;

      g_byte_array_set_size (buf, old + piece);
      if (!read_exact (c, buf->data + old, piece, error))
        return FALSE;
      if (frame->masked)
        ferry_ws_mask (buf->data + old, piece, frame->mask, done);
      done += piece;
    }
  return TRUE;
}

/* Answers a ping with its payload; a pong needs nothing. */
static gboolean
answer_control (FerryWsConn *c, const FerryWsFrame *frame, GError **error)
{
  g_autoptr (GByteArray) payload = g_byte_array_new ();
  gboolean ok;

  if (!read_payload (c, frame, payload, error))
    return FALSE;
  if (frame->opcode != FERRY_WS_OP_PING)
    return TRUE;
  g_mutex_lock (&c->send_lock);
  ok = send_frame (c, FERRY_WS_OP_PONG, TRUE, payload->data, payload->len, error);
  g_mutex_unlock (&c->send_lock);
  return ok;
}

static gboolean
recv_message (FerryWsConn *c, FerryWsKind *kind, GByteArray *buf, GError **error)
{
  FerryWsMessage message = { .max_len = c->max_message };
  guint16 close_code = 0;

  for (;;)
    {
      FerryWsFrame frame;

      if (!read_frame_header (c, &frame, &close_code, error))
        break;
      if (frame.opcode == FERRY_WS_OP_CLOSE)
        return peer_gone (error, NULL);
      if (frame.opcode == FERRY_WS_OP_PING || frame.opcode == FERRY_WS_OP_PONG)
        {
          if (!answer_control (c, &frame, error))
            return FALSE;
          continue;
        }
      if (!ferry_ws_message_add (&message, &frame, &close_code, error))
        break;
      if (!read_payload (c, &frame, buf, error))
        return FALSE;
      if (frame.fin)
        {
          *kind = (FerryWsKind) message.opcode;
          return TRUE;
        }
    }
  if (close_code != 0)
    {
      /* Say why, then stop the peer streaming into a connection nobody reads. */
      send_close (c, close_code);
      ferry_ws_conn_shutdown (c);
    }
  return FALSE;
}

gboolean
ferry_ws_conn_recv (FerryWsConn *c, FerryWsKind *kind, GByteArray *buf, GCancellable *cancellable, GError **error)
{
  gulong handler = cancellable ? g_cancellable_connect (cancellable, G_CALLBACK (g_cancellable_cancel),
                                                        g_object_ref (c->cancel), g_object_unref)
                               : 0;
  gboolean ok;

  g_byte_array_set_size (buf, 0);
  ok = recv_message (c, kind, buf, error);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  return ok;
}

/* ---- client handshake ---- */

static gboolean
accept_pinned (GTlsConnection *conn, GTlsCertificate *peer, GTlsCertificateFlags errors, gpointer user_data)
{
  return g_tls_certificate_is_same (peer, G_TLS_CERTIFICATE (user_data));
}

static void
on_client_event (GSocketClient *client, GSocketClientEvent event, GSocketConnectable *connectable,
                 GIOStream *connection, gpointer user_data)
{
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING)
    g_signal_connect_object (connection, "accept-certificate", G_CALLBACK (accept_pinned), user_data, 0);
}

/* Reads the server's answer to the upgrade request up to and including its
 * blank line, as much at a time as the connection has (the server may send
 * its first frame right behind it). What follows the blank line is the
 * start of that frame, kept for read_exact. Returns the answer's length. */
static gssize
read_upgrade_answer (FerryWsConn *c, char *answer, GError **error)
{
  gsize have = 0;

  for (;;)
    {
      g_autoptr (GError) local = NULL;
      gsize from = have > 3 ? have - 3 : 0, len;
      const char *blank;
      gssize n;

      if (have == UPGRADE_ANSWER_MAX)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                       "the other server's answer to the websocket upgrade is longer than %d bytes",
                       UPGRADE_ANSWER_MAX);
          return -1;
        }
      n = g_input_stream_read (c->in, answer + have, UPGRADE_ANSWER_MAX - have, c->cancel, &local);
      if (n <= 0)
        return peer_gone (error, local), -1;
      have += (gsize) n;
      blank = memmem (answer + from, have - from, "\r\n\r\n", 4);
      if (blank == NULL)
        continue;
      len = (gsize) (blank + 4 - answer);
      if (len < have)
        {
          c->early = g_memdup2 (answer + len, have - len);
          c->early_len = have - len;
          c->early_pos = 0;
        }
      answer[len] = '\0';
      return (gssize) len;
    }
}

/* RFC 6455 4.2.2: base64 (SHA-1 (KEY + the protocol's GUID)). */
static char *
websocket_accept_for_key (const char *key)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize len = sizeof digest;

  g_checksum_update (sum, (const guchar *) key, -1);
  g_checksum_update (sum, (const guchar *) "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", -1);
  g_checksum_get_digest (sum, digest, &len);
  return g_base64_encode (digest, len);
}

/* RFC 6455 4.1: the client fails the connection unless the server switched
 * to websocket for this very KEY, without an extension or a subprotocol
 * (the client offered none). */
static gboolean
check_upgrade_answer (const char *answer, gsize len, const char *key, GError **error)
{
  g_autoptr (SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autofree char *reason = NULL, *shown = NULL, *expected = websocket_accept_for_key (key);
  SoupHTTPVersion version = SOUP_HTTP_1_0;
  guint status = 0;
  const char *accept;

  if (!soup_headers_parse_response (answer, (int) len, headers, &version, &status, &reason))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                           "the other server's answer to the websocket upgrade is not an HTTP response");
      return FALSE;
    }
  if (status != SOUP_STATUS_SWITCHING_PROTOCOLS)
    {
      /* The reason is the peer's text: into a message, as UTF-8 and short. */
      shown = g_utf8_make_valid (reason, MIN (strlen (reason), 100));
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the other server refused the migration channel (%u %s)",
                   status, shown);
      return FALSE;
    }
  if (version != SOUP_HTTP_1_1 || !soup_message_headers_header_contains (headers, "Upgrade", "websocket")
      || !soup_message_headers_header_contains (headers, "Connection", "upgrade"))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                           "the other server's 101 answer does not switch to websocket "
                           "(it needs HTTP/1.1, \"Upgrade: websocket\" and \"Connection: upgrade\")");
      return FALSE;
    }
  /* As a list: a second Sec-WebSocket-Accept joins the first with a comma
   * and cannot match. */
  accept = soup_message_headers_get_list (headers, "Sec-WebSocket-Accept");
  if (accept == NULL || !g_str_equal (accept, expected))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                           "the other server's Sec-WebSocket-Accept is missing or does not answer the key sent");
      return FALSE;
    }
  if (soup_message_headers_get_one (headers, "Sec-WebSocket-Extensions") != NULL
      || soup_message_headers_get_one (headers, "Sec-WebSocket-Protocol") != NULL)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                           "the other server chose a websocket extension or subprotocol that was not offered");
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_ws_conn_handshake (FerryWsConn *c, const char *host, const char *resource, GError **error)
{
  g_autofree char *key = NULL, *request = NULL, *answer = g_malloc (UPGRADE_ANSWER_MAX + 1);
  guint8 nonce[16];
  gssize len;

  g_return_val_if_fail (c->is_client, FALSE);
  if (!random_bytes (nonce, sizeof nonce, error))
    return FALSE;
  key = g_base64_encode (nonce, sizeof nonce);
  request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: ferryd\r\n\r\n",
                             resource, host, key);
  if (!write_all (c, request, strlen (request), error) || (len = read_upgrade_answer (c, answer, error)) < 0)
    return FALSE;
  return check_upgrade_answer (answer, (gsize) len, key, error);
}

FerryWsConn *
ferry_ws_conn_connect (const char *url, const char *secret, const char *cert_pem, GCancellable *cancellable,
                       GError **error)
{
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GTlsCertificate) pinned = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (FerryWsConn) ws = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *escaped = NULL, *host = NULL, *resource = NULL;
  int port;

  uri = g_uri_parse (url, G_URI_FLAGS_NONE, &local);
  if (uri == NULL || g_uri_get_host (uri) == NULL
      || (!g_str_equal (g_uri_get_scheme (uri), "https") && !g_str_equal (g_uri_get_scheme (uri), "wss")))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unable to connect to %s: not an https:// URL", url);
      return NULL;
    }
  port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 8443;
  if (cert_pem == NULL || *cert_pem == '\0'
      || (pinned = g_tls_certificate_new_from_pem (cert_pem, -1, &local)) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unable to connect to %s: the other server's certificate "
                   "is missing or unreadable%s%s", url, local ? ": " : "", local ? local->message : "");
      return NULL;
    }
  g_socket_client_set_tls (client, TRUE);
  g_socket_client_set_timeout (client, 30);
  g_signal_connect (client, "event", G_CALLBACK (on_client_event), pinned);
  conn = g_socket_client_connect_to_host (client, g_uri_get_host (uri), (guint16) port, cancellable, &local);
  if (conn == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Unable to connect to %s: %s", url, local->message);
      return NULL;
    }
  ferry_ws_tune_socket (g_socket_get_fd (g_socket_connection_get_socket (conn)));
  if (G_IS_TCP_WRAPPER_CONNECTION (conn))
    {
      GIOStream *tls = g_tcp_wrapper_connection_get_base_io_stream (G_TCP_WRAPPER_CONNECTION (conn));
      GTlsCertificate *peer = G_IS_TLS_CONNECTION (tls) ? g_tls_connection_get_peer_certificate (G_TLS_CONNECTION (tls))
                                                         : NULL;
      if (peer == NULL || !g_tls_certificate_is_same (peer, pinned))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN,
                       "Unable to connect to %s: the server there is not the one whose certificate was given", url);
          return NULL;
        }
    }
  ws = ferry_ws_conn_new (G_IO_STREAM (conn), TRUE);
  escaped = g_uri_escape_string (secret, NULL, FALSE);
  /* GUri gives an IPv6 address without its brackets; Host needs them. */
  host = g_strdup_printf (strchr (g_uri_get_host (uri), ':') ? "[%s]:%d" : "%s:%d", g_uri_get_host (uri), port);
  resource = g_strdup_printf ("%s/websocket?secret=%s", g_uri_get_path (uri), escaped);
  if (!ferry_ws_conn_handshake (ws, host, resource, error))
    {
      g_prefix_error (error, "Unable to connect to %s: ", url);
      return NULL;
    }
  /* The timeout was for connecting and for the server's answer: a
   * migration's channels may stay silent for as long as a restore takes. */
  g_socket_set_timeout (g_socket_connection_get_socket (conn), 0);
  return g_steal_pointer (&ws);
}

/* ---- pump ---- */

typedef struct
{
  FerryWsConn *c;
  int fd;
  guint64 bytes;
  GError *error;
} PumpIn;

/* Channel -> fd until the peer's "EOF". */
static gpointer
pump_in (gpointer data)
{
  PumpIn *p = data;
  g_autoptr (GByteArray) buf = g_byte_array_new ();

  for (;;)
    {
      FerryWsKind kind = FERRY_WS_BINARY;
      if (!ferry_ws_conn_recv (p->c, &kind, buf, NULL, &p->error))
        break;
      if (kind == FERRY_WS_TEXT)
        {
          if (buf->len == 3 && memcmp (buf->data, "EOF", 3) == 0)
            break;
          g_set_error_literal (&p->error, FERRY_ERROR, FERRY_ERROR_FAILED,
                               "the other server sent a control message in a byte stream");
          break;
        }
      if (!ferry_write_all (p->fd, buf->data, buf->len))
        {
          if (p->error == NULL)
            g_set_error (&p->error, FERRY_ERROR, FERRY_ERROR_FAILED, "writing to the local end: %s",
                         g_strerror (errno));
          ferry_ws_conn_shutdown (p->c);
          break;
        }
      p->bytes += buf->len;
    }
  shutdown (p->fd, SHUT_WR);
  if (p->error != NULL)
    shutdown (p->fd, SHUT_RDWR); /* unblocks the reader of fd */
  return NULL;
}

gboolean
ferry_ws_conn_pump (FerryWsConn *c, int fd, guint64 *sent, guint64 *received, GCancellable *cancellable,
                    GError **error)
{
  PumpIn in = { .c = c, .fd = fd };
  GThread *reader = g_thread_new ("ws-pump", pump_in, &in);
  g_autofree guint8 *buf = g_malloc (SEND_CHUNK);
  g_autoptr (GError) out_error = NULL;
  guint64 out_bytes = 0;

  for (;;)
    {
      ssize_t n = read (fd, buf, SEND_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          g_set_error (&out_error, FERRY_ERROR, FERRY_ERROR_FAILED, "reading the local end: %s", g_strerror (errno));
          break;
        }
      if (n == 0)
        {
          ferry_ws_conn_send (c, FERRY_WS_TEXT, "EOF", 3, &out_error);
          break;
        }
      if (!ferry_ws_conn_send (c, FERRY_WS_BINARY, buf, (gsize) n, &out_error))
        break;
      out_bytes += (guint64) n;
    }
  if (out_error != NULL)
    ferry_ws_conn_shutdown (c); /* unblocks the channel's reader */
  g_thread_join (reader);
  if (sent)
    *sent += out_bytes;
  if (received)
    *received += in.bytes;
  /* The first failure tells why; the other side then only saw the
   * channel shut because of it. */
  if (in.error != NULL && (out_error == NULL || !g_str_equal (in.error->message, CHANNEL_SHUT)))
    {
      g_propagate_error (error, in.error);
      return FALSE;
    }
  g_clear_error (&in.error);
  if (out_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&out_error));
      return FALSE;
    }
  return TRUE;
}
