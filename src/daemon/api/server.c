/* GET/PUT/PATCH /1.0: server information and server configuration. */
#include "config.h"
#include "daemon/api/api.h"
#include "daemon/hostinfo.h"
#include "daemon/http/tls.h"
#include "storage/driver.h"
#include "common/cert.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Whether this process's bounding set has capability CAP (read once: it
 * never grows). */
static gboolean
host_has_cap (int cap)
{
  static gsize bounding = 0;

  if (g_once_init_enter (&bounding))
    {
      g_autofree char *status = NULL;
      guint64 mask = g_file_get_contents ("/proc/self/status", &status, NULL, NULL)
                         ? ferry_proc_status_mask (status, "CapBnd")
                         : G_MAXUINT64;
      g_once_init_leave (&bounding, (gsize) (mask | (1ull << 63))); /* never 0 */
    }
  return (bounding >> cap) & 1;
}

/* What LXD's clients check before using a feature (lxd-client-api.md 1.6):
 * each only when what it names works (docs/api-extensions.md: the audit,
 * extension by extension). */
static const char *const api_extensions[] = {
  "instances",
  "api_filtering",
  "container_full",
  "instance_get_full",
  "container_exec_user_group_cwd",
  "container_exec_signal_handling",
  "container_exec_recording",
  "image_aliases_post",
  "console",
  "network",
  "network_state",
  "network_ipv4_dhcp_ranges",
  "network_leases",
  "certificate_token",
  "ferry_report",
  "ferry_checkpoint_stats",
  "container_push",
  "container_push_target",
  "container_only_migration",
  "migration_ferry",
  "snapshot_scheduling",
  "snapshot_schedule_aliases",
  "snapshot_expiry",
  "snapshot_expiry_creation",
  "instance_snapshot_never",
  "file_delete",
  "file_append",
  "file_symlinks",
  "directory_manipulation",
  "container_backup",
  "backup_compression",
  "backup_compression_algorithm",
  "container_backup_override_pool",
  "backup_override_name",
  "backup_expiry",
  "storage",
  "resources",
  "etag",
  "patch",
  "projects",
  "event_lifecycle",
  "warnings",
  "kernel_features",
  "lxc_features",
  "api_os",
  "firewall_driver",
  "event_hub",
  "server_supported_storage_drivers",
  "network_state_bond_bridge",
  "network_leases_location",
  "resources_v2",
  "resources_cpu_socket",
  "resources_numa",
  "resources_cpu_threads_numa",
  "resources_cpu_core_die",
  "resources_gpu",
  "resources_usb_pci",
  "resources_system",
  "container_edit_metadata",
  NULL,
};

static void
add_string (JsonObject *o, const char *k, const char *v)
{
  json_object_set_string_member (o, k, v ? v : "");
}

static void
add_bool_string (JsonObject *o, const char *k, gboolean v)
{
  json_object_set_string_member (o, k, v ? "true" : "false");
}

/* The running kernel is at least MAJOR.MINOR. */
static gboolean
kernel_at_least (const struct utsname *uts, guint major, guint minor)
{
  guint a = 0, b = 0;

  if (sscanf (uts->release, "%u.%u", &a, &b) != 2)
    return FALSE;
  return a > major || (a == major && b >= minor);
}

/* LXD's kernel_features, each saying whether Ferry uses what it names on
 * this kernel (docs/api-extensions.md has the reasons key by key). */
static JsonObject *
kernel_features (const struct utsname *uts)
{
  JsonObject *o = json_object_new ();
  g_autofree char *actions = NULL;
  gboolean user_notif = g_file_get_contents ("/proc/sys/kernel/seccomp/actions_avail", &actions, NULL, NULL)
                        && strstr (actions, "user_notif") != NULL;

  add_bool_string (o, "idmapped_mounts", kernel_at_least (uts, 5, 12));
  /* Ferry reads a container's interfaces by joining its namespace. */
  add_bool_string (o, "netnsid_getifaddrs", FALSE);
  add_bool_string (o, "seccomp_listener", user_notif);
  add_bool_string (o, "seccomp_listener_continue", user_notif && kernel_at_least (uts, 5, 5));
  add_bool_string (o, "shiftfs", FALSE);
  add_bool_string (o, "uevent_injection", FALSE);
  add_bool_string (o, "unpriv_fscaps", kernel_at_least (uts, 4, 14));
  return o;
}

