/* Instance backups as LXD 5.0 has them (lxc export / lxc import): backups
 * of an instance are tarballs in its directory (containers/NAME/backups/
 * BACKUP/{backup.tar,info.json}, so a rename or delete of the instance
 * takes them along); the file layout is image/backup.h's. An import
 * stages everything under containers/.import-XXXXXX, moves it into place
 * and records the rows in one transaction: killed before that, ferryd's
 * next start removes what no instance owns (docs/durability.md). */
#include "daemon/network-manager.h"
#include "daemon/api/api.h"
#include "daemon/http/http-guard.h"
#include "daemon/idmaps.h"
#include "daemon/storage.h"
#include "daemon/validate.h"
#include "image/backup.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/testhook.h"
#include "common/timeutil.h"
#include "common/yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define BACKUP_FILE "backup.tar"
#define BACKUP_INFO "info.json"

/* ---- the store ---- */

typedef struct
{
  char *name;
  gint64 created_at, expires_at;
  gboolean instance_only, optimized_storage;
} BackupInfo;

static void
backup_info_free (BackupInfo *b)
{
  g_free (b->name);
  g_free (b);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BackupInfo, backup_info_free)

static char *
backup_dir (FerryDaemon *d, const char *instance, const char *backup)
{
  g_autofree char *dir = ferry_layout_backups_dir (d->layout, instance);
  return g_build_filename (dir, backup, NULL);
}

static gint64
parse_time (const char *text)
{
  g_autoptr (GDateTime) dt = text != NULL && *text != '\0' ? g_date_time_new_from_iso8601 (text, NULL) : NULL;

  return dt != NULL && g_date_time_to_unix (dt) > 0 ? g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt) : 0;
}

static gboolean
time_valid (const char *text)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (text, NULL);
  return dt != NULL;
}

static BackupInfo *
backup_load (FerryDaemon *d, const char *instance, const char *backup)
{
  g_autofree char *dir = backup_dir (d, instance, backup);
  g_autofree char *info_path = g_build_filename (dir, BACKUP_INFO, NULL);
  g_autofree char *text = NULL;
  g_autoptr (JsonObject) o = NULL;
  BackupInfo *b;
  gsize len = 0;

  if (*backup == '.' || !g_file_get_contents (info_path, &text, &len, NULL)
      || (o = ferry_json_parse_object (text, len, FALSE, NULL)) == NULL)
    return NULL;
  b = g_new0 (BackupInfo, 1);
  b->name = g_strdup (backup);
  b->created_at = json_object_get_int_member_with_default (o, "created_at", 0);
  b->expires_at = json_object_get_int_member_with_default (o, "expires_at", 0);
  b->instance_only = json_object_get_boolean_member_with_default (o, "instance_only", FALSE);
  b->optimized_storage = json_object_get_boolean_member_with_default (o, "optimized_storage", FALSE);
  return b;
}

static char *
backup_info_text (const BackupInfo *b)
{
  g_autoptr (JsonObject) o = json_object_new ();
  g_autoptr (JsonNode) n = json_node_new (JSON_NODE_OBJECT);

  json_object_set_int_member (o, "created_at", b->created_at);
  json_object_set_int_member (o, "expires_at", b->expires_at);
  json_object_set_boolean_member (o, "instance_only", b->instance_only);
  json_object_set_boolean_member (o, "optimized_storage", b->optimized_storage);
  json_node_set_object (n, o);
  return ferry_json_to_string (n, FALSE);
}

static int
compare_backups (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(BackupInfo *const *) a)->name, (*(BackupInfo *const *) b)->name);
}

/* The instance's backups, by name; expired ones are removed on the way, as
 * LXD's hourly pruning would have. */
static GPtrArray *
backup_list (FerryDaemon *d, const char *instance)
{
  g_autofree char *dir = ferry_layout_backups_dir (d->layout, instance);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) backup_info_free);
  g_autoptr (GDir) gd = g_dir_open (dir, 0, NULL);
  gint64 now = ferry_time_now ();

  for (const char *e; gd != NULL && (e = g_dir_read_name (gd)) != NULL;)
    {
      BackupInfo *b = backup_load (d, instance, e);

      if (b == NULL)
        continue;
      if (b->expires_at > 0 && b->expires_at <= now)
        {
          g_autofree char *path = g_build_filename (dir, e, NULL);
          ferry_rm_rf (path, NULL);
          backup_info_free (b);
          continue;
        }
      g_ptr_array_add (out, b);
    }
  g_ptr_array_sort (out, compare_backups);
  return out;
}

static BackupInfo *
backup_find (FerryDaemon *d, const char *instance, const char *backup)
{
  g_autoptr (GPtrArray) all = backup_list (d, instance);

  for (guint i = 0; i < all->len; i++)
    if (strcmp (((BackupInfo *) g_ptr_array_index (all, i))->name, backup) == 0)
      return g_ptr_array_steal_index (all, i);
  return NULL;
}

static gboolean
backup_name_validate (const char *name, GError **error)
{
  if (!ferry_name_validate_snapshot (name, error))
    {
      g_prefix_error (error, "Invalid backup name: ");
      return FALSE;
    }
  if (name[0] == '.')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid backup name \"%s\": it may not begin with \".\"",
                   name);
      return FALSE;
    }
  return TRUE;
}

static JsonNode *
backup_json (gpointer item, gpointer data)
{
  BackupInfo *b = item;
  JsonObject *o = json_object_new ();
  JsonNode *n = json_node_new (JSON_NODE_OBJECT);
  /* LXD shows a backup's creation in whole seconds. */
  g_autofree char *created = ferry_time_rfc3339 (b->created_at - b->created_at % G_USEC_PER_SEC);
  g_autofree char *expires = ferry_time_rfc3339 (b->expires_at);

  json_object_set_string_member (o, "name", b->name);
  json_object_set_string_member (o, "created_at", created);
  json_object_set_string_member (o, "expires_at", expires);
  json_object_set_boolean_member (o, "instance_only", b->instance_only);
  json_object_set_boolean_member (o, "container_only", b->instance_only);
  json_object_set_boolean_member (o, "optimized_storage", b->optimized_storage);
  json_node_take_object (n, o);
  return n;
}

