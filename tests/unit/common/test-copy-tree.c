/* GTest for the tree copier (src/common/copy-tree.c): every kind of entry,
 * what is kept, what each flag allows, and how a failure reads. Owners and
 * device nodes need root; those checks are skipped otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"

typedef struct
{
  char *dir;
  char *src; /* dir/src: the tree to copy */
  char *dst; /* dir/dst: where ferry_copy_tree() makes the copy */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("ferry-copy-tree-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->src = g_build_filename (f->dir, "src", NULL);
  f->dst = g_build_filename (f->dir, "dst", NULL);
  g_assert_cmpint (mkdir (f->src, 0755), ==, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_assert_true (ferry_rm_rf (f->dir, NULL));
  g_free (f->dir);
  g_free (f->src);
  g_free (f->dst);
}

static char *
src_path (Fixture *f, const char *rel)
{
  return g_build_filename (f->src, rel, NULL);
}

static char *
dst_path (Fixture *f, const char *rel)
{
  return g_build_filename (f->dst, rel, NULL);
}

static void
put (Fixture *f, const char *rel, const char *contents, mode_t mode)
{
  g_autofree char *path = src_path (f, rel);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  g_assert_cmpint (chmod (path, mode), ==, 0);
}

static void
set_times (const char *path, time_t atime, time_t mtime)
{
  struct timespec times[2] = { { .tv_sec = atime, .tv_nsec = 1000 }, { .tv_sec = mtime, .tv_nsec = 2000 } };

  g_assert_cmpint (utimensat (AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), ==, 0);
}

/* Mode, owner, mtime and size alike (the source's atime moves as it is
 * read: the copy's is checked against the one set). */
static void
assert_same_stat (const char *a, const char *b)
{
  struct stat sa, sb;

  g_assert_cmpint (lstat (a, &sa), ==, 0);
  g_assert_cmpint (lstat (b, &sb), ==, 0);
  g_assert_cmpint (sa.st_mode, ==, sb.st_mode);
  g_assert_cmpint (sa.st_uid, ==, sb.st_uid);
  g_assert_cmpint (sa.st_gid, ==, sb.st_gid);
  g_assert_cmpint (sa.st_mtim.tv_sec, ==, sb.st_mtim.tv_sec);
  g_assert_cmpint (sa.st_mtim.tv_nsec, ==, sb.st_mtim.tv_nsec);
  g_assert_cmpint (sa.st_size, ==, sb.st_size);
}

static int
open_dir (const char *path)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  return fd;
}

/* ferry_copy_tree_at() of src into a new dst made 0711 here. */
static gboolean
copy_at (Fixture *f, FerryCopyFlags flags, GError **error)
{
  ferry_autofd int src = open_dir (f->src);
  ferry_autofd int dst = -1;

  g_assert_cmpint (mkdir (f->dst, 0711), ==, 0);
  g_assert_cmpint (chmod (f->dst, 0711), ==, 0);
  dst = open_dir (f->dst);
  return ferry_copy_tree_at (src, dst, flags, error);
}

static void
test_files_and_dirs (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sub = src_path (f, "sub");
  g_autofree char *ro = src_path (f, "sub/read-only");
  g_autofree char *tmp = src_path (f, "tmp");
  g_autofree char *contents = NULL;
  g_autofree char *empty = NULL;
  const char *rels[] = { "tool", "sub", "sub/read-only", "sub/read-only/inside", "tmp", "empty" };

  put (f, "tool", "#!/bin/sh\necho hi\n", 04755);
  g_assert_cmpint (mkdir (sub, 0750), ==, 0);
  g_assert_cmpint (mkdir (ro, 0755), ==, 0);
  put (f, "sub/read-only/inside", "x", 0400);
  g_assert_cmpint (chmod (ro, 0500), ==, 0); /* filled before its mode is set */
  g_assert_cmpint (mkdir (tmp, 0700), ==, 0);
  g_assert_cmpint (chmod (tmp, 01777), ==, 0);
  put (f, "empty", "", 0644);
  for (gsize i = 0; i < G_N_ELEMENTS (rels); i++)
    {
      g_autofree char *path = src_path (f, rels[i]);
      set_times (path, 1500000000 + (time_t) i, 1600000000 + (time_t) i);
    }

  g_assert_true (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (rels); i++)
    {
      g_autofree char *a = src_path (f, rels[i]);
      g_autofree char *b = dst_path (f, rels[i]);
      struct stat st;
      assert_same_stat (a, b);
      g_assert_cmpint (lstat (b, &st), ==, 0);
      g_assert_cmpint (st.st_atim.tv_sec, ==, 1500000000 + (time_t) i);
      g_assert_cmpint (st.st_atim.tv_nsec, ==, 1000);
    }
  assert_same_stat (f->src, f->dst); /* the top too */
  {
    g_autofree char *path = dst_path (f, "tool");
    g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "#!/bin/sh\necho hi\n");
  }
  {
    g_autofree char *path = dst_path (f, "empty");
    g_assert_true (g_file_get_contents (path, &empty, NULL, NULL));
    g_assert_cmpstr (empty, ==, "");
  }
  g_assert_cmpint (chmod (ro, 0755), ==, 0);
  {
    g_autofree char *dro = dst_path (f, "sub/read-only");
    g_assert_cmpint (chmod (dro, 0755), ==, 0); /* for the tear-down as non-root */
  }
}

