/* LXD's keys for bridge networks and nic devices, and the random names and
 * addresses Ferry makes for them. */
#include "network/network.h"

#include "common/error.h"
#include "common/names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

gboolean
ferry_network_bool (const char *value, gboolean fallback)
{
  const char *yes[] = { "true", "1", "yes", "on", NULL };
  const char *no[] = { "false", "0", "no", "off", NULL };

  if (value == NULL || *value == '\0')
    return fallback;
  if (g_strv_contains (yes, value))
    return TRUE;
  if (g_strv_contains (no, value))
    return FALSE;
  return fallback;
}

static gboolean
valid_bool (const char *v)
{
  const char *ok[] = { "true", "false", "1", "0", "yes", "no", "on", "off", NULL };
  return g_strv_contains (ok, v);
}

static gboolean
valid_int (const char *v, gint64 min, gint64 max)
{
  char *end = NULL;
  gint64 n;

  if (v == NULL || *v == '\0')
    return FALSE;
  n = g_ascii_strtoll (v, &end, 10);
  return *end == '\0' && n >= min && n <= max;
}

/* The kernel (dev_valid_name) takes any 1-15 bytes but "/", ":", spaces,
 * "." and "..", so '"', ';' or '{' would pass it; these names are written
 * into nftables scripts and dnsmasq's options, so only LXD's character set
 * (ValidNetworkName) is taken. '%' is out too: the kernel reads "eth%d" as a
 * template. */
gboolean
ferry_ifname_valid (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 15 || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;
  for (const char *c = name; *c; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_' && *c != '.')
      return FALSE;
  return TRUE;
}

gboolean
ferry_network_name_validate (const char *name, GError **error)
{
  if (!ferry_name_validate_object ("Network", name, error))
    return FALSE;
  if (!ferry_ifname_valid (name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Invalid network name \"%s\": it is the bridge's name, 1-15 letters, digits, '-', '_' or '.'",
                   name);
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_mac_valid (const char *mac)
{
  unsigned b[6];
  char tail;

  if (mac == NULL || strlen (mac) != 17
      || sscanf (mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return FALSE;
  for (int i = 0; i < 6; i++)
    if (!g_ascii_isxdigit (mac[i * 3]) || !g_ascii_isxdigit (mac[i * 3 + 1]) || (i < 5 && mac[i * 3 + 2] != ':'))
      return FALSE;
  return (b[0] & 1) == 0; /* not multicast */
}

char *
ferry_mac_random (void)
{
  return g_strdup_printf ("00:16:3e:%02x:%02x:%02x", g_random_int_range (0, 256), g_random_int_range (0, 256),
                          g_random_int_range (0, 256));
}

char *
ferry_veth_random_name (void)
{
  return g_strdup_printf ("veth%08x", g_random_int ());
}

char *
ferry_ula_random (void)
{
  return g_strdup_printf ("fd%02x:%04x:%04x:%04x::1/64", g_random_int_range (0, 256), g_random_int_range (0, 65536),
                          g_random_int_range (0, 65536), g_random_int_range (0, 65536));
}

char *
ferry_ipv4_pick_free (GPtrArray *used)
{
  /* Random start so that several hosts (the lab) rarely pick the same. */
  guint start = (guint) g_random_int_range (0, 256 * 256);

  for (guint i = 0; i < 256 * 256; i++)
    {
      guint n = (start + i) % (256 * 256);
      g_autofree char *text = g_strdup_printf ("10.%u.%u.1/24", n / 256, n % 256);
      FerryCidr c;
      gboolean clash = FALSE;

      ferry_cidr_parse (text, &c, NULL);
      for (guint j = 0; used != NULL && j < used->len && !clash; j++)
        clash = ferry_cidr_overlaps (&c, g_ptr_array_index (used, j));
      if (!clash)
        return g_steal_pointer (&text);
    }
  return NULL;
}

static gboolean
valid_address_key (const char *value, int family, GError **error)
{
  FerryCidr c;

  if (strcmp (value, "auto") == 0 || strcmp (value, "none") == 0)
    return TRUE;
  if (!ferry_cidr_parse (value, &c, error))
    return FALSE;
  if (c.family != family)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "\"%s\" is not an %s address", value,
                   family == AF_INET ? "IPv4" : "IPv6");
      return FALSE;
    }
  if ((family == AF_INET && (c.prefix < 8 || c.prefix > 30)) || (family == AF_INET6 && (c.prefix < 8 || c.prefix > 126)))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Prefix length of \"%s\" is out of range", value);
      return FALSE;
    }
  if (ferry_cidr_is_network_or_broadcast (&c))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "\"%s\" is the network or broadcast address; the bridge needs a host address (e.g. x.x.x.1/%u)",
                   value, c.prefix);
      return FALSE;
    }
  return TRUE;
}