static const char *
backup_name_of (gpointer item)
{
  return ((BackupInfo *) item)->name;
}

JsonNode *
ferry_backups_json (FerryDaemon *d, FerryInstance *inst)
{
  g_autoptr (GPtrArray) all = backup_list (d, inst->row->name);
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; i < all->len; i++)
    json_array_add_element (arr, backup_json (g_ptr_array_index (all, i), NULL));
  json_node_take_array (node, arr);
  return node;
}

void
ferry_api_backups_list (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) all = backup_list (req->daemon, inst->row->name);
  g_autofree char *escaped = g_uri_escape_string (inst->row->name, NULL, FALSE);
  g_autofree char *prefix = g_strdup_printf ("/1.0/instances/%s/backups/", escaped);

  ferry_api_respond_collection (req, all, prefix, backup_name_of, backup_json, NULL);
}

void
ferry_api_backup_get (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (BackupInfo) b = backup_find (req->daemon, inst->row->name, req->parts[3]);

  if (b == NULL)
    ferry_respond_error_literal (req->msg, 404, "Load backup from database: Instance backup not found");
  else
    ferry_respond_sync (req->msg, backup_json (b, NULL));
}

/* ---- creating one (lxc export) ---- */

typedef struct
{
  FerryDaemon *daemon;
  char *instance;
  char *backups_dir;
  char *tmp_dir; /* backups/.tmp-XXXXXX while it is written */
  char *compression;
  char *index_yaml, *backup_yaml;
  GPtrArray *part_dirs; /* char *: the instance's directory, then each snapshot's */
  GPtrArray *part_names; /* char *: "container", "snapshots/SNAP" */
  BackupInfo *info;
} CreateData;

static void
create_data_free (CreateData *data)
{
  if (data->tmp_dir != NULL)
    ferry_rm_rf (data->tmp_dir, NULL);
  g_free (data->instance);
  g_free (data->backups_dir);
  g_free (data->tmp_dir);
  g_free (data->compression);
  g_free (data->index_yaml);
  g_free (data->backup_yaml);
  g_ptr_array_unref (data->part_dirs);
  g_ptr_array_unref (data->part_names);
  backup_info_free (data->info);
  g_free (data);
}

static gboolean
write_tarball (CreateData *data, const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  ferry_autofd int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  for (guint i = 0; i < data->part_dirs->len; i++)
    {
      FerryBackupPart *p = g_new0 (FerryBackupPart, 1);
      p->tar_dir = g_ptr_array_index (data->part_names, i);
      p->disk_dir = g_ptr_array_index (data->part_dirs, i);
      g_ptr_array_add (parts, p);
    }
  if (!ferry_backup_write (fd, data->compression, data->index_yaml, data->backup_yaml, parts, cancellable, error))
    return FALSE;
  if (fsync (fd) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Syncing %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* What a ferryd killed while writing a backup left. The instance is
 * claimed: no other backup of it is being written. */
static void
remove_unfinished (const char *backups_dir)
{
  g_autoptr (GDir) gd = g_dir_open (backups_dir, 0, NULL);

  for (const char *e; gd != NULL && (e = g_dir_read_name (gd)) != NULL;)
    if (g_str_has_prefix (e, ".tmp-"))
      {
        g_autofree char *path = g_build_filename (backups_dir, e, NULL);
        g_message ("Removing %s, an unfinished backup", path);
        ferry_rm_rf (path, NULL);
      }
}

static gboolean
create_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  CreateData *data = user_data;
  g_autofree char *tmpl = g_build_filename (data->backups_dir, ".tmp-XXXXXX", NULL);
  g_autofree char *file = NULL, *info_path = NULL, *info = NULL, *final = NULL;

  if (!ferry_mkdir_p (data->backups_dir, 0700, error))
    return FALSE;
  remove_unfinished (data->backups_dir);
  if (g_mkdtemp_full (tmpl, 0700) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", tmpl, g_strerror (errno));
      return FALSE;
    }
  data->tmp_dir = g_strdup (tmpl);
  file = g_build_filename (data->tmp_dir, BACKUP_FILE, NULL);
  info_path = g_build_filename (data->tmp_dir, BACKUP_INFO, NULL);
  info = backup_info_text (data->info);
  final = g_build_filename (data->backups_dir, data->info->name, NULL);
  if (!write_tarball (data, file, cancellable, error)
      || !ferry_write_file_atomic (info_path, info, -1, 0600, error))
    {
      g_prefix_error (error, "Backup of %s: ", data->instance);
      return FALSE;
    }
  ferry_test_crash_point ("backup-before-rename");
  /* Listed only once complete: the directory appears by one rename. */
  if (!ferry_rename_durable (data->tmp_dir, final, error))
    return FALSE;
  g_clear_pointer (&data->tmp_dir, g_free);
  return TRUE;
}

static void
create_done (FerryOperation *op, gpointer user_data, GError **error)
{
  CreateData *data = user_data;
  FerryDaemon *d = data->daemon;
  g_autofree char *source = NULL;

  ferry_instance_release_by_name (d, data->instance);
  if (*error != NULL)
    return;
  source = g_strdup_printf ("/1.0/instances/%s/backups/%s", data->instance, data->info->name);
  ferry_events_lifecycle (d, "instance-backup-created", source, NULL);
}

static char *
next_backup_name (FerryDaemon *d, const char *instance)
{
  g_autofree char *dir = ferry_layout_backups_dir (d->layout, instance);

  for (guint i = 0;; i++)
    {
      g_autofree char *name = g_strdup_printf ("backup%u", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        return g_steal_pointer (&name);
    }
}

/* LXD's index.yaml (backup.Info of LXD 5.0) for a dir pool, with
 * backup.yaml's content embedded as LXD 5.0 does. */
static char *
index_yaml (const char *name, GPtrArray *snaps, gboolean instance_only, JsonNode *config)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "backend");
  json_builder_add_string_value (b, "dir");
  json_builder_set_member_name (b, "pool");
  json_builder_add_string_value (b, "default");
  if (!instance_only && snaps != NULL && snaps->len > 0)
    {
      json_builder_set_member_name (b, "snapshots");
      json_builder_begin_array (b);
      for (guint i = 0; i < snaps->len; i++)
        json_builder_add_string_value (b, ((FerryDbSnapshot *) g_ptr_array_index (snaps, i))->name);
      json_builder_end_array (b);
    }
  json_builder_set_member_name (b, "optimized");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "optimized_header");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "container");
  json_builder_set_member_name (b, "config");
  json_builder_add_value (b, json_node_copy (config));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ferry_yaml_write (root);
}

