/* RFC 6455 framing without I/O: what wsconn.c reads from and writes to a
 * peer, as pure functions of bytes, so that unit tests and a fuzz target
 * drive exactly the code the daemon runs. */
#pragma once

#include <glib.h>

/* Close codes (RFC 6455 7.4.1) sent before ending a connection. */
#define FERRY_WS_CLOSE_PROTOCOL 1002
#define FERRY_WS_CLOSE_TOO_BIG 1009

/* A frame header: at most 2 + 8 + 4 bytes. */
#define FERRY_WS_HEADER_MAX 14
/* Control frames (close, ping, pong) carry at most this much. */
#define FERRY_WS_CONTROL_MAX 125

typedef enum
{
  FERRY_WS_OP_CONTINUATION = 0x0,
  FERRY_WS_OP_TEXT = 0x1,
  FERRY_WS_OP_BINARY = 0x2,
  FERRY_WS_OP_CLOSE = 0x8,
  FERRY_WS_OP_PING = 0x9,
  FERRY_WS_OP_PONG = 0xA,
} FerryWsOpcode;

typedef struct
{
  guint8 opcode;
  gboolean fin;
  gboolean masked;
  guint8 mask[4];
  guint64 payload_len;
  gsize header_len; /* bytes of the header, where the payload starts */
} FerryWsFrame;

typedef enum
{
  FERRY_WS_PARSE_FRAME,     /* FRAME holds a complete, valid header */
  FERRY_WS_PARSE_NEED_MORE, /* *NEED is the header's size, more than LEN */
  FERRY_WS_PARSE_ERROR,     /* a protocol violation: ERROR, *CLOSE_CODE */
} FerryWsParse;

/* Parses the frame header at the start of DATA (LEN bytes). A server's
 * peer (EXPECT_MASKED) must mask every frame, a client's must not (RFC 6455
 * 5.1); reserved bits, unknown opcodes and fragmented or long control
 * frames are violations too. */
FerryWsParse ferry_ws_frame_parse (const guint8 *data, gsize len, gboolean expect_masked, FerryWsFrame *frame,
                                   gsize *need, guint16 *close_code, GError **error);

/* Writes a frame's header into OUT (FERRY_WS_HEADER_MAX bytes); MASK NULL
 * for an unmasked frame. Returns the header's length. */
gsize ferry_ws_frame_header_write (guint8 *out, guint8 opcode, gboolean fin, guint64 payload_len, const guint8 *mask);

/* XORs LEN bytes with MASK, as if they started OFFSET bytes into the
 * payload (a payload may be read or written in pieces). */
void ferry_ws_mask (guint8 *data, gsize len, const guint8 mask[4], guint64 offset);

/* The data message being put together from its frames. */
typedef struct
{
  guint8 opcode;   /* TEXT or BINARY while one is open, else 0 */
  guint64 len;     /* its payload bytes so far, including the frame being read */
  guint64 max_len; /* a message may not grow past this (continuation frames summed) */
} FerryWsMessage;

/* Checks a data frame's header against the message being assembled,
 * before its payload is read (so an oversized message costs no memory): a
 * continuation must continue an open message, a new message may not start
 * inside one, and the total may not pass max_len (close code 1009). On
 * success the frame's length is counted. Control frames are not passed. */
gboolean ferry_ws_message_add (FerryWsMessage *m, const FerryWsFrame *frame, guint16 *close_code, GError **error);
/* After the final frame's payload: the next frame starts a new message. */
void ferry_ws_message_reset (FerryWsMessage *m);
