#include "config.h"

#include "remote.h"

#include "common/error.h"

#define FERRY_DEFAULT_REMOTE "local"

void
ferry_remote_free (FerryRemote *remote)
{
  if (remote == NULL)
    return;
  g_free (remote->name);
  g_free (remote->socket_path);
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

gboolean
ferry_remote_parse (const char *arg, char **remote_out, char **name_out, GError **error)
{
  const char *colon = strchr (arg, ':');
  g_autofree char *remote = NULL;

  if (colon == NULL)
    {
      *remote_out = g_strdup (FERRY_DEFAULT_REMOTE);
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
  FerryRemote *remote;

  if (g_strcmp0 (name, FERRY_DEFAULT_REMOTE) != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "The remote \"%s\" doesn't exist", name);
      return NULL;
    }
  remote = g_new0 (FerryRemote, 1);
  remote->name = g_strdup (name);
  remote->socket_path = ferry_remote_local_socket ();
  return remote;
}