static JsonNode *
parse_node (const char *text)
{
  return ferry_json_parse (text, -1, NULL);
}

/* LXD's backup.yaml: the instance, its snapshots, the pool and volume. */
static JsonNode *
backup_config (FerryDaemon *d, FerryInstance *inst, GPtrArray *snaps, gboolean instance_only)
{
  JsonNode *root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *o = json_object_new ();
  JsonNode *container = ferry_instance_to_json (d, inst, FALSE);
  JsonObject *c = json_node_get_object (container);
  JsonArray *arr = json_array_new ();
  g_autofree char *pool_text = g_strdup (
      "{\"name\":\"default\",\"description\":\"\",\"driver\":\"dir\",\"status\":\"Created\",\"config\":{},"
      "\"used_by\":[],\"locations\":[\"none\"]}");
  g_autofree char *volume_text = NULL;
  g_autofree char *escaped = NULL;

  /* What the API adds about the running instance is not part of it. */
  json_object_remove_member (c, "state");
  json_object_remove_member (c, "snapshots");
  json_object_remove_member (c, "backups");
  json_object_remove_member (c, "last_dump");
  json_object_remove_member (c, "last_restore");
  json_object_set_member (o, "container", container);
  for (guint i = 0; !instance_only && snaps != NULL && i < snaps->len; i++)
    json_array_add_element (arr, ferry_snapshot_to_json (d, g_ptr_array_index (snaps, i)));
  json_object_set_array_member (o, "snapshots", arr);
  json_object_set_member (o, "pool", parse_node (pool_text));
  escaped = g_strescape (inst->row->name, NULL);
  volume_text = g_strdup_printf ("{\"name\":\"%s\",\"description\":\"\",\"type\":\"container\",\"config\":{},"
                                 "\"used_by\":[],\"location\":\"none\",\"content_type\":\"filesystem\","
                                 "\"project\":\"default\"}",
                                 escaped);
  json_object_set_member (o, "volume", parse_node (volume_text));
  json_node_take_object (root, o);
  return root;
}

static const FerryJsonField backup_create_fields[] = {
  { "name", FERRY_JSON_STRING },           { "expires_at", FERRY_JSON_STRING },
  { "instance_only", FERRY_JSON_BOOL },    { "container_only", FERRY_JSON_BOOL },
  { "optimized_storage", FERRY_JSON_BOOL }, { "compression_algorithm", FERRY_JSON_STRING },
};

