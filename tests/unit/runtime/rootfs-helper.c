#include "rootfs-helper.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
test_make_busybox_rootfs (const char *dir, GError **error)
{
  static const char *const dirs[] = { "bin", "sbin", "etc", "proc", "sys", "dev", "root", "tmp", "usr/bin" };
  static const char *const applets[] = { "sh",   "init",  "ps",    "hostname", "cat", "sleep", "mount",
                                         "echo", "ls",    "grep",  "kill",     "id",  "readlink", "true" };
  const char *busybox = g_file_test ("/bin/busybox", G_FILE_TEST_EXISTS) ? "/bin/busybox" : "/usr/bin/busybox";

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *d = g_build_filename (dir, dirs[i], NULL);
      if (g_mkdir_with_parents (d, 0755) < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "mkdir %s", d);
          return FALSE;
        }
    }
  g_autofree char *bb = g_build_filename (dir, "bin", "busybox", NULL);
  g_autoptr (GFile) src = g_file_new_for_path (busybox);
  g_autoptr (GFile) dst = g_file_new_for_path (bb);
  if (!g_file_copy (src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error))
    return FALSE;
  chmod (bb, 0755);
  for (gsize i = 0; i < G_N_ELEMENTS (applets); i++)
    {
      g_autofree char *link = g_build_filename (dir, "bin", applets[i], NULL);
      if (symlink ("/bin/busybox", link) < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "symlink %s", link);
          return FALSE;
        }
    }
  g_autofree char *init = g_build_filename (dir, "sbin", "init", NULL);
  if (symlink ("/bin/busybox", init) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "symlink %s", init);
      return FALSE;
    }
  g_autofree char *inittab = g_build_filename (dir, "etc", "inittab", NULL);
  g_autofree char *passwd = g_build_filename (dir, "etc", "passwd", NULL);
  return g_file_set_contents (inittab,
                              "::sysinit:/bin/echo ferry-boot-ok\n"
                              "::respawn:/bin/sleep 1000\n"
                              "::shutdown:/bin/echo ferry-shutdown\n",
                              -1, error)
         && g_file_set_contents (passwd, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n", -1,
                                 error);
}
