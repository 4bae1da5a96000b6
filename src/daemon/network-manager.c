/* Managed bridge networks: definitions on disk, bringing them up, dnsmasq
 * supervision, NAT, and what nic devices of instances need from them. */
#include "config.h"
#include "daemon/network-manager.h"
#include "daemon/network-internal.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "network/network.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_NETWORK "ferrybr0"

static FerryNetworks *
nets (FerryDaemon *d)
{
  return d->networks;
}

void
ferry_network_free (FerryNetwork *n)
{
  if (n == NULL)
    return;
  if (n->watch != 0)
    g_source_remove (n->watch);
  if (n->restart_id != 0)
    g_source_remove (n->restart_id);
  if (n->pidfd >= 0)
    close (n->pidfd);
  g_free (n->name);
  g_free (n->description);
  g_free (n->error);
  if (n->config != NULL)
    g_hash_table_unref (n->config);
  g_free (n);
}

FerryNetwork *
ferry_network_lookup (FerryDaemon *d, const char *name)
{
  return name ? g_hash_table_lookup (nets (d)->by_name, name) : NULL;
}

char *
ferry_network_dir (FerryDaemon *d, const char *name)
{
  return g_build_filename (nets (d)->dir, name, NULL);
}

const char *
ferry_network_get (FerryNetwork *n, const char *key)
{
  return g_hash_table_lookup (n->config, key);
}

static const char *
address_of (FerryNetwork *n, const char *key)
{
  const char *v = ferry_network_get (n, key);
  return v == NULL || strcmp (v, "none") == 0 || strcmp (v, "auto") == 0 || *v == '\0' ? NULL : v;
}

gboolean
ferry_network_save (FerryDaemon *d, FerryNetwork *n, GError **error)
{
  g_autofree char *dir = ferry_network_dir (d, n->name);
  g_autofree char *path = g_build_filename (dir, "network.json", NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  if (!ferry_mkdir_p (dir, 0755, error))
    return FALSE;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, n->name);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, n->description ? n->description : "");
  json_builder_set_member_name (b, "config");
  json_builder_add_value (b, ferry_json_from_string_map (n->config));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = ferry_json_to_string (root, TRUE);
  return ferry_write_file_atomic (path, text, -1, 0644, error);
}

static FerryNetwork *
load_one (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (JsonObject) obj = NULL;
  JsonObject *config = NULL;
  const char *name = NULL, *description = NULL;
  FerryNetwork *n;

  if (!g_file_get_contents (path, &text, &len, error)
      || (obj = ferry_json_parse_object (text, len, FALSE, error)) == NULL
      || !ferry_json_get_string (obj, "name", &name, error) || !ferry_json_get_string (obj, "description", &description, error)
      || !ferry_json_get_object (obj, "config", &config, error))
    return NULL;
  n = g_new0 (FerryNetwork, 1);
  n->pidfd = -1;
  n->name = g_strdup (name);
  n->description = g_strdup (description ? description : "");
  n->config = config ? ferry_json_string_map (config, "Config", NULL) : NULL;
  if (n->config == NULL)
    n->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return n;
}

/* ---- bringing a network up ---- */

static void dnsmasq_watch (FerryDaemon *d, FerryNetwork *n, pid_t pid);

static void
spec_for (FerryDaemon *d, FerryNetwork *n, FerryDnsmasqSpec *s, char **dir)
{
  const char *mtu = ferry_network_get (n, "bridge.mtu");

  *dir = ferry_network_dir (d, n->name);
  memset (s, 0, sizeof *s);
  s->bridge = n->name;
  s->dir = *dir;
  s->ipv4_address = address_of (n, "ipv4.address");
  s->ipv4_ranges = ferry_network_get (n, "ipv4.dhcp.ranges");
  s->ipv4_dhcp = ferry_network_bool (ferry_network_get (n, "ipv4.dhcp"), TRUE);
  s->ipv6_address = address_of (n, "ipv6.address");
  s->ipv6_dhcp = ferry_network_bool (ferry_network_get (n, "ipv6.dhcp"), TRUE);
  s->domain = ferry_network_get (n, "dns.domain");
  s->mtu = mtu ? (int) g_ascii_strtoll (mtu, NULL, 10) : 0;
}

