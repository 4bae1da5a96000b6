/* The HTTPS listener's sockets and connections. ferryd accepts and makes the
 * TLS handshake itself, then hands each connection to libsoup: so it can cap
 * the connections of untrusted clients (per address and in all), close the
 * idle ones, and know each connection's client certificate. */
#pragma once

#include <libsoup/soup.h>

typedef struct FerryHttpsListener FerryHttpsListener;

/* Listens on inet:port (inet NULL: every address, IPv6 and IPv4) and feeds
 * server the connections whose TLS handshake succeeded. */
FerryHttpsListener *ferry_https_listener_new (SoupServer *server, GTlsCertificate *cert, GInetAddress *inet,
                                              guint16 port, GError **error);
/* Stops listening; handshakes under way are dropped. Connections libsoup
 * already has are soup_server_disconnect()'s. */
void ferry_https_listener_close (FerryHttpsListener *listener);

/* Facts about the connection an HTTPS request came on; NULL for requests
 * that did not come through a listener (the unix socket). */
GTlsCertificate *ferry_https_conn_peer_certificate (SoupServerMessage *msg);
const char *ferry_https_conn_peer_address (SoupServerMessage *msg);
GSocket *ferry_https_conn_socket (SoupServerMessage *msg);

/* The connection carries a trusted client: it leaves the caps on untrusted
 * connections and gets a longer idle timeout. */
void ferry_https_conn_set_trusted (SoupServerMessage *msg);
/* The client sent more of its request: the idle timer starts again. */
void ferry_https_conn_progress (SoupServerMessage *msg);
/* The request is read: the server's turn, no idle timer. */
void ferry_https_conn_request_read (SoupServerMessage *msg);
