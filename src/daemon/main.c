/* ferryd: the Ferry daemon. Serves LXD's REST API on ROOT/unix.socket. */
#include "config.h"
#include "daemon/lifecycle.h"
#include "daemon/daemon.h"
#include "daemon/storage.h"
#include "daemon/api/api.h"
#include "migrate/migration.h"
#include "daemon/hostinfo.h"
#include "daemon/http/http.h"
#include "daemon/images.h"
#include "daemon/instance.h"
#include "storage/layout.h"
#include "daemon/operations.h"
#include "daemon/network-manager.h"
#include "daemon/snapshot-schedule.h"
#include "daemon/http/tls.h"
#include "common/error.h"
#include "common/fs.h"
#include "runtime/cgroup.h"
#include "checkpoint/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static FerryDaemon *the_daemon;
static FILE *log_file;
static gboolean log_debug;

FerryDaemon *
ferry_daemon_get (void)
{
  return the_daemon;
}

static GLogWriterOutput
write_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *message = NULL;
  const char *tag;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");

  if ((level & G_LOG_LEVEL_DEBUG) && !log_debug)
    return G_LOG_WRITER_HANDLED;
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
  tag = (level & G_LOG_LEVEL_ERROR)      ? "ERROR"
        : (level & G_LOG_LEVEL_CRITICAL) ? "CRIT"
        : (level & G_LOG_LEVEL_WARNING)  ? "WARN"
        : (level & G_LOG_LEVEL_DEBUG)    ? "DEBUG"
                                         : "INFO";
  if (log_file != NULL)
    {
      fprintf (log_file, "%s.%06dZ %s %s\n", stamp, g_date_time_get_microsecond (now), tag, message ? message : "");
      fflush (log_file);
    }
  fprintf (stderr, "%s %s %s\n", stamp, tag, message ? message : "");
  if (the_daemon != NULL)
    ferry_events_log (the_daemon, (level & G_LOG_LEVEL_ERROR)                             ? "error"
                                  : (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) ? "warning"
                                  : (level & G_LOG_LEVEL_DEBUG)                           ? "debug"
                                                                                          : "info",
                      message ? message : "");
  return G_LOG_WRITER_HANDLED;
}

static char *
find_monitor (void)
{
  const char *env = g_getenv ("FERRY_MONITOR");
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = self ? g_path_get_dirname (self) : NULL;
  char *candidate;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  if (dir != NULL)
    {
      /* Build tree: build/src/daemon/ferryd next to build/src/runtime/ferry-monitor. */
      candidate = g_build_filename (dir, "..", "runtime", "ferry-monitor", NULL);
      if (g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE))
        return candidate;
      g_free (candidate);
      candidate = g_build_filename (dir, "ferry-monitor", NULL);
      if (g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE))
        return candidate;
      g_free (candidate);
    }
  return g_build_filename (FERRY_LIBEXECDIR, "ferry-monitor", NULL);
}

static char *
default_cgroup_parent (const char *root)
{
  g_autofree char *sum = NULL;

  if (strcmp (root, FERRY_DEFAULT_ROOT) == 0)
    return g_strdup ("ferry");
  /* Several ferryds on one kernel (tests, the lab) must never share cgroups. */
  sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, root, -1);
  return g_strdup_printf ("ferry-%.10s", sum);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  FerryDaemon *d = user_data;

  g_message ("Shutting down (containers keep running)");
  g_main_loop_quit (d->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
ensure_default_profile (FerryDaemon *d, GError **error)
{
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, error);

  if (profiles == NULL)
    return FALSE;
  for (guint i = 0; i < profiles->len; i++)
    if (strcmp (((FerryDbProfile *) g_ptr_array_index (profiles, i))->name, "default") == 0)
      return TRUE;
  FerryDbProfile def = {
    .name = (char *) "default",
    .description = (char *) "Default Ferry profile",
    .config_json = (char *) "{}",
    .devices_json = (char *) "{\"root\":{\"path\":\"/\",\"pool\":\"default\",\"type\":\"disk\"}}",
  };
  return ferry_db_profile_upsert (d->db, &def, error);
}

/* The log names every instance, image and client: root's alone, also when
 * an older ferryd made it 0644. */
static void
open_log (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

  if (fd >= 0 && fchmod (fd, 0600) == 0 && (log_file = fdopen (fd, "a")) != NULL)
    return;
  g_warning ("Cannot write the log %s: %s", path, g_strerror (errno));
  if (fd >= 0)
    close (fd);
}

