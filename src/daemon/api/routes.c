/* The one table of LXD endpoints: path pattern, method, handler. */
#include "daemon/api/api.h"

#include <string.h>

enum
{
  ROUTE_UNTRUSTED = 1 << 0, /* open to clients ferryd does not trust */
  ROUTE_INSTANCE = 1 << 1,  /* parts[1] names an instance, looked up first */
};

typedef struct
{
  const char *pattern; /* segments after /1.0/; "*" is one, a final "**" any number */
  const char *method;  /* NULL: any (the handler answers the others) */
  FerryApiHandler handler;
  unsigned flags;
} FerryApiRoute;

static void
not_allowed (FerryRequest *req, FerryInstance *unused)
{
  ferry_respond_not_allowed (req->msg);
}

static void
snapshot_not_found (FerryRequest *req, FerryInstance *unused)
{
  ferry_respond_error_literal (req->msg, 404, "Snapshot not found");
}

static void
alias_not_found (FerryRequest *req, FerryInstance *unused)
{
  ferry_respond_error_literal (req->msg, 404, "Image alias not found");
}

static void
network_not_found (FerryRequest *req, FerryInstance *unused)
{
  ferry_respond_error_literal (req->msg, 404, "Network not found");
}

static void
image_not_found (FerryRequest *req, FerryInstance *unused)
{
  ferry_respond_error_literal (req->msg, 404, "Image not found");
}

static void
profile_not_found (FerryRequest *req, FerryInstance *unused)
{
  ferry_respond_error_literal (req->msg, 404, "Fetch profile: Profile not found");
}

/* What LXD answers to a client it does not trust: the API's root, the
 * certificate request of remote add, and operation websockets (a migration
 * peer proves itself by the secret). */
