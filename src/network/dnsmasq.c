/* dnsmasq for one bridge: DHCPv4 (with static leases from a hosts file),
 * router advertisements and DHCPv6 for SLAAC, and DNS for the containers'
 * names under the network's domain; it listens on the bridge only. It runs
 * daemonized (its own session) so that it outlives a ferryd restart; its
 * PID file in the network's directory is how ferryd finds it again. */
#include "network/network.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DNSMASQ_PID "dnsmasq.pid"

GStrv
ferry_dnsmasq_argv (const FerryDnsmasqSpec *s)
{
  GPtrArray *b = g_ptr_array_new ();
  g_autofree char *pid = g_build_filename (s->dir, DNSMASQ_PID, NULL);
  g_autofree char *leases = g_build_filename (s->dir, "dnsmasq.leases", NULL);
  g_autofree char *hosts = g_build_filename (s->dir, "dnsmasq.hosts", NULL);
  g_autofree char *log = g_build_filename (s->dir, "dnsmasq.log", NULL);
  const char *domain = s->domain && *s->domain ? s->domain : "ferry";
  g_autofree char *program = g_find_program_in_path ("dnsmasq");

#define ADD(...) g_ptr_array_add (b, g_strdup_printf (__VA_ARGS__))
  ADD ("%s", program ? program : "/usr/sbin/dnsmasq");
  ADD ("--conf-file=/dev/null");
  ADD ("--strict-order");
  ADD ("--bind-interfaces");
  ADD ("--except-interface=lo");
  ADD ("--interface=%s", s->bridge);
  ADD ("--pid-file=%s", pid);
  ADD ("--user=root");
  ADD ("--no-ping");
  ADD ("--no-resolv");
  ADD ("--quiet-dhcp");
  ADD ("--quiet-dhcp6");
  ADD ("--quiet-ra");
  ADD ("--log-facility=%s", log);
  ADD ("--dhcp-leasefile=%s", leases);
  ADD ("--dhcp-hostsfile=%s", hosts);
  ADD ("--dhcp-no-override");
  ADD ("--dhcp-authoritative");
  ADD ("--dhcp-rapid-commit");
  if (s->ipv4_address != NULL)
    {
      FerryCidr c, first, last;
      ferry_cidr_parse (s->ipv4_address, &c, NULL);
      g_autofree char *addr = ferry_cidr_address_string (&c);
      ADD ("--listen-address=%s", addr);
      if (s->ipv4_dhcp)
        {
          if (s->ipv4_ranges != NULL && *s->ipv4_ranges != '\0')
            {
              g_auto (GStrv) ranges = g_strsplit (s->ipv4_ranges, ",", -1);
              for (guint i = 0; ranges[i] != NULL; i++)
                {
                  g_auto (GStrv) ends = g_strsplit (g_strstrip (ranges[i]), "-", 2);
                  if (g_strv_length (ends) == 2)
                    ADD ("--dhcp-range=%s,%s,1h", g_strstrip (ends[0]), g_strstrip (ends[1]));
                }
            }
          else
            {
              guint64 hosts_n = ferry_cidr_ipv4_hosts (&c);
              ferry_cidr_nth (&c, 2, &first);
              ferry_cidr_nth (&c, hosts_n, &last);
              g_autofree char *f = ferry_cidr_address_string (&first);
              g_autofree char *l = ferry_cidr_address_string (&last);
              ADD ("--dhcp-range=%s,%s,1h", f, l);
            }
          if (s->mtu > 0)
            ADD ("--dhcp-option-force=26,%d", s->mtu);
        }
    }
  if (s->ipv6_address != NULL)
    {
      FerryCidr c;
      ferry_cidr_parse (s->ipv6_address, &c, NULL);
      g_autofree char *addr = ferry_cidr_address_string (&c);
      ADD ("--listen-address=%s", addr);
      ADD ("--enable-ra");
      ADD ("--dhcp-range=::,constructor:%s,%s,64,1h", s->bridge, s->ipv6_dhcp ? "ra-stateless,ra-names" : "ra-only");
    }
  ADD ("--domain=%s", domain);
  ADD ("--local=/%s/", domain);
  ADD ("--interface-name=_gateway.%s,%s", domain, s->bridge);
#undef ADD
  g_ptr_array_add (b, NULL);
  return (GStrv) g_ptr_array_free (b, FALSE);
}

pid_t
ferry_dnsmasq_running (const char *dir)
{
  g_autofree char *pid_path = g_build_filename (dir, DNSMASQ_PID, NULL);
  g_autofree char *text = ferry_read_small_file (pid_path);
  g_autofree char *cmdline = NULL;
  g_autofree char *proc = NULL;
  gsize len = 0;
  pid_t pid;

  if (text == NULL || (pid = (pid_t) g_ascii_strtoll (text, NULL, 10)) <= 0)
    return 0;
  proc = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  if (!g_file_get_contents (proc, &cmdline, &len, NULL))
    return 0;
  /* A recycled PID is not ours: our dnsmasq names its own pid file. */
  g_autofree char *want = g_strdup_printf ("--pid-file=%s", pid_path);
  for (gsize off = 0; off < len; off += strlen (cmdline + off) + 1)
    if (strcmp (cmdline + off, want) == 0)
      return pid;
  return 0;
}

pid_t
ferry_dnsmasq_start (const FerryDnsmasqSpec *spec, GError **error)
{
  g_auto (GStrv) argv = ferry_dnsmasq_argv (spec);
  g_autofree char *hosts = g_build_filename (spec->dir, "dnsmasq.hosts", NULL);
  g_autofree char *err = NULL;
  int status = 0;
  pid_t pid;

  if (!g_file_test (hosts, G_FILE_TEST_EXISTS) && !ferry_write_file_atomic (hosts, "", 0, 0644, error))
    return 0;
  /* dnsmasq forks into the background and exits once it listens. */
  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, NULL,
                     &err, &status, error))
    {
      g_prefix_error (error, "Starting dnsmasq for %s: ", spec->bridge);
      return 0;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "dnsmasq for %s failed: %s", spec->bridge,
                   err && *err ? g_strstrip (err) : "no message");
      return 0;
    }
  for (int i = 0; i < 100; i++)
    {
      if ((pid = ferry_dnsmasq_running (spec->dir)) > 0)
        return pid;
      g_usleep (10000);
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "dnsmasq for %s started but wrote no pid file", spec->bridge);
  return 0;
}

void
ferry_dnsmasq_stop (const char *dir)
{
  pid_t pid = ferry_dnsmasq_running (dir);
  g_autofree char *pid_path = g_build_filename (dir, DNSMASQ_PID, NULL);

  if (pid > 0)
    {
      int fd = (int) syscall (SYS_pidfd_open, pid, 0);
      kill (pid, SIGTERM);
      if (fd >= 0)
        {
          struct pollfd p = { .fd = fd, .events = POLLIN };
          if (poll (&p, 1, 3000) == 0)
            {
              kill (pid, SIGKILL);
              poll (&p, 1, 3000);
            }
          close (fd);
        }
    }
  unlink (pid_path);
}

void
ferry_dnsmasq_reload (const char *dir)
{
  pid_t pid = ferry_dnsmasq_running (dir);

  if (pid > 0)
    kill (pid, SIGHUP);
}
