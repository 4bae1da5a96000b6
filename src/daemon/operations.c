#include "daemon/operations.h"
#include "daemon/http/http.h"
#include "common/error.h"
#include "common/json.h"
#include "common/secret.h"
#include "common/timeutil.h"

#include <stdarg.h>
#include <string.h>

/* Finished operations stay readable this long: `lxc` reads the operation
 * once after its event arrives (LXD keeps them 5 s). */
#define FINISHED_OPERATION_KEEP_SECONDS 10

struct FerryOperation
{
  gint ref_count;
  FerryDaemon *daemon;
  char *id;
  FerryOperationClass klass;
  char *description;
  gint64 created_at;
  gint64 updated_at;
  int status_code;
  char *err;
  GMutex lock; /* metadata may be updated from the worker thread */
  JsonObject *metadata;
  GHashTable *resources; /* type -> GPtrArray of urls */
  GHashTable *secrets;   /* channel -> secret */
  GCancellable *cancellable;
  GCallback cancel_cb;
  gpointer cancel_data;
  FerryOperationConnect connect_cb;
  gpointer connect_data;
  FerryOperationRawConnect raw_connect_cb;
  gpointer raw_connect_data;
  GPtrArray *waiters; /* paused /wait requests */
  gboolean registered;
  gboolean no_legacy_containers;
  JsonNode *requestor; /* who asked for it (LXD's EventLifecycleRequestor), or NULL */
  GError *refusal;     /* ferry_operation_refuse's, until it fails */

  FerryOperationWork work;
  FerryOperationDone done;
  gpointer data;
  GDestroyNotify free_data;
};

typedef struct
{
  SoupWebsocketConnection *conn;
  char **types; /* NULL = every type */
} EventListener;

static const char *
status_text (int code)
{
  switch (code)
    {
    case 100: return "Created";
    case 103: return "Running";
    case 105: return "Pending";
    case 200: return "Success";
    case 400: return "Failure";
    case 401: return "Cancelled";
    default: return "Unknown";
    }
}

FerryOperation *
ferry_operation_new (FerryDaemon *d, FerryOperationClass klass, const char *description)
{
  FerryOperation *op = g_new0 (FerryOperation, 1);

  op->ref_count = 1;
  op->daemon = d;
  op->id = g_uuid_string_random ();
  op->klass = klass;
  op->description = g_strdup (description);
  op->created_at = op->updated_at = ferry_time_now ();
  op->status_code = 103;
  g_mutex_init (&op->lock);
  op->metadata = json_object_new ();
  op->resources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  op->secrets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  op->cancellable = g_cancellable_new ();
  op->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  if (d->requestor != NULL)
    op->requestor = json_node_copy (d->requestor);
  return op;
}

FerryOperation *
ferry_operation_ref (FerryOperation *op)
{
  g_atomic_int_inc (&op->ref_count);
  return op;
}

void
ferry_operation_unref (FerryOperation *op)
{
  if (op == NULL || !g_atomic_int_dec_and_test (&op->ref_count))
    return;
  g_free (op->id);
  g_free (op->description);
  g_free (op->err);
  g_mutex_clear (&op->lock);
  json_object_unref (op->metadata);
  g_hash_table_unref (op->resources);
  g_hash_table_unref (op->secrets);
  g_object_unref (op->cancellable);
  g_ptr_array_unref (op->waiters);
  if (op->requestor != NULL)
    json_node_unref (op->requestor);
  g_clear_error (&op->refusal);
  if (op->free_data != NULL)
    op->free_data (op->data);
  g_free (op);
}

const char *
ferry_operation_id (FerryOperation *op)
{
  return op->id;
}

gboolean
ferry_operation_is_final (FerryOperation *op)
{
  return op->status_code >= 200;
}

void
ferry_operation_add_resource (FerryOperation *op, const char *type, const char *url)
{
  GPtrArray *urls = g_hash_table_lookup (op->resources, type);

  if (urls == NULL)
    {
      urls = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (op->resources, g_strdup (type), urls);
    }
  g_ptr_array_add (urls, g_strdup (url));
}

void
ferry_operation_omit_legacy_containers (FerryOperation *op)
{
  op->no_legacy_containers = TRUE;
}

