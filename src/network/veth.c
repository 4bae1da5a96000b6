/* A container's nic: a veth pair whose host side joins a bridge and whose
 * peer is created straight in the container's network namespace (one
 * RTM_NEWLINK: the peer is renamed and gets its MAC and MTU there), then
 * brought up through a netlink socket opened inside that namespace (the
 * kernel refuses IFF_UP on a peer at creation: ENOTCONN), so the container's
 * init sees it ready. */
#include "network/network.h"

#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <string.h>

/* A socket opened in NETNS_FD (the calling thread goes there and back). */
static struct nl_sock *
socket_in (int netns_fd, GError **error)
{
  int self = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  struct nl_sock *sk = NULL;
  int rc = 0;

  if (self < 0 || setns (netns_fd, CLONE_NEWNET) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Joining the container's network namespace: %s",
                   g_strerror (saved));
      if (self >= 0)
        close (self);
      return NULL;
    }
  sk = nl_socket_alloc ();
  if (sk != NULL && (rc = nl_connect (sk, NETLINK_ROUTE)) < 0)
    g_clear_pointer (&sk, nl_socket_free);
  if (setns (self, CLONE_NEWNET) < 0)
    g_error ("Cannot return to the host's network namespace: %s", g_strerror (errno));
  close (self);
  if (sk == NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "rtnetlink in the container: %s", nl_geterror (rc));
  return sk;
}

static gboolean
bring_up_in (int netns_fd, const char *name, GError **error)
{
  struct nl_sock *sk = socket_in (netns_fd, error);
  struct rtnl_link *link = NULL, *change = NULL;
  gboolean ok = FALSE;
  int rc;

  if (sk == NULL)
    return FALSE;
  if ((rc = rtnl_link_get_kernel (sk, 0, name, &link)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Finding %s in the container: %s", name, nl_geterror (rc));
      goto out;
    }
  change = rtnl_link_alloc ();
  rtnl_link_set_flags (change, IFF_UP);
  if ((rc = rtnl_link_change (sk, link, change, 0)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Bringing %s up: %s", name, nl_geterror (rc));
      goto out;
    }
  ok = TRUE;

out:
  if (change != NULL)
    rtnl_link_put (change);
  if (link != NULL)
    rtnl_link_put (link);
  nl_socket_free (sk);
  return ok;
}

gboolean
ferry_veth_create (const FerryNicSpec *spec, int netns_fd, GError **error)
{
  struct nl_sock *sk = NULL;
  struct rtnl_link *veth = NULL, *peer = NULL, *bridge = NULL;
  struct nl_addr *mac = NULL;
  gboolean ok = FALSE;
  int rc, mtu = spec->mtu;

  if ((sk = nl_socket_alloc ()) == NULL || (rc = nl_connect (sk, NETLINK_ROUTE)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Connecting to rtnetlink failed");
      goto out;
    }
  if ((rc = rtnl_link_get_kernel (sk, 0, spec->bridge, &bridge)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "The bridge %s of %s does not exist: %s", spec->bridge,
                   spec->name, nl_geterror (rc));
      goto out;
    }
  if (mtu <= 0)
    mtu = (int) rtnl_link_get_mtu (bridge);
  veth = rtnl_link_veth_alloc ();
  peer = rtnl_link_veth_get_peer (veth);
  rtnl_link_set_name (veth, spec->host);
  rtnl_link_set_mtu (veth, (unsigned) mtu);
  rtnl_link_set_master (veth, rtnl_link_get_ifindex (bridge));
  rtnl_link_set_flags (veth, IFF_UP);
  rtnl_link_set_name (peer, spec->name);
  rtnl_link_set_mtu (peer, (unsigned) mtu);
  rtnl_link_set_ns_fd (peer, netns_fd);
  if (spec->hwaddr != NULL)
    {
      if ((rc = nl_addr_parse (spec->hwaddr, AF_LLC, &mac)) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid MAC %s", spec->hwaddr);
          goto out;
        }
      rtnl_link_set_addr (peer, mac);
    }
  if ((rc = rtnl_link_add (sk, veth, NLM_F_CREATE | NLM_F_EXCL)) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating the veth pair %s/%s on %s: %s", spec->host,
                   spec->name, spec->bridge, nl_geterror (rc));
      goto out;
    }
  ok = bring_up_in (netns_fd, spec->name, error);
  if (!ok)
    ferry_link_delete (spec->host, NULL);

out:
  if (mac != NULL)
    nl_addr_put (mac);
  if (peer != NULL)
    rtnl_link_put (peer);
  if (veth != NULL)
    rtnl_link_put (veth);
  if (bridge != NULL)
    rtnl_link_put (bridge);
  if (sk != NULL)
    nl_socket_free (sk);
  return ok;
}
