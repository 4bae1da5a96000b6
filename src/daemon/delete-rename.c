/* Deleting and renaming an instance: its directories, then its row. */
#include "config.h"
#include "daemon/instance.h"
#include "daemon/lifecycle-internal.h"
#include "daemon/http/http.h"
#include "daemon/idmaps.h"
#include "daemon/network-manager.h"
#include "daemon/intent.h"
#include "daemon/storage.h"
#include "common/error.h"
#include "common/idmap.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "common/testhook.h"
#include "checkpoint/checkpoint.h"
#include "runtime/rundir.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <glib-unix.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A delete moves the instance's directories aside (paths -> new_paths),
 * commits in the database, then removes what is aside; a ferryd that dies
 * before the commit finds them aside and puts them back (recovery.c).
 * put_back: what a delete or a rename moved goes back, when its commit
 * fails. */
static void
put_back (LifecycleData *data)
{
  for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
    if (data->new_paths[i] != NULL && g_file_test (data->new_paths[i], G_FILE_TEST_EXISTS))
      (void) rename (data->new_paths[i], data->paths[i]);
}

/* On the main thread: the commit point of a delete. */
static gboolean
delete_commit (gpointer user_data)
{
  LifecycleData *data = user_data;
  FerryDaemon *d = data->daemon;

  data->committed = ferry_db_instance_delete (d->db, data->id, &data->commit_error);
  ferry_intent_settle (d, data->intent);
  data->intent = 0;
  return G_SOURCE_REMOVE;
}

static gboolean
delete_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  LifecycleData *data = user_data;

  for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
    {
      if (data->new_paths[i] == NULL)
        continue;
      if (!ferry_rm_rf (data->new_paths[i], error))
        return FALSE;
      if (g_file_test (data->paths[i], G_FILE_TEST_EXISTS)
          && !ferry_rename_durable (data->paths[i], data->new_paths[i], error))
        {
          put_back (data);
          return FALSE;
        }
    }
  ferry_test_crash_point ("delete-after-aside");
  ferry_operation_call_main (delete_commit, data);
  if (!data->committed)
    {
      put_back (data);
      g_propagate_error (error, g_steal_pointer (&data->commit_error));
      return FALSE;
    }
  /* Committed: what is aside and the run directory go now (a crash
   * meanwhile leaves them to the next start's sweep). */
  for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
    {
      g_autoptr (GError) rm_error = NULL;
      if (!ferry_storage_remove_linked (data->new_paths[i] ? data->new_paths[i] : data->paths[i], &rm_error))
        g_warning ("Deleting %s: %s", data->name, rm_error->message);
    }
  return TRUE;
}

static void
delete_done (FerryOperation *op, gpointer user_data, GError **error)
{
  LifecycleData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->name);

  ferry_intent_settle (d, data->intent); /* failed before the commit */
  if (inst == NULL || !data->committed)
    return;
  g_hash_table_remove (d->instances, data->name);
  ferry_events_lifecycle (d, "instance-deleted", source, NULL);
}

FerryOperation *
ferry_instance_delete_op (FerryDaemon *d, FerryInstance *inst, gboolean internal, GError **error)
{
  LifecycleData *data;

  if (ferry_instance_is_running (d, inst))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Instance is running");
      return NULL;
    }
  if (!internal)
    {
      g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
      const char *protect = g_hash_table_lookup (config, "security.protection.delete");
      if (protect != NULL && (strcmp (protect, "true") == 0 || strcmp (protect, "1") == 0))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN,
                       "Instance is protected from deletion (security.protection.delete)");
          return NULL;
        }
    }
  data = ferry_lifecycle_data_new (d, inst, "delete");
  data->internal = internal;
  data->id = inst->row->id;
  ferry_layout_instance_dirs (d->layout, inst->row->name, data->paths);
  data->paths[3] = ferry_layout_run_dir (d->layout, inst->row->name);
  for (int i = 0; i < 3; i++)
    data->new_paths[i] = ferry_intent_aside_path (data->paths[i]);
  if ((data->intent = ferry_intent_begin (d, inst->row->name, "delete", NULL, error)) == 0)
    {
      ferry_lifecycle_data_free (data);
      return NULL;
    }
  return ferry_lifecycle_operation (d, inst, "Deleting instance", "delete", delete_work, delete_done, data, error);
}

FerryOperation *
ferry_instance_delete (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  return ferry_instance_delete_op (d, inst, FALSE, error);
}

