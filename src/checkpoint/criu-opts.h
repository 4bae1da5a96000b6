/* libcriu options common to every operation (internal to src/checkpoint). */
#pragma once

#include <criu/criu.h>
#include <glib.h>

/* New options running CRIU, logging at debug level to LOG_PATH (CRIU's RPC
 * takes a bare file name in a work directory: *WORK_DIR_FD gets that
 * directory, to close after the operation). LOG_PATH NULL: no log (only for
 * requests that write none, as the version query). */
criu_opts *ferry_criu_opts_new (const char *criu, const char *log_path, int *work_dir_fd, GError **error);

/* Removes everything inside DIR, keeping DIR. */
void ferry_criu_empty_dir (const char *dir);
