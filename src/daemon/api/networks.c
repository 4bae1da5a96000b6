/* /1.0/networks: LXD's managed bridge networks. */
#include "daemon/api/api.h"
#include "daemon/network-internal.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "network/network.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

static gboolean
devices_use (const char *devices_json, const char *network)
{
  g_autoptr (JsonObject) devices = ferry_json_parse_object (devices_json, strlen (devices_json), TRUE, NULL);
  JsonObjectIter iter;
  const char *k;
  JsonNode *v;

  if (devices == NULL)
    return FALSE;
  json_object_iter_init (&iter, devices);
  while (json_object_iter_next (&iter, &k, &v))
    {
      JsonObject *dev = JSON_NODE_HOLDS_OBJECT (v) ? json_node_get_object (v) : NULL;
      if (dev == NULL || g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "nic") != 0)
        continue;
      if (g_strcmp0 (json_object_get_string_member_with_default (dev, "network", NULL), network) == 0
          || g_strcmp0 (json_object_get_string_member_with_default (dev, "parent", NULL), network) == 0)
        return TRUE;
    }
  return FALSE;
}

/* URLs of the instances and profiles whose devices use NETWORK. */
static GPtrArray *
used_by (FerryDaemon *d, const char *network)
{
  GPtrArray *urls = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, NULL);
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      FerryInstance *inst = v;
      if (inst->creating)
        continue;
      g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (node, devices);
      g_autofree char *text = ferry_json_to_string (node, FALSE);
      if (devices_use (text, network))
        {
          g_autofree char *escaped = g_uri_escape_string (inst->row->name, NULL, FALSE);
          g_ptr_array_add (urls, g_strdup_printf ("/1.0/instances/%s", escaped));
        }
    }
  for (guint i = 0; profiles && i < profiles->len; i++)
    {
      FerryDbProfile *p = g_ptr_array_index (profiles, i);
      if (devices_use (p->devices_json, network))
        {
          g_autofree char *escaped = g_uri_escape_string (p->name, NULL, FALSE);
          g_ptr_array_add (urls, g_strdup_printf ("/1.0/profiles/%s", escaped));
        }
    }
  g_ptr_array_sort (urls, (GCompareFunc) g_strcmp0);
  return urls;
}

static JsonNode *
network_json (FerryDaemon *d, FerryNetwork *n)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (GPtrArray) users = used_by (d, n->name);
  JsonArray *urls = json_array_new ();
  JsonArray *locations = json_array_new ();

  for (guint i = 0; i < users->len; i++)
    json_array_add_string_element (urls, g_ptr_array_index (users, i));
  json_array_add_string_element (locations, "none");
  json_object_set_string_member (o, "name", n->name);
  json_object_set_string_member (o, "description", n->description ? n->description : "");
  json_object_set_string_member (o, "type", "bridge");
  json_object_set_boolean_member (o, "managed", TRUE);
  json_object_set_string_member (o, "status", n->error ? "Errored" : "Created");
  json_object_set_member (o, "config", ferry_json_from_string_map (n->config));
  /* LXD's list of users is a Go slice: null while nothing uses the network. */
  if (users->len > 0)
    json_object_set_array_member (o, "used_by", urls);
  else
    {
      json_array_unref (urls);
      json_object_set_null_member (o, "used_by");
    }
  json_object_set_array_member (o, "locations", locations);
  json_node_take_object (node, o);
  return node;
}

static GHashTable *
copy_map (GHashTable *m)
{
  GHashTable *c = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, m);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (c, g_strdup (k), g_strdup (v));
  return c;
}

static const char *
network_name (gpointer name)
{
  return name;
}

static JsonNode *
network_item_json (gpointer name, gpointer d)
{
  return network_json (d, ferry_network_lookup (d, name));
}

static void
list_networks (FerryRequest *req)
{
  FerryDaemon *d = req->daemon;
  GList *sorted = g_list_sort (g_hash_table_get_keys (d->networks->by_name), (GCompareFunc) strcmp);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();

  for (GList *l = sorted; l != NULL; l = l->next)
    g_ptr_array_add (names, l->data);
  g_list_free (sorted);
  ferry_api_respond_collection (req, names, "/1.0/networks/", network_name, network_item_json, d);
}

