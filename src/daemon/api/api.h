/* The LXD endpoints ferryd serves, one file per endpoint family, reached
 * through one table of routes (routes.c). A handler gets the request and,
 * for /1.0/instances/NAME/..., the instance (looked up by the router). */
#pragma once

#include "daemon/http/http.h"
#include "daemon/instance.h"
#include "daemon/operations.h"

typedef void (*FerryApiHandler) (FerryRequest *req, FerryInstance *inst);

/* Answers one request: the request handler of both listeners. */
void ferry_api_handle (FerryRequest *req);

/* GET /1.0 metadata (also bundled into bug reports). */
JsonNode *ferry_api_server_json (FerryDaemon *d);

/* The instance object as LXD returns it; with_state adds "state",
 * "snapshots" and "backups" (recursion=1 of one instance); the state; a
 * snapshot object (instance-json.c). */
JsonNode *ferry_instance_to_json (FerryDaemon *d, FerryInstance *inst, gboolean with_state);
JsonNode *ferry_snapshot_to_json (FerryDaemon *d, const FerryDbSnapshot *snap);
JsonNode *ferry_instance_state_json (FerryDaemon *d, FerryInstance *inst);

/* GET of a collection: with recursion=0 the URL PREFIX + NAME (NAME
 * escaped; PREFIX ends with "/") of each item, else TO_JSON (item, DATA) of each (collection.c). */
typedef const char *(*FerryApiItemName) (gpointer item);
typedef JsonNode *(*FerryApiItemJson) (gpointer item, gpointer data);
void ferry_api_respond_collection (FerryRequest *req, GPtrArray *items, const char *prefix, FerryApiItemName name,
                                   FerryApiItemJson to_json, gpointer data);

/* The handlers, by family (the files of this folder). */
void ferry_api_server_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_server_update (FerryRequest *req, FerryInstance *unused);

void ferry_api_instances_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_instances_create (FerryRequest *req, FerryInstance *unused);
void ferry_api_instance_get (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_update (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_delete (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_post (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_state_get (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_state_put (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_logs (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_log (FerryRequest *req, FerryInstance *inst);
void ferry_api_instance_console (FerryRequest *req, FerryInstance *inst);
void ferry_api_exec (FerryRequest *req, FerryInstance *inst);         /* exec.c */
void ferry_api_instance_files (FerryRequest *req, FerryInstance *inst); /* files.c */
void ferry_api_instance_metadata (FerryRequest *req, FerryInstance *inst);  /* metadata.c */
void ferry_api_instance_templates (FerryRequest *req, FerryInstance *inst); /* metadata.c */
void ferry_api_report (FerryRequest *req, FerryInstance *inst);       /* report.c */
void ferry_api_snapshots_list (FerryRequest *req, FerryInstance *inst);   /* snapshots.c */
void ferry_api_snapshots_create (FerryRequest *req, FerryInstance *inst);
void ferry_api_snapshot_get (FerryRequest *req, FerryInstance *inst);
void ferry_api_snapshot_delete (FerryRequest *req, FerryInstance *inst);
void ferry_api_snapshot_post (FerryRequest *req, FerryInstance *inst);
void ferry_api_snapshot_update (FerryRequest *req, FerryInstance *inst);

void ferry_api_backups_list (FerryRequest *req, FerryInstance *inst);     /* backups.c */
void ferry_api_backups_create (FerryRequest *req, FerryInstance *inst);
void ferry_api_backup_get (FerryRequest *req, FerryInstance *inst);
void ferry_api_backup_delete (FerryRequest *req, FerryInstance *inst);
void ferry_api_backup_rename (FerryRequest *req, FerryInstance *inst);
void ferry_api_backup_export (FerryRequest *req, FerryInstance *inst);
/* POST /1.0/instances with a backup tarball as body (lxc import). */
void ferry_api_backup_import (FerryRequest *req);
/* The instance's backups as recursion=1 shows them. */
JsonNode *ferry_backups_json (FerryDaemon *d, FerryInstance *inst);

void ferry_api_images_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_images_import (FerryRequest *req, FerryInstance *unused);
/* POST /1.0/images with a JSON body: publishing an instance (publish.c). */
void ferry_api_images_publish (FerryRequest *req);
void ferry_api_image_aliases_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_aliases_create (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_alias_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_alias_delete (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_alias_update (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_export (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_delete (FerryRequest *req, FerryInstance *unused);
void ferry_api_image_update (FerryRequest *req, FerryInstance *unused);

void ferry_api_profiles_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_profiles_create (FerryRequest *req, FerryInstance *unused);
void ferry_api_profile_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_profile_update (FerryRequest *req, FerryInstance *unused);
void ferry_api_profile_delete_or_rename (FerryRequest *req, FerryInstance *unused);

void ferry_api_storage_pools_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_pools_create (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_pool_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_pool_update (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_pool_delete (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_pool_resources (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_volumes_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_storage_volumes_create (FerryRequest *req, FerryInstance *unused);

void ferry_api_networks_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_networks_create (FerryRequest *req, FerryInstance *unused);
void ferry_api_network_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_network_update (FerryRequest *req, FerryInstance *unused);
void ferry_api_network_delete (FerryRequest *req, FerryInstance *unused);
void ferry_api_network_rename (FerryRequest *req, FerryInstance *unused);
void ferry_api_network_state (FerryRequest *req, FerryInstance *unused);
void ferry_api_network_leases (FerryRequest *req, FerryInstance *unused);
/* Adds /1.0/networks/NAME of each network to URLS, sorted. */
void ferry_api_network_urls (FerryDaemon *d, GPtrArray *urls);

/* /1.0/projects: the default project only (projects.c). */
void ferry_api_projects_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_projects_create (FerryRequest *req, FerryInstance *unused);
void ferry_api_project_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_project_update (FerryRequest *req, FerryInstance *unused);
void ferry_api_project_delete_or_rename (FerryRequest *req, FerryInstance *unused);
/* ?project= of any request: TRUE for none or "default"; else answers 404
 * "Project not found" and returns FALSE. */
gboolean ferry_api_project_check (FerryRequest *req);

/* GET /1.0/resources (resources.c). */
void ferry_api_resources (FerryRequest *req, FerryInstance *unused);

/* /1.0/warnings (warnings.c). */
void ferry_api_warnings_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_warning_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_warning_update (FerryRequest *req, FerryInstance *unused);
void ferry_api_warning_delete (FerryRequest *req, FerryInstance *unused);

void ferry_api_certificates_list (FerryRequest *req, FerryInstance *unused);
void ferry_api_certificates_add (FerryRequest *req, FerryInstance *unused);
void ferry_api_certificate_get (FerryRequest *req, FerryInstance *unused);
void ferry_api_certificate_delete (FerryRequest *req, FerryInstance *unused);

/* GET/DELETE /1.0/operations[/ID[/wait|/websocket]] and GET /1.0/events. */
void ferry_api_operations (FerryRequest *req, FerryInstance *unused);   /* operations.c */
void ferry_api_events (FerryRequest *req, FerryInstance *unused);       /* events.c */
