#include "daemon/api/api.h"
#include "daemon/hostinfo.h"
#include "daemon/operations.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  FerryDaemon *daemon;
  SoupServerMessage *msg;
  char *name;
  char *dir;       /* temporary directory that becomes the tarball */
  char *log_dir;   /* the instance's log directory */
  char *ferryd_log;
  char *monitor;   /* ferry-monitor, which reports the CRIU it would use */
  pid_t init_pid;
  GBytes *tarball;
  GError *error;
} ReportData;

static void
report_data_free (ReportData *data)
{
  if (data->dir)
    ferry_rm_rf (data->dir, NULL);
  g_free (data->dir);
  g_free (data->name);
  g_free (data->log_dir);
  g_free (data->ferryd_log);
  g_free (data->monitor);
  g_clear_pointer (&data->tarball, g_bytes_unref);
  g_clear_error (&data->error);
  g_object_unref (data->msg);
  g_free (data);
}

static void
write_text (const char *dir, const char *file, const char *text)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_file_set_contents (path, text ? text : "", -1, NULL);
}

static void
write_json (const char *dir, const char *file, JsonNode *node)
{
  g_autofree char *text = ferry_json_to_string (node, TRUE);
  write_text (dir, file, text);
}

/* Runs a command and saves its output (and failure, if any) as a file. */
static void
save_command (const char *dir, const char *file, const char *const *argv)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_autoptr (GString) text = g_string_new (NULL);

  g_string_append_printf (text, "$");
  for (int i = 0; argv[i] != NULL; i++)
    g_string_append_printf (text, " %s", argv[i]);
  g_string_append_c (text, '\n');
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
    g_string_append_printf (text, "(could not run: %s)\n", error->message);
  else
    g_string_append_printf (text, "%s%s", out ? out : "", err ? err : "");
  write_text (dir, file, text->str);
}

static void
copy_file (const char *from, const char *dir, const char *file)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autofree char *path = g_build_filename (dir, file, NULL);

  if (g_file_get_contents (from, &contents, &len, NULL))
    g_file_set_contents (path, contents, (gssize) len, NULL);
}

static void
gather_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ReportData *data = task_data;
  const char *uname_argv[] = { "uname", "-a", NULL };
  const char *dmesg_argv[] = { "dmesg", NULL };
  const char *links_argv[] = { "ip", "-d", "link", "show", NULL };
  const char *addr_argv[] = { "ip", "addr", "show", NULL };
  const char *route_argv[] = { "ip", "route", "show", NULL };
  const char *bridge_argv[] = { "bridge", "link", "show", NULL };
  const char *criu_argv[] = { data->monitor, "check-criu", NULL };
  g_autofree char *logs_copy = g_build_filename (data->dir, "logs", NULL);
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;

  save_command (data->dir, "uname.txt", uname_argv);
  save_command (data->dir, "dmesg.txt", dmesg_argv);
  save_command (data->dir, "network-links.txt", links_argv);
  save_command (data->dir, "network-addresses.txt", addr_argv);
  save_command (data->dir, "network-routes.txt", route_argv);
  save_command (data->dir, "network-bridges.txt", bridge_argv);
  save_command (data->dir, "criu-check.txt", criu_argv);
  copy_file ("/proc/self/mountinfo", data->dir, "host-mountinfo.txt");
  if (data->init_pid > 0)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/mountinfo", (int) data->init_pid);
      copy_file (path, data->dir, "container-mountinfo.txt");
    }
  else
    write_text (data->dir, "container-mountinfo.txt", "(the instance is not running)\n");
  copy_file (data->ferryd_log, data->dir, "ferryd.log");
  {
    const char *cp_argv[] = { "cp", "-a", "--", data->log_dir, logs_copy, NULL };
    g_spawn_sync (NULL, (char **) cp_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  {
    g_autofree char *parent = g_path_get_dirname (data->dir);
    g_autofree char *base = g_path_get_basename (data->dir);
    g_autofree char *tarball = g_strconcat (data->dir, ".tar.gz", NULL);
    const char *tar_argv[] = { "tar", "-C", parent, "-czf", tarball, base, NULL };
    if (!g_spawn_sync (NULL, (char **) tar_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                       &data->error))
      {
        g_task_return_boolean (task, FALSE);
        return;
      }
  }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      data->error = g_error_new (FERRY_ERROR, FERRY_ERROR_FAILED, "Packing the report: %s", err ? err : "tar failed");
      g_task_return_boolean (task, FALSE);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
gathered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReportData *data = user_data;

  if (data->error != NULL)
    ferry_respond_error (data->msg, data->error);
  else
    {
      g_autofree char *tarball = g_strconcat (data->dir, ".tar.gz", NULL);
      g_autofree char *contents = NULL;
      gsize len = 0;
      if (g_file_get_contents (tarball, &contents, &len, NULL))
        {
          g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&contents), len);
          g_autofree char *disposition = g_strdup_printf ("attachment; filename=ferry-report-%s.tar.gz", data->name);
          ferry_respond_raw (data->msg, "application/gzip", bytes);
          soup_message_headers_replace (soup_server_message_get_response_headers (data->msg), "Content-Disposition",
                                        disposition);
        }
      else
        ferry_respond_error_literal (data->msg, 500, "The report could not be read back");
      g_unlink (tarball);
    }
  soup_server_message_unpause (data->msg);
  report_data_free (data);
}

