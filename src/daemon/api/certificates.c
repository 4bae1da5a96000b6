/* /1.0/certificates: the HTTPS API's trust store, core.trust_password and
 * trust tokens, as LXD 5.0 (lxc remote add, lxc config trust). */
#include "config.h"
#include "daemon/api/api.h"
#include "daemon/operations.h"
#include "daemon/http/tls.h"
#include "common/cert.h"
#include "common/error.h"
#include "common/json.h"
#include "common/secret.h"
#include "daemon/http/password-guard.h"

#include <string.h>

static JsonNode *
certificate_json (const FerryDbCertificate *row)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (o, "name", row->name);
  json_object_set_string_member (o, "type", row->type);
  json_object_set_boolean_member (o, "restricted", row->restricted);
  json_object_set_array_member (o, "projects", json_array_new ());
  json_object_set_string_member (o, "certificate", row->certificate);
  json_object_set_string_member (o, "fingerprint", row->fingerprint);
  json_node_take_object (node, o);
  return node;
}

static void
list_certificates (FerryRequest *req)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rows = ferry_db_certificate_list (req->daemon->db, &error);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  JsonArray *arr;
  JsonNode *node;

  if (rows == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (ferry_request_recursion (req) == 0)
    {
      for (guint i = 0; i < rows->len; i++)
        g_ptr_array_add (names, ((FerryDbCertificate *) g_ptr_array_index (rows, i))->fingerprint);
      ferry_respond_sync (req->msg, ferry_json_url_list ("/1.0/certificates/", names));
      return;
    }
  arr = json_array_new ();
  for (guint i = 0; i < rows->len; i++)
    json_array_add_element (arr, certificate_json (g_ptr_array_index (rows, i)));
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, arr);
  ferry_respond_sync (req->msg, node);
}

struct FerryTrustTokenEntry
{
  char *secret;
  char *name; /* the client name given when the token was made */
  FerryOperation *op;
};

void
ferry_trust_token_entry_free (FerryTrustTokenEntry *entry)
{
  explicit_bzero (entry->secret, strlen (entry->secret));
  g_free (entry->secret);
  g_free (entry->name);
  ferry_operation_unref (entry->op);
  g_free (entry);
}

static void
token_cancelled (FerryOperation *op, gpointer data)
{
  FerryDaemon *d = data;
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation cancelled");

  for (guint i = 0; i < d->https->tokens->len; i++)
    if (((FerryTrustTokenEntry *) g_ptr_array_index (d->https->tokens, i))->op == op)
      {
        g_ptr_array_remove_index (d->https->tokens, i);
        break;
      }
  ferry_operation_finish (op, error);
}

/* A trust token is a running operation holding the secret until it is used
 * or cancelled, as in LXD; lxc config trust add builds the token from its
 * metadata (request.name, secret, fingerprint, addresses). */
static void
create_token (FerryRequest *req, const char *name)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (FerryOperation) op = ferry_operation_new (d, FERRY_OP_CLASS_TOKEN, "Executing operation");
  FerryTrustTokenEntry *entry = g_new0 (FerryTrustTokenEntry, 1);
  JsonObject *request = json_object_new ();
  JsonNode *request_node = json_node_new (JSON_NODE_OBJECT);

  /* The secret is the whole proof of a token: kernel randomness only. */
  entry->secret = ferry_secret_new_hex (32);
  entry->name = g_strdup (name);
  entry->op = ferry_operation_ref (op);
  json_object_set_string_member (request, "name", name);
  json_object_set_string_member (request, "type", "client");
  json_object_set_boolean_member (request, "restricted", FALSE);
  json_node_take_object (request_node, request);
  ferry_operation_set_metadata_node (op, "request", request_node);
  ferry_operation_set_metadata_string (op, "secret", entry->secret);
  ferry_operation_set_metadata_string (op, "fingerprint", d->https->fingerprint);
  ferry_operation_set_metadata_node (op, "addresses", ferry_https_addresses_json (d));
  ferry_operation_set_cancel (op, G_CALLBACK (token_cancelled), d);
  ferry_operation_register (op);
  g_ptr_array_add (d->https->tokens, entry);
  ferry_respond_async (req->msg, op);
}

