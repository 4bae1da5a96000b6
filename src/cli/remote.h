/* Remotes: which daemon a "remote:name" argument talks to: the local unix
 * socket, or an HTTPS remote of config.yml (config-file.h). */
#pragma once

#include <glib.h>

typedef struct
{
  char *name;        /* "local" */
  char *socket_path; /* unix socket, or NULL for an https remote */
  char *addr;        /* "https://host:port" for an https remote */
  char *server_cert; /* pinned servercerts/NAME.crt (may not exist yet) */
  char *client_cert; /* client.crt / client.key presented over TLS */
  char *client_key;
} FerryRemote;

void ferry_remote_free (FerryRemote *remote);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryRemote, ferry_remote_free)

/* The unix socket of the local daemon: $FERRY_SOCKET, else
 * $FERRY_DIR/unix.socket, else /var/lib/ferry/unix.socket. */
char *ferry_remote_local_socket (void);

/* Splits "[remote:]name" into the remote and the rest. A missing remote is
 * the default remote of config.yml. The rest may be empty ("local:"). */
gboolean ferry_remote_parse (const char *arg, char **remote_out, char **name_out, GError **error);

/* The default remote: config.yml's default-remote, else "local". */
char *ferry_remote_default (void);

/* Looks a remote up by name in config.yml. */
FerryRemote *ferry_remote_lookup (const char *name, GError **error);
