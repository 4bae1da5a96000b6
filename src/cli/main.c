/* ferry: the command-line client. Verbs, flags, output and exit codes follow
 * LXD 5.0's lxc. */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"

static const FerryOption global_options[] = {
  { "debug", 0, FERRY_OPT_BOOL, "Show all debug messages" },
  { "help", 'h', FERRY_OPT_BOOL, "Print help" },
  { "project", 0, FERRY_OPT_STRING, "Override the source project" },
  { "quiet", 'q', FERRY_OPT_BOOL, "Don't show progress information" },
  { "verbose", 'v', FERRY_OPT_BOOL, "Show all information messages" },
  { "version", 0, FERRY_OPT_BOOL, "Print version number" },
  { NULL },
};

static const FerryOption no_options[] = { { NULL } };

static const FerryCommand *const root_commands[] = {
  &ferry_cmd_config, &ferry_cmd_console, &ferry_cmd_copy, &ferry_cmd_delete,    &ferry_cmd_exec,  &ferry_cmd_file, &ferry_cmd_image,
  &ferry_cmd_info,   &ferry_cmd_init,    &ferry_cmd_launch,    &ferry_cmd_list,  &ferry_cmd_move, &ferry_cmd_operation,
  &ferry_cmd_network, &ferry_cmd_pause,  &ferry_cmd_profile, &ferry_cmd_publish, &ferry_cmd_remote, &ferry_cmd_rename,    &ferry_cmd_report, &ferry_cmd_restart,
  &ferry_cmd_restore, &ferry_cmd_snapshot, &ferry_cmd_start,   &ferry_cmd_stop,  &ferry_cmd_export, &ferry_cmd_import, &ferry_cmd_storage,
  &ferry_cmd_project, &ferry_cmd_warning,
  NULL,
};

static const FerryCommand root_command = {
  .name = "ferry",
  .summary = "Command line client for Ferry",
  .description = "Command line client for Ferry\n\n"
                 "All of Ferry's features can be driven through the various commands below.\n"
                 "For help with any of those, simply call them with --help.",
  .subcommands = root_commands,
};

static const FerryCommand *
find_subcommand (const FerryCommand *parent, const char *word)
{
  if (parent->subcommands == NULL)
    return NULL;
  for (guint i = 0; parent->subcommands[i] != NULL; i++)
    {
      const FerryCommand *cmd = parent->subcommands[i];
      if (strcmp (cmd->name, word) == 0)
        return cmd;
      for (guint a = 0; cmd->aliases != NULL && cmd->aliases[a] != NULL; a++)
        if (strcmp (cmd->aliases[a], word) == 0)
          return cmd;
    }
  return NULL;
}

static void
indent_block (GString *out, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] != '\0')
        g_string_append (out, "  ");
      g_string_append (out, lines[i]);
      g_string_append_c (out, '\n');
    }
}

/* cobra's help layout, as lxc prints it. */
static void
print_help (const FerryCommand *cmd, const char *path)
{
  g_autoptr (GString) out = g_string_new ("Description:\n");
  gboolean is_root = cmd == &root_command;

  indent_block (out, cmd->description != NULL ? cmd->description : cmd->summary);
  g_string_append (out, "\nUsage:\n");
  if (is_root)
    g_string_append (out, "  ferry [command]\n");
  else if (cmd->subcommands != NULL && cmd->run == NULL)
    g_string_append_printf (out, "  %s [flags]\n  %s [command]\n", path, path);
  else
    g_string_append_printf (out, "  %s%s%s [flags]\n", path, cmd->usage != NULL ? " " : "",
                            cmd->usage != NULL ? cmd->usage : "");
  if (cmd->aliases != NULL)
    {
      g_string_append_printf (out, "\nAliases:\n  %s", cmd->name);
      for (guint a = 0; cmd->aliases[a] != NULL; a++)
        g_string_append_printf (out, ", %s", cmd->aliases[a]);
      g_string_append_c (out, '\n');
    }
  if (cmd->examples != NULL)
    {
      g_string_append (out, "\nExamples:\n");
      indent_block (out, cmd->examples);
    }
  if (cmd->subcommands != NULL)
    {
      gsize width = 11;

      g_string_append (out, "\nAvailable Commands:\n");
      for (guint i = 0; cmd->subcommands[i] != NULL; i++)
        width = MAX (width, strlen (cmd->subcommands[i]->name) + 1);
      if (is_root)
        g_string_append_printf (out, "  %-*s %s\n", (int) width - 1, "help", "Help about any command");
      for (guint i = 0; cmd->subcommands[i] != NULL; i++)
        g_string_append_printf (out, "  %-*s %s\n", (int) width - 1, cmd->subcommands[i]->name,
                                cmd->subcommands[i]->summary);
    }
  if (cmd->options != NULL && cmd->options[0].long_name != NULL)
    {
      g_string_append (out, "\nFlags:\n");
      ferry_args_format_help (out, cmd->options);
    }
  g_string_append (out, is_root ? "\nFlags:\n" : "\nGlobal Flags:\n");
  ferry_args_format_help (out, global_options);
  if (cmd->subcommands != NULL)
    g_string_append_printf (out, "\nUse \"%s [command] --help\" for more information about a command.\n", path);
  fputs (out->str, stdout);
}

