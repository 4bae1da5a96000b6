/* ferry remote add/list/remove/rename/switch/get-default/set-url
 * (lxc/remote.go of LXD 5.0). */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/cert.h"
#include "common/error.h"
#include "config-file.h"

#define DEFAULT_HTTPS_PORT 8443

/* "host", "host:port", "[v6]:port", "v6", "https://host[:port]" ->
 * "https://host:port", as lxc stores it. */
static char *
normalize_address (const char *text, GError **error)
{
  g_autofree char *with_scheme = NULL;
  g_autoptr (GInetAddress) bare = g_inet_address_new_from_string (text);
  g_autoptr (GUri) uri = NULL;

  if (bare != NULL && g_inet_address_get_family (bare) == G_SOCKET_FAMILY_IPV6)
    with_scheme = g_strdup_printf ("https://[%s]", text);
  else if (strstr (text, "://") == NULL)
    with_scheme = g_strconcat ("https://", text, NULL);
  else
    with_scheme = g_strdup (text);
  uri = g_uri_parse (with_scheme, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "https") != 0 || g_uri_get_host (uri) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid URL scheme \"%s\" in \"%s\"",
                   uri != NULL ? g_uri_get_scheme (uri) : "", text);
      return NULL;
    }
  if (strchr (g_uri_get_host (uri), ':') != NULL)
    return g_strdup_printf ("https://[%s]:%d", g_uri_get_host (uri),
                            g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : DEFAULT_HTTPS_PORT);
  return g_strdup_printf ("https://%s:%d", g_uri_get_host (uri),
                          g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : DEFAULT_HTTPS_PORT);
}

static char *
read_line (const char *prompt)
{
  char buf[4096];

  fputs (prompt, stdout);
  fflush (stdout);
  if (fgets (buf, sizeof buf, stdin) == NULL)
    return g_strdup ("");
  return g_strstrip (g_strdup (buf));
}

static gboolean
write_server_cert (FerryConfig *config, const char *name, GTlsCertificate *cert, GError **error)
{
  g_autofree char *path = ferry_config_servercert_path (config, name);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *pem = ferry_cert_pem (cert);

  return g_mkdir_with_parents (dir, 0750) == 0 && g_file_set_contents (path, pem, -1, error);
}

static FerryRemote *
remote_for (FerryConfig *config, const char *name, const char *addr)
{
  FerryRemote *remote = g_new0 (FerryRemote, 1);

  remote->name = g_strdup (name);
  remote->addr = g_strdup (addr);
  remote->server_cert = ferry_config_servercert_path (config, name);
  remote->client_cert = ferry_config_client_cert_path (config);
  remote->client_key = ferry_config_client_key_path (config);
  return remote;
}

static gboolean
server_trusts_us (FerryClient *client, GError **error)
{
  g_autoptr (JsonObject) server = ferry_client_get_object (client, "/1.0", NULL, error);

  if (server == NULL)
    return FALSE;
  return g_strcmp0 (ferry_obj_string (server, "auth"), "trusted") == 0;
}

static gboolean
send_trust_request (FerryClient *client, const char *secret, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonNode) result = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "client");
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, secret);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  result = ferry_client_query (client, "POST", "/1.0/certificates", body, NULL, NULL, error);
  if (result == NULL)
    {
      g_prefix_error (error, "Failed to create certificate: ");
      return FALSE;
    }
  return TRUE;
}

/* Finds which of the token's addresses answers with the token's certificate. */
static char *
token_address (FerryTrustToken *token, GTlsCertificate **cert_out, GError **error)
{
  for (guint i = 0; token->addresses[i] != NULL; i++)
    {
      g_autofree char *addr = normalize_address (token->addresses[i], NULL);
      g_autoptr (GTlsCertificate) cert = addr ? ferry_client_fetch_certificate (addr, NULL) : NULL;
      g_autofree char *fp = cert ? ferry_cert_fingerprint (cert) : NULL;

      if (fp == NULL)
        continue;
      if (g_strcmp0 (fp, token->fingerprint) != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN,
                       "Certificate fingerprint mismatch between certificate token and server \"%s\"", addr);
          return NULL;
        }
      *cert_out = g_steal_pointer (&cert);
      return g_steal_pointer (&addr);
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "None of the token's addresses could be reached");
  return NULL;
}

/* Makes the server trust our client certificate unless it does already:
 * with TOKEN (a trust token, then trusted once accepted), else the
 * password given or asked for (then checked). */