static void
add_resources_member (JsonBuilder *b, FerryOperation *op)
{
  GHashTableIter iter;
  gpointer key, value;
  GPtrArray *instances = g_hash_table_lookup (op->resources, "instances");

  json_builder_set_member_name (b, "resources");
  json_builder_begin_object (b);
  g_hash_table_iter_init (&iter, op->resources);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GPtrArray *urls = value;
      /* LXD repeats the instances of most container operations under their
       * pre-VM name and URL (/1.0/containers/c1); clients older than
       * "instances" read only that. */
      gboolean legacy = instances == urls && !op->no_legacy_containers
                        && !g_hash_table_contains (op->resources, "containers");

      for (int pass = 0; pass < (legacy ? 2 : 1); pass++)
        {
          json_builder_set_member_name (b, pass == 0 ? key : "containers");
          json_builder_begin_array (b);
          for (guint i = 0; i < urls->len; i++)
            {
              const char *url = g_ptr_array_index (urls, i);
              g_autofree char *legacy_url = NULL;

              if (pass == 1 && g_str_has_prefix (url, "/1.0/instances/"))
                url = legacy_url = g_strconcat ("/1.0/containers/", url + strlen ("/1.0/instances/"), NULL);
              json_builder_add_string_value (b, url);
            }
          json_builder_end_array (b);
        }
    }
  json_builder_end_object (b);
}

static gboolean
broadcast_idle (gpointer user_data)
{
  FerryOperation *op = user_data;

  ferry_events_send (op->daemon, "operation", ferry_operation_to_json (op));
  return G_SOURCE_REMOVE;
}

static void
metadata_changed (FerryOperation *op)
{
  op->updated_at = ferry_time_now ();
  if (!op->registered)
    return;
  g_idle_add_full (G_PRIORITY_DEFAULT, broadcast_idle, ferry_operation_ref (op),
                   (GDestroyNotify) ferry_operation_unref);
}

void
ferry_operation_set_metadata_node (FerryOperation *op, const char *key, JsonNode *value)
{
  g_mutex_lock (&op->lock);
  json_object_set_member (op->metadata, key, value);
  g_mutex_unlock (&op->lock);
  metadata_changed (op);
}

void
ferry_operation_set_metadata_string (FerryOperation *op, const char *key, const char *value)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_string (node, value);
  ferry_operation_set_metadata_node (op, key, node);
}

void
ferry_operation_set_metadata_int (FerryOperation *op, const char *key, gint64 value)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_int (node, value);
  ferry_operation_set_metadata_node (op, key, node);
}

void
ferry_operation_set_cancel (FerryOperation *op, GCallback cancel, gpointer data)
{
  op->cancel_cb = cancel;
  op->cancel_data = data;
}

static void
add_string_member (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value ? value : "");
}

static void
add_time_member (JsonBuilder *b, const char *name, gint64 usec)
{
  g_autofree char *t = ferry_time_rfc3339 (usec);
  add_string_member (b, name, t);
}

void
ferry_respond_async (SoupServerMessage *msg, FerryOperation *op)
{
  g_autofree char *url = g_strdup_printf ("/1.0/operations/%s", ferry_operation_id (op));

  ferry_respond_async_json (msg, url, ferry_operation_to_json (op));
}

