/* Websocket channels (src/daemon/http/wsconn.c, wsframe.c): one end is a real
 * FerryWsConn over a socketpair, the other end raw bytes, so every test
 * sees exactly what goes over the wire. */
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/http/wsconn.h"
#include "daemon/http/wsframe.h"

typedef struct
{
  FerryWsConn *conn; /* the end under test */
  int raw;           /* the other end's fd */
} Pair;

static Pair
pair_new (gboolean is_client)
{
  int fds[2];
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  Pair p;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  sock = g_socket_new_from_fd (fds[0], NULL);
  g_assert_nonnull (sock);
  stream = g_socket_connection_factory_create_connection (sock);
  p.conn = ferry_ws_conn_new (G_IO_STREAM (stream), is_client);
  p.raw = fds[1];
  return p;
}

static void
pair_free (Pair *p)
{
  ferry_ws_conn_free (p->conn);
  close (p->raw);
}

static void
raw_read (int fd, void *buf, gsize len)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, (guint8 *) buf + got, len - got);
      g_assert_cmpint (n, >, 0);
      got += (gsize) n;
    }
}

static void
raw_write (int fd, const void *buf, gsize len)
{
  g_assert_cmpint (write (fd, buf, len), ==, (gssize) len);
}

/* Reads one frame from the raw end, unmasked, payload into *PAYLOAD. */
static FerryWsFrame
raw_read_frame (int fd, gboolean expect_masked, GByteArray **payload)
{
  guint8 header[FERRY_WS_HEADER_MAX];
  gsize have = 0, need = 2;
  guint16 code = 0;
  FerryWsFrame frame;
  g_autoptr (GError) error = NULL;

  for (;;)
    {
      FerryWsParse r;
      raw_read (fd, header + have, need - have);
      have = need;
      r = ferry_ws_frame_parse (header, have, expect_masked, &frame, &need, &code, &error);
      g_assert_no_error (error);
      g_assert_cmpint (r, !=, FERRY_WS_PARSE_ERROR);
      if (r == FERRY_WS_PARSE_FRAME)
        break;
    }
  *payload = g_byte_array_sized_new ((guint) frame.payload_len);
  g_byte_array_set_size (*payload, (guint) frame.payload_len);
  raw_read (fd, (*payload)->data, (*payload)->len);
  if (frame.masked)
    ferry_ws_mask ((*payload)->data, (*payload)->len, frame.mask, 0);
  return frame;
}

/* Writes a frame as a peer would; MASK NULL for unmasked. */
static void
raw_write_frame (int fd, guint8 opcode, gboolean fin, const char *text, const guint8 *mask)
{
  guint8 header[FERRY_WS_HEADER_MAX];
  gsize len = strlen (text);
  g_autofree guint8 *payload = g_memdup2 (text, len);
  gsize n = ferry_ws_frame_header_write (header, opcode, fin, len, mask);

  if (mask != NULL)
    ferry_ws_mask (payload, len, mask, 0);
  raw_write (fd, header, n);
  if (len > 0)
    raw_write (fd, payload, len);
}

static void
assert_closed_with (int fd, guint16 code)
{
  g_autoptr (GByteArray) payload = NULL;
  FerryWsFrame frame = raw_read_frame (fd, FALSE, &payload);

  g_assert_cmpint (frame.opcode, ==, FERRY_WS_OP_CLOSE);
  g_assert_cmpuint (payload->len, ==, 2);
  g_assert_cmpuint ((guint) (payload->data[0] << 8 | payload->data[1]), ==, code);
}

static const guint8 mask_a[4] = { 0x12, 0x34, 0x56, 0x78 };

