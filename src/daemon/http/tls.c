/* The HTTPS listener on core.https_address and its server certificate. */
#include "config.h"
#include "daemon/http/tls.h"
#include "daemon/http/https-listener.h"
#include "daemon/http/password-guard.h"
#include "common/cert.h"
#include "common/error.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#define DEFAULT_HTTPS_PORT 8443

static FerryHttps *
https_of (FerryDaemon *d)
{
  return d->https;
}

static gboolean
load_server_certificate (FerryDaemon *d, FerryHttps *https, GError **error)
{
  g_autofree char *crt = g_strdup (d->layout->server_crt);
  g_autofree char *key = g_strdup (d->layout->server_key);

  if (!g_file_test (crt, G_FILE_TEST_EXISTS) || !g_file_test (key, G_FILE_TEST_EXISTS))
    {
      g_autofree char *cn = g_strdup_printf ("root@%s", g_get_host_name ());
      g_message ("Generating the server certificate %s", crt);
      if (!ferry_cert_generate (crt, key, FERRY_CERT_SERVER, cn, error))
        return FALSE;
    }
  https->cert = g_tls_certificate_new_from_files (crt, key, error);
  if (https->cert == NULL)
    {
      g_prefix_error (error, "Loading %s: ", crt);
      return FALSE;
    }
  https->cert_pem = ferry_cert_pem (https->cert);
  https->fingerprint = ferry_cert_fingerprint (https->cert);
  return TRUE;
}

gboolean
ferry_https_init (FerryDaemon *d, FerryHttpsServerSetup setup, GError **error)
{
  FerryHttps *https = g_new0 (FerryHttps, 1);
  g_autoptr (GHashTable) config = NULL;
  g_autoptr (GError) local = NULL;

  /* lxc refuses anything older than TLS 1.3 (lxd-client-api.md 7); say so to
   * GnuTLS before glib-networking makes its first connection. */
  g_setenv ("G_TLS_GNUTLS_PRIORITY", "NORMAL:-VERS-ALL:+VERS-TLS1.3", FALSE);
  https->setup = setup;
  https->tokens = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_trust_token_entry_free);
  https->passwords = ferry_password_guard_new ();
  d->https = https;
  if (!load_server_certificate (d, https, error))
    return FALSE;
  config = ferry_db_config_get_all (d->db, error);
  if (config == NULL)
    return FALSE;
  /* A listener that cannot be opened (port taken) must not keep ferryd
   * down: the unix socket is how the address gets fixed. */
  if (!ferry_https_set_address (d, g_hash_table_lookup (config, "core.https_address"), &local))
    g_warning ("HTTPS API not started: %s", local->message);
  return TRUE;
}

void
ferry_https_shutdown (FerryDaemon *d)
{
  FerryHttps *https = https_of (d);

  if (https == NULL || https->server == NULL)
    return;
  g_clear_pointer (&https->listener, ferry_https_listener_close);
  soup_server_disconnect (https->server);
  g_clear_object (&https->server);
}

/* "host:port", "[v6]:port", "host", ":port" -> bind address (NULL = all) and port. */
static gboolean
parse_address (const char *address, GInetAddress **inet_out, guint16 *port_out, GError **error)
{
  g_autoptr (GSocketConnectable) parsed = NULL;
  g_autofree char *full = NULL;
  const char *host;

  full = address[0] == ':' ? g_strconcat ("[::]", address, NULL) : g_strdup (address);
  parsed = g_network_address_parse (full, DEFAULT_HTTPS_PORT, NULL);
  if (parsed == NULL)
    goto invalid;
  host = g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed));
  *port_out = g_network_address_get_port (G_NETWORK_ADDRESS (parsed));
  if (host == NULL || *host == '\0' || strcmp (host, "::") == 0)
    {
      *inet_out = NULL;
      return TRUE;
    }
  *inet_out = g_inet_address_new_from_string (host);
  if (*inet_out == NULL)
    goto invalid;
  return TRUE;

invalid:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid core.https_address \"%s\": expected IP[:PORT], [IPv6][:PORT] or :PORT", address);
  return FALSE;
}

gboolean
ferry_https_address_valid (const char *address, GError **error)
{
  g_autoptr (GInetAddress) inet = NULL;
  guint16 port;

  return address == NULL || *address == '\0' || parse_address (address, &inet, &port, error);
}

