/* A request as the API sees it, and LXD's response envelopes (sync, async,
 * error): what every handler and guard answers with (request.c). */
#pragma once

#include "daemon/daemon.h"

typedef struct
{
  FerryDaemon *daemon;
  SoupServerMessage *msg;
  const char *method;
  char **parts;       /* decoded path segments after "/1.0/" */
  guint n_parts;
  GHashTable *query;  /* decoded query parameters, may be NULL */
  GBytes *body;
  gboolean https;         /* came over the HTTPS listener (else the unix socket) */
  gboolean trusted;       /* unix socket (root), or a trusted client certificate */
  const char *peer_fingerprint; /* HTTPS: the client certificate's, or NULL */
} FerryRequest;

/* Query parameter or NULL. */
const char *ferry_request_query (FerryRequest *req, const char *key);
/* recursion=N, default 0. */
int ferry_request_recursion (FerryRequest *req);
/* Parses the body as a JSON object (error if it is not one). */
JsonObject *ferry_request_json (FerryRequest *req, gboolean allow_empty, GError **error);

void ferry_respond_sync (SoupServerMessage *msg, JsonNode *metadata);          /* takes metadata */
void ferry_respond_sync_etag (SoupServerMessage *msg, JsonNode *metadata, const char *etag);
void ferry_respond_error (SoupServerMessage *msg, const GError *error);
void ferry_respond_error_literal (SoupServerMessage *msg, int status, const char *message);
/* The text of an error envelope, for answers written outside libsoup. */
char *ferry_json_error_text (int status, const char *message);
/* 202 with the operation object OPERATION (taken), at URL (Location). */
void ferry_respond_async_json (SoupServerMessage *msg, const char *url, JsonNode *operation);
void ferry_respond_raw (SoupServerMessage *msg, const char *content_type, GBytes *bytes);

/* Request body: method-not-allowed, sent for unknown verbs on a known path. */
void ferry_respond_not_allowed (SoupServerMessage *msg);

/* JSON builder shortcuts. */
JsonNode *ferry_json_string_list (const char *const *items);
JsonNode *ferry_json_url_list (const char *prefix, GPtrArray *names);
