/* GET/PUT/PATCH /1.0: server information and server configuration. */
#include "config.h"
#include "daemon/api/api.h"
#include "daemon/hostinfo.h"
#include "daemon/http/tls.h"
#include "common/cert.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

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

/* What LXD's clients check before using a feature (lxd-client-api.md 1.6). */
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
  "network_dhcp_expiry",
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
  "container_edit_metadata",
  NULL,
};

static void
add_string (JsonObject *o, const char *k, const char *v)
{
  json_object_set_string_member (o, k, v ? v : "");
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
  json_object_set_member (env, "addresses", ferry_https_addresses_json (d));
  json_object_set_array_member (env, "architectures", arches);
  add_string (env, "certificate", d->https != NULL ? d->https->cert_pem : "");
  add_string (env, "certificate_fingerprint", d->https != NULL ? d->https->fingerprint : "");
  add_string (env, "driver", "ferry");
  add_string (env, "driver_version", FERRY_VERSION);
  add_string (env, "firewall", "nftables");
  add_string (env, "kernel", uts.sysname);
  add_string (env, "kernel_architecture", uts.machine);
  add_string (env, "kernel_version", uts.release);
  add_string (env, "os_name", host->os_name);
  add_string (env, "os_version", host->os_version);
  add_string (env, "project", "default");
  add_string (env, "server", "ferry");
  json_object_set_boolean_member (env, "server_clustered", FALSE);
  add_string (env, "server_name", d->server_name);
  json_object_set_int_member (env, "server_pid", getpid ());
  add_string (env, "server_version", FERRY_VERSION);
  add_string (env, "storage", "dir");
  add_string (env, "storage_version", "1");
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

static void
update_server (FerryRequest *req, gboolean patch)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  JsonObject *config_obj = NULL;
  g_autoptr (GHashTable) config = NULL;
  g_autoptr (GHashTable) old = NULL;
  GHashTableIter iter;
  gpointer k, v;
  g_autofree char *https_address_before = NULL;
  gboolean https_moved = FALSE;

  if (body == NULL || !ferry_json_get_object (body, "config", &config_obj, &error)
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
  ferry_respond_sync (req->msg, NULL);
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
  ferry_respond_sync (req->msg, req->trusted ? ferry_api_server_json (req->daemon) : untrusted_server_json ());
}

void
ferry_api_server_update (FerryRequest *req, FerryInstance *unused)
{
  update_server (req, strcmp (req->method, "PATCH") == 0);
}
