/* ferryd's shared state. One FerryDaemon per process; everything here is
 * touched from the main loop's thread only (worker threads get copies). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "db/db.h"
#include "storage/layout.h"

typedef struct FerryOperation FerryOperation;
typedef struct FerryInstance FerryInstance;
typedef struct FerryNetworks FerryNetworks;
typedef struct FerryRenderCache FerryRenderCache;
typedef struct FerrySnapshotScheduler FerrySnapshotScheduler;

typedef struct FerryDaemon
{
  FerryLayout *layout;  /* every path under --root (default /var/lib/ferry) */
  char *cgroup_parent;  /* cgroup directory holding this daemon's containers */
  char *monitor_path;   /* the ferry-monitor binary */
  char *server_name;

  FerryDb *db;
  SoupServer *server;          /* the unix socket */
  struct FerryHttps *https;    /* HTTPS listener, server certificate (tls.c) */
  GMainLoop *loop;

  GHashTable *instances;  /* name -> FerryInstance */
  GHashTable *pools;      /* name -> FerryStoragePool (storage.c) */
  GHashTable *operations; /* id -> FerryOperation */
  GPtrArray *listeners;   /* events websocket listeners */
  /* LXD's "requestor" of the request (or operation) being handled, for the
   * lifecycle events it causes; NULL outside of one (http.c). */
  JsonNode *requestor;
  FerryNetworks *networks; /* managed networks (network-manager.c) */
  GHashTable *netns_prefetch; /* init pid -> interfaces, while a list renders */
  GHashTable *state_prefetch; /* name -> FerryRuntimeState, while a list renders */
  FerryRenderCache *render_cache; /* profiles and snapshots, while a list renders */
  FerrySnapshotScheduler *snapshot_scheduler; /* snapshot-schedule.c */
  /* Called once an instance started (or restarted), for @startup snapshots;
   * NULL until the scheduler runs. */
  void (*instance_started) (struct FerryDaemon *d, FerryInstance *inst);

  /* Host facts computed once in a thread at start (CRIU probing is slow). */
  GMutex host_lock;
  GCond host_probed;
  char *criu_path;
  char *criu_version;
  char *criu_check;
  gint64 started_at;
} FerryDaemon;

FerryDaemon *ferry_daemon_get (void);
