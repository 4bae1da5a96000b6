/* ferry report: a bug-report bundle of one instance, built by ferryd
 * (GET /1.0/instances/NAME/report, a Ferry extension: the answer is a gzip
 * tarball), saved as a file the user can attach to an issue. */
#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "common/error.h"

char *
ferry_report_default_name (const char *instance, GDateTime *now)
{
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");

  return g_strdup_printf ("ferry-report-%s-%s.tar.gz", instance, stamp);
}

static int
cmd_report (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *instance = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autofree char *file = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &instance, error);
  goffset size = 0;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (*instance == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Missing instance name");
      return FERRY_EXIT_ERROR;
    }
  file = g_strdup (ferry_args_get_string (args, "output", NULL));
  if (file == NULL || *file == '\0')
    {
      g_free (file);
      file = ferry_report_default_name (instance, now);
    }
  escaped = ferry_client_escape (instance);
  path = g_strdup_printf ("/1.0/instances/%s/report", escaped);
  if (!ferry_client_download (client, path, file, &size, error))
    return FERRY_EXIT_ERROR;
  if (!cli->quiet)
    printf ("Report written to %s (%" G_GINT64_FORMAT " bytes)\n", file, (gint64) size);
  return 0;
}

static const FerryOption report_options[] = {
  { "output", 'o', FERRY_OPT_STRING, "File to write the report to (default ferry-report-<instance>-<time>.tar.gz)" },
  { NULL },
};

const FerryCommand ferry_cmd_report = {
  .name = "report",
  .summary = "Collect a bug report for an instance",
  .description = "Collect a bug report for an instance\n\n"
                 "The daemon gathers host and instance information, the expanded configuration, dmesg,\n"
                 "mount tables of the host and the instance, the daemon log, the bridge configuration\n"
                 "and the instance's logs (CRIU dump and restore logs included) into a gzip tarball.",
  .usage = "[<remote>:]<instance>",
  .examples = "ferry report c1\n    Write ferry-report-c1-<time>.tar.gz in the current directory.\n\n"
              "ferry report c1 --output /tmp/c1.tar.gz",
  .options = report_options,
  .run = cmd_report,
  .min_args = 1,
  .max_args = 1,
};
