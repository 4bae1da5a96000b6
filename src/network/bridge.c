/* Bridges, links and host routes through netlink (libnl-route-3). */
#include "network/network.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>
#include <string.h>
#include <linux/if_addr.h>

typedef struct nl_sock NlSock;
typedef struct rtnl_link RtnlLink;
typedef struct rtnl_addr RtnlAddr;
typedef struct nl_cache NlCache;
typedef struct nl_addr NlAddr;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlLink, rtnl_link_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlAddr, rtnl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlCache, nl_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlAddr, nl_addr_put)

static struct nl_sock *
route_socket (GError **error)
{
  struct nl_sock *sk = nl_socket_alloc ();
  int rc;

  if (sk == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Allocating a netlink socket failed");
      return NULL;
    }
  if ((rc = nl_connect (sk, NETLINK_ROUTE)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Connecting to rtnetlink: %s", nl_geterror (rc));
      nl_socket_free (sk);
      return NULL;
    }
  return sk;
}

static gboolean G_GNUC_PRINTF (3, 4)
nl_fail (GError **error, int rc, const char *fmt, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", what, nl_geterror (rc));
  return FALSE;
}

gboolean
ferry_link_exists (const char *name)
{
  return if_nametoindex (name) != 0;
}

gboolean
ferry_link_delete (const char *name, GError **error)
{
  g_autoptr (NlSock) sk = route_socket (error);
  g_autoptr (RtnlLink) link = rtnl_link_alloc ();
  int rc;

  if (sk == NULL)
    return FALSE;
  rtnl_link_set_name (link, name);
  rc = rtnl_link_delete (sk, link);
  if (rc < 0 && rc != -NLE_NODEV && rc != -NLE_OBJ_NOTFOUND)
    return nl_fail (error, rc, "Deleting interface %s", name);
  return TRUE;
}

/* Applies CHANGE to interface NAME; WHAT says what it does, for an error. */
static gboolean
link_change (struct nl_sock *sk, const char *name, struct rtnl_link *change, const char *what, GError **error)
{
  g_autoptr (RtnlLink) link = NULL;
  int rc;

  if ((rc = rtnl_link_get_kernel (sk, 0, name, &link)) < 0)
    return nl_fail (error, rc, "Looking up %s", name);
  if ((rc = rtnl_link_change (sk, link, change, 0)) < 0)
    return nl_fail (error, rc, "%s", what);
  return TRUE;
}

gboolean
ferry_link_plug (const char *name, const char *bridge, GError **error)
{
  g_autoptr (NlSock) sk = route_socket (error);
  g_autoptr (RtnlLink) br = NULL;
  g_autoptr (RtnlLink) change = rtnl_link_alloc ();
  g_autofree char *what = g_strdup_printf ("Plugging %s into %s", name, bridge);
  int rc;

  if (sk == NULL)
    return FALSE;
  if ((rc = rtnl_link_get_kernel (sk, 0, bridge, &br)) < 0)
    return nl_fail (error, rc, "Looking up the bridge %s", bridge);
  rtnl_link_set_master (change, rtnl_link_get_ifindex (br));
  rtnl_link_set_flags (change, IFF_UP);
  return link_change (sk, name, change, what, error);
}

gboolean
ferry_link_set_down (const char *name, GError **error)
{
  g_autoptr (NlSock) sk = route_socket (error);
  g_autoptr (RtnlLink) change = rtnl_link_alloc ();
  g_autofree char *what = g_strdup_printf ("Setting interface %s down", name);

  if (sk == NULL)
    return FALSE;
  rtnl_link_unset_flags (change, IFF_UP);
  return link_change (sk, name, change, what, error);
}

gboolean
ferry_bridge_delete (const char *name, GError **error)
{
  return ferry_link_delete (name, error);
}

/* Renames FROM (a link must be down for that): up again after, or not. */
static gboolean
rename_link (const char *from, const char *to, gboolean stay_down, GError **error)
{
  g_autoptr (NlSock) sk = route_socket (error);
  g_autoptr (RtnlLink) orig = NULL;
  g_autoptr (RtnlLink) change = rtnl_link_alloc ();
  gboolean was_up;
  int rc;

  if (sk == NULL)
    return FALSE;
  if ((rc = rtnl_link_get_kernel (sk, 0, from, &orig)) < 0)
    return nl_fail (error, rc, "Finding interface %s", from);
  was_up = (rtnl_link_get_flags (orig) & IFF_UP) != 0;
  if (was_up)
    {
      g_autoptr (RtnlLink) down = rtnl_link_alloc ();
      rtnl_link_unset_flags (down, IFF_UP);
      if ((rc = rtnl_link_change (sk, orig, down, 0)) < 0)
        return nl_fail (error, rc, "Setting interface %s down", from);
    }
  rtnl_link_set_name (change, to);
  if (was_up && !stay_down)
    rtnl_link_set_flags (change, IFF_UP);
  if ((rc = rtnl_link_change (sk, orig, change, 0)) < 0)
    return nl_fail (error, rc, "Renaming interface %s", from);
  return TRUE;
}

gboolean
ferry_link_rename (const char *from, const char *to, GError **error)
{
  return rename_link (from, to, FALSE, error);
}

char *
ferry_link_retire (const char *name, GError **error)
{
  unsigned int index = if_nametoindex (name);
  g_autofree char *retired = g_strdup_printf ("fyold%u", index);

  if (index == 0)
    return g_strdup ("");
  return rename_link (name, retired, TRUE, error) ? g_steal_pointer (&retired) : NULL;
}

/* Removes addresses of IFINDEX that are not in WANTED (keeps link-local). */
static void
sync_addresses (struct nl_sock *sk, int ifindex, const char *const *wanted)
{
  g_autoptr (NlCache) cache = NULL;

  if (rtnl_addr_alloc_cache (sk, &cache) < 0)
    return;
  for (struct nl_object *o = nl_cache_get_first (cache); o != NULL; o = nl_cache_get_next (o))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) o;
      char buf[INET6_ADDRSTRLEN + 8];
      gboolean keep = FALSE;

      if (rtnl_addr_get_ifindex (a) != ifindex || rtnl_addr_get_scope (a) != RT_SCOPE_UNIVERSE)
        continue;
      nl_addr2str (rtnl_addr_get_local (a), buf, sizeof buf);
      for (const char *const *w = wanted; w != NULL && *w != NULL && !keep; w++)
        {
          FerryCidr x, y;
          keep = ferry_cidr_parse (*w, &x, NULL) && ferry_cidr_parse (buf, &y, NULL)
                 && ferry_cidr_equal_address (&x, &y) && x.prefix == y.prefix;
        }
      if (!keep)
        rtnl_addr_delete (sk, a, 0);
    }
}

