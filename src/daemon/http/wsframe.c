/* RFC 6455 frame headers and message assembly (see wsframe.h). */
#include "daemon/http/wsframe.h"

#include "common/error.h"

#include <string.h>

static FerryWsParse
violation (guint16 *close_code, guint16 code, GError **error, const char *what)
{
  *close_code = code;
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "the other server broke the websocket protocol: %s", what);
  return FERRY_WS_PARSE_ERROR;
}

static gboolean
opcode_is_known (guint8 opcode)
{
  return opcode <= FERRY_WS_OP_BINARY || (opcode >= FERRY_WS_OP_CLOSE && opcode <= FERRY_WS_OP_PONG);
}

FerryWsParse
ferry_ws_frame_parse (const guint8 *data, gsize len, gboolean expect_masked, FerryWsFrame *frame, gsize *need,
                      guint16 *close_code, GError **error)
{
  gsize header_len = 2, ext;
  guint64 payload_len;

  if (len < 2)
    {
      *need = 2;
      return FERRY_WS_PARSE_NEED_MORE;
    }
  payload_len = data[1] & 0x7f;
  ext = payload_len == 126 ? 2 : payload_len == 127 ? 8 : 0;
  header_len += ext + ((data[1] & 0x80) ? 4 : 0);
  if (len < header_len)
    {
      *need = header_len;
      return FERRY_WS_PARSE_NEED_MORE;
    }

  memset (frame, 0, sizeof *frame);
  frame->fin = (data[0] & 0x80) != 0;
  frame->opcode = data[0] & 0x0f;
  frame->masked = (data[1] & 0x80) != 0;
  frame->header_len = header_len;
  if (ext > 0)
    {
      payload_len = 0;
      for (gsize i = 0; i < ext; i++)
        payload_len = (payload_len << 8) | data[2 + i];
    }
  frame->payload_len = payload_len;
  if (frame->masked)
    memcpy (frame->mask, data + 2 + ext, 4);

  if (data[0] & 0x70)
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error, "reserved bits set without an extension");
  if (!opcode_is_known (frame->opcode))
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error, "unknown opcode");
  if (frame->masked != expect_masked)
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error,
                      expect_masked ? "a client's frame is not masked" : "a server's frame is masked");
  /* The shortest encoding is mandatory, and a 64-bit length has its top bit clear. */
  if ((ext == 2 && payload_len < 126) || (ext == 8 && (payload_len <= 0xffff || (payload_len >> 63) != 0)))
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error, "a payload length in a longer form than needed");
  if (frame->opcode >= FERRY_WS_OP_CLOSE && (!frame->fin || payload_len > FERRY_WS_CONTROL_MAX))
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error, "a fragmented or oversized control frame");
  return FERRY_WS_PARSE_FRAME;
}

gsize
ferry_ws_frame_header_write (guint8 *out, guint8 opcode, gboolean fin, guint64 payload_len, const guint8 *mask)
{
  guint8 mask_bit = mask != NULL ? 0x80 : 0;
  gsize n = 0;

  out[n++] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  if (payload_len < 126)
    out[n++] = mask_bit | (guint8) payload_len;
  else if (payload_len <= 0xffff)
    {
      out[n++] = mask_bit | 126;
      out[n++] = (guint8) (payload_len >> 8);
      out[n++] = (guint8) payload_len;
    }
  else
    {
      out[n++] = mask_bit | 127;
      for (int i = 7; i >= 0; i--)
        out[n++] = (guint8) (payload_len >> (8 * i));
    }
  if (mask != NULL)
    {
      memcpy (out + n, mask, 4);
      n += 4;
    }
  return n;
}

void
ferry_ws_mask (guint8 *data, gsize len, const guint8 mask[4], guint64 offset)
{
  guint8 rotated[8];
  gsize i = 0;
  guint64 word;

  for (int k = 0; k < 8; k++)
    rotated[k] = mask[(offset + (guint64) k) % 4];
  memcpy (&word, rotated, 8);
  /* Eight bytes at a time: pages of a live migration go through here. */
  for (; i + 8 <= len; i += 8)
    {
      guint64 chunk;
      memcpy (&chunk, data + i, 8);
      chunk ^= word;
      memcpy (data + i, &chunk, 8);
    }
  for (; i < len; i++)
    data[i] ^= rotated[i % 8];
}

gboolean
ferry_ws_message_add (FerryWsMessage *m, const FerryWsFrame *frame, guint16 *close_code, GError **error)
{
  if (frame->opcode == FERRY_WS_OP_CONTINUATION && m->opcode == 0)
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error, "a continuation frame outside a message"), FALSE;
  if (frame->opcode != FERRY_WS_OP_CONTINUATION && m->opcode != 0)
    return violation (close_code, FERRY_WS_CLOSE_PROTOCOL, error, "a new message inside a fragmented one"), FALSE;
  if (frame->payload_len > m->max_len - m->len)
    {
      *close_code = FERRY_WS_CLOSE_TOO_BIG;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED,
                   "the other server sent a websocket message of more than %" G_GUINT64_FORMAT " bytes", m->max_len);
      return FALSE;
    }
  if (frame->opcode != FERRY_WS_OP_CONTINUATION)
    m->opcode = frame->opcode;
  m->len += frame->payload_len;
  return TRUE;
}

void
ferry_ws_message_reset (FerryWsMessage *m)
{
  m->opcode = 0;
  m->len = 0;
}