/* The running dnsmasq was started with exactly this configuration. */
static gboolean
dnsmasq_matches (pid_t pid, GStrv argv)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *cmdline = NULL;
  gsize len = 0, off = 0;
  guint i = 0;

  if (!g_file_get_contents (path, &cmdline, &len, NULL))
    return FALSE;
  for (; off < len && argv[i] != NULL; i++, off += strlen (cmdline + off) + 1)
    if (strcmp (cmdline + off, argv[i]) != 0)
      return FALSE;
  return off >= len && argv[i] == NULL;
}

static gboolean
dnsmasq_ensure (FerryDaemon *d, FerryNetwork *n, gboolean force_restart, GError **error)
{
  g_autofree char *dir = NULL;
  FerryDnsmasqSpec spec;
  pid_t pid;

  spec_for (d, n, &spec, &dir);
  if (spec.ipv4_address == NULL && spec.ipv6_address == NULL)
    {
      ferry_dnsmasq_stop (dir);
      return TRUE;
    }
  pid = ferry_dnsmasq_running (dir);
  if (pid > 0 && !force_restart)
    {
      g_auto (GStrv) argv = ferry_dnsmasq_argv (&spec);
      if (dnsmasq_matches (pid, argv))
        {
          dnsmasq_watch (d, n, pid);
          return TRUE;
        }
    }
  if (n->watch != 0)
    g_clear_handle_id (&n->watch, g_source_remove);
  if (n->pidfd >= 0)
    {
      close (n->pidfd);
      n->pidfd = -1;
    }
  ferry_dnsmasq_stop (dir);
  ferry_network_write_hosts (d, n);
  pid = ferry_dnsmasq_start (&spec, error);
  if (pid <= 0)
    return FALSE;
  dnsmasq_watch (d, n, pid);
  return TRUE;
}

typedef struct
{
  FerryDaemon *d;
  char *name;
} RestartData;

static void
restart_data_free (gpointer p)
{
  RestartData *r = p;
  g_free (r->name);
  g_free (r);
}

static gboolean
dnsmasq_restart (gpointer user_data)
{
  RestartData *r = user_data;
  FerryNetwork *n = ferry_network_lookup (r->d, r->name);
  g_autoptr (GError) error = NULL;

  if (n == NULL)
    return G_SOURCE_REMOVE;
  n->restart_id = 0;
  if (!dnsmasq_ensure (r->d, n, TRUE, &error))
    g_warning ("Network %s: restarting dnsmasq failed: %s", n->name, error->message);
  else
    g_message ("Network %s: dnsmasq restarted", n->name);
  return G_SOURCE_REMOVE;
}

static gboolean
dnsmasq_exited (int fd, GIOCondition cond, gpointer user_data)
{
  RestartData *r = user_data;
  FerryNetwork *n = ferry_network_lookup (r->d, r->name);

  if (n == NULL)
    return G_SOURCE_REMOVE;
  n->watch = 0;
  close (n->pidfd);
  n->pidfd = -1;
  n->restarts++;
  g_warning ("Network %s: dnsmasq exited; restarting it", n->name);
  if (n->restart_id == 0)
    {
      RestartData *again = g_new0 (RestartData, 1);
      again->d = r->d;
      again->name = g_strdup (n->name);
      /* Back off a little if it keeps dying. */
      n->restart_id = g_timeout_add_full (G_PRIORITY_DEFAULT, n->restarts > 5 ? 5000 : 200, dnsmasq_restart, again,
                                          restart_data_free);
    }
  return G_SOURCE_REMOVE;
}

static void
dnsmasq_watch (FerryDaemon *d, FerryNetwork *n, pid_t pid)
{
  RestartData *r;

  if (n->watch != 0)
    g_clear_handle_id (&n->watch, g_source_remove);
  if (n->pidfd >= 0)
    close (n->pidfd);
  n->pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (n->pidfd < 0)
    return;
  r = g_new0 (RestartData, 1);
  r->d = d;
  r->name = g_strdup (n->name);
  n->watch = g_unix_fd_add_full (G_PRIORITY_DEFAULT, n->pidfd, G_IO_IN, dnsmasq_exited, r, restart_data_free);
}

