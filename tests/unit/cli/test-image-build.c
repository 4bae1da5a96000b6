/* `ferry image build` without building: the recipe (releases, package
 * names, cache key, metadata, mmdebstrap's command line), the host mirror
 * lookup, the repacking of a root file system tarball and the .deb cache
 * pruning. The real build runs in tests/integration/test_image_build.py. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "debian-mirror.h"
#include "image-build.h"
#include "image-pack.h"
#include "image-recipe.h"
#include "image/image.h"
#include "image/metadata.h"

static void
test_release_lookup (void)
{
  const char *good[][2] = {
    { "debian/bookworm", "bookworm" },
    { "debian/12", "bookworm" },
    { "debian/trixie", "trixie" },
    { "debian/13", "trixie" },
  };
  const char *bad[] = { "debian/sid", "ubuntu/noble", "bookworm",          "",
                        "debian/",    "/bookworm",    "debian/bookworm/x", "debianx/bookworm" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      const FerryDistroRelease *r = ferry_distro_release_lookup (good[i][0], NULL);
      g_assert_nonnull (r);
      g_assert_cmpstr (r->release, ==, good[i][1]);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (ferry_distro_release_lookup (bad[i], &error));
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "debian/bookworm (12)"));
    }
}

static FerryImageRecipe *
recipe (const char *const *includes, GError **error)
{
  return ferry_image_recipe_new ("debian/bookworm", "x86_64", includes, "http://mirror.example/debian",
                                 "http://mirror.example/debian-security", error);
}

static void
test_includes (void)
{
  const char *const includes[] = { "postgresql, nginx-light", "libc6:amd64,g++", "nginx-light", ",", NULL };
  const char *const bad[]
      = { "Postgres", "../evil.deb", "a", "pkg;reboot", "x:", "-x", "pkg name", "?essential", "pkg=1.0" };
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageRecipe) r = recipe (includes, &error);
  g_auto (GStrv) packages = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (r->includes->len, ==, 4);
  g_assert_cmpstr (r->includes->pdata[0], ==, "g++");
  g_assert_cmpstr (r->includes->pdata[1], ==, "libc6:amd64");
  g_assert_cmpstr (r->includes->pdata[2], ==, "nginx-light");
  g_assert_cmpstr (r->includes->pdata[3], ==, "postgresql");
  g_assert_cmpstr (r->dpkg_arch, ==, "amd64");
  packages = ferry_image_recipe_packages (r);
  g_assert_true (g_strv_contains ((const char *const *) packages, "systemd"));
  g_assert_true (g_strv_contains ((const char *const *) packages, "postgresql"));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *const one[] = { bad[i], NULL };
      g_autoptr (GError) e = NULL;
      g_assert_null (recipe (one, &e));
      g_assert_error (e, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  {
    g_autoptr (GError) e = NULL;
    g_assert_null (ferry_image_recipe_new ("debian/bookworm", "vax", NULL, "http://m/debian", "http://m/s", &e));
    g_assert_error (e, FERRY_ERROR, FERRY_ERROR_INVALID);
  }
}

static void
test_cache_key (void)
{
  const char *const a[] = { "postgresql,nginx-light", NULL };
  const char *const b[] = { "nginx-light", "postgresql", "nginx-light", NULL };
  const char *const c[] = { "postgresql", NULL };
  g_autoptr (FerryImageRecipe) ra = recipe (a, NULL);
  g_autoptr (FerryImageRecipe) rb = recipe (b, NULL);
  g_autoptr (FerryImageRecipe) rc = recipe (c, NULL);
  g_autoptr (FerryImageRecipe) none = recipe (NULL, NULL);
  g_autofree char *ka = ferry_image_recipe_cache_key (ra);
  g_autofree char *kb = ferry_image_recipe_cache_key (rb);
  g_autofree char *kc = ferry_image_recipe_cache_key (rc);
  g_autofree char *kn = ferry_image_recipe_cache_key (none);

  g_assert_true (g_str_has_prefix (ka, "debian-bookworm-amd64-"));
  g_assert_cmpuint (strlen (ka), ==, strlen ("debian-bookworm-amd64-") + 12);
  g_assert_cmpstr (ka, ==, kb);
  g_assert_cmpstr (ka, !=, kc);
  g_assert_cmpstr (kc, !=, kn);
}

static void
test_metadata (void)
{
  const char *const includes[] = { "postgresql", NULL };
  g_autoptr (FerryImageRecipe) r = recipe (includes, NULL);
  g_autoptr (GDateTime) now = g_date_time_new_utc (2026, 12, 5, 23, 18, 0);
  g_autofree char *yaml = ferry_image_recipe_metadata (r, now);
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageMetadata) md = ferry_image_metadata_parse (yaml, strlen (yaml), &error);

  g_assert_no_error (error);
  g_assert_cmpstr (md->architecture, ==, "x86_64");
  g_assert_cmpint (md->creation_date, ==, g_date_time_to_unix (now));
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "os"), ==, "Debian");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "release"), ==, "bookworm");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "variant"), ==, "default");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "serial"), ==, "20261205_2318");
  g_assert_nonnull (strstr (g_hash_table_lookup (md->properties, "description"), "with postgresql"));
  g_assert_nonnull (strstr (yaml, "template: hostname.tpl"));
}

static void
test_mmdebstrap_argv (void)
{
  const char *const includes[] = { "postgresql", NULL };
  g_autoptr (FerryImageRecipe) r = recipe (includes, NULL);
  g_auto (GStrv) argv = ferry_image_recipe_mmdebstrap_argv (r, "/var/cache/it's here");
  g_autofree char *all = g_strjoinv ("\n", argv);
  guint n = g_strv_length (argv);

  g_assert_cmpstr (argv[0], ==, "mmdebstrap");
  g_assert_true (g_strv_contains ((const char *const *) argv, "--mode=root"));
  g_assert_true (g_strv_contains ((const char *const *) argv, "--variant=minbase"));
  g_assert_true (g_strv_contains ((const char *const *) argv, "--skip=essential/unlink"));
  g_assert_nonnull (strstr (all, "\n--include=systemd,systemd-sysv,"));
  g_assert_nonnull (strstr (all, ",postgresql\n"));
  /* The cache path is quoted for the hooks' shell. */
  g_assert_nonnull (strstr (all, "'/var/cache/it'\\''s here'"));
  /* Hooks are single lines (mmdebstrap stat()s them). */
  for (guint i = 0; i < n; i++)
    g_assert_null (strchr (argv[i], '\n'));
  g_assert_cmpstr (argv[n - 5], ==, "bookworm");
  g_assert_cmpstr (argv[n - 4], ==, "-");
  g_assert_cmpstr (argv[n - 3], ==, "deb http://mirror.example/debian bookworm main");
  g_assert_cmpstr (argv[n - 2], ==, "deb http://mirror.example/debian bookworm-updates main");
  g_assert_cmpstr (argv[n - 1], ==, "deb http://mirror.example/debian-security bookworm-security main");
}