static gboolean
valid_ranges (const char *value)
{
  g_auto (GStrv) ranges = g_strsplit (value, ",", -1);

  if (*value == '\0')
    return FALSE;
  for (guint i = 0; ranges[i] != NULL; i++)
    {
      g_auto (GStrv) ends = g_strsplit (g_strstrip (ranges[i]), "-", 3);
      FerryCidr a, b;
      if (g_strv_length (ends) != 2 || !ferry_ip_parse (ends[0], AF_INET, &a, NULL)
          || !ferry_ip_parse (ends[1], AF_INET, &b, NULL) || memcmp (a.addr, b.addr, 4) > 0)
        return FALSE;
    }
  return TRUE;
}

gboolean
ferry_network_config_validate (GHashTable *config, GError **error)
{
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      const char *key = k, *value = v;
      g_autoptr (GError) local = NULL;

      if (g_str_has_prefix (key, "user."))
        continue;
      if (strcmp (key, "ipv4.address") == 0 || strcmp (key, "ipv6.address") == 0)
        {
          if (!valid_address_key (value, key[3] == '4' ? AF_INET : AF_INET6, &local))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid value for network key \"%s\": %s", key,
                           local->message);
              return FALSE;
            }
          continue;
        }
      if (strcmp (key, "ipv4.nat") == 0 || strcmp (key, "ipv6.nat") == 0 || strcmp (key, "ipv4.dhcp") == 0
          || strcmp (key, "ipv6.dhcp") == 0 || strcmp (key, "ipv6.dhcp.stateful") == 0)
        {
          if (!valid_bool (value))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "ipv4.dhcp.ranges") == 0)
        {
          if (!valid_ranges (value))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "bridge.mtu") == 0)
        {
          if (!valid_int (value, 1280, 65520))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "dns.domain") == 0)
        {
          if (*value == '\0' || strlen (value) > 253)
            goto bad_value;
          for (const char *c = value; *c; c++)
            if (!g_ascii_isalnum (*c) && *c != '-' && *c != '.')
              goto bad_value;
          continue;
        }
      if (strcmp (key, "bridge.external_interfaces") == 0)
        {
          g_auto (GStrv) names = g_strsplit (value, ",", -1);
          for (guint i = 0; names[i] != NULL; i++)
            if (!ferry_ifname_valid (g_strstrip (names[i])))
              goto bad_value;
          continue;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid network configuration key: %s", key);
      return FALSE;
    bad_value:
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid value for network key \"%s\": \"%s\"", key,
                   value);
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_nic_validate (const char *device, GHashTable *props, GError **error)
{
  static const char *const known[] = { "type", "nictype", "network", "parent", "name", "hwaddr", "host_name", "mtu",
                                       "ipv4.address", "ipv6.address", "boot.priority", NULL };
  const char *network = g_hash_table_lookup (props, "network");
  const char *nictype = g_hash_table_lookup (props, "nictype");
  const char *parent = g_hash_table_lookup (props, "parent");
  const char *v;
  GHashTableIter iter;
  gpointer k;

  g_hash_table_iter_init (&iter, props);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    if (!g_strv_contains (known, k))
      {
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": invalid nic key \"%s\"", device,
                     (const char *) k);
        return FALSE;
      }
  if (network != NULL && *network != '\0')
    {
      if (nictype != NULL || parent != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Device \"%s\": \"network\" cannot be combined with \"nictype\" or \"parent\"", device);
          return FALSE;
        }
    }
  else if (g_strcmp0 (nictype, "bridged") != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Device \"%s\": a nic needs \"network\" or nictype \"bridged\" with \"parent\"%s", device,
                   nictype ? " (only the bridged nictype is supported)" : "");
      return FALSE;
    }
  else if (parent == NULL || !ferry_ifname_valid (parent))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": a bridged nic needs a valid \"parent\"",
                   device);
      return FALSE;
    }
  if ((v = g_hash_table_lookup (props, "name")) != NULL && (!ferry_ifname_valid (v) || strcmp (v, "lo") == 0))
    goto bad;
  if ((v = g_hash_table_lookup (props, "host_name")) != NULL && !ferry_ifname_valid (v))
    goto bad;
  if ((v = g_hash_table_lookup (props, "hwaddr")) != NULL && !ferry_mac_valid (v))
    goto bad;
  if ((v = g_hash_table_lookup (props, "mtu")) != NULL && !valid_int (v, 1280, 65520))
    goto bad;
  if ((v = g_hash_table_lookup (props, "ipv4.address")) != NULL)
    {
      FerryCidr c;
      if (!ferry_ip_parse (v, AF_INET, &c, NULL))
        goto bad;
    }
  if ((v = g_hash_table_lookup (props, "ipv6.address")) != NULL)
    {
      FerryCidr c;
      if (!ferry_ip_parse (v, AF_INET6, &c, NULL))
        goto bad;
    }
  return TRUE;

bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": invalid value \"%s\"", device, v);
  return FALSE;
}

char *
ferry_nic_spec_format (const FerryNicSpec *spec)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "name=%s,host=%s,bridge=%s", spec->name, spec->host, spec->bridge);
  if (spec->hwaddr != NULL)
    g_string_append_printf (s, ",hwaddr=%s", spec->hwaddr);
  if (spec->mtu > 0)
    g_string_append_printf (s, ",mtu=%d", spec->mtu);
  return g_string_free (s, FALSE);
}

gboolean
ferry_nic_spec_parse (const char *text, FerryNicSpec *spec, char ***parts, GError **error)
{
  memset (spec, 0, sizeof *spec);
  *parts = g_strsplit (text, ",", -1);
  for (char **p = *parts; *p != NULL; p++)
    {
      char *eq = strchr (*p, '=');
      if (eq == NULL)
        goto bad;
      *eq = '\0';
      const char *value = eq + 1;
      if (strcmp (*p, "name") == 0)
        spec->name = value;
      else if (strcmp (*p, "host") == 0)
        spec->host = value;
      else if (strcmp (*p, "bridge") == 0)
        spec->bridge = value;
      else if (strcmp (*p, "hwaddr") == 0)
        spec->hwaddr = value;
      else if (strcmp (*p, "mtu") == 0)
        spec->mtu = (int) g_ascii_strtoll (value, NULL, 10);
      else
        goto bad;
    }
  if (!ferry_ifname_valid (spec->name) || !ferry_ifname_valid (spec->host) || !ferry_ifname_valid (spec->bridge)
      || (spec->hwaddr != NULL && !ferry_mac_valid (spec->hwaddr)) || spec->mtu < 0)
    goto bad;
  return TRUE;

bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid --nic \"%s\" (expected name=IF,host=IF,bridge=BR[,hwaddr=MAC][,mtu=N])", text);
  g_clear_pointer (parts, g_strfreev);
  return FALSE;
}
