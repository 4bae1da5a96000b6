#include "config.h"

#include "remote.h"

#include "common/error.h"
#include "config-file.h"

#include <string.h>

void
ferry_remote_free (FerryRemote *remote)
{
  if (remote == NULL)
    return;
  g_free (remote->name);
  g_free (remote->socket_path);
  g_free (remote->addr);
  g_free (remote->server_cert);
  g_free (remote->client_cert);
  g_free (remote->client_key);
  g_free (remote);
}

char *
ferry_remote_local_socket (void)
{
  const char *socket = g_getenv ("FERRY_SOCKET");
  const char *dir = g_getenv ("FERRY_DIR");

  if (socket != NULL && *socket != '\0')
    return g_strdup (socket);
  if (dir == NULL || *dir == '\0')
    dir = FERRY_DEFAULT_ROOT;
  return g_build_filename (dir, "unix.socket", NULL);
}

char *
ferry_remote_default (void)
{
  g_autoptr (FerryConfig) config = ferry_config_load (NULL);

  return g_strdup (config != NULL ? config->default_remote : "local");
}

gboolean
ferry_remote_parse (const char *arg, char **remote_out, char **name_out, GError **error)
{
  const char *colon = strchr (arg, ':');
  g_autofree char *remote = NULL;

  if (colon == NULL)
    {
      *remote_out = ferry_remote_default ();
      *name_out = g_strdup (arg);
      return TRUE;
    }
  remote = g_strndup (arg, colon - arg);
  if (*remote == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid remote name: \"\"");
      return FALSE;
    }
  *remote_out = g_steal_pointer (&remote);
  *name_out = g_strdup (colon + 1);
  return TRUE;
}

FerryRemote *
ferry_remote_lookup (const char *name, GError **error)
{
  g_autoptr (FerryConfig) config = ferry_config_load (error);
  FerryRemoteConfig *rc;
  FerryRemote *remote;

  if (config == NULL)
    return NULL;
  rc = ferry_config_find (config, name);
  if (rc == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "The remote \"%s\" doesn't exist", name);
      return NULL;
    }
  remote = g_new0 (FerryRemote, 1);
  remote->name = g_strdup (name);
  if (g_str_has_prefix (rc->addr, "unix:"))
    {
      const char *path = rc->addr + strlen ("unix:");
      while (path[0] == '/' && path[1] == '/')
        path++;
      /* "unix://" is the local daemon; "unix:///path" a given socket. */
      remote->socket_path = *path == '\0' || strcmp (path, "/") == 0 ? ferry_remote_local_socket () : g_strdup (path);
      return remote;
    }
  remote->addr = g_strdup (rc->addr);
  remote->server_cert = ferry_config_servercert_path (config, name);
  remote->client_cert = ferry_config_client_cert_path (config);
  remote->client_key = ferry_config_client_key_path (config);
  return remote;
}