gboolean
ferry_bridge_ensure (const FerryBridgeSpec *spec, gboolean *created, GError **error)
{
  g_autoptr (NlSock) sk = route_socket (error);
  g_autoptr (RtnlLink) link = NULL;
  g_autoptr (RtnlLink) change = rtnl_link_alloc ();
  int rc, ifindex;

  *created = FALSE;
  if (sk == NULL)
    return FALSE;
  rc = rtnl_link_get_kernel (sk, 0, spec->name, &link);
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND)
    {
      g_autoptr (RtnlLink) br = rtnl_link_bridge_alloc ();
      /* A bridge without an address of its own takes its lowest port's,
       * and changes it when a port with a lower one joins (a restored
       * container's veth, say): neighbours' ARP entries then go stale and the
       * host is unreachable for a minute. Give it one, in LXD's OUI. */
      guint8 mac[6] = { 0x00, 0x16, 0x3e, (guint8) g_random_int_range (0, 128), (guint8) g_random_int (),
                        (guint8) g_random_int () };
      struct nl_addr *hw = nl_addr_build (AF_LLC, mac, sizeof mac);
      rtnl_link_set_name (br, spec->name);
      if (hw != NULL)
        {
          rtnl_link_set_addr (br, hw);
          nl_addr_put (hw);
        }
      if ((rc = rtnl_link_add (sk, br, NLM_F_CREATE | NLM_F_EXCL)) < 0)
        return nl_fail (error, rc, "Creating bridge %s", spec->name);
      *created = TRUE;
      if ((rc = rtnl_link_get_kernel (sk, 0, spec->name, &link)) < 0)
        return nl_fail (error, rc, "Finding the new bridge %s", spec->name);
    }
  else if (rc < 0)
    return nl_fail (error, rc, "Looking up %s", spec->name);
  else
    {
      const char *type = rtnl_link_get_type (link);
      const char *alias = rtnl_link_get_ifalias (link);
      if (g_strcmp0 (type, "bridge") != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "An interface named %s exists on this host and is not a bridge", spec->name);
          return FALSE;
        }
      if (spec->alias != NULL && alias != NULL && *alias != '\0' && strcmp (alias, spec->alias) != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "The bridge %s on this host belongs to someone else (alias \"%s\")", spec->name, alias);
          return FALSE;
        }
    }
  ifindex = rtnl_link_get_ifindex (link);
  if (spec->mtu > 0)
    rtnl_link_set_mtu (change, (unsigned) spec->mtu);
  if (spec->alias != NULL)
    rtnl_link_set_ifalias (change, spec->alias);
  rtnl_link_set_flags (change, IFF_UP);
  if ((rc = rtnl_link_change (sk, link, change, 0)) < 0)
    return nl_fail (error, rc, "Configuring bridge %s", spec->name);

  sync_addresses (sk, ifindex, spec->addresses);
  for (const char *const *a = spec->addresses; a != NULL && *a != NULL; a++)
    {
      g_autoptr (RtnlAddr) addr = rtnl_addr_alloc ();
      g_autoptr (NlAddr) local = NULL;
      FerryCidr c;

      if (!ferry_cidr_parse (*a, &c, error))
        return FALSE;
      if ((rc = nl_addr_parse (*a, c.family, &local)) < 0)
        return nl_fail (error, rc, "Parsing %s", *a);
      rtnl_addr_set_ifindex (addr, ifindex);
      rtnl_addr_set_local (addr, local);
      rtnl_addr_set_family (addr, c.family);
      rtnl_addr_set_prefixlen (addr, (int) c.prefix);
      if (c.family == AF_INET6)
        rtnl_addr_set_flags (addr, IFA_F_NODAD);
      if (c.family == AF_INET)
        {
          /* The broadcast address, as `ip addr add ... brd +` does. */
          FerryCidr bcast;
          ferry_cidr_network (&c, &bcast);
          for (guint bit = c.prefix; bit < 32; bit++)
            bcast.addr[bit / 8] |= (guint8) (1 << (7 - bit % 8));
          g_autofree char *btext = ferry_cidr_address_string (&bcast);
          g_autoptr (NlAddr) b = NULL;
          if (nl_addr_parse (btext, AF_INET, &b) == 0)
            rtnl_addr_set_broadcast (addr, b);
        }
      rc = rtnl_addr_add (sk, addr, 0);
      if (rc < 0 && rc != -NLE_EXIST)
        return nl_fail (error, rc, "Adding address %s", *a);
    }
  for (const char *const *e = spec->external; e != NULL && *e != NULL; e++)
    {
      g_autoptr (RtnlLink) port = NULL;
      g_autoptr (RtnlLink) up = rtnl_link_alloc ();
      if ((rc = rtnl_link_get_kernel (sk, 0, *e, &port)) < 0)
        return nl_fail (error, rc, "Finding external interface %s", *e);
      if (rtnl_link_get_master (port) != ifindex && (rc = rtnl_link_enslave_ifindex (sk, ifindex, rtnl_link_get_ifindex (port))) < 0)
        return nl_fail (error, rc, "Attaching %s to the bridge", *e);
      rtnl_link_set_flags (up, IFF_UP);
      rtnl_link_change (sk, port, up, 0);
    }
  return TRUE;
}

