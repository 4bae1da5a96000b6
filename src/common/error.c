#include "common/error.h"

#include <string.h>

G_DEFINE_QUARK (ferry-error-quark, ferry_error)

int
ferry_error_http_status (const GError *error)
{
  if (error == NULL || error->domain != FERRY_ERROR)
    return 500;
  if (error->code < 400 || error->code > 599)
    return 500;
  return error->code;
}

void
ferry_error_add_log (GError **error, const char *log)
{
  char *message;

  if (error == NULL || *error == NULL || log == NULL || strstr ((*error)->message, log) != NULL)
    return;
  message = g_strdup_printf ("%s (log: %s)", (*error)->message, log);
  g_free ((*error)->message);
  (*error)->message = message;
}
