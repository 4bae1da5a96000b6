/* The interfaces of a container, read from inside its network namespace.
 * setns(CLONE_NEWNET) changes only the calling thread, so a short-lived
 * thread joins the namespace and opens the netlink socket there; the socket
 * keeps that namespace for the dumps. ferryd's other threads never move. */
#include "network/network.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

void
ferry_net_interface_free (FerryNetInterface *iface)
{
  if (iface == NULL)
    return;
  g_free (iface->name);
  g_free (iface->hwaddr);
  if (iface->addresses != NULL)
    g_ptr_array_unref (iface->addresses);
  g_free (iface);
}

static void
address_free (FerryNetAddress *a)
{
  g_free (a->address);
  g_free (a);
}

typedef struct
{
  int netns_fd;
  struct nl_sock *sk;
  int err;
} JoinData;

static gpointer
join_and_connect (gpointer user_data)
{
  JoinData *j = user_data;

  if (setns (j->netns_fd, CLONE_NEWNET) < 0)
    {
      j->err = errno;
      return NULL;
    }
  j->sk = nl_socket_alloc ();
  if (j->sk == NULL || nl_connect (j->sk, NETLINK_ROUTE) < 0)
    {
      if (j->sk != NULL)
        nl_socket_free (j->sk);
      j->sk = NULL;
      j->err = EIO;
    }
  return NULL;
}

static const char *
scope_name (int scope)
{
  switch (scope)
    {
    case RT_SCOPE_UNIVERSE:
      return "global";
    case RT_SCOPE_LINK:
      return "link";
    case RT_SCOPE_HOST:
      return "local";
    default:
      return "global";
    }
}

/* The interface of link L, with its addresses from ADDRS. */
static FerryNetInterface *
interface_of (struct rtnl_link *l, struct nl_cache *addrs)
{
  FerryNetInterface *iface = g_new0 (FerryNetInterface, 1);
  struct nl_addr *mac = rtnl_link_get_addr (l);
  int ifindex = rtnl_link_get_ifindex (l);
  char buf[64];

  iface->name = g_strdup (rtnl_link_get_name (l));
  iface->loopback = rtnl_link_get_arptype (l) == ARPHRD_LOOPBACK;
  iface->hwaddr = g_strdup (mac && nl_addr_get_len (mac) == 6 ? nl_addr2str (mac, buf, sizeof buf) : "");
  iface->mtu = rtnl_link_get_mtu (l);
  iface->up = (rtnl_link_get_flags (l) & IFF_UP) != 0;
  iface->broadcast = (rtnl_link_get_flags (l) & IFF_BROADCAST) != 0;
  iface->pointopoint = (rtnl_link_get_flags (l) & IFF_POINTOPOINT) != 0;
  iface->rx_bytes = rtnl_link_get_stat (l, RTNL_LINK_RX_BYTES);
  iface->tx_bytes = rtnl_link_get_stat (l, RTNL_LINK_TX_BYTES);
  iface->rx_packets = rtnl_link_get_stat (l, RTNL_LINK_RX_PACKETS);
  iface->tx_packets = rtnl_link_get_stat (l, RTNL_LINK_TX_PACKETS);
  iface->rx_errors = rtnl_link_get_stat (l, RTNL_LINK_RX_ERRORS);
  iface->tx_errors = rtnl_link_get_stat (l, RTNL_LINK_TX_ERRORS);
  iface->rx_dropped = rtnl_link_get_stat (l, RTNL_LINK_RX_DROPPED);
  iface->tx_dropped = rtnl_link_get_stat (l, RTNL_LINK_TX_DROPPED);
  iface->addresses = g_ptr_array_new_with_free_func ((GDestroyNotify) address_free);
  for (struct nl_object *ao = nl_cache_get_first (addrs); ao != NULL; ao = nl_cache_get_next (ao))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) ao;
      struct nl_addr *local = rtnl_addr_get_local (a);
      char text[INET6_ADDRSTRLEN];
      if (rtnl_addr_get_ifindex (a) != ifindex || local == NULL
          || inet_ntop (rtnl_addr_get_family (a), nl_addr_get_binary_addr (local), text, sizeof text) == NULL)
        continue;
      FerryNetAddress *na = g_new0 (FerryNetAddress, 1);
      na->family = rtnl_addr_get_family (a);
      na->address = g_strdup (text);
      na->prefix = (guint) rtnl_addr_get_prefixlen (a);
      na->scope = scope_name (rtnl_addr_get_scope (a));
      g_ptr_array_add (iface->addresses, na);
    }
  return iface;
}

GPtrArray *
ferry_netns_interfaces (pid_t pid, GError **error)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/net", (int) pid);
  JoinData j = { .netns_fd = open (path, O_RDONLY | O_CLOEXEC) };
  struct nl_cache *links = NULL, *addrs = NULL;
  GPtrArray *out = NULL;

  if (j.netns_fd < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", path, g_strerror (saved));
      return NULL;
    }
  GThread *t = g_thread_try_new ("ferry-netns", join_and_connect, &j, error);
  if (t == NULL)
    {
      close (j.netns_fd);
      return NULL;
    }
  g_thread_join (t);
  close (j.netns_fd);
  if (j.sk == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Joining the network namespace of %d: %s", (int) pid,
                   g_strerror (j.err));
      return NULL;
    }
  if (rtnl_link_alloc_cache (j.sk, AF_UNSPEC, &links) < 0 || rtnl_addr_alloc_cache (j.sk, &addrs) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading the interfaces of %d failed", (int) pid);
      goto out;
    }
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_net_interface_free);
  for (struct nl_object *o = nl_cache_get_first (links); o != NULL; o = nl_cache_get_next (o))
    {
      struct rtnl_link *l = (struct rtnl_link *) o;
      FerryNetInterface *iface = interface_of (l, addrs);
      g_ptr_array_add (out, iface);
    }