static void
test_client_masks_each_frame_with_a_fresh_key (void)
{
  Pair p = pair_new (TRUE);
  static const guint8 zero[4] = { 0 };
  guint8 previous[4] = { 0 };

  /* More frames than keys drawn per getrandom(2): the pool is refilled. */
  for (int i = 0; i < 200; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GByteArray) payload = NULL;
      FerryWsFrame frame;

      g_assert_true (ferry_ws_conn_send_text (p.conn, "hello, peer", &error));
      g_assert_no_error (error);
      frame = raw_read_frame (p.raw, TRUE, &payload);
      g_assert_true (frame.masked && frame.fin);
      g_assert_cmpint (frame.opcode, ==, FERRY_WS_OP_TEXT);
      g_assert_cmpmem (payload->data, payload->len, "hello, peer", 11);
      g_assert_true (memcmp (frame.mask, zero, 4) != 0);
      /* Two equal random keys in a row: a chance of 2^-32 each. */
      g_assert_true (memcmp (frame.mask, previous, 4) != 0);
      memcpy (previous, frame.mask, 4);
    }
  pair_free (&p);
}

static void
test_server_frames_are_unmasked (void)
{
  Pair p = pair_new (FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) payload = NULL;
  FerryWsFrame frame;

  g_assert_true (ferry_ws_conn_send (p.conn, FERRY_WS_BINARY, "\x01\x02\x03", 3, &error));
  frame = raw_read_frame (p.raw, FALSE, &payload);
  g_assert_false (frame.masked);
  g_assert_cmpint (frame.opcode, ==, FERRY_WS_OP_BINARY);
  g_assert_cmpmem (payload->data, payload->len, "\x01\x02\x03", 3);
  pair_free (&p);
}

