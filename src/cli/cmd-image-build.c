/* ferry image build DISTRIBUTION/RELEASE: an image made here from Debian's
 * archive with mmdebstrap, then imported like `ferry image import` (LXD has
 * no such verb; the tarball is LXD's unified format, which `lxc image
 * import` takes too).
 *
 * Everything it keeps lives under $FERRY_CACHE_DIR (default
 * /var/cache/ferry): debs/<release>/ the packages of the last builds (apt
 * reuses them), images/<key>.tar.zst the last tarball of each recipe (reused
 * with --cache), logs/<key>.log mmdebstrap's output. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"
#include "common/fs.h"
#include "debian-mirror.h"
#include "image-build.h"
#include "image-pack.h"
#include "remote.h"

#define DEFAULT_CACHE_DIR "/var/cache/ferry"

typedef struct
{
  char *root;   /* /var/cache/ferry */
  char *debs;   /* root/debs/<release> */
  char *images; /* root/images */
  char *logs;   /* root/logs */
} CacheDirs;

static void
cache_dirs_clear (CacheDirs *c)
{
  g_free (c->root);
  g_free (c->debs);
  g_free (c->images);
  g_free (c->logs);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CacheDirs, cache_dirs_clear)

static gboolean
cache_dirs_init (CacheDirs *c, const FerryImageRecipe *recipe, GError **error)
{
  const char *env = g_getenv ("FERRY_CACHE_DIR");

  c->root = g_strdup (env != NULL && *env != '\0' ? env : DEFAULT_CACHE_DIR);
  c->debs = g_build_filename (c->root, "debs", recipe->release->release, NULL);
  c->images = g_build_filename (c->root, "images", NULL);
  c->logs = g_build_filename (c->root, "logs", NULL);
  if (!ferry_mkdir_p (c->debs, 0755, error) || !ferry_mkdir_p (c->images, 0755, error)
      || !ferry_mkdir_p (c->logs, 0755, error))
    {
      g_prefix_error (error, "Creating the build cache in %s: ", c->root);
      return FALSE;
    }
  return TRUE;
}

/* Two builds of one release would copy .debs over each other: the second
 * waits. The lock goes with the process. */
static int
lock_release (FerryCli *cli, const CacheDirs *c, GError **error)
{
  g_autofree char *path = g_build_filename (c->debs, ".lock", NULL);
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", path, g_strerror (errno));
      return -1;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) == 0)
    return fd;
  if (!cli->quiet)
    g_printerr ("Waiting for another ferry image build of this release to finish...\n");
  if (flock (fd, LOCK_EX) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Locking %s: %s", path, g_strerror (errno));
      close (fd);
      return -1;
    }
  return fd;
}

static FerryImageRecipe *
recipe_from_args (const char *name, FerryArgs *args, GError **error)
{
  const char *mirror_arg = ferry_args_get_string (args, "mirror", NULL);
  g_autofree char *mirror = NULL;
  g_autofree char *security = NULL;
  struct utsname u;

  ferry_debian_mirrors ("/etc/apt", &mirror, &security);
  if (mirror_arg != NULL && *mirror_arg != '\0')
    {
      g_autofree char *derived = NULL;

      if (!g_str_has_prefix (mirror_arg, "http://") && !g_str_has_prefix (mirror_arg, "https://")
          && !g_str_has_prefix (mirror_arg, "file:/"))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "--mirror must be an http://, https:// or file:/ URL, not \"%s\"", mirror_arg);
          return NULL;
        }
      g_free (mirror);
      mirror = g_strdup (mirror_arg);
      derived = ferry_debian_security_for (mirror);
      if (derived != NULL)
        {
          g_free (security);
          security = g_steal_pointer (&derived);
        }
    }
  uname (&u);
  return ferry_image_recipe_new (name, u.machine, ferry_args_get_strv (args, "include"), mirror, security, error);
}

/* An alias that exists would fail only after the build: say so now. */
static gboolean
check_aliases_free (FerryClient *client, const char *const *aliases, GError **error)
{
  for (; *aliases != NULL; aliases++)
    {
      g_autofree char *escaped = ferry_client_escape (*aliases);
      g_autofree char *path = g_strdup_printf ("/1.0/images/aliases/%s", escaped);
      g_autoptr (JsonObject) existing = ferry_client_get_object (client, path, NULL, NULL);

      if (existing != NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "Image alias \"%s\" already exists: choose another, or remove it first "
                       "(ferry image alias delete %s)",
                       *aliases, *aliases);
          return FALSE;
        }
    }
  return TRUE;
}

