/* The HTTPS listener: accept, caps, TLS handshake, idle timeouts (see
 * https-listener.h). Main-thread only. */
#include "config.h"
#include "daemon/http/https-listener.h"
#include "common/error.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Untrusted connections of one client address, and of all clients. The
 * total is a quarter of the file descriptors ferryd may open (at most 4096),
 * so that untrusted clients can never take those the unix socket, the
 * containers and the database need. */
#define MAX_PER_ADDRESS 32
#define MAX_TOTAL_CEILING 4096
/* A client that sends nothing for this long while the server waits for its
 * handshake or request is disconnected. */
#define UNTRUSTED_IDLE_SECONDS 10
#define TRUSTED_IDLE_SECONDS 60
/* glib-networking makes a TLS handshake by blocking a thread of GLib's
 * shared pool until the client answers, the pool ferryd's operations run
 * in: a crowd of silent clients would stall them. Handshakes get threads of
 * their own instead, and only once the client has sent its first bytes. */
#define HANDSHAKE_THREADS 16
/* Out of file descriptors: accepting waits this long before trying again. */
#define ACCEPT_PAUSE_MS 250
#define REFUSAL_LOG_INTERVAL_SECONDS 10

#define CONN_KEY "ferry-https-conn"

struct FerryHttpsListener
{
  int refs;
  gboolean closed;
  SoupServer *server;
  GTlsCertificate *cert;
  GPtrArray *sockets;      /* listening GSockets */
  GPtrArray *sources;      /* their accept GSources, while accepting */
  guint resume_source;     /* accepting paused (EMFILE) until this fires */
  GHashTable *per_address; /* address -> untrusted connections (GUINT_TO_POINTER) */
  guint total;             /* untrusted connections */
  guint max_total;
  gint64 last_refusal_log; /* monotonic µs */
  GThreadPool *handshakes; /* TLS handshakes, HANDSHAKE_THREADS at most */
};

/* One accepted connection. It lives as data on the remote GSocketAddress
 * given to libsoup, which keeps that address exactly as long as it keeps
 * the connection: so it is found from any request, and freed with it. */
typedef struct
{
  FerryHttpsListener *listener;
  GSocket *socket;
  char *address;           /* the client's IP */
  GTlsCertificate *peer;   /* its client certificate, or NULL */
  GCancellable *handshake; /* until the TLS handshake is over */
  GSource *hello_wait;     /* until the client's first bytes come */
  guint idle_source;
  gboolean counted; /* in the untrusted caps */
  gboolean trusted;
} HttpsConn;

static FerryHttpsListener *
listener_ref (FerryHttpsListener *l)
{
  l->refs++;
  return l;
}

static void
listener_unref (FerryHttpsListener *l)
{
  if (--l->refs > 0)
    return;
  g_object_unref (l->server);
  g_object_unref (l->cert);
  g_ptr_array_unref (l->sockets);
  g_ptr_array_unref (l->sources);
  g_hash_table_unref (l->per_address);
  g_thread_pool_free (l->handshakes, FALSE, FALSE);
  g_free (l);
}

static void
uncount (HttpsConn *conn)
{
  FerryHttpsListener *l = conn->listener;
  guint n;

  if (!conn->counted)
    return;
  conn->counted = FALSE;
  l->total--;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (l->per_address, conn->address));
  if (n <= 1)
    g_hash_table_remove (l->per_address, conn->address);
  else
    g_hash_table_insert (l->per_address, g_strdup (conn->address), GUINT_TO_POINTER (n - 1));
}

static void
conn_free (HttpsConn *conn)
{
  if (conn->idle_source != 0)
    g_source_remove (conn->idle_source);
  if (conn->hello_wait != NULL)
    {
      g_source_destroy (conn->hello_wait);
      g_source_unref (conn->hello_wait);
    }
  uncount (conn);
  g_clear_object (&conn->handshake);
  g_clear_object (&conn->peer);
  g_object_unref (conn->socket);
  g_free (conn->address);
  listener_unref (conn->listener);
  g_free (conn);
}

