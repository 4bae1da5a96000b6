/* CRIU's page server on a socket that is already connected: the target side
 * of a live migration. The daemon relays the dump's page stream to this
 * socket, so memory is written once, on the target, while the source dumps. */
#include "checkpoint/checkpoint.h"

#include "common/error.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static void
keep_fd_open (gpointer data)
{
  int fd = GPOINTER_TO_INT (data);
  int flags = fcntl (fd, F_GETFD);

  if (flags >= 0)
    fcntl (fd, F_SETFD, flags & ~FD_CLOEXEC);
}

gboolean
ferry_checkpoint_page_server (const char *criu_path, const char *images_dir, int socket_fd, const char *log_path,
                              GError **error)
{
  g_autofree char *fd_text = g_strdup_printf ("%d", socket_fd);
  g_autofree char *log_dir = g_path_get_dirname (log_path);
  g_autofree char *log_name = g_path_get_basename (log_path);
  const char *argv[] = { criu_path, "page-server", "--images-dir", images_dir, "--ps-socket", fd_text,
                         "--work-dir", log_dir, "--log-file", log_name, "-v4", NULL };
  g_autoptr (GError) local = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_LEAVE_DESCRIPTORS_OPEN, keep_fd_open, GINT_TO_POINTER (socket_fd), NULL,
                     NULL, &status, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Running CRIU's page server: %s", local->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_autofree char *errors = ferry_criu_log_errors (log_path);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "CRIU's page server failed.\n%s\nLog: %s",
                   *errors ? errors : "(no Error line in its log)", log_path);
      return FALSE;
    }
  return TRUE;
}