void
ferry_api_backups_create (FerryRequest *req, FerryInstance *inst)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, TRUE, &error);
  const char *name = NULL, *expires = NULL, *compression = NULL;
  gboolean instance_only = FALSE, container_only = FALSE, optimized = FALSE;
  g_autoptr (FerryOperation) op = NULL;
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (JsonNode) config = NULL;
  g_autofree char *chosen = NULL, *url = NULL, *inst_url = NULL;
  CreateData *data;

  if (body == NULL || !ferry_json_check_fields (body, NULL, backup_create_fields, G_N_ELEMENTS (backup_create_fields), &error)
      || !ferry_json_get_string (body, "name", &name, &error)
      || !ferry_json_get_string (body, "expires_at", &expires, &error)
      || !ferry_json_get_bool (body, "instance_only", &instance_only, &error)
      || !ferry_json_get_bool (body, "container_only", &container_only, &error)
      || !ferry_json_get_bool (body, "optimized_storage", &optimized, &error)
      || !ferry_json_get_string (body, "compression_algorithm", &compression, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (compression == NULL || *compression == '\0')
    compression = "gzip"; /* LXD's backups.compression_algorithm default */
  if (!ferry_backup_compression_known (compression))
    {
      g_autofree char *msg = g_strdup_printf ("Unsupported compression algorithm \"%s\"", compression);
      ferry_respond_error_literal (req->msg, 400, msg);
      return;
    }
  if (expires != NULL && *expires != '\0' && !time_valid (expires))
    {
      ferry_respond_error_literal (req->msg, 400, "Invalid expires_at");
      return;
    }
  if (name == NULL || *name == '\0')
    name = chosen = next_backup_name (d, inst->row->name);
  else if (!backup_name_validate (name, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  {
    g_autofree char *path = backup_dir (d, inst->row->name, name);
    if (g_file_test (path, G_FILE_TEST_EXISTS))
      {
        g_autofree char *msg = g_strdup_printf ("Backup \"%s\" already exists", name);
        ferry_respond_error_literal (req->msg, 409, msg);
        return;
      }
  }
  if (inst->busy != NULL)
    {
      ferry_instance_claim (inst, NULL, NULL, &error);
      ferry_respond_error (req->msg, error);
      return;
    }
  op = ferry_operation_new (d, FERRY_OP_CLASS_TASK, "Backing up instance");
  /* The instance is not changed meanwhile: no delete, rename or restore. */
  ferry_instance_claim (inst, op, "backup", NULL);
  inst_url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  /* LXD 5.0 names it so; lxc export strips "/1.0/backups/". */
  url = g_strdup_printf ("/1.0/backups/%s", name);
  ferry_operation_add_resource (op, "instances", inst_url);
  ferry_operation_add_resource (op, "backups", url);

  snaps = ferry_instance_snapshots (d, inst);
  data = g_new0 (CreateData, 1);
  data->daemon = d;
  data->instance = g_strdup (inst->row->name);
  data->backups_dir = ferry_layout_backups_dir (d->layout, inst->row->name);
  data->compression = g_strdup (compression);
  config = backup_config (d, inst, snaps, instance_only || container_only);
  data->index_yaml = index_yaml (inst->row->name, snaps, instance_only || container_only, config);
  data->backup_yaml = ferry_yaml_write (config);
  data->part_dirs = g_ptr_array_new_with_free_func (g_free);
  data->part_names = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (data->part_dirs, ferry_layout_instance_dir (d->layout, inst->row->name));
  g_ptr_array_add (data->part_names, g_strdup ("container"));
  for (guint i = 0; !(instance_only || container_only) && snaps != NULL && i < snaps->len; i++)
    {
      FerryDbSnapshot *s = g_ptr_array_index (snaps, i);
      g_ptr_array_add (data->part_dirs, ferry_layout_snapshot_dir (d->layout, inst->row->name, s->name));
      g_ptr_array_add (data->part_names, g_strdup_printf ("snapshots/%s", s->name));
    }
  data->info = g_new0 (BackupInfo, 1);
  data->info->name = g_strdup (name);
  data->info->created_at = ferry_time_now ();
  data->info->expires_at = parse_time (expires);
  data->info->instance_only = instance_only || container_only;
  /* A dir pool has no optimized format: LXD's writes the plain one. */
  data->info->optimized_storage = FALSE;
  ferry_operation_run (op, create_work, create_done, data, (GDestroyNotify) create_data_free);
  ferry_respond_async (req->msg, op);
}

/* ---- deleting, renaming, exporting one ---- */

typedef struct
{
  FerryDaemon *daemon;
  char *path, *new_path;
  char *source;
} SmallData;

static void
small_data_free (SmallData *data)
{
  g_free (data->path);
  g_free (data->new_path);
  g_free (data->source);
  g_free (data);
}

static gboolean
delete_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SmallData *data = user_data;
  g_autofree char *parent = g_path_get_dirname (data->path);
  g_autofree char *hidden = g_build_filename (parent, ".deleting-XXXXXX", NULL);

  /* Out of the list at once (a hidden name), then removed. */
  if (g_mkdtemp_full (hidden, 0700) == NULL || rename (data->path, hidden) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing backup %s: %s", data->path, g_strerror (errno));
      rmdir (hidden);
      return FALSE;
    }
  return ferry_rm_rf (hidden, error);
}

static void
small_done (FerryOperation *op, gpointer user_data, GError **error)
{
  SmallData *data = user_data;

  if (*error == NULL)
    ferry_events_lifecycle (data->daemon, data->new_path ? "instance-backup-renamed" : "instance-backup-deleted",
                            data->source, NULL);
}

static gboolean
rename_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  SmallData *data = user_data;

  return ferry_rename_durable (data->path, data->new_path, error);
}

static SmallData *
small_data (FerryRequest *req, FerryInstance *inst, BackupInfo *b)
{
  SmallData *data = g_new0 (SmallData, 1);

  data->daemon = req->daemon;
  data->path = backup_dir (req->daemon, inst->row->name, b->name);
  data->source = g_strdup_printf ("/1.0/instances/%s/backups/%s", inst->row->name, b->name);
  return data;
}

void
ferry_api_backup_delete (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (BackupInfo) b = backup_find (req->daemon, inst->row->name, req->parts[3]);
  g_autoptr (FerryOperation) op = NULL;

  if (b == NULL)
    {
      ferry_respond_error_literal (req->msg, 404, "Load backup from database: Instance backup not found");
      return;
    }
  op = ferry_operation_new (req->daemon, FERRY_OP_CLASS_TASK, "Removing instance backup");
  {
    /* LXD 5.0.2's resources of this one: a singular "container" key and URL. */
    g_autofree char *escaped = g_uri_escape_string (inst->row->name, NULL, FALSE);
    g_autofree char *url = g_strdup_printf ("/1.0/container/%s", escaped);
    ferry_operation_add_resource (op, "container", url);
  }
  ferry_operation_run (op, delete_work, small_done, small_data (req, inst, b), (GDestroyNotify) small_data_free);
  ferry_respond_async (req->msg, op);
}

void
ferry_api_backup_rename (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, FALSE, &error);
  g_autoptr (BackupInfo) b = backup_find (req->daemon, inst->row->name, req->parts[3]);
  g_autoptr (FerryOperation) op = NULL;
  const char *name = NULL;
  SmallData *data;

  if (b == NULL)
    {
      ferry_respond_error_literal (req->msg, 404, "Load backup from database: Instance backup not found");
      return;
    }
  if (body == NULL || !ferry_json_get_string (body, "name", &name, &error)
      || !backup_name_validate (name ? name : "", &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  data = small_data (req, inst, b);
  data->new_path = backup_dir (req->daemon, inst->row->name, name);
  if (g_file_test (data->new_path, G_FILE_TEST_EXISTS))
    {
      small_data_free (data);
      ferry_respond_error_literal (req->msg, 409, "A backup of that name already exists");
      return;
    }
  op = ferry_operation_new (req->daemon, FERRY_OP_CLASS_TASK, "Renaming instance backup");
  {
    g_autofree char *escaped = g_uri_escape_string (inst->row->name, NULL, FALSE);
    g_autofree char *url = g_strdup_printf ("/1.0/instances/%s", escaped);
    ferry_operation_add_resource (op, "instances", url);
  }
  ferry_operation_run (op, rename_work, small_done, data, (GDestroyNotify) small_data_free);
  ferry_respond_async (req->msg, op);
}

/* The file, mapped rather than read: libsoup writes it from the page
 * cache, so a backup of any size costs ferryd no heap. The mapping stays
 * valid if the backup is deleted meanwhile (the file is only unlinked;
 * backups are never rewritten in place). */
void
ferry_api_backup_export (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (BackupInfo) b = backup_find (req->daemon, inst->row->name, req->parts[3]);
  g_autofree char *dir = NULL, *path = NULL;
  g_autoptr (GMappedFile) mapped = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  SoupMessageHeaders *headers;

  if (b == NULL)
    {
      ferry_respond_error_literal (req->msg, 404, "Load backup from database: Instance backup not found");
      return;
    }
  dir = backup_dir (req->daemon, inst->row->name, b->name);
  path = g_build_filename (dir, BACKUP_FILE, NULL);
  mapped = g_mapped_file_new (path, FALSE, &error);
  if (mapped == NULL)
    {
      ferry_respond_error_literal (req->msg, 500, error->message);
      return;
    }
  bytes = g_mapped_file_get_bytes (mapped);
  headers = soup_server_message_get_response_headers (req->msg);
  soup_server_message_set_status (req->msg, 200, NULL);
  soup_message_headers_set_content_type (headers, "application/octet-stream", NULL);
  /* LXD 5.0.2's header, file name empty: clients name the file themselves. */
  soup_message_headers_replace (headers, "Content-Disposition", "inline;filename=");
  soup_message_headers_set_content_length (headers, (goffset) g_bytes_get_size (bytes));
  soup_message_body_append_bytes (soup_server_message_get_response_body (req->msg), bytes);
}

/* ---- importing one (lxc import): POST /1.0/instances, the tarball as body ---- */

typedef struct
{
  char *name;
  char *description;
  gboolean stateful;
  gint64 created_at, expires_at;
  char *architecture;
  gboolean ephemeral;
  char *config_json, *devices_json, *profiles_json;
} ImportedRow;

static void
imported_row_free (ImportedRow *r)
{
  g_free (r->name);
  g_free (r->description);
  g_free (r->architecture);
  g_free (r->config_json);
  g_free (r->devices_json);
  g_free (r->profiles_json);
  g_free (r);
}

typedef struct
{
  FerryDaemon *daemon;
  char *upload;
  char *wanted_name; /* X-LXD-name, or NULL */
  char *stage;       /* containers/.import-XXXXXX */
  ImportedRow *instance;
  GPtrArray *snapshots; /* ImportedRow */
  gboolean renamed; /* imported under another name than the backup's */
  gboolean moved;
} ImportData;

static void
import_data_free (ImportData *data)
{
  unlink (data->upload);
  if (data->stage != NULL)
    ferry_rm_rf (data->stage, NULL);
  g_free (data->upload);
  g_free (data->wanted_name);
  g_free (data->stage);
  g_clear_pointer (&data->instance, imported_row_free);
  g_clear_pointer (&data->snapshots, g_ptr_array_unref);
  g_free (data);
}

static gboolean
bad_backup (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
bad_backup (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid backup: %s", msg);
  return FALSE;
}

static const char *
yaml_string (JsonObject *o, const char *member)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, member) : NULL;

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
             ? json_node_get_string (n)
             : NULL;
}

static gboolean
yaml_bool (JsonObject *o, const char *member)
{
  JsonNode *n = json_object_get_member (o, member);

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN
         && json_node_get_boolean (n);
}

/* config, devices and profiles of an instance or snapshot object, as the
 * database's JSON texts; the checks of a create come later. */
static ImportedRow *
imported_row (JsonObject *o, const char *what, GError **error)
{
  g_autoptr (JsonNode) config = ferry_yaml_string_map (json_object_get_member (o, "config"), error);
  JsonNode *devices = json_object_get_member (o, "devices");
  JsonNode *profiles = json_object_get_member (o, "profiles");
  g_autoptr (JsonObject) devices_out = json_object_new ();
  g_autoptr (JsonNode) devices_node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonNode) profiles_node = json_node_new (JSON_NODE_ARRAY);
  JsonArray *profiles_out = json_array_new ();
  ImportedRow *r;

  json_node_take_array (profiles_node, profiles_out);
  if (config == NULL)
    {
      g_prefix_error (error, "Invalid backup: %s config: ", what);
      return NULL;
    }
  if (devices != NULL && !JSON_NODE_HOLDS_NULL (devices))
    {
      if (!JSON_NODE_HOLDS_OBJECT (devices))
        return bad_backup (error, "%s devices are not a map", what), NULL;
      g_autoptr (GList) members = json_object_get_members (json_node_get_object (devices));

      for (GList *m = members; m != NULL; m = m->next)
        {
          JsonNode *raw = json_object_get_member (json_node_get_object (devices), m->data);
          g_autoptr (JsonNode) dev = ferry_yaml_string_map (raw, error);

          if (dev == NULL)
            {
              g_prefix_error (error, "Invalid backup: %s device %s: ", what, (const char *) m->data);
              return NULL;
            }
          json_object_set_member (devices_out, m->data, g_steal_pointer (&dev));
        }
    }
  if (profiles != NULL && !JSON_NODE_HOLDS_NULL (profiles))
    {
      if (!JSON_NODE_HOLDS_ARRAY (profiles))
        return bad_backup (error, "%s profiles are not a list", what), NULL;
      for (guint i = 0; i < json_array_get_length (json_node_get_array (profiles)); i++)
        {
          JsonNode *p = json_array_get_element (json_node_get_array (profiles), i);
          if (!JSON_NODE_HOLDS_VALUE (p) || json_node_get_value_type (p) != G_TYPE_STRING)
            return bad_backup (error, "%s profile names must be strings", what), NULL;
          json_array_add_string_element (profiles_out, json_node_get_string (p));
        }
    }
  json_node_set_object (devices_node, devices_out);
  r = g_new0 (ImportedRow, 1);
  r->description = g_strdup (yaml_string (o, "description") ? yaml_string (o, "description") : "");
  r->architecture = g_strdup (yaml_string (o, "architecture"));
  r->ephemeral = yaml_bool (o, "ephemeral");
  r->stateful = yaml_bool (o, "stateful");
  r->created_at = parse_time (yaml_string (o, "created_at"));
  r->expires_at = parse_time (yaml_string (o, "expires_at"));
  r->config_json = ferry_json_to_string (config, FALSE);
  {
    /* An import lands on the default pool (X-LXD-pool names no other yet):
     * a root disk naming the exporting host's pool would not match its files. */
    g_autofree char *devices_text = ferry_json_to_string (devices_node, FALSE);
    r->devices_json = ferry_storage_devices_on_pool (devices_text, "default");
  }
  r->profiles_json = ferry_json_to_string (profiles_node, FALSE);
  return r;
}

