/* The rootfs copy of a stateful snapshot, made while the container is frozen
 * (cp -a keeps owners, modes, times, xattrs, hard links, symlinks and device
 * nodes; --reflink=auto makes it instant on btrfs/xfs). */
#include "checkpoint/checkpoint.h"

#include "common/error.h"
#include "common/fs.h"

#include <sys/wait.h>

gboolean
ferry_checkpoint_copy_tree (const char *src, const char *dst, GError **error)
{
  const char *argv[] = { "cp", "-a", "--reflink=auto", "--", src, dst, NULL };
  g_autofree char *err = NULL;
  g_autoptr (GError) local = NULL;
  int status = 0;

  if (!g_file_test (src, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "%s is not a directory", src);
      return FALSE;
    }
  if (g_file_test (dst, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "%s already exists", dst);
      return FALSE;
    }
  /* Our stdout may be a pipe someone parses: cp's goes nowhere. */
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                     &err, &status, &local))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Running cp: %s", local->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      ferry_rm_rf (dst, NULL);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "cp -a %s %s failed: %s", src, dst,
                   err != NULL ? g_strstrip (err) : "");
      return FALSE;
    }
  return TRUE;
}
