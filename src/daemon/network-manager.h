/* ferryd's managed networks: their definitions (ROOT/networks/NAME/
 * network.json), bringing them up (bridge, dnsmasq, NAT) and keeping them up,
 * and the nic devices of instances that use them. Main thread only. */
#pragma once

#include "daemon/daemon.h"

typedef struct FerryNetwork FerryNetwork;

/* Loads the networks and brings them up (adopting what a previous ferryd
 * left running). At the very first start, creates the default network and
 * adds it to the default profile as eth0. */
gboolean ferry_networks_setup (FerryDaemon *d, GError **error);
/* ferryd is stopping: with no instance running, networks are taken down
 * (they come back at the next start); otherwise left as they are. */
void ferry_networks_shutdown (FerryDaemon *d);

/* Device validation for type nic: keys, and that the network exists and a
 * static address lies in its subnet. */
gboolean ferry_network_nic_device_validate (const char *device, GHashTable *props, GError **error);

/* Adds --nic arguments for the instance's nic devices to ferry-monitor's
 * ARGV (start and restore), filling volatile.DEV.hwaddr / host_name, and
 * refreshes static leases and DNS names of its networks. */
gboolean ferry_network_start_arguments (FerryDaemon *d, FerryInstance *inst, GPtrArray *argv, GError **error);

/* Gives each nic of DEVICES (expanded) without a hwaddr of its own a
 * volatile.DEV.hwaddr in CONFIG (the instance's own), as LXD does when it
 * creates an instance: the MAC is then known before the first start and
 * kept across stops, restores and moves. TRUE if CONFIG changed. */
gboolean ferry_network_fill_hwaddrs (JsonObject *devices, GHashTable *config);

/* Takes the host side of each nic of the running container in RUN_DIR out
 * of use (down, renamed; deleted, with its peer, in the background), so
 * that killing the container sends no FIN or RST: peers of TCP connections
 * that a stateful restore brings back must not see them end. Safe from any
 * thread. */
void ferry_network_unplug (const char *run_dir);

/* Interfaces read ahead (by a list, in its own threads, with
 * ferry_netns_interfaces) for the container whose init is INIT_PID: the next
 * ferry_network_fill_state() for it uses them. Takes INTERFACES. Cleared with
 * ferry_network_prefetch_clear(). Main thread only. */
void ferry_network_prefetch_add (FerryDaemon *d, pid_t init_pid, GPtrArray *interfaces);
void ferry_network_prefetch_clear (FerryDaemon *d);
/* state.network of a running instance (read in its network namespace);
 * replaces the "network" member of STATE (an object node). CONFIG is the
 * instance's own config and DEVICES its expanded devices (for host_name). */
void ferry_network_fill_state (FerryDaemon *d, FerryInstance *inst, pid_t init_pid, GHashTable *config,
                               JsonObject *devices, JsonNode *state);