static gboolean
get_trusted (FerryClient *client, const char *name, const char *token, const char *password, GError **error)
{
  g_autofree char *secret = NULL;

  if (server_trusts_us (client, error))
    return TRUE;
  if (error != NULL && *error != NULL)
    return FALSE;
  if (token != NULL)
    secret = g_strdup (token);
  else if (password != NULL)
    secret = g_strdup (password);
  else
    {
      g_autofree char *prompt = g_strdup_printf ("Admin password (or token) for %s: ", name);
      secret = read_line (prompt);
    }
  if (!send_trust_request (client, secret, error))
    return FALSE;
  if (token != NULL)
    return TRUE;
  if (!server_trusts_us (client, error))
    {
      if (error == NULL || *error == NULL)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN, "Server doesn't trust us after authentication");
      return FALSE;
    }
  printf ("Client certificate now trusted by server: %s\n", name);
  return TRUE;
}

static int
cmd_remote_add (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  const char *name = pos[0];
  const char *addr_arg = ferry_args_n_positional (args) > 1 ? pos[1] : NULL;
  const char *token_text = ferry_args_get_string (args, "token", NULL);
  const char *password = ferry_args_get_string (args, "password", NULL);
  g_autoptr (FerryConfig) config = ferry_config_load (error);
  g_autoptr (FerryTrustToken) token = NULL;
  g_autoptr (GTlsCertificate) cert = NULL;
  g_autoptr (FerryRemote) remote = NULL;
  g_autoptr (FerryClient) client = NULL;
  g_autofree char *addr = NULL;
  g_autofree char *fp = NULL;
  FerryRemoteConfig *rc;

  if (config == NULL)
    return FERRY_EXIT_ERROR;
  if (ferry_config_find (config, name) != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Remote %s exists as <%s>", name,
                   ferry_config_find (config, name)->addr);
      return FERRY_EXIT_ERROR;
    }
  if (token_text == NULL && addr_arg != NULL)
    token = ferry_trust_token_decode (addr_arg, NULL);
  else if (token_text != NULL)
    token = ferry_trust_token_decode (token_text, error);
  if (token_text != NULL && token == NULL)
    return FERRY_EXIT_ERROR;
  if (token == NULL && addr_arg == NULL)
    {
      ferry_cli_usage_error (error);
      return FERRY_EXIT_ERROR;
    }

  if (token != NULL && (addr_arg == NULL || token_text == NULL))
    {
      addr = token_address (token, &cert, error);
      if (addr == NULL)
        return FERRY_EXIT_ERROR;
    }
  else
    {
      addr = normalize_address (addr_arg, error);
      if (addr == NULL || (cert = ferry_client_fetch_certificate (addr, error)) == NULL)
        return FERRY_EXIT_ERROR;
    }
  fp = ferry_cert_fingerprint (cert);
  if (token != NULL && g_strcmp0 (fp, token->fingerprint) != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN,
                   "Certificate fingerprint mismatch between certificate token and server \"%s\"", addr);
      return FERRY_EXIT_ERROR;
    }
  if (token == NULL && !ferry_args_get_bool (args, "accept-certificate"))
    {
      g_autofree char *prompt = g_strdup_printf ("Certificate fingerprint: %s\nok (y/n/[fingerprint])? ", fp);
      g_autofree char *answer = read_line (prompt);
      if (g_ascii_strcasecmp (answer, "y") != 0 && g_strcmp0 (answer, fp) != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN, "Server certificate NACKed by user");
          return FERRY_EXIT_ERROR;
        }
    }
  if (!write_server_cert (config, name, cert, error) || !ferry_config_ensure_client_cert (config, error))
    return FERRY_EXIT_ERROR;
  remote = remote_for (config, name, addr);
  client = ferry_client_new (remote, NULL, error);
  if (client == NULL)
    goto fail;
  if (!get_trusted (client, name, token != NULL ? (token_text != NULL ? token_text : addr_arg) : NULL, password,
                    error))
    goto fail;
  rc = g_new0 (FerryRemoteConfig, 1);
  rc->name = g_strdup (name);
  rc->addr = g_strdup (addr);
  rc->protocol = g_strdup ("lxd");
  rc->auth_type = g_strdup ("tls");
  rc->project = g_strdup (ferry_args_get_string (args, "project", "default"));
  rc->public_ = FALSE;
  ferry_config_add (config, rc);
  return ferry_config_save (config, error) ? 0 : FERRY_EXIT_ERROR;

fail:
  {
    g_autofree char *path = ferry_config_servercert_path (config, name);
    g_unlink (path);
  }
  return FERRY_EXIT_ERROR;
}