static gboolean
dir_exists_at (const char *dir, const char *sub)
{
  g_autofree char *path = g_build_filename (dir, sub, NULL);
  return g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK);
}

/* The instance and snapshots that index.yaml and backup.yaml describe,
 * matched with the trees that were extracted. */
static gboolean
read_description (ImportData *data, FerryBackupContents *contents, GError **error)
{
  g_autoptr (JsonNode) index = ferry_yaml_read (contents->index_yaml, -1, FERRY_YAML_READ_UNIQUE_KEYS, error);
  g_autoptr (JsonNode) config = NULL;
  JsonObject *index_o, *config_o, *container;
  JsonNode *snaps;
  const char *name, *type;
  g_autofree char *container_dir = g_build_filename (data->stage, "container", NULL);

  if (index == NULL || !JSON_NODE_HOLDS_OBJECT (index))
    return index == NULL ? (g_prefix_error (error, "Invalid backup index.yaml: "), FALSE)
                         : bad_backup (error, "index.yaml is not a map");
  config = ferry_yaml_read (contents->backup_yaml, -1, FERRY_YAML_READ_UNIQUE_KEYS, error);
  if (config == NULL || !JSON_NODE_HOLDS_OBJECT (config))
    return config == NULL ? (g_prefix_error (error, "Invalid backup backup.yaml: "), FALSE)
                          : bad_backup (error, "backup.yaml is not a map");
  index_o = json_node_get_object (index);
  config_o = json_node_get_object (config);
  type = yaml_string (index_o, "type");
  if (type != NULL && *type != '\0' && strcmp (type, "container") != 0)
    return bad_backup (error, "it holds a %s; Ferry runs containers", type);
  if (yaml_bool (index_o, "optimized"))
    return bad_backup (error, "optimized (storage-specific) backups can't be imported");
  if (!json_object_has_member (config_o, "container")
      || !JSON_NODE_HOLDS_OBJECT (json_object_get_member (config_o, "container")))
    return bad_backup (error, "backup.yaml has no container");
  container = json_object_get_object_member (config_o, "container");
  name = data->wanted_name != NULL ? data->wanted_name : yaml_string (index_o, "name");
  if (name == NULL || *name == '\0')
    name = yaml_string (container, "name");
  if (name == NULL || !ferry_name_validate_instance (name, error))
    return name == NULL ? bad_backup (error, "it names no instance") : FALSE;
  data->instance = imported_row (container, "the instance's", error);
  if (data->instance == NULL)
    return FALSE;
  data->instance->name = g_strdup (name);
  data->renamed = g_strcmp0 (name, yaml_string (container, "name")) != 0;
  data->instance->stateful = data->instance->stateful && dir_exists_at (container_dir, "state");

  data->snapshots = g_ptr_array_new_with_free_func ((GDestroyNotify) imported_row_free);
  snaps = json_object_get_member (config_o, "snapshots");
  if (snaps != NULL && !JSON_NODE_HOLDS_NULL (snaps) && !JSON_NODE_HOLDS_ARRAY (snaps))
    return bad_backup (error, "backup.yaml's snapshots are not a list");
  for (guint i = 0; snaps != NULL && JSON_NODE_HOLDS_ARRAY (snaps) && i < json_array_get_length (json_node_get_array (snaps)); i++)
    {
      JsonNode *n = json_array_get_element (json_node_get_array (snaps), i);
      const char *snap_name = JSON_NODE_HOLDS_OBJECT (n) ? yaml_string (json_node_get_object (n), "name") : NULL;
      g_autofree char *snap_dir = NULL;
      ImportedRow *r;

      /* Older LXDs wrote "instance/snapshot". */
      if (snap_name != NULL && strrchr (snap_name, '/') != NULL)
        snap_name = strrchr (snap_name, '/') + 1;
      if (snap_name == NULL || !ferry_name_validate_snapshot (snap_name, error))
        return snap_name == NULL ? bad_backup (error, "a snapshot of backup.yaml has no name") : FALSE;
      snap_dir = g_build_filename (data->stage, "snapshots", snap_name, NULL);
      if (!dir_exists_at (snap_dir, "rootfs"))
        return bad_backup (error, "snapshot %s has no rootfs in the tarball", snap_name);
      for (guint j = 0; j < data->snapshots->len; j++)
        if (strcmp (((ImportedRow *) g_ptr_array_index (data->snapshots, j))->name, snap_name) == 0)
          return bad_backup (error, "snapshot %s is listed twice", snap_name);
      r = imported_row (json_node_get_object (n), "a snapshot's", error);
      if (r == NULL)
        return FALSE;
      r->name = g_strdup (snap_name);
      /* A stateful snapshot without its images can only be restored statelessly. */
      r->stateful = r->stateful && dir_exists_at (snap_dir, "state");
      g_ptr_array_add (data->snapshots, r);
    }
  for (guint i = 0; i < contents->snapshots->len; i++)
    {
      const char *dir_name = g_ptr_array_index (contents->snapshots, i);
      gboolean listed = FALSE;

      for (guint j = 0; j < data->snapshots->len; j++)
        listed = listed || strcmp (((ImportedRow *) g_ptr_array_index (data->snapshots, j))->name, dir_name) == 0;
      if (!listed)
        return bad_backup (error, "snapshots/%s is not described in backup.yaml", dir_name);
    }
  return TRUE;
}

