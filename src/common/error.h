/* Ferry's error domain: every GError that can reach an API client carries one
 * of these codes, so the daemon can map it to an HTTP status in one place. */
#pragma once

#include <glib.h>

#define FERRY_ERROR (ferry_error_quark ())
GQuark ferry_error_quark (void);

typedef enum
{
  FERRY_ERROR_FAILED = 500,       /* internal failure */
  FERRY_ERROR_INVALID = 400,      /* bad input from the client */
  FERRY_ERROR_FORBIDDEN = 403,
  FERRY_ERROR_NOT_FOUND = 404,
  FERRY_ERROR_CONFLICT = 409,     /* name taken, wrong state */
  FERRY_ERROR_PRECONDITION = 412, /* ETag mismatch */
  FERRY_ERROR_TOO_MANY_REQUESTS = 429, /* a client must wait (wrong passwords) */
  FERRY_ERROR_UNAVAILABLE = 503,  /* a needed tool (CRIU...) is missing */
} FerryErrorCode;

/* Appends " (log: PATH)" to the message, so a failure names where its
 * details are; nothing if the message names the log already. */
void ferry_error_add_log (GError **error, const char *log);

/* HTTP status for any GError: FERRY_ERROR codes are statuses already. */
int ferry_error_http_status (const GError *error);
