/* Included once by each libFuzzer target. A GLib critical is a
 * g_return_if_fail that caught a misuse (json-glib's getters handed the
 * wrong node type, say): a bug the fuzzer must report, so it aborts, which
 * libFuzzer turns into a crash with its input saved. Other messages are
 * dropped, to keep the fuzzer's output readable. */
#pragma once

#include <glib.h>
#include <stdlib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);

static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    {
      g_log_writer_standard_streams (level, fields, n_fields, user_data);
      abort ();
    }
  return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
  return 0;
}