/* LXD's lxc_features: what liblxc can do for LXD, here what ferry-monitor
 * does in its place (true only for what it really does). */
static JsonObject *
lxc_features (const struct utsname *uts, const FerryHostInfo *host)
{
  JsonObject *o = json_object_new ();

  add_bool_string (o, "cgroup2", g_strcmp0 (host->cgroup_layout, "legacy") != 0);
  add_bool_string (o, "core_scheduling", FALSE);
  add_bool_string (o, "devpts_fd", FALSE);
  add_bool_string (o, "idmapped_mounts_v2", kernel_at_least (uts, 5, 12));
  add_bool_string (o, "mount_injection_file", TRUE);
  add_bool_string (o, "network_gateway_device_route", FALSE);
  add_bool_string (o, "network_ipvlan", FALSE);
  add_bool_string (o, "network_l2proxy", FALSE);
  add_bool_string (o, "network_phys_macvlan_mtu", FALSE);
  add_bool_string (o, "network_veth_router", FALSE);
  add_bool_string (o, "pidfd", TRUE);
  add_bool_string (o, "seccomp_allow_deny_syntax", FALSE);
  add_bool_string (o, "seccomp_notify", TRUE);
  add_bool_string (o, "seccomp_proxy_send_notify_fd", FALSE);
  return o;
}

/* btrfs-progs' version as LXD shows it ("6.2"), read once; "" without it. */
static const char *
btrfs_version (void)
{
  static char *version = NULL;

  if (g_once_init_enter (&version))
    {
      const char *argv[] = { "btrfs", "--version", NULL };
      g_autofree char *out = NULL;
      char *v = NULL;

      if (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                        NULL, NULL, NULL)
          && out != NULL && (v = strstr (out, " v")) != NULL)
        v = g_strstrip (g_strdup (v + 2));
      g_once_init_leave (&version, v != NULL ? v : g_strdup (""));
    }
  return version;
}

static JsonObject *
storage_driver_json (const char *name, const char *version)
{
  JsonObject *o = json_object_new ();

  /* LXD's ServerStorageDriverInfo has no JSON tags: Go's field names. */
  add_string (o, "Name", name);
  add_string (o, "Version", version);
  json_object_set_boolean_member (o, "Remote", FALSE);
  return o;
}

static const char *
driver_version (const FerryStorageDriver *driver)
{
  return driver == &ferry_storage_driver_btrfs ? btrfs_version () : "1";
}

/* The 32-bit architectures a 64-bit one runs too, as LXD lists them beside
 * it (shared/osarch's architectureSupportedPersonalities: a fixed table,
 * the kernel is not asked). */
