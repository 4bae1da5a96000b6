#include "daemon/layout.h"
#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <sys/stat.h>

mode_t
ferry_layout_instance_dir_mode (void)
{
  return 0700;
}

/* mkdir -p, then the exact mode: the umask (0077) and an older ferryd's
 * modes both differ from it. chmod() follows a symlink on purpose: an
 * administrator may have moved images/ or containers/ to another disk. */
static gboolean
set_dir_mode (const char *path, mode_t mode, gboolean create, GError **error)
{
  if (create && !ferry_mkdir_p (path, (int) mode, error))
    return FALSE;
  if (chmod (path, mode) < 0 && (create || errno != ENOENT))
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s to %04o: %s", path, (unsigned) mode,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_layout_make_instance_dir (const char *path, GError **error)
{
  return set_dir_mode (path, ferry_layout_instance_dir_mode (), TRUE, error);
}

/* Instance directories made by an older ferryd were 0711 over a 0755
 * rootfs: any user could run a setuid file from it. */
static gboolean
tighten_instance_dirs (const char *containers_dir, GError **error)
{
  g_autoptr (GDir) dir = g_dir_open (containers_dir, 0, error);
  const char *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (containers_dir, name, NULL);
      struct stat st;

      if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 07777) != ferry_layout_instance_dir_mode ()
          && !ferry_layout_make_instance_dir (path, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ferry_layout_setup (FerryDaemon *d, GError **error)
{
  g_autofree char *snapshots = g_build_filename (d->root, "snapshots", NULL);
  g_autofree char *networks = g_build_filename (d->root, "networks", NULL);
  /* What needs no passage is 0700. run/ is passed by the root of an
   * unprivileged container at its restore (its new console is in its run
   * directory, run/NAME, 0711 then). dnsmasq runs as root (--user=root), so
   * networks/ needs none either, unlike LXD's. The network manager makes
   * networks/ itself: its absence is how it knows to create the default
   * network. */
  const struct
  {
    const char *path;
    mode_t mode;
    gboolean create;
  } dirs[] = {
    { d->root, 0711, TRUE },       { d->containers_dir, 0711, TRUE }, { snapshots, 0700, TRUE },
    { d->images_dir, 0700, TRUE }, { d->logs_dir, 0700, TRUE },       { d->run_dir, 0711, TRUE },
    { networks, 0700, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    if (!set_dir_mode (dirs[i].path, dirs[i].mode, dirs[i].create, error))
      return FALSE;
  return tighten_instance_dirs (d->containers_dir, error);
}