/* Creates the network the body describes; its name in NAME_OUT. */
static gboolean
create_network (FerryRequest *req, char **name_out, GError **error)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, error);
  const char *name = NULL, *type = NULL, *description = NULL;
  JsonObject *config_obj = NULL;
  g_autoptr (GHashTable) config = NULL;
  FerryNetwork *n;
  gboolean created = FALSE;

  if (body == NULL || !ferry_json_get_string (body, "name", &name, error)
      || !ferry_json_get_string (body, "type", &type, error)
      || !ferry_json_get_string (body, "description", &description, error)
      || !ferry_json_get_object (body, "config", &config_obj, error))
    return FALSE;
  if (name == NULL || !ferry_network_name_validate (name, error))
    {
      if (error && *error == NULL)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "No name provided");
      return FALSE;
    }
  if (type != NULL && *type != '\0' && strcmp (type, "bridge") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unsupported network type \"%s\" (only \"bridge\")", type);
      return FALSE;
    }
  if (ferry_network_lookup (d, name) != NULL)
    {
      /* 400, not 409: LXD's answer to this one. */
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The network already exists");
      return FALSE;
    }
  if (ferry_link_exists (name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "An interface named \"%s\" already exists on this host",
                   name);
      return FALSE;
    }
  config = config_obj ? ferry_json_string_map (config_obj, "Config", error)
                      : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (config == NULL)
    return FALSE;
  /* LXD's defaults for a new bridge. */
  if (!g_hash_table_contains (config, "ipv4.address"))
    g_hash_table_insert (config, g_strdup ("ipv4.address"), g_strdup ("auto"));
  if (!g_hash_table_contains (config, "ipv6.address"))
    g_hash_table_insert (config, g_strdup ("ipv6.address"), g_strdup ("auto"));
  if (strcmp (g_hash_table_lookup (config, "ipv4.address"), "auto") == 0 && !g_hash_table_contains (config, "ipv4.nat"))
    g_hash_table_insert (config, g_strdup ("ipv4.nat"), g_strdup ("true"));
  if (strcmp (g_hash_table_lookup (config, "ipv6.address"), "auto") == 0 && !g_hash_table_contains (config, "ipv6.nat"))
    g_hash_table_insert (config, g_strdup ("ipv6.nat"), g_strdup ("true"));
  if (!ferry_network_resolve_config (d, name, config, error))
    return FALSE;

  n = g_new0 (FerryNetwork, 1);
  n->pidfd = -1;
  n->name = g_strdup (name);
  n->description = g_strdup (description ? description : "");
  n->config = g_steal_pointer (&config);
  g_hash_table_insert (d->networks->by_name, n->name, n);
  if (!ferry_network_bring_up (d, n, TRUE, &created, error) || !ferry_network_save (d, n, error))
    {
      g_autofree char *dir = ferry_network_dir (d, name);
      if (created)
        ferry_network_take_down (d, n);
      else
        ferry_dnsmasq_stop (dir);
      g_hash_table_remove (d->networks->by_name, name);
      ferry_networks_apply_firewall (d, NULL);
      ferry_rm_rf (dir, NULL);
      return FALSE;
    }
  g_message ("Created network %s", name);
  *name_out = g_strdup (name);
  return TRUE;
}