static const FerryApiRoute routes[] = {
  { "", "GET", ferry_api_server_get, ROUTE_UNTRUSTED },
  { "", "PUT", ferry_api_server_update, 0 },
  { "", "PATCH", ferry_api_server_update, 0 },

  { "instances", "GET", ferry_api_instances_list, 0 },
  { "instances", "POST", ferry_api_instances_create, 0 },
  { "instances/*", "GET", ferry_api_instance_get, ROUTE_INSTANCE },
  { "instances/*", "PUT", ferry_api_instance_update, ROUTE_INSTANCE },
  { "instances/*", "PATCH", ferry_api_instance_update, ROUTE_INSTANCE },
  { "instances/*", "DELETE", ferry_api_instance_delete, ROUTE_INSTANCE },
  { "instances/*", "POST", ferry_api_instance_post, ROUTE_INSTANCE },
  { "instances/*/state", "GET", ferry_api_instance_state_get, ROUTE_INSTANCE },
  { "instances/*/state", "PUT", ferry_api_instance_state_put, ROUTE_INSTANCE },
  { "instances/*/exec", "POST", ferry_api_exec, ROUTE_INSTANCE },
  { "instances/*/files", "GET", ferry_api_instance_files, ROUTE_INSTANCE },
  { "instances/*/files", "POST", ferry_api_instance_files, ROUTE_INSTANCE },
  { "instances/*/files", "DELETE", ferry_api_instance_files, ROUTE_INSTANCE },
  { "instances/*/metadata", "GET", ferry_api_instance_metadata, ROUTE_INSTANCE },
  { "instances/*/metadata", "PUT", ferry_api_instance_metadata, ROUTE_INSTANCE },
  { "instances/*/metadata", "PATCH", ferry_api_instance_metadata, ROUTE_INSTANCE },
  { "instances/*/metadata/templates", "GET", ferry_api_instance_templates, ROUTE_INSTANCE },
  { "instances/*/metadata/templates", "POST", ferry_api_instance_templates, ROUTE_INSTANCE },
  { "instances/*/metadata/templates", "PUT", ferry_api_instance_templates, ROUTE_INSTANCE },
  { "instances/*/metadata/templates", "DELETE", ferry_api_instance_templates, ROUTE_INSTANCE },
  { "instances/*/logs", "GET", ferry_api_instance_logs, ROUTE_INSTANCE },
  { "instances/*/logs/*", "GET", ferry_api_instance_log, ROUTE_INSTANCE },
  { "instances/*/logs/*", "DELETE", ferry_api_instance_log, ROUTE_INSTANCE },
  { "instances/*/console", NULL, ferry_api_instance_console, ROUTE_INSTANCE },
  { "instances/*/report", "GET", ferry_api_report, ROUTE_INSTANCE },
  { "instances/*/snapshots", "GET", ferry_api_snapshots_list, ROUTE_INSTANCE },
  { "instances/*/snapshots", "POST", ferry_api_snapshots_create, ROUTE_INSTANCE },
  { "instances/*/snapshots/*", "GET", ferry_api_snapshot_get, ROUTE_INSTANCE },
  { "instances/*/snapshots/*", "DELETE", ferry_api_snapshot_delete, ROUTE_INSTANCE },
  { "instances/*/snapshots/*", "POST", ferry_api_snapshot_post, ROUTE_INSTANCE },
  { "instances/*/snapshots/*", "PUT", ferry_api_snapshot_update, ROUTE_INSTANCE },
  { "instances/*/snapshots/*", "PATCH", ferry_api_snapshot_update, ROUTE_INSTANCE },
  { "instances/*/snapshots/*/*/**", NULL, snapshot_not_found, ROUTE_INSTANCE },
  { "instances/*/backups", "GET", ferry_api_backups_list, ROUTE_INSTANCE },
  { "instances/*/backups", "POST", ferry_api_backups_create, ROUTE_INSTANCE },
  { "instances/*/backups/*", "GET", ferry_api_backup_get, ROUTE_INSTANCE },
  { "instances/*/backups/*", "DELETE", ferry_api_backup_delete, ROUTE_INSTANCE },
  { "instances/*/backups/*", "POST", ferry_api_backup_rename, ROUTE_INSTANCE },
  { "instances/*/backups/*/export", "GET", ferry_api_backup_export, ROUTE_INSTANCE },

  { "images", "GET", ferry_api_images_list, 0 },
  { "images", "POST", ferry_api_images_import, 0 },
  { "images/aliases", "GET", ferry_api_image_aliases_list, 0 },
  { "images/aliases", "POST", ferry_api_image_aliases_create, 0 },
  { "images/aliases/*", "GET", ferry_api_image_alias_get, 0 },
  { "images/aliases/*", "DELETE", ferry_api_image_alias_delete, 0 },
  { "images/aliases/*", "PUT", ferry_api_image_alias_update, 0 },
  { "images/aliases/*", "PATCH", ferry_api_image_alias_update, 0 },
  { "images/aliases/*", "POST", ferry_api_image_alias_update, 0 },
  { "images/aliases/*/*/**", NULL, alias_not_found, 0 },
  /* Not images named "aliases": the other methods of these paths. */
  { "images/aliases", NULL, not_allowed, 0 },
  { "images/aliases/*", NULL, not_allowed, 0 },
  { "images/*", "GET", ferry_api_image_get, 0 },
  { "images/*", "DELETE", ferry_api_image_delete, 0 },
  { "images/*", "PUT", ferry_api_image_update, 0 },
  { "images/*", "PATCH", ferry_api_image_update, 0 },
  { "images/*/export", "GET", ferry_api_image_export, 0 },
  { "images/*/*/**", NULL, image_not_found, 0 },

  { "profiles", "GET", ferry_api_profiles_list, 0 },
  { "profiles", "POST", ferry_api_profiles_create, 0 },
  { "profiles/*", "GET", ferry_api_profile_get, 0 },
  { "profiles/*", "PUT", ferry_api_profile_update, 0 },
  { "profiles/*", "PATCH", ferry_api_profile_update, 0 },
  { "profiles/*", "DELETE", ferry_api_profile_delete_or_rename, 0 },
  { "profiles/*", "POST", ferry_api_profile_delete_or_rename, 0 },
  { "profiles/*/*/**", NULL, profile_not_found, 0 },

  { "networks", "GET", ferry_api_networks_list, 0 },
  { "networks", "POST", ferry_api_networks_create, 0 },
  { "networks/*", "GET", ferry_api_network_get, 0 },
  { "networks/*", "PUT", ferry_api_network_update, 0 },
  { "networks/*", "PATCH", ferry_api_network_update, 0 },
  { "networks/*", "DELETE", ferry_api_network_delete, 0 },
  { "networks/*", "POST", ferry_api_network_rename, 0 },
  { "networks/*/state", "GET", ferry_api_network_state, 0 },
  { "networks/*/leases", "GET", ferry_api_network_leases, 0 },
  { "networks/*/*/**", NULL, network_not_found, 0 },

  { "storage-pools", "GET", ferry_api_storage_pools_list, 0 },
  { "storage-pools", "POST", ferry_api_storage_pools_create, 0 },
  { "storage-pools/*", "GET", ferry_api_storage_pool_get, 0 },
  { "storage-pools/*", "PUT", ferry_api_storage_pool_update, 0 },
  { "storage-pools/*", "PATCH", ferry_api_storage_pool_update, 0 },
  { "storage-pools/*", "DELETE", ferry_api_storage_pool_delete, 0 },
  { "storage-pools/*/resources", "GET", ferry_api_storage_pool_resources, 0 },
  { "storage-pools/*/volumes", "GET", ferry_api_storage_volumes_list, 0 },
  { "storage-pools/*/volumes", "POST", ferry_api_storage_volumes_create, 0 },
  { "storage-pools/*/volumes/*", "POST", ferry_api_storage_volumes_create, 0 },

  { "certificates", "GET", ferry_api_certificates_list, 0 },
  { "certificates", "POST", ferry_api_certificates_add, ROUTE_UNTRUSTED },
  { "certificates/*", "GET", ferry_api_certificate_get, 0 },
  { "certificates/*", "DELETE", ferry_api_certificate_delete, 0 },

  { "resources", "GET", ferry_api_resources, 0 },

  { "projects", "GET", ferry_api_projects_list, 0 },
  { "projects", "POST", ferry_api_projects_create, 0 },
  { "projects/*", "GET", ferry_api_project_get, 0 },
  { "projects/*", "PUT", ferry_api_project_update, 0 },
  { "projects/*", "PATCH", ferry_api_project_update, 0 },
  { "projects/*", "DELETE", ferry_api_project_delete_or_rename, 0 },
  { "projects/*", "POST", ferry_api_project_delete_or_rename, 0 },

  { "warnings", "GET", ferry_api_warnings_list, 0 },
  { "warnings/*", "GET", ferry_api_warning_get, 0 },
  { "warnings/*", "PUT", ferry_api_warning_update, 0 },
  { "warnings/*", "PATCH", ferry_api_warning_update, 0 },
  { "warnings/*", "DELETE", ferry_api_warning_delete, 0 },

  { "operations/*/websocket", "GET", ferry_api_operations, ROUTE_UNTRUSTED },
  { "operations/**", NULL, ferry_api_operations, 0 },
  { "events", "GET", ferry_api_events, 0 },
};

