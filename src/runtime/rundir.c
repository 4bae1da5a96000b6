#include "runtime/rundir.h"

#include "common/error.h"
#include "common/fs.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <unistd.h>

/* Field 22 of /proc/PID/stat, 0 if the process does not exist. */
guint64
ferry_rundir_starttime (pid_t pid)
{
  return ferry_proc_starttime (pid);
}

gboolean
ferry_rundir_write_pid (const char *run_dir, const char *file, pid_t pid, GError **error)
{
  g_autofree char *path = g_build_filename (run_dir, file, NULL);
  g_autofree char *data = g_strdup_printf ("%d %" G_GUINT64_FORMAT "\n", (int) pid, ferry_rundir_starttime (pid));

  return ferry_write_file_atomic (path, data, -1, 0644, error);
}

static gboolean
read_pid_file (const char *run_dir, const char *file, pid_t *pid, guint64 *starttime)
{
  g_autofree char *path = g_build_filename (run_dir, file, NULL);
  g_autofree char *data = ferry_read_small_file (path);
  int p = 0;
  unsigned long long st = 0;

  if (data == NULL || sscanf (data, "%d %llu", &p, &st) != 2 || p <= 0 || st == 0)
    return FALSE;
  *pid = p;
  *starttime = st;
  return TRUE;
}

pid_t
ferry_rundir_live_pid (const char *run_dir, const char *file)
{
  pid_t pid;
  guint64 starttime;

  if (!read_pid_file (run_dir, file, &pid, &starttime) || ferry_rundir_starttime (pid) != starttime)
    return 0;
  return pid;
}

int
ferry_rundir_open_pidfd (const char *run_dir, const char *file, pid_t *pid_out)
{
  pid_t pid;
  guint64 starttime;

  if (!read_pid_file (run_dir, file, &pid, &starttime))
    return -1;
  int fd = pidfd_open (pid, 0);
  if (fd < 0)
    return -1;
  /* Checked after opening: the pidfd now pins this very process. */
  if (ferry_rundir_starttime (pid) != starttime)
    {
      close (fd);
      return -1;
    }
  if (pid_out != NULL)
    *pid_out = pid;
  fcntl (fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

int
ferry_rundir_lock_busy (const char *run_dir, GError **error)
{
  g_autofree char *path = g_build_filename (run_dir, FERRY_RUNTIME_BUSY_LOCK, NULL);
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

  while (fd >= 0 && flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        close (fd);
        fd = -1;
      }
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Locking %s: %s", path, g_strerror (saved));
    }
  return fd;
}

gboolean
ferry_rundir_wait_not_busy (const char *run_dir, int timeout_s)
{
  g_autofree char *path = g_build_filename (run_dir, FERRY_RUNTIME_BUSY_LOCK, NULL);
  int fd = open (path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  gboolean free_ = TRUE;

  if (fd < 0)
    return TRUE;
  for (int i = 0; (free_ = flock (fd, LOCK_EX | LOCK_NB) == 0) == FALSE && i < timeout_s * 20; i++)
    g_usleep (50 * 1000);
  close (fd);
  return free_;
}

GPtrArray *
ferry_rundir_nic_host_sides (const char *run_dir)
{
  g_autofree char *path = g_build_filename (run_dir, FERRY_RUNDIR_NICS, NULL);
  g_autofree char *text = ferry_read_small_file (path);
  g_auto (GStrv) lines = text != NULL ? g_strsplit (text, "\n", -1) : NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  for (char **l = lines; l != NULL && *l != NULL; l++)
    {
      g_auto (GStrv) f = g_strsplit (*l, " ", -1);
      if (g_strv_length (f) == 3)
        g_ptr_array_add (names, g_strdup (f[1]));
    }
  return names;
}