static gboolean
update_network (FerryRequest *req, FerryNetwork *n, gboolean patch, GError **error)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, error);
  JsonObject *config_obj = NULL;
  const char *description = NULL;
  g_autoptr (GHashTable) config = NULL;
  g_autoptr (GHashTable) old = NULL;
  g_autofree char *old_description = NULL;

  if (body == NULL || !ferry_json_get_object (body, "config", &config_obj, error)
      || !ferry_json_get_string (body, "description", &description, error))
    return FALSE;
  g_autoptr (GHashTable) given = config_obj ? ferry_json_string_map (config_obj, "Config", error)
                                            : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (given == NULL)
    return FALSE;
  if (patch)
    {
      GHashTableIter iter;
      gpointer k, v;
      config = copy_map (n->config);
      g_hash_table_iter_init (&iter, given);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_insert (config, g_strdup (k), g_strdup (v));
    }
  else
    config = g_steal_pointer (&given);
  if (!ferry_network_resolve_config (d, n->name, config, error))
    return FALSE;
  old = n->config;
  old_description = n->description;
  n->config = g_steal_pointer (&config);
  n->description = g_strdup (description ? description : (patch ? old_description : ""));
  if (!ferry_network_bring_up (d, n, TRUE, NULL, error) || !ferry_network_save (d, n, error))
    {
      g_autoptr (GError) again = NULL;
      g_hash_table_unref (n->config);
      g_free (n->description);
      n->config = g_steal_pointer (&old);
      n->description = g_steal_pointer (&old_description);
      if (!ferry_network_bring_up (d, n, TRUE, NULL, &again))
        g_warning ("Network %s: restoring the previous configuration: %s", n->name, again->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
delete_network (FerryRequest *req, FerryNetwork *n, GError **error)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GPtrArray) users = used_by (d, n->name);
  g_autofree char *dir = ferry_network_dir (d, n->name);

  if (users->len > 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The network is currently in use (by %s%s)",
                   (char *) g_ptr_array_index (users, 0), users->len > 1 ? " and others" : "");
      return FALSE;
    }
  ferry_network_take_down (d, n);
  g_hash_table_remove (d->networks->by_name, n->name);
  ferry_networks_apply_firewall (d, NULL);
  return ferry_rm_rf (dir, error);
}

static gboolean
rename_network (FerryRequest *req, FerryNetwork *n, GError **error)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, error);
  g_autoptr (GPtrArray) users = NULL;
  const char *name = NULL;

  if (body == NULL || !ferry_json_get_string (body, "name", &name, error))
    return FALSE;
  if (name == NULL || !ferry_network_name_validate (name, error))
    {
      if (error && *error == NULL)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "No name provided");
      return FALSE;
    }
  if (ferry_network_lookup (d, name) != NULL || ferry_link_exists (name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Network \"%s\" already exists", name);
      return FALSE;
    }
  users = used_by (d, n->name);
  if (users->len > 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The network is currently in use");
      return FALSE;
    }
  g_autofree char *old_dir = ferry_network_dir (d, n->name);
  g_autofree char *new_dir = ferry_network_dir (d, name);
  g_autofree char *old_name = g_strdup (n->name);
  ferry_network_take_down (d, n);
  if (rename (old_dir, new_dir) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Renaming %s: %s", old_dir, g_strerror (saved));
      ferry_network_bring_up (d, n, TRUE, NULL, NULL);
      return FALSE;
    }
  g_hash_table_steal (d->networks->by_name, old_name);
  g_free (n->name);
  n->name = g_strdup (name);
  g_hash_table_insert (d->networks->by_name, n->name, n);
  if (!ferry_network_save (d, n, error))
    return FALSE;
  return ferry_network_bring_up (d, n, TRUE, NULL, error);
}

void
ferry_api_networks_list (FerryRequest *req, FerryInstance *unused)
{
  list_networks (req);
}

/* Answers as LXD: 201 with the Location of the network made or renamed
 * (NAME), {} for a delete (NAME NULL), or the error of a change that failed. */
static void
respond_change (FerryRequest *req, gboolean ok, const GError *error, const char *name)
{
  if (!ok)
    ferry_respond_error (req->msg, error);
  else if (name != NULL)
    ferry_respond_sync_location (req->msg, "networks", name);
  else
    ferry_respond_sync_empty (req->msg);
}

void
ferry_api_networks_create (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  gboolean ok = create_network (req, &name, &error);

  respond_change (req, ok, error, name);
}

/* The network /1.0/networks/NAME names; NULL once it answered 404. */
static FerryNetwork *
lookup_network (FerryRequest *req)
{
  FerryNetwork *n = ferry_network_lookup (req->daemon, req->parts[1]);

  if (n == NULL)
    ferry_respond_error_literal (req->msg, 404, "Network not found");
  return n;
}

