#include "common/error.h"

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
