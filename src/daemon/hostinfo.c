#include "daemon/hostinfo.h"
#include "common/fs.h"
#include "common/json.h"

#include <string.h>

void
ferry_host_info_free (FerryHostInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->os_name);
  g_free (info->os_version);
  g_free (info->cgroup_layout);
  g_free (info->criu_path);
  g_free (info->criu_version);
  g_free (info->criu_check);
  g_free (info);
}

/* CRIU is ferry-monitor's business (DESIGN: the daemon never runs CRIU):
 * `ferry-monitor check-criu --json` finds it the same way every checkpoint
 * will, and says what it found. */
static gpointer
probe_thread (gpointer user_data)
{
  FerryDaemon *d = user_data;
  const char *argv[] = { d->monitor_path, "check-criu", "--json", NULL };
  g_autofree char *out = NULL;
  g_autoptr (JsonObject) info = NULL;
  const char *path = "", *version = "", *check = NULL, *why = NULL;
  gboolean usable = FALSE;
  int status = 0;

  if (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status, NULL)
      && out != NULL)
    info = ferry_json_parse_object (out, strlen (out), FALSE, NULL);
  if (info != NULL)
    {
      ferry_json_get_bool (info, "usable", &usable, NULL);
      ferry_json_get_string (info, "path", &path, NULL);
      ferry_json_get_string (info, "version", &version, NULL);
      ferry_json_get_string (info, "check", &check, NULL);
      ferry_json_get_string (info, "error", &why, NULL);
    }
  g_mutex_lock (&d->host_lock);
  g_free (d->criu_path);
  g_free (d->criu_version);
  g_free (d->criu_check);
  d->criu_path = g_strdup (path ? path : "");
  d->criu_version = g_strdup (version ? version : "");
  if (usable && g_strcmp0 (check, "ok") == 0)
    d->criu_check = g_strdup ("Looks good.");
  else
    d->criu_check = g_strdup (why ? why : info ? "criu check failed" : "ferry-monitor check-criu could not be run");
  g_cond_broadcast (&d->host_probed);
  g_mutex_unlock (&d->host_lock);
  return NULL;
}

void
ferry_hostinfo_probe (FerryDaemon *d)
{
  g_mutex_lock (&d->host_lock);
  if (d->criu_check == NULL)
    d->criu_check = g_strdup ("probing");
  g_mutex_unlock (&d->host_lock);
  g_thread_unref (g_thread_new ("criu-probe", probe_thread, d));
}

FerryHostInfo *
ferry_hostinfo_get (FerryDaemon *d)
{
  FerryHostInfo *info = g_new0 (FerryHostInfo, 1);
  g_autofree char *os_release = NULL;

  info->os_name = g_strdup ("");
  info->os_version = g_strdup ("");
  if (g_file_get_contents ("/etc/os-release", &os_release, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (os_release, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          char **dst = g_str_has_prefix (lines[i], "NAME=")         ? &info->os_name
                       : g_str_has_prefix (lines[i], "VERSION_ID=") ? &info->os_version
                                                                   : NULL;
          if (dst == NULL)
            continue;
          g_free (*dst);
          *dst = g_shell_unquote (strchr (lines[i], '=') + 1, NULL);
          if (*dst == NULL)
            *dst = g_strdup ("");
        }
    }
  if (g_file_test ("/sys/fs/cgroup/cgroup.controllers", G_FILE_TEST_EXISTS))
    info->cgroup_layout = g_strdup ("cgroup2");
  else if (g_file_test ("/sys/fs/cgroup/unified/cgroup.procs", G_FILE_TEST_EXISTS))
    info->cgroup_layout = g_strdup ("hybrid");
  else
    info->cgroup_layout = g_strdup ("legacy");
  g_mutex_lock (&d->host_lock);
  /* Right after start the probe may still run (~0.2 s): wait for it rather
   * than report "probing", but never long. */
  if (g_strcmp0 (d->criu_check, "probing") == 0)
    {
      gint64 until = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
      while (g_strcmp0 (d->criu_check, "probing") == 0 && g_cond_wait_until (&d->host_probed, &d->host_lock, until))
        ;
    }
  info->criu_path = g_strdup (d->criu_path ? d->criu_path : "");
  info->criu_version = g_strdup (d->criu_version ? d->criu_version : "");
  info->criu_check = g_strdup (d->criu_check ? d->criu_check : "probing");
  g_mutex_unlock (&d->host_lock);
  return info;
}
