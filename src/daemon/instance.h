/* Instances: the model (DB row + expanded config), its JSON in LXD's shape,
 * validation of user config, and lifecycle steps run as operations. */
#pragma once

#include "daemon/daemon.h"
#include "daemon/operations.h"

struct FerryInstance
{
  FerryDbInstance *row;
  FerryOperation *busy;   /* the operation changing this instance, or NULL */
  char *busy_what;        /* "start", "stop", ... for the "busy" error */
  gboolean creating;      /* not in the database yet */
  int monitor_pidfd;
  guint monitor_watch;
};

FerryInstance *ferry_instance_lookup (FerryDaemon *d, const char *name, GError **error);
void ferry_instance_free (FerryInstance *inst);

/* Loads every instance from the database and re-attaches to running ones;
 * starts those that were running when the host went down. */
gboolean ferry_instances_load (FerryDaemon *d, GError **error);

/* The instance object as LXD returns it; with_state adds "state",
 * "snapshots" and "backups" (recursion=1 of one instance). */
JsonNode *ferry_instance_to_json (FerryDaemon *d, FerryInstance *inst, gboolean with_state);
JsonNode *ferry_instance_state_json (FerryDaemon *d, FerryInstance *inst);
gboolean ferry_instance_is_running (FerryDaemon *d, FerryInstance *inst);

/* Expanded config and devices: profiles in order, then the instance's own. */
GHashTable *ferry_instance_expanded_config (FerryDaemon *d, FerryInstance *inst);
JsonObject *ferry_instance_expanded_devices (FerryDaemon *d, FerryInstance *inst);

/* Validation of user-supplied config keys/values and devices. */
gboolean ferry_config_validate (GHashTable *config, gboolean from_profile, GError **error);
gboolean ferry_devices_validate (JsonObject *devices, GError **error);
gboolean ferry_parse_size (const char *text, gint64 *bytes, GError **error);

/* Marks the instance busy for op; FALSE with CONFLICT if it already is. */
gboolean ferry_instance_claim (FerryInstance *inst, FerryOperation *op, const char *what, GError **error);
void ferry_instance_release (FerryInstance *inst);

/* Lifecycle operations (return an operation already running). */
FerryOperation *ferry_instance_start (FerryDaemon *d, FerryInstance *inst, GError **error);
FerryOperation *ferry_instance_stop (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force,
                                     GError **error);
FerryOperation *ferry_instance_restart (FerryDaemon *d, FerryInstance *inst, gint64 timeout, gboolean force,
                                        GError **error);
FerryOperation *ferry_instance_freeze (FerryDaemon *d, FerryInstance *inst, gboolean freeze, GError **error);
FerryOperation *ferry_instance_delete (FerryDaemon *d, FerryInstance *inst, GError **error);
FerryOperation *ferry_instance_rename (FerryDaemon *d, FerryInstance *inst, const char *new_name, GError **error);

/* Saves the row of an instance. */
gboolean ferry_instance_save (FerryDaemon *d, FerryInstance *inst, GError **error);

/* Runs `ferry-monitor ARGS...`; on failure the error carries its stderr. */
gboolean ferry_run_monitor (FerryDaemon *d, const char *const *argv, char **stdout_text, GError **error);