gboolean
ferry_https_set_address (FerryDaemon *d, const char *address, GError **error)
{
  FerryHttps *https = https_of (d);
  g_autoptr (SoupServer) server = NULL;
  g_autoptr (GInetAddress) inet = NULL;
  g_autoptr (GError) local = NULL;
  FerryHttpsListener *listener = NULL;
  guint16 port = 0;

  if (address != NULL && *address == '\0')
    address = NULL;
  if (g_strcmp0 (address, https->address) == 0 && (address == NULL || https->server != NULL))
    return TRUE;
  if (address != NULL)
    {
      if (!parse_address (address, &inet, &port, error))
        return FALSE;
      /* raw-paths: libsoup would decode the path once before ferry_route_split_path. */
      server = soup_server_new ("server-header", "ferryd/" FERRY_VERSION, "raw-paths", TRUE, NULL);
      https->setup (d, server);
      listener = ferry_https_listener_new (server, https->cert, inet, port, &local);
      if (listener == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Listening on %s: %s", address, local->message);
          return FALSE;
        }
      g_message ("HTTPS API listening on %s", address);
    }
  ferry_https_shutdown (d);
  if (address == NULL && https->address != NULL)
    g_message ("HTTPS API stopped");
  https->server = g_steal_pointer (&server);
  https->listener = listener;
  g_free (https->address);
  https->address = g_strdup (address);
  return TRUE;
}

static void
add_host_port (JsonArray *out, GInetAddress *inet, guint16 port)
{
  g_autofree char *text = g_inet_address_to_string (inet);
  g_autofree char *entry = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
                             ? g_strdup_printf ("[%s]:%u", text, port)
                             : g_strdup_printf ("%s:%u", text, port);

  json_array_add_string_element (out, entry);
}

static void
add_host_addresses (JsonArray *out, guint16 port, gboolean want_v4, gboolean want_v6)
{
  struct ifaddrs *ifa_list = NULL;

  if (getifaddrs (&ifa_list) < 0)
    return;
  for (struct ifaddrs *ifa = ifa_list; ifa != NULL; ifa = ifa->ifa_next)
    {
      g_autoptr (GSocketAddress) sa = NULL;
      GInetAddress *inet;
      GSocketFamily family;

      if (ifa->ifa_addr == NULL || (ifa->ifa_flags & IFF_LOOPBACK) || !(ifa->ifa_flags & IFF_UP))
        continue;
      if (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6)
        continue;
      sa = g_socket_address_new_from_native (ifa->ifa_addr, ifa->ifa_addr->sa_family == AF_INET
                                                              ? sizeof (struct sockaddr_in)
                                                              : sizeof (struct sockaddr_in6));
      if (sa == NULL)
        continue;
      inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));
      family = g_inet_address_get_family (inet);
      if ((family == G_SOCKET_FAMILY_IPV4 && !want_v4) || (family == G_SOCKET_FAMILY_IPV6 && !want_v6)
          || g_inet_address_get_is_link_local (inet) || g_inet_address_get_is_loopback (inet))
        continue;
      add_host_port (out, inet, port);
    }
  freeifaddrs (ifa_list);
}

JsonNode *
ferry_https_addresses_json (FerryDaemon *d)
{
  FerryHttps *https = https_of (d);
  JsonArray *out = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  g_autoptr (GInetAddress) inet = NULL;
  guint16 port = 0;

  json_node_take_array (node, out);
  if (https == NULL || https->server == NULL || !parse_address (https->address, &inet, &port, NULL))
    return node;
  if (inet == NULL)
    add_host_addresses (out, port, TRUE, TRUE);
  else if (g_inet_address_get_is_any (inet))
    add_host_addresses (out, port, g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4,
                        g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6);
  else
    add_host_port (out, inet, port);
  return node;
}

GTlsCertificate *
ferry_https_peer_certificate (SoupServerMessage *msg)
{
  return ferry_https_conn_peer_certificate (msg);
}

const char *
ferry_https_peer_address (SoupServerMessage *msg)
{
  const char *address = ferry_https_conn_peer_address (msg);

  return address != NULL ? address : "unknown";
}

gboolean
ferry_trust_check (FerryDaemon *d, SoupServerMessage *msg, char **fingerprint_out)
{
  GTlsCertificate *peer = ferry_https_peer_certificate (msg);
  g_autofree char *fp = NULL;
  g_autoptr (GPtrArray) certs = NULL;
  gboolean trusted = FALSE;

  if (fingerprint_out != NULL)
    *fingerprint_out = NULL;
  if (peer == NULL)
    return FALSE;
  fp = ferry_cert_fingerprint (peer);
  certs = ferry_db_certificate_list (d->db, NULL);
  for (guint i = 0; fp != NULL && certs != NULL && i < certs->len; i++)
    if (strcmp (((FerryDbCertificate *) g_ptr_array_index (certs, i))->fingerprint, fp) == 0)
      trusted = TRUE;
  if (fingerprint_out != NULL)
    *fingerprint_out = g_steal_pointer (&fp);
  return trusted;
}