static int
cmd_remote_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  const char *headers[] = { "NAME", "URL", "PROTOCOL", "AUTH TYPE", "PUBLIC", "STATIC", "GLOBAL", NULL };
  g_autoptr (FerryConfig) config = ferry_config_load (error);
  g_autoptr (FerryTable) table = ferry_table_new (headers);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) raw = NULL;
  FerryFormat format;

  if (config == NULL || !ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  json_builder_begin_object (b);
  for (guint i = 0; i < config->remotes->len; i++)
    {
      FerryRemoteConfig *r = g_ptr_array_index (config->remotes, i);
      gboolean local = g_str_has_prefix (r->addr, "unix:");
      char **row = g_new0 (char *, 8);

      row[0] = strcmp (r->name, config->default_remote) == 0 ? g_strdup_printf ("%s (current)", r->name)
                                                             : g_strdup (r->name);
      row[1] = g_strdup (r->addr);
      row[2] = g_strdup (r->protocol);
      row[3] = g_strdup (local ? "file access" : r->auth_type);
      row[4] = g_strdup (r->public_ ? "YES" : "NO");
      row[5] = g_strdup (local ? "YES" : "NO");
      row[6] = g_strdup ("NO");
      ferry_table_add_row (table, row);
      json_builder_set_member_name (b, r->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "Addr");
      json_builder_add_string_value (b, r->addr);
      json_builder_set_member_name (b, "AuthType");
      json_builder_add_string_value (b, local ? "file access" : r->auth_type);
      json_builder_set_member_name (b, "Project");
      json_builder_add_string_value (b, r->project);
      json_builder_set_member_name (b, "Protocol");
      json_builder_add_string_value (b, r->protocol);
      json_builder_set_member_name (b, "Public");
      json_builder_add_boolean_value (b, r->public_);
      json_builder_set_member_name (b, "Global");
      json_builder_add_boolean_value (b, FALSE);
      json_builder_set_member_name (b, "Static");
      json_builder_add_boolean_value (b, local);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  raw = json_builder_get_root (b);
  ferry_table_sort (table);
  ferry_output_print (format, table, raw);
  return 0;
}

static FerryConfig *
load_with_remote (const char *name, GError **error)
{
  g_autoptr (FerryConfig) config = ferry_config_load (error);

  if (config == NULL)
    return NULL;
  if (ferry_config_find (config, name) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Remote %s doesn't exist", name);
      return NULL;
    }
  return g_steal_pointer (&config);
}

static int
cmd_remote_remove (FerryCli *cli, FerryArgs *args, GError **error)
{
  const char *name = ferry_args_positional (args)[0];
  g_autoptr (FerryConfig) config = load_with_remote (name, error);
  g_autofree char *cert = NULL;

  if (config == NULL)
    return FERRY_EXIT_ERROR;
  if (strcmp (name, "local") == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Remote %s is static and cannot be modified", name);
      return FERRY_EXIT_ERROR;
    }
  if (strcmp (config->default_remote, name) == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Can't remove the default remote");
      return FERRY_EXIT_ERROR;
    }
  ferry_config_remove (config, name);
  cert = ferry_config_servercert_path (config, name);
  g_unlink (cert);
  return ferry_config_save (config, error) ? 0 : FERRY_EXIT_ERROR;
}

static guint
remote_index (FerryConfig *config, FerryRemoteConfig *r)
{
  guint index = 0;

  g_ptr_array_find (config->remotes, r, &index);
  return index;
}

static int
cmd_remote_rename (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autoptr (FerryConfig) config = load_with_remote (pos[0], error);
  g_autofree char *old_cert = NULL, *new_cert = NULL;
  FerryRemoteConfig *r;

  if (config == NULL)
    return FERRY_EXIT_ERROR;
  if (strcmp (pos[0], "local") == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Remote %s is static and cannot be modified", pos[0]);
      return FERRY_EXIT_ERROR;
    }
  if (ferry_config_find (config, pos[1]) != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Remote %s already exists", pos[1]);
      return FERRY_EXIT_ERROR;
    }
  r = ferry_config_find (config, pos[0]);
  g_ptr_array_steal_index (config->remotes, remote_index (config, r));
  g_free (r->name);
  r->name = g_strdup (pos[1]);
  ferry_config_add (config, r);
  old_cert = ferry_config_servercert_path (config, pos[0]);
  new_cert = ferry_config_servercert_path (config, pos[1]);
  if (g_file_test (old_cert, G_FILE_TEST_EXISTS))
    g_rename (old_cert, new_cert);
  if (strcmp (config->default_remote, pos[0]) == 0)
    {
      g_free (config->default_remote);
      config->default_remote = g_strdup (pos[1]);
    }
  return ferry_config_save (config, error) ? 0 : FERRY_EXIT_ERROR;
}

static int
cmd_remote_switch (FerryCli *cli, FerryArgs *args, GError **error)
{
  const char *name = ferry_args_positional (args)[0];
  g_autoptr (FerryConfig) config = load_with_remote (name, error);

  if (config == NULL)
    return FERRY_EXIT_ERROR;
  g_free (config->default_remote);
  config->default_remote = g_strdup (name);
  return ferry_config_save (config, error) ? 0 : FERRY_EXIT_ERROR;
}

static int
cmd_remote_get_default (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autoptr (FerryConfig) config = ferry_config_load (error);

  if (config == NULL)
    return FERRY_EXIT_ERROR;
  printf ("%s\n", config->default_remote);
  return 0;
}

static int
cmd_remote_set_url (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autoptr (FerryConfig) config = load_with_remote (pos[0], error);
  g_autofree char *addr = NULL;
  FerryRemoteConfig *r;

  if (config == NULL)
    return FERRY_EXIT_ERROR;
  if (strcmp (pos[0], "local") == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Remote %s is static and cannot be modified", pos[0]);
      return FERRY_EXIT_ERROR;
    }
  addr = normalize_address (pos[1], error);
  if (addr == NULL)
    return FERRY_EXIT_ERROR;
  r = ferry_config_find (config, pos[0]);
  g_free (r->addr);
  r->addr = g_steal_pointer (&addr);
  return ferry_config_save (config, error) ? 0 : FERRY_EXIT_ERROR;
}

static const FerryOption add_options[] = {
  { "accept-certificate", 0, FERRY_OPT_BOOL, "Accept certificate" },
  { "auth-type", 0, FERRY_OPT_STRING, "Server authentication type (tls)" },
  { "password", 0, FERRY_OPT_STRING, "Remote admin password" },
  { "project", 0, FERRY_OPT_STRING, "Project to use for the remote" },
  { "protocol", 0, FERRY_OPT_STRING, "Server protocol (lxd)" },
  { "public", 0, FERRY_OPT_BOOL, "Public image server" },
  { "token", 0, FERRY_OPT_STRING, "Remote trust token" },
  { NULL },
};
static const FerryOption list_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const char *const list_aliases[] = { "ls", NULL };
static const char *const remove_aliases[] = { "rm", NULL };

static const FerryCommand remote_add = {
  .name = "add", .summary = "Add new remote servers", .usage = "[<remote>] <IP|FQDN|URL|token>",
  .options = add_options, .run = cmd_remote_add, .min_args = 1, .max_args = 2,
};
static const FerryCommand remote_get_default = {
  .name = "get-default", .summary = "Show the default remote", .run = cmd_remote_get_default, .min_args = 0,
  .max_args = 0,
};
static const FerryCommand remote_list = {
  .name = "list", .aliases = list_aliases, .summary = "List the available remotes", .options = list_options,
  .run = cmd_remote_list, .min_args = 0, .max_args = 0,
};
static const FerryCommand remote_remove = {
  .name = "remove", .aliases = remove_aliases, .summary = "Remove remotes", .usage = "<remote>",
  .run = cmd_remote_remove, .min_args = 1, .max_args = 1,
};
static const FerryCommand remote_rename = {
  .name = "rename", .summary = "Rename remotes", .usage = "<remote> <new-name>", .run = cmd_remote_rename,
  .min_args = 2, .max_args = 2,
};
static const FerryCommand remote_set_url = {
  .name = "set-url", .summary = "Set the URL for the remote", .usage = "<remote> <URL>", .run = cmd_remote_set_url,
  .min_args = 2, .max_args = 2,
};
static const FerryCommand remote_switch = {
  .name = "switch", .summary = "Switch the default remote", .usage = "<remote>", .run = cmd_remote_switch,
  .min_args = 1, .max_args = 1,
};
static const FerryCommand *const remote_commands[] = { &remote_add, &remote_get_default, &remote_list,
                                                       &remote_remove, &remote_rename, &remote_set_url,
                                                       &remote_switch, NULL };

const FerryCommand ferry_cmd_remote = {
  .name = "remote",
  .summary = "Manage the list of remote servers",
  .subcommands = remote_commands,
};
