/* Named crash points for the fault-injection tests: when the environment of
 * the process says FERRY_TEST_CRASH_AT=NAME, reaching the point NAME kills
 * the process with SIGKILL, as a crash or an administrator's kill -9 would.
 * Only tests set it (tests/integration/test_crash.py); unset, a point costs a
 * getenv. */
#pragma once

void ferry_test_crash_point (const char *name);