static void
write_sysctl (const char *path, const char *value)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *now = ferry_read_small_file (path);

  if (now != NULL && strcmp (g_strstrip (now), value) == 0)
    return;
  FILE *f = fopen (path, "we");
  if (f == NULL || fputs (value, f) < 0 || fclose (f) != 0)
    g_warning ("Setting %s: %s", path, g_strerror (errno));
  else
    f = NULL;
  if (f != NULL)
    fclose (f);
}

gboolean
ferry_networks_apply_firewall (FerryDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) rules = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init (&iter, nets (d)->by_name);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      FerryNetwork *n = v;
      FerryFirewallNetwork *f = g_new0 (FerryFirewallNetwork, 1);
      const char *a4 = address_of (n, "ipv4.address"), *a6 = address_of (n, "ipv6.address");
      FerryCidr c, net;

      f->bridge = n->name;
      if (a4 && ferry_network_bool (ferry_network_get (n, "ipv4.nat"), FALSE) && ferry_cidr_parse (a4, &c, NULL))
        {
          ferry_cidr_network (&c, &net);
          f->ipv4_subnet = ferry_cidr_to_string (&net);
          g_ptr_array_add (texts, (char *) f->ipv4_subnet);
        }
      if (a6 && ferry_network_bool (ferry_network_get (n, "ipv6.nat"), FALSE) && ferry_cidr_parse (a6, &c, NULL))
        {
          ferry_cidr_network (&c, &net);
          f->ipv6_subnet = ferry_cidr_to_string (&net);
          g_ptr_array_add (texts, (char *) f->ipv6_subnet);
        }
      g_ptr_array_add (rules, f);
    }
  if (rules->len == 0)
    return ferry_firewall_remove (nets (d)->table, error);
  return ferry_firewall_apply (nets (d)->table, rules, error);
}

gboolean
ferry_network_bring_up (FerryDaemon *d, FerryNetwork *n, gboolean restart_dnsmasq, gboolean *created, GError **error)
{
  const char *a4 = address_of (n, "ipv4.address"), *a6 = address_of (n, "ipv6.address");
  const char *mtu = ferry_network_get (n, "bridge.mtu"), *ext = ferry_network_get (n, "bridge.external_interfaces");
  const char *addresses[3] = { NULL };
  g_auto (GStrv) external = ext ? g_strsplit (ext, ",", -1) : NULL;
  int i = 0;
  gboolean made = FALSE;

  for (char **e = external; e && *e; e++)
    g_strstrip (*e);
  if (a4)
    addresses[i++] = a4;
  if (a6)
    addresses[i++] = a6;
  FerryBridgeSpec spec = {
    .name = n->name,
    .mtu = mtu ? (int) g_ascii_strtoll (mtu, NULL, 10) : 0,
    .alias = nets (d)->alias,
    .addresses = addresses,
    .external = (const char *const *) external,
  };
  if (created)
    *created = FALSE;
  if (!ferry_bridge_ensure (&spec, &made, error))
    goto fail;
  if (created)
    *created = made;
  if (a4)
    write_sysctl ("/proc/sys/net/ipv4/ip_forward", "1");
  if (a6)
    write_sysctl ("/proc/sys/net/ipv6/conf/all/forwarding", "1");
  if (!dnsmasq_ensure (d, n, restart_dnsmasq, error) || !ferry_networks_apply_firewall (d, error))
    goto fail;
  g_clear_pointer (&n->error, g_free);
  return TRUE;

fail:
  g_free (n->error);
  n->error = g_strdup ((*error)->message);
  return FALSE;
}

