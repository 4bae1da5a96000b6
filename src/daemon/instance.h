/* Instances: the model (DB row + expanded config, snapshots), claiming one
 * for an operation (instance.c); their JSON is api/instance-json.c's. Their validation is
 * validate.h's, their lifecycle lifecycle.h's. */
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
  int exec_sessions;      /* exec sessions attached from outside */
};

/* The name reserved by a rename in progress: not an instance to show. */
gboolean ferry_instance_is_rename_placeholder (FerryInstance *inst);
FerryInstance *ferry_instance_lookup (FerryDaemon *d, const char *name, GError **error);
void ferry_instance_free (FerryInstance *inst);

gboolean ferry_instance_is_running (FerryDaemon *d, FerryInstance *inst);
/* Its snapshots, oldest first (from the render cache while a list
 * renders); NULL while it is being created. */
GPtrArray *ferry_instance_snapshots (FerryDaemon *d, FerryInstance *inst);

/* While a list renders many instances, they share one reading of the
 * profiles (parsed once) and of every instance's snapshots (one query),
 * instead of three profile queries and a snapshot query per instance. */
void ferry_instance_render_cache_begin (FerryDaemon *d);
void ferry_instance_render_cache_end (FerryDaemon *d);

/* Expanded config and devices: profiles in order, then the instance's own. */
GHashTable *ferry_instance_expanded_config (FerryDaemon *d, FerryInstance *inst);
/* Everything of the row parsed once, own and expanded, for its JSON. */
typedef struct
{
  char **profiles;
  JsonObject *config, *devices;
  GHashTable *own_config, *expanded_config;
  JsonObject *expanded_devices;
} FerryInstanceExpansion;
void ferry_instance_expand (FerryDaemon *d, FerryInstance *inst, FerryInstanceExpansion *x);
/* The same for a snapshot's stored texts, expanded with today's profiles as
 * LXD does. */
void ferry_instance_expand_texts (FerryDaemon *d, const char *profiles_json, const char *config_json,
                                  const char *devices_json, FerryInstanceExpansion *x);
void ferry_instance_expansion_clear (FerryInstanceExpansion *x);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FerryInstanceExpansion, ferry_instance_expansion_clear)
/* A row's stored JSON texts: its profile list, an object ({} if unset or
 * broken). */
char **ferry_instance_parse_profiles (const char *json);
JsonObject *ferry_instance_parse_object (const char *json);
JsonObject *ferry_instance_expanded_devices (FerryDaemon *d, FerryInstance *inst);

/* Marks the instance busy for op; FALSE with CONFLICT if it already is. */
gboolean ferry_instance_claim (FerryInstance *inst, FerryOperation *op, const char *what, GError **error);
void ferry_instance_release (FerryInstance *inst);
/* In an operation's done callback: the instance NAME it had claimed,
 * released; NULL if it is gone. */
FerryInstance *ferry_instance_release_by_name (FerryDaemon *d, const char *name);

/* The instance's own config (not expanded), as a new string map, and its
 * replacement. */
GHashTable *ferry_instance_own_config (FerryInstance *inst);
void ferry_instance_set_own_config (FerryInstance *inst, GHashTable *config);

/* Saves the row of an instance. */
gboolean ferry_instance_save (FerryDaemon *d, FerryInstance *inst, GError **error);

