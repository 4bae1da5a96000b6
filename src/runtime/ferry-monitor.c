/* ferry-monitor: the per-container monitor and the runtime's command-line
 * face for ferryd (start, stop, exec, freeze, unfreeze, checkpoint, restore,
 * check-criu, migrate-facts, migrate-check). */
#include "runtime/monitor.h"
#include "common/idmap.h"
#include "common/signals.h"
#include "runtime/runtime.h"
#include "checkpoint/checkpoint.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
usage (void)
{
  fputs ("Usage:\n"
         "  ferry-monitor start --name NAME --rootfs DIR --run-dir DIR --log-dir DIR --cgroup-parent PARENT\n"
         "                [--hostname H] [--limit-memory BYTES] [--limit-cpu SPEC] [--limit-processes N]\n"
         "                [--init PATH] [--env K=V ...]\n"
         "  ferry-monitor stop --run-dir DIR [--timeout SECONDS] [--force] [--halt-signal SIG]\n"
         "  ferry-monitor exec --run-dir DIR [--cwd D] [--uid U] [--gid G] [--env K=V ...] [--tty] -- CMD [ARGS...]\n"
         "  ferry-monitor freeze|unfreeze --run-dir DIR\n"
         "  ferry-monitor checkpoint --run-dir DIR --images DIR --log FILE [--leave-running]\n"
         "                [--rootfs-copy|--rootfs-snapshot SRC DST] [--stats FILE] [--tcp-established]\n"
         "                [--page-server ADDR:PORT --hold-fd FD]\n"
         "  ferry-monitor page-server --images DIR --log FILE --fd FD\n"
         "  ferry-monitor netcat --fd FD\n"
         "  ferry-monitor restore --name NAME --rootfs DIR --run-dir DIR --log-dir DIR --cgroup-parent PARENT\n"
         "                [--hostname H] [--limit-memory BYTES] [--limit-cpu SPEC] [--limit-processes N]\n"
         "                --images DIR --log FILE [--stats FILE] [--tcp-established] [--hold-fd FD]\n"
         "  ferry-monitor device-attach --run-dir DIR --disk SPEC\n"
         "  ferry-monitor device-detach --run-dir DIR --name NAME\n"
         "  ferry-monitor check-criu [--json]\n"
         "  ferry-monitor migrate-facts --root DIR [--pid PID]\n"
         "  ferry-monitor migrate-check --source FILE --root DIR --bytes N\n",
         stderr);
}

static gboolean
parse (int *argc, char ***argv, const char *command, GOptionEntry *entries)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (command);
  g_autoptr (GError) error = NULL;

  g_option_context_set_help_enabled (ctx, TRUE);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &error))
    {
      ferry_monitor_error ("%s", error->message);
      return FALSE;
    }
  return TRUE;
}

/* --idmap: the user namespace's map (ferry_idmap_from_arg). */
static gboolean
parse_idmap (const char *spec, FerryStartOptions *o)
{
  g_autoptr (GError) error = NULL;

  if (spec == NULL)
    return TRUE;
  if ((o->idmap = ferry_idmap_from_arg (spec, &error)) == NULL || ferry_idmap_to_host (o->idmap, TRUE, 0) <= 0
      || ferry_idmap_to_host (o->idmap, FALSE, 0) <= 0)
    {
      ferry_monitor_error ("%s", error ? error->message
                                       : "Invalid --idmap: the container's root must be a host id other than root");
      return FALSE;
    }
  return TRUE;
}

