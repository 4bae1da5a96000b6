/* ferry config trust add/list/remove (lxc/config_trust.go of LXD 5.0): the
 * remote's trust store and trust tokens. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/cert.h"
#include "common/error.h"

/* "[remote:]" -> the client; the rest is returned in rest_out. */
static FerryClient *
trust_client (FerryCli *cli, FerryArgs *args, guint index, char **rest_out, GError **error)
{
  const char *arg = ferry_args_n_positional (args) > index ? ferry_args_positional (args)[index] : "";

  return ferry_cli_resolve (cli, arg, rest_out, error);
}

static int
add_token (FerryClient *client, const char *name, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonObject) op = NULL;
  g_autoptr (GPtrArray) addresses = g_ptr_array_new ();
  g_autofree char *token = NULL;
  JsonObject *meta, *request;
  JsonArray *addrs;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "client");
  json_builder_set_member_name (b, "token");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  op = ferry_client_operation (client, "POST", "/1.0/certificates", body, error);
  if (op == NULL)
    return FERRY_EXIT_ERROR;
  meta = ferry_obj_object (op, "metadata");
  request = meta != NULL ? ferry_obj_object (meta, "request") : NULL;
  addrs = meta != NULL ? ferry_obj_array (meta, "addresses") : NULL;
  for (guint i = 0; addrs != NULL && i < json_array_get_length (addrs); i++)
    g_ptr_array_add (addresses, (gpointer) json_array_get_string_element (addrs, i));
  g_ptr_array_add (addresses, NULL);
  if (meta == NULL || *ferry_obj_string (meta, "secret") == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The server returned no token secret");
      return FERRY_EXIT_ERROR;
    }
  token = ferry_trust_token_encode (request != NULL ? ferry_obj_string (request, "name") : name,
                                    ferry_obj_string (meta, "fingerprint"), (const char *const *) addresses->pdata,
                                    ferry_obj_string (meta, "secret"), NULL);
  printf ("Client %s certificate add token:\n%s\n", name, token);
  return 0;
}

static int
add_certificate (FerryClient *client, const char *path, const char *name, GError **error)
{
  g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_file (path, error);
  g_autoptr (GByteArray) der = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonNode) result = NULL;
  g_autofree char *b64 = NULL;
  g_autofree char *base = NULL;

  if (cert == NULL)
    return FERRY_EXIT_ERROR;
  g_object_get (cert, "certificate", &der, NULL);
  b64 = g_base64_encode (der->data, der->len);
  if (name == NULL)
    {
      base = g_path_get_basename (path);
      if (strrchr (base, '.') != NULL)
        *strrchr (base, '.') = '\0';
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "certificate");
  json_builder_add_string_value (b, b64);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name != NULL ? name : base);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "client");
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  result = ferry_client_query (client, "POST", "/1.0/certificates", body, NULL, NULL, error);
  return result != NULL ? 0 : FERRY_EXIT_ERROR;
}

static int
cmd_trust_add (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  guint n = ferry_args_n_positional (args);
  const char *name = ferry_args_get_string (args, "name", NULL);
  g_autofree char *rest = NULL;
  FerryClient *client;
  const char *cert_path = NULL;

  /* "[remote:] [cert]": a lone argument ending in ':' is the remote. */
  if (n == 2)
    cert_path = pos[1];
  else if (n == 1 && !g_str_has_suffix (pos[0], ":"))
    cert_path = pos[0];
  client = trust_client (cli, args, cert_path == pos[0] && n == 1 ? n : 0, &rest, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (cert_path != NULL)
    return add_certificate (client, cert_path, name, error);
  if (name == NULL || *name == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "A client name must be provided (--name)");
      return FERRY_EXIT_ERROR;
    }
  return add_token (client, name, error);
}

static char *
format_date (GDateTime *dt)
{
  if (dt == NULL)
    return g_strdup ("");
  return g_date_time_format (dt, "%b %-d, %Y at %-I:%M%P (UTC)");
}

static int
cmd_trust_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  const char *headers[] = { "TYPE", "NAME", "COMMON NAME", "FINGERPRINT", "ISSUE DATE", "EXPIRY DATE", NULL };
  g_autofree char *rest = NULL;
  FerryClient *client = trust_client (cli, args, 0, &rest, error);
  g_autoptr (JsonArray) certs = NULL;
  g_autoptr (FerryTable) table = ferry_table_new (headers);
  FerryFormat format;

  if (client == NULL || !ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  certs = ferry_client_get_array (client, "/1.0/certificates?recursion=1", error);
  if (certs == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < json_array_get_length (certs); i++)
    {
      JsonObject *c = json_array_get_object_element (certs, i);
      g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_pem (ferry_obj_string (c, "certificate"), -1, NULL);
      g_autoptr (GDateTime) before = NULL, after = NULL;
      g_autofree char *subject = NULL;
      char **row = g_new0 (char *, 7);
      const char *cn;

      if (cert != NULL)
        g_object_get (cert, "subject-name", &subject, "not-valid-before", &before, "not-valid-after", &after, NULL);
      cn = subject != NULL ? strstr (subject, "CN=") : NULL;
      row[0] = g_strdup (ferry_obj_string (c, "type"));
      row[1] = g_strdup (ferry_obj_string (c, "name"));
      row[2] = cn != NULL ? g_strndup (cn + 3, strcspn (cn + 3, ",")) : g_strdup ("");
      row[3] = g_strndup (ferry_obj_string (c, "fingerprint"), 12);
      row[4] = format_date (before);
      row[5] = format_date (after);
      ferry_table_add_row (table, row);
    }
  ferry_table_sort (table);
  ferry_output_print (format, table, json_node_init_array (json_node_alloc (), certs));
  return 0;
}

static int
cmd_trust_remove (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *fp = NULL;
  FerryClient *client = trust_client (cli, args, 0, &fp, error);
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) result = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (fp);
  path = g_strdup_printf ("/1.0/certificates/%s", escaped);
  result = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error);
  return result != NULL ? 0 : FERRY_EXIT_ERROR;
}

static const FerryOption add_options[] = {
  { "name", 0, FERRY_OPT_STRING, "Alternative certificate name" },
  { NULL },
};
static const FerryOption list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const char *const list_aliases[] = { "ls", NULL };
static const char *const remove_aliases[] = { "rm", NULL };

static const FerryCommand trust_add = {
  .name = "add", .summary = "Add new trusted client", .usage = "[<remote>:] [<cert>]",
  .description = "Add new trusted client\n\nIf the certificate is omitted, a token will be generated and returned. "
                 "A client\nproviding a valid token will have its client certificate added to the trusted list\n"
                 "and the consumed token will be invalidated.",
  .options = add_options, .run = cmd_trust_add, .min_args = 0, .max_args = 2,
};
static const FerryCommand trust_list = {
  .name = "list", .aliases = list_aliases, .summary = "List trusted clients", .usage = "[<remote>:]",
  .options = list_options, .run = cmd_trust_list, .min_args = 0, .max_args = 1,
};
static const FerryCommand trust_remove = {
  .name = "remove", .aliases = remove_aliases, .summary = "Remove trusted client", .usage = "[<remote>:]<fingerprint>",
  .run = cmd_trust_remove, .min_args = 1, .max_args = 1,
};
static const FerryCommand *const trust_commands[] = { &trust_add, &trust_list, &trust_remove, NULL };

const FerryCommand ferry_cmd_config_trust = {
  .name = "trust",
  .summary = "Manage trusted clients",
  .subcommands = trust_commands,
};