static gboolean
idle_expired (gpointer data)
{
  HttpsConn *conn = data;

  conn->idle_source = 0;
  g_debug ("Closing the idle HTTPS connection of %s", conn->address);
  /* libsoup (or the handshake) then sees the end of the stream and lets the
   * connection go the usual way. */
  if (conn->handshake != NULL)
    g_cancellable_cancel (conn->handshake);
  g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
arm_idle_timer (HttpsConn *conn)
{
  if (conn->idle_source != 0)
    g_source_remove (conn->idle_source);
  conn->idle_source
      = g_timeout_add_seconds (conn->trusted ? TRUSTED_IDLE_SECONDS : UNTRUSTED_IDLE_SECONDS, idle_expired, conn);
}

static HttpsConn *
conn_of (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);

  return remote != NULL ? g_object_get_data (G_OBJECT (remote), CONN_KEY) : NULL;
}

GTlsCertificate *
ferry_https_conn_peer_certificate (SoupServerMessage *msg)
{
  HttpsConn *conn = conn_of (msg);

  return conn != NULL ? conn->peer : NULL;
}

const char *
ferry_https_conn_peer_address (SoupServerMessage *msg)
{
  HttpsConn *conn = conn_of (msg);

  return conn != NULL ? conn->address : NULL;
}

GSocket *
ferry_https_conn_socket (SoupServerMessage *msg)
{
  HttpsConn *conn = conn_of (msg);

  return conn != NULL ? conn->socket : NULL;
}

void
ferry_https_conn_set_trusted (SoupServerMessage *msg)
{
  HttpsConn *conn = conn_of (msg);

  if (conn == NULL)
    return;
  conn->trusted = TRUE;
  uncount (conn);
}

void
ferry_https_conn_progress (SoupServerMessage *msg)
{
  HttpsConn *conn = conn_of (msg);

  if (conn != NULL)
    arm_idle_timer (conn);
}

void
ferry_https_conn_request_read (SoupServerMessage *msg)
{
  HttpsConn *conn = conn_of (msg);

  if (conn != NULL && conn->idle_source != 0)
    {
      g_source_remove (conn->idle_source);
      conn->idle_source = 0;
    }
}

static gboolean
accept_certificate (GTlsConnection *tls, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer user_data)
{
  /* LXD's migration peers present no client certificate and lxc's clients
   * present self-signed ones: any is accepted here, requests are trusted
   * by the fingerprint (ferry_trust_check). */
  return TRUE;
}

/* A handshake on its way through a handshake thread. */
typedef struct
{
  GSocketAddress *remote; /* holds the HttpsConn; unreffed on the main thread only */
  GTlsConnection *tls;
  GCancellable *cancellable;
  gboolean ok;
  GError *error;
} Handshake;

static void
handshake_free (Handshake *h)
{
  g_object_unref (h->remote);
  g_object_unref (h->tls);
  g_object_unref (h->cancellable);
  g_clear_error (&h->error);
  g_free (h);
}

/* Main thread: hands the connection to libsoup, or drops it. */
static gboolean
handshake_finished (gpointer data)
{
  Handshake *h = data;
  HttpsConn *conn = g_object_get_data (G_OBJECT (h->remote), CONN_KEY);
  g_autoptr (GSocketAddress) local = NULL;

  g_clear_object (&conn->handshake);
  if (h->ok && !conn->listener->closed)
    local = g_socket_get_local_address (conn->socket, &h->error);
  if (local == NULL)
    {
      g_debug ("HTTPS connection of %s dropped: %s", conn->address,
               h->error ? h->error->message : "listener closed");
      g_io_stream_close (G_IO_STREAM (h->tls), NULL, NULL);
      handshake_free (h);
      return G_SOURCE_REMOVE;
    }
  if (g_tls_connection_get_peer_certificate (h->tls) != NULL)
    conn->peer = g_object_ref (g_tls_connection_get_peer_certificate (h->tls));
  arm_idle_timer (conn);
  soup_server_accept_iostream (conn->listener->server, G_IO_STREAM (h->tls), local, h->remote, NULL);
  handshake_free (h);
  return G_SOURCE_REMOVE;
}

static void
handshake_in_thread (gpointer data, gpointer pool_data)
{
  Handshake *h = data;

  h->ok = g_tls_connection_handshake (h->tls, h->cancellable, &h->error);
  g_idle_add (handshake_finished, h);
}

/* The client's first bytes (or its end) arrived: the handshake can run
 * without waiting on it. */
static gboolean
hello_arrived (GSocket *sock, GIOCondition condition, gpointer data)
{
  Handshake *h = data;
  HttpsConn *conn = g_object_get_data (G_OBJECT (h->remote), CONN_KEY);

  g_clear_pointer (&conn->hello_wait, g_source_unref);
  g_thread_pool_push (conn->listener->handshakes, h, NULL);
  return G_SOURCE_REMOVE;
}