static int
cmd_start (int argc, char **argv, gboolean restore)
{
  FerryStartOptions o = { 0 };
  g_autofree char *idmap = NULL;
  GOptionEntry restore_entries[] = {
    { "images", 0, 0, G_OPTION_ARG_FILENAME, &o.images, "CRIU images to restore", "DIR" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &o.criu_log, "CRIU's log", "FILE" },
    { "stats", 0, 0, G_OPTION_ARG_FILENAME, &o.stats, "Write CRIU's restore statistics (JSON)", "FILE" },
    { "tcp-established", 0, 0, G_OPTION_ARG_NONE, &o.tcp_established, "Restore established TCP connections", NULL },
    { "hold-fd", 0, 0, G_OPTION_ARG_INT, &o.hold_fd, "Prepare, then wait on this fd for \"g\" (migration)", "FD" },
    { NULL },
  };
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &o.name, "Container name", "NAME" },
    { "rootfs", 0, 0, G_OPTION_ARG_FILENAME, &o.rootfs, "Root file system", "DIR" },
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.run_dir, "Run directory", "DIR" },
    { "log-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.log_dir, "Log directory", "DIR" },
    { "cgroup-parent", 0, 0, G_OPTION_ARG_STRING, &o.cgroup_parent, "Parent cgroup (relative)", "PARENT" },
    { "hostname", 0, 0, G_OPTION_ARG_STRING, &o.hostname, "Hostname (default: NAME)", "H" },
    { "limit-memory", 0, 0, G_OPTION_ARG_INT64, &o.limit_memory, "Memory limit", "BYTES" },
    { "limit-cpu", 0, 0, G_OPTION_ARG_STRING, &o.limit_cpu, "CPU count or set", "SPEC" },
    { "limit-processes", 0, 0, G_OPTION_ARG_INT64, &o.limit_processes, "Maximum tasks", "N" },
    { "init", 0, 0, G_OPTION_ARG_FILENAME, &o.init, "Init (default /sbin/init)", "PATH" },
    { "env", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.env, "Environment of the init", "K=V" },
    { "disk", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.disks,
      "A disk device: name=N,source=S,path=P,readonly=0|1,required=0|1 (values URI-escaped)", "SPEC" },
    { "nic", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.nics, "A nic: name=IF,host=IF,bridge=BR[,hwaddr=MAC][,mtu=N]",
      "SPEC" },
    { "idmap", 0, 0, G_OPTION_ARG_STRING, &idmap, "Unprivileged: host ids BASE.. are the container's 0..SIZE-1, or KIND:NSID:HOSTID:RANGE,...",
      "MAP" },
    { NULL },
  };
  int rc = 1;

  if (restore)
    {
      /* The same options as start (--init and --env are refused), plus CRIU's. */
      GOptionEntry all[G_N_ELEMENTS (entries) + G_N_ELEMENTS (restore_entries) - 1];
      gsize n = 0;
      for (gsize i = 0; entries[i].long_name != NULL; i++)
        all[n++] = entries[i];
      for (gsize i = 0; i < G_N_ELEMENTS (restore_entries); i++)
        all[n++] = restore_entries[i];
      if (parse (&argc, &argv, "restore", all))
        {
          if (argc > 1)
            ferry_monitor_error ("Unexpected argument \"%s\"", argv[1]);
          else if (parse_idmap (idmap, &o))
            rc = ferry_monitor_restore (&o);
        }
    }
  else if (parse (&argc, &argv, "start", entries))
    {
      if (argc > 1)
        ferry_monitor_error ("Unexpected argument \"%s\"", argv[1]);
      else if (parse_idmap (idmap, &o))
        rc = ferry_monitor_start (&o);
    }
  g_free (o.name);
  g_free (o.rootfs);
  g_free (o.run_dir);
  g_free (o.log_dir);
  g_free (o.cgroup_parent);
  g_free (o.hostname);
  g_free (o.limit_cpu);
  g_free (o.init);
  g_strfreev (o.env);
  g_strfreev (o.nics);
  g_strfreev (o.disks);
  g_free (o.images);
  if (o.idmap != NULL)
    g_array_unref (o.idmap);
  g_free (o.criu_log);
  g_free (o.stats);
  g_free (o.criu_path);
  return rc;
}

static int
cmd_stop (int argc, char **argv)
{
  FerryStopOptions o = { .timeout = -1 };
  g_autofree char *halt = NULL;
  GOptionEntry entries[] = {
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.run_dir, "Run directory", "DIR" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &o.timeout, "Seconds before SIGKILL (default 30)", "SECONDS" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &o.force, "SIGKILL at once", NULL },
    { "halt-signal", 0, 0, G_OPTION_ARG_STRING, &halt,
      "The signal that asks the init to halt (default: SIGRTMIN+3 if the init blocks it, as systemd does, "
      "else SIGPWR)", "SIG" },
    { NULL },
  };
  int rc = 1;

  if (parse (&argc, &argv, "stop", entries))
    {
      if (halt != NULL && (o.halt_signal = ferry_signal_parse (halt)) < 0)
        ferry_monitor_error ("Invalid halt signal \"%s\"", halt);
      else
        rc = ferry_monitor_stop (&o);
    }
  g_free (o.run_dir);
  return rc;
}