static gboolean
import_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  ImportData *data = user_data;
  g_autofree char *tmpl = g_build_filename (data->daemon->layout->containers, ".import-XXXXXX", NULL);
  g_autoptr (FerryBackupContents) contents = NULL;
  ferry_autofd int tar_fd = open (data->upload, O_RDONLY | O_CLOEXEC);
  ferry_autofd int stage_fd = -1;
  g_autofree char *rootfs = NULL;

  if (tar_fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening the upload: %s", g_strerror (errno));
      return FALSE;
    }
  if (g_mkdtemp_full (tmpl, 0700) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", tmpl, g_strerror (errno));
      return FALSE;
    }
  data->stage = g_strdup (tmpl);
  stage_fd = open (data->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (stage_fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", data->stage, g_strerror (errno));
      return FALSE;
    }
  contents = ferry_backup_extract (tar_fd, stage_fd, cancellable, error);
  if (contents == NULL || !read_description (data, contents, error))
    return FALSE;
  /* The modes Ferry gives these directories, whatever the tarball said. */
  rootfs = g_build_filename (data->stage, "container", "rootfs", NULL);
  if (chmod (rootfs, FERRY_LAYOUT_ROOTFS_MODE) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s: %s", rootfs, g_strerror (errno));
      return FALSE;
    }
  {
    g_autofree char *inst_dir = g_build_filename (data->stage, "container", NULL);
    if (!ferry_layout_make_instance_dir (inst_dir, error))
      return FALSE;
  }
  for (guint i = 0; i < data->snapshots->len; i++)
    {
      const char *snap = ((ImportedRow *) g_ptr_array_index (data->snapshots, i))->name;
      g_autofree char *snap_rootfs = g_build_filename (data->stage, "snapshots", snap, "rootfs", NULL);
      if (chmod (snap_rootfs, FERRY_LAYOUT_ROOTFS_MODE) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s: %s", snap_rootfs,
                       g_strerror (errno));
          return FALSE;
        }
    }
  /* On disk before the database records it (docs/durability.md). */
  return ferry_syncfs (data->stage, error);
}

