/* Bringing a managed network up and down (the bridge, forwarding and NAT
 * from network-firewall.c), and the supervision of its dnsmasq (restarted
 * when it dies). */
#include "config.h"
#include "daemon/network-manager.h"
#include "daemon/network-internal.h"
#include "daemon/instance.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "network/network.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>


/* ---- bringing a network up ---- */

static void dnsmasq_watch (FerryDaemon *d, FerryNetwork *n, pid_t pid);

static void
spec_for (FerryDaemon *d, FerryNetwork *n, FerryDnsmasqSpec *s, char **dir)
{
  const char *mtu = ferry_network_get (n, "bridge.mtu");

  *dir = ferry_network_dir (d, n->name);
  memset (s, 0, sizeof *s);
  s->bridge = n->name;
  s->dir = *dir;
  s->ipv4_address = ferry_network_address (n, "ipv4.address");
  s->ipv4_ranges = ferry_network_get (n, "ipv4.dhcp.ranges");
  s->ipv4_dhcp = ferry_network_bool (ferry_network_get (n, "ipv4.dhcp"), TRUE);
  s->ipv6_address = ferry_network_address (n, "ipv6.address");
  s->ipv6_dhcp = ferry_network_bool (ferry_network_get (n, "ipv6.dhcp"), TRUE);
  s->domain = ferry_network_get (n, "dns.domain");
  s->mtu = mtu ? (int) g_ascii_strtoll (mtu, NULL, 10) : 0;
}

/* The running dnsmasq was started with exactly this configuration. */
static gboolean
dnsmasq_matches (pid_t pid, GStrv argv)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *cmdline = NULL;
  gsize len = 0, off = 0;
  guint i = 0;

  if (!g_file_get_contents (path, &cmdline, &len, NULL))
    return FALSE;
  for (; off < len && argv[i] != NULL; i++, off += strlen (cmdline + off) + 1)
    if (strcmp (cmdline + off, argv[i]) != 0)
      return FALSE;
  return off >= len && argv[i] == NULL;
}

static gboolean
dnsmasq_ensure (FerryDaemon *d, FerryNetwork *n, gboolean force_restart, GError **error)
{
  g_autofree char *dir = NULL;
  FerryDnsmasqSpec spec;
  pid_t pid;

  spec_for (d, n, &spec, &dir);
  if (spec.ipv4_address == NULL && spec.ipv6_address == NULL)
    {
      ferry_dnsmasq_stop (dir);
      return TRUE;
    }
  pid = ferry_dnsmasq_running (dir);
  if (pid > 0 && !force_restart)
    {
      g_auto (GStrv) argv = ferry_dnsmasq_argv (&spec);
      if (dnsmasq_matches (pid, argv))
        {
          dnsmasq_watch (d, n, pid);
          return TRUE;
        }
    }
  if (n->watch != 0)
    g_clear_handle_id (&n->watch, g_source_remove);
  if (n->pidfd >= 0)
    {
      close (n->pidfd);
      n->pidfd = -1;
    }
  ferry_dnsmasq_stop (dir);
  (void) ferry_network_write_hosts (d, n);
  pid = ferry_dnsmasq_start (&spec, error);
  if (pid <= 0)
    return FALSE;
  dnsmasq_watch (d, n, pid);
  return TRUE;
}

typedef struct
{
  FerryDaemon *d;
  char *name;
} RestartData;

static void
restart_data_free (gpointer p)
{
  RestartData *r = p;
  g_free (r->name);
  g_free (r);
}

static gboolean
dnsmasq_restart (gpointer user_data)
{
  RestartData *r = user_data;
  FerryNetwork *n = ferry_network_lookup (r->d, r->name);
  g_autoptr (GError) error = NULL;

  if (n == NULL)
    return G_SOURCE_REMOVE;
  n->restart_id = 0;
  if (!dnsmasq_ensure (r->d, n, TRUE, &error))
    g_warning ("Network %s: restarting dnsmasq failed: %s", n->name, error->message);
  else
    g_message ("Network %s: dnsmasq restarted", n->name);
  return G_SOURCE_REMOVE;
}