static int
cmd_exec (int argc, char **argv)
{
  FerryExecOptions o = { .uid = -1, .gid = -1 };
  GOptionEntry entries[] = {
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.run_dir, "Run directory", "DIR" },
    { "cwd", 0, 0, G_OPTION_ARG_FILENAME, &o.cwd, "Working directory", "D" },
    { "uid", 0, 0, G_OPTION_ARG_INT64, &o.uid, "User ID", "U" },
    { "gid", 0, 0, G_OPTION_ARG_INT64, &o.gid, "Group ID", "G" },
    { "env", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.env, "Environment", "K=V" },
    { "tty", 0, 0, G_OPTION_ARG_NONE, &o.tty, "Stdin is a pty to make the controlling terminal", NULL },
    { NULL },
  };
  int rc = 255;

  /* Everything after "--" is the command: hide it from GOption. */
  int split = argc;
  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--") == 0)
      {
        split = i;
        break;
      }
  int opt_argc = split;
  char **opt_argv = g_new0 (char *, split + 1);
  for (int i = 0; i < split; i++)
    opt_argv[i] = argv[i];
  char **opt_argv_orig = opt_argv;
  if (parse (&opt_argc, &opt_argv, "exec", entries))
    {
      if (opt_argc > 1 || split >= argc - 1)
        ferry_monitor_error ("exec needs the command after \"--\"");
      else
        {
          o.argv = argv + split + 1;
          rc = ferry_monitor_exec (&o);
        }
    }
  g_free (opt_argv_orig);
  g_free (o.run_dir);
  g_free (o.cwd);
  g_strfreev (o.env);
  /* This process joined the container's PID namespace: it can no longer
   * create threads (CLONE_THREAD is refused), and exit handlers that do
   * (LeakSanitizer's leak check) would spin forever. */
  fflush (NULL);
  _exit (rc);
}

/* device-attach / device-detach: a disk device into or out of a running
 * container. */
static int
cmd_device (int argc, char **argv, gboolean attach)
{
  g_autofree char *run_dir = NULL, *spec = NULL, *name = NULL;
  GOptionEntry entries[] = {
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &run_dir, "Run directory", "DIR" },
    { "disk", 0, 0, G_OPTION_ARG_STRING, &spec, "The disk device (device-attach)", "SPEC" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "The device's name (device-detach)", "NAME" },
    { NULL },
  };

  if (!parse (&argc, &argv, attach ? "device-attach" : "device-detach", entries))
    return 1;
  if (run_dir == NULL || (attach ? spec == NULL : name == NULL))
    {
      ferry_monitor_error ("%s needs --run-dir and %s", attach ? "device-attach" : "device-detach",
                           attach ? "--disk" : "--name");
      return 1;
    }
  return attach ? ferry_monitor_device_attach (run_dir, spec) : ferry_monitor_device_detach (run_dir, name);
}

static int
cmd_freeze (int argc, char **argv, gboolean freeze)
{
  g_autoptr (GError) error = NULL;
  char *run_dir = NULL;
  GOptionEntry entries[] = {
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &run_dir, "Run directory", "DIR" },
    { NULL },
  };
  int rc = 1;

  if (parse (&argc, &argv, freeze ? "freeze" : "unfreeze", entries))
    {
      if (run_dir == NULL)
        ferry_monitor_error ("%s needs --run-dir", freeze ? "freeze" : "unfreeze");
      else if (!(freeze ? ferry_runtime_freeze (run_dir, &error) : ferry_runtime_unfreeze (run_dir, &error)))
        ferry_monitor_error ("%s", error->message);
      else
        rc = 0;
    }
  g_free (run_dir);
  return rc;
}

