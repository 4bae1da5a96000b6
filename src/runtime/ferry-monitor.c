/* ferry-monitor: the per-container monitor and the runtime's command-line
 * face for ferryd (start, stop, exec, freeze, unfreeze). */
#include "runtime/monitor.h"
#include "runtime/runtime.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static void
usage (void)
{
  fputs ("Usage:\n"
         "  ferry-monitor start --name NAME --rootfs DIR --run-dir DIR --log-dir DIR --cgroup-parent PARENT\n"
         "                [--hostname H] [--limit-memory BYTES] [--limit-cpu SPEC] [--limit-processes N]\n"
         "                [--init PATH] [--env K=V ...]\n"
         "  ferry-monitor stop --run-dir DIR [--timeout SECONDS] [--force]\n"
         "  ferry-monitor exec --run-dir DIR [--cwd D] [--uid U] [--gid G] [--env K=V ...] [--tty] -- CMD [ARGS...]\n"
         "  ferry-monitor freeze|unfreeze --run-dir DIR\n",
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

static int
cmd_start (int argc, char **argv)
{
  FerryStartOptions o = { 0 };
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
    { NULL },
  };
  int rc = 1;

  if (parse (&argc, &argv, "start", entries))
    {
      if (argc > 1)
        ferry_monitor_error ("Unexpected argument \"%s\"", argv[1]);
      else
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
  return rc;
}

static int
cmd_stop (int argc, char **argv)
{
  FerryStopOptions o = { .timeout = -1 };
  GOptionEntry entries[] = {
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.run_dir, "Run directory", "DIR" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &o.timeout, "Seconds before SIGKILL (default 30)", "SECONDS" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &o.force, "SIGKILL at once", NULL },
    { NULL },
  };
  int rc = 1;

  if (parse (&argc, &argv, "stop", entries))
    rc = ferry_monitor_stop (&o);
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
  return rc;
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

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2)
    {
      usage ();
      return 1;
    }
  const char *cmd = argv[1];
  /* Sub-command parsers see "ferry-monitor CMD" as their argv[0]. */
  argv[1] = argv[0];
  if (strcmp (cmd, "start") == 0)
    return cmd_start (argc - 1, argv + 1);
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
