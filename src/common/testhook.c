/* Named crash points (see testhook.h). */
#include "config.h"

#include "common/testhook.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void
ferry_test_crash_point (const char *name)
{
  const char *at = getenv ("FERRY_TEST_CRASH_AT");

  if (at != NULL && strcmp (at, name) == 0)
    raise (SIGKILL);
}
