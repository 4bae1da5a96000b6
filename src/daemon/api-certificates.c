/* /1.0/certificates: the HTTPS API's trust store, core.trust_password and
 * trust tokens, as LXD 5.0 (lxc remote add, lxc config trust). */
#include "config.h"
#include "daemon/http.h"
#include "daemon/operations.h"
#include "daemon/tls.h"
#include "common/cert.h"
#include "common/error.h"
#include "common/json.h"

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

/* LXD sends certificates as base64 DER (no PEM armour); accept PEM too. */
static GTlsCertificate *
parse_certificate (const char *text, GError **error)
{
  g_autofree guchar *der = NULL;
  g_autofree char *b64 = NULL;
  g_autoptr (GString) pem = NULL;
  gsize len = 0;

  if (g_str_has_prefix (text, "-----BEGIN"))
    return g_tls_certificate_new_from_pem (text, -1, error);
  der = g_base64_decode (text, &len);
  if (len == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid certificate");
      return NULL;
    }
  b64 = g_base64_encode (der, len);
  pem = g_string_new ("-----BEGIN CERTIFICATE-----\n");
  for (gsize i = 0; b64[i] != '\0'; i += 64)
    {
      g_string_append_len (pem, b64 + i, MIN (64, strlen (b64 + i)));
      g_string_append_c (pem, '\n');
    }
  g_string_append (pem, "-----END CERTIFICATE-----\n");
  return g_tls_certificate_new_from_pem (pem->str, -1, error);
}

static void
token_cancelled (FerryOperation *op, gpointer data)
{
  FerryDaemon *d = data;
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation cancelled");
  GHashTableIter iter;
  gpointer secret, value;

  g_hash_table_iter_init (&iter, d->https->tokens);
  while (g_hash_table_iter_next (&iter, &secret, &value))
    if (value == op)
      {
        g_hash_table_iter_remove (&iter);
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
  g_autofree char *secret = NULL;
  guint8 raw[32];
  JsonObject *request = json_object_new ();
  JsonNode *request_node = json_node_new (JSON_NODE_OBJECT);

  for (gsize i = 0; i < sizeof raw; i++)
    raw[i] = (guint8) g_random_int_range (0, 256);
  secret = g_compute_checksum_for_data (G_CHECKSUM_SHA256, raw, sizeof raw);
  json_object_set_string_member (request, "name", name);
  json_object_set_string_member (request, "type", "client");
  json_object_set_boolean_member (request, "restricted", FALSE);
  json_node_take_object (request_node, request);
  ferry_operation_set_metadata_node (op, "request", request_node);
  ferry_operation_set_metadata_string (op, "secret", secret);
  ferry_operation_set_metadata_string (op, "fingerprint", d->https->fingerprint);
  ferry_operation_set_metadata_node (op, "addresses", ferry_https_addresses_json (d));
  ferry_operation_set_cancel (op, G_CALLBACK (token_cancelled), d);
  ferry_operation_register (op);
  g_hash_table_insert (d->https->tokens, g_steal_pointer (&secret), ferry_operation_ref (op));
  ferry_respond_async (req->msg, op);
}

/* Untrusted callers prove themselves with core.trust_password or a token
 * (lxc sends the whole base64 token as "password"). name_out gets the
 * token's client name. */
static gboolean
check_secret (FerryRequest *req, const char *password, char **name_out, GError **error)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (FerryTrustToken) token = ferry_trust_token_decode (password, NULL);
  g_autoptr (GHashTable) config = NULL;

  if (token != NULL)
    {
      FerryOperation *op = g_hash_table_lookup (d->https->tokens, token->secret);
      if (op != NULL)
        {
          *name_out = g_strdup (token->client_name);
          ferry_operation_finish (op, NULL);
          g_hash_table_remove (d->https->tokens, token->secret);
          return TRUE;
        }
    }
  config = ferry_db_config_get_all (d->db, error);
  if (config == NULL)
    return FALSE;
  if (*password != '\0' && ferry_trust_password_matches (g_hash_table_lookup (config, "core.trust_password"), password))
    return TRUE;
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN, "not authorized");
  return FALSE;
}

static void
add_certificate (FerryRequest *req)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  g_autoptr (GTlsCertificate) cert = NULL;
  g_autofree char *token_name = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *fp = NULL;
  const char *text = "", *password = "", *name = "", *type = "";
  gboolean token = FALSE;
  FerryDbCertificate row = { 0 };

  /* Typed reads: json-glib hands out NULL for "password": 5. */
  if (body == NULL || !ferry_json_get_string (body, "certificate", &text, &error)
      || !ferry_json_get_string (body, "password", &password, &error)
      || !ferry_json_get_string (body, "name", &name, &error) || !ferry_json_get_string (body, "type", &type, &error)
      || !ferry_json_get_bool (body, "token", &token, &error))
    goto fail;
  if (*type != '\0' && strcmp (type, "client") != 0)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unsupported certificate type: %s", type);
      goto fail;
    }
  if (req->trusted && token)
    {
      create_token (req, name);
      return;
    }
  if (!req->trusted && !check_secret (req, password, &token_name, &error))
    goto fail;
  if (*text != '\0')
    cert = parse_certificate (text, &error);
  else if (req->https && ferry_https_peer_certificate (req->msg) != NULL)
    cert = g_object_ref (ferry_https_peer_certificate (req->msg));
  else
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Can't use TLS data on non-TLS link");
  if (cert == NULL)
    goto fail;
  pem = ferry_cert_pem (cert);
  fp = ferry_cert_fingerprint (cert);
  row.fingerprint = fp;
  row.type = (char *) "client";
  row.name = (char *) (token_name != NULL && *token_name != '\0' ? token_name : name);
  row.certificate = pem;
  if (!ferry_db_certificate_insert (d->db, &row, &error))
    {
      if (g_error_matches (error, FERRY_ERROR, FERRY_ERROR_CONFLICT))
        {
          g_clear_error (&error);
          g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Certificate already in trust store");
        }
      goto fail;
    }
  g_message ("Trusting client certificate %s (%s)", fp, row.name);
  ferry_respond_sync (req->msg, NULL);
  return;

fail:
  ferry_respond_error (req->msg, error);
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

gboolean
ferry_api_certificates (FerryRequest *req)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryDbCertificate) row = NULL;

  if (req->n_parts < 1 || strcmp (req->parts[0], "certificates") != 0 || req->n_parts > 2)
    return FALSE;
  if (req->n_parts == 1)
    {
      if (strcmp (req->method, "GET") == 0)
        list_certificates (req);
      else if (strcmp (req->method, "POST") == 0)
        add_certificate (req);
      else
        ferry_respond_not_allowed (req->msg);
      return TRUE;
    }
  row = find_certificate (req->daemon, req->parts[1], &error);
  if (row == NULL)
    ferry_respond_error (req->msg, error);
  else if (strcmp (req->method, "GET") == 0)
    ferry_respond_sync_etag (req->msg, certificate_json (row), NULL);
  else if (strcmp (req->method, "DELETE") == 0)
    {
      if (!ferry_db_certificate_delete (req->daemon->db, row->fingerprint, &error))
        ferry_respond_error (req->msg, error);
      else
        ferry_respond_sync (req->msg, NULL);
    }
  else
    ferry_respond_not_allowed (req->msg);
  return TRUE;
}
