/* The unix socket's listener: reads each connection's request head before
 * libsoup does, to accept what LXD accepts there and libsoup refuses. */
#pragma once

#include <libsoup/soup.h>

/* Accepts the connections of LISTENING (bound, listening) for SERVER, from
 * the main loop. */
void ferry_unix_listener_start (SoupServer *server, GSocket *listening);
/* The unix socket a request of the unix listener came on, or NULL. */
GSocket *ferry_unix_conn_socket (SoupServerMessage *msg);
/* HEAD (a request's head) with a Host header whose port is not a number
 * ("localhost:None") without that port; NULL if it needs no change. */
GBytes *ferry_unix_fix_host (const guint8 *head, gsize len);