/* The rows' config: as the backup had it, but for what names this copy
 * (its uuid), what only a running instance has (its host-side veth names)
 * and what would start it at ferryd's next start (the last power state).
 * Imported under another name, it may run beside the original: its nics
 * get new MAC addresses, as a copy's do. */
static void
fresh_volatile_keys (FerryDaemon *d, FerryInstance *inst, gboolean renamed)
{
  g_autoptr (GHashTable) own = ferry_instance_own_config (inst);
  g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
  GHashTableIter iter;
  gpointer k;

  g_hash_table_iter_init (&iter, own);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    if (g_str_has_prefix (k, "volatile.")
        && (g_str_has_suffix (k, ".host_name") || (renamed && g_str_has_suffix (k, ".hwaddr"))))
      g_hash_table_iter_remove (&iter);
  g_hash_table_insert (own, g_strdup ("volatile.uuid"), g_uuid_string_random ());
  g_hash_table_remove (own, "volatile.last_state.power");
  ferry_network_fill_hwaddrs (devices, own);
  ferry_instance_set_own_config (inst, own);
}

static gboolean
check_rows (FerryDaemon *d, ImportData *data, GError **error)
{
  g_autoptr (GPtrArray) known = ferry_db_profile_list (d->db, error);
  g_autoptr (JsonObject) config_o = ferry_json_parse_object (data->instance->config_json, strlen (data->instance->config_json), FALSE, error);
  g_autoptr (JsonObject) devices = ferry_json_parse_object (data->instance->devices_json, strlen (data->instance->devices_json), FALSE, error);
  g_autoptr (GHashTable) config = config_o ? ferry_json_string_map (config_o, "Config", error) : NULL;
  g_auto (GStrv) profiles = ferry_instance_parse_profiles (data->instance->profiles_json);

  if (known == NULL || config == NULL || devices == NULL)
    return FALSE;
  if (!ferry_config_validate (config, FALSE, error) || !ferry_devices_validate (devices, error))
    {
      g_prefix_error (error, "The backup's instance: ");
      return FALSE;
    }
  for (guint i = 0; profiles != NULL && profiles[i] != NULL; i++)
    {
      gboolean found = FALSE;
      for (guint j = 0; j < known->len; j++)
        found = found || strcmp (((FerryDbProfile *) g_ptr_array_index (known, j))->name, profiles[i]) == 0;
      if (!found)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Profile \"%s\" of the backup doesn't exist",
                       profiles[i]);
          return FALSE;
        }
    }
  if (g_hash_table_contains (d->instances, data->instance->name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Instance \"%s\" already exists", data->instance->name);
      return FALSE;
    }
  return TRUE;
}

/* The directories into place, then the rows in one transaction: the commit
 * point. A ferryd killed between the two finds directories of no instance
 * at its next start, and removes them. */
