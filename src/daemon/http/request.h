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
/* OBJECT (taken), with the ETag of its WRITABLE members (see ferry_etag_of). */
void ferry_respond_sync_etag (SoupServerMessage *msg, JsonNode *object, const char *const *writable);
/* 200 with metadata {}: LXD's answer to a change made at once (PATCH). */
void ferry_respond_sync_empty (SoupServerMessage *msg);
/* 201 Created with metadata null and Location /1.0/COLLECTION/NAME (the
 * object made or renamed), as LXD answers a create or rename done at once. */
void ferry_respond_sync_location (SoupServerMessage *msg, const char *collection, const char *name);
void ferry_respond_error (SoupServerMessage *msg, const GError *error);
void ferry_respond_error_literal (SoupServerMessage *msg, int status, const char *message);
/* The text of an error envelope, for answers written outside libsoup. */
char *ferry_json_error_text (int status, const char *message);
/* 202 with the operation object OPERATION (taken), at URL (Location). */
void ferry_respond_async_json (SoupServerMessage *msg, const char *url, JsonNode *operation);
void ferry_respond_raw (SoupServerMessage *msg, const char *content_type, GBytes *bytes);

/* The ETag of OBJECT as GET shows it: the SHA-256 (hex) of its members
 * named in WRITABLE (the fields a PUT may change; NULL: all of it), objects'
 * keys sorted, so that it changes exactly when one of those fields does. */
char *ferry_etag_of (JsonNode *object, const char *const *writable);
/* If-Match of a PUT or PATCH against OBJECT's ETag: TRUE when absent or
 * equal (quoted or not); else FALSE with FERRY_ERROR_PRECONDITION (412) in
 * LXD's words, and the caller changes nothing. */
gboolean ferry_request_if_match (FerryRequest *req, JsonNode *object, const char *const *writable, GError **error);

/* 501 "not implemented", LXD's answer to an unknown verb on a known path. */
void ferry_respond_not_allowed (SoupServerMessage *msg);

/* JSON builder shortcuts. */
JsonNode *ferry_json_string_list (const char *const *items);
JsonNode *ferry_json_url_list (const char *prefix, GPtrArray *names);
