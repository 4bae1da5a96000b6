#include "daemon/hostinfo.h"
#include "common/fs.h"

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

char *
ferry_hostinfo_find_criu (void)
{
  const char *env = g_getenv ("FERRY_CRIU");
  g_autofree char *conf = NULL;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  if (g_file_get_contents ("/opt/ferry/criu/env", &conf, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (conf, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        if (g_str_has_prefix (lines[i], "FERRY_CRIU="))
          {
            char *value = g_strstrip (g_strdup (lines[i] + strlen ("FERRY_CRIU=")));
            if (*value == '"' || *value == '\'')
              {
                memmove (value, value + 1, strlen (value));
                if (*value && (value[strlen (value) - 1] == '"' || value[strlen (value) - 1] == '\''))
                  value[strlen (value) - 1] = '\0';
              }
            if (*value != '\0')
              return value;
            g_free (value);
          }
    }
  return g_find_program_in_path ("criu");
}

static char *
run_text (const char *const *argv, int *status)
{
  g_autofree char *out = NULL, *err = NULL;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, status, NULL))
    return NULL;
  return g_strconcat (out ? out : "", err ? err : "", NULL);
}

typedef struct
{
  char *path;
  char *version;
  char *check;
} CriuFacts;

static gpointer
probe_thread (gpointer user_data)
{
  FerryDaemon *d = user_data;
  g_autofree char *path = ferry_hostinfo_find_criu ();
  g_autofree char *version = NULL, *check = NULL;

  if (path == NULL)
    check = g_strdup ("CRIU not found: run scripts/setup-criu (installs CRIU >= 4.2)");
  else
    {
      const char *vargv[] = { path, "--version", NULL };
      const char *cargv[] = { path, "check", NULL };
      int status = 0;
      g_autofree char *vout = run_text (vargv, &status);
      const char *v = vout ? strstr (vout, "Version: ") : NULL;

      if (v != NULL)
        {
          v += strlen ("Version: ");
          version = g_strndup (v, strcspn (v, "\n"));
        }
      g_autofree char *cout = run_text (cargv, &status);
      if (cout == NULL)
        check = g_strdup ("criu check could not be run");
      else
        {
          g_auto (GStrv) lines = g_strsplit (g_strstrip (cout), "\n", -1);
          guint n = g_strv_length (lines);
          /* The verdict is the last line ("Looks good." or the failure). */
          check = g_strdup (n > 0 ? lines[n - 1] : "");
        }
    }
  g_mutex_lock (&d->host_lock);
  g_free (d->criu_path);
  g_free (d->criu_version);
  g_free (d->criu_check);
  d->criu_path = g_strdup (path ? path : "");
  d->criu_version = g_strdup (version ? version : "");
  d->criu_check = g_strdup (check ? check : "");
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