void
ferry_api_report (FerryRequest *req, FerryInstance *inst)
{
  FerryDaemon *d = req->daemon;
  ReportData *data = g_new0 (ReportData, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GTask) task = NULL;
  g_autofree char *run_dir = ferry_layout_run_dir (d->layout, inst->row->name);
  FerryRuntimeState st = { 0 };
  g_autoptr (JsonNode) info = NULL;
  g_autoptr (JsonNode) server = NULL;
  g_autoptr (JsonNode) ops = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer value;

  data->daemon = d;
  data->msg = g_object_ref (req->msg);
  data->name = g_strdup (inst->row->name);
  {
    g_autofree char *template = g_strdup_printf ("ferry-report-%s-XXXXXX", inst->row->name);
    data->dir = g_build_filename (d->layout->run, template, NULL);
  }
  if (g_mkdtemp (data->dir) == NULL)
    {
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_FAILED, "Making a report directory: %s", g_strerror (errno));
      g_clear_pointer (&data->dir, g_free);
      report_data_free (data);
      ferry_respond_error (req->msg, error);
      return;
    }
  data->log_dir = ferry_layout_log_dir (d->layout, inst->row->name);
  data->ferryd_log = g_strdup (d->layout->daemon_log);
  data->monitor = g_strdup (d->monitor_path);
  if (ferry_runtime_read_state (run_dir, &st, NULL) && st.running)
    data->init_pid = st.init_pid;

  /* What needs the daemon's state is gathered here, in the main thread. */
  server = ferry_api_server_json (d);
  write_json (data->dir, "host-info.json", server);
  info = ferry_instance_to_json (d, inst, TRUE);
  write_json (data->dir, "instance-info.json", info);
  {
    JsonObject *o = json_node_get_object (info);
    g_autoptr (JsonBuilder) eb = json_builder_new ();
    g_autoptr (JsonNode) expanded = NULL;
    json_builder_begin_object (eb);
    json_builder_set_member_name (eb, "expanded_config");
    json_builder_add_value (eb, json_node_copy (json_object_get_member (o, "expanded_config")));
    json_builder_set_member_name (eb, "expanded_devices");
    json_builder_add_value (eb, json_node_copy (json_object_get_member (o, "expanded_devices")));
    json_builder_end_object (eb);
    expanded = json_builder_get_root (eb);
    write_json (data->dir, "expanded-config.json", expanded);
  }
  /* Failed operations still remembered: the commands that went wrong. */
  json_builder_begin_array (b);
  g_hash_table_iter_init (&iter, d->operations);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    json_builder_add_value (b, ferry_operation_to_json (value));
  json_builder_end_array (b);
  ops = json_builder_get_root (b);
  write_json (data->dir, "recent-operations.json", ops);

  task = g_task_new (NULL, NULL, gathered, data);
  g_task_set_task_data (task, data, NULL);
  soup_server_message_pause (req->msg);
  g_task_run_in_thread (task, gather_in_thread);
}