void
ferry_network_take_down (FerryDaemon *d, FerryNetwork *n)
{
  g_autofree char *dir = ferry_network_dir (d, n->name);
  g_autoptr (GError) error = NULL;

  if (n->watch != 0)
    g_clear_handle_id (&n->watch, g_source_remove);
  if (n->restart_id != 0)
    g_clear_handle_id (&n->restart_id, g_source_remove);
  if (n->pidfd >= 0)
    {
      close (n->pidfd);
      n->pidfd = -1;
    }
  ferry_dnsmasq_stop (dir);
  if (!ferry_bridge_delete (n->name, &error))
    g_warning ("Network %s: %s", n->name, error->message);
}

/* ---- "auto" and overlap checks ---- */

static void
add_cidr (GPtrArray *out, const char *text)
{
  FerryCidr c;
  if (text && ferry_cidr_parse (text, &c, NULL))
    g_ptr_array_add (out, g_memdup2 (&c, sizeof c));
}

gboolean
ferry_network_resolve_config (FerryDaemon *d, const char *name, GHashTable *config, GError **error)
{
  g_autoptr (GPtrArray) used = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) host = ferry_host_networks (NULL);
  GHashTableIter iter;
  gpointer k, v;
  const char *keys[] = { "ipv4.address", "ipv6.address" };

  if (!ferry_network_config_validate (config, error))
    return FALSE;
  /* Other networks' subnets; the host's routes except those of our own bridges. */
  g_hash_table_iter_init (&iter, nets (d)->by_name);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (strcmp (k, name) != 0)
      for (int i = 0; i < 2; i++)
        add_cidr (used, address_of (v, keys[i]));
  g_autoptr (GPtrArray) own = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&iter, nets (d)->by_name);
  while (g_hash_table_iter_next (&iter, &k, &v))
    for (int i = 0; i < 2; i++)
      add_cidr (own, address_of (v, keys[i]));
  for (guint i = 0; host && i < host->len; i++)
    {
      FerryCidr *h = g_ptr_array_index (host, i);
      gboolean ours = FALSE;
      if (h->family == AF_INET && h->prefix == 32 && h->addr[0] == 127)
        continue;
      if (h->family == AF_INET6 && (h->prefix == 128 || (h->addr[0] == 0xfe && (h->addr[1] & 0xc0) == 0x80)))
        continue; /* host addresses and link-local: not subnets */
      for (guint j = 0; j < own->len && !ours; j++)
        ours = ferry_cidr_overlaps (h, g_ptr_array_index (own, j));
      if (!ours && !(h->family == AF_INET && h->prefix == 0))
        g_ptr_array_add (used, g_memdup2 (h, sizeof *h));
    }
  for (int i = 0; i < 2; i++)
    {
      const char *value = g_hash_table_lookup (config, keys[i]);
      FerryCidr c;

      if (value != NULL && strcmp (value, "auto") == 0)
        {
          g_autofree char *picked = i == 0 ? ferry_ipv4_pick_free (used) : ferry_ula_random ();
          if (picked == NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "No free 10.x.y.0/24 subnet left for %s", name);
              return FALSE;
            }
          g_hash_table_insert (config, g_strdup (keys[i]), g_strdup (picked));
          continue;
        }
      if (value == NULL || strcmp (value, "none") == 0 || !ferry_cidr_parse (value, &c, NULL))
        continue;
      for (guint j = 0; j < used->len; j++)
        if (ferry_cidr_overlaps (&c, g_ptr_array_index (used, j)))
          {
            g_autofree char *other = ferry_cidr_to_string (g_ptr_array_index (used, j));
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                         "%s %s overlaps %s, already used by another network or the host", keys[i], value, other);
            return FALSE;
          }
    }
  return TRUE;
}

/* ---- setup and shutdown ---- */