static gboolean
rename_work (FerryOperation *op, gpointer user_data, GCancellable *cancellable, GError **error)
{
  LifecycleData *data = user_data;

  for (int i = 0; i < 4 && data->paths[i] != NULL; i++)
    {
      if (!g_file_test (data->paths[i], G_FILE_TEST_EXISTS))
        continue;
      if (!ferry_rename_durable (data->paths[i], data->new_paths[i], NULL))
        {
          int saved = errno;
          /* Put back what was already moved. */
          for (int j = i - 1; j >= 0; j--)
            if (g_file_test (data->new_paths[j], G_FILE_TEST_EXISTS))
              (void) rename (data->new_paths[j], data->paths[j]);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Renaming %s: %s", data->paths[i],
                       g_strerror (saved));
          return FALSE;
        }
    }
  ferry_test_crash_point ("rename-after-move");
  return TRUE;
}

static void
rename_done (FerryOperation *op, gpointer user_data, GError **error)
{
  LifecycleData *data = user_data;
  FerryDaemon *d = data->daemon;
  FerryInstance *inst = ferry_instance_release_by_name (d, data->name);
  g_autofree char *source = g_strdup_printf ("/1.0/instances/%s", data->new_name);

  if (inst == NULL)
    {
      ferry_intent_settle (d, data->intent);
      return;
    }
  /* The database refused: the directories go back. */
  if (*error == NULL && !ferry_db_instance_rename (d->db, inst->row->id, data->new_name, error))
    put_back (data);
  ferry_intent_settle (d, data->intent);
  if (*error != NULL)
    {
      g_hash_table_remove (d->instances, data->new_name); /* the reservation */
      return;
    }
  g_hash_table_steal (d->instances, data->name);
  g_free (inst->row->name);
  inst->row->name = g_strdup (data->new_name);
  g_hash_table_replace (d->instances, inst->row->name, inst);
  {
    /* As LXD: a new cloud-init instance-id, so that cloud-init runs again
     * under the new name. */
    g_autoptr (GHashTable) own = ferry_instance_own_config (inst);
    g_autoptr (GError) local = NULL;
    g_hash_table_insert (own, g_strdup ("volatile.cloud-init.instance-id"), g_uuid_string_random ());
    ferry_instance_set_own_config (inst, own);
    if (!ferry_instance_save (d, inst, &local))
      g_warning ("Saving the new instance-id of %s: %s", inst->row->name, local->message);
  }
  ferry_events_lifecycle (d, "instance-renamed", source, ferry_events_context ("old_name", data->name, NULL));
}

FerryOperation *
ferry_instance_rename (FerryDaemon *d, FerryInstance *inst, const char *new_name, GError **error)
{
  LifecycleData *data;
  FerryOperation *op;
  FerryInstance *placeholder;

  if (!ferry_name_validate_instance (new_name, error))
    return NULL;
  if (g_hash_table_contains (d->instances, new_name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Name \"%s\" is already used by another instance",
                   new_name);
      return NULL;
    }
  if (ferry_instance_is_running (d, inst))
    return ferry_lifecycle_refused (d, inst->row->name, "Renaming instance", FALSE,
                                    "Renaming of running container not allowed");
  data = ferry_lifecycle_data_new (d, inst, "rename");
  data->new_name = g_strdup (new_name);
  ferry_layout_instance_dirs (d->layout, inst->row->name, data->paths);
  ferry_layout_instance_dirs (d->layout, new_name, data->new_paths);
  if ((data->intent = ferry_intent_begin (d, inst->row->name, "rename", new_name, error)) == 0)
    {
      ferry_lifecycle_data_free (data);
      return NULL;
    }
  op = ferry_lifecycle_operation (d, inst, "Renaming instance", "rename", rename_work, rename_done, data, error);
  if (op == NULL)
    return NULL;
  /* Reserve the new name while the operation runs: a placeholder that is
   * "creating" and busy, so nothing else can take or touch it. */
  placeholder = g_new0 (FerryInstance, 1);
  placeholder->row = g_new0 (FerryDbInstance, 1);
  placeholder->row->name = g_strdup (new_name);
  placeholder->row->architecture = g_strdup (inst->row->architecture);
  placeholder->row->config_json = g_strdup ("{}");
  placeholder->row->devices_json = g_strdup ("{}");
  placeholder->row->profiles_json = g_strdup ("[]");
  placeholder->creating = TRUE;
  placeholder->busy = op;
  placeholder->busy_what = g_strdup ("rename");
  placeholder->monitor_pidfd = -1;
  g_hash_table_insert (d->instances, placeholder->row->name, placeholder);
  return op;
}

