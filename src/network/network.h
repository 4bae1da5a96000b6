/* Ferry's networking: addresses and LXD's network/nic config keys (pure
 * code, unit-tested), and the real parts: Linux bridges and veth pairs made
 * through netlink (libnl-route-3), dnsmasq per network, NAT with nftables,
 * and the interfaces seen inside a container's network namespace.
 * Library code: it never logs above debug, errors go up as GError. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* ---- addresses (cidr.c) ---- */

typedef struct
{
  int family; /* AF_INET or AF_INET6 */
  guint8 addr[16];
  guint prefix;
} FerryCidr;

/* "10.0.0.1/24", "fd42::1/64". */
gboolean ferry_cidr_parse (const char *text, FerryCidr *out, GError **error);
/* A plain address of FAMILY (0: either); prefix is set to the full length. */
gboolean ferry_ip_parse (const char *text, int family, FerryCidr *out, GError **error);
/* The network of C (host bits cleared). */
void ferry_cidr_network (const FerryCidr *c, FerryCidr *net);
gboolean ferry_cidr_overlaps (const FerryCidr *a, const FerryCidr *b);
/* ADDR (any prefix) lies in NET's network. */
gboolean ferry_cidr_contains (const FerryCidr *net, const FerryCidr *addr);
gboolean ferry_cidr_equal_address (const FerryCidr *a, const FerryCidr *b);
/* The host bits of C are all zero or (IPv4) all one. */
gboolean ferry_cidr_is_network_or_broadcast (const FerryCidr *c);
/* "ADDR/PREFIX" and "ADDR". */
char *ferry_cidr_to_string (const FerryCidr *c);
char *ferry_cidr_address_string (const FerryCidr *c);
/* The N-th address of NET's network (0 = network address). */
void ferry_cidr_nth (const FerryCidr *net, guint64 n, FerryCidr *out);
/* Number of host addresses of an IPv4 network (without network/broadcast). */
guint64 ferry_cidr_ipv4_hosts (const FerryCidr *net);

/* ---- config keys (netconfig.c) ---- */

/* The keys of a bridge network (LXD's names), values checked; "auto" and
 * "none" allowed for the addresses. Unknown keys are refused. */
gboolean ferry_network_config_validate (GHashTable *config, GError **error);
/* LXD's boolean spellings. */
gboolean ferry_network_bool (const char *value, gboolean fallback);
/* An interface name the kernel takes that is also safe in nftables and
 * dnsmasq text: 1-15 of [A-Za-z0-9_.-], not "." or "..". */
gboolean ferry_ifname_valid (const char *name);
/* A network name: a valid interface name that is also a valid object name. */
gboolean ferry_network_name_validate (const char *name, GError **error);
/* "aa:bb:cc:dd:ee:ff", unicast. */
gboolean ferry_mac_valid (const char *mac);
/* 00:16:3e:xx:xx:xx (LXD's prefix). */
char *ferry_mac_random (void);
/* vethXXXXXXXX. */
char *ferry_veth_random_name (void);
/* A random ULA /64 with ::1 for the bridge ("fdxx:xxxx:xxxx:xxxx::1/64"). */
char *ferry_ula_random (void);
/* The first free 10.X.Y.1/24 not overlapping any of USED (FerryCidr*). */
char *ferry_ipv4_pick_free (GPtrArray *used);

/* A nic device's keys (type nic): network=NAME, or nictype=bridged with
 * parent=BRIDGE; name, hwaddr, host_name, mtu, ipv4.address, ipv6.address.
 * Whether the network exists is the caller's business. */
gboolean ferry_nic_validate (const char *device, GHashTable *props, GError **error);

/* ---- netlink (bridge.c, veth.c) ---- */

typedef struct
{
  const char *name;
  int mtu;                 /* 0: leave */
  const char *alias;       /* IFLA_IFALIAS marking the owner */
  const char *const *addresses; /* "ADDR/PREFIX", all others removed (link-local kept) */
  const char *const *external;  /* interfaces enslaved to the bridge */
} FerryBridgeSpec;

/* Creates the bridge if missing (or adopts it), sets MTU, alias, addresses
 * and brings it up. *created tells whether it was made now. An existing
 * bridge whose alias names another owner is refused. */
gboolean ferry_bridge_ensure (const FerryBridgeSpec *spec, gboolean *created, GError **error);
gboolean ferry_bridge_delete (const char *name, GError **error);
gboolean ferry_link_exists (const char *name);
gboolean ferry_link_rename (const char *from, const char *to, GError **error);
/* Addresses of the host's routes/interfaces (FerryCidr*), for "auto". */
GPtrArray *ferry_host_networks (GError **error);

typedef struct
{
  const char *name;   /* inside the container, e.g. eth0 */
  const char *host;   /* host side, e.g. veth1a2b3c4d */
  const char *bridge; /* host bridge */
  const char *hwaddr; /* may be NULL */
  int mtu;            /* 0: the bridge's */
} FerryNicSpec;

/* "name=eth0,host=veth..,bridge=..,hwaddr=..,mtu=.." <-> spec (strings
 * point into PARTS, which the caller frees). */