JsonNode *
ferry_operation_to_json (FerryOperation *op)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer key, value;

  json_builder_begin_object (b);
  add_string_member (b, "id", op->id);
  add_string_member (b, "class", op->klass == FERRY_OP_CLASS_TASK        ? "task"
                                 : op->klass == FERRY_OP_CLASS_TOKEN ? "token"
                                                                     : "websocket");
  add_string_member (b, "description", op->description);
  add_time_member (b, "created_at", op->created_at);
  add_time_member (b, "updated_at", op->updated_at);
  add_string_member (b, "status", status_text (op->status_code));
  json_builder_set_member_name (b, "status_code");
  json_builder_add_int_value (b, op->status_code);
  add_resources_member (b, op);
  json_builder_set_member_name (b, "metadata");
  g_mutex_lock (&op->lock);
  {
    JsonNode *meta = json_node_new (JSON_NODE_OBJECT);
    JsonObject *copy = json_object_new ();
    JsonObjectIter it;
    const char *mk;
    JsonNode *mv;

    json_object_iter_init (&it, op->metadata);
    while (json_object_iter_next (&it, &mk, &mv))
      json_object_set_member (copy, mk, json_node_copy (mv));
    if (op->klass == FERRY_OP_CLASS_WEBSOCKET && !ferry_operation_is_final (op))
      {
        /* Secrets are shown while the operation waits for its websockets. */
        JsonObject *fds = json_object_new ();
        g_hash_table_iter_init (&iter, op->secrets);
        while (g_hash_table_iter_next (&iter, &key, &value))
          json_object_set_string_member (fds, key, value);
        /* Migration operations show theirs as string members instead. */
        if (json_object_has_member (copy, "fds") || json_object_has_member (copy, "control")
            || g_hash_table_size (op->secrets) == 0)
          json_object_unref (fds);
        else
          json_object_set_object_member (copy, "fds", fds);
      }
    /* LXD sends null, not {}, for an operation without metadata. */
    if (json_object_get_size (copy) == 0)
      {
        json_object_unref (copy);
        json_node_init_null (meta);
      }
    else
      json_node_take_object (meta, copy);
    json_builder_add_value (b, meta);
  }
  g_mutex_unlock (&op->lock);
  json_builder_set_member_name (b, "may_cancel");
  json_builder_add_boolean_value (b, op->cancel_cb != NULL && !ferry_operation_is_final (op));
  add_string_member (b, "err", op->err);
  add_string_member (b, "location", "none");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

FerryOperation *
ferry_operation_lookup (FerryDaemon *d, const char *id)
{
  return g_hash_table_lookup (d->operations, id);
}

static gboolean
forget_operation (gpointer user_data)
{
  FerryOperation *op = user_data;

  g_hash_table_remove (op->daemon->operations, op->id);
  return G_SOURCE_REMOVE;
}

void
ferry_operation_register (FerryOperation *op)
{
  op->registered = TRUE;
  g_hash_table_insert (op->daemon->operations, op->id, ferry_operation_ref (op));
  /* LXD announces an operation as Pending when it is created, then as
   * Running when it starts; clients that follow events see both. */
  if (!ferry_operation_is_final (op))
    {
      op->status_code = 105;
      ferry_events_send (op->daemon, "operation", ferry_operation_to_json (op));
      op->status_code = 103;
    }
  ferry_events_send (op->daemon, "operation", ferry_operation_to_json (op));
}

void
ferry_operation_finish (FerryOperation *op, const GError *error)
{
  if (ferry_operation_is_final (op))
    return;
  if (error == NULL)
    op->status_code = 200;
  else
    {
      op->status_code = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? 401 : 400;
      op->err = g_strdup (error->message);
      g_message ("operation %s (%s) failed: %s", op->id, op->description, error->message);
    }
  op->updated_at = ferry_time_now ();
  ferry_events_send (op->daemon, "operation", ferry_operation_to_json (op));

  for (guint i = 0; i < op->waiters->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (op->waiters, i);
      ferry_respond_sync (msg, ferry_operation_to_json (op));
      soup_server_message_unpause (msg);
    }
  g_ptr_array_set_size (op->waiters, 0);
  if (op->registered)
    g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, FINISHED_OPERATION_KEEP_SECONDS, forget_operation,
                                ferry_operation_ref (op), (GDestroyNotify) ferry_operation_unref);
}

