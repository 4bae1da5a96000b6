/* Disk devices: host paths bound into an instance (LXD's disk device with
 * source and path). The monitor mounts them at a start and binds them
 * again at a restore (src/runtime/disk.c); a running instance's are
 * changed live by `ferry-monitor device-attach|device-detach`. */
#include "daemon/disk-devices.h"

#include "common/error.h"
#include "daemon/validate.h"
#include "runtime/disk-spec.h"
#include "storage/layout.h"

#include <gio/gio.h>
#include <string.h>

GPtrArray *
ferry_disk_devices_specs (JsonObject *devices)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_disk_spec_free);
  g_autoptr (GList) names = devices ? json_object_get_members (devices) : NULL;

  /* Sorted by name: the mount order does not depend on the JSON's. */
  names = g_list_sort (names, (GCompareFunc) strcmp);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *n = json_object_get_member (devices, l->data);
      JsonObject *dev = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      if (dev == NULL || g_strcmp0 (json_object_get_string_member_with_default (dev, "type", ""), "disk") != 0)
        continue;
      const char *path = json_object_get_string_member_with_default (dev, "path", NULL);
      const char *source = json_object_get_string_member_with_default (dev, "source", NULL);
      if (path == NULL || source == NULL || strcmp (path, "/") == 0)
        continue;
      FerryDiskSpec *s = g_new0 (FerryDiskSpec, 1);
      s->name = g_strdup (l->data);
      s->source = g_strdup (source);
      s->path = g_strdup (path);
      s->readonly = ferry_config_bool_true (json_object_get_string_member_with_default (dev, "readonly", NULL));
      const char *required = json_object_get_string_member_with_default (dev, "required", NULL);
      s->required = required == NULL || ferry_config_bool_true (required);
      g_ptr_array_add (specs, s);
    }
  return specs;
}

void
ferry_disk_devices_add_arguments (FerryDaemon *d, FerryInstance *inst, GPtrArray *argv)
{
  g_autoptr (JsonObject) devices = ferry_instance_expanded_devices (d, inst);
  g_autoptr (GPtrArray) specs = ferry_disk_devices_specs (devices);

  for (guint i = 0; i < specs->len; i++)
    {
      g_ptr_array_add (argv, g_strdup ("--disk"));
      g_ptr_array_add (argv, ferry_disk_spec_format (g_ptr_array_index (specs, i)));
    }
}

static FerryDiskSpec *
find_spec (GPtrArray *specs, const char *name)
{
  for (guint i = 0; i < specs->len; i++)
    if (strcmp (((FerryDiskSpec *) g_ptr_array_index (specs, i))->name, name) == 0)
      return g_ptr_array_index (specs, i);
  return NULL;
}

static gboolean
same_spec (const FerryDiskSpec *a, const FerryDiskSpec *b)
{
  return strcmp (a->source, b->source) == 0 && strcmp (a->path, b->path) == 0 && a->readonly == b->readonly
         && a->required == b->required;
}

/* Runs `ferry-monitor ARGV...`; on failure, its words without its name:
 * the user asked ferryd. (Not lifecycle.h's ferry_run_monitor: the
 * lifecycle builds its starts with this file.) */
static gboolean
run (FerryDaemon *d, const char *const *argv, GError **error)
{
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) local = NULL;

  g_ptr_array_add (full, d->monitor_path);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);
  proc = g_subprocess_newv ((const char *const *) full->pdata, G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                            | G_SUBPROCESS_FLAGS_STDERR_PIPE, &local);
  if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, NULL, NULL, &err, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Running %s: %s", d->monitor_path, local->message);
      return FALSE;
    }
  if (g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0)
    return TRUE;
  g_strstrip (err);
  const char *m = g_str_has_prefix (err, "ferry-monitor: ") ? err + strlen ("ferry-monitor: ") : err;
  g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_FAILED, *m ? m : "ferry-monitor failed without saying why");
  return FALSE;
}

static gboolean
attach (FerryDaemon *d, const char *run_dir, const FerryDiskSpec *spec, GError **error)
{
  g_autofree char *text = ferry_disk_spec_format (spec);
  const char *argv[] = { "device-attach", "--run-dir", run_dir, "--disk", text, NULL };

  return run (d, argv, error);
}

static gboolean
detach (FerryDaemon *d, const char *run_dir, const FerryDiskSpec *spec, GError **error)
{
  const char *argv[] = { "device-detach", "--run-dir", run_dir, "--name", spec->name, NULL };

  return run (d, argv, error);
}

gboolean
ferry_disk_devices_apply_live (FerryDaemon *d, FerryInstance *inst, JsonObject *old, GError **error)
{
  g_autoptr (JsonObject) now_devices = ferry_instance_expanded_devices (d, inst);
  g_autoptr (GPtrArray) before = ferry_disk_devices_specs (old);
  g_autoptr (GPtrArray) after = ferry_disk_devices_specs (now_devices);
  g_autoptr (GPtrArray) detached = g_ptr_array_new (), attached = g_ptr_array_new ();
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
  g_autoptr (GError) local = NULL;
  gboolean changes = FALSE;
  guint i;

  for (i = 0; i < before->len && !changes; i++)
    {
      FerryDiskSpec *b = g_ptr_array_index (before, i), *a = find_spec (after, b->name);
      changes = a == NULL || !same_spec (a, b);
    }
  for (i = 0; i < after->len && !changes; i++)
    changes = find_spec (before, ((FerryDiskSpec *) g_ptr_array_index (after, i))->name) == NULL;
  if (!changes)
    return TRUE;
  /* Not under an operation that runs CRIU or the monitor (a profile's
   * change reaches instances whatever they are doing). */
  if (inst->busy != NULL)
    {
      ferry_instance_claim (inst, NULL, NULL, error);
      return FALSE;
    }
  for (i = 0; i < before->len; i++)
    {
      FerryDiskSpec *b = g_ptr_array_index (before, i), *a = find_spec (after, b->name);
      if (a != NULL && same_spec (a, b))
        continue;
      if (!detach (d, run_dir, b, &local))
        goto undo;
      g_ptr_array_add (detached, b);
    }
  for (i = 0; i < after->len; i++)
    {
      FerryDiskSpec *a = g_ptr_array_index (after, i), *b = find_spec (before, a->name);
      if (b != NULL && same_spec (a, b))
        continue;
      if (!attach (d, run_dir, a, &local))
        goto undo;
      g_ptr_array_add (attached, a);
    }
  return TRUE;

undo:
  for (i = 0; i < attached->len; i++)
    detach (d, run_dir, g_ptr_array_index (attached, i), NULL);
  for (i = 0; i < detached->len; i++)
    attach (d, run_dir, g_ptr_array_index (detached, i), NULL);
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}