/* ---- the host's mirror ---- */

static char *
make_etc_apt (const char *list, const char *const *files)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-apt-XXXXXX", NULL);
  g_autofree char *d = g_build_filename (dir, "sources.list.d", NULL);

  g_assert_cmpint (mkdir (d, 0755), ==, 0);
  if (list != NULL)
    {
      g_autofree char *p = g_build_filename (dir, "sources.list", NULL);
      g_assert_true (g_file_set_contents (p, list, -1, NULL));
    }
  for (; files != NULL && *files != NULL; files += 2)
    {
      g_autofree char *p = g_build_filename (d, files[0], NULL);
      g_assert_true (g_file_set_contents (p, files[1], -1, NULL));
    }
  return g_steal_pointer (&dir);
}

static void
check_mirrors (const char *list, const char *const *files, const char *mirror, const char *security)
{
  g_autofree char *dir = make_etc_apt (list, files);
  g_autofree char *m = NULL;
  g_autofree char *s = NULL;

  ferry_debian_mirrors (dir, &m, &s);
  g_assert_cmpstr (m, ==, mirror);
  g_assert_cmpstr (s, ==, security);
  g_assert_true (ferry_rm_rf (dir, NULL));
}

static void
test_mirrors (void)
{
  /* This machine's layout: deb822 Debian sources, one-line third parties. */
  const char *const deb822[] = {
    "00-google.list",
    "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n",
    "debian.sources",
    "Types: deb\n"
    "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
    "URIs: http://deb.debian.org/debian\n"
    "Suites: bookworm bookworm-updates\n"
    "Components: main\n"
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    "\n"
    "Types: deb\n"
    "URIs: http://deb.debian.org/debian-security\n"
    "Suites: bookworm-security\n"
    "Components: main\n",
    "nodesource.sources",
    "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n",
    NULL,
  };
  const char *const disabled[] = {
    "a.sources",
    "Enabled: no\nTypes: deb\nURIs: http://old.example/debian\nSuites: bookworm\nComponents: main\n\n"
    "Types: deb-src deb\nURIs:\n http://local.example/debian/\nSuites: trixie\nComponents: contrib main\n",
    NULL,
  };

  check_mirrors (NULL, deb822, "http://deb.debian.org/debian", "http://deb.debian.org/debian-security");
  check_mirrors ("# deb http://commented.example/debian bookworm main\n"
                 "deb-src http://src.example/debian bookworm main\n"
                 "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/  bookworm main contrib\n"
                 "deb http://security.example/debian-security bookworm-security main\n",
                 NULL, "http://mirror.example/debian", "http://security.example/debian-security");
  check_mirrors (NULL, disabled, "http://local.example/debian", "http://local.example/debian-security");
  check_mirrors ("deb http://nomain.example/debian bookworm contrib\n", NULL, "http://deb.debian.org/debian",
                 "http://deb.debian.org/debian-security");
  check_mirrors ("deb http://proxy.example:3142/deb bookworm main\n", NULL, "http://proxy.example:3142/deb",
                 "http://deb.debian.org/debian-security");
}