static void
test_copy_at_leaves_top (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  struct stat st;

  put (f, "a", "a", 0644);
  g_assert_cmpint (chmod (f->src, 0700), ==, 0);
  g_assert_true (copy_at (f, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (f->dst, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0711);
}

/* A 1 GiB file with 4 KiB of data at each end: the copy has the same bytes
 * and the hole stays a hole. */
static void
test_sparse_large (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = src_path (f, "sparse");
  g_autofree char *copy = dst_path (f, "sparse");
  const off_t size = (off_t) 1 << 30;
  char head[4096], tail[4096], back[4096];
  struct stat st;
  int fd;

  memset (head, 'h', sizeof head);
  memset (tail, 't', sizeof tail);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, head, sizeof head, 0), ==, sizeof head);
  g_assert_cmpint (pwrite (fd, tail, sizeof tail, size - (off_t) sizeof tail), ==, sizeof tail);
  close (fd);
  /* And one that ends in a hole. */
  {
    g_autofree char *hole_end = src_path (f, "hole-at-end");
    fd = open (hole_end, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    g_assert_cmpint (pwrite (fd, head, sizeof head, 0), ==, sizeof head);
    g_assert_cmpint (ftruncate (fd, 1 << 20), ==, 0);
    close (fd);
  }

  g_assert_true (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (copy, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, size);
  g_assert_cmpint (st.st_blocks * 512, <, 1 << 20);
  fd = open (copy, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (pread (fd, back, sizeof back, 0), ==, sizeof back);
  g_assert_cmpmem (back, sizeof back, head, sizeof head);
  g_assert_cmpint (pread (fd, back, sizeof back, size / 2), ==, sizeof back);
  for (gsize i = 0; i < sizeof back; i++)
    g_assert_cmpint (back[i], ==, 0);
  g_assert_cmpint (pread (fd, back, sizeof back, size - (off_t) sizeof back), ==, sizeof back);
  g_assert_cmpmem (back, sizeof back, tail, sizeof tail);
  close (fd);
  {
    g_autofree char *hole_end = dst_path (f, "hole-at-end");
    g_assert_cmpint (stat (hole_end, &st), ==, 0);
    g_assert_cmpint (st.st_size, ==, 1 << 20);
  }
}

/* Symlinks are copied as links: absolute, relative, dangling, and one to a
 * directory outside the tree, which is never entered. */
static void
test_symlinks (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *outside = g_build_filename (f->dir, "outside", NULL);
  g_autofree char *secret = g_build_filename (outside, "secret", NULL);
  const struct
  {
    const char *rel, *target;
  } links[] = {
    { "abs", "/etc/passwd" },
    { "rel", "tool" },
    { "dangling", "does/not/exist" },
    { "escape", "../outside" },
    { "escape-abs", NULL /* outside */ },
  };

  g_assert_cmpint (mkdir (outside, 0755), ==, 0);
  g_assert_true (g_file_set_contents (secret, "secret", -1, NULL));
  put (f, "tool", "x", 0755);
  for (gsize i = 0; i < G_N_ELEMENTS (links); i++)
    {
      g_autofree char *path = src_path (f, links[i].rel);
      g_assert_cmpint (symlink (links[i].target ? links[i].target : outside, path), ==, 0);
      set_times (path, 1500000000, 1600000000 + (time_t) i);
    }

  g_assert_true (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (links); i++)
    {
      g_autofree char *a = src_path (f, links[i].rel);
      g_autofree char *b = dst_path (f, links[i].rel);
      g_autofree char *target = g_file_read_link (b, NULL);
      g_assert_cmpstr (target, ==, links[i].target ? links[i].target : outside);
      assert_same_stat (a, b);
    }
  {
    /* Nothing was copied from outside, nor written there. */
    GDir *d = g_dir_open (outside, 0, NULL);
    g_assert_cmpstr (g_dir_read_name (d), ==, "secret");
    g_assert_null (g_dir_read_name (d));
    g_dir_close (d);
    d = g_dir_open (f->dst, 0, NULL);
    for (const char *name; (name = g_dir_read_name (d)) != NULL;)
      g_assert_cmpstr (name, !=, "secret");
    g_dir_close (d);
  }
}

/* The top given to ferry_copy_tree() is not followed either. */
static void
test_top_symlink (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *link = g_build_filename (f->dir, "link", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);

  g_assert_cmpint (symlink (f->src, link), ==, 0);
  g_assert_false (ferry_copy_tree (link, f->dst, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (ferry_copy_tree (missing, f->dst, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (g_file_test (f->dst, G_FILE_TEST_EXISTS));
  /* An existing TO is refused and left alone. */
  g_assert_cmpint (mkdir (f->dst, 0755), ==, 0);
  g_assert_false (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
  g_assert_true (g_file_test (f->dst, G_FILE_TEST_IS_DIR));
}

static void
test_hardlinks (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *a = src_path (f, "a");
  g_autofree char *sub = src_path (f, "sub");
  g_autofree char *b = src_path (f, "sub/b");
  g_autofree char *l1 = src_path (f, "l1");
  g_autofree char *l2 = src_path (f, "sub/l2");
  g_autofree char *ca = dst_path (f, "a");
  g_autofree char *cb = dst_path (f, "sub/b");
  g_autofree char *cl1 = dst_path (f, "l1");
  g_autofree char *cl2 = dst_path (f, "sub/l2");
  struct stat sa, sb, src_st;

  put (f, "a", "shared", 0644);
  g_assert_cmpint (mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (link (a, b), ==, 0);
  g_assert_cmpint (symlink ("a", l1), ==, 0);
  g_assert_cmpint (linkat (AT_FDCWD, l1, AT_FDCWD, l2, 0), ==, 0); /* a hard-linked symlink */

  g_assert_true (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lstat (a, &src_st), ==, 0);
  g_assert_cmpint (lstat (ca, &sa), ==, 0);
  g_assert_cmpint (lstat (cb, &sb), ==, 0);
  g_assert_cmpuint (sa.st_ino, ==, sb.st_ino);
  g_assert_cmpuint (sa.st_ino, !=, src_st.st_ino);
  g_assert_cmpuint (sa.st_nlink, ==, 2);
  g_assert_cmpint (lstat (cl1, &sa), ==, 0);
  g_assert_cmpint (lstat (cl2, &sb), ==, 0);
  g_assert_true (S_ISLNK (sa.st_mode));
  g_assert_cmpuint (sa.st_ino, ==, sb.st_ino);
}

static void
test_fifos (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *fifo = src_path (f, "fifo");
  g_autofree char *copy = dst_path (f, "fifo");
  struct stat st;

  g_assert_cmpint (mkfifo (fifo, 0620), ==, 0);
  set_times (fifo, 1500000000, 1600000000);
  g_assert_true (copy_at (f, FERRY_COPY_FIFOS, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lstat (copy, &st), ==, 0);
  g_assert_true (S_ISFIFO (st.st_mode));
  assert_same_stat (fifo, copy);
}

static void
test_devices (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dev = src_path (f, "dev");
  g_autofree char *null = src_path (f, "dev/null");
  g_autofree char *copy = dst_path (f, "dev/null");
  struct stat st;

  if (geteuid () != 0)
    {
      g_test_skip ("device nodes need root");
      return;
    }
  g_assert_cmpint (mkdir (dev, 0755), ==, 0);
  g_assert_cmpint (mknod (null, S_IFCHR | 0666, makedev (1, 3)), ==, 0);
  g_assert_cmpint (chmod (null, 0666), ==, 0);

  /* Refused without the flag, with the entry named... */
  g_assert_false (copy_at (f, FERRY_COPY_FIFOS, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "dev/null"));
  g_assert_nonnull (strstr (error->message, "device nodes"));
  g_assert_false (g_file_test (copy, G_FILE_TEST_EXISTS));
  g_clear_error (&error);
  g_assert_true (ferry_rm_rf (f->dst, NULL));

  /* ...made again with it. */
  g_assert_true (copy_at (f, FERRY_COPY_DEVICES, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lstat (copy, &st), ==, 0);
  g_assert_true (S_ISCHR (st.st_mode));
  g_assert_cmpuint (st.st_rdev, ==, makedev (1, 3));
  g_assert_cmpint (st.st_mode & 07777, ==, 0666);
}

static void
test_xattrs (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = src_path (f, "file");
  g_autofree char *dir = src_path (f, "dir");
  g_autofree char *link = src_path (f, "link");
  g_autofree char *cfile = dst_path (f, "file");
  g_autofree char *cdir = dst_path (f, "dir");
  g_autofree char *clink = dst_path (f, "link");
  char value[32] = { 0 };

  put (f, "file", "x", 0644);
  g_assert_cmpint (mkdir (dir, 0755), ==, 0);
  g_assert_cmpint (symlink ("file", link), ==, 0);
  if (setxattr (file, "user.ferry", "file", 4, 0) < 0)
    {
      g_test_skip ("no user xattrs on this file system");
      return;
    }
  g_assert_cmpint (setxattr (dir, "user.ferry", "dir", 3, 0), ==, 0);
  /* Symlinks can hold only trusted.* and security.* (root). */
  gboolean on_link = geteuid () == 0 && lsetxattr (link, "trusted.ferry", "link", 4, 0) == 0;

  g_assert_true (copy_at (f, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpint (getxattr (cfile, "user.ferry", value, sizeof value - 1), ==, 4);
  g_assert_cmpstr (value, ==, "file");
  memset (value, 0, sizeof value);
  g_assert_cmpint (getxattr (cdir, "user.ferry", value, sizeof value - 1), ==, 3);
  g_assert_cmpstr (value, ==, "dir");
  if (on_link)
    {
      memset (value, 0, sizeof value);
      g_assert_cmpint (lgetxattr (clink, "trusted.ferry", value, sizeof value - 1), ==, 4);
      g_assert_cmpstr (value, ==, "link");
    }
}

static void
test_ownership (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *rels[] = { "file", "dir", "link" };
  g_autofree char *file = src_path (f, "file");
  g_autofree char *dir = src_path (f, "dir");
  g_autofree char *link = src_path (f, "link");

  if (geteuid () != 0)
    {
      g_test_skip ("owners other than oneself need root");
      return;
    }
  put (f, "file", "x", 06755);
  g_assert_cmpint (mkdir (dir, 0750), ==, 0);
  g_assert_cmpint (symlink ("file", link), ==, 0);
  g_assert_cmpint (chown (file, 1234, 5678), ==, 0);
  g_assert_cmpint (chmod (file, 06755), ==, 0); /* chown cleared the set-id bits */
  g_assert_cmpint (chown (dir, 2345, 6789), ==, 0);
  g_assert_cmpint (lchown (link, 3456, 7890), ==, 0);

  g_assert_true (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (rels); i++)
    {
      g_autofree char *a = src_path (f, rels[i]);
      g_autofree char *b = dst_path (f, rels[i]);
      assert_same_stat (a, b);
    }
}

/* An entry that cannot be copied stops the copy with an error naming it;
 * ferry_copy_tree() then removes what it made. */
static void
test_error_midway (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *deep = src_path (f, "a/b");
  g_autofree char *fifo = src_path (f, "a/b/fifo");

  put (f, "first", "copied before the failure, or after: either way removed", 0644);
  g_assert_cmpint (g_mkdir_with_parents (deep, 0755), ==, 0);
  put (f, "a/b/file", "x", 0644);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);

  /* The image's copy refuses fifos; what it made stays for its caller. */
  g_assert_false (copy_at (f, FERRY_COPY_DEVICES, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "Refusing to copy a/b/fifo: fifos and sockets are not copied here");
  g_assert_true (g_file_test (f->dst, G_FILE_TEST_IS_DIR));
  g_clear_error (&error);
  g_assert_true (ferry_rm_rf (f->dst, NULL));

  /* An unreadable file, as a user who cannot read it. */
  if (geteuid () == 0)
    return;
  g_assert_cmpint (unlink (fifo), ==, 0);
  put (f, "a/b/file", "x", 0000);
  g_assert_false (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, "Copying "));
  g_assert_nonnull (strstr (error->message, "Opening a/b/file: "));
  g_assert_false (g_file_test (f->dst, G_FILE_TEST_EXISTS));
}

/* An entry in the way (ferry_copy_tree_at() fills an empty directory)
 * fails with its name. */
static void
test_error_entry_in_the_way (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *d = src_path (f, "d");
  g_autofree char *dst_d = dst_path (f, "d");
  ferry_autofd int src = open_dir (f->src);
  ferry_autofd int dst = -1;

  g_assert_cmpint (mkdir (d, 0755), ==, 0);
  put (f, "d/f", "x", 0644);
  g_assert_cmpint (mkdir (f->dst, 0755), ==, 0);
  g_assert_cmpint (mkdir (dst_d, 0755), ==, 0);
  dst = open_dir (f->dst);
  g_assert_false (ferry_copy_tree_at (src, dst, 0, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "Creating the directory d: File exists");
}

/* A destination that fills up half-way (a 256 KiB tmpfs, root only): the
 * error says which file and why, and the partial copy is gone. */
static void
test_error_no_space (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *small = g_build_filename (f->dir, "small", NULL);
  g_autofree char *to = g_build_filename (small, "copy", NULL);
  g_autofree char *big = g_strnfill (1 << 20, 'x');
  g_autofree char *expected = NULL;

  g_assert_cmpint (mkdir (small, 0755), ==, 0);
  if (geteuid () != 0 || mount ("tmpfs", small, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k") < 0)
    {
      g_test_skip ("needs root, to mount a small tmpfs");
      return;
    }
  put (f, "a-small", "x", 0644);
  put (f, "big", big, 0644);
  g_assert_false (ferry_copy_tree (f->src, to, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  expected = g_strdup_printf ("Copying %s to %s: ", f->src, to);
  g_assert_true (g_str_has_prefix (error->message, expected));
  g_assert_nonnull (strstr (error->message, " big: No space left on device"));
  g_assert_false (g_file_test (to, G_FILE_TEST_EXISTS));
  g_assert_cmpint (umount2 (small, MNT_DETACH), ==, 0);
}

/* A file that is shorter than it said when looked at (a sysfs file says
 * 4096 bytes and has a few, bind-mounted into the tree; root only): a live
 * tree is copied as found, the image cache's copy (FERRY_COPY_STABLE_SOURCE)
 * refuses it. */
static void
test_source_changes_size (Fixture *f, gconstpointer data)
{
  const char *sysfs = "/sys/devices/system/cpu/online";
  g_autoptr (GError) error = NULL;
  g_autofree char *mounted = src_path (f, "changing");
  g_autofree char *copy = dst_path (f, "changing");
  g_autofree char *expected = NULL;
  g_autofree char *contents = NULL;

  put (f, "changing", "", 0644);
  if (geteuid () != 0 || !g_file_get_contents (sysfs, &expected, NULL, NULL)
      || mount (sysfs, mounted, NULL, MS_BIND, NULL) < 0)
    {
      g_test_skip ("needs root, to bind-mount a sysfs file");
      return;
    }
  g_assert_true (copy_at (f, 0, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (copy, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, expected);
  g_assert_true (ferry_rm_rf (f->dst, NULL));

  g_assert_false (copy_at (f, FERRY_COPY_STABLE_SOURCE, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "Copying changing: the file changed size while copied");
  g_assert_cmpint (umount2 (mounted, MNT_DETACH), ==, 0);
}

/* What a running container does while its rootfs is copied (a stateless
 * snapshot, the copy a stateful snapshot takes before its freeze): files
 * written aside and renamed over, directories, symlinks and fifos made and
 * removed, a name that is a file then a symlink (ln -sf). A name listed and
 * gone before it is looked at is skipped, as rsync's "file has vanished"
 * (LXD's copy ignores it too), one of another kind is looked at again: every
 * copy of the churning tree succeeds and holds the entries that stayed. */
typedef struct
{
  char *src;
  gint stop;
  guint rounds;
} Churn;

static gpointer
churn_thread (gpointer data)
{
  Churn *ch = data;
  g_autofree char *tmp = g_build_filename (ch->src, "counter.new", NULL);
  g_autofree char *counter = g_build_filename (ch->src, "counter", NULL);
  g_autofree char *dir = g_build_filename (ch->src, "dir", NULL);
  g_autofree char *inside = g_build_filename (ch->src, "dir", "inside", NULL);
  g_autofree char *link = g_build_filename (ch->src, "link", NULL);
  g_autofree char *fifo = g_build_filename (ch->src, "fifo", NULL);
  g_autofree char *swap = g_build_filename (ch->src, "swap", NULL);
  g_autofree char *swap_new = g_build_filename (ch->src, "swap.new", NULL);

  while (!g_atomic_int_get (&ch->stop))
    {
      g_autofree char *n = g_strdup_printf ("%u\n", ch->rounds++);

      g_assert_true (g_file_set_contents_full (tmp, n, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
      g_assert_cmpint (rename (tmp, counter), ==, 0);
      g_assert_cmpint (mkdir (dir, 0755), ==, 0);
      g_assert_true (g_file_set_contents_full (inside, n, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
      g_assert_cmpint (symlink ("counter", link), ==, 0);
      g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
      g_assert_cmpint (unlink (fifo), ==, 0);
      g_assert_cmpint (unlink (link), ==, 0);
      g_assert_cmpint (unlink (inside), ==, 0);
      g_assert_cmpint (rmdir (dir), ==, 0);
      if (ch->rounds % 2 == 0)
        g_assert_cmpint (symlink ("counter", swap_new), ==, 0);
      else
        g_assert_true (g_file_set_contents_full (swap_new, n, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
      g_assert_cmpint (rename (swap_new, swap), ==, 0);
    }
  return NULL;
}

static void
test_live_tree_entries_vanish (Fixture *f, gconstpointer data)
{
  Churn ch = { .src = f->src };
  g_autoptr (GThread) thread = NULL;
  guint copies = 0;

  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *name = g_strdup_printf ("file-%03u", i);
      put (f, name, name, 0644);
    }
  put (f, "counter", "start\n", 0644);
  thread = g_thread_new ("churn", churn_thread, &ch);
  for (; copies < 300; copies++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *kept = dst_path (f, "file-199");
      g_autofree char *counter = dst_path (f, "counter");

      if (!copy_at (f, FERRY_COPY_FIFOS, &error))
        g_error ("copy %u of the churning tree (churn round %u): %s", copies, ch.rounds, error->message);
      g_assert_true (g_file_test (kept, G_FILE_TEST_IS_REGULAR));
      g_assert_true (g_file_test (counter, G_FILE_TEST_IS_REGULAR));
      g_assert_true (ferry_rm_rf (f->dst, NULL));
    }
  g_atomic_int_set (&ch.stop, 1);
  g_thread_join (g_steal_pointer (&thread));
  g_test_message ("%u copies beside %u churn rounds", copies, ch.rounds);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func)                                                                                      \
  g_test_add ("/common/copy-tree/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("files-and-dirs", test_files_and_dirs);
  ADD ("copy-at-leaves-top", test_copy_at_leaves_top);
  ADD ("sparse-large", test_sparse_large);
  ADD ("symlinks", test_symlinks);
  ADD ("top-symlink", test_top_symlink);
  ADD ("hardlinks", test_hardlinks);
  ADD ("fifos", test_fifos);
  ADD ("devices", test_devices);
  ADD ("xattrs", test_xattrs);
  ADD ("ownership", test_ownership);
  ADD ("error-midway", test_error_midway);
  ADD ("error-entry-in-the-way", test_error_entry_in_the_way);
  ADD ("error-no-space", test_error_no_space);
  ADD ("source-changes-size", test_source_changes_size);
  ADD ("live-tree-entries-vanish", test_live_tree_entries_vanish);
#undef ADD
  return g_test_run ();
}
