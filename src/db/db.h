/* Ferry's state in SQLite: instances, snapshots, images, aliases, profiles and
 * server config. Rows carry their maps (config, devices, profiles) as JSON
 * text; the daemon owns their meaning. Used from the daemon's main thread only. */
#pragma once

#include <glib.h>

typedef struct FerryDb FerryDb;

typedef struct
{
  gint64 id;
  char *name;
  char *description;
  char *architecture;
  gboolean ephemeral;
  gboolean stateful;      /* saved state from a stateful stop exists */
  gint64 created_at;      /* unix microseconds */
  gint64 last_used_at;
  char *config_json;      /* {"key":"value"} */
  char *devices_json;     /* {"dev":{"key":"value"}} */
  char *profiles_json;    /* ["default"] */
} FerryDbInstance;

typedef struct
{
  gint64 id;
  gint64 instance_id;
  char *name;
  char *description;
  gboolean stateful;
  gint64 created_at;
  gint64 expires_at;
  char *config_json;
  char *devices_json;
  char *profiles_json;
  char *architecture;
  gboolean ephemeral;
} FerryDbSnapshot;

typedef struct
{
  char *fingerprint;
  char *filename;
  gint64 size;
  char *architecture;
  gboolean public_;
  gint64 created_at;
  gint64 uploaded_at;
  gint64 last_used_at;
  char *properties_json;  /* {"description":...} */
} FerryDbImage;

typedef struct
{
  char *name;
  char *fingerprint;
  char *description;
} FerryDbAlias;

typedef struct
{
  char *name;
  char *description;
  char *config_json;
  char *devices_json;
} FerryDbProfile;

void ferry_db_instance_free (FerryDbInstance *row);
void ferry_db_snapshot_free (FerryDbSnapshot *row);
void ferry_db_image_free (FerryDbImage *row);
void ferry_db_alias_free (FerryDbAlias *row);
void ferry_db_profile_free (FerryDbProfile *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbInstance, ferry_db_instance_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbSnapshot, ferry_db_snapshot_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbImage, ferry_db_image_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbAlias, ferry_db_alias_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbProfile, ferry_db_profile_free)

FerryDb *ferry_db_open (const char *path, GError **error);
void ferry_db_close (FerryDb *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDb, ferry_db_close)

/* Transactions, so that multi-row changes are all-or-nothing. */
gboolean ferry_db_begin (FerryDb *db, GError **error);
gboolean ferry_db_commit (FerryDb *db, GError **error);
void ferry_db_rollback (FerryDb *db);

/* Instances. insert fills row->id. */
GPtrArray *ferry_db_instance_list (FerryDb *db, GError **error);
gboolean ferry_db_instance_insert (FerryDb *db, FerryDbInstance *row, GError **error);
gboolean ferry_db_instance_update (FerryDb *db, const FerryDbInstance *row, GError **error);
gboolean ferry_db_instance_rename (FerryDb *db, gint64 id, const char *new_name, GError **error);
gboolean ferry_db_instance_delete (FerryDb *db, gint64 id, GError **error);

/* Snapshots of one instance, oldest first. */
GPtrArray *ferry_db_snapshot_list (FerryDb *db, gint64 instance_id, GError **error);
/* Snapshots of every instance, by instance id, each instance's oldest first. */
GPtrArray *ferry_db_snapshot_list_all (FerryDb *db, GError **error);
gboolean ferry_db_snapshot_insert (FerryDb *db, FerryDbSnapshot *row, GError **error);
gboolean ferry_db_snapshot_update (FerryDb *db, const FerryDbSnapshot *row, GError **error);
gboolean ferry_db_snapshot_delete (FerryDb *db, gint64 id, GError **error);

/* Images and aliases. */
GPtrArray *ferry_db_image_list (FerryDb *db, GError **error);
gboolean ferry_db_image_insert (FerryDb *db, const FerryDbImage *row, GError **error);
gboolean ferry_db_image_update (FerryDb *db, const FerryDbImage *row, GError **error);
gboolean ferry_db_image_delete (FerryDb *db, const char *fingerprint, GError **error);
GPtrArray *ferry_db_alias_list (FerryDb *db, GError **error);
gboolean ferry_db_alias_insert (FerryDb *db, const FerryDbAlias *row, GError **error);
gboolean ferry_db_alias_update (FerryDb *db, const char *name, const FerryDbAlias *row, GError **error);
gboolean ferry_db_alias_delete (FerryDb *db, const char *name, GError **error);

/* Profiles. */
GPtrArray *ferry_db_profile_list (FerryDb *db, GError **error);
gboolean ferry_db_profile_upsert (FerryDb *db, const FerryDbProfile *row, GError **error);
gboolean ferry_db_profile_rename (FerryDb *db, const char *name, const char *new_name, GError **error);
gboolean ferry_db_profile_delete (FerryDb *db, const char *name, GError **error);

/* Storage pools: DRIVER "dir" or "btrfs", CONFIG its keys (size, source). */
typedef struct
{
  char *name;
  char *driver;
  char *description;
  char *config_json;
} FerryDbPool;

void ferry_db_pool_free (FerryDbPool *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbPool, ferry_db_pool_free)
GPtrArray *ferry_db_pool_list (FerryDb *db, GError **error);
gboolean ferry_db_pool_insert (FerryDb *db, const FerryDbPool *row, GError **error);
gboolean ferry_db_pool_update (FerryDb *db, const FerryDbPool *row, GError **error);
gboolean ferry_db_pool_delete (FerryDb *db, const char *name, GError **error);

/* Server configuration (core.https_address, ...): a string->string table. */
GHashTable *ferry_db_config_get_all (FerryDb *db, GError **error);
gboolean ferry_db_config_set (FerryDb *db, const char *key, const char *value, GError **error);
gboolean ferry_db_config_unset (FerryDb *db, const char *key, GError **error);

/* Intents (see docs/durability.md): what an operation on INSTANCE is about
 * to do to its files (OP, with DATA as JSON), recorded before it starts and
 * settled (deleted) in the transaction that records its outcome. */
typedef struct
{
  gint64 id;
  char *instance;
  char *op;
  char *data_json;
  gint64 created_at;
} FerryDbIntent;

void ferry_db_intent_free (FerryDbIntent *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbIntent, ferry_db_intent_free)
GPtrArray *ferry_db_intent_list (FerryDb *db, GError **error);
/* Fills row->id. */
gboolean ferry_db_intent_add (FerryDb *db, FerryDbIntent *row, GError **error);
gboolean ferry_db_intent_settle (FerryDb *db, gint64 id, GError **error);

/* Trust store: client certificates trusted by the HTTPS API. */
typedef struct
{
  char *fingerprint; /* SHA-256 of the DER, lowercase hex */
  char *type;        /* "client" */
  char *name;
  char *certificate; /* PEM */
  gboolean restricted;
} FerryDbCertificate;

void ferry_db_certificate_free (FerryDbCertificate *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDbCertificate, ferry_db_certificate_free)
GPtrArray *ferry_db_certificate_list (FerryDb *db, GError **error);
gboolean ferry_db_certificate_insert (FerryDb *db, const FerryDbCertificate *row, GError **error);
gboolean ferry_db_certificate_delete (FerryDb *db, const char *fingerprint, GError **error);
