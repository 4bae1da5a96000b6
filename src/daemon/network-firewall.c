/* NAT and forwarding of the managed networks: one nftables table of
 * ferryd's (rules for every network), and the forwarding sysctls. */
#include "daemon/network-manager.h"
#include "daemon/network-internal.h"
#include "common/error.h"
#include "common/fs.h"
#include "network/network.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

  g_hash_table_iter_init (&iter, d->networks->by_name);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      FerryNetwork *n = v;
      FerryFirewallNetwork *f = g_new0 (FerryFirewallNetwork, 1);
      const char *a4 = ferry_network_address (n, "ipv4.address"), *a6 = ferry_network_address (n, "ipv6.address");
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
    return ferry_firewall_remove (d->networks->table, error);
  return ferry_firewall_apply (d->networks->table, rules, error);
}

void
ferry_networks_enable_forwarding (const char *sysctl)
{
  write_sysctl (sysctl, "1");
}