static gboolean
add_default_nic_to_profile (FerryDaemon *d, const char *network, GError **error)
{
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, error);

  if (profiles == NULL)
    return FALSE;
  for (guint i = 0; i < profiles->len; i++)
    {
      FerryDbProfile *p = g_ptr_array_index (profiles, i);
      if (strcmp (p->name, "default") != 0)
        continue;
      g_autoptr (JsonObject) devices = ferry_json_parse_object (p->devices_json, strlen (p->devices_json), TRUE, NULL);
      if (devices == NULL)
        devices = json_object_new ();
      if (json_object_has_member (devices, "eth0"))
        return TRUE;
      JsonObject *nic = json_object_new ();
      json_object_set_string_member (nic, "type", "nic");
      json_object_set_string_member (nic, "network", network);
      json_object_set_string_member (nic, "name", "eth0");
      json_object_set_object_member (devices, "eth0", nic);
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (node, devices);
      g_free (p->devices_json);
      p->devices_json = ferry_json_to_string (node, FALSE);
      return ferry_db_profile_upsert (d->db, p, error);
    }
  return TRUE;
}

static gboolean
create_default_network (FerryDaemon *d, GError **error)
{
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup (DEFAULT_NETWORK) : g_strdup_printf ("ferrybr%d", i);
      g_autoptr (GError) local = NULL;
      FerryNetwork *n;

      /* Another ferryd on this kernel (a test, the lab) may own ferrybr0. */
      if (ferry_link_exists (name))
        continue;
      n = g_new0 (FerryNetwork, 1);
      n->pidfd = -1;
      n->name = g_strdup (name);
      n->description = g_strdup ("");
      n->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (n->config, g_strdup ("ipv4.address"), g_strdup ("auto"));
      g_hash_table_insert (n->config, g_strdup ("ipv4.nat"), g_strdup ("true"));
      g_hash_table_insert (n->config, g_strdup ("ipv6.address"), g_strdup ("auto"));
      g_hash_table_insert (n->config, g_strdup ("ipv6.nat"), g_strdup ("true"));
      if (!ferry_network_resolve_config (d, name, n->config, error) || !ferry_network_save (d, n, error))
        {
          ferry_network_free (n);
          return FALSE;
        }
      g_hash_table_insert (nets (d)->by_name, n->name, n);
      g_message ("Created the default network %s (%s, %s)", name, (char *) ferry_network_get (n, "ipv4.address"),
                 (char *) ferry_network_get (n, "ipv6.address"));
      return add_default_nic_to_profile (d, name, error);
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "ferrybr0..ferrybr9 all exist on this host");
  return FALSE;
}

static char *
firewall_table_name (FerryDaemon *d)
{
  g_autofree char *sum = NULL;

  if (strcmp (d->layout->root, FERRY_DEFAULT_ROOT) == 0)
    return g_strdup ("ferry");
  sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, d->layout->root, -1);
  return g_strdup_printf ("ferry-%.10s", sum);
}

gboolean
ferry_networks_setup (FerryDaemon *d, GError **error)
{
  FerryNetworks *ns = g_new0 (FerryNetworks, 1);
  gboolean first;
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  d->networks = ns;
  ns->by_name = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) ferry_network_free);
  ns->dir = g_strdup (d->layout->networks);
  ns->table = firewall_table_name (d);
  ns->alias = g_strdup_printf ("ferry:%s", ns->table);
  first = !g_file_test (ns->dir, G_FILE_TEST_IS_DIR);
  if (!ferry_mkdir_p (ns->dir, 0700, error))
    return FALSE;
  if ((dir = g_dir_open (ns->dir, 0, error)) == NULL)
    return FALSE;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (ns->dir, entry, "network.json", NULL);
      g_autoptr (GError) local = NULL;
      FerryNetwork *n;
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      if ((n = load_one (path, &local)) == NULL)
        {
          g_warning ("Ignoring network %s: %s", entry, local->message);
          continue;
        }
      g_hash_table_insert (ns->by_name, n->name, n);
    }
  if (first && !create_default_network (d, error))
    return FALSE;

  GHashTableIter iter;
  gpointer v;
  g_hash_table_iter_init (&iter, ns->by_name);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      g_autoptr (GError) local = NULL;
      FerryNetwork *n = v;
      if (!ferry_network_bring_up (d, n, FALSE, NULL, &local))
        g_warning ("Network %s is not available: %s", n->name, local->message);
    }
  return TRUE;
}