static int
cmd_checkpoint (int argc, char **argv)
{
  FerryCheckpointOptions o = { 0 };
  char **copy = NULL, **snap = NULL;
  GOptionEntry entries[] = {
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.run_dir, "Run directory", "DIR" },
    { "images", 0, 0, G_OPTION_ARG_FILENAME, &o.images, "Empty directory for CRIU's images", "DIR" },
    { "rootfs-snapshot", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &snap,
      "Snapshot btrfs subvolume SRC as DST (readonly) while frozen (SRC DST)", "SRC" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &o.log, "CRIU's log", "FILE" },
    { "leave-running", 0, 0, G_OPTION_ARG_NONE, &o.leave_running, "Keep the container running (snapshot)", NULL },
    { "rootfs-copy", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &copy, "Copy SRC to DST while frozen (SRC DST)", "SRC" },
    { "stats", 0, 0, G_OPTION_ARG_FILENAME, &o.stats, "Write CRIU's dump statistics (JSON)", "FILE" },
    { "tcp-established", 0, 0, G_OPTION_ARG_NONE, &o.tcp_established, "Dump established TCP connections", NULL },
    { "page-server", 0, 0, G_OPTION_ARG_STRING, &o.page_server, "Send pages to CRIU's page server", "ADDR:PORT" },
    { "hold-fd", 0, 0, G_OPTION_ARG_INT, &o.hold_fd, "Ask through this fd at post-dump (migration)", "FD" },
    { NULL },
  };
  int rc = 1;

  /* --rootfs-copy takes two values: GOption sees the second as a stray
   * argument, taken back below. */
  if (parse (&argc, &argv, "checkpoint", entries))
    {
      if (copy != NULL && snap != NULL)
        ferry_monitor_error ("--rootfs-copy and --rootfs-snapshot exclude each other");
      else if (snap != NULL && (g_strv_length (snap) != 1 || argc != 2))
        ferry_monitor_error ("--rootfs-snapshot takes SRC and DST");
      else if (copy != NULL && (g_strv_length (copy) != 1 || argc != 2))
        ferry_monitor_error ("--rootfs-copy takes SRC and DST");
      else if (copy == NULL && snap == NULL && argc > 1)
        ferry_monitor_error ("Unexpected argument \"%s\"", argv[1]);
      else
        {
          if (copy != NULL || snap != NULL)
            {
              o.rootfs_copy[0] = copy != NULL ? copy[0] : snap[0];
              o.rootfs_copy[1] = argv[1];
              o.rootfs_snapshot = snap != NULL;
            }
          rc = ferry_monitor_checkpoint (&o);
        }
    }
  g_free (o.run_dir);
  g_free (o.images);
  g_free (o.log);
  g_free (o.stats);
  g_free (o.page_server);
  g_strfreev (copy);
  g_strfreev (snap);
  return rc;
}

static int
cmd_page_server (int argc, char **argv)
{
  char *images = NULL, *log = NULL;
  int fd = -1, rc = 1;
  GOptionEntry entries[] = {
    { "images", 0, 0, G_OPTION_ARG_FILENAME, &images, "Directory for the pages", "DIR" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &log, "CRIU's log", "FILE" },
    { "fd", 0, 0, G_OPTION_ARG_INT, &fd, "Inherited socket connected to the dump", "FD" },
    { NULL },
  };

  if (parse (&argc, &argv, "page-server", entries))
    rc = ferry_monitor_page_server (images, log, fd);
  g_free (images);
  g_free (log);
  return rc;
}

static int
cmd_netcat (int argc, char **argv)
{
  int fd = -1;
  GOptionEntry entries[] = {
    { "fd", 0, 0, G_OPTION_ARG_INT, &fd, "Inherited socket", "FD" },
    { NULL },
  };

  /* rsync appends the remote host and command: ignored. */
  if (argc >= 3 && strcmp (argv[1], "--fd") == 0)
    return ferry_monitor_netcat ((int) g_ascii_strtoll (argv[2], NULL, 10));
  if (!parse (&argc, &argv, "netcat", entries))
    return 1;
  return ferry_monitor_netcat (fd);
}

