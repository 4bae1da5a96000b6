/* The unix socket's listener. pylxd's websocket client (ws4py) sends
 * "Host: localhost:None" on the unix socket; LXD (Go's net/http) ignores the
 * Host there, libsoup answers 400 before any handler runs, since it builds
 * the request's URI from it. So each connection's request head is read here
 * first and such a port dropped, then libsoup gets the connection with the
 * head put back in front of the rest of the stream. ferryd answers one
 * request per connection (http.c), so the first head is the only one. */
#include "daemon/http/unix-listener.h"

#include <string.h>

#define SOCKET_KEY "ferry-unix-socket"
/* A head larger than this goes to libsoup as it is (libsoup refuses it). */
#define HEAD_MAX (64 * 1024)
/* A client that sends no complete head by then is dropped. */
#define HEAD_TIMEOUT_SECONDS 60

/* ---- an input stream that first gives back bytes already read ---- */

typedef struct
{
  GInputStream parent;
  GInputStream *base;     /* the socket's */
  GIOStream *connection;  /* closed with this stream */
  GBytes *prefix;
  gsize offset;
} PrefixInputStream;

typedef struct
{
  GInputStreamClass parent_class;
} PrefixInputStreamClass;

static void prefix_pollable_init (GPollableInputStreamInterface *iface);
static GType prefix_input_stream_get_type (void);
G_DEFINE_TYPE_WITH_CODE (PrefixInputStream, prefix_input_stream, G_TYPE_INPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM, prefix_pollable_init))

static gsize
prefix_left (PrefixInputStream *self)
{
  return self->prefix != NULL ? g_bytes_get_size (self->prefix) - self->offset : 0;
}

static gssize
take_prefix (PrefixInputStream *self, void *buffer, gsize count)
{
  gsize n = MIN (count, prefix_left (self));

  memcpy (buffer, (const guint8 *) g_bytes_get_data (self->prefix, NULL) + self->offset, n);
  self->offset += n;
  if (prefix_left (self) == 0)
    g_clear_pointer (&self->prefix, g_bytes_unref);
  return (gssize) n;
}

static gssize
prefix_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable, GError **error)
{
  PrefixInputStream *self = (PrefixInputStream *) stream;

  if (prefix_left (self) > 0)
    return take_prefix (self, buffer, count);
  return g_input_stream_read (self->base, buffer, count, cancellable, error);
}

static gboolean
prefix_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  PrefixInputStream *self = (PrefixInputStream *) stream;

  /* The socket's own streams do not close it: its connection does. */
  return g_io_stream_close (self->connection, cancellable, error);
}

static gboolean
prefix_can_poll (GPollableInputStream *stream)
{
  return TRUE;
}

static gboolean
prefix_is_readable (GPollableInputStream *stream)
{
  PrefixInputStream *self = (PrefixInputStream *) stream;

  return prefix_left (self) > 0 || g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->base));
}

static GSource *
prefix_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  PrefixInputStream *self = (PrefixInputStream *) stream;
  g_autoptr (GSource) base = prefix_left (self) > 0
                                 ? g_timeout_source_new (0)
                                 : g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base),
                                                                          cancellable);

  return g_pollable_source_new_full (stream, base, cancellable);
}

static gssize
prefix_read_nonblocking (GPollableInputStream *stream, void *buffer, gsize count, GError **error)
{
  PrefixInputStream *self = (PrefixInputStream *) stream;

  if (prefix_left (self) > 0)
    return take_prefix (self, buffer, count);
  return g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (self->base), buffer, count, NULL,
                                                   error);
}

static void
prefix_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = prefix_can_poll;
  iface->is_readable = prefix_is_readable;
  iface->create_source = prefix_create_source;
  iface->read_nonblocking = prefix_read_nonblocking;
}

static void
prefix_finalize (GObject *object)
{
  PrefixInputStream *self = (PrefixInputStream *) object;

  g_clear_pointer (&self->prefix, g_bytes_unref);
  g_clear_object (&self->base);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (prefix_input_stream_parent_class)->finalize (object);
}

static void
prefix_input_stream_class_init (PrefixInputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = prefix_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = prefix_read;
  G_INPUT_STREAM_CLASS (klass)->close_fn = prefix_close;
}

static void
prefix_input_stream_init (PrefixInputStream *self)
{
}

/* ---- the Host header ---- */

