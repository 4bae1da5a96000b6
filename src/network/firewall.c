/* NAT and forwarding for managed networks: one nftables table per ferryd
 * (inet ferry-<hash of its root>), rewritten as a whole in a single nft
 * transaction, so rules of flows already running never have a gap. */
#include "network/network.h"

#include "common/error.h"

#include <gio/gio.h>
#include <string.h>

char *
ferry_firewall_script (const char *table, GPtrArray *networks)
{
  GString *s = g_string_new (NULL);

  /* "add" then "delete" makes the delete succeed whether or not it exists. */
  g_string_append_printf (s, "add table inet %s\ndelete table inet %s\n", table, table);
  g_string_append_printf (s, "table inet %s {\n", table);
  g_string_append (s, "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
  for (guint i = 0; networks && i < networks->len; i++)
    {
      FerryFirewallNetwork *n = g_ptr_array_index (networks, i);
      if (n->ipv4_subnet != NULL)
        g_string_append_printf (s, "    ip saddr %s ip daddr != %s masquerade\n", n->ipv4_subnet, n->ipv4_subnet);
      if (n->ipv6_subnet != NULL)
        g_string_append_printf (s, "    ip6 saddr %s ip6 daddr != %s masquerade\n", n->ipv6_subnet, n->ipv6_subnet);
    }
  g_string_append (s, "  }\n");
  g_string_append (s, "  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
  for (guint i = 0; networks && i < networks->len; i++)
    {
      FerryFirewallNetwork *n = g_ptr_array_index (networks, i);
      /* nft has no escape for '"' in a name: a bridge recorded before names
       * were checked this strictly gets no rule rather than a script. */
      if (!ferry_ifname_valid (n->bridge))
        continue;
      g_string_append_printf (s, "    iifname \"%s\" accept\n    oifname \"%s\" accept\n", n->bridge, n->bridge);
    }
  g_string_append (s, "  }\n}\n");
  return g_string_free (s, FALSE);
}

static gboolean
run_nft (const char *script, GError **error)
{
  g_autoptr (GSubprocess) p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                                  | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                                error, "nft", "-f", "-", NULL);
  g_autofree char *err = NULL;

  if (p == NULL)
    {
      g_prefix_error (error, "Running nft: ");
      return FALSE;
    }
  if (!g_subprocess_communicate_utf8 (p, script, NULL, NULL, &err, error))
    return FALSE;
  if (!g_subprocess_get_successful (p))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "nft refused Ferry's rules: %s",
                   err && *err ? g_strstrip (err) : "no message");
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_firewall_apply (const char *table, GPtrArray *networks, GError **error)
{
  g_autofree char *script = ferry_firewall_script (table, networks);

  return run_nft (script, error);
}

gboolean
ferry_firewall_remove (const char *table, GError **error)
{
  g_autofree char *script = g_strdup_printf ("add table inet %s\ndelete table inet %s\n", table, table);

  return run_nft (script, error);
}