static gboolean
takes_value (const char *arg)
{
  /* the only global flag with a value */
  return strcmp (arg, "--project") == 0;
}

int
main (int argc, char **argv)
{
  FerryCli cli = { 0 };
  const FerryCommand *cmd = &root_command;
  g_autoptr (GString) path = g_string_new ("ferry");
  g_autoptr (GPtrArray) rest = g_ptr_array_new ();
  g_autoptr (FerryArgs) args = NULL;
  g_autoptr (GError) error = NULL;
  const FerryOption *tables[3];
  gboolean walking = TRUE;
  gboolean help_verb = FALSE;
  int status;

  setlocale (LC_ALL, "");

  /* Find the command: the leading words that name (sub)commands; flags may
   * come anywhere, as with cobra. */
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      const FerryCommand *sub;

      if (!walking || arg[0] == '-')
        {
          if (strcmp (arg, "--") == 0)
            walking = FALSE;
          g_ptr_array_add (rest, argv[i]);
          if (walking && takes_value (arg) && i + 1 < argc)
            g_ptr_array_add (rest, argv[++i]);
          continue;
        }
      if (cmd == &root_command && !help_verb && strcmp (arg, "help") == 0)
        {
          help_verb = TRUE;
          continue;
        }
      sub = find_subcommand (cmd, arg);
      if (sub == NULL)
        {
          if (cmd->run == NULL && !help_verb)
            {
              g_printerr ("Error: unknown command \"%s\" for \"%s\"\n", arg, path->str);
              return 1;
            }
          walking = FALSE;
          g_ptr_array_add (rest, argv[i]);
          continue;
        }
      cmd = sub;
      g_string_append_printf (path, " %s", sub->name);
    }

  tables[0] = cmd->options != NULL ? cmd->options : no_options;
  tables[1] = global_options;
  tables[2] = NULL;
  args = ferry_args_parse ((int) rest->len, (char **) rest->pdata, tables, &error);
  if (args == NULL)
    {
      g_printerr ("Error: %s\n", error->message);
      return 1;
    }
  if (ferry_args_get_bool (args, "version") && cmd == &root_command)
    {
      printf ("%s\n", FERRY_VERSION);
      return 0;
    }
  if (help_verb || ferry_args_get_bool (args, "help") || cmd->run == NULL)
    {
      print_help (cmd, path->str);
      return 0;
    }
  if (cmd->min_args >= 0)
    {
      int n = (int) ferry_args_n_positional (args);
      if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args))
        {
          print_help (cmd, path->str);
          /* lxc's CheckArgs: no argument at all only shows the help */
          if (n == 0)
            return 0;
          g_printerr ("Error: Invalid number of arguments\n");
          return 1;
        }
    }

  cli.quiet = ferry_args_get_bool (args, "quiet");
  cli.verbose = ferry_args_get_bool (args, "verbose");
  cli.debug = ferry_args_get_bool (args, "debug");
  cli.project = g_strdup (ferry_args_get_string (args, "project", NULL));
  cli.command_path = path->str;
  cli.clients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) ferry_client_free);
  if (cli.debug)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);

  status = cmd->run (&cli, args, &error);
  ferry_cli_progress_done (&cli);
  if (status == FERRY_EXIT_ERROR)
    {
      g_printerr ("Error: %s\n", error != NULL ? error->message : "unknown error");
      status = 1;
    }
  g_hash_table_unref (cli.clients);
  g_free (cli.project);
  return status;
}
