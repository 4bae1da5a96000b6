/* The image store against real tarballs, real files and the host's busybox:
 * import/validation, the built-in image, unpacking and its safety. */
#include "image/image.h"
#include "common/error.h"
#include "common/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct
{
  char *dir;    /* per-test scratch directory */
  char *images; /* dir/images */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("ferry-image-XXXXXX", &error);
  g_assert_no_error (error);
  f->images = g_build_filename (f->dir, "images", NULL);
  g_assert_cmpint (mkdir (f->images, 0700), ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_assert_true (ferry_rm_rf (f->dir, NULL));
  g_free (f->images);
  g_free (f->dir);
}

/* ---- making tarballs ---- */

typedef struct
{
  const char *path;
  mode_t mode;          /* with the file type */
  const char *data;     /* regular files */
  const char *link;     /* symlink target */
  const char *hardlink; /* hard link target */
  uid_t uid;
  const char *xattr;    /* "name=value" */
} TarEntry;

#define METADATA "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: test\n  release: \"1\"\n"
#define ENTRY_METADATA { "metadata.yaml", S_IFREG | 0644, METADATA, NULL, NULL, 0, NULL }
#define ENTRY_ROOTFS { "rootfs", S_IFDIR | 0755, NULL, NULL, NULL, 0, NULL }

enum compression
{
  COMPRESS_NONE,
  COMPRESS_GZ,
  COMPRESS_XZ,
};

static char *
make_tarball (const char *dir, const char *name, enum compression comp, const TarEntry *entries, gsize n)
{
  char *path = g_build_filename (dir, name, NULL);
  struct archive *a = archive_write_new ();

  g_assert_cmpint (archive_write_set_format_pax_restricted (a), ==, ARCHIVE_OK);
  if (comp == COMPRESS_GZ)
    g_assert_cmpint (archive_write_add_filter_gzip (a), ==, ARCHIVE_OK);
  else if (comp == COMPRESS_XZ)
    g_assert_cmpint (archive_write_add_filter_xz (a), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_filename (a, path), ==, ARCHIVE_OK);
  for (gsize i = 0; i < n; i++)
    {
      const TarEntry *t = &entries[i];
      struct archive_entry *e = archive_entry_new ();
      gsize len = t->data != NULL ? strlen (t->data) : 0;

      archive_entry_set_pathname (e, t->path);
      archive_entry_set_mode (e, t->mode);
      archive_entry_set_uid (e, t->uid);
      archive_entry_set_gid (e, t->uid);
      archive_entry_set_mtime (e, 1600000000, 0);
      archive_entry_set_size (e, (la_int64_t) len);
      if (t->link != NULL)
        archive_entry_set_symlink (e, t->link);
      if (t->hardlink != NULL)
        archive_entry_set_hardlink (e, t->hardlink);
      if (S_ISCHR (t->mode))
        archive_entry_set_rdev (e, makedev (1, 3));
      if (t->xattr != NULL)
        {
          const char *eq = strchr (t->xattr, '=');
          g_autofree char *xname = g_strndup (t->xattr, (gsize) (eq - t->xattr));
          archive_entry_xattr_add_entry (e, xname, eq + 1, strlen (eq + 1));
        }
      g_assert_cmpint (archive_write_header (a, e), ==, ARCHIVE_OK);
      if (len > 0)
        g_assert_cmpint (archive_write_data (a, t->data, len), ==, (la_ssize_t) len);
      archive_entry_free (e);
    }
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  archive_write_free (a);
  return path;
}

static const TarEntry good_entries[] = {
  { "./", S_IFDIR | 0755, NULL, NULL, NULL, 0, NULL },
  { "./metadata.yaml", S_IFREG | 0644, METADATA, NULL, NULL, 0, NULL },
  { "./rootfs/", S_IFDIR | 0755, NULL, NULL, NULL, 0, NULL },
  { "./rootfs/bin", S_IFDIR | 0755, NULL, NULL, NULL, 0, NULL },
  { "./rootfs/bin/hello", S_IFREG | 04755, "#!/bin/sh\necho hello\n", NULL, NULL, 0, "user.ferry=yes" },
  { "./rootfs/bin/hello-again", S_IFREG | 04755, NULL, NULL, "./rootfs/bin/hello", 0, NULL },
  { "./rootfs/etc/owned", S_IFREG | 0600, "secret\n", NULL, NULL, 1234, NULL }, /* parent implied */
  { "./rootfs/etc/abs-link", S_IFLNK | 0777, NULL, "/etc/passwd", NULL, 0, NULL },
  { "./rootfs/sbin/init", S_IFLNK | 0777, NULL, "../bin/hello", NULL, 0, NULL },
  { "./rootfs/tmp", S_IFDIR | 01777, NULL, NULL, NULL, 0, NULL },
  { "./templates/", S_IFDIR | 0755, NULL, NULL, NULL, 0, NULL },
  { "./templates/hostname.tpl", S_IFREG | 0644, "{{ container.name }}\n", NULL, NULL, 0, NULL },
};

static char *
sha256_of_file (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Sorted names in a directory, to prove a failed call changed nothing. */
static char *
listing (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (",", (char **) names->pdata);
}

/* ---- fingerprints ---- */

static void
test_bad_fingerprints (Fixture *f, gconstpointer data)
{
  const char *bad[] = {
    "",
    "../../etc/passwd",
    "abc",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",   /* 63 */
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", /* 65 */
    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
  };
  g_autofree char *rootfs = g_build_filename (f->dir, "rootfs", NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e1 = NULL;
      g_autoptr (GError) e2 = NULL;
      g_autoptr (GError) e3 = NULL;
      g_assert_null (ferry_image_load (f->images, bad[i], &e1));
      g_assert_error (e1, FERRY_ERROR, FERRY_ERROR_INVALID);
      g_assert_false (ferry_image_unpack (f->images, bad[i], rootfs, &e2));
      g_assert_error (e2, FERRY_ERROR, FERRY_ERROR_INVALID);
      g_assert_false (ferry_image_delete (f->images, bad[i], &e3));
      g_assert_error (e3, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  g_assert_false (g_file_test (rootfs, G_FILE_TEST_EXISTS));
  {
    g_autoptr (GError) error = NULL;
    const char *absent = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    g_assert_null (ferry_image_load (f->images, absent, &error));
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND);
  }
}

/* ---- import ---- */

static void
check_unpacked_good_image (const char *rootfs)
{
  g_autofree char *hello = g_build_filename (rootfs, "bin/hello", NULL);
  g_autofree char *again = g_build_filename (rootfs, "bin/hello-again", NULL);
  g_autofree char *owned = g_build_filename (rootfs, "etc/owned", NULL);
  g_autofree char *abs_link = g_build_filename (rootfs, "etc/abs-link", NULL);
  g_autofree char *init = g_build_filename (rootfs, "sbin/init", NULL);
  g_autofree char *tmp = g_build_filename (rootfs, "tmp", NULL);
  g_autofree char *target = NULL;
  g_autofree char *contents = NULL;
  char value[16] = { 0 };
  struct stat st, st2;

  g_assert_cmpint (stat (rootfs, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0755);
  g_assert_true (g_file_get_contents (hello, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "#!/bin/sh\necho hello\n");
  g_assert_cmpint (lstat (hello, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 04755);
  g_assert_cmpint (st.st_mtime, ==, 1600000000);
  g_assert_cmpint (lstat (again, &st2), ==, 0);
  g_assert_cmpuint (st.st_ino, ==, st2.st_ino);
  g_assert_cmpint (getxattr (hello, "user.ferry", value, sizeof value - 1), ==, 3);
  g_assert_cmpstr (value, ==, "yes");
  g_assert_cmpint (lstat (owned, &st), ==, 0);
  g_assert_cmpint (st.st_uid, ==, 1234);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  target = g_file_read_link (abs_link, NULL);
  g_assert_cmpstr (target, ==, "/etc/passwd");
  g_clear_pointer (&target, g_free);
  target = g_file_read_link (init, NULL);
  g_assert_cmpstr (target, ==, "../bin/hello");
  g_assert_cmpint (lstat (tmp, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 01777);
}

static void
test_import_good (Fixture *f, gconstpointer data)
{
  const struct { const char *name; enum compression comp; } kinds[] = {
    { "good.tar.gz", COMPRESS_GZ }, { "good.tar.xz", COMPRESS_XZ }, { "good.tar", COMPRESS_NONE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *path = make_tarball (f->dir, kinds[i].name, kinds[i].comp, good_entries,
                                            G_N_ELEMENTS (good_entries));
      g_autofree char *sha = sha256_of_file (path);
      g_autofree char *rootfs = g_strdup_printf ("%s/rootfs-%" G_GSIZE_FORMAT, f->dir, i);
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryImageInfo) info = ferry_image_import (f->images, path, &error);
      g_autoptr (FerryImageInfo) loaded = NULL;
      struct stat st;

      g_assert_no_error (error);
      g_assert_cmpstr (info->fingerprint, ==, sha);
      g_assert_cmpstr (info->filename, ==, kinds[i].name);
      g_assert_cmpstr (info->architecture, ==, "x86_64");
      g_assert_cmpint (info->created_at, ==, G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC);
      g_assert_cmpint (stat (path, &st), ==, 0);
      g_assert_cmpint (info->size, ==, st.st_size);
      g_assert_cmpstr (g_hash_table_lookup (info->properties, "os"), ==, "test");

      loaded = ferry_image_load (f->images, sha, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (loaded->filename, ==, kinds[i].name);
      g_assert_cmpstr (g_hash_table_lookup (loaded->properties, "release"), ==, "1");

      g_assert_true (ferry_image_unpack (f->images, sha, rootfs, &error));
      g_assert_no_error (error);
      check_unpacked_good_image (rootfs);
    }
}

static void
test_import_duplicate (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_tarball (f->dir, "dup.tar.gz", COMPRESS_GZ, good_entries, G_N_ELEMENTS (good_entries));
  g_autoptr (FerryImageInfo) info = ferry_image_import (f->images, path, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  g_assert_nonnull (info);
  before = listing (f->images);
  g_assert_null (ferry_image_import (f->images, path, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
  after = listing (f->images);
  g_assert_cmpstr (before, ==, after);
}

static void
test_load_without_info_cache (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_tarball (f->dir, "x.tar.gz", COMPRESS_GZ, good_entries, G_N_ELEMENTS (good_entries));
  g_autoptr (FerryImageInfo) info = ferry_image_import (f->images, path, NULL);
  g_autoptr (FerryImageInfo) loaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;

  g_assert_nonnull (info);
  json = g_strdup_printf ("%s/%s.json", f->images, info->fingerprint);
  g_assert_true (g_file_set_contents (json, "{ broken", -1, NULL));
  loaded = ferry_image_load (f->images, info->fingerprint, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (loaded->architecture, ==, "x86_64");
  g_assert_cmpint (loaded->size, ==, info->size);
}

typedef struct
{
  const char *name;
  TarEntry entries[6];
  gsize n;
} BadCase;

static const BadCase bad_cases[] = {
  { "dotdot", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/../../escape", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 3 },
  { "dotdot-middle", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/etc/../../x", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 3 },
  { "absolute", { ENTRY_METADATA, ENTRY_ROOTFS, { "/etc/evil", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 3 },
  { "chardev", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/dev-null", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "blockdev", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/sda", S_IFBLK | 0660, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "fifo", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/fifo", S_IFIFO | 0644, NULL, NULL, NULL, 0, NULL } }, 3 },
  /* Device nodes are skipped only strictly beneath rootfs/dev/. */
  { "chardev-as-dev", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/dev", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "chardev-in-devices", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/devices/null", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "chardev-in-etc-dev", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/etc/dev/null", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "chardev-in-templates-dev", { ENTRY_METADATA, ENTRY_ROOTFS, { "templates/dev/null", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "fifo-in-dev", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/dev/initctl", S_IFIFO | 0600, NULL, NULL, NULL, 0, NULL } }, 3 },
  { "hardlink-to-skipped-node", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/dev/mem", S_IFCHR | 0640, NULL, NULL, NULL, 0, NULL },
                                  { "rootfs/mem", S_IFREG | 0644, NULL, NULL, "rootfs/dev/mem", 0, NULL } }, 4 },
  { "beneath-skipped-node", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/dev/sda", S_IFBLK | 0660, NULL, NULL, NULL, 0, NULL },
                              { "rootfs/dev/sda/x", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 4 },
  { "hardlink-outside", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/shadow", S_IFREG | 0644, NULL, NULL, "/etc/shadow", 0, NULL } }, 3 },
  { "hardlink-dotdot", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/shadow", S_IFREG | 0644, NULL, NULL, "rootfs/../../etc/shadow", 0, NULL } }, 3 },
  { "hardlink-to-metadata", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/md", S_IFREG | 0644, NULL, NULL, "metadata.yaml", 0, NULL } }, 3 },
  { "hardlink-to-later", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/a", S_IFREG | 0644, NULL, NULL, "rootfs/b", 0, NULL },
                           { "rootfs/b", S_IFREG | 0644, "b", NULL, NULL, 0, NULL } }, 4 },
  { "symlink-then-file", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/evil", S_IFLNK | 0777, NULL, "/tmp", NULL, 0, NULL },
                           { "rootfs/evil/file", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 4 },
  { "file-then-symlink-dir", { ENTRY_METADATA, ENTRY_ROOTFS, { "rootfs/d/file", S_IFREG | 0644, "x", NULL, NULL, 0, NULL },
                               { "rootfs/d", S_IFLNK | 0777, NULL, "/tmp", NULL, 0, NULL } }, 4 },
  { "outside-trees", { ENTRY_METADATA, ENTRY_ROOTFS, { "etc/passwd", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 3 },
  { "no-metadata", { ENTRY_ROOTFS, { "rootfs/a", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 2 },
  { "nested-metadata", { ENTRY_ROOTFS, { "rootfs/metadata.yaml", S_IFREG | 0644, METADATA, NULL, NULL, 0, NULL } }, 2 },
  { "metadata-symlink", { { "metadata.yaml", S_IFLNK | 0777, NULL, "/etc/passwd", NULL, 0, NULL }, ENTRY_ROOTFS }, 2 },
  { "bad-yaml", { { "metadata.yaml", S_IFREG | 0644, "architecture: [x86_64\n", NULL, NULL, 0, NULL }, ENTRY_ROOTFS }, 2 },
  { "no-architecture", { { "metadata.yaml", S_IFREG | 0644, "properties:\n  os: x\n", NULL, NULL, 0, NULL }, ENTRY_ROOTFS }, 2 },
  { "no-rootfs", { ENTRY_METADATA, { "templates/x.tpl", S_IFREG | 0644, "x", NULL, NULL, 0, NULL } }, 2 },
  { "rootfs-not-dir", { ENTRY_METADATA, { "rootfs", S_IFLNK | 0777, NULL, "/", NULL, 0, NULL } }, 2 },
};

static void
expect_invalid_import (Fixture *f, const char *path, const char *what)
{
  g_autofree char *before = listing (f->images);
  g_autofree char *after = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageInfo) info = ferry_image_import (f->images, path, &error);

  g_test_message ("%s: %s", what, error != NULL ? error->message : "(accepted!)");
  g_assert_null (info);
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  after = listing (f->images);
  g_assert_cmpstr (before, ==, after);
}

static void
test_import_bad (Fixture *f, gconstpointer data)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strconcat (bad_cases[i].name, ".tar.gz", NULL);
      g_autofree char *path = make_tarball (f->dir, name, COMPRESS_GZ, bad_cases[i].entries, bad_cases[i].n);
      expect_invalid_import (f, path, bad_cases[i].name);
    }
}

static void
test_import_not_tarball (Fixture *f, gconstpointer data)
{
  g_autofree char *text = g_build_filename (f->dir, "notes.txt", NULL);
  g_autofree char *empty = g_build_filename (f->dir, "empty.tar", NULL);
  g_autofree char *good = make_tarball (f->dir, "good.tar.xz", COMPRESS_XZ, good_entries, G_N_ELEMENTS (good_entries));
  g_autofree char *truncated = g_build_filename (f->dir, "truncated.tar.xz", NULL);
  g_autofree char *good_plain = make_tarball (f->dir, "good.tar", COMPRESS_NONE, good_entries, G_N_ELEMENTS (good_entries));
  g_autofree char *truncated_plain = g_build_filename (f->dir, "truncated.tar", NULL);
  g_autofree char *data_ = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (text, "this is not a tarball\n", -1, NULL));
  expect_invalid_import (f, text, "text file");
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  expect_invalid_import (f, empty, "empty file");
  expect_invalid_import (f, f->dir, "a directory");

  g_assert_true (g_file_get_contents (good, &data_, &len, NULL));
  g_assert_true (g_file_set_contents (truncated, data_, (gssize) (len / 2), NULL));
  expect_invalid_import (f, truncated, "truncated xz");
  g_clear_pointer (&data_, g_free);
  g_assert_true (g_file_get_contents (good_plain, &data_, &len, NULL));
  /* Cut inside the data of the first file of rootfs/. */
  g_assert_true (g_file_set_contents (truncated_plain, data_, 512 * 6 + 100, NULL));
  expect_invalid_import (f, truncated_plain, "truncated tar");

  g_assert_null (ferry_image_import (f->images, "/nonexistent/image.tar.gz", &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND);
}

/* What debootstrap and mmdebstrap leave in /dev: imported, nodes never unpacked. */
static void
test_import_dev_nodes (Fixture *f, gconstpointer data)
{
  static const TarEntry entries[] = {
    ENTRY_METADATA,
    ENTRY_ROOTFS,
    { "./rootfs/dev/", S_IFDIR | 0755, NULL, NULL, NULL, 0, NULL },
    { "./rootfs/dev/null", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL },
    { "./rootfs/./dev/sda", S_IFBLK | 0660, NULL, NULL, NULL, 0, NULL },
    { "./rootfs/dev/pts/ptmx", S_IFCHR | 0666, NULL, NULL, NULL, 0, NULL },
    { "./rootfs/dev/null2", S_IFCHR | 0666, NULL, NULL, "./rootfs/dev/null", 0, NULL },
    { "./rootfs/dev/fd", S_IFLNK | 0777, NULL, "/proc/self/fd", NULL, 0, NULL },
    { "./rootfs/dev/shm/", S_IFDIR | 01777, NULL, NULL, NULL, 0, NULL },
    { "./rootfs/etc/hostname", S_IFREG | 0644, "x\n", NULL, NULL, 0, NULL },
  };
  g_autofree char *path = make_tarball (f->dir, "debian.tar.xz", COMPRESS_XZ, entries, G_N_ELEMENTS (entries));
  g_autofree char *rootfs = g_build_filename (f->dir, "rootfs", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageInfo) info = ferry_image_import (f->images, path, &error);
  const char *absent[] = { "dev/null", "dev/sda", "dev/pts/ptmx", "dev/null2" };
  g_autofree char *fd_path = g_build_filename (rootfs, "dev/fd", NULL);
  g_autofree char *fd_link = NULL;
  g_autofree char *shm = g_build_filename (rootfs, "dev/shm", NULL);
  g_autofree char *hostname = g_build_filename (rootfs, "etc/hostname", NULL);
  struct stat st;

  g_assert_no_error (error);
  g_assert_cmpuint (info->skipped_device_nodes, ==, 4);
  g_assert_true (ferry_image_unpack (f->images, info->fingerprint, rootfs, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (absent); i++)
    {
      g_autofree char *p = g_build_filename (rootfs, absent[i], NULL);
      g_assert_cmpint (lstat (p, &st), ==, -1);
    }
  fd_link = g_file_read_link (fd_path, NULL);
  g_assert_cmpstr (fd_link, ==, "/proc/self/fd");
  g_assert_cmpint (lstat (shm, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 01777);
  g_assert_true (g_file_test (hostname, G_FILE_TEST_IS_REGULAR));
}

/* A tarball that bypassed import (a tampered store) must still not write
 * outside the rootfs when unpacked: the cache fill checks it again. */
static void
test_unpack_tampered_store (Fixture *f, gconstpointer data)
{
  g_autofree char *outside = g_build_filename (f->dir, "outside", NULL);
  g_autofree char *escaped = g_build_filename (outside, "file", NULL);
  g_autofree char *rootfs = g_build_filename (f->dir, "rootfs", NULL);
  TarEntry entries[] = {
    ENTRY_METADATA, ENTRY_ROOTFS,
    { "rootfs/evil", S_IFLNK | 0777, NULL, outside, NULL, 0, NULL },
    { "rootfs/evil/file", S_IFREG | 0644, "pwned", NULL, NULL, 0, NULL },
  };
  g_autofree char *path = make_tarball (f->dir, "evil.tar", COMPRESS_NONE, entries, G_N_ELEMENTS (entries));
  g_autofree char *sha = sha256_of_file (path);
  g_autofree char *stored = g_build_filename (f->images, sha, NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (mkdir (outside, 0755), ==, 0);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpint (rename (path, stored), ==, 0);

  g_assert_false (ferry_image_unpack (f->images, sha, rootfs, &error));
  g_test_message ("tampered image: %s", error->message);
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_assert_false (g_file_test (escaped, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (rootfs, G_FILE_TEST_EXISTS));
  {
    g_autofree char *list = listing (f->images);
    g_assert_cmpstr (list, ==, sha); /* no half-filled cache left behind */
  }
}

/* ---- the built-in busybox image ---- */

static gboolean
have_busybox (void)
{
  const char *bb = g_getenv ("FERRY_BUSYBOX");
  if (g_file_test (bb != NULL ? bb : "/bin/busybox", G_FILE_TEST_IS_EXECUTABLE))
    return TRUE;
  g_test_skip ("no busybox-static at /bin/busybox");
  return FALSE;
}

static void
test_busybox_deterministic (Fixture *f, gconstpointer data)
{
  g_autofree char *other = g_build_filename (f->dir, "other-images", NULL);
  g_autoptr (FerryImageInfo) a = NULL;
  g_autoptr (FerryImageInfo) b = NULL;
  g_autoptr (FerryImageInfo) again = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *sha = NULL;

  if (!have_busybox ())
    return;
  a = ferry_image_build_busybox (f->images, &error);
  g_assert_no_error (error);
  b = ferry_image_build_busybox (other, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a->fingerprint, ==, b->fingerprint);
  g_assert_cmpint (a->size, ==, b->size);
  stored = g_build_filename (f->images, a->fingerprint, NULL);
  sha = sha256_of_file (stored);
  g_assert_cmpstr (sha, ==, a->fingerprint);
  g_assert_cmpstr (a->filename, ==, "busybox.tar.gz");
  g_assert_cmpstr (g_hash_table_lookup (a->properties, "os"), ==, "busybox");
  g_assert_cmpstr (g_hash_table_lookup (a->properties, "description"), ==, "Ferry built-in busybox image");
  g_assert_nonnull (g_hash_table_lookup (a->properties, "release"));
  g_assert_cmpint (a->created_at, >, 0);
  g_test_message ("busybox image %s, %" G_GINT64_FORMAT " bytes, release %s", a->fingerprint, a->size,
                  (const char *) g_hash_table_lookup (a->properties, "release"));

  /* Already there: the same image, not a conflict. */
  again = ferry_image_build_busybox (f->images, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->fingerprint, ==, a->fingerprint);
}

static void
assert_file_contains (const char *rootfs, const char *rel, const char *needle)
{
  g_autofree char *path = g_build_filename (rootfs, rel, NULL);
  g_autofree char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  if (strstr (text, needle) == NULL)
    g_error ("%s lacks \"%s\":\n%s", rel, needle, text);
}

static void
assert_mode (const char *rootfs, const char *rel, mode_t mode)
{
  g_autofree char *path = g_build_filename (rootfs, rel, NULL);
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode, ==, mode);
}

static void
test_busybox_unpack (Fixture *f, gconstpointer data)
{
  g_autoptr (FerryImageInfo) info = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *c1 = g_build_filename (f->dir, "c1", NULL);
  g_autofree char *c2 = g_build_filename (f->dir, "c2", NULL);
  g_autofree char *init = NULL;
  g_autofree char *busybox = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *resolved_bb = NULL;
  g_autofree char *target = NULL;
  gint64 t0, t1, t2, best = G_MAXINT64;

  if (!have_busybox ())
    return;
  info = ferry_image_build_busybox (f->images, &error);
  g_assert_no_error (error);

  t0 = g_get_monotonic_time ();
  g_assert_true (ferry_image_unpack (f->images, info->fingerprint, c1, &error));
  g_assert_no_error (error);
  t1 = g_get_monotonic_time ();
  g_assert_true (ferry_image_unpack (f->images, info->fingerprint, c2, &error));
  g_assert_no_error (error);
  t2 = g_get_monotonic_time ();
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *cn = g_strdup_printf ("%s/timed-%d", f->dir, i);
      gint64 s = g_get_monotonic_time ();
      g_assert_true (ferry_image_unpack (f->images, info->fingerprint, cn, NULL));
      best = MIN (best, g_get_monotonic_time () - s);
    }
  g_test_message ("busybox unpack: first (fills the cache) %.1f ms, second %.1f ms, best of 5 more %.1f ms",
                  (t1 - t0) / 1000.0, (t2 - t1) / 1000.0, best / 1000.0);

  init = g_build_filename (c2, "sbin/init", NULL);
  busybox = g_build_filename (c2, "bin/busybox", NULL);
  target = g_file_read_link (init, NULL);
  g_assert_cmpstr (target, ==, "../bin/busybox");
  g_clear_pointer (&target, g_free);
  {
    g_autofree char *sh = g_build_filename (c2, "bin/sh", NULL);
    target = g_file_read_link (sh, NULL);
  }
  g_assert_cmpstr (target, ==, "busybox");
  resolved = realpath (init, NULL);
  resolved_bb = realpath (busybox, NULL);
  g_assert_cmpstr (resolved, ==, resolved_bb);
  assert_mode (c2, "bin/busybox", S_IFREG | 0755);
  assert_mode (c2, "tmp", S_IFDIR | 01777);
  assert_mode (c2, "root", S_IFDIR | 0700);
  assert_mode (c2, "etc/init.d/rcS", S_IFREG | 0755);
  assert_mode (c2, "etc/shadow", S_IFREG | 0600);
  assert_mode (c2, "proc", S_IFDIR | 0755);
  assert_mode (c2, "var/log", S_IFDIR | 0755);
  assert_file_contains (c2, "etc/inittab", "::sysinit:/etc/init.d/rcS\n");
  assert_file_contains (c2, "etc/inittab", "::respawn:/sbin/syslogd -n -O /var/log/messages\n");
  assert_file_contains (c2, "etc/inittab", "::respawn:/usr/sbin/crond -f -c /var/spool/cron/crontabs\n");
  assert_file_contains (c2, "etc/inittab", "::respawn:/usr/sbin/httpd -f -p 80 -h /var/www\n");
  assert_file_contains (c2, "etc/inittab", "::shutdown:");
  assert_file_contains (c2, "etc/init.d/rcS", "Ferry busybox: boot complete");
  assert_file_contains (c2, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  assert_file_contains (c2, "etc/os-release", "ID=busybox\n");
  assert_file_contains (c2, "var/spool/cron/crontabs/root", "/tmp/cron-tick");
  assert_file_contains (c2, "var/www/index.html", "Ferry");

  /* Every applet link resolves inside the rootfs to bin/busybox. */
  {
    const char *argv[] = { "/bin/busybox", "--list-full", NULL };
    g_autofree char *out = NULL;
    g_auto (GStrv) lines = NULL;
    guint n = 0;

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, NULL, NULL));
    lines = g_strsplit (out, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
      {
        g_autofree char *p = NULL;
        g_autofree char *real = NULL;
        if (*lines[i] == '\0')
          continue;
        p = g_build_filename (c2, lines[i], NULL);
        real = realpath (p, NULL);
        g_assert_cmpstr (real, ==, resolved_bb);
        n++;
      }
    g_assert_cmpuint (n, >, 200);
  }

  /* The rootfs must not exist yet. */
  g_assert_false (ferry_image_unpack (f->images, info->fingerprint, c1, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
  g_clear_error (&error);

  /* Containers get copies: writing into one leaves the cache intact. */
  {
    g_autofree char *hosts = g_build_filename (c1, "etc/hosts", NULL);
    g_assert_true (g_file_set_contents (hosts, "changed\n", -1, NULL));
  }
  assert_file_contains (c2, "etc/hosts", "localhost");

  /* Delete removes the tarball and every cache. */
  g_assert_true (ferry_image_delete (f->images, info->fingerprint, &error));
  g_assert_no_error (error);
  {
    g_autofree char *list = listing (f->images);
    g_assert_true (strstr (list, info->fingerprint) == NULL);
  }
  g_assert_false (ferry_image_delete (f->images, info->fingerprint, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/image/fingerprint/invalid", Fixture, NULL, fixture_setup, test_bad_fingerprints, fixture_teardown);
  g_test_add ("/image/import/good", Fixture, NULL, fixture_setup, test_import_good, fixture_teardown);
  g_test_add ("/image/import/duplicate", Fixture, NULL, fixture_setup, test_import_duplicate, fixture_teardown);
  g_test_add ("/image/import/bad-entries", Fixture, NULL, fixture_setup, test_import_bad, fixture_teardown);
  g_test_add ("/image/import/dev-nodes-skipped", Fixture, NULL, fixture_setup, test_import_dev_nodes, fixture_teardown);
  g_test_add ("/image/import/not-a-tarball", Fixture, NULL, fixture_setup, test_import_not_tarball, fixture_teardown);
  g_test_add ("/image/load/without-info-cache", Fixture, NULL, fixture_setup, test_load_without_info_cache,
              fixture_teardown);
  g_test_add ("/image/unpack/tampered-store", Fixture, NULL, fixture_setup, test_unpack_tampered_store,
              fixture_teardown);
  g_test_add ("/image/busybox/deterministic", Fixture, NULL, fixture_setup, test_busybox_deterministic,
              fixture_teardown);
  g_test_add ("/image/busybox/unpack", Fixture, NULL, fixture_setup, test_busybox_unpack, fixture_teardown);
  return g_test_run ();
}