static void
work_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  FerryOperation *op = task_data;
  GError *error = NULL;

  if (op->work (op, op->data, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
work_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FerryOperation *op = user_data;
  g_autoptr (GError) error = NULL;

  g_task_propagate_boolean (G_TASK (result), &error);
  if (op->done != NULL)
    {
      /* The lifecycle events done sends are on behalf of who asked. */
      JsonNode *outer = op->daemon->requestor;

      op->daemon->requestor = op->requestor;
      op->done (op, op->data, &error);
      op->daemon->requestor = outer;
    }
  /* The work's resources (temporary files...) go now, not when the finished
   * operation is forgotten. */
  if (op->free_data != NULL)
    op->free_data (op->data);
  op->free_data = NULL;
  op->data = NULL;
  ferry_operation_finish (op, error);
  ferry_operation_unref (op);
}

void
ferry_operation_run (FerryOperation *op, FerryOperationWork work, FerryOperationDone done, gpointer data,
                     GDestroyNotify free_data)
{
  g_autoptr (GTask) task = NULL;

  op->work = work;
  op->done = done;
  op->data = data;
  op->free_data = free_data;
  ferry_operation_register (op);
  task = g_task_new (NULL, op->cancellable, work_finished, ferry_operation_ref (op));
  g_task_set_task_data (task, op, NULL);
  g_task_run_in_thread (task, work_in_thread);
}

static gboolean
refuse_idle (gpointer user_data)
{
  FerryOperation *op = user_data;
  g_autoptr (GError) error = g_steal_pointer (&op->refusal);

  ferry_operation_finish (op, error);
  return G_SOURCE_REMOVE;
}

void
ferry_operation_refuse (FerryOperation *op, const GError *error)
{
  op->refusal = g_error_copy (error);
  ferry_operation_register (op);
  /* Fails after its 202 was written, as LXD's operation does. */
  g_idle_add_full (G_PRIORITY_DEFAULT, refuse_idle, ferry_operation_ref (op), (GDestroyNotify) ferry_operation_unref);
}

const char *
ferry_operation_add_secret (FerryOperation *op, const char *channel)
{
  /* Secrets guard exec and migration channels: kernel randomness only. */
  g_hash_table_insert (op->secrets, g_strdup (channel), ferry_secret_new_hex (32));
  return g_hash_table_lookup (op->secrets, channel);
}

void
ferry_operation_set_connect_handler (FerryOperation *op, FerryOperationConnect handler, gpointer data)
{
  op->connect_cb = handler;
  op->connect_data = data;
}

/* Events */

static void
listener_free (EventListener *l)
{
  g_object_unref (l->conn);
  g_strfreev (l->types);
  g_free (l);
}

static gboolean
listener_free_idle (gpointer l)
{
  listener_free (l);
  return G_SOURCE_REMOVE;
}

static gboolean
listener_wants (EventListener *l, const char *type)
{
  return l->types == NULL || g_strv_contains ((const char *const *) l->types, type);
}

void
ferry_events_send (FerryDaemon *d, const char *type, JsonNode *metadata)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  add_string_member (b, "type", type);
  add_time_member (b, "timestamp", ferry_time_now ());
  add_string_member (b, "location", "none");
  /* LXD's logging events belong to no project. */
  if (strcmp (type, "logging") != 0)
    add_string_member (b, "project", "default");
  json_builder_set_member_name (b, "metadata");
  json_builder_add_value (b, metadata);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = ferry_json_to_string (root, FALSE);

  for (guint i = 0; i < d->listeners->len; i++)
    {
      EventListener *l = g_ptr_array_index (d->listeners, i);
      if (soup_websocket_connection_get_state (l->conn) == SOUP_WEBSOCKET_STATE_OPEN && listener_wants (l, type))
        soup_websocket_connection_send_text (l->conn, text);
    }
}

JsonNode *
ferry_events_context (const char *key, ...)
{
  JsonObject *context = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  va_list ap;

  va_start (ap, key);
  for (const char *k = key; k != NULL; k = va_arg (ap, const char *))
    json_object_set_string_member (context, k, va_arg (ap, const char *));
  va_end (ap);
  json_node_take_object (node, context);
  return node;
}

/* LXD names who asked in an instance's event only while the instance runs
 * a state change's operation (its SetOperation); events of a request on
 * anything else (profiles, images, networks, an instance's logs or
 * metadata) always do. */
static gboolean
lifecycle_names_requestor (const char *action)
{
  static const char *const state_changes[] = { "instance-started", "instance-stopped", "instance-shutdown",
                                               "instance-restarted", "instance-paused", "instance-resumed", NULL };

  if (!g_str_has_prefix (action, "instance-") || g_str_has_prefix (action, "instance-log-")
      || g_str_has_prefix (action, "instance-metadata-"))
    return TRUE;
  return g_strv_contains (state_changes, action);
}