GPtrArray *
ferry_host_networks (GError **error)
{
  g_autoptr (NlSock) sk = route_socket (error);
  g_autoptr (NlCache) routes = NULL;
  g_autoptr (NlCache) addrs = NULL;
  GPtrArray *out;

  if (sk == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func (g_free);
  if (rtnl_route_alloc_cache (sk, AF_UNSPEC, 0, &routes) == 0)
    for (struct nl_object *o = nl_cache_get_first (routes); o != NULL; o = nl_cache_get_next (o))
      {
        struct rtnl_route *r = (struct rtnl_route *) o;
        struct nl_addr *dst = rtnl_route_get_dst (r);
        char buf[INET6_ADDRSTRLEN + 8];
        FerryCidr c;
        if (dst == NULL || nl_addr_get_prefixlen (dst) == 0 || rtnl_route_get_table (r) != RT_TABLE_MAIN)
          continue;
        nl_addr2str (dst, buf, sizeof buf);
        if (strchr (buf, '/') == NULL)
          g_strlcat (buf, nl_addr_get_family (dst) == AF_INET ? "/32" : "/128", sizeof buf);
        if (ferry_cidr_parse (buf, &c, NULL))
          g_ptr_array_add (out, g_memdup2 (&c, sizeof c));
      }
  if (rtnl_addr_alloc_cache (sk, &addrs) == 0)
    for (struct nl_object *o = nl_cache_get_first (addrs); o != NULL; o = nl_cache_get_next (o))
      {
        char buf[INET6_ADDRSTRLEN + 8];
        FerryCidr c;
        nl_addr2str (rtnl_addr_get_local ((struct rtnl_addr *) o), buf, sizeof buf);
        if (ferry_cidr_parse (buf, &c, NULL))
          g_ptr_array_add (out, g_memdup2 (&c, sizeof c));
      }
  return out;
}
