/* Unit tests of src/network's pure parts: addresses, overlaps, LXD's keys. */
#include "network/network.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static GHashTable *
map (const char *k, const char *v)
{
  GHashTable *m = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (k != NULL)
    g_hash_table_insert (m, g_strdup (k), g_strdup (v));
  return m;
}

static void
test_cidr_parse (void)
{
  FerryCidr c;
  g_autofree char *s = NULL;

  g_assert_true (ferry_cidr_parse ("10.1.2.3/24", &c, NULL));
  g_assert_cmpint (c.family, ==, AF_INET);
  g_assert_cmpuint (c.prefix, ==, 24);
  s = ferry_cidr_to_string (&c);
  g_assert_cmpstr (s, ==, "10.1.2.3/24");
  g_assert_true (ferry_cidr_parse ("fd42::1/64", &c, NULL));
  g_assert_cmpint (c.family, ==, AF_INET6);
  const char *bad[] = { "10.1.2.3", "10.1.2.3/", "10.1.2.3/33", "10.1.2.300/24", "fd42::1/129", "x/8",
                        "10.1.2.3/2a", "10.1.2.3/-1", "", "/24", NULL };
  for (int i = 0; bad[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (ferry_cidr_parse (bad[i], &c, &error));
      g_assert_error (error, g_quark_from_static_string ("ferry-error-quark"), 400);
    }
  g_assert_true (ferry_ip_parse ("10.0.0.1", AF_INET, &c, NULL));
  g_assert_false (ferry_ip_parse ("fd00::1", AF_INET, &c, NULL));
  g_assert_false (ferry_ip_parse ("fe80::1%eth0", 0, &c, NULL));
}

static void
test_cidr_overlap (void)
{
  FerryCidr a, b, n;
  g_autofree char *s = NULL;

  ferry_cidr_parse ("10.1.2.1/24", &a, NULL);
  ferry_cidr_parse ("10.1.0.1/16", &b, NULL);
  g_assert_true (ferry_cidr_overlaps (&a, &b));
  ferry_cidr_parse ("10.1.3.1/24", &b, NULL);
  g_assert_false (ferry_cidr_overlaps (&a, &b));
  ferry_cidr_parse ("fd00::1/64", &b, NULL);
  g_assert_false (ferry_cidr_overlaps (&a, &b));
  ferry_ip_parse ("10.1.2.200", AF_INET, &b, NULL);
  g_assert_true (ferry_cidr_contains (&a, &b));
  ferry_cidr_network (&a, &n);
  s = ferry_cidr_to_string (&n);
  g_assert_cmpstr (s, ==, "10.1.2.0/24");
  ferry_cidr_parse ("10.1.2.0/24", &b, NULL);
  g_assert_true (ferry_cidr_is_network_or_broadcast (&b));
  ferry_cidr_parse ("10.1.2.255/24", &b, NULL);
  g_assert_true (ferry_cidr_is_network_or_broadcast (&b));
  g_assert_false (ferry_cidr_is_network_or_broadcast (&a));
  ferry_cidr_nth (&a, 254, &n);
  g_autofree char *last = ferry_cidr_address_string (&n);
  g_assert_cmpstr (last, ==, "10.1.2.254");
  g_assert_cmpuint (ferry_cidr_ipv4_hosts (&a), ==, 254);
}

static void
test_pick_free (void)
{
  g_autoptr (GPtrArray) used = g_ptr_array_new_with_free_func (g_free);
  FerryCidr c, *u = g_new0 (FerryCidr, 1);

  ferry_cidr_parse ("10.0.0.0/8", u, NULL);
  g_ptr_array_add (used, u);
  g_assert_null (ferry_ipv4_pick_free (used));
  g_ptr_array_set_size (used, 0);
  u = g_new0 (FerryCidr, 1);
  ferry_cidr_parse ("10.0.0.0/9", u, NULL);
  g_ptr_array_add (used, u);
  for (int i = 0; i < 50; i++)
    {
      g_autofree char *p = ferry_ipv4_pick_free (used);
      g_assert_nonnull (p);
      g_assert_true (ferry_cidr_parse (p, &c, NULL));
      g_assert_false (ferry_cidr_overlaps (&c, u));
      g_assert_true (g_str_has_suffix (p, ".1/24"));
    }
  g_autofree char *ula = ferry_ula_random ();
  g_assert_true (ferry_cidr_parse (ula, &c, NULL));
  g_assert_cmpint (c.addr[0], ==, 0xfd);
  g_assert_cmpuint (c.prefix, ==, 64);
  g_autofree char *mac = ferry_mac_random ();
  g_assert_true (ferry_mac_valid (mac));
  g_assert_true (g_str_has_prefix (mac, "00:16:3e:"));
  g_autofree char *veth = ferry_veth_random_name ();
  g_assert_true (ferry_ifname_valid (veth));
}

static void
test_network_config (void)
{
  const char *good[][2] = {
    { "ipv4.address", "10.50.0.1/24" }, { "ipv4.address", "auto" }, { "ipv4.address", "none" },
    { "ipv6.address", "fd00:1::1/64" }, { "ipv4.nat", "true" }, { "ipv6.dhcp", "false" },
    { "ipv4.dhcp.ranges", "10.50.0.10-10.50.0.20,10.50.0.30-10.50.0.40" }, { "dns.domain", "lab.example" },
    { "bridge.mtu", "9000" }, { "bridge.external_interfaces", "eth1,eth2" }, { "user.x", "anything" },
  };
  const char *bad[][2] = {
    { "ipv4.address", "10.50.0.1" },  { "ipv4.address", "fd00::1/64" },  { "ipv4.address", "10.50.0.0/24" },
    { "ipv4.address", "10.50.0.1/31" }, { "ipv6.address", "10.0.0.1/24" }, { "ipv4.nat", "maybe" },
    { "ipv4.dhcp.ranges", "10.50.0.20-10.50.0.10" }, { "ipv4.dhcp.ranges", "x" }, { "dns.domain", "a b" },
    { "bridge.mtu", "100" }, { "bridge.external_interfaces", "a/b" }, { "unknown.key", "1" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GHashTable) m = map (good[i][0], good[i][1]);
      g_autoptr (GError) error = NULL;
      if (!ferry_network_config_validate (m, &error))
        g_error ("%s=%s refused: %s", good[i][0], good[i][1], error->message);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GHashTable) m = map (bad[i][0], bad[i][1]);
      g_autoptr (GError) error = NULL;
      if (ferry_network_config_validate (m, &error))
        g_error ("%s=%s accepted", bad[i][0], bad[i][1]);
      g_assert_nonnull (strstr (error->message, bad[i][0]));
    }
  g_assert_true (ferry_network_name_validate ("lab0", NULL));
  g_assert_false (ferry_network_name_validate ("a-very-long-bridge-name", NULL));
  g_assert_false (ferry_network_name_validate ("a/b", NULL));
}