void
ferry_events_lifecycle (FerryDaemon *d, const char *action, const char *source, JsonNode *context)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_string_member (b, "action", action);
  add_string_member (b, "source", source);
  if (d->requestor != NULL && lifecycle_names_requestor (action))
    {
      json_builder_set_member_name (b, "requestor");
      json_builder_add_value (b, json_node_copy (d->requestor));
    }
  /* LXD leaves an empty context out. */
  if (context != NULL && !(JSON_NODE_HOLDS_OBJECT (context) && json_object_get_size (json_node_get_object (context)) == 0))
    {
      json_builder_set_member_name (b, "context");
      json_builder_add_value (b, context);
    }
  else if (context != NULL)
    json_node_unref (context);
  json_builder_end_object (b);
  ferry_events_send (d, "lifecycle", json_builder_get_root (b));
}

typedef struct
{
  FerryDaemon *daemon;
  char *level;
  char *message;
} LogEvent;

static void
log_event_free (LogEvent *ev)
{
  g_free (ev->level);
  g_free (ev->message);
  g_free (ev);
}

/* Set while a logging event is sent: what sending logs is not sent again. */
static gboolean sending_log;

static gboolean
log_event_idle (gpointer user_data)
{
  LogEvent *ev = user_data;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  if (ev->daemon->listeners->len == 0)
    return G_SOURCE_REMOVE;
  json_builder_begin_object (b);
  add_string_member (b, "message", ev->message);
  add_string_member (b, "level", ev->level);
  json_builder_set_member_name (b, "context");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  sending_log = TRUE;
  ferry_events_send (ev->daemon, "logging", json_builder_get_root (b));
  sending_log = FALSE;
  return G_SOURCE_REMOVE;
}

void
ferry_events_log (FerryDaemon *d, const char *level, const char *message)
{
  LogEvent *ev;

  if (g_main_context_is_owner (g_main_context_default ()) && sending_log)
    return;
  ev = g_new0 (LogEvent, 1);
  ev->daemon = d;
  ev->level = g_strdup (level);
  ev->message = g_strdup (message);
  g_idle_add_full (G_PRIORITY_DEFAULT, log_event_idle, ev, (GDestroyNotify) log_event_free);
}

static void
listener_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  FerryDaemon *d = user_data;

  for (guint i = 0; i < d->listeners->len; i++)
    {
      EventListener *l = g_ptr_array_index (d->listeners, i);
      if (l->conn == conn)
        {
          g_ptr_array_remove_index_fast (d->listeners, i);
          /* Not freed here: libsoup is still emitting "closed" on the connection
           * whose last reference the listener holds. */
          g_idle_add (listener_free_idle, l);
          return;
        }
    }
}

void
ferry_events_add_listener (FerryDaemon *d, SoupWebsocketConnection *conn, char **types)
{
  EventListener *l = g_new0 (EventListener, 1);

  l->conn = g_object_ref (conn);
  l->types = types;
  g_signal_connect (conn, "closed", G_CALLBACK (listener_closed), d);
  g_ptr_array_add (d->listeners, l);
}

void ferry_events_listener_free (gpointer l);
void
ferry_events_listener_free (gpointer l)
{
  listener_free (l);
}

const char *
ferry_operation_status_group (FerryOperation *op)
{
  switch (op->status_code)
    {
    case 200: return "success";
    case 400: return "failure";
    case 401: return "cancelled";
    default: return "running";
    }
}

gboolean
ferry_operation_cancel (FerryOperation *op)
{
  if (op->cancel_cb == NULL || ferry_operation_is_final (op))
    return FALSE;
  g_cancellable_cancel (op->cancellable);
  ((void (*) (FerryOperation *, gpointer)) op->cancel_cb) (op, op->cancel_data);
  return TRUE;
}

static gboolean
wait_timeout (gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  FerryOperation *op = g_object_get_data (G_OBJECT (msg), "ferry-op");

  if (op != NULL && g_ptr_array_remove (op->waiters, msg))
    {
      ferry_respond_sync (msg, ferry_operation_to_json (op));
      soup_server_message_unpause (msg);
    }
  return G_SOURCE_REMOVE;
}

