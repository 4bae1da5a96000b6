/* LXD operations: long work runs in a worker thread while the client waits
 * through /1.0/events or /1.0/operations/ID/wait; websocket operations (exec,
 * migration) hand out secrets. Main-thread only, except the work function. */
#pragma once

#include "daemon/daemon.h"
#include "daemon/http/http.h"

typedef enum
{
  FERRY_OP_CLASS_TASK,
  FERRY_OP_CLASS_WEBSOCKET,
  FERRY_OP_CLASS_TOKEN, /* a pending trust token (lxc config trust list-tokens) */
} FerryOperationClass;

/* Runs in a worker thread; no access to daemon state. */
typedef gboolean (*FerryOperationWork) (FerryOperation *op, gpointer data, GCancellable *cancellable,
                                        GError **error);
/* Runs in the main thread after work; *error holds work's error (or NULL) and
 * may be set or cleared: the operation ends as *error says. */
typedef void (*FerryOperationDone) (FerryOperation *op, gpointer data, GError **error);

FerryOperation *ferry_operation_new (FerryDaemon *d, FerryOperationClass klass, const char *description);
FerryOperation *ferry_operation_ref (FerryOperation *op);
void ferry_operation_unref (FerryOperation *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryOperation, ferry_operation_unref)

const char *ferry_operation_id (FerryOperation *op);
gboolean ferry_operation_is_final (FerryOperation *op);
/* "instances" -> "/1.0/instances/c1" etc. */
void ferry_operation_add_resource (FerryOperation *op, const char *type, const char *url);
/* LXD names most container operations' instances under "containers" too,
 * but not a state change's: this operation leaves that key out. */
void ferry_operation_omit_legacy_containers (FerryOperation *op);
/* Metadata members (main thread, or worker thread for progress: it is locked). */
void ferry_operation_set_metadata_string (FerryOperation *op, const char *key, const char *value);
void ferry_operation_set_metadata_int (FerryOperation *op, const char *key, gint64 value);
void ferry_operation_set_metadata_node (FerryOperation *op, const char *key, JsonNode *value);
void ferry_operation_set_cancel (FerryOperation *op, GCallback cancel, gpointer data);

/* Registers the operation, then runs work in a thread and done in the main
 * thread; data is freed with free_data after done. */
void ferry_operation_run (FerryOperation *op, FerryOperationWork work, FerryOperationDone done, gpointer data,
                          GDestroyNotify free_data);
/* An action that cannot be done: LXD checks it inside the operation, so
 * the client gets its 202, then the operation fails with ERROR. */
void ferry_operation_refuse (FerryOperation *op, const GError *error);
/* For operations that are not a thread: register as running, and finish later. */
void ferry_operation_register (FerryOperation *op);

/* From an operation's work (a worker thread): runs FN (DATA) on the main
 * thread, where the database is used, and returns once it returned. The
 * commit point of an operation whose work goes on after it. */
void ferry_operation_call_main (GSourceFunc fn, gpointer data);
void ferry_operation_finish (FerryOperation *op, const GError *error);

/* Websocket operations: a random secret per channel name. */
const char *ferry_operation_add_secret (FerryOperation *op, const char *channel);
typedef void (*FerryOperationConnect) (FerryOperation *op, const char *channel, SoupWebsocketConnection *conn,
                                       gpointer data);
void ferry_operation_set_connect_handler (FerryOperation *op, FerryOperationConnect handler, gpointer data);

/* Instead: the upgraded stream of each channel, for worker threads. */
typedef void (*FerryOperationRawConnect) (FerryOperation *op, const char *channel, GIOStream *stream, gpointer data);
void ferry_operation_set_raw_connect_handler (FerryOperation *op, FerryOperationRawConnect handler, gpointer data);

JsonNode *ferry_operation_to_json (FerryOperation *op);
/* LXD's 202 answer naming the operation. */
void ferry_respond_async (SoupServerMessage *msg, FerryOperation *op);
FerryOperation *ferry_operation_lookup (FerryDaemon *d, const char *id);

/* Events */
void ferry_events_send (FerryDaemon *d, const char *type, JsonNode *metadata); /* takes metadata */
void ferry_events_lifecycle (FerryDaemon *d, const char *action, const char *source, JsonNode *context);
/* A lifecycle event's context of string members: KEY, VALUE, ..., NULL. */
JsonNode *ferry_events_context (const char *key, ...) G_GNUC_NULL_TERMINATED;
/* A "logging" event (LXD's message, level, context) of a line ferryd logs;
 * callable from any thread: it is sent from the main loop. */
void ferry_events_log (FerryDaemon *d, const char *level, const char *message);
/* A client of /1.0/events (api/events.c), for TYPES (taken; NULL: all). */
void ferry_events_add_listener (FerryDaemon *d, SoupWebsocketConnection *conn, char **types);

/* For /1.0/operations (api/operations.c): "running", "success", "failure"
 * or "cancelled"; cancelling (FALSE if the operation cannot be, or is
 * over); answering MSG with the operation once it is final or after
 * TIMEOUT seconds (-1: none); opening the channel whose secret is SECRET
 * (once: a secret opens one websocket), or answering 403. */
const char *ferry_operation_status_group (FerryOperation *op);
gboolean ferry_operation_cancel (FerryOperation *op);
void ferry_operation_wait (FerryOperation *op, SoupServerMessage *msg, gint64 timeout);
void ferry_operation_accept_websocket (FerryOperation *op, SoupServerMessage *msg, const char *secret);
