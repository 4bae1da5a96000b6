/* libFuzzer entry point for migration channels: the input is what a peer
 * sends, read by the daemon's own ferry_ws_conn_recv (wsconn.c, parsing
 * with wsframe.c) until it fails. The first byte chooses the side (a
 * server expects masked frames, a client unmasked) and a message cap
 * small enough to hit. Run by scripts/fuzz. */
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
  while (ferry_ws_conn_recv (conn, &kind, buf, NULL, NULL))
    ;
  return 0;
}