static gboolean
all_digits (const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

GBytes *
ferry_unix_fix_host (const guint8 *head, gsize len)
{
  const char *text = (const char *) head;
  const char *end = g_strstr_len (text, (gssize) len, "\r\n\r\n");
  const char *line;

  if (end == NULL)
    return NULL;
  for (line = g_strstr_len (text, end - text, "\r\n"); line != NULL && line < end;
       line = g_strstr_len (line + 2, end - line - 2, "\r\n"))
    {
      const char *value = line + 2, *value_end, *colon;

      if (end - value < 5 || g_ascii_strncasecmp (value, "Host:", 5) != 0)
        continue;
      value += 5;
      value_end = g_strstr_len (value, end + 2 - value, "\r\n");
      while (value < value_end && (*value == ' ' || *value == '\t'))
        value++;
      /* "[v6]:port" keeps its port; so does any numeric port. */
      if (*value == '[' || (colon = memchr (value, ':', value_end - value)) == NULL)
        return NULL;
      while (value_end > colon + 1 && (value_end[-1] == ' ' || value_end[-1] == '\t'))
        value_end--;
      if (all_digits (colon + 1, value_end - colon - 1))
        return NULL;
      /* Everything but ":port". */
      GByteArray *fixed = g_byte_array_sized_new ((guint) len);
      g_byte_array_append (fixed, head, (guint) (colon - text));
      g_byte_array_append (fixed, (const guint8 *) value_end, (guint) (len - (gsize) (value_end - text)));
      return g_byte_array_free_to_bytes (fixed);
    }
  return NULL;
}

/* ---- accepting ---- */

typedef struct
{
  SoupServer *server;
  GSocket *socket;
  GByteArray *head;
  GSource *readable;
  guint timeout;
} PendingConn;

static void
pending_free (PendingConn *p)
{
  if (p->readable != NULL)
    {
      g_source_destroy (p->readable);
      g_source_unref (p->readable);
    }
  if (p->timeout != 0)
    g_source_remove (p->timeout);
  g_clear_pointer (&p->head, g_byte_array_unref);
  g_clear_object (&p->socket);
  g_object_unref (p->server);
  g_free (p);
}

static void
hand_over (PendingConn *p)
{
  g_autoptr (GSocketConnection) conn = g_socket_connection_factory_create_connection (p->socket);
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (p->socket, NULL);
  g_autoptr (GSocketAddress) remote = g_socket_get_remote_address (p->socket, NULL);
  g_autoptr (GBytes) head = ferry_unix_fix_host (p->head->data, p->head->len);
  PrefixInputStream *in = g_object_new (prefix_input_stream_get_type (), NULL);
  g_autoptr (GIOStream) stream = NULL;

  if (local == NULL || remote == NULL)
    return; /* the socket closes with p */
  in->base = g_object_ref (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  in->connection = G_IO_STREAM (g_object_ref (conn));
  in->prefix = head != NULL ? g_bytes_ref (head) : g_byte_array_free_to_bytes (g_steal_pointer (&p->head));
  stream = g_simple_io_stream_new (G_INPUT_STREAM (in), g_io_stream_get_output_stream (G_IO_STREAM (conn)));
  g_object_unref (in);
  g_object_set_data_full (G_OBJECT (remote), SOCKET_KEY, g_object_ref (p->socket), g_object_unref);
  soup_server_accept_iostream (p->server, stream, local, remote, NULL);
}

static gboolean
head_readable (GSocket *sock, GIOCondition condition, gpointer data)
{
  PendingConn *p = data;
  guint8 buf[4096];
  gssize n = g_socket_receive (sock, (char *) buf, sizeof buf, NULL, NULL);

  if (n < 0 && condition == G_IO_IN)
    return G_SOURCE_CONTINUE; /* EAGAIN */
  if (n <= 0)
    {
      pending_free (p);
      return G_SOURCE_REMOVE;
    }
  g_byte_array_append (p->head, buf, (guint) n);
  if (p->head->len < HEAD_MAX && g_strstr_len ((const char *) p->head->data, p->head->len, "\r\n\r\n") == NULL)
    return G_SOURCE_CONTINUE;
  hand_over (p);
  pending_free (p);
  return G_SOURCE_REMOVE;
}

static gboolean
head_timed_out (gpointer data)
{
  PendingConn *p = data;

  p->timeout = 0;
  pending_free (p);
  return G_SOURCE_REMOVE;
}

static gboolean
incoming (GSocket *listening, GIOCondition condition, gpointer data)
{
  SoupServer *server = data;
  GSocket *sock;

  while ((sock = g_socket_accept (listening, NULL, NULL)) != NULL)
    {
      PendingConn *p = g_new0 (PendingConn, 1);
      p->server = g_object_ref (server);
      p->socket = sock;
      p->head = g_byte_array_new ();
      g_socket_set_blocking (sock, FALSE);
      p->readable = g_socket_create_source (sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (p->readable, (GSourceFunc) (void (*) (void)) head_readable, p, NULL);
      g_source_attach (p->readable, NULL);
      p->timeout = g_timeout_add_seconds (HEAD_TIMEOUT_SECONDS, head_timed_out, p);
    }
  return G_SOURCE_CONTINUE;
}

void
ferry_unix_listener_start (SoupServer *server, GSocket *listening)
{
  GSource *source;

  g_socket_set_blocking (listening, FALSE);
  source = g_socket_create_source (listening, G_IO_IN, NULL);
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) incoming, g_object_ref (server), g_object_unref);
  g_source_attach (source, NULL);
  g_source_unref (source);
}

GSocket *
ferry_unix_conn_socket (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  GSocket *sock = remote != NULL ? g_object_get_data (G_OBJECT (remote), SOCKET_KEY) : NULL;

  return sock != NULL ? sock : soup_server_message_get_socket (msg);
}