static void
test_fragmented_message_with_a_ping_inside (void)
{
  Pair p = pair_new (FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (GByteArray) pong = NULL;
  FerryWsKind kind = 0;
  FerryWsFrame frame;
  static const guint8 mask_b[4] = { 0xff, 0x00, 0xa5, 0x5a };

  raw_write_frame (p.raw, FERRY_WS_OP_TEXT, FALSE, "frag", mask_a);
  raw_write_frame (p.raw, FERRY_WS_OP_PING, TRUE, "are you there", mask_b);
  raw_write_frame (p.raw, FERRY_WS_OP_CONTINUATION, FALSE, "mented ", mask_b);
  raw_write_frame (p.raw, FERRY_WS_OP_CONTINUATION, TRUE, "message", mask_a);
  g_assert_true (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (kind, ==, FERRY_WS_TEXT);
  g_assert_cmpmem (buf->data, buf->len, "fragmented message", 18);
  frame = raw_read_frame (p.raw, FALSE, &pong);
  g_assert_cmpint (frame.opcode, ==, FERRY_WS_OP_PONG);
  g_assert_cmpmem (pong->data, pong->len, "are you there", 13);

  /* A plain masked message after it. */
  raw_write_frame (p.raw, FERRY_WS_OP_BINARY, TRUE, "next", mask_b);
  g_assert_true (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_cmpint (kind, ==, FERRY_WS_BINARY);
  g_assert_cmpmem (buf->data, buf->len, "next", 4);
  pair_free (&p);
}

static void
test_oversize_message_is_refused_with_1009 (void)
{
  Pair p = pair_new (FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autofree char *part = g_strnfill (600, 'x');
  FerryWsKind kind = 0;

  ferry_ws_conn_set_max_message (p.conn, 1024);
  /* Each frame is small; the message they make is not. */
  raw_write_frame (p.raw, FERRY_WS_OP_BINARY, FALSE, part, mask_a);
  raw_write_frame (p.raw, FERRY_WS_OP_CONTINUATION, TRUE, part, mask_a);
  g_assert_false (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "more than 1024 bytes"));
  assert_closed_with (p.raw, FERRY_WS_CLOSE_TOO_BIG);
  pair_free (&p);
}

static void
test_cap_is_per_message_not_per_connection (void)
{
  Pair p = pair_new (FALSE);
  g_autofree char *part = g_strnfill (400, 'y');

  ferry_ws_conn_set_max_message (p.conn, 1024);
  /* Twenty fragmented messages of 800 bytes: 16000 in all, each under the cap. */
  for (int i = 0; i < 20; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GByteArray) buf = g_byte_array_new ();
      FerryWsKind kind = 0;

      raw_write_frame (p.raw, FERRY_WS_OP_BINARY, FALSE, part, mask_a);
      raw_write_frame (p.raw, FERRY_WS_OP_CONTINUATION, TRUE, part, mask_a);
      g_assert_true (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpint (kind, ==, FERRY_WS_BINARY);
      g_assert_cmpuint (buf->len, ==, 800);
    }
  pair_free (&p);
}

static void
test_oversize_frame_is_refused_before_its_payload (void)
{
  Pair p = pair_new (FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 header[FERRY_WS_HEADER_MAX];
  gsize n = ferry_ws_frame_header_write (header, FERRY_WS_OP_BINARY, TRUE, G_GUINT64_CONSTANT (1) << 40, mask_a);
  FerryWsKind kind = 0;

  /* A terabyte announced, nothing sent: refused at once, nothing allocated. */
  raw_write (p.raw, header, n);
  g_assert_false (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_nonnull (strstr (error->message, "more than 16777216 bytes"));
  g_assert_cmpuint (buf->len, ==, 0);
  assert_closed_with (p.raw, FERRY_WS_CLOSE_TOO_BIG);
  pair_free (&p);
}

static void
test_protocol_violations_close_with_1002 (void)
{
  const char *cases[] = { "unmasked", "continuation first", "message inside message", NULL };

  for (int i = 0; cases[i] != NULL; i++)
    {
      Pair p = pair_new (FALSE);
      g_autoptr (GError) error = NULL;
      g_autoptr (GByteArray) buf = g_byte_array_new ();
      FerryWsKind kind = 0;

      g_test_message ("case: %s", cases[i]);
      if (i == 0)
        raw_write_frame (p.raw, FERRY_WS_OP_TEXT, TRUE, "plain", NULL);
      else if (i == 1)
        raw_write_frame (p.raw, FERRY_WS_OP_CONTINUATION, TRUE, "orphan", mask_a);
      else
        {
          raw_write_frame (p.raw, FERRY_WS_OP_TEXT, FALSE, "one", mask_a);
          raw_write_frame (p.raw, FERRY_WS_OP_BINARY, TRUE, "two", mask_a);
        }
      g_assert_false (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
      g_assert_nonnull (strstr (error->message, "broke the websocket protocol"));
      assert_closed_with (p.raw, FERRY_WS_CLOSE_PROTOCOL);
      pair_free (&p);
    }
}

static void
test_client_refuses_masked_frames (void)
{
  Pair p = pair_new (TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (GByteArray) payload = NULL;
  FerryWsKind kind = 0;
  FerryWsFrame frame;

  raw_write_frame (p.raw, FERRY_WS_OP_TEXT, TRUE, "from a server", mask_a);
  g_assert_false (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_nonnull (strstr (error->message, "a server's frame is masked"));
  /* The client's close frame is masked, as all its frames. */
  frame = raw_read_frame (p.raw, TRUE, &payload);
  g_assert_cmpint (frame.opcode, ==, FERRY_WS_OP_CLOSE);
  g_assert_cmpuint ((guint) (payload->data[0] << 8 | payload->data[1]), ==, FERRY_WS_CLOSE_PROTOCOL);
  pair_free (&p);
}

typedef struct
{
  FerryWsConn *conn;
  FerryWsKind kind;
  gsize len;
} Sender;

static gpointer
send_thread (gpointer data)
{
  Sender *s = data;
  g_autofree char *big = g_malloc (s->len);

  for (gsize i = 0; i < s->len; i++)
    big[i] = (char) ('a' + i % 26);
  g_assert_true (ferry_ws_conn_send (s->conn, s->kind, big, s->len, NULL));
  return NULL;
}

static void
test_long_messages_between_two_ends (void)
{
  int fds[2];
  g_autoptr (GSocket) a = NULL, b = NULL;
  g_autoptr (GSocketConnection) sa = NULL, sb = NULL;
  g_autoptr (FerryWsConn) client = NULL, server = NULL;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  gsize text_len = 2 * 1024 * 1024 + 17, binary_len = 3 * 1024 * 1024 - 5, received = 0;
  Sender text = { .kind = FERRY_WS_TEXT, .len = text_len }, binary = { .kind = FERRY_WS_BINARY, .len = binary_len };
  FerryWsKind kind = 0;
  GThread *t;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  a = g_socket_new_from_fd (fds[0], NULL);
  b = g_socket_new_from_fd (fds[1], NULL);
  sa = g_socket_connection_factory_create_connection (a);
  sb = g_socket_connection_factory_create_connection (b);
  client = ferry_ws_conn_new (G_IO_STREAM (sa), TRUE);
  server = ferry_ws_conn_new (G_IO_STREAM (sb), FALSE);

  /* A text message longer than a frame arrives whole (fragmented on the wire). */
  text.conn = client;
  t = g_thread_new ("send-text", send_thread, &text);
  g_assert_true (ferry_ws_conn_recv (server, &kind, buf, NULL, &error));
  g_assert_no_error (error);
  g_thread_join (t);
  g_assert_cmpint (kind, ==, FERRY_WS_TEXT);
  g_assert_cmpuint (buf->len, ==, text_len);
  g_assert_cmpint (buf->data[text_len - 1], ==, 'a' + (text_len - 1) % 26);

  /* Binary data is a byte stream of messages of at most 1 MiB, each unmasked intact. */
  binary.conn = client;
  t = g_thread_new ("send-binary", send_thread, &binary);
  while (received < binary_len)
    {
      g_assert_true (ferry_ws_conn_recv (server, &kind, buf, NULL, &error));
      g_assert_cmpint (kind, ==, FERRY_WS_BINARY);
      g_assert_cmpuint (buf->len, <=, 1024 * 1024);
      for (guint i = 0; i < buf->len; i += 4093)
        g_assert_cmpint (buf->data[i], ==, 'a' + (received + i) % 26);
      received += buf->len;
    }
  g_thread_join (t);
  g_assert_cmpuint (received, ==, binary_len);
}

static void
test_mask_in_pieces_equals_mask_whole (void)
{
  guint8 whole[103], pieces[103];

  for (guint i = 0; i < sizeof whole; i++)
    whole[i] = pieces[i] = (guint8) (i * 7);
  ferry_ws_mask (whole, sizeof whole, mask_a, 0);
  ferry_ws_mask (pieces, 5, mask_a, 0);
  ferry_ws_mask (pieces + 5, 30, mask_a, 5);
  ferry_ws_mask (pieces + 35, sizeof pieces - 35, mask_a, 35);
  g_assert_cmpmem (whole, sizeof whole, pieces, sizeof pieces);
  g_assert_cmpint (whole[0], ==, 0 ^ 0x12);
  g_assert_cmpint (whole[5], ==, 35 ^ 0x34);
}

static void
test_header_parse (void)
{
  FerryWsFrame frame;
  gsize need = 0;
  guint16 code = 0;
  guint8 h[FERRY_WS_HEADER_MAX];
  gsize n;
  static const guint8 long_form_short_len[] = { 0x82, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4 };
  static const guint8 long_ping[] = { 0x89, 0x80 | 126, 0x00, 0x80, 1, 2, 3, 4 };
  static const guint8 fragmented_close[] = { 0x08, 0x80, 1, 2, 3, 4 };
  static const guint8 reserved[] = { 0xc2, 0x80, 1, 2, 3, 4 };
  static const guint8 opcode3[] = { 0x83, 0x80, 1, 2, 3, 4 };
  static const guint8 top_bit[] = { 0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
  const struct
  {
    const guint8 *bytes;
    gsize len;
  } bad[] = { { long_form_short_len, sizeof long_form_short_len }, { long_ping, sizeof long_ping },
              { fragmented_close, sizeof fragmented_close },       { reserved, sizeof reserved },
              { opcode3, sizeof opcode3 },                         { top_bit, sizeof top_bit } };

  n = ferry_ws_frame_header_write (h, FERRY_WS_OP_BINARY, TRUE, 70000, mask_a);
  g_assert_cmpuint (n, ==, 14);
  g_assert_cmpint (ferry_ws_frame_parse (h, 1, TRUE, &frame, &need, &code, NULL), ==, FERRY_WS_PARSE_NEED_MORE);
  g_assert_cmpuint (need, ==, 2);
  g_assert_cmpint (ferry_ws_frame_parse (h, 2, TRUE, &frame, &need, &code, NULL), ==, FERRY_WS_PARSE_NEED_MORE);
  g_assert_cmpuint (need, ==, 14);
  g_assert_cmpint (ferry_ws_frame_parse (h, n, TRUE, &frame, &need, &code, NULL), ==, FERRY_WS_PARSE_FRAME);
  g_assert_cmpuint (frame.payload_len, ==, 70000);
  g_assert_cmpuint (frame.header_len, ==, 14);
  g_assert_cmpmem (frame.mask, 4, mask_a, 4);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      code = 0;
      g_assert_cmpint (ferry_ws_frame_parse (bad[i].bytes, bad[i].len, TRUE, &frame, &need, &code, &error), ==,
                       FERRY_WS_PARSE_ERROR);
      g_assert_cmpuint (code, ==, FERRY_WS_CLOSE_PROTOCOL);
      g_assert_nonnull (error);
    }
}

/* ---- the client's upgrade handshake ---- */

#define RESOURCE "/1.0/operations/op1/websocket?secret=s3cret"

/* RFC 6455 4.2.2, computed here independently of wsconn.c. */
static char *
accept_for_key (const char *key)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *concat = g_strconcat (key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", NULL);
  guint8 digest[20];
  gsize len = sizeof digest;

  g_checksum_update (sum, (const guchar *) concat, -1);
  g_checksum_get_digest (sum, digest, &len);
  return g_base64_encode (digest, len);
}

/* Reads the client's upgrade request from FD; returns its key. */
static char *
raw_read_upgrade_request (int fd)
{
  g_autoptr (GString) request = g_string_new (NULL);
  const char *key;

  while (!g_str_has_suffix (request->str, "\r\n\r\n"))
    {
      char ch;
      raw_read (fd, &ch, 1);
      g_string_append_c (request, ch);
    }
  g_assert_true (g_str_has_prefix (request->str, "GET " RESOURCE " HTTP/1.1\r\nHost: peer:8443\r\n"));
  g_assert_nonnull (strstr (request->str, "\r\nUpgrade: websocket\r\n"));
  g_assert_nonnull (strstr (request->str, "\r\nSec-WebSocket-Version: 13\r\n"));
  key = strstr (request->str, "\r\nSec-WebSocket-Key: ");
  g_assert_nonnull (key);
  key += strlen ("\r\nSec-WebSocket-Key: ");
  return g_strndup (key, strcspn (key, "\r"));
}

typedef struct
{
  FerryWsConn *conn;
  gboolean ok;
  GError *error;
} Handshake;

static gpointer
handshake_thread (gpointer data)
{
  Handshake *h = data;

  h->ok = ferry_ws_conn_handshake (h->conn, "peer:8443", RESOURCE, &h->error);
  return NULL;
}

/* Plays the server: answers the client's request with ANSWER, where
 * @ACCEPT@ stands for the right Sec-WebSocket-Accept, and EXTRA in the
 * same write. Returns what the client's handshake returned. */
static gboolean
run_handshake (Pair *p, const char *answer, const void *extra, gsize extra_len, GError **error)
{
  Handshake h = { .conn = p->conn };
  GThread *t = g_thread_new ("handshake", handshake_thread, &h);
  g_autofree char *key = raw_read_upgrade_request (p->raw);
  g_autofree char *accept = accept_for_key (key);
  g_autoptr (GString) bytes = g_string_new (answer);

  g_assert_cmpuint (strlen (key), ==, 24); /* 16 random bytes in base64 */
  g_string_replace (bytes, "@ACCEPT@", accept, 0);
  g_string_append_len (bytes, extra, (gssize) extra_len);
  raw_write (p->raw, bytes->str, bytes->len);
  g_thread_join (t);
  if (h.error != NULL)
    g_propagate_error (error, h.error);
  return h.ok;
}

/* An unmasked frame as a server sends it. */
static GByteArray *
server_frame (guint8 opcode, const char *text)
{
  GByteArray *bytes = g_byte_array_new ();
  guint8 header[FERRY_WS_HEADER_MAX];
  gsize n = ferry_ws_frame_header_write (header, opcode, TRUE, strlen (text), NULL);

  g_byte_array_append (bytes, header, (guint) n);
  g_byte_array_append (bytes, (const guint8 *) text, (guint) strlen (text));
  return bytes;
}

static void
test_accept_key_of_rfc_6455 (void)
{
  g_autofree char *accept = accept_for_key ("dGhlIHNhbXBsZSBub25jZQ==");

  /* The example of RFC 6455 1.3, so that the tests' own value is right. */
  g_assert_cmpstr (accept, ==, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_handshake_headers_in_any_case_and_order (void)
{
  Pair p = pair_new (TRUE);
  g_autoptr (GError) error = NULL;

  g_assert_true (run_handshake (&p,
                                "HTTP/1.1 101 Switching Protocols\r\n"
                                "sec-websocket-accept: @ACCEPT@\r\n"
                                "X-Folded: one\r\n two\r\n"
                                "CONNECTION: keep-alive,  UPGRADE\r\n"
                                "Server: test\r\n"
                                "upgrade: WebSocket\r\n\r\n",
                                NULL, 0, &error));
  g_assert_no_error (error);
  pair_free (&p);
}

static void
test_handshake_refusals_say_why (void)
{
  g_autofree char *padding = g_strnfill (17 * 1024, 'a');
  g_autofree char *oversize = g_strconcat ("HTTP/1.1 101 Switching Protocols\r\nX-Pad: ", padding, NULL);
  const struct
  {
    const char *answer;
    const char *error;
  } cases[] = {
    { "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "refused the migration channel (403 Forbidden)" },
    { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      "Sec-WebSocket-Accept is missing or does not answer the key sent" },
    { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
      "Sec-WebSocket-Accept is missing or does not answer the key sent" },
    { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: @ACCEPT@\r\nSec-WebSocket-Accept: @ACCEPT@\r\n\r\n",
      "Sec-WebSocket-Accept is missing or does not answer the key sent" },
    { "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: @ACCEPT@\r\n\r\n",
      "does not switch to websocket" },
    { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\n"
      "Sec-WebSocket-Accept: @ACCEPT@\r\n\r\n",
      "does not switch to websocket" },
    { "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: @ACCEPT@\r\n\r\n",
      "does not switch to websocket" },
    { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: @ACCEPT@\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
      "extension or subprotocol that was not offered" },
    { "SSH-2.0-OpenSSH_9.2\r\n\r\n", "is not an HTTP response" },
    { oversize, "answer to the websocket upgrade is longer than 16384 bytes" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Pair p = pair_new (TRUE);
      g_autoptr (GError) error = NULL;

      g_test_message ("case %u: expecting \"%s\"", i, cases[i].error);
      g_assert_false (run_handshake (&p, cases[i].answer, NULL, 0, &error));
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
      if (strstr (error->message, cases[i].error) == NULL)
        g_error ("case %u: \"%s\" does not say \"%s\"", i, error->message, cases[i].error);
      pair_free (&p);
    }
}

static void
test_handshake_cut_short_is_a_lost_connection (void)
{
  Pair p = pair_new (TRUE);
  Handshake h = { .conn = p.conn };
  GThread *t = g_thread_new ("handshake", handshake_thread, &h);
  g_autofree char *key = raw_read_upgrade_request (p.raw);
  static const char partial[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n";

  raw_write (p.raw, partial, strlen (partial));
  shutdown (p.raw, SHUT_WR);
  g_thread_join (t);
  g_assert_false (h.ok);
  g_assert_nonnull (strstr (h.error->message, "connection to the other server was lost"));
  g_clear_error (&h.error);
  pair_free (&p);
}

static void
test_frames_behind_the_101_are_read_first (void)
{
  Pair p = pair_new (TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) first = server_frame (FERRY_WS_OP_TEXT, "first");
  g_autoptr (GByteArray) second = server_frame (FERRY_WS_OP_BINARY, "second frame");
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  FerryWsKind kind = 0;

  /* The first frame and 3 bytes of the second come in the 101's segment. */
  g_byte_array_append (first, second->data, 3);
  g_assert_true (run_handshake (&p,
                                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Accept: @ACCEPT@\r\n\r\n",
                                first->data, first->len, &error));
  g_assert_no_error (error);
  raw_write (p.raw, second->data + 3, second->len - 3);

  g_assert_true (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (kind, ==, FERRY_WS_TEXT);
  g_assert_cmpmem (buf->data, buf->len, "first", 5);
  g_assert_true (ferry_ws_conn_recv (p.conn, &kind, buf, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (kind, ==, FERRY_WS_BINARY);
  g_assert_cmpmem (buf->data, buf->len, "second frame", 12);
  pair_free (&p);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wsconn/client-masks-each-frame-with-a-fresh-key", test_client_masks_each_frame_with_a_fresh_key);
  g_test_add_func ("/wsconn/server-frames-are-unmasked", test_server_frames_are_unmasked);
  g_test_add_func ("/wsconn/fragmented-message-with-a-ping-inside", test_fragmented_message_with_a_ping_inside);
  g_test_add_func ("/wsconn/oversize-message-is-refused-with-1009", test_oversize_message_is_refused_with_1009);
  g_test_add_func ("/wsconn/cap-is-per-message-not-per-connection", test_cap_is_per_message_not_per_connection);
  g_test_add_func ("/wsconn/oversize-frame-is-refused-before-its-payload",
                   test_oversize_frame_is_refused_before_its_payload);
  g_test_add_func ("/wsconn/protocol-violations-close-with-1002", test_protocol_violations_close_with_1002);
  g_test_add_func ("/wsconn/client-refuses-masked-frames", test_client_refuses_masked_frames);
  g_test_add_func ("/wsconn/long-messages-between-two-ends", test_long_messages_between_two_ends);
  g_test_add_func ("/wsconn/handshake/accept-key-of-rfc-6455", test_accept_key_of_rfc_6455);
  g_test_add_func ("/wsconn/handshake/headers-in-any-case-and-order", test_handshake_headers_in_any_case_and_order);
  g_test_add_func ("/wsconn/handshake/refusals-say-why", test_handshake_refusals_say_why);
  g_test_add_func ("/wsconn/handshake/cut-short-is-a-lost-connection", test_handshake_cut_short_is_a_lost_connection);
  g_test_add_func ("/wsconn/handshake/frames-behind-the-101-are-read-first", test_frames_behind_the_101_are_read_first);
  g_test_add_func ("/wsframe/mask-in-pieces-equals-mask-whole", test_mask_in_pieces_equals_mask_whole);
  g_test_add_func ("/wsframe/header-parse", test_header_parse);
  return g_test_run ();
}
