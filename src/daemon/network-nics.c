/* What nic devices of instances need from managed networks: validation,
 * dnsmasq host entries, ferry-monitor arguments, unplugging, and the
 * addresses and counters of a running instance's state. */
#include "config.h"
#include "daemon/network-manager.h"
#include "daemon/network-internal.h"
#include "daemon/instance.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "network/network.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>


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
  if (d == NULL || d->networks == NULL || network == NULL)
    return TRUE;
  if ((n = ferry_network_lookup (d, network)) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": network \"%s\" does not exist", device,
                   network);
      return FALSE;
    }
  if (v4 != NULL)
    {
      const char *subnet = ferry_network_address (n, "ipv4.address");
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

gboolean
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
  /* Every start and stop of an instance comes here: the same leases (a
   * restart, a restore) cost two fsyncs and dnsmasq's reload. */
  g_autofree char *before = NULL;
  if (g_file_get_contents (path, &before, NULL, NULL) && strcmp (before, s->str) == 0)
    return FALSE;
  if (!ferry_mkdir_p (dir, 0755, &error) || !ferry_write_file_atomic (path, s->str, -1, 0644, &error))
    g_warning ("Network %s: writing static leases: %s", n->name, error->message);
  return TRUE;
}

gboolean
ferry_network_fill_hwaddrs (JsonObject *devices, GHashTable *config)
{
  GList *nics = nic_devices (devices);
  gboolean changed = FALSE;

  for (GList *l = nics; l != NULL; l = l->next)
    {
      JsonObject *dev = json_object_get_object_member (devices, l->data);
      g_autofree char *hw_key = g_strdup_printf ("volatile.%s.hwaddr", (char *) l->data);
      if (dev_get (dev, "hwaddr") != NULL || g_hash_table_lookup (config, hw_key) != NULL)
        continue;
      g_hash_table_insert (config, g_steal_pointer (&hw_key), ferry_mac_random ());
      changed = TRUE;
    }
  g_list_free (nics);
  return changed;
}

gboolean
ferry_network_start_arguments (FerryDaemon *d, FerryInstance *inst, GPtrArray *argv, GError **error)
{
  g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
  g_autoptr (GHashTable) config = ferry_instance_own_config (inst);
  g_autoptr (GHashTable) touched = g_hash_table_new (g_str_hash, g_str_equal);
  GList *nics = nic_devices (devices);
  gboolean changed = ferry_network_fill_hwaddrs (devices, config), ok = FALSE;
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
        hwaddr = g_strdup (g_hash_table_lookup (config, hw_key));
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
      if (ferry_network_write_hosts (d, n))
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
  g_autoptr (GPtrArray) hosts = ferry_rundir_nic_host_sides (run_dir);
  GPtrArray *retired = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < hosts->len; i++)
    {
      const char *host = g_ptr_array_index (hosts, i);
      g_autoptr (GError) error = NULL;
      char *name;
      if (!ferry_ifname_valid (host))
        continue;
      if ((name = ferry_link_retire (host, &error)) == NULL)
        g_warning ("Unplugging %s: %s", host, error->message);
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
      json_object_set_int_member (counters, "errors_received", (gint64) f->rx_errors);
      json_object_set_int_member (counters, "errors_sent", (gint64) f->tx_errors);
      json_object_set_int_member (counters, "packets_dropped_outbound", (gint64) f->tx_dropped);
      json_object_set_int_member (counters, "packets_dropped_inbound", (gint64) f->rx_dropped);
      /* LXD leaves the addresses of an interface without any nil (null). */
      if (json_array_get_length (addrs) > 0)
        json_object_set_array_member (io, "addresses", addrs);
      else
        {
          json_array_unref (addrs);
          json_object_set_null_member (io, "addresses");
        }
      json_object_set_object_member (io, "counters", counters);
      /* LXD reads no hardware address for a loopback interface. */
      json_object_set_string_member (io, "hwaddr", f->loopback ? "" : f->hwaddr);
      json_object_set_string_member (io, "host_name", host_name);
      json_object_set_int_member (io, "mtu", f->mtu);
      json_object_set_string_member (io, "state", f->up ? "up" : "down");
      json_object_set_string_member (io, "type", f->loopback ? "loopback" : "broadcast");
      json_object_set_object_member (out, f->name, io);
    }
  g_list_free (nics);
  json_object_set_object_member (o, "network", out);
}