/* ---- repacking mmdebstrap's tarball ---- */

static void
add_entry (struct archive *a, const char *path, mode_t mode, const char *data, const char *link, const char *hardlink)
{
  struct archive_entry *e = archive_entry_new ();
  gsize len = data != NULL ? strlen (data) : 0;

  archive_entry_set_pathname (e, path);
  archive_entry_set_mode (e, mode);
  archive_entry_set_uid (e, 0);
  archive_entry_set_mtime (e, 1600000000, 0);
  archive_entry_set_size (e, (la_int64_t) len);
  if (link != NULL)
    archive_entry_set_symlink (e, link);
  if (hardlink != NULL)
    archive_entry_set_hardlink (e, hardlink);
  if (S_ISCHR (mode))
    archive_entry_set_rdev (e, makedev (1, 3));
  if (data != NULL && strcmp (path, "./usr/bin/ping") == 0)
    archive_entry_xattr_add_entry (e, "user.ferry", "cap", 3);
  g_assert_cmpint (archive_write_header (a, e), ==, ARCHIVE_OK);
  if (len > 0)
    g_assert_cmpint (archive_write_data (a, data, len), ==, (la_ssize_t) len);
  archive_entry_free (e);
}

static char *
make_rootfs_tar (const char *dir)
{
  char *path = g_build_filename (dir, "rootfs.tar", NULL);
  struct archive *a = archive_write_new ();

  archive_write_set_format_pax_restricted (a); /* GNU tar --xattrs writes pax too */
  g_assert_cmpint (archive_write_open_filename (a, path), ==, ARCHIVE_OK);
  add_entry (a, "./", S_IFDIR | 0755, NULL, NULL, NULL);
  add_entry (a, "./dev/", S_IFDIR | 0755, NULL, NULL, NULL);
  add_entry (a, "./dev/null", S_IFCHR | 0666, NULL, NULL, NULL);
  add_entry (a, "./dev/fd", S_IFLNK | 0777, NULL, "/proc/self/fd", NULL);
  add_entry (a, "./dev/pts/", S_IFDIR | 0755, NULL, NULL, NULL);
  add_entry (a, "./etc/", S_IFDIR | 0755, NULL, NULL, NULL);
  add_entry (a, "./etc/os-release", S_IFREG | 0644, "ID=debian\n", NULL, NULL);
  add_entry (a, "./usr/bin/ping", S_IFREG | 04755, "ping\n", NULL, NULL);
  add_entry (a, "./usr/bin/ping4", S_IFREG | 04755, NULL, NULL, "./usr/bin/ping");
  add_entry (a, "./bin", S_IFLNK | 0777, NULL, "usr/bin", NULL);
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  archive_write_free (a);
  return path;
}