/* What a network's ETag covers: LXD's fields (its name, type and
 * managed never change here), and the fields of its PUT. */
static const char *const network_writable[] = { "name", "managed", "type", "description", "config", NULL };

void
ferry_api_network_get (FerryRequest *req, FerryInstance *unused)
{
  FerryNetwork *n = lookup_network (req);

  if (n != NULL)
    ferry_respond_sync_etag (req->msg, network_json (req->daemon, n), network_writable);
}

void
ferry_api_network_update (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  FerryNetwork *n = lookup_network (req);
  g_autoptr (JsonNode) now = NULL;

  if (n == NULL)
    return;
  now = network_json (req->daemon, n);
  if (!ferry_request_if_match (req, now, network_writable, &error)
      || !update_network (req, n, strcmp (req->method, "PATCH") == 0, &error))
    ferry_respond_error (req->msg, error);
  else
    ferry_respond_sync_empty (req->msg);
}

void
ferry_api_network_delete (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  FerryNetwork *n = lookup_network (req);

  if (n != NULL)
    {
      gboolean ok = delete_network (req, n, &error);
      respond_change (req, ok, error, NULL);
    }
}

void
ferry_api_network_rename (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  FerryNetwork *n = lookup_network (req);

  if (n != NULL)
    {
      gboolean ok = rename_network (req, n, &error);
      respond_change (req, ok, error, n->name);
    }
}

void
ferry_api_network_urls (FerryDaemon *d, GPtrArray *urls)
{
  GList *sorted = g_list_sort (g_hash_table_get_keys (d->networks->by_name), (GCompareFunc) strcmp);

  for (GList *l = sorted; l != NULL; l = l->next)
    {
      g_autofree char *escaped = g_uri_escape_string (l->data, NULL, FALSE);
      g_ptr_array_add (urls, g_strdup_printf ("/1.0/networks/%s", escaped));
    }
  g_list_free (sorted);
}

/* ---- GET /1.0/networks/NAME/state: the bridge as the kernel has it ---- */

/* LXD names an address's scope from the address itself, not the
 * kernel's scope (lxd/resources/network.go). */
static const char *
address_scope (const char *address)
{
  if (g_str_has_prefix (address, "127") || strcmp (address, "::1") == 0)
    return "local";
  if (g_str_has_prefix (address, "169.254") || g_str_has_prefix (address, "fe80:"))
    return "link";
  return "global";
}

static JsonNode *
bridge_json (const char *name)
{
  g_autoptr (FerryBridgeInfo) info = ferry_bridge_info (name);
  JsonObject *o;
  JsonNode *node;

  if (info == NULL)
    return json_node_new (JSON_NODE_NULL);
  o = json_object_new ();
  json_object_set_string_member (o, "id", info->id);
  json_object_set_boolean_member (o, "stp", info->stp);
  json_object_set_int_member (o, "forward_delay", (gint64) info->forward_delay);
  json_object_set_int_member (o, "vlan_default", (gint64) info->vlan_default);
  json_object_set_boolean_member (o, "vlan_filtering", info->vlan_filtering);
  json_object_set_member (o, "upper_devices", ferry_json_string_list ((const char *const *) info->upper_devices));
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  return node;
}