static void
test_nic_config (void)
{
  struct
  {
    const char *keys[8];
    gboolean ok;
  } cases[] = {
    { { "type", "nic", "network", "ferrybr0", NULL }, TRUE },
    { { "type", "nic", "nictype", "bridged", "parent", "br0", NULL }, TRUE },
    { { "type", "nic", NULL }, FALSE },
    { { "type", "nic", "nictype", "macvlan", "parent", "eth0", NULL }, FALSE },
    { { "type", "nic", "network", "n", "parent", "br0", NULL }, FALSE },
    { { "type", "nic", "network", "n", "hwaddr", "01:16:3e:00:00:01", NULL }, FALSE },
    { { "type", "nic", "network", "n", "hwaddr", "00:16:3e:00:00:01", NULL }, TRUE },
    { { "type", "nic", "network", "n", "ipv4.address", "10.0.0.300", NULL }, FALSE },
    { { "type", "nic", "network", "n", "ipv6.address", "fd00::5", NULL }, TRUE },
    { { "type", "nic", "network", "n", "name", "lo", NULL }, FALSE },
    { { "type", "nic", "network", "n", "mtu", "abc", NULL }, FALSE },
    { { "type", "nic", "network", "n", "bogus", "1", NULL }, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GHashTable) m = map (NULL, NULL);
      for (int k = 0; cases[i].keys[k] != NULL; k += 2)
        g_hash_table_insert (m, g_strdup (cases[i].keys[k]), g_strdup (cases[i].keys[k + 1]));
      g_autoptr (GError) error = NULL;
      gboolean ok = ferry_nic_validate ("eth0", m, &error);
      if (ok != cases[i].ok)
        g_error ("case %zu: expected %s (%s)", i, cases[i].ok ? "valid" : "invalid", error ? error->message : "");
    }
}