/* An interrupted build (Ctrl-C) leaves its temporary tarball; the release
 * lock is held, so any of this recipe's is a leftover. */
static void
remove_leftovers (const CacheDirs *c, const char *key)
{
  g_autofree char *prefix = g_strconcat (".", key, ".", NULL);
  g_autoptr (GDir) dir = g_dir_open (c->images, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, prefix) && strstr (name, ".tmp-") != NULL)
      {
        g_autofree char *path = g_build_filename (c->images, name, NULL);
        unlink (path);
      }
}

static gboolean
build_into_cache (FerryCli *cli, const FerryImageRecipe *recipe, const CacheDirs *c, const char *compression,
                  const char *cached, const char *key, GError **error)
{
  g_autofree char *log_path = g_strdup_printf ("%s/%s.log", c->logs, key);
  g_autofree char *base = g_path_get_basename (cached);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.tmp-XXXXXX", c->images, base);
  g_autoptr (GHashTable) before = ferry_image_list_debs (c->debs);
  gint64 started = g_get_monotonic_time ();
  struct stat st;
  gboolean ok;
  int fd;

  remove_leftovers (c, key);
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating %s: %s", tmp, g_strerror (errno));
      return FALSE;
    }
  ok = ferry_image_build_run (cli, recipe, c->debs, fd, compression, log_path, error);
  if (ok && (fsync (fd) < 0 || fstat (fd, &st) < 0 || rename (tmp, cached) < 0))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Storing %s: %s", cached, g_strerror (errno));
      ok = FALSE;
    }
  close (fd);
  if (!ok)
    {
      unlink (tmp);
      return FALSE;
    }
  ferry_image_prune_debs (c->debs, before);
  if (!cli->quiet)
    {
      gint64 secs = (g_get_monotonic_time () - started) / G_USEC_PER_SEC;
      printf ("Built %s/%s in %dm%02ds: %s (%.1f MiB)\n", recipe->release->distribution, recipe->release->release,
              (int) (secs / 60), (int) (secs % 60), cached, (double) st.st_size / (1024.0 * 1024.0));
    }
  return TRUE;
}

/* A hard link when the output is on the cache's file system, else a copy;
 * either way the output appears whole or not at all. */
static gboolean
write_output (const char *cached, const char *output, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (output);
  g_autofree char *base = g_path_get_basename (output);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.tmp-%d", dir, base, (int) getpid ());
  g_autoptr (GFile) from = g_file_new_for_path (cached);
  g_autoptr (GFile) to = g_file_new_for_path (tmp);

  unlink (tmp);
  if (link (cached, tmp) < 0 && !g_file_copy (from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error))
    {
      g_prefix_error (error, "Writing %s: ", output);
      return FALSE;
    }
  if (rename (tmp, output) < 0)
    {
      int errsv = errno;
      unlink (tmp);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s: %s", output, g_strerror (errsv));
      return FALSE;
    }
  /* When OUTPUT already was a link to the cached file, rename() did
   * nothing (POSIX: both names are the same file) and left TMP. */
  unlink (tmp);
  return TRUE;
}

