/* ferry console NAME --show-log (lxc/console.go). Attaching to the console
 * (the console websocket) comes later. */
#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "common/error.h"

static int
cmd_console (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GBytes) log = NULL;
  const char *data;
  gsize len = 0;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (!ferry_args_get_bool (args, "show-log"))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Attaching to the console is not supported yet; use --show-log");
      return FERRY_EXIT_ERROR;
    }
  escaped = ferry_client_escape (name);
  /* LXD: GET /1.0/instances/<name>/console returns the console log. */
  path = g_strdup_printf ("/1.0/instances/%s/console", escaped);
  log = ferry_client_get_raw (client, path, error);
  if (log == NULL)
    return FERRY_EXIT_ERROR;
  data = g_bytes_get_data (log, &len);
  printf ("\nConsole log:\n\n");
  fwrite (data, 1, len, stdout);
  printf ("\n");
  return 0;
}

static const FerryOption console_options[] = {
  { "show-log", 0, FERRY_OPT_BOOL, "Retrieve the instance's console log" },
  { "type", 't', FERRY_OPT_STRING, "Type of connection to establish: 'console' for serial console (default \"console\")" },
  { NULL },
};

const FerryCommand ferry_cmd_console = {
  .name = "console",
  .summary = "Attach to instance consoles",
  .usage = "[<remote>:]<instance>",
  .options = console_options,
  .run = cmd_console,
  .min_args = 1,
  .max_args = 1,
};