out:
  if (links != NULL)
    nl_cache_free (links);
  if (addrs != NULL)
    nl_cache_free (addrs);
  nl_socket_free (j.sk);
  return out;
}

FerryNetInterface *
ferry_host_interface (const char *name, GError **error)
{
  struct nl_sock *sk = nl_socket_alloc ();
  struct nl_cache *links = NULL, *addrs = NULL;
  struct rtnl_link *l = NULL;
  FerryNetInterface *iface = NULL;

  if (sk == NULL || nl_connect (sk, NETLINK_ROUTE) < 0 || rtnl_link_alloc_cache (sk, AF_UNSPEC, &links) < 0
      || rtnl_addr_alloc_cache (sk, &addrs) < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading the host's interfaces failed");
  else if ((l = rtnl_link_get_by_name (links, name)) == NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Network interface \"%s\" not found", name);
  else
    iface = interface_of (l, addrs);
  if (l != NULL)
    rtnl_link_put (l);
  if (links != NULL)
    nl_cache_free (links);
  if (addrs != NULL)
    nl_cache_free (addrs);
  if (sk != NULL)
    nl_socket_free (sk);
  return iface;
}

void
ferry_bridge_info_free (FerryBridgeInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->id);
  g_strfreev (info->upper_devices);
  g_free (info);
}

static guint64
sys_uint (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;

  return g_file_get_contents (path, &text, NULL, NULL) ? g_ascii_strtoull (text, NULL, 10) : 0;
}

/* g_ptr_array_sort's comparator of an array of strings (it passes
 * pointers to the elements). */
static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

FerryBridgeInfo *
ferry_bridge_info (const char *name)
{
  g_autofree char *dir = g_build_filename ("/sys/class/net", name, "bridge", NULL);
  g_autofree char *brif = g_build_filename ("/sys/class/net", name, "brif", NULL);
  g_autofree char *id_path = g_build_filename (dir, "bridge_id", NULL);
  g_autoptr (GDir) ports = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  FerryBridgeInfo *info;
  const char *e;

  if (!ferry_ifname_valid (name) || !g_file_test (dir, G_FILE_TEST_IS_DIR))
    return NULL;
  info = g_new0 (FerryBridgeInfo, 1);
  if (g_file_get_contents (id_path, &info->id, NULL, NULL))
    g_strstrip (info->id);
  else
    info->id = g_strdup ("");
  info->stp = sys_uint (dir, "stp_state") == 1;
  info->forward_delay = sys_uint (dir, "forward_delay");
  info->vlan_default = sys_uint (dir, "default_pvid");
  info->vlan_filtering = sys_uint (dir, "vlan_filtering") == 1;
  ports = g_dir_open (brif, 0, NULL);
  while (ports != NULL && (e = g_dir_read_name (ports)) != NULL)
    g_ptr_array_add (names, g_strdup (e));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  info->upper_devices = (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
  return info;
}

static const char *
port_name (guint8 port)
{
  switch (port)
    {
    case PORT_TP:
      return "twisted pair";
    case PORT_AUI:
      return "AUI";
    case PORT_MII:
      return "media-independent";
    case PORT_FIBRE:
      return "fibre";
    case PORT_BNC:
      return "BNC";
    case PORT_DA:
      return "direct attach";
    case PORT_NONE:
      return "none";
    case PORT_OTHER:
      return "other";
    default:
      return NULL;
    }
}

gboolean
ferry_ethtool_port (const char *name, FerryEthtoolPort *out)
{
  struct ethtool_cmd cmd = { .cmd = ETHTOOL_GSET };
  struct ifreq ifr = { 0 };
  int fd;
  gboolean ok;

  memset (out, 0, sizeof *out);
  if (!ferry_ifname_valid (name) || (fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
    return FALSE;
  g_strlcpy (ifr.ifr_name, name, sizeof ifr.ifr_name);
  ifr.ifr_data = (void *) &cmd;
  ok = ioctl (fd, SIOCETHTOOL, &ifr) == 0;
  close (fd);
  if (!ok)
    return FALSE;
  out->autoneg = cmd.autoneg == AUTONEG_ENABLE;
  /* ethtool_cmd_speed() of the kernel header shifts a u16 promoted to int:
   * undefined for SPEED_UNKNOWN (speed_hi 0xffff), which a veth reports. */
  out->speed = ((guint32) cmd.speed_hi << 16) | cmd.speed;
  if (out->speed == (guint32) SPEED_UNKNOWN || out->speed == 65535)
    out->speed = 0;
  out->duplex = cmd.duplex == DUPLEX_HALF ? "half" : cmd.duplex == DUPLEX_FULL ? "full" : NULL;
  out->transceiver = cmd.transceiver == XCVR_INTERNAL ? "internal" : cmd.transceiver == XCVR_EXTERNAL ? "external" : NULL;
  out->port = port_name (cmd.port);
  return TRUE;
}
