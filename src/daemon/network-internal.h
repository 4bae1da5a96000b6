/* Shared by the network manager (network-manager.c, network-dnsmasq.c,
 * network-nics.c) and api/networks.c only. */
#pragma once

#include "daemon/network-manager.h"

struct FerryNetwork
{
  char *name; /* also the bridge's name, as in LXD */
  char *description;
  GHashTable *config;
  char *error; /* why it is not up, or NULL */
  int pidfd;   /* dnsmasq */
  guint watch, restart_id;
  int restarts;
};

struct FerryNetworks
{
  GHashTable *by_name; /* name -> FerryNetwork */
  char *dir;           /* ROOT/networks */
  char *table;         /* nftables table: ferry, or ferry-<hash of root> */
  char *alias;         /* ifalias of our bridges: "ferry:<table>" */
};

void ferry_network_free (FerryNetwork *n);
FerryNetwork *ferry_network_lookup (FerryDaemon *d, const char *name);
char *ferry_network_dir (FerryDaemon *d, const char *name);
const char *ferry_network_get (FerryNetwork *n, const char *key);
/* An address key's value, NULL when it is unset, "none" or "auto". */
const char *ferry_network_address (FerryNetwork *n, const char *key);
gboolean ferry_network_save (FerryDaemon *d, FerryNetwork *n, GError **error);
/* Validates CONFIG, replaces "auto" addresses with free ones and refuses
 * subnets that overlap other networks or the host's routes. */
gboolean ferry_network_resolve_config (FerryDaemon *d, const char *name, GHashTable *config, GError **error);
gboolean ferry_network_bring_up (FerryDaemon *d, FerryNetwork *n, gboolean restart_dnsmasq, gboolean *created,
                                 GError **error);
void ferry_network_take_down (FerryDaemon *d, FerryNetwork *n);
/* network-firewall.c: the nftables rules of every network, applied as
 * one table; forwarding turned on (SYSCTL set to 1 unless it is). */
gboolean ferry_networks_apply_firewall (FerryDaemon *d, GError **error);
void ferry_networks_enable_forwarding (const char *sysctl);
/* The network's static leases (dnsmasq.hosts) from its instances' nics;
 * FALSE when the file already said that (nothing written: dnsmasq need not
 * reload). */
gboolean ferry_network_write_hosts (FerryDaemon *d, FerryNetwork *n);
