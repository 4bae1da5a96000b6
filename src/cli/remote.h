/* Remotes: which daemon a "remote:name" argument talks to. Only the local
 * unix socket exists for now; remote add/list/switch grow here. */
#pragma once

#include <glib.h>

typedef struct
{
  char *name;        /* "local" */
  char *socket_path; /* unix socket, or NULL for an https remote (later) */
} FerryRemote;

void ferry_remote_free (FerryRemote *remote);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryRemote, ferry_remote_free)

/* The unix socket of the local daemon: $FERRY_SOCKET, else
 * $FERRY_DIR/unix.socket, else /var/lib/ferry/unix.socket. */
char *ferry_remote_local_socket (void);

/* Splits "[remote:]name" into the remote and the rest. A missing remote is
 * the default remote. The rest may be empty ("local:"). */
gboolean ferry_remote_parse (const char *arg, char **remote_out, char **name_out, GError **error);

/* Looks a remote up by name. */
FerryRemote *ferry_remote_lookup (const char *name, GError **error);
