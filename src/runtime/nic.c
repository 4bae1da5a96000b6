/* The container's nics: veth pairs made by the monitor after the container's
 * network namespace exists and before its init runs (so init boots with eth0
 * up), and the CRIU --external keys that let a checkpoint carry them. The
 * run directory's "nics" file ("NAME HOST BRIDGE" lines) records what the
 * running container has, for a later checkpoint. */
#include "runtime/monitor.h"

#include "common/error.h"
#include "common/fs.h"
#include "network/network.h"
#include "runtime/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static gboolean
record_nics (const char *run_dir, char **nics, GError **error)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *path = g_build_filename (run_dir, FERRY_RUNDIR_NICS, NULL);

  for (char **n = nics; n != NULL && *n != NULL; n++)
    {
      FerryNicSpec spec;
      g_auto (GStrv) parts = NULL;
      if (!ferry_nic_spec_parse (*n, &spec, &parts, error))
        return FALSE;
      g_string_append_printf (s, "%s %s %s\n", spec.name, spec.host, spec.bridge);
    }
  return ferry_write_file_atomic (path, s->str, -1, 0644, error);
}

gboolean
ferry_monitor_setup_nics (const FerryStartOptions *o, pid_t init_pid, GError **error)
{
  g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/net", (int) init_pid);
  int netns = -1;
  gboolean ok = FALSE;

  if (!record_nics (o->run_dir, o->nics, error))
    return FALSE;
  if (o->nics == NULL || o->nics[0] == NULL)
    return TRUE;
  if ((netns = open (ns_path, O_RDONLY | O_CLOEXEC)) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", ns_path, g_strerror (saved));
      return FALSE;
    }
  for (char **n = o->nics; *n != NULL; n++)
    {
      FerryNicSpec spec;
      g_auto (GStrv) parts = NULL;
      if (!ferry_nic_spec_parse (*n, &spec, &parts, error) || !ferry_veth_create (&spec, netns, error))
        goto out;
      ferry_monitor_log ("nic %s: %s on %s (%s)", spec.name, spec.host, spec.bridge, spec.hwaddr ? spec.hwaddr : "");
    }
  ok = TRUE;

out:
  close (netns);
  return ok;
}

char **
ferry_monitor_nic_restore_keys (const FerryStartOptions *o, GError **error)
{
  GPtrArray *keys = g_ptr_array_new_with_free_func (g_free);

  if (!record_nics (o->run_dir, o->nics, error))
    {
      g_ptr_array_unref (keys);
      return NULL;
    }
  for (char **n = o->nics; n != NULL && *n != NULL; n++)
    {
      FerryNicSpec spec;
      g_auto (GStrv) parts = NULL;
      if (!ferry_nic_spec_parse (*n, &spec, &parts, error))
        {
          g_ptr_array_unref (keys);
          return NULL;
        }
      /* A host side left by a crashed restore would make CRIU fail. */
      ferry_link_delete (spec.host, NULL);
      /* Not on the bridge yet: between CRIU bringing eth0 up and restoring
       * its sockets and firewall lock, a peer's retransmission would be
       * answered with a reset. ferry_monitor_plug_nics at post-restore.
       * CRIU makes the pair with eth0 in the container's namespace (in a
       * user namespace through its usernsd: patches/criu/0012), the host
       * side here. */
      g_ptr_array_add (keys, g_strdup_printf ("veth[%s]:%s", spec.name, spec.host));
    }
  g_ptr_array_add (keys, NULL);
  return (char **) g_ptr_array_free (keys, FALSE);
}

/* The host sides of the nics recorded in RUN_DIR (none without the record). */
static GPtrArray *
recorded_host_sides (const char *run_dir)
{
  GPtrArray *names = ferry_rundir_nic_host_sides (run_dir);

  for (guint i = names->len; i-- > 0;)
    if (!ferry_ifname_valid (g_ptr_array_index (names, i)))
      g_ptr_array_remove_index (names, i);
  return names;
}

char **
ferry_monitor_nic_dump_keys (const char *run_dir)
{
  g_autoptr (GPtrArray) names = recorded_host_sides (run_dir);
  GPtrArray *keys = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add (keys, g_strdup_printf ("veth[%s]", (char *) g_ptr_array_index (names, i)));
  g_ptr_array_add (keys, NULL);
  return (char **) g_ptr_array_free (keys, FALSE);
}

void
ferry_monitor_forget_nics (const FerryStartOptions *o)
{
  for (char **n = o->nics; n != NULL && *n != NULL; n++)
    {
      FerryNicSpec spec;
      g_auto (GStrv) parts = NULL;
      /* One end of a pair takes the other with it. */
      if (ferry_nic_spec_parse (*n, &spec, &parts, NULL))
        ferry_link_delete (spec.host, NULL);
    }
}

void
ferry_monitor_nics_down (gpointer run_dir)
{
  g_autoptr (GPtrArray) names = recorded_host_sides (run_dir);

  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!ferry_link_set_down (g_ptr_array_index (names, i), &error))
        ferry_monitor_log ("%s", error->message);
    }
}

gboolean
ferry_monitor_plug_nics (const FerryStartOptions *o, GError **error)
{
  for (char **n = o->nics; n != NULL && *n != NULL; n++)
    {
      FerryNicSpec spec;
      g_auto (GStrv) parts = NULL;
      if (!ferry_nic_spec_parse (*n, &spec, &parts, error) || !ferry_link_plug (spec.host, spec.bridge, error))
        return FALSE;
    }
  return TRUE;
}
