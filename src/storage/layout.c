/* ferryd's on-disk layout: paths and modes (layout.h). */
#include "storage/layout.h"
#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <sys/stat.h>

FerryLayout *
ferry_layout_new(const char *root)
{
  FerryLayout *l = g_new0(FerryLayout, 1);

  l->root = g_canonicalize_filename(root, NULL);
  l->socket = g_build_filename(l->root, "unix.socket", NULL);
  l->db = g_build_filename(l->root, "ferry.db", NULL);
  l->lock = g_build_filename(l->root, "ferryd.lock", NULL);
  l->server_crt = g_build_filename(l->root, "server.crt", NULL);
  l->server_key = g_build_filename(l->root, "server.key", NULL);
  l->containers = g_build_filename(l->root, "containers", NULL);
  l->snapshots = g_build_filename(l->root, "snapshots", NULL);
  l->run = g_build_filename(l->root, "run", NULL);
  l->logs = g_build_filename(l->root, "logs", NULL);
  l->images = g_build_filename(l->root, "images", NULL);
  l->networks = g_build_filename(l->root, "networks", NULL);
  l->daemon_log = g_build_filename(l->logs, "ferryd.log", NULL);
  return l;
}

void
ferry_layout_free(FerryLayout *l)
{
  if (l == NULL)
    return;
  g_free(l->root);
  g_free(l->socket);
  g_free(l->db);
  g_free(l->lock);
  g_free(l->server_crt);
  g_free(l->server_key);
  g_free(l->containers);
  g_free(l->snapshots);
  g_free(l->run);
  g_free(l->logs);
  g_free(l->images);
  g_free(l->networks);
  g_free(l->daemon_log);
  g_free(l);
}

char *
ferry_layout_instance_dir(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->containers, name, NULL);
}

char *
ferry_layout_rootfs(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->containers, name, "rootfs", NULL);
}

char *
ferry_layout_state_dir(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->containers, name, "state", NULL);
}

char *
ferry_layout_run_dir(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->run, name, NULL);
}

char *
ferry_layout_log_dir(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->logs, name, NULL);
}

char *
ferry_layout_log_file(const FerryLayout *l, const char *name, const char *file)
{
  return g_build_filename(l->logs, name, file, NULL);
}

char *
ferry_layout_snapshots_dir(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->snapshots, name, NULL);
}

char *
ferry_layout_snapshot_dir(const FerryLayout *l, const char *name, const char *snap)
{
  return g_build_filename(l->snapshots, name, snap, NULL);
}

void
ferry_layout_instance_dirs(const FerryLayout *l, const char *name, char *dirs[3])
{
  dirs[0] = ferry_layout_instance_dir(l, name);
  dirs[1] = ferry_layout_log_dir(l, name);
  dirs[2] = ferry_layout_snapshots_dir(l, name);
}

char *
ferry_layout_backups_dir(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->containers, name, "backups", NULL);
}

char *
ferry_layout_incoming_marker(const FerryLayout *l, const char *name)
{
  return g_build_filename(l->containers, name, ".ferry-incoming", NULL);
}

char *
ferry_layout_dir_rootfs(const char *dir)
{
  return g_build_filename(dir, "rootfs", NULL);
}

char *
ferry_layout_dir_state(const char *dir)
{
  return g_build_filename(dir, "state", NULL);
}

char *
ferry_layout_last_stats(const FerryLayout *l, const char *name, const char *kind)
{
  g_autofree char *file = g_strdup_printf("last_%s.json", kind);

  return ferry_layout_log_file(l, name, file);
}

char *
ferry_layout_stats_file(const FerryLayout *l)
{
  g_autofree char *uuid = g_uuid_string_random();

  return g_strdup_printf("%s/.stats-%s.json", l->run, uuid);
}

char *
ferry_layout_criu_log(const FerryLayout *l, const char *name, const char *what)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  g_autofree char *file
      = g_strdup_printf("%s_%s.%03d.log", what, stamp, g_date_time_get_microsecond(now) / 1000);

  return ferry_layout_log_file(l, name, file);
}

mode_t
ferry_layout_instance_dir_mode(void)
{
  return 0700;
}

/* mkdir -p, then the exact mode: the umask (0077) and an older ferryd's
 * modes both differ from it. chmod() follows a symlink on purpose: an
 * administrator may have moved images/ or containers/ to another disk. */
static gboolean
set_dir_mode(const char *path, mode_t mode, gboolean create, GError **error)
{
  if (create && !ferry_mkdir_p(path, (int)mode, error))
    return FALSE;
  if (chmod(path, mode) < 0 && (create || errno != ENOENT)) {
    int saved = errno;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting the mode of %s to %04o: %s", path,
                (unsigned)mode, g_strerror(saved));
    return FALSE;
  }
  return TRUE;
}

gboolean
ferry_layout_make_instance_dir(const char *path, GError **error)
{
  return set_dir_mode(path, ferry_layout_instance_dir_mode(), TRUE, error);
}

/* Instance directories made by an older ferryd were 0711 over a 0755
 * rootfs: any user could run a setuid file from it. */
static gboolean
tighten_instance_dirs(const char *containers_dir, GError **error)
{
  g_autoptr(GDir) dir = g_dir_open(containers_dir, 0, error);
  const char *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_build_filename(containers_dir, name, NULL);
    struct stat st;

    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)
        && (st.st_mode & 07777) != ferry_layout_instance_dir_mode()
        && !ferry_layout_make_instance_dir(path, error))
      return FALSE;
  }
  return TRUE;
}

gboolean
ferry_layout_setup(const FerryLayout *l, GError **error)
{
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
    { l->root, 0711, TRUE },      { l->containers, 0711, TRUE }, { l->snapshots, 0700, TRUE },
    { l->images, 0700, TRUE },    { l->logs, 0700, TRUE },       { l->run, 0711, TRUE },
    { l->networks, 0700, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++)
    if (!set_dir_mode(dirs[i].path, dirs[i].mode, dirs[i].create, error))
      return FALSE;
  return tighten_instance_dirs(l->containers, error);
}