static void
add_personalities (JsonArray *arches, const char *machine)
{
  static const struct
  {
    const char *machine;
    const char *personalities[4];
  } table[] = {
    { "x86_64", { "i686", NULL } },
    { "aarch64", { "armv6l", "armv7l", "armv8l", NULL } },
    { "armv8l", { "armv6l", "armv7l", NULL } },
    { "armv7l", { "armv6l", NULL } },
    { "ppc64", { "ppc", NULL } },
    { "mips64", { "mips", NULL } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    if (strcmp (table[i].machine, machine) == 0)
      for (gsize k = 0; table[i].personalities[k] != NULL; k++)
        json_array_add_string_element (arches, table[i].personalities[k]);
}

/* environment.storage and storage_version: the drivers of the pools in
 * use, " | " between them as LXD joins them. */
static void
add_storage (JsonObject *env, FerryDaemon *d)
{
  g_autoptr (GString) names = g_string_new (NULL);
  g_autoptr (GString) versions = g_string_new (NULL);
  JsonArray *supported = json_array_new ();
  /* In LXD's order (by name). */
  const FerryStorageDriver *drivers[] = { &ferry_storage_driver_btrfs, &ferry_storage_driver_dir };

  for (gsize i = 0; i < G_N_ELEMENTS (drivers); i++)
    {
      GHashTableIter iter;
      gpointer v;
      gboolean used = FALSE;

      if (d->pools != NULL)
        {
          g_hash_table_iter_init (&iter, d->pools);
          while (!used && g_hash_table_iter_next (&iter, NULL, &v))
            used = ((FerryStoragePool *) v)->driver == drivers[i];
        }
      if (used)
        {
          g_string_append_printf (names, "%s%s", names->len ? " | " : "", drivers[i]->name);
          g_string_append_printf (versions, "%s%s", versions->len ? " | " : "", driver_version (drivers[i]));
        }
      /* btrfs pools need btrfs-progs (mkfs.btrfs) and the kernel's btrfs. */
      if (drivers[i] != &ferry_storage_driver_btrfs || *btrfs_version () != '\0')
        json_array_add_object_element (supported, storage_driver_json (drivers[i]->name, driver_version (drivers[i])));
    }
  add_string (env, "storage", names->len ? names->str : "dir");
  add_string (env, "storage_version", versions->len ? versions->str : "1");
  json_object_set_array_member (env, "storage_supported_drivers", supported);
}

JsonNode *
ferry_api_server_json (FerryDaemon *d)
{
  JsonObject *o = json_object_new ();
  JsonObject *env = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (GHashTable) config = ferry_db_config_get_all (d->db, NULL);
  struct utsname uts;
  const char *auth_methods[] = { "tls", NULL };
  JsonArray *arches = json_array_new ();
  g_autoptr (FerryHostInfo) host = ferry_hostinfo_get (d);

  uname (&uts);
  /* Like LXD, the trust password's hash never leaves the daemon. */
  if (config != NULL && g_hash_table_contains (config, "core.trust_password"))
    g_hash_table_replace (config, g_strdup ("core.trust_password"), g_strdup ("true"));
  json_object_set_member (o, "config", ferry_json_from_string_map (config));
  json_object_set_member (o, "api_extensions", ferry_json_string_list (api_extensions));
  add_string (o, "api_status", "stable");
  add_string (o, "api_version", "1.0");
  add_string (o, "auth", "trusted");
  json_object_set_boolean_member (o, "public", FALSE);
  json_object_set_member (o, "auth_methods", ferry_json_string_list (auth_methods));

  json_array_add_string_element (arches, uts.machine);
  add_personalities (arches, uts.machine);
  json_object_set_member (env, "addresses", ferry_https_addresses_json (d));
  json_object_set_array_member (env, "architectures", arches);
  add_string (env, "certificate", d->https != NULL ? d->https->cert_pem : "");
  add_string (env, "certificate_fingerprint", d->https != NULL ? d->https->fingerprint : "");
  add_string (env, "driver", "ferry");
  add_string (env, "driver_version", FERRY_VERSION);
  add_string (env, "firewall", "nftables");
  add_string (env, "kernel", uts.sysname);
  add_string (env, "kernel_architecture", uts.machine);
  json_object_set_object_member (env, "kernel_features", kernel_features (&uts));
  add_string (env, "kernel_version", uts.release);
  json_object_set_object_member (env, "lxc_features", lxc_features (&uts, host));
  add_string (env, "os_name", host->os_name);
  add_string (env, "os_version", host->os_version);
  add_string (env, "project", "default");
  add_string (env, "server", "ferry");
  json_object_set_boolean_member (env, "server_clustered", FALSE);
  /* A server outside a cluster sends its events to its own clients. */
  add_string (env, "server_event_mode", "full-mesh");
  add_string (env, "server_name", d->server_name);
  json_object_set_int_member (env, "server_pid", getpid ());
  add_string (env, "server_version", FERRY_VERSION);
  add_storage (env, d);
  add_string (env, "cgroup_layout", host->cgroup_layout);
  add_string (env, "criu_path", host->criu_path);
  add_string (env, "criu_version", host->criu_version);
  add_string (env, "criu_check", host->criu_check);
  /* CRIU reads each task's rlimits with prlimit(), which needs
   * CAP_SYS_RESOURCE for tasks of other uids; Ferry's CRIU falls back to
   * /proc/PID/limits (patches/criu/0001). Said, since a host without it
   * also caps what the containers' root may raise. */
  add_string (env, "criu_rlimits", host_has_cap (24 /* CAP_SYS_RESOURCE */)
                                        ? "prlimit"
                                        : "/proc/PID/limits (root lacks CAP_SYS_RESOURCE on this host)");
  json_object_set_object_member (o, "environment", env);
  json_node_take_object (node, o);
  return node;
}

/* What an untrusted HTTPS client may know (LXD omits the environment). */
static JsonNode *
untrusted_server_json (void)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  const char *auth_methods[] = { "tls", NULL };

  json_object_set_object_member (o, "config", json_object_new ());
  json_object_set_member (o, "api_extensions", ferry_json_string_list (api_extensions));
  add_string (o, "api_status", "stable");
  add_string (o, "api_version", "1.0");
  add_string (o, "auth", "untrusted");
  json_object_set_boolean_member (o, "public", FALSE);
  json_object_set_member (o, "auth_methods", ferry_json_string_list (auth_methods));
  json_node_take_object (node, o);
  return node;
}

/* Server keys Ferry knows today; the rest is refused so typos surface. */
static gboolean
validate_server_key (const char *key, const char *value, GError **error)
{
  if (g_str_has_prefix (key, "user.") || strcmp (key, "core.trust_password") == 0)
    return TRUE;
  if (strcmp (key, "core.https_address") == 0)
    return ferry_https_address_valid (value, error);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown server configuration key: %s", key);
  return FALSE;
}

/* What the server's ETag covers: its config as GET shows it (as in LXD, a
 * new trust password shows as "true" again, and leaves the ETag as it was). */
static const char *const server_writable[] = { "config", NULL };

static void
update_server (FerryRequest *req, gboolean patch)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  JsonObject *config_obj = NULL;
  g_autoptr (GHashTable) config = NULL;
  g_autoptr (GHashTable) old = NULL;
  GHashTableIter iter;
  gpointer k, v;
  g_autofree char *https_address_before = NULL;
  gboolean https_moved = FALSE;
  g_autoptr (JsonNode) now = ferry_api_server_json (d);

  if (!ferry_request_if_match (req, now, server_writable, &error)
      || (body = ferry_request_json (req, FALSE, &error)) == NULL
      || !ferry_json_get_object (body, "config", &config_obj, &error)
      || (config = ferry_json_string_map (config_obj, "Config", &error)) == NULL
      || (old = ferry_db_config_get_all (d->db, &error)) == NULL)
    goto fail;
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (!validate_server_key (k, v, &error))
      goto fail;
  /* The listener moves first: if the new address cannot be bound, nothing
   * changes. */
  if (g_hash_table_contains (config, "core.https_address") || !patch)
    {
      const char *addr = g_hash_table_lookup (config, "core.https_address");
      g_free (https_address_before);
      https_address_before = g_strdup (g_hash_table_lookup (old, "core.https_address"));
      if (!ferry_https_set_address (d, addr, &error))
        goto fail;
      https_moved = TRUE;
    }
  if (!ferry_db_begin (d->db, &error))
    goto rollback;
  if (!patch)
    {
      g_hash_table_iter_init (&iter, old);
      while (g_hash_table_iter_next (&iter, &k, &v))
        if (!g_hash_table_contains (config, k) && !ferry_db_config_unset (d->db, k, &error))
          goto rollback;
    }
  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      g_autofree char *hashed = NULL;
      gboolean ok;

      if (strcmp (k, "core.trust_password") == 0 && *(const char *) v != '\0')
        {
          /* Kept as is when a PUT sends back what GET showed ("true"). */
          if (strcmp (v, "true") == 0 && g_hash_table_contains (old, k))
            continue;
          v = hashed = ferry_trust_hash_password (v);
          if (hashed == NULL)
            {
              g_set_error (&error, FERRY_ERROR, FERRY_ERROR_FAILED, "Hashing core.trust_password failed");
              goto rollback;
            }
        }
      ok = *(const char *) v == '\0' ? ferry_db_config_unset (d->db, k, &error)
                                     : ferry_db_config_set (d->db, k, v, &error);
      if (!ok)
        goto rollback;
    }
  if (!ferry_db_commit (d->db, &error))
    goto rollback;
  ferry_respond_sync_empty (req->msg);
  return;

rollback:
  ferry_db_rollback (d->db);
  if (https_moved)
    ferry_https_set_address (d, https_address_before, NULL);
fail:
  ferry_respond_error (req->msg, error);
}

void
ferry_api_server_get (FerryRequest *req, FerryInstance *unused)
{
  /* An untrusted client gets no ETag, as from LXD: it may not change anything. */
  if (req->trusted)
    ferry_respond_sync_etag (req->msg, ferry_api_server_json (req->daemon), server_writable);
  else
    ferry_respond_sync (req->msg, untrusted_server_json ());
}

void
ferry_api_server_update (FerryRequest *req, FerryInstance *unused)
{
  update_server (req, strcmp (req->method, "PATCH") == 0);
}
