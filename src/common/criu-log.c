/* CRIU's log, condensed for a user (as crun's show_criu_log()). */
#include "common/criu-log.h"

#include <string.h>

char *
ferry_criu_log_errors (const char *log_path)
{
  g_autofree char *log = NULL;
  GString *out = g_string_new (NULL);

  if (log_path == NULL || !g_file_get_contents (log_path, &log, NULL, NULL))
    return g_string_free (out, FALSE);
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      if (strstr (*l, "Error (") == NULL)
        continue;
      /* In every log on these machines, and harmless. */
      if (strstr (*l, "Can't setup RLIMIT_NOFILE") != NULL)
        continue;
      if (out->len > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, g_strstrip (*l));
    }
  return g_string_free (out, FALSE);
}