static char *
address_of (GSocketAddress *remote)
{
  GInetAddress *inet;

  if (remote == NULL || !G_IS_INET_SOCKET_ADDRESS (remote))
    return NULL;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));
  return g_inet_address_to_string (inet);
}

static gboolean
over_caps (FerryHttpsListener *l, const char *address)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (l->per_address, address));
  gint64 now;

  if (n < MAX_PER_ADDRESS && l->total < l->max_total)
    return FALSE;
  now = g_get_monotonic_time ();
  if (now - l->last_refusal_log > REFUSAL_LOG_INTERVAL_SECONDS * G_USEC_PER_SEC)
    {
      l->last_refusal_log = now;
      g_message ("Refusing HTTPS connections: %u untrusted open from %s (at most %d), %u in all (at most %u)", n,
                 address, MAX_PER_ADDRESS, l->total, l->max_total);
    }
  return TRUE;
}

/* Takes client. */
static void
admit (FerryHttpsListener *l, GSocket *client)
{
  g_autoptr (GSocket) owned = client;
  g_autoptr (GSocketAddress) remote = g_socket_get_remote_address (client, NULL);
  g_autofree char *address = address_of (remote);
  g_autoptr (GIOStream) base = NULL;
  g_autoptr (GError) error = NULL;
  const char *protocols[] = { "http/1.1", NULL };
  GIOStream *tls;
  Handshake *h;
  HttpsConn *conn;
  guint n;

  if (address == NULL || over_caps (l, address))
    {
      g_socket_close (client, NULL);
      return;
    }
  conn = g_new0 (HttpsConn, 1);
  conn->listener = listener_ref (l);
  conn->socket = g_steal_pointer (&owned);
  conn->address = g_steal_pointer (&address);
  conn->counted = TRUE;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (l->per_address, conn->address));
  g_hash_table_insert (l->per_address, g_strdup (conn->address), GUINT_TO_POINTER (n + 1));
  l->total++;
  g_object_set_data_full (G_OBJECT (remote), CONN_KEY, conn, (GDestroyNotify) conn_free);

  g_socket_set_option (conn->socket, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  base = G_IO_STREAM (g_socket_connection_factory_create_connection (conn->socket));
  /* No database: client certificates are not checked against the system
   * CAs (trust is by fingerprint), and loading those CAs for each
   * connection cost ~70 ms of the main loop. */
  tls = g_initable_new (g_tls_backend_get_server_connection_type (g_tls_backend_get_default ()), NULL, &error,
                        "base-io-stream", base, "certificate", l->cert, "database", NULL, "authentication-mode",
                        G_TLS_AUTHENTICATION_REQUESTED, "require-close-notify", FALSE, "advertised-protocols",
                        protocols, NULL);
  if (tls == NULL)
    {
      g_warning ("HTTPS connection of %s: %s", conn->address, error->message);
      g_io_stream_close (base, NULL, NULL);
      return;
    }
  g_signal_connect (tls, "accept-certificate", G_CALLBACK (accept_certificate), NULL);
  conn->handshake = g_cancellable_new ();
  h = g_new0 (Handshake, 1);
  h->remote = g_steal_pointer (&remote);
  h->tls = G_TLS_CONNECTION (tls);
  h->cancellable = g_object_ref (conn->handshake);
  conn->hello_wait = g_socket_create_source (conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (conn->hello_wait, (GSourceFunc) (void (*) (void)) hello_arrived, h, NULL);
  g_source_attach (conn->hello_wait, NULL);
  arm_idle_timer (conn);
}

static void start_accepting (FerryHttpsListener *l);

static gboolean
resume_accepting (gpointer data)
{
  FerryHttpsListener *l = data;

  l->resume_source = 0;
  if (!l->closed)
    start_accepting (l);
  return G_SOURCE_REMOVE;
}

static void
stop_accepting (FerryHttpsListener *l)
{
  for (guint i = 0; i < l->sources->len; i++)
    g_source_destroy (g_ptr_array_index (l->sources, i));
  g_ptr_array_set_size (l->sources, 0);
}

static gboolean
incoming (GSocket *sock, GIOCondition condition, gpointer user_data)
{
  FerryHttpsListener *l = user_data;

  /* A bounded batch, so that a flood of connections cannot starve the
   * main loop's other sources (the unix socket among them). */
  for (int i = 0; i < 32; i++)
    {
      g_autoptr (GError) error = NULL;
      GSocket *client = g_socket_accept (sock, NULL, &error);

      if (client != NULL)
        {
          admit (l, client);
          continue;
        }
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      /* Out of file descriptors (or memory): the pending connection stays
       * queued; a listener left armed would spin on it. */
      g_warning ("Accepting HTTPS connections paused: %s", error->message);
      stop_accepting (l);
      if (l->resume_source == 0)
        l->resume_source = g_timeout_add (ACCEPT_PAUSE_MS, resume_accepting, l);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
start_accepting (FerryHttpsListener *l)
{
  for (guint i = 0; i < l->sockets->len; i++)
    {
      GSource *source = g_socket_create_source (g_ptr_array_index (l->sockets, i), G_IO_IN, NULL);
      g_source_set_callback (source, (GSourceFunc) (void (*) (void)) incoming, l, NULL);
      g_source_attach (source, NULL);
      g_ptr_array_add (l->sources, source);
    }
}

static GSocket *
listen_socket (GSocketFamily family, GInetAddress *inet, guint16 port, GError **error)
{
  g_autoptr (GSocket) sock = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  g_autoptr (GInetAddress) any = NULL;
  g_autoptr (GSocketAddress) addr = NULL;

  if (sock == NULL)
    return NULL;
  if (inet == NULL)
    {
      any = g_inet_address_new_any (family);
      inet = any;
      /* [::] takes IPv4 clients too (as ::ffff:a.b.c.d). */
      if (family == G_SOCKET_FAMILY_IPV6)
        g_socket_set_option (sock, IPPROTO_IPV6, IPV6_V6ONLY, FALSE, NULL);
    }
  addr = g_inet_socket_address_new (inet, port);
  g_socket_set_listen_backlog (sock, SOMAXCONN);
  g_socket_set_blocking (sock, FALSE);
  if (!g_socket_bind (sock, addr, TRUE, error) || !g_socket_listen (sock, error))
    return NULL;
  return g_steal_pointer (&sock);
}

static guint
max_total_connections (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
    return MAX_TOTAL_CEILING;
  return (guint) CLAMP (rl.rlim_cur / 4, MAX_PER_ADDRESS, MAX_TOTAL_CEILING);
}

FerryHttpsListener *
ferry_https_listener_new (SoupServer *server, GTlsCertificate *cert, GInetAddress *inet, guint16 port,
                          GError **error)
{
  FerryHttpsListener *l;
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GError) v6_error = NULL;

  if (inet != NULL)
    sock = listen_socket (g_inet_address_get_family (inet), inet, port, error);
  else
    {
      sock = listen_socket (G_SOCKET_FAMILY_IPV6, NULL, port, &v6_error);
      /* A host without IPv6 still listens on IPv4. */
      if (sock == NULL && !g_error_matches (v6_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        sock = listen_socket (G_SOCKET_FAMILY_IPV4, NULL, port, error);
      else if (sock == NULL)
        g_propagate_error (error, g_steal_pointer (&v6_error));
    }
  if (sock == NULL)
    return NULL;
  l = g_new0 (FerryHttpsListener, 1);
  l->refs = 1;
  l->server = g_object_ref (server);
  l->cert = g_object_ref (cert);
  l->sockets = g_ptr_array_new_with_free_func (g_object_unref);
  l->sources = g_ptr_array_new_with_free_func ((GDestroyNotify) g_source_unref);
  l->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  l->max_total = max_total_connections ();
  l->handshakes = g_thread_pool_new (handshake_in_thread, NULL, HANDSHAKE_THREADS, FALSE, NULL);
  g_ptr_array_add (l->sockets, g_steal_pointer (&sock));
  start_accepting (l);
  return l;
}

void
ferry_https_listener_close (FerryHttpsListener *l)
{
  if (l == NULL)
    return;
  l->closed = TRUE;
  stop_accepting (l);
  if (l->resume_source != 0)
    g_source_remove (l->resume_source);
  l->resume_source = 0;
  for (guint i = 0; i < l->sockets->len; i++)
    g_socket_close (g_ptr_array_index (l->sockets, i), NULL);
  listener_unref (l);
}