char *ferry_nic_spec_format (const FerryNicSpec *spec);
gboolean ferry_nic_spec_parse (const char *text, FerryNicSpec *spec, char ***parts, GError **error);

/* Creates the veth pair: host side on the bridge and up, the peer moved into
 * the network namespace NETNS_FD, renamed, with its MAC and up. */
gboolean ferry_veth_create (const FerryNicSpec *spec, int netns_fd, GError **error);
gboolean ferry_link_delete (const char *name, GError **error);
/* Takes host-side interface NAME out of use at once: down (nothing goes
 * through any more) and renamed out of the way (deleting it waits for the
 * kernel's RCU grace periods, tens of ms). Returns its new name, to delete
 * later, "" when there is no such interface, NULL on error. */
char *ferry_link_retire (const char *name, GError **error);
/* Sets interface NAME down (its veth peer loses its carrier). */
gboolean ferry_link_set_down (const char *name, GError **error);
/* Puts host-side interface NAME on BRIDGE and up. */
gboolean ferry_link_plug (const char *name, const char *bridge, GError **error);

/* ---- a container's interfaces (netstate.c) ---- */

typedef struct
{
  int family;
  char *address;
  guint prefix;
  const char *scope; /* "global", "link", "local" */
} FerryNetAddress;

typedef struct
{
  char *name;
  char *hwaddr;
  guint mtu;
  gboolean up, loopback, broadcast, pointopoint;
  guint64 rx_bytes, tx_bytes, rx_packets, tx_packets;
  guint64 rx_errors, tx_errors, rx_dropped, tx_dropped;
  GPtrArray *addresses; /* FerryNetAddress* */
} FerryNetInterface;

void ferry_net_interface_free (FerryNetInterface *iface);
/* Interfaces of the network namespace of PID (read by a short-lived thread
 * that joins it: safe in a multi-threaded process). */
GPtrArray *ferry_netns_interfaces (pid_t pid, GError **error);
/* Interface NAME of the calling thread's network namespace (ferryd's: the
 * host's); FERRY_ERROR_NOT_FOUND when there is none. */
FerryNetInterface *ferry_host_interface (const char *name, GError **error);

/* A bridge's settings, read from /sys/class/net/NAME/bridge and brif. */
typedef struct
{
  char *id; /* "8000.aabbccddeeff" */
  gboolean stp, vlan_filtering;
  guint64 forward_delay, vlan_default;
  char **upper_devices; /* the ports, sorted */
} FerryBridgeInfo;

void ferry_bridge_info_free (FerryBridgeInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryBridgeInfo, ferry_bridge_info_free)
/* NULL when NAME is not a bridge. */
FerryBridgeInfo *ferry_bridge_info (const char *name);

/* A NIC port as ethtool tells it (the strings are LXD's names, static;
 * NULL when the driver does not say). */
typedef struct
{
  gboolean autoneg;
  guint32 speed; /* Mbit/s, 0 unknown */
  const char *duplex, *transceiver, *port;
} FerryEthtoolPort;

/* FALSE when the driver answers no ETHTOOL_GSET. */
gboolean ferry_ethtool_port (const char *name, FerryEthtoolPort *out);

/* ---- dnsmasq (dnsmasq.c) and nftables (firewall.c) ---- */

typedef struct
{
  const char *bridge;
  const char *dir;        /* ROOT/networks/NAME: pid, leases, hosts files */
  const char *ipv4_address; /* "ADDR/PREFIX" or NULL */
  const char *ipv4_ranges;  /* "A-B,C-D" or NULL for the whole subnet */
  gboolean ipv4_dhcp;
  const char *ipv6_address; /* or NULL */
  gboolean ipv6_dhcp;
  const char *domain;
  int mtu;
} FerryDnsmasqSpec;

/* argv of dnsmasq (daemonizes, pid file DIR/dnsmasq.pid). */
GStrv ferry_dnsmasq_argv (const FerryDnsmasqSpec *spec);
/* PID in DIR/dnsmasq.pid if that process is our dnsmasq, else 0. */
pid_t ferry_dnsmasq_running (const char *dir);
/* Starts it; returns its PID. */
pid_t ferry_dnsmasq_start (const FerryDnsmasqSpec *spec, GError **error);
void ferry_dnsmasq_stop (const char *dir);
/* Asks it to re-read its hosts file. */
void ferry_dnsmasq_reload (const char *dir);

typedef struct
{
  const char *bridge;
  const char *ipv4_subnet; /* network "A/P" to masquerade, or NULL */
  const char *ipv6_subnet;
} FerryFirewallNetwork;

/* Replaces table inet TABLE with rules for NETWORKS (FerryFirewallNetwork*)
 * in one nft transaction (no gap for existing flows). */
gboolean ferry_firewall_apply (const char *table, GPtrArray *networks, GError **error);
gboolean ferry_firewall_remove (const char *table, GError **error);
/* The nft script (exposed for tests). */
char *ferry_firewall_script (const char *table, GPtrArray *networks);