/* Uses up the pending token whose secret the client sent (lxc sends the
 * whole base64 token as "password"). The name is the one stored with the
 * token: the client's copy of the token is not to be believed. */
static gboolean
use_token (FerryDaemon *d, const char *password, char **name_out)
{
  g_autoptr (FerryTrustToken) token = ferry_trust_token_decode (password, NULL);
  gint found = -1;

  if (token == NULL)
    return FALSE;
  /* Every pending secret is compared, in constant time each. */
  for (guint i = 0; i < d->https->tokens->len; i++)
    if (ferry_secret_equal (((FerryTrustTokenEntry *) g_ptr_array_index (d->https->tokens, i))->secret,
                            token->secret))
      found = (gint) i;
  if (found < 0)
    return FALSE;
  FerryTrustTokenEntry *entry = g_ptr_array_steal_index (d->https->tokens, (guint) found);
  *name_out = g_strdup (entry->name);
  ferry_operation_finish (entry->op, NULL);
  ferry_trust_token_entry_free (entry);
  return TRUE;
}

/* What an untrusted client asks to be trusted as, kept while its password
 * is checked in a worker thread. */
typedef struct
{
  FerryDaemon *daemon;
  SoupServerMessage *msg;
  char *certificate; /* from the body, or "" for the TLS client certificate */
  char *name;
  GTlsCertificate *peer; /* the TLS client certificate, or NULL */
  gboolean disconnected; /* the listener went away during the check */
} TrustRequest;

static void
trust_request_free (TrustRequest *tr)
{
  g_signal_handlers_disconnect_by_data (tr->msg, tr);
  g_object_unref (tr->msg);
  g_free (tr->certificate);
  g_free (tr->name);
  g_clear_object (&tr->peer);
  g_free (tr);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TrustRequest, trust_request_free)

/* Adds the certificate to the trust store and answers the request. */
static void
trust_client (TrustRequest *tr)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsCertificate) cert = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *fp = NULL;
  FerryDbCertificate row = { 0 };

  if (*tr->certificate != '\0')
    cert = ferry_cert_parse (tr->certificate, &error);
  else if (tr->peer != NULL)
    cert = g_object_ref (tr->peer);
  else
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Can't use TLS data on non-TLS link");
  if (cert == NULL)
    goto fail;
  pem = ferry_cert_pem (cert);
  fp = ferry_cert_fingerprint (cert);
  row.fingerprint = fp;
  row.type = (char *) "client";
  row.name = tr->name;
  row.certificate = pem;
  if (!ferry_db_certificate_insert (tr->daemon->db, &row, &error))
    {
      if (g_error_matches (error, FERRY_ERROR, FERRY_ERROR_CONFLICT))
        {
          g_clear_error (&error);
          g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Certificate already in trust store");
        }
      goto fail;
    }
  g_message ("Trusting client certificate %s (%s)", fp, row.name);
  ferry_respond_sync_location (tr->msg, "certificates", fp);
  return;

fail:
  ferry_respond_error (tr->msg, error);
}

static void
message_disconnected (TrustRequest *tr)
{
  tr->disconnected = TRUE;
}

static void
password_checked (gboolean matches, gpointer user_data)
{
  g_autoptr (TrustRequest) tr = user_data;

  if (matches)
    trust_client (tr);
  else
    ferry_respond_error_literal (tr->msg, 403, "not authorized");
  if (!tr->disconnected)
    soup_server_message_unpause (tr->msg);
}

/* An untrusted client proves itself with a trust token or with
 * core.trust_password; the password's scrypt runs off the main loop. */