void
ferry_operation_wait (FerryOperation *op, SoupServerMessage *msg, gint64 timeout)
{
  if (ferry_operation_is_final (op) || timeout == 0)
    {
      ferry_respond_sync (msg, ferry_operation_to_json (op));
      return;
    }
  g_object_set_data_full (G_OBJECT (msg), "ferry-op", ferry_operation_ref (op), (GDestroyNotify) ferry_operation_unref);
  g_ptr_array_add (op->waiters, g_object_ref (msg));
  soup_server_message_pause (msg);
  if (timeout > 0)
    g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, (guint) MIN (timeout, 86400), wait_timeout, g_object_ref (msg),
                                g_object_unref);
}

typedef struct
{
  FerryOperation *op;
  char *channel;
} SocketAccept;

static void
socket_accept_free (SocketAccept *accept)
{
  ferry_operation_unref (accept->op);
  g_free (accept->channel);
  g_free (accept);
}

static void
operation_socket_ready (SoupWebsocketConnection *conn, gpointer user_data)
{
  SocketAccept *accept = user_data;

  if (accept->op->connect_cb != NULL && !ferry_operation_is_final (accept->op))
    accept->op->connect_cb (accept->op, accept->channel, conn, accept->op->connect_data);
  else
    soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  socket_accept_free (accept);
}

static void
operation_stream_ready (GIOStream *stream, gpointer user_data)
{
  SocketAccept *accept = user_data;

  if (accept->op->raw_connect_cb != NULL && !ferry_operation_is_final (accept->op))
    accept->op->raw_connect_cb (accept->op, accept->channel, stream, accept->op->raw_connect_data);
  else
    g_io_stream_close (stream, NULL, NULL);
  socket_accept_free (accept);
}

void
ferry_operation_set_raw_connect_handler (FerryOperation *op, FerryOperationRawConnect handler, gpointer data)
{
  op->raw_connect_cb = handler;
  op->raw_connect_data = data;
}

void
ferry_operation_accept_websocket (FerryOperation *op, SoupServerMessage *msg, const char *secret)
{
  GHashTableIter iter;
  gpointer key, value;

  if (secret == NULL || ferry_operation_is_final (op))
    {
      ferry_respond_error_literal (msg, 403, "Missing or expired websocket secret");
      return;
    }
  g_hash_table_iter_init (&iter, op->secrets);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      if (ferry_secret_equal (value, secret))
        {
          SocketAccept *accept = g_new0 (SocketAccept, 1);
          accept->op = ferry_operation_ref (op);
          accept->channel = g_strdup (key);
          /* A secret opens one websocket, once. */
          g_hash_table_iter_remove (&iter);
          if (op->raw_connect_cb != NULL ? !ferry_websocket_accept_raw (msg, operation_stream_ready, accept)
                                         : !ferry_websocket_accept (msg, operation_socket_ready, accept))
            socket_accept_free (accept);
          return;
        }
    }
  ferry_respond_error_literal (msg, 403, "Invalid websocket secret");
}

typedef struct
{
  GSourceFunc fn;
  gpointer data;
  gboolean done;
  GMutex lock;
  GCond cond;
} MainCall;

static gboolean
main_call_run (gpointer user_data)
{
  MainCall *mc = user_data;

  mc->fn (mc->data);
  g_mutex_lock (&mc->lock);
  mc->done = TRUE;
  g_cond_signal (&mc->cond);
  g_mutex_unlock (&mc->lock);
  return G_SOURCE_REMOVE;
}

void
ferry_operation_call_main (GSourceFunc fn, gpointer data)
{
  MainCall mc = { .fn = fn, .data = data };

  g_mutex_init (&mc.lock);
  g_cond_init (&mc.cond);
  g_main_context_invoke (NULL, main_call_run, &mc);
  g_mutex_lock (&mc.lock);
  while (!mc.done)
    g_cond_wait (&mc.cond, &mc.lock);
  g_mutex_unlock (&mc.lock);
  g_mutex_clear (&mc.lock);
  g_cond_clear (&mc.cond);
}