static gboolean
dnsmasq_exited (int fd, GIOCondition cond, gpointer user_data)
{
  RestartData *r = user_data;
  FerryNetwork *n = ferry_network_lookup (r->d, r->name);

  if (n == NULL)
    return G_SOURCE_REMOVE;
  n->watch = 0;
  close (n->pidfd);
  n->pidfd = -1;
  n->restarts++;
  g_warning ("Network %s: dnsmasq exited; restarting it", n->name);
  if (n->restart_id == 0)
    {
      RestartData *again = g_new0 (RestartData, 1);
      again->d = r->d;
      again->name = g_strdup (n->name);
      /* Back off a little if it keeps dying. */
      n->restart_id = g_timeout_add_full (G_PRIORITY_DEFAULT, n->restarts > 5 ? 5000 : 200, dnsmasq_restart, again,
                                          restart_data_free);
    }
  return G_SOURCE_REMOVE;
}

static void
dnsmasq_watch (FerryDaemon *d, FerryNetwork *n, pid_t pid)
{
  RestartData *r;

  if (n->watch != 0)
    g_clear_handle_id (&n->watch, g_source_remove);
  if (n->pidfd >= 0)
    close (n->pidfd);
  n->pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (n->pidfd < 0)
    return;
  r = g_new0 (RestartData, 1);
  r->d = d;
  r->name = g_strdup (n->name);
  n->watch = g_unix_fd_add_full (G_PRIORITY_DEFAULT, n->pidfd, G_IO_IN, dnsmasq_exited, r, restart_data_free);
}

gboolean
ferry_network_bring_up (FerryDaemon *d, FerryNetwork *n, gboolean restart_dnsmasq, gboolean *created, GError **error)
{
  const char *a4 = ferry_network_address (n, "ipv4.address"), *a6 = ferry_network_address (n, "ipv6.address");
  const char *mtu = ferry_network_get (n, "bridge.mtu"), *ext = ferry_network_get (n, "bridge.external_interfaces");
  const char *addresses[3] = { NULL };
  g_auto (GStrv) external = ext ? g_strsplit (ext, ",", -1) : NULL;
  int i = 0;
  gboolean made = FALSE;

  for (char **e = external; e && *e; e++)
    g_strstrip (*e);
  if (a4)
    addresses[i++] = a4;
  if (a6)
    addresses[i++] = a6;
  FerryBridgeSpec spec = {
    .name = n->name,
    .mtu = mtu ? (int) g_ascii_strtoll (mtu, NULL, 10) : 0,
    .alias = d->networks->alias,
    .addresses = addresses,
    .external = (const char *const *) external,
  };
  if (created)
    *created = FALSE;
  if (!ferry_bridge_ensure (&spec, &made, error))
    goto fail;
  if (created)
    *created = made;
  if (a4)
    ferry_networks_enable_forwarding ("/proc/sys/net/ipv4/ip_forward");
  if (a6)
    ferry_networks_enable_forwarding ("/proc/sys/net/ipv6/conf/all/forwarding");
  if (!dnsmasq_ensure (d, n, restart_dnsmasq, error) || !ferry_networks_apply_firewall (d, error))
    goto fail;
  g_clear_pointer (&n->error, g_free);
  return TRUE;

fail:
  g_free (n->error);
  n->error = g_strdup ((*error)->message);
  return FALSE;
}

void
ferry_network_take_down (FerryDaemon *d, FerryNetwork *n)
{
  g_autofree char *dir = ferry_network_dir (d, n->name);
  g_autoptr (GError) error = NULL;

  if (n->watch != 0)
    g_clear_handle_id (&n->watch, g_source_remove);
  if (n->restart_id != 0)
    g_clear_handle_id (&n->restart_id, g_source_remove);
  if (n->pidfd >= 0)
    {
      close (n->pidfd);
      n->pidfd = -1;
    }
  ferry_dnsmasq_stop (dir);
  if (!ferry_bridge_delete (n->name, &error))
    g_warning ("Network %s: %s", n->name, error->message);
}