static void
trust_untrusted (TrustRequest *tr, const char *password)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) config = NULL;
  g_autofree char *token_name = NULL;
  const char *stored;

  if (use_token (tr->daemon, password, &token_name))
    {
      if (*token_name != '\0')
        {
          g_free (tr->name);
          tr->name = g_steal_pointer (&token_name);
        }
      trust_client (tr);
      trust_request_free (tr);
      return;
    }
  config = ferry_db_config_get_all (tr->daemon->db, &error);
  stored = config != NULL ? g_hash_table_lookup (config, "core.trust_password") : NULL;
  if (config != NULL && (*password == '\0' || stored == NULL))
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN, "not authorized");
  if (error == NULL
      && ferry_password_guard_check (tr->daemon->https->passwords, ferry_https_peer_address (tr->msg), stored,
                                     password, password_checked, tr, &error))
    {
      g_signal_connect_swapped (tr->msg, "disconnected", G_CALLBACK (message_disconnected), tr);
      soup_server_message_pause (tr->msg);
      return;
    }
  ferry_respond_error (tr->msg, error);
  trust_request_free (tr);
}

static void
add_certificate (FerryRequest *req)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  const char *text = "", *password = "", *name = "", *type = "";
  gboolean token = FALSE;
  TrustRequest *tr;

  /* Typed reads: json-glib hands out NULL for "password": 5. */
  if (body == NULL || !ferry_json_get_string (body, "certificate", &text, &error)
      || !ferry_json_get_string (body, "password", &password, &error)
      || !ferry_json_get_string (body, "name", &name, &error) || !ferry_json_get_string (body, "type", &type, &error)
      || !ferry_json_get_bool (body, "token", &token, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (*type != '\0' && strcmp (type, "client") != 0)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unsupported certificate type: %s", type);
      ferry_respond_error (req->msg, error);
      return;
    }
  if (req->trusted && token)
    {
      create_token (req, name);
      return;
    }
  tr = g_new0 (TrustRequest, 1);
  tr->daemon = req->daemon;
  tr->msg = g_object_ref (req->msg);
  tr->certificate = g_strdup (text);
  tr->name = g_strdup (name);
  tr->peer = req->https && ferry_https_peer_certificate (req->msg) != NULL
                 ? g_object_ref (ferry_https_peer_certificate (req->msg))
                 : NULL;
  if (!req->trusted)
    {
      trust_untrusted (tr, password);
      return;
    }
  trust_client (tr);
  trust_request_free (tr);
}

/* Finds a trusted certificate by fingerprint or unique prefix, like LXD. */
static FerryDbCertificate *
find_certificate (FerryDaemon *d, const char *fp, GError **error)
{
  g_autoptr (GPtrArray) rows = ferry_db_certificate_list (d->db, error);
  FerryDbCertificate *found = NULL;
  guint found_index = 0;

  if (rows == NULL)
    return NULL;
  for (guint i = 0; i < rows->len; i++)
    {
      FerryDbCertificate *row = g_ptr_array_index (rows, i);
      if (*fp != '\0' && g_str_has_prefix (row->fingerprint, fp))
        {
          if (found != NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "More than one certificate matches");
              return NULL;
            }
          found = row;
          found_index = i;
        }
    }
  if (found == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Certificate not found");
      return NULL;
    }
  return g_ptr_array_steal_index (rows, found_index);
}

void
ferry_api_certificates_list (FerryRequest *req, FerryInstance *unused)
{
  list_certificates (req);
}

void
ferry_api_certificates_add (FerryRequest *req, FerryInstance *unused)
{
  add_certificate (req);
}

void
ferry_api_certificate_get (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryDbCertificate) row = find_certificate (req->daemon, req->parts[1], &error);

  if (row == NULL)
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_sync_etag (req->msg, certificate_json (row), NULL);
}

void
ferry_api_certificate_delete (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryDbCertificate) row = find_certificate (req->daemon, req->parts[1], &error);

  if (row == NULL || !ferry_db_certificate_delete (req->daemon->db, row->fingerprint, &error))
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_sync_empty (req->msg);
}
