/* The client's configuration directory, as lxc's (lxc/config): $FERRY_CONF,
 * else ~/.config/ferry, holding config.yml (default-remote, remotes),
 * client.crt/client.key and servercerts/<remote>.crt (pinned). */
#pragma once

#include <glib.h>

typedef struct
{
  char *name;
  char *addr;      /* "unix://" or "https://host:port" */
  char *protocol;  /* "lxd" */
  char *auth_type; /* "tls" ("" for unix) */
  char *project;
  gboolean public_;
} FerryRemoteConfig;

typedef struct
{
  char *dir;
  char *default_remote;
  GPtrArray *remotes; /* FerryRemoteConfig, sorted by name */
} FerryConfig;

void ferry_config_free (FerryConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryConfig, ferry_config_free)

/* The directory: $FERRY_CONF or ~/.config/ferry. */
char *ferry_config_dir (void);
/* Loads dir/config.yml; a missing file gives the defaults (local = unix://). */
FerryConfig *ferry_config_load (GError **error);
gboolean ferry_config_save (FerryConfig *config, GError **error);

/* config.yml text and back (exposed for tests). */
char *ferry_config_to_yaml (FerryConfig *config);
FerryConfig *ferry_config_from_yaml (const char *dir, const char *text, GError **error);

FerryRemoteConfig *ferry_config_find (FerryConfig *config, const char *name);
/* Adds (or replaces) a remote; takes remote. */
void ferry_config_add (FerryConfig *config, FerryRemoteConfig *remote);
gboolean ferry_config_remove (FerryConfig *config, const char *name);
void ferry_remote_config_free (FerryRemoteConfig *remote);

char *ferry_config_servercert_path (FerryConfig *config, const char *name);
char *ferry_config_client_cert_path (FerryConfig *config);
char *ferry_config_client_key_path (FerryConfig *config);
/* Makes client.crt/client.key if missing (EC P-384, CN user@host,
 * EKU clientAuth), printing lxc's notice on stderr. */
gboolean ferry_config_ensure_client_cert (FerryConfig *config, GError **error);