static JsonNode *
network_state_json (const FerryNetInterface *iface)
{
  JsonObject *o = json_object_new ();
  JsonObject *counters = json_object_new ();
  JsonArray *addresses = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  for (guint i = 0; i < iface->addresses->len; i++)
    {
      const FerryNetAddress *a = g_ptr_array_index (iface->addresses, i);
      JsonObject *ao = json_object_new ();
      g_autofree char *netmask = g_strdup_printf ("%u", a->prefix);

      json_object_set_string_member (ao, "family", a->family == AF_INET6 ? "inet6" : "inet");
      json_object_set_string_member (ao, "address", a->address);
      json_object_set_string_member (ao, "netmask", netmask);
      json_object_set_string_member (ao, "scope", address_scope (a->address));
      json_array_add_object_element (addresses, ao);
    }
  json_object_set_int_member (counters, "bytes_received", (gint64) iface->rx_bytes);
  json_object_set_int_member (counters, "bytes_sent", (gint64) iface->tx_bytes);
  json_object_set_int_member (counters, "packets_received", (gint64) iface->rx_packets);
  json_object_set_int_member (counters, "packets_sent", (gint64) iface->tx_packets);
  json_object_set_array_member (o, "addresses", addresses);
  json_object_set_object_member (o, "counters", counters);
  json_object_set_string_member (o, "hwaddr", iface->hwaddr);
  json_object_set_int_member (o, "mtu", iface->mtu);
  json_object_set_string_member (o, "state", iface->up ? "up" : "down");
  json_object_set_string_member (o, "type", iface->loopback      ? "loopback"
                                            : iface->pointopoint ? "point-to-point"
                                            : iface->broadcast   ? "broadcast"
                                                                 : "unknown");
  json_object_set_null_member (o, "bond");
  json_object_set_member (o, "bridge", bridge_json (iface->name));
  json_object_set_null_member (o, "vlan");
  json_object_set_null_member (o, "ovn");
  json_node_take_object (node, o);
  return node;
}

void
ferry_api_network_state (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GError) error = NULL;
  FerryNetwork *n = lookup_network (req);
  FerryNetInterface *iface;

  if (n == NULL)
    return;
  iface = ferry_host_interface (n->name, &error);
  if (iface == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  ferry_respond_sync (req->msg, network_state_json (iface));
  ferry_net_interface_free (iface);
}

/* ---- GET /1.0/networks/NAME/leases: LXD's bridge Leases() ---- */

static void
add_lease (JsonArray *leases, const char *hostname, const char *hwaddr, const char *address, const char *type)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "hostname", hostname);
  json_object_set_string_member (o, "hwaddr", hwaddr);
  json_object_set_string_member (o, "address", address);
  json_object_set_string_member (o, "type", type);
  /* A server outside a cluster: LXD's member name "none". */
  json_object_set_string_member (o, "location", type[0] == 'g' ? "" : "none");
  json_array_add_object_element (leases, o);
}

/* The EUI-64 address of MAC in NET's /64 (SLAAC, which dnsmasq's router
 * advertisements make the instances use). */
