/* Blocking websockets for worker threads: the channels between two ferryds
 * during a migration. Either end of an upgraded HTTP(S) connection (the
 * server side after ferryd's own handshake, or a client that connected to a
 * peer's operation websocket with a pinned certificate), framed as RFC 6455
 * so relays that copy messages keep working. One thread may send while
 * another receives; sends are serialised. A client masks each frame with a
 * fresh random key (RFC 6455 5.3); frames are parsed by wsframe.c. */
#pragma once

#include <gio/gio.h>

typedef struct FerryWsConn FerryWsConn;

typedef enum
{
  FERRY_WS_TEXT = 1,
  FERRY_WS_BINARY = 2,
  FERRY_WS_CLOSE = 8,
} FerryWsKind;

/* Wraps an upgraded stream (takes a reference). */
FerryWsConn *ferry_ws_conn_new (GIOStream *stream, gboolean is_client);
void ferry_ws_conn_free (FerryWsConn *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryWsConn, ferry_ws_conn_free)

/* Connects to URL (https://HOST:PORT/1.0/operations/ID, as LXD's migration
 * "operation" field) and opens its websocket with SECRET. The peer must
 * present exactly CERT_PEM. */
FerryWsConn *ferry_ws_conn_connect (const char *url, const char *secret, const char *cert_pem,
                                    GCancellable *cancellable, GError **error);

/* The client's side of the upgrade on C, a connection open to HOST
 * ("name:port"): asks for RESOURCE (path and query) as a websocket and
 * checks the server's answer (RFC 6455 4.1: a 101 switching to websocket
 * for the key sent). Bytes of the first frame that came with the answer
 * are the first that ferry_ws_conn_recv reads. */
gboolean ferry_ws_conn_handshake (FerryWsConn *c, const char *host, const char *resource, GError **error);

gboolean ferry_ws_conn_send (FerryWsConn *c, FerryWsKind kind, const void *data, gsize len, GError **error);
gboolean ferry_ws_conn_send_text (FerryWsConn *c, const char *text, GError **error);
/* The next data message into BUF (replaced); answers pings. A close frame
 * or EOF is an error naming the peer as gone. A protocol violation, or a
 * message longer than the connection's maximum (FERRY_WS_MAX_MESSAGE unless
 * set), is an error too: the peer is sent a close frame (1002, 1009) and
 * the connection is shut. */
#define FERRY_WS_MAX_MESSAGE (16 * 1024 * 1024)
gboolean ferry_ws_conn_recv (FerryWsConn *c, FerryWsKind *kind, GByteArray *buf, GCancellable *cancellable,
                             GError **error);

/* Lowers (or raises, up to G_MAXUINT) the longest message ferry_ws_conn_recv
 * accepts. */
void ferry_ws_conn_set_max_message (FerryWsConn *c, guint64 max_len);

/* One byte stream over the channel, both ways, between the channel and FD
 * (a socket, for example a process's stdin+stdout): FD's bytes go out as
 * binary messages, then a text "EOF"; incoming binary messages go to FD
 * until the peer's "EOF", when FD's write side is shut. Returns when both
 * directions ended. Counts the bytes each way. */
gboolean ferry_ws_conn_pump (FerryWsConn *c, int fd, guint64 *sent, guint64 *received, GCancellable *cancellable,
                             GError **error);

/* Big buffers (pages stream through) and, for TCP, no Nagle delay (rsync
 * and CRIU's page server take turns). */
void ferry_ws_tune_socket (int fd);

/* The peer closed or reset the TCP connection underneath (what the kernel
 * does for a process that died), as far as this host knows now; FALSE when
 * unknown (no socket). */
gboolean ferry_ws_conn_peer_closed (FerryWsConn *c);

/* Shuts the connection so that blocked readers on either side return. */
void ferry_ws_conn_shutdown (FerryWsConn *c);