static int
cmd_check_criu (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL },
    { NULL },
  };

  if (!parse (&argc, &argv, "check-criu", entries))
    return 1;
  return ferry_monitor_check_criu (json);
}

static int
cmd_migrate_facts (int argc, char **argv)
{
  g_autofree char *root = NULL;
  gint64 pid = 0;
  GOptionEntry entries[] = {
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "The daemon's root directory (free space)", "DIR" },
    { "pid", 0, 0, G_OPTION_ARG_INT64, &pid, "Host PID of the container's init", "PID" },
    { NULL },
  };

  if (!parse (&argc, &argv, "migrate-facts", entries))
    return 1;
  if (argc > 1 || root == NULL || pid < 0 || pid > G_MAXINT)
    {
      ferry_monitor_error ("migrate-facts needs --root DIR and takes an optional --pid PID");
      return 1;
    }
  return ferry_monitor_migrate_facts (root, (pid_t) pid);
}

static int
cmd_migrate_check (int argc, char **argv)
{
  g_autofree char *source = NULL, *root = NULL;
  gint64 bytes = -1;
  GOptionEntry entries[] = {
    { "source", 0, 0, G_OPTION_ARG_FILENAME, &source, "The source's migrate-facts output", "FILE" },
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "This daemon's root directory (free space)", "DIR" },
    { "bytes", 0, 0, G_OPTION_ARG_INT64, &bytes, "Bytes the container needs here", "N" },
    { NULL },
  };

  if (!parse (&argc, &argv, "migrate-check", entries))
    return 1;
  if (argc > 1 || source == NULL || root == NULL || bytes < 0)
    {
      ferry_monitor_error ("migrate-check needs --source FILE, --root DIR and --bytes N");
      return 1;
    }
  return ferry_monitor_migrate_check (source, root, bytes);
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* As ferryd's, whoever started us: logs, run files and CRIU's images are
   * root's alone. What runs in a container gets 022 back (container-init.c,
   * exec.c); a restored process gets its own from CRIU. */
  umask (0077);
  /* Inherited from ferryd; set here when the monitor runs alone. */
  ferry_criu_kdat_cache_prepare ();
  if (argc < 2)
    {
      usage ();
      return 1;
    }
  const char *cmd = argv[1];
  /* Sub-command parsers see "ferry-monitor CMD" as their argv[0]. */
  argv[1] = argv[0];
  if (strcmp (cmd, "start") == 0)
    return cmd_start (argc - 1, argv + 1, FALSE);
  if (strcmp (cmd, "restore") == 0)
    return cmd_start (argc - 1, argv + 1, TRUE);
  if (strcmp (cmd, "checkpoint") == 0)
    {
      /* A checkpoint outlives a ferryd that dies meanwhile (its output
       * pipes then lead nowhere): the next one completes it. */
      signal (SIGPIPE, SIG_IGN);
      return cmd_checkpoint (argc - 1, argv + 1);
    }
  if (strcmp (cmd, "device-attach") == 0 || strcmp (cmd, "device-detach") == 0)
    return cmd_device (argc - 1, argv + 1, strcmp (cmd, "device-attach") == 0);
  if (strcmp (cmd, "page-server") == 0)
    return cmd_page_server (argc - 1, argv + 1);
  if (strcmp (cmd, "netcat") == 0)
    return cmd_netcat (argc - 1, argv + 1);
  if (strcmp (cmd, "check-criu") == 0)
    return cmd_check_criu (argc - 1, argv + 1);
  if (strcmp (cmd, "migrate-facts") == 0)
    return cmd_migrate_facts (argc - 1, argv + 1);
  if (strcmp (cmd, "migrate-check") == 0)
    return cmd_migrate_check (argc - 1, argv + 1);
  if (strcmp (cmd, "stop") == 0)
    return cmd_stop (argc - 1, argv + 1);
  if (strcmp (cmd, "exec") == 0)
    return cmd_exec (argc - 1, argv + 1);
  if (strcmp (cmd, "freeze") == 0)
    return cmd_freeze (argc - 1, argv + 1, TRUE);
  if (strcmp (cmd, "unfreeze") == 0)
    return cmd_freeze (argc - 1, argv + 1, FALSE);
  usage ();
  return 1;
}