/* Segment INDEX of a path against LEN bytes of a pattern ("*": any);
 * "containers" is LXD's older name of "instances". */
static gboolean
segment_matches (const char *pattern, gsize len, const char *segment, guint index)
{
  if (len == 1 && pattern[0] == '*')
    return TRUE;
  if (index == 0 && strcmp (segment, "containers") == 0)
    segment = "instances";
  return strlen (segment) == len && strncmp (pattern, segment, len) == 0;
}

static gboolean
path_matches (const char *pattern, FerryRequest *req)
{
  const char *p = pattern;
  guint i = 0;

  while (*p != '\0')
    {
      const char *end = strchrnul (p, '/');

      if (end - p == 2 && p[0] == '*' && p[1] == '*' && *end == '\0')
        return TRUE;
      if (i >= req->n_parts || !segment_matches (p, end - p, req->parts[i], i))
        return FALSE;
      i++;
      p = *end == '/' ? end + 1 : end;
    }
  return i == req->n_parts;
}

/* The instance /1.0/instances/NAME/... names (parts[1]), or NULL. */
static FerryInstance *
instance_of (FerryRequest *req)
{
  FerryInstance *inst = ferry_instance_lookup (req->daemon, req->parts[1], NULL);

  return inst == NULL || ferry_instance_is_rename_placeholder (inst) ? NULL : inst;
}

static void
answer (FerryRequest *req, const FerryApiRoute *route)
{
  FerryInstance *inst = NULL;

  if ((route->flags & ROUTE_INSTANCE) && (inst = instance_of (req)) == NULL)
    ferry_respond_error_literal (req->msg, 404, "Instance not found");
  else
    route->handler (req, inst);
}

void
ferry_api_handle (FerryRequest *req)
{
  const FerryApiRoute *path_route = NULL;

  /* Ferry has one project: another one named is refused on every
   * endpoint, before anything is read or changed. */
  if (req->trusted && !ferry_api_project_check (req))
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      const FerryApiRoute *r = &routes[i];

      if (!req->trusted && !(r->flags & ROUTE_UNTRUSTED))
        continue;
      if (!path_matches (r->pattern, req))
        continue;
      if (r->method == NULL || strcmp (r->method, req->method) == 0)
        {
          answer (req, r);
          return;
        }
      if (path_route == NULL)
        path_route = r;
    }
  if (!req->trusted)
    ferry_respond_error_literal (req->msg, 403, "not authorized");
  else if (path_route == NULL && path_matches ("instances/*/**", req))
    /* Unknown below an instance: 404, naming the instance if it is missing. */
    ferry_respond_error_literal (req->msg, 404, instance_of (req) == NULL ? "Instance not found" : "not found");
  else if (path_route == NULL)
    ferry_respond_error_literal (req->msg, 404, "not found");
  else if ((path_route->flags & ROUTE_INSTANCE) && instance_of (req) == NULL)
    /* As before the table: a missing instance is 404 whatever the method. */
    ferry_respond_error_literal (req->msg, 404, "Instance not found");
  else
    ferry_respond_not_allowed (req->msg);
}