void
ferry_networks_shutdown (FerryDaemon *d)
{
  GHashTableIter iter;
  gpointer v;
  g_autoptr (GError) error = NULL;

  if (nets (d) == NULL)
    return;
  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    if (!((FerryInstance *) v)->creating && ferry_instance_is_running (d, v))
      {
        g_message ("Instances run on: networks stay up");
        return;
      }
  g_hash_table_iter_init (&iter, nets (d)->by_name);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    ferry_network_take_down (d, v);
  if (!ferry_firewall_remove (nets (d)->table, &error))
    g_warning ("%s", error->message);
  g_message ("No instance runs: networks taken down");
}

/* ---- nic devices ---- */

gboolean
ferry_network_nic_device_validate (const char *device, GHashTable *props, GError **error)
{
  FerryDaemon *d = ferry_daemon_get ();
  const char *network = g_hash_table_lookup (props, "network");
  const char *v4 = g_hash_table_lookup (props, "ipv4.address");
  FerryNetwork *n;

  if (!ferry_nic_validate (device, props, error))
    return FALSE;
  if (d == NULL || nets (d) == NULL || network == NULL)
    return TRUE;
  if ((n = ferry_network_lookup (d, network)) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": network \"%s\" does not exist", device,
                   network);
      return FALSE;
    }
  if (v4 != NULL)
    {
      const char *subnet = address_of (n, "ipv4.address");
      FerryCidr net, a;
      if (subnet == NULL || !ferry_cidr_parse (subnet, &net, NULL) || !ferry_ip_parse (v4, AF_INET, &a, NULL)
          || !ferry_cidr_contains (&net, &a) || ferry_cidr_equal_address (&net, &a))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Device \"%s\": ipv4.address %s is not a free address of network %s (%s)", device, v4, network,
                       subnet ? subnet : "no IPv4");
          return FALSE;
        }
    }
  return TRUE;
}

/* The nic devices of an instance, sorted by device name (stable eth order). */
static GList *
nic_devices (JsonObject *devices)
{
  GList *names = json_object_get_members (devices), *out = NULL;

  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonObject *dev = json_object_get_object_member (devices, l->data);
      if (dev && g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "nic") == 0)
        out = g_list_prepend (out, l->data);
    }
  g_list_free (names);
  return g_list_sort (out, (GCompareFunc) strcmp);
}

static const char *
dev_get (JsonObject *dev, const char *key)
{
  return json_object_get_string_member_with_default (dev, key, NULL);
}

void
ferry_network_write_hosts (FerryDaemon *d, FerryNetwork *n)
{
  g_autofree char *dir = ferry_network_dir (d, n->name);
  g_autofree char *path = g_build_filename (dir, "dnsmasq.hosts", NULL);
  g_autoptr (GString) s = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      FerryInstance *inst = v;
      if (inst->creating)
        continue;
      g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
      g_autoptr (GHashTable) config = ferry_instance_own_config (inst);
      GList *nics = nic_devices (devices);
      for (GList *l = nics; l != NULL; l = l->next)
        {
          JsonObject *dev = json_object_get_object_member (devices, l->data);
          g_autofree char *key = g_strdup_printf ("volatile.%s.hwaddr", (char *) l->data);
          const char *hwaddr = dev_get (dev, "hwaddr") ? dev_get (dev, "hwaddr") : g_hash_table_lookup (config, key);
          const char *v4 = dev_get (dev, "ipv4.address");
          if (g_strcmp0 (dev_get (dev, "network"), n->name) != 0 || hwaddr == NULL)
            continue;
          g_string_append_printf (s, "%s,%s%s%s\n", hwaddr, v4 ? v4 : "", v4 ? "," : "", inst->row->name);
        }
      g_list_free (nics);
    }
  if (!ferry_mkdir_p (dir, 0755, &error) || !ferry_write_file_atomic (path, s->str, -1, 0644, &error))
    g_warning ("Network %s: writing static leases: %s", n->name, error->message);
}

