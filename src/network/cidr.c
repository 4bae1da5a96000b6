/* IPv4/IPv6 addresses with a prefix: parsing, overlap, formatting. */
#include "network/network.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

gboolean
ferry_ip_parse (const char *text, int family, FerryCidr *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (text != NULL && (family == 0 || family == AF_INET) && inet_pton (AF_INET, text, out->addr) == 1)
    {
      out->family = AF_INET;
      out->prefix = 32;
      return TRUE;
    }
  if (text != NULL && (family == 0 || family == AF_INET6) && strchr (text, '%') == NULL
      && inet_pton (AF_INET6, text, out->addr) == 1)
    {
      out->family = AF_INET6;
      out->prefix = 128;
      return TRUE;
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid %s address \"%s\"",
               family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "IP", text ? text : "");
  return FALSE;
}

gboolean
ferry_cidr_parse (const char *text, FerryCidr *out, GError **error)
{
  const char *slash = text ? strchr (text, '/') : NULL;
  g_autofree char *addr = NULL;
  char *end = NULL;
  guint64 prefix;

  if (slash == NULL || slash[1] == '\0' || !g_ascii_isdigit (slash[1]))
    goto bad;
  addr = g_strndup (text, (gsize) (slash - text));
  if (!ferry_ip_parse (addr, 0, out, NULL))
    goto bad;
  prefix = g_ascii_strtoull (slash + 1, &end, 10);
  if (*end != '\0' || prefix > (out->family == AF_INET ? 32 : 128) || strlen (slash + 1) > 3)
    goto bad;
  out->prefix = (guint) prefix;
  return TRUE;

bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid CIDR address \"%s\" (expected ADDRESS/PREFIX)",
               text ? text : "");
  return FALSE;
}

static guint
addr_len (const FerryCidr *c)
{
  return c->family == AF_INET ? 4 : 16;
}

static void
mask_to (guint8 *addr, guint len, guint prefix)
{
  for (guint i = 0; i < len; i++)
    {
      guint bits = prefix > i * 8 ? MIN (prefix - i * 8, 8u) : 0;
      addr[i] &= (guint8) (bits == 0 ? 0 : 0xff << (8 - bits));
    }
}

void
ferry_cidr_network (const FerryCidr *c, FerryCidr *net)
{
  *net = *c;
  mask_to (net->addr, addr_len (c), c->prefix);
}

gboolean
ferry_cidr_overlaps (const FerryCidr *a, const FerryCidr *b)
{
  guint8 x[16], y[16];
  guint p;

  if (a->family != b->family)
    return FALSE;
  p = MIN (a->prefix, b->prefix);
  memcpy (x, a->addr, 16);
  memcpy (y, b->addr, 16);
  mask_to (x, addr_len (a), p);
  mask_to (y, addr_len (a), p);
  return memcmp (x, y, addr_len (a)) == 0;
}

gboolean
ferry_cidr_contains (const FerryCidr *net, const FerryCidr *addr)
{
  guint8 x[16], y[16];

  if (net->family != addr->family)
    return FALSE;
  memcpy (x, net->addr, 16);
  memcpy (y, addr->addr, 16);
  mask_to (x, addr_len (net), net->prefix);
  mask_to (y, addr_len (net), net->prefix);
  return memcmp (x, y, addr_len (net)) == 0;
}

gboolean
ferry_cidr_equal_address (const FerryCidr *a, const FerryCidr *b)
{
  return a->family == b->family && memcmp (a->addr, b->addr, addr_len (a)) == 0;
}

gboolean
ferry_cidr_is_network_or_broadcast (const FerryCidr *c)
{
  guint len = addr_len (c);
  gboolean all_zero = TRUE, all_one = TRUE;

  for (guint bit = c->prefix; bit < len * 8; bit++)
    {
      gboolean set = (c->addr[bit / 8] >> (7 - bit % 8)) & 1;
      all_zero &= !set;
      all_one &= set;
    }
  if (c->prefix >= len * 8 - (c->family == AF_INET ? 1 : 0))
    return FALSE; /* /32, /31, /128: no network/broadcast address */
  return all_zero || (c->family == AF_INET && all_one);
}

char *
ferry_cidr_address_string (const FerryCidr *c)
{
  char buf[INET6_ADDRSTRLEN];

  if (inet_ntop (c->family, c->addr, buf, sizeof buf) == NULL)
    return g_strdup ("");
  return g_strdup (buf);
}

char *
ferry_cidr_to_string (const FerryCidr *c)
{
  g_autofree char *a = ferry_cidr_address_string (c);
  return g_strdup_printf ("%s/%u", a, c->prefix);
}

void
ferry_cidr_nth (const FerryCidr *net, guint64 n, FerryCidr *out)
{
  guint len = addr_len (net);

  ferry_cidr_network (net, out);
  for (guint i = len; i-- > 0 && n > 0;)
    {
      guint sum = out->addr[i] + (guint) (n & 0xff);
      out->addr[i] = (guint8) sum;
      n = (n >> 8) + (sum >> 8);
    }
}

guint64
ferry_cidr_ipv4_hosts (const FerryCidr *net)
{
  if (net->family != AF_INET || net->prefix >= 31)
    return 0;
  return (G_GUINT64_CONSTANT (1) << (32 - net->prefix)) - 2;
}