static gboolean
commit_import (FerryDaemon *d, ImportData *data, FerryInstance *inst, GError **error)
{
  g_autofree char *inst_dir = ferry_layout_instance_dir (d->layout, inst->row->name);
  g_autofree char *snaps_dir = ferry_layout_snapshots_dir (d->layout, inst->row->name);
  g_autofree char *staged_inst = g_build_filename (data->stage, "container", NULL);
  g_autofree char *staged_snaps = g_build_filename (data->stage, "snapshots", NULL);

  if (g_file_test (inst_dir, G_FILE_TEST_EXISTS) || g_file_test (snaps_dir, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Files of an instance \"%s\" are still there",
                   inst->row->name);
      return FALSE;
    }
  data->moved = TRUE;
  if (!ferry_rename_durable (staged_inst, inst_dir, error)
      || (g_file_test (staged_snaps, G_FILE_TEST_IS_DIR) && !ferry_rename_durable (staged_snaps, snaps_dir, error)))
    return FALSE;
  ferry_test_crash_point ("import-backup-after-move");
  if (!ferry_db_begin (d->db, error))
    return FALSE;
  inst->row->created_at = ferry_time_now ();
  if (!ferry_db_instance_insert (d->db, inst->row, error))
    {
      ferry_db_rollback (d->db);
      return FALSE;
    }
  for (guint i = 0; i < data->snapshots->len; i++)
    {
      ImportedRow *r = g_ptr_array_index (data->snapshots, i);
      FerryDbSnapshot row = {
        .instance_id = inst->row->id, .name = r->name, .description = r->description,
        .stateful = r->stateful, .created_at = r->created_at ? r->created_at : ferry_time_now (),
        .expires_at = r->expires_at, .config_json = r->config_json, .devices_json = r->devices_json,
        .profiles_json = r->profiles_json,
        .architecture = r->architecture ? r->architecture : inst->row->architecture, .ephemeral = r->ephemeral,
      };
      if (!ferry_db_snapshot_insert (d->db, &row, error))
        {
          ferry_db_rollback (d->db);
          return FALSE;
        }
    }
  return ferry_db_commit (d->db, error);
}

static void
import_done (FerryOperation *op, gpointer user_data, GError **error)
{
  ImportData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst;
  struct utsname uts;
  g_autofree char *source = NULL;

  if (*error != NULL || !check_rows (d, data, error))
    return;
  inst = g_new0 (FerryInstance, 1);
  inst->monitor_pidfd = -1;
  inst->creating = TRUE;
  inst->row = g_new0 (FerryDbInstance, 1);
  inst->row->name = g_strdup (data->instance->name);
  inst->row->description = g_strdup (data->instance->description);
  uname (&uts);
  inst->row->architecture = g_strdup (data->instance->architecture ? data->instance->architecture : uts.machine);
  inst->row->ephemeral = data->instance->ephemeral;
  inst->row->stateful = data->instance->stateful;
  inst->row->config_json = g_strdup (data->instance->config_json);
  inst->row->devices_json = g_strdup (data->instance->devices_json);
  inst->row->profiles_json = g_strdup (data->instance->profiles_json);
  g_hash_table_insert (d->instances, inst->row->name, inst);
  fresh_volatile_keys (d, inst, data->renamed);
  if (!ferry_instance_choose_idmap (d, inst, error) || !commit_import (d, data, inst, error))
    {
      g_autofree char *inst_dir = ferry_layout_instance_dir (d->layout, inst->row->name);
      g_autofree char *snaps_dir = ferry_layout_snapshots_dir (d->layout, inst->row->name);

      if (data->moved)
        {
          ferry_rm_rf (inst_dir, NULL);
          ferry_rm_rf (snaps_dir, NULL);
        }
      g_hash_table_remove (d->instances, data->instance->name);
      return;
    }
  inst->creating = FALSE;
  source = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
  ferry_operation_add_resource (op, "instances", source);
  ferry_events_lifecycle (d, "instance-created", source,
                          ferry_events_context ("storage-pool", ferry_storage_pool_of_instance (d, inst->row->name)->name,
                                                "type", "container", NULL));
}

/* The body was streamed to a file under ROOT/images by the HTTP guard. */
void
ferry_api_backup_import (FerryRequest *req)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  const char *name = soup_message_headers_get_one (headers, "X-LXD-name");
  const char *pool = soup_message_headers_get_one (headers, "X-LXD-pool");
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryOperation) op = NULL;
  g_autofree char *upload = NULL;
  goffset size = 0;
  ImportData *data;

  upload = ferry_http_guard_steal_upload (req->msg, &size);
  if (upload == NULL || size == 0)
    {
      if (upload != NULL)
        unlink (upload);
      ferry_respond_error_literal (req->msg, 400, "The backup upload is empty");
      return;
    }
  if (pool != NULL && *pool != '\0' && strcmp (pool, "default") != 0)
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Importing into storage pool \"%s\" is not supported yet: backups are imported into \"default\"",
                 pool);
  else if (name != NULL && *name != '\0' && !ferry_name_validate_instance (name, &error))
    ;
  else if (name != NULL && g_hash_table_contains (req->daemon->instances, name))
    g_set_error (&error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Instance \"%s\" already exists", name);
  if (error != NULL)
    {
      unlink (upload);
      ferry_respond_error (req->msg, error);
      return;
    }
  data = g_new0 (ImportData, 1);
  data->daemon = req->daemon;
  data->upload = g_steal_pointer (&upload);
  data->wanted_name = name != NULL && *name != '\0' ? g_strdup (name) : NULL;
  op = ferry_operation_new (req->daemon, FERRY_OP_CLASS_TASK, "Importing instance from backup");
  ferry_operation_run (op, import_work, import_done, data, (GDestroyNotify) import_data_free);
  ferry_respond_async (req->msg, op);
}