gboolean
ferry_network_start_arguments (FerryDaemon *d, FerryInstance *inst, GPtrArray *argv, GError **error)
{
  g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
  g_autoptr (GHashTable) config = ferry_instance_own_config (inst);
  g_autoptr (GHashTable) touched = g_hash_table_new (g_str_hash, g_str_equal);
  GList *nics = nic_devices (devices);
  gboolean changed = FALSE, ok = FALSE;
  int index = 0;

  for (GList *l = nics; l != NULL; l = l->next, index++)
    {
      const char *devname = l->data;
      JsonObject *dev = json_object_get_object_member (devices, devname);
      const char *network = dev_get (dev, "network");
      const char *bridge = network ? network : dev_get (dev, "parent");
      const char *mtu = dev_get (dev, "mtu");
      g_autofree char *hw_key = g_strdup_printf ("volatile.%s.hwaddr", devname);
      g_autofree char *host_key = g_strdup_printf ("volatile.%s.host_name", devname);
      g_autofree char *ifname = g_strdup (dev_get (dev, "name"));
      g_autofree char *host = g_strdup (dev_get (dev, "host_name"));
      g_autofree char *hwaddr = g_strdup (dev_get (dev, "hwaddr"));
      FerryNetwork *n = network ? ferry_network_lookup (d, network) : NULL;

      if (network != NULL && n == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": network \"%s\" does not exist", devname,
                       network);
          goto out;
        }
      if (n != NULL && n->error != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Device \"%s\": network \"%s\" is not available: %s",
                       devname, network, n->error);
          goto out;
        }
      if (ifname == NULL)
        ifname = g_strdup_printf ("eth%d", index);
      if (hwaddr == NULL)
        {
          const char *saved = g_hash_table_lookup (config, hw_key);
          hwaddr = saved ? g_strdup (saved) : ferry_mac_random ();
          if (saved == NULL)
            {
              g_hash_table_insert (config, g_strdup (hw_key), g_strdup (hwaddr));
              changed = TRUE;
            }
        }
      if (host == NULL)
        host = ferry_veth_random_name ();
      g_hash_table_insert (config, g_strdup (host_key), g_strdup (host));
      changed = TRUE;
      FerryNicSpec spec = {
        .name = ifname,
        .host = host,
        .bridge = bridge,
        .hwaddr = hwaddr,
        .mtu = mtu ? (int) g_ascii_strtoll (mtu, NULL, 10) : 0,
      };
      g_ptr_array_add (argv, g_strdup ("--nic"));
      g_ptr_array_add (argv, ferry_nic_spec_format (&spec));
      if (n != NULL)
        g_hash_table_add (touched, n->name);
    }
  if (changed)
    {
      ferry_instance_set_own_config (inst, config);
      if (!inst->creating && !ferry_instance_save (d, inst, error))
        goto out;
    }
  GHashTableIter iter;
  gpointer k;
  g_hash_table_iter_init (&iter, touched);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    {
      FerryNetwork *n = ferry_network_lookup (d, k);
      if (n == NULL)
        continue;
      g_autofree char *dir = ferry_network_dir (d, n->name);
      ferry_network_write_hosts (d, n);
      ferry_dnsmasq_reload (dir);
    }
  ok = TRUE;

out:
  g_list_free (nics);
  return ok;
}

static gpointer
delete_links_main (gpointer data)
{
  GPtrArray *names = data;

  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!ferry_link_delete (g_ptr_array_index (names, i), &error))
        g_warning ("%s", error->message);
    }
  g_ptr_array_unref (names);
  return NULL;
}

void
ferry_network_unplug (const char *run_dir)
{
  g_autofree char *path = g_build_filename (run_dir, "nics", NULL);
  g_autofree char *text = ferry_read_small_file (path);
  g_auto (GStrv) lines = text ? g_strsplit (text, "\n", -1) : NULL;
  GPtrArray *retired = g_ptr_array_new_with_free_func (g_free);

  for (char **l = lines; l != NULL && *l != NULL; l++)
    {
      g_auto (GStrv) f = g_strsplit (*l, " ", -1);
      g_autoptr (GError) error = NULL;
      char *name;
      if (g_strv_length (f) != 3 || !ferry_ifname_valid (f[1]))
        continue;
      if ((name = ferry_link_retire (f[1], &error)) == NULL)
        g_warning ("Unplugging %s: %s", f[1], error->message);
      else if (*name == '\0')
        g_free (name);
      else
        g_ptr_array_add (retired, name);
    }
  /* Out of use already: deleting them is no part of what waits for this. */
  if (retired->len > 0)
    g_thread_unref (g_thread_new ("unplugged", delete_links_main, retired));
  else
    g_ptr_array_unref (retired);
}