static void
test_nic_spec (void)
{
  FerryNicSpec spec = { .name = "eth0", .host = "veth0011aabb", .bridge = "ferrybr0", .hwaddr = "00:16:3e:01:02:03",
                        .mtu = 1400 };
  g_autofree char *text = ferry_nic_spec_format (&spec);
  FerryNicSpec back;
  g_auto (GStrv) parts = NULL;

  g_assert_true (ferry_nic_spec_parse (text, &back, &parts, NULL));
  g_assert_cmpstr (back.name, ==, "eth0");
  g_assert_cmpstr (back.host, ==, "veth0011aabb");
  g_assert_cmpstr (back.bridge, ==, "ferrybr0");
  g_assert_cmpstr (back.hwaddr, ==, "00:16:3e:01:02:03");
  g_assert_cmpint (back.mtu, ==, 1400);
  g_auto (GStrv) p2 = NULL;
  g_assert_false (ferry_nic_spec_parse ("name=eth0,host=x", &back, &p2, NULL));
  g_assert_false (ferry_nic_spec_parse ("name=eth0,host=v,bridge=b,evil=1", &back, &p2, NULL));
}

/* Issue 9: names pasted into nftables text ("iifname \"NAME\"") and into
 * the monitor's "name=...,host=...,bridge=..." specs. */
static void
test_ifname (void)
{
  const char *good[] = { "eth0", "lxdbr0", "ferrybr0", "veth1a2b3c4d", "a", "br-lan_1.10", "123456789012345" };
  const char *bad[] = { "", ".", "..", "1234567890123456", "a\"b", "br0\";flush ruleset;\"", "a;b", "a{b", "a}b", "a b",
                        "a\tb", "a/b", "a:b", "a,b", "a=b", "eth%d", "a\\b", "a'b", "a$b", "\xc3\xa9", "a\nb" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    if (!ferry_ifname_valid (good[i]))
      g_error ("refused %s", good[i]);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    if (ferry_ifname_valid (bad[i]))
      g_error ("accepted %s", bad[i]);
  g_assert_false (ferry_ifname_valid (NULL));
  g_assert_false (ferry_network_name_validate ("br0\";", NULL));
}

static void
test_firewall_script (void)
{
  FerryFirewallNetwork n = { .bridge = "ferrybr0", .ipv4_subnet = "10.1.2.0/24", .ipv6_subnet = "fd00::/64" };
  g_autoptr (GPtrArray) nets = g_ptr_array_new ();
  g_autofree char *s = NULL;

  g_ptr_array_add (nets, &n);
  s = ferry_firewall_script ("ferry-abc", nets);
  g_assert_nonnull (strstr (s, "delete table inet ferry-abc"));
  g_assert_nonnull (strstr (s, "ip saddr 10.1.2.0/24 ip daddr != 10.1.2.0/24 masquerade"));
  g_assert_nonnull (strstr (s, "ip6 saddr fd00::/64"));
  g_assert_nonnull (strstr (s, "iifname \"ferrybr0\" accept"));

  /* A name that slipped in before the check never reaches the script. */
  {
    FerryFirewallNetwork evil = { .bridge = "x\" accept; }" };
    g_autofree char *t = NULL;
    g_ptr_array_add (nets, &evil);
    t = ferry_firewall_script ("ferry-abc", nets);
    g_assert_null (strstr (t, "x\""));
    g_assert_nonnull (strstr (t, "iifname \"ferrybr0\" accept"));
  }
}

static void
test_dnsmasq_argv (void)
{
  FerryDnsmasqSpec s = { .bridge = "lab0", .dir = "/x/networks/lab0", .ipv4_address = "10.50.0.1/24",
                         .ipv4_dhcp = TRUE, .domain = NULL };
  g_auto (GStrv) argv = ferry_dnsmasq_argv (&s);
  g_autofree char *joined = g_strjoinv (" ", argv);

  g_assert_nonnull (strstr (joined, "--interface=lab0"));
  g_assert_nonnull (strstr (joined, "--listen-address=10.50.0.1"));
  g_assert_nonnull (strstr (joined, "--dhcp-range=10.50.0.2,10.50.0.254,1h"));
  g_assert_nonnull (strstr (joined, "--pid-file=/x/networks/lab0/dnsmasq.pid"));
  g_assert_nonnull (strstr (joined, "--domain=ferry"));
  g_assert_null (strstr (joined, "enable-ra"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/network/cidr/parse", test_cidr_parse);
  g_test_add_func ("/network/cidr/overlap", test_cidr_overlap);
  g_test_add_func ("/network/pick-free", test_pick_free);
  g_test_add_func ("/network/config", test_network_config);
  g_test_add_func ("/network/nic", test_nic_config);
  g_test_add_func ("/network/nic-spec", test_nic_spec);
  g_test_add_func ("/network/ifname", test_ifname);
  g_test_add_func ("/network/firewall-script", test_firewall_script);
  g_test_add_func ("/network/dnsmasq-argv", test_dnsmasq_argv);
  return g_test_run ();
}