static GPtrArray *
entry_names (const char *path)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  struct archive *a = archive_read_new ();
  struct archive_entry *e;

  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  g_assert_cmpint (archive_read_open_filename (a, path, 65536), ==, ARCHIVE_OK);
  while (archive_read_next_header (a, &e) == ARCHIVE_OK)
    g_ptr_array_add (names, g_strdup (archive_entry_pathname (e)));
  archive_read_free (a);
  return names;
}

static gboolean
has_name (GPtrArray *names, const char *name)
{
  for (guint i = 0; i < names->len; i++)
    if (strcmp (names->pdata[i], name) == 0)
      return TRUE;
  return FALSE;
}

static void
progress_count (guint64 bytes, gpointer user_data)
{
  *(guint64 *) user_data = bytes;
}

static void
test_pack (gconstpointer data)
{
  const char *compression = data;
  g_autofree char *dir = g_dir_make_tmp ("ferry-pack-XXXXXX", NULL);
  g_autofree char *in_path = make_rootfs_tar (dir);
  g_autofree char *out_name = g_strconcat ("image", ferry_image_pack_extension (compression), NULL);
  g_autofree char *out_path = g_build_filename (dir, out_name, NULL);
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  g_autofree char *rootfs = g_build_filename (dir, "unpacked", NULL);
  g_autofree char *ping = g_build_filename (rootfs, "usr/bin/ping", NULL);
  g_autofree char *ping4 = g_build_filename (rootfs, "usr/bin/ping4", NULL);
  g_autofree char *devdir = g_build_filename (rootfs, "dev", NULL);
  g_autoptr (FerryImageRecipe) r = recipe (NULL, NULL);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *metadata = ferry_image_recipe_metadata (r, now);
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (FerryImageInfo) info = NULL;
  g_autoptr (GError) error = NULL;
  guint64 reported = 0;
  char xattr[8] = { 0 };
  struct stat st, st2;
  int in_fd = open (in_path, O_RDONLY | O_CLOEXEC);
  int out_fd = open (out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

  g_assert_cmpint (in_fd, >=, 0);
  g_assert_cmpint (out_fd, >=, 0);
  g_assert_true (ferry_image_pack (in_fd, out_fd, compression, metadata, ferry_image_recipe_templates (),
                                   progress_count, &reported, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (reported, >, 0);
  close (in_fd);
  close (out_fd);

  names = entry_names (out_path);
  g_assert_cmpstr (names->pdata[0], ==, "metadata.yaml");
  g_assert_true (has_name (names, "templates/hostname.tpl"));
  g_assert_true (has_name (names, "templates/hosts.tpl"));
  g_assert_true (has_name (names, "rootfs/"));
  g_assert_true (has_name (names, "rootfs/dev/"));
  g_assert_true (has_name (names, "rootfs/etc/os-release"));
  g_assert_false (has_name (names, "rootfs/dev/null"));
  g_assert_false (has_name (names, "rootfs/dev/fd"));
  g_assert_false (has_name (names, "rootfs/dev/pts/"));

  /* Ferry's own import takes it and unpacks what was there. */
  g_assert_cmpint (mkdir (images, 0700), ==, 0);
  info = ferry_image_import (images, out_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (info->skipped_device_nodes, ==, 0);
  g_assert_cmpstr (g_hash_table_lookup (info->properties, "release"), ==, "bookworm");
  g_assert_true (ferry_image_unpack (images, info->fingerprint, rootfs, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lstat (ping, &st), ==, 0);
  g_assert_cmpint (lstat (ping4, &st2), ==, 0);
  g_assert_cmpuint (st.st_ino, ==, st2.st_ino);
  g_assert_cmpint (st.st_mode & 07777, ==, 04755);
  g_assert_cmpint (st.st_mtime, ==, 1600000000);
  g_assert_cmpint (getxattr (ping, "user.ferry", xattr, sizeof xattr - 1), ==, 3);
  g_assert_cmpstr (xattr, ==, "cap");
  g_assert_cmpint (lstat (devdir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_true (ferry_rm_rf (dir, NULL));
}

static void
test_pack_damaged_input (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-pack-XXXXXX", NULL);
  g_autofree char *in_path = make_rootfs_tar (dir);
  g_autofree char *cut_path = g_build_filename (dir, "cut.tar", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  int in_fd, out_fd;

  g_assert_true (g_file_get_contents (in_path, &data, &len, NULL));
  g_assert_true (g_file_set_contents (cut_path, data, 512 * 7 + 3, NULL));
  in_fd = open (cut_path, O_RDONLY | O_CLOEXEC);
  out_fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  g_assert_false (ferry_image_pack (in_fd, out_fd, "gzip", "architecture: x86_64\n", NULL, NULL, NULL, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  close (in_fd);
  close (out_fd);
  g_assert_null (ferry_image_pack_extension ("bzip9"));
  g_assert_cmpstr (ferry_image_pack_compression_for ("/tmp/debian12.tar.xz"), ==, "xz");
  g_assert_cmpstr (ferry_image_pack_compression_for ("d.tar.zst"), ==, "zstd");
  g_assert_cmpstr (ferry_image_pack_compression_for ("d.tar.gz"), ==, "gzip");
  g_assert_cmpstr (ferry_image_pack_compression_for ("d.tar"), ==, "none");
  g_assert_null (ferry_image_pack_compression_for ("debian12.img"));
  g_assert_true (ferry_rm_rf (dir, NULL));
}

/* ---- the .deb cache ---- */

static void
touch (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (p, "deb", -1, NULL));
}

static void
test_prune_debs (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-debs-XXXXXX", NULL);
  g_autoptr (GHashTable) before = NULL;
  g_autoptr (GHashTable) after = NULL;

  touch (dir, "libc6_2.36-9+deb12u8_amd64.deb");
  touch (dir, "libc6_2.36-9+deb12u8_i386.deb");
  touch (dir, "systemd_252.30-1~deb12u2_amd64.deb");
  touch (dir, "postgresql-15_15.8-0+deb12u1_amd64.deb");
  before = ferry_image_list_debs (dir);
  g_assert_cmpuint (g_hash_table_size (before), ==, 4);
  /* A build brings a newer libc6 and a new package. */
  touch (dir, "libc6_2.36-9+deb12u9_amd64.deb");
  touch (dir, "dbus_1.14.10-1~deb12u1_amd64.deb");
  ferry_image_prune_debs (dir, before);
  after = ferry_image_list_debs (dir);
  g_assert_cmpuint (g_hash_table_size (after), ==, 5);
  g_assert_false (g_hash_table_contains (after, "libc6_2.36-9+deb12u8_amd64.deb"));
  g_assert_true (g_hash_table_contains (after, "libc6_2.36-9+deb12u8_i386.deb"));
  g_assert_true (g_hash_table_contains (after, "libc6_2.36-9+deb12u9_amd64.deb"));
  g_assert_true (g_hash_table_contains (after, "postgresql-15_15.8-0+deb12u1_amd64.deb"));
  g_assert_true (ferry_rm_rf (dir, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/image-build/release-lookup", test_release_lookup);
  g_test_add_func ("/cli/image-build/includes", test_includes);
  g_test_add_func ("/cli/image-build/cache-key", test_cache_key);
  g_test_add_func ("/cli/image-build/metadata", test_metadata);
  g_test_add_func ("/cli/image-build/mmdebstrap-argv", test_mmdebstrap_argv);
  g_test_add_func ("/cli/image-build/mirrors", test_mirrors);
  g_test_add_data_func ("/cli/image-build/pack/zstd", "zstd", test_pack);
  g_test_add_data_func ("/cli/image-build/pack/xz", "xz", test_pack);
  g_test_add_data_func ("/cli/image-build/pack/gzip", "gzip", test_pack);
  g_test_add_func ("/cli/image-build/pack/damaged-input", test_pack_damaged_input);
  g_test_add_func ("/cli/image-build/prune-debs", test_prune_debs);
  return g_test_run ();
}