/* ---- state ---- */

void
ferry_network_prefetch_add (FerryDaemon *d, pid_t init_pid, GPtrArray *interfaces)
{
  if (d->netns_prefetch == NULL)
    d->netns_prefetch = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_ptr_array_unref);
  g_hash_table_replace (d->netns_prefetch, GINT_TO_POINTER (init_pid), interfaces);
}

void
ferry_network_prefetch_clear (FerryDaemon *d)
{
  g_clear_pointer (&d->netns_prefetch, g_hash_table_unref);
}

void
ferry_network_fill_state (FerryDaemon *d, FerryInstance *inst, pid_t init_pid, GHashTable *config,
                          JsonObject *devices, JsonNode *state)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) ifaces = NULL;
  GList *nics;
  JsonObject *out, *o = json_node_get_object (state);

  if (init_pid <= 0 || o == NULL)
    return;
  if (d->netns_prefetch != NULL && g_hash_table_steal_extended (d->netns_prefetch, GINT_TO_POINTER (init_pid), NULL,
                                                                (gpointer *) &ifaces))
    ;
  else if ((ifaces = ferry_netns_interfaces (init_pid, &error)) == NULL)
    {
      g_debug ("Interfaces of %s: %s", inst->row->name, error->message);
      return;
    }
  nics = nic_devices (devices);
  out = json_object_new ();
  for (guint i = 0; i < ifaces->len; i++)
    {
      FerryNetInterface *f = g_ptr_array_index (ifaces, i);
      JsonObject *io = json_object_new ();
      JsonArray *addrs = json_array_new ();
      JsonObject *counters = json_object_new ();
      const char *host_name = "";

      /* host_name: the volatile key of the nic device whose name this is. */
      for (GList *l = nics; l != NULL; l = l->next)
        {
          JsonObject *dev = json_object_get_object_member (devices, l->data);
          g_autofree char *key = g_strdup_printf ("volatile.%s.host_name", (char *) l->data);
          const char *name = dev_get (dev, "name");
          if (g_strcmp0 (name, f->name) == 0 && g_hash_table_lookup (config, key))
            host_name = g_hash_table_lookup (config, key);
        }
      for (guint j = 0; j < f->addresses->len; j++)
        {
          FerryNetAddress *a = g_ptr_array_index (f->addresses, j);
          JsonObject *ao = json_object_new ();
          g_autofree char *mask = g_strdup_printf ("%u", a->prefix);
          json_object_set_string_member (ao, "family", a->family == AF_INET ? "inet" : "inet6");
          json_object_set_string_member (ao, "address", a->address);
          json_object_set_string_member (ao, "netmask", mask);
          json_object_set_string_member (ao, "scope", a->scope);
          json_array_add_object_element (addrs, ao);
        }
      json_object_set_int_member (counters, "bytes_received", (gint64) f->rx_bytes);
      json_object_set_int_member (counters, "bytes_sent", (gint64) f->tx_bytes);
      json_object_set_int_member (counters, "packets_received", (gint64) f->rx_packets);
      json_object_set_int_member (counters, "packets_sent", (gint64) f->tx_packets);
      json_object_set_array_member (io, "addresses", addrs);
      json_object_set_object_member (io, "counters", counters);
      json_object_set_string_member (io, "hwaddr", f->hwaddr);
      json_object_set_string_member (io, "host_name", host_name);
      json_object_set_int_member (io, "mtu", f->mtu);
      json_object_set_string_member (io, "state", f->up ? "up" : "down");
      json_object_set_string_member (io, "type", f->loopback ? "loopback" : "broadcast");
      json_object_set_object_member (out, f->name, io);
    }
  g_list_free (nics);
  json_object_set_object_member (o, "network", out);
}