static gboolean
daemon_setup (FerryDaemon *d, GError **error)
{
  int lock_fd;

  /* Before anything is made: a ferryd that could not limit its containers
   * must leave nothing behind. */
  if (!ferry_cgroup_check_host (error) || !ferry_layout_setup (d->layout, error))
    return FALSE;
  lock_fd = open (d->layout->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock (lock_fd, LOCK_EX | LOCK_NB) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "Another ferryd already runs with root %s", d->layout->root);
      return FALSE;
    }
  /* lock_fd stays open for the life of the process. */
  open_log (d->layout->daemon_log);
  d->db = ferry_db_open (d->layout->db, error);
  if (d->db == NULL)
    return FALSE;
  if (!ensure_default_profile (d, error))
    return FALSE;
  if (!ferry_storage_load (d, error))
    return FALSE;
  if (!ferry_images_bootstrap (d, error))
    return FALSE;
  ferry_hostinfo_probe (d);
  /* Before the instances: those that autostart need their bridges. */
  if (!ferry_networks_setup (d, error))
    return FALSE;
  if (!ferry_instances_load (d, error))
    return FALSE;
  ferry_migration_cleanup_incoming (d);
  ferry_snapshot_scheduler_start (d);
  /* HTTPS first: once the unix socket answers, the whole API does. */
  ferry_http_set_handler (ferry_api_handle);
  return ferry_https_init (d, ferry_http_setup_server, error) && ferry_http_start (d, error);
}

int
main (int argc, char **argv)
{
  g_autofree char *root = NULL, *cgroup_parent = NULL;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "root", 'r', 0, G_OPTION_ARG_FILENAME, &root, "State directory (default " FERRY_DEFAULT_ROOT ")", "DIR" },
    { "cgroup-parent", 0, 0, G_OPTION_ARG_STRING, &cgroup_parent, "cgroup directory for this daemon's containers",
      "NAME" },
    { "debug", 'd', 0, G_OPTION_ARG_NONE, &log_debug, "Log debug messages", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- the Ferry container daemon");
  g_autoptr (GError) error = NULL;
  FerryDaemon *d;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "ferryd: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("%s\n", FERRY_VERSION);
      return 0;
    }
  if (geteuid () != 0)
    {
      fprintf (stderr, "ferryd: must run as root (it creates namespaces, cgroups and mounts)\n");
      return 1;
    }
  /* Once for the process and its children (CRIU, dnsmasq, rsync, SQLite's
   * -wal and -shm): what ferryd keeps is root's unless a mode given on
   * purpose says otherwise (a rootfs is 0755). Processes that enter a
   * container get 022 back from ferry-monitor. */
  umask (0077);
  signal (SIGPIPE, SIG_IGN);
  g_log_set_writer_func (write_log, NULL, NULL);
  /* Before any thread: CRIU (run by the monitors) inherits it. */
  ferry_criu_kdat_cache_prepare ();

  d = g_new0 (FerryDaemon, 1);
  the_daemon = d;
  g_mutex_init (&d->host_lock);
  g_cond_init (&d->host_probed);
  if (root == NULL)
    root = g_strdup (g_getenv ("FERRY_DIR") ? g_getenv ("FERRY_DIR") : FERRY_DEFAULT_ROOT);
  d->layout = ferry_layout_new (root);
  d->cgroup_parent = cgroup_parent ? g_strdup (cgroup_parent) : default_cgroup_parent (d->layout->root);
  d->monitor_path = find_monitor ();
  d->server_name = g_strdup (g_get_host_name ());
  d->started_at = g_get_real_time ();
  d->instances = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) ferry_instance_free);
  d->operations = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) ferry_operation_unref);
  d->listeners = g_ptr_array_new ();
  d->loop = g_main_loop_new (NULL, FALSE);

  if (!daemon_setup (d, &error))
    {
      g_critical ("%s", error->message);
      return 1;
    }
  g_message ("ferryd %s ready on %s (cgroup parent %s, monitor %s)", FERRY_VERSION, d->layout->socket,
             d->cgroup_parent, d->monitor_path);
  g_unix_signal_add (SIGTERM, on_quit_signal, d);
  g_unix_signal_add (SIGINT, on_quit_signal, d);
  g_main_loop_run (d->loop);

  ferry_https_shutdown (d);
  soup_server_disconnect (d->server);
  unlink (d->layout->socket);
  ferry_networks_shutdown (d);
  return 0;
}