static int
cmd_image_build (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  gboolean import = !ferry_args_get_bool (args, "no-import");
  const char *output = ferry_args_get_string (args, "output", NULL);
  const char *compression = ferry_args_get_string (args, "compression", NULL);
  const char *extension;
  const char *const *aliases = ferry_args_get_strv (args, "alias");
  g_autofree char *remote = ferry_remote_default ();
  g_autoptr (FerryImageRecipe) recipe = NULL;
  g_auto (CacheDirs) dirs = { 0 };
  g_autofree char *key = NULL;
  g_autofree char *cached = NULL;
  g_autofree char *file = NULL;
  FerryClient *client = NULL;
  struct stat st;
  int lock_fd;
  gboolean ok;

  if (pos[1] != NULL)
    {
      g_autofree char *rest = NULL;

      if (!g_str_has_suffix (pos[1], ":"))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Expected a remote (\"name:\"), not \"%s\"", pos[1]);
          return FERRY_EXIT_ERROR;
        }
      g_clear_pointer (&remote, g_free);
      if (!ferry_remote_parse (pos[1], &remote, &rest, error))
        return FERRY_EXIT_ERROR;
    }
  recipe = recipe_from_args (pos[0], args, error);
  if (recipe == NULL)
    return FERRY_EXIT_ERROR;
  /* --output debian12.tar.xz asks for xz. */
  if (compression == NULL && output != NULL)
    compression = ferry_image_pack_compression_for (output);
  if (compression == NULL)
    compression = "zstd";
  extension = ferry_image_pack_extension (compression);
  if (extension == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Unknown --compression \"%s\": zstd (the default), xz, gzip or none", compression);
      return FERRY_EXIT_ERROR;
    }
  if (!import && *aliases != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "--alias names the imported image: it needs no --no-import");
      return FERRY_EXIT_ERROR;
    }
  if (geteuid () != 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FORBIDDEN,
                   "Building an image needs root: mmdebstrap creates files owned by root and runs the packages' "
                   "scripts in a chroot (run ferry image build as root, e.g. with sudo)");
      return FERRY_EXIT_ERROR;
    }
  /* Before minutes of building: is the daemon there, are the names free? */
  if (import)
    {
      client = ferry_cli_client (cli, remote, error);
      if (client == NULL || !check_aliases_free (client, aliases, error))
        return FERRY_EXIT_ERROR;
    }
  if (!cache_dirs_init (&dirs, recipe, error))
    return FERRY_EXIT_ERROR;
  key = ferry_image_recipe_cache_key (recipe);
  cached = g_strdup_printf ("%s/%s%s", dirs.images, key, extension);
  lock_fd = lock_release (cli, &dirs, error);
  if (lock_fd < 0)
    return FERRY_EXIT_ERROR;
  if (ferry_args_get_bool (args, "cache") && stat (cached, &st) == 0)
    {
      g_autoptr (GDateTime) when = g_date_time_new_from_unix_local (st.st_mtime);
      g_autofree char *shown = g_date_time_format (when, "%Y-%m-%d %H:%M");
      if (!cli->quiet)
        printf ("Using the build of %s from the cache: %s\n", shown, cached);
      ok = TRUE;
    }
  else
    ok = build_into_cache (cli, recipe, &dirs, compression, cached, key, error);
  close (lock_fd);
  if (!ok)
    return FERRY_EXIT_ERROR;
  file = g_strdup (cached);
  if (output != NULL && *output != '\0')
    {
      if (!write_output (cached, output, error))
        return FERRY_EXIT_ERROR;
      g_free (file);
      file = g_strdup (output);
      if (!cli->quiet)
        printf ("Image tarball written to %s\n", output);
    }
  if (!import)
    return 0;
  if (!ferry_cli_image_upload (cli, client, file, aliases, ferry_args_get_bool (args, "public"), NULL, error))
    return FERRY_EXIT_ERROR;
  return 0;
}

static const FerryOption image_build_options[] = {
  { "include", 0, FERRY_OPT_STRV, "Extra Debian packages to install (comma-separated, repeatable)" },
  { "alias", 0, FERRY_OPT_STRV, "New aliases to add to the image" },
  { "output", 'o', FERRY_OPT_STRING, "Also write the image tarball to this file" },
  { "no-import", 0, FERRY_OPT_BOOL, "Only build the tarball; do not import it" },
  { "cache", 0, FERRY_OPT_BOOL, "Reuse the last build of the same release and packages if there is one" },
  { "compression", 0, FERRY_OPT_STRING,
    "Compression: zstd, xz, gzip or none (default: --output's extension, else zstd)" },
  { "public", 0, FERRY_OPT_BOOL, "Make image public" },
  { "mirror", 0, FERRY_OPT_STRING, "Debian mirror URL (default: the one this host's apt uses)" },
  { NULL },
};

const FerryCommand ferry_cmd_image_build = {
  .name = "build",
  .summary = "Build a Debian image with mmdebstrap and import it",
  .description = "Build a Debian image with mmdebstrap and import it\n\n"
                 "Runs as root on the client's machine. The image is Debian's minbase with systemd as init,\n"
                 "systemd-networkd doing DHCP on eth0, systemd-resolved, dbus and the packages given with\n"
                 "--include, from the mirror this host's apt uses; no device nodes in /dev. It is written as an\n"
                 "LXD unified tarball (which `lxc image import` takes too) and imported unless --no-import.\n"
                 "Downloaded packages are kept in /var/cache/ferry/debs ($FERRY_CACHE_DIR) for the next build;\n"
                 "the last tarball of each release and package set in /var/cache/ferry/images (reused with --cache).",
  .usage = "<distribution>/<release> [<remote>:]",
  .examples = "ferry image build debian/bookworm --alias debian12\n"
              "ferry image build debian/trixie --include postgresql --alias deb13-pg\n"
              "ferry image build debian/12 --no-import --output debian12.tar.xz",
  .options = image_build_options,
  .run = cmd_image_build,
  .min_args = 1,
  .max_args = 2,
};
