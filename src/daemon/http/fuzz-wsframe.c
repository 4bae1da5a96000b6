/* libFuzzer entry point for migration channels: the input is what a peer
 * sends, read by the daemon's own ferry_ws_conn_recv (wsconn.c, parsing
 * with wsframe.c) until it fails. The first byte chooses the side (bit 0:
 * a server expects masked frames, a client unmasked) and a message cap
 * small enough to hit (bit 1, the cap in bits 2-7). A client without a
 * cap and with bit 2 first reads the input as the server's answer to its
 * upgrade request (its key is random, so this covers reading and checking
 * the answer, not the frames behind it). Run by scripts/fuzz. */
#include "daemon/http/wsconn.h"
#include "common/fuzz-glib.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GInputStream) in = NULL;
  g_autoptr (GOutputStream) out = NULL;
  g_autoptr (GIOStream) stream = NULL;
  g_autoptr (FerryWsConn) conn = NULL;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  FerryWsKind kind;

  if (size == 0)
    return 0;
  in = g_memory_input_stream_new_from_data (data + 1, (gssize) size - 1, NULL);
  out = g_memory_output_stream_new_resizable ();
  stream = g_simple_io_stream_new (in, out);
  conn = ferry_ws_conn_new (stream, data[0] & 1);
  if (data[0] & 2)
    ferry_ws_conn_set_max_message (conn, data[0] >> 2);
  else if ((data[0] & 4) && (data[0] & 1) && !ferry_ws_conn_handshake (conn, "peer:8443", "/websocket", NULL))
    return 0;
  while (ferry_ws_conn_recv (conn, &kind, buf, NULL, NULL))
    ;
  return 0;
}