static char *
eui64_address (const char *net, const char *mac)
{
  FerryCidr c, network;
  unsigned m[6];

  if (net == NULL || !ferry_cidr_parse (net, &c, NULL) || c.family != AF_INET6
      || sscanf (mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
    return NULL;
  ferry_cidr_network (&c, &network);
  network.addr[8] = (guint8) (m[0] ^ 0x02);
  network.addr[9] = (guint8) m[1];
  network.addr[10] = (guint8) m[2];
  network.addr[11] = 0xff;
  network.addr[12] = 0xfe;
  network.addr[13] = (guint8) m[3];
  network.addr[14] = (guint8) m[4];
  network.addr[15] = (guint8) m[5];
  return ferry_cidr_address_string (&network);
}

/* A lease of the dnsmasq leases file that an instance's static entry
 * already shows. */
static gboolean
lease_listed (JsonArray *leases, const char *hwaddr, const char *address)
{
  for (guint i = 0; i < json_array_get_length (leases); i++)
    {
      JsonObject *o = json_array_get_object_element (leases, i);
      if (g_strcmp0 (json_object_get_string_member (o, "hwaddr"), hwaddr) == 0
          && g_strcmp0 (json_object_get_string_member (o, "address"), address) == 0)
        return TRUE;
    }
  return FALSE;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Each nic of each instance on network N: static addresses and the EUI-64
 * one; MACS collects their MACs. */
static void
add_instance_leases (FerryDaemon *d, FerryNetwork *n, JsonArray *leases, GPtrArray *macs)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const char *net6 = ferry_network_address (n, "ipv6.address");
  gboolean stateful = ferry_network_bool (ferry_network_get (n, "ipv6.dhcp.stateful"), FALSE);
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_ptr_array_add (names, k);
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      FerryInstance *inst = g_hash_table_lookup (d->instances, g_ptr_array_index (names, i));
      g_autoptr (JsonObject) devices = NULL;
      g_autoptr (GHashTable) config = NULL;
      g_autoptr (GList) devnames = NULL;

      if (inst->creating || ferry_instance_is_rename_placeholder (inst))
        continue;
      devices = ferry_instance_expanded_devices (d, inst);
      config = ferry_instance_own_config (inst);
      devnames = g_list_sort (json_object_get_members (devices), (GCompareFunc) strcmp);
      for (GList *l = devnames; l != NULL; l = l->next)
        {
          JsonObject *dev = json_object_get_object_member (devices, l->data);
          g_autofree char *key = g_strdup_printf ("volatile.%s.hwaddr", (char *) l->data);
          const char *hwaddr, *v4, *v6;
          g_autofree char *eui = NULL;

          if (g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "nic") != 0
              || g_strcmp0 (json_object_get_string_member_with_default (dev, "network", ""), n->name) != 0)
            continue;
          hwaddr = json_object_get_string_member_with_default (dev, "hwaddr", NULL);
          if (hwaddr == NULL)
            hwaddr = g_hash_table_lookup (config, key);
          if (hwaddr == NULL || !ferry_mac_valid (hwaddr))
            hwaddr = "";
          if (*hwaddr != '\0')
            g_ptr_array_add (macs, g_ascii_strdown (hwaddr, -1));
          v4 = json_object_get_string_member_with_default (dev, "ipv4.address", NULL);
          v6 = json_object_get_string_member_with_default (dev, "ipv6.address", NULL);
          if (v4 != NULL && *v4 != '\0')
            add_lease (leases, inst->row->name, hwaddr, v4, "static");
          if (v6 != NULL && *v6 != '\0')
            add_lease (leases, inst->row->name, hwaddr, v6, "static");
          if (!stateful && *hwaddr != '\0' && (eui = eui64_address (net6, hwaddr)) != NULL)
            add_lease (leases, inst->row->name, hwaddr, eui, "dynamic");
        }
    }
}

/* dnsmasq's leases file: "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID" lines. */
static void
add_dnsmasq_leases (FerryDaemon *d, FerryNetwork *n, JsonArray *leases, GPtrArray *macs)
{
  g_autofree char *dir = ferry_network_dir (d, n->name);
  g_autofree char *path = g_build_filename (dir, "dnsmasq.leases", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      g_autofree char *mac = NULL;

      if (g_strv_length (f) < 5)
        continue;
      mac = g_ascii_strdown (f[1], -1);
      if (lease_listed (leases, mac, f[2]))
        continue;
      /* DHCPv6 leases are not tied to a MAC (LXD clears it too). */
      if (strchr (f[2], ':') != NULL)
        g_clear_pointer (&mac, g_free);
      if (mac != NULL && !g_ptr_array_find_with_equal_func (macs, mac, g_str_equal, NULL))
        continue;
      add_lease (leases, f[3], mac ? mac : "", f[2], "dynamic");
    }
}

void
ferry_api_network_leases (FerryRequest *req, FerryInstance *unused)
{
  FerryNetwork *n = lookup_network (req);
  JsonArray *leases;
  JsonNode *node;
  g_autoptr (GPtrArray) macs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *gw_name = NULL;
  const char *keys[] = { "ipv4.address", "ipv6.address" };

  if (n == NULL)
    return;
  leases = json_array_new ();
  gw_name = g_strdup_printf ("%s.gw", n->name);
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      const char *cidr = ferry_network_address (n, keys[i]);
      FerryCidr c;
      g_autofree char *address = NULL;

      if (cidr != NULL && ferry_cidr_parse (cidr, &c, NULL) && (address = ferry_cidr_address_string (&c)) != NULL)
        add_lease (leases, gw_name, "", address, "gateway");
    }
  add_instance_leases (req->daemon, n, leases, macs);
  add_dnsmasq_leases (req->daemon, n, leases, macs);
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, leases);
  ferry_respond_sync (req->msg, node);
}
