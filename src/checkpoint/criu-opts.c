#include "checkpoint/criu-opts.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

criu_opts *
ferry_criu_opts_new (const char *criu, const char *log_path, int *work_dir_fd, GError **error)
{
  criu_opts *opts = NULL;

  if (work_dir_fd != NULL)
    *work_dir_fd = -1;
  if (criu_local_init_opts (&opts) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "libcriu: cannot allocate options");
      return NULL;
    }
  if (criu_local_set_service_binary (opts, criu) < 0)
    goto nomem;
  if (log_path != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (log_path);
      g_autofree char *base = g_path_get_basename (log_path);
      int fd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening the log directory %s: %s", dir,
                       g_strerror (saved));
          criu_local_free_opts (opts);
          return NULL;
        }
      /* CRIU reads it as /proc/<our pid>/fd/N: close-on-exec is fine. */
      criu_local_set_work_dir_fd (opts, fd);
      *work_dir_fd = fd;
      if (criu_local_set_log_file (opts, base) < 0)
        goto nomem;
      criu_local_set_log_level (opts, CRIU_LOG_DEBUG);
    }
  return opts;

nomem:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "libcriu: cannot set options");
  if (work_dir_fd != NULL && *work_dir_fd >= 0)
    {
      close (*work_dir_fd);
      *work_dir_fd = -1;
    }
  criu_local_free_opts (opts);
  return NULL;
}

void
ferry_criu_empty_dir (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);

  if (d == NULL)
    return;
  for (const char *e; (e = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *p = g_build_filename (dir, e, NULL);
      ferry_rm_rf (p, NULL);
    }
  g_dir_close (d);
}
