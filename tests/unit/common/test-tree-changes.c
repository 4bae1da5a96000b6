/* A tree's changes as records (src/common/tree-changes.c): a tree changed after a
 * copy of it was taken, its changes listed by a tree state, read as
 * records, passed as JSON text (as on the wire) or copied in-process
 * (ferry_changes_copy) and written into the copy,
 * leave the copy the same tree, entry by entry (type, owner, mode, times,
 * size, data, holes, xattrs, symlink targets, hard links, what was deleted);
 * and records a hostile source could send change nothing outside the tree
 * and are refused. */
#include "common/tree-changes.h"

#include "common/fs.h"
#include "common/json.h"
#include "common/tree-state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct
{
  char *top;
  char *src;
  char *dst;
  gboolean local; /* ferry_changes_copy, not records through JSON text */
} Fixture;

static char *
at (const char *dir, const char *rel)
{
  return g_build_filename (dir, rel, NULL);
}

static void
put (const char *dir, const char *rel, const char *text)
{
  g_autofree char *p = at (dir, rel);
  g_assert_true (g_file_set_contents (p, text, -1, NULL));
}

/* In place: the same inode, the same size. */
static void
overwrite (const char *dir, const char *rel, const char *text)
{
  g_autofree char *p = at (dir, rel);
  int fd = open (p, O_WRONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, text, strlen (text)), ==, (gssize) strlen (text));
  close (fd);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->local = data != NULL && strcmp (data, "local") == 0;
  f->top = g_dir_make_tmp ("ferry-changes-XXXXXX", NULL);
  g_assert_nonnull (f->top);
  f->src = at (f->top, "src");
  f->dst = at (f->top, "dst");
  g_assert_cmpint (g_mkdir (f->src, 0755), ==, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  ferry_rm_rf (f->top, NULL);
  g_free (f->top);
  g_free (f->src);
  g_free (f->dst);
}

static gint
by_name (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* One line per entry of the tree at DIR, sorted: what a sync must keep. */
static void
describe_dir (const char *dir, const char *rel, GHashTable *inodes, GPtrArray *lines)
{
  g_autofree char *path = at (dir, rel);
  g_autoptr (GString) line = g_string_new (rel);
  char names[4096];
  ssize_t len;
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_string_append_printf (line, " mode=%o uid=%u gid=%u", st.st_mode, st.st_uid, st.st_gid);
  if (!S_ISLNK (st.st_mode))
    g_string_append_printf (line, " mtime=%ld.%09ld", (long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (S_ISREG (st.st_mode))
    {
      g_autofree char *data = NULL;
      gsize n = 0;
      g_autofree char *key = g_strdup_printf ("%lu", (unsigned long) st.st_ino);
      g_assert_true (g_file_get_contents (path, &data, &n, NULL));
      g_string_append_printf (line, " size=%zu sum=%u%s", n, g_str_hash (data) ^ (guint) n,
                              st.st_blocks * 512 < st.st_size ? " sparse" : "");
      if (st.st_nlink > 1)
        {
          if (!g_hash_table_contains (inodes, key))
            g_hash_table_insert (inodes, g_strdup (key), g_strdup (rel));
          g_string_append_printf (line, " same-file-as=%s", (char *) g_hash_table_lookup (inodes, key));
        }
    }
  if (S_ISLNK (st.st_mode))
    {
      g_autofree char *target = g_file_read_link (path, NULL);
      g_string_append_printf (line, " -> %s", target);
    }
  if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    g_string_append_printf (line, " rdev=%u:%u", major (st.st_rdev), minor (st.st_rdev));
  len = llistxattr (path, names, sizeof names);
  for (const char *n = names; len > 0 && n < names + len; n += strlen (n) + 1)
    {
      char value[256] = "";
      ssize_t v = lgetxattr (path, n, value, sizeof value - 1);
      g_string_append_printf (line, " %s=%.*s", n, (int) MAX (v, 0), value);
    }
  g_ptr_array_add (lines, g_string_free (g_steal_pointer (&line), FALSE));
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
      g_autoptr (GPtrArray) subs = g_ptr_array_new_with_free_func (g_free);
      for (const char *e; (e = g_dir_read_name (d)) != NULL;)
        g_ptr_array_add (subs, g_strdup (e));
      g_ptr_array_sort (subs, by_name);
      for (guint i = 0; i < subs->len; i++)
        {
          g_autofree char *sub = g_str_equal (rel, ".") ? g_strdup (g_ptr_array_index (subs, i))
                                                        : g_build_filename (rel, g_ptr_array_index (subs, i), NULL);
          describe_dir (dir, sub, inodes, lines);
        }
    }
}

static char *
describe (const char *dir)
{
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);

  describe_dir (dir, ".", inodes, lines);
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
}

/* A record through its JSON text, as the link carries it. */
static JsonObject *
over_the_wire (JsonObject *rec)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), rec);
  g_autofree char *text = ferry_json_to_string (node, FALSE);
  JsonObject *copy = ferry_json_parse_object (text, strlen (text), FALSE, NULL);

  g_assert_nonnull (copy);
  return copy;
}

/* CHANGES of F->src written into F->dst as the final sync does. */
static void
sync_changes (Fixture *f, GPtrArray *changes)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryChangesReader) r = ferry_changes_reader_new (f->src, &error);
  g_autoptr (FerryChangesWriter) w = ferry_changes_writer_new (f->dst, &error);
  guint8 buf[3000]; /* not a multiple of the hole block: data in odd pieces */

  g_assert_no_error (error);
  /* As the source: the directories' names read first, kept for the records. */
  g_assert_true (ferry_changes_reader_dirs_fit (r, changes, G_MAXSIZE));
  for (guint i = 0; i < changes->len; i++)
    {
      int data = -1;
      g_autoptr (JsonObject) rec = ferry_changes_reader_record (r, g_ptr_array_index (changes, i), &data, &error);
      g_autoptr (JsonObject) wire = NULL;
      guint64 size = 0;

      g_assert_no_error (error);
      g_assert_nonnull (rec);
      wire = over_the_wire (rec);
      g_assert_true (ferry_changes_writer_apply (w, wire, &size, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (size, ==, data >= 0 ? (guint64) json_object_get_int_member (rec, "size") : 0);
      if (data < 0)
        continue;
      for (guint64 left = size; left > 0;)
        {
          ssize_t n = read (data, buf, MIN (left, sizeof buf));
          g_assert_cmpint (n, >, 0);
          g_assert_true (ferry_changes_writer_data (w, buf, (gsize) n, &error));
          left -= (guint64) n;
        }
      close (data);
      g_assert_true (ferry_changes_writer_commit (w, &error));
      g_assert_no_error (error);
    }
  g_assert_true (ferry_changes_writer_finish (w, &error));
  g_assert_no_error (error);
}

static void
make_tree (const char *dir)
{
  g_autofree char *sub = at (dir, "etc");
  g_autofree char *deep = at (dir, "var/lib/app");
  g_autofree char *a = at (dir, "bin/busybox");
  g_autofree char *b = at (dir, "bin/sh");
  g_autofree char *c = at (dir, "bin/ls");
  g_autofree char *ln = at (dir, "etc/localtime");
  g_autofree char *bin = at (dir, "bin");

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (deep, 0750), ==, 0);
  g_assert_cmpint (g_mkdir (bin, 0755), ==, 0);
  put (dir, "etc/hostname", "c1\n");
  put (dir, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  put (dir, "var/lib/app/counter", "0017");
  put (dir, "var/lib/app/old", "gone soon");
  put (dir, "bin/busybox", "#!busybox v1");
  g_assert_cmpint (link (a, b), ==, 0);
  g_assert_cmpint (link (a, c), ==, 0);
  g_assert_cmpint (symlink ("/usr/share/zoneinfo/UTC", ln), ==, 0);
}

/* The tree made and copied, its state taken; later changes in a later tick. */
static FerryTreeState *
made_copied_taken (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  FerryTreeState *state;

  make_tree (f->src);
  g_assert_true (ferry_copy_tree (f->src, f->dst, &error));
  g_assert_no_error (error);
  state = ferry_tree_state_take_full (f->src, 0, &error);
  g_assert_nonnull (state);
  g_usleep (30000);
  return state;
}

/* CHANGES synced, then the copy is the tree. */
static void
assert_synced (Fixture *f, GPtrArray *changes)
{
  g_autofree char *want = NULL;
  g_autofree char *got = NULL;
  g_autoptr (GError) error = NULL;

  if (f->local)
    {
      /* A snapshot's copy brought up to date (checkpoint/rootfs-copy.c). */
      g_assert_true (ferry_changes_copy (f->src, f->dst, changes, &error));
      g_assert_no_error (error);
    }
  else
    sync_changes (f, changes);
  want = describe (f->src);
  got = describe (f->dst);
  g_assert_cmpstr (got, ==, want);
}

/* Every kind of change, the copy then compared with the tree. */
static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (FerryTreeState) state = made_copied_taken (f);
  g_autoptr (GPtrArray) changes = NULL;
  g_autofree char *want = NULL;
  g_autofree char *got = NULL;
  g_autofree char *sparse = at (f->src, "var/sparse");
  g_autofree char *fifo = at (f->src, "var/fifo");
  g_autofree char *moved = at (f->src, "var/lib/app");
  g_autofree char *moved_to = at (f->src, "var/app2");
  g_autofree char *sh = at (f->src, "bin/sh");
  g_autofree char *ln = at (f->src, "etc/localtime");
  g_autofree char *passwd = at (f->src, "etc/passwd");
  g_autofree char *dst_hostname = at (f->dst, "etc/hostname");
  g_autofree char *extra_dir = at (f->dst, "etc/extra.d");
  g_autofree char *src_hostname = at (f->src, "etc/hostname");
  g_autofree char *old = at (f->src, "var/lib/app/old");
  g_autofree char *var = at (f->src, "var");
  const char *why = NULL;
  int fd;

  /* The same size, in place: the copy's size and time could match. */
  overwrite (f->src, "var/lib/app/counter", "0018");
  /* Through one of three names. */
  overwrite (f->src, "bin/ls", "#!busybox v2");
  /* One name of three made a file of its own. */
  g_assert_cmpint (g_unlink (sh), ==, 0);
  put (f->src, "bin/sh", "#!/bin/dash");
  g_assert_cmpint (g_unlink (ln), ==, 0);
  g_assert_cmpint (symlink ("/usr/share/zoneinfo/Europe/Paris", ln), ==, 0);
  g_assert_cmpint (chmod (passwd, 04751), ==, 0);
  g_assert_cmpint (lchown (passwd, 1234, 5678), ==, 0);
  g_assert_cmpint (setxattr (passwd, "user.ferry", "yes", 3, 0), ==, 0);
  put (f->src, "var/lib/app/new", "");
  g_assert_cmpint (g_unlink (old), ==, 0);
  g_assert_cmpint (g_rename (moved, moved_to), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0640), ==, 0);
  /* Holes: data at 1 MiB and at 3 MiB of a 4 MiB file. */
  fd = open (sparse, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, "x", 1, 1 << 20), ==, 1);
  g_assert_cmpint (pwrite (fd, "y", 1, 3 << 20), ==, 1);
  g_assert_cmpint (ftruncate (fd, 4 << 20), ==, 0);
  close (fd);
  g_assert_cmpint (setxattr (var, "user.dir", "d", 1, 0), ==, 0);
  /* The copy holds what the tree lost meanwhile, deeper too. */
  g_assert_cmpint (g_mkdir_with_parents (extra_dir, 0755), ==, 0);
  put (f->dst, "etc/extra.d/x", "left behind");
  g_assert_cmpint (g_unlink (dst_hostname), ==, 0);
  g_assert_cmpint (g_mkdir (dst_hostname, 0700), ==, 0); /* a directory where a file is */
  put (f->dst, "etc/hostname/inside", "");
  g_assert_cmpint (g_unlink (src_hostname), ==, 0);
  put (f->src, "etc/hostname", "c2\n");

  changes = ferry_tree_state_changes (state, f->src, &why);
  g_assert_nonnull (changes);
  assert_synced (f, changes);
  want = describe (f->src);
  got = describe (f->dst);
  g_assert_nonnull (strstr (want, "var/sparse mode=100600 uid=0 gid=0"));
  g_assert_nonnull (strstr (got, "size=4194304 sum=4199685 sparse"));
}

/* A directory only written into keeps its times. */
static void
test_directory_times_kept (Fixture *f, gconstpointer data)
{
  g_autoptr (FerryTreeState) state = made_copied_taken (f);
  g_autoptr (GPtrArray) changes = NULL;
  const char *why = NULL;

  overwrite (f->src, "etc/passwd", "root:y");
  changes = ferry_tree_state_changes (state, f->src, &why);
  g_assert_cmpuint (changes->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (changes, 0), ==, "etc/passwd");
  assert_synced (f, changes);
}

/* A changed directory whose names would not fit one record is told apart
 * (its changes go another way: the whole tree by rsync). */
static void
test_directory_too_big_for_a_record (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryChangesReader) r = NULL;
  g_autoptr (GPtrArray) changes = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *spool = at (f->src, "spool");

  g_assert_cmpint (g_mkdir (spool, 0755), ==, 0);
  for (int i = 0; i < 100; i++)
    {
      g_autofree char *name = g_strdup_printf ("spool/message-%03d", i);
      put (f->src, name, "");
    }
  r = ferry_changes_reader_new (f->src, &error);
  g_assert_no_error (error);
  g_ptr_array_add (changes, g_strdup ("spool/message-007"));
  g_assert_true (ferry_changes_reader_dirs_fit (r, changes, 100));
  g_ptr_array_add (changes, g_strdup ("spool/."));
  /* 100 names of 11 bytes, each with its quotes and comma: 1400 bytes. */
  g_assert_true (ferry_changes_reader_dirs_fit (r, changes, 1400));
  g_assert_false (ferry_changes_reader_dirs_fit (r, changes, 1399));
  g_ptr_array_add (changes, g_strdup ("."));
  g_assert_false (ferry_changes_reader_dirs_fit (r, changes, 1399));
}

/* Records that name what is not a plain path in the tree, or that do not
 * fit, are refused, and nothing outside the tree changes. */
static void
test_hostile_records (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryChangesWriter) w = NULL;
  g_autofree char *outside = at (f->top, "outside");
  g_autofree char *evil = at (f->dst, "evil");
  g_autofree char *etc = at (f->dst, "etc");
  const char *refused[] = {
    "{\"path\":\"../outside/x\",\"type\":\"file\"}",
    "{\"path\":\"/etc/x\",\"type\":\"file\"}",
    "{\"path\":\"a/../../x\",\"type\":\"file\"}",
    "{\"path\":\"etc//x\",\"type\":\"file\"}",
    "{\"path\":\".\",\"type\":\"file\"}",
    "{\"path\":\"\",\"type\":\"dir\"}",
    /* Through a symlink the tree holds. */
    "{\"path\":\"evil/x\",\"type\":\"file\",\"uid\":0,\"gid\":0,\"mode\":420,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{},\"size\":0}",
    "{\"path\":\"evil\",\"type\":\"dir\",\"uid\":0,\"gid\":0,\"mode\":493,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{},\"entries\":[\"../x\"]}",
    "{\"path\":\"x\",\"type\":\"link\",\"to\":\"../outside/secret\"}",
    "{\"path\":\"x\",\"type\":\"link\",\"to\":\"etc\"}",
    "{\"path\":\"x\",\"type\":\"file\",\"uid\":-1,\"gid\":0,\"mode\":420,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{},\"size\":0}",
    "{\"path\":\"x\",\"type\":\"file\",\"uid\":0,\"gid\":0,\"mode\":65535,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{},\"size\":0}",
    "{\"path\":\"x\",\"type\":\"file\",\"uid\":0,\"gid\":0,\"mode\":420,\"atime\":[0,0],\"mtime\":[0,2000000000],"
    "\"xattrs\":{},\"size\":0}",
    "{\"path\":\"x\",\"type\":\"file\",\"uid\":0,\"gid\":0,\"mode\":420,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{\"user.a\":5},\"size\":0}",
    "{\"path\":\"x\",\"type\":\"door\",\"uid\":0,\"gid\":0,\"mode\":420,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{}}",
    "{\"path\":\"x\",\"type\":\"file\",\"uid\":0,\"gid\":0,\"mode\":420,\"atime\":[0,0],\"mtime\":[0,0],"
    "\"xattrs\":{},\"size\":-5}",
  };
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  guint64 size = 0;

  g_assert_cmpint (g_mkdir (f->dst, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (outside, 0755), ==, 0);
  put (outside, "secret", "s");
  g_assert_cmpint (g_mkdir (etc, 0755), ==, 0);
  g_assert_cmpint (symlink (outside, evil), ==, 0);
  before = describe (f->top);
  w = ferry_changes_writer_new (f->dst, &error);
  g_assert_nonnull (w);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr (JsonObject) rec = ferry_json_parse_object (refused[i], strlen (refused[i]), FALSE, NULL);
      g_autoptr (GError) local = NULL;
      g_assert_nonnull (rec);
      if (ferry_changes_writer_apply (w, rec, &size, &local))
        g_error ("record %u accepted: %s", i, refused[i]);
      g_assert_nonnull (local);
    }
  after = describe (f->top);
  g_assert_cmpstr (after, ==, before);

  /* A file's data past its size, a record before its data ended. */
  {
    const char *text = "{\"path\":\"f\",\"type\":\"file\",\"uid\":0,\"gid\":0,\"mode\":420,\"atime\":[0,0],"
                       "\"mtime\":[0,0],\"xattrs\":{},\"size\":2}";
    g_autoptr (JsonObject) rec = ferry_json_parse_object (text, strlen (text), FALSE, NULL);
    g_autoptr (GError) local = NULL;
    g_assert_true (ferry_changes_writer_apply (w, rec, &size, &error));
    g_assert_cmpuint (size, ==, 2);
    g_assert_false (ferry_changes_writer_data (w, (const guint8 *) "abc", 3, &local));
    g_clear_error (&local);
    g_assert_false (ferry_changes_writer_apply (w, rec, &size, &local));
    g_clear_error (&local);
    g_assert_false (ferry_changes_writer_commit (w, &local));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (geteuid () != 0)
    {
      g_test_skip ("needs root (owners, set-id bits)");
      return g_test_run ();
    }
  g_test_add ("/changes/round-trip", Fixture, NULL, fixture_set_up, test_round_trip, fixture_tear_down);
  g_test_add ("/changes/round-trip-local", Fixture, "local", fixture_set_up, test_round_trip, fixture_tear_down);
  g_test_add ("/changes/directory-times", Fixture, NULL, fixture_set_up, test_directory_times_kept,
              fixture_tear_down);
  g_test_add ("/changes/directory-too-big", Fixture, NULL, fixture_set_up, test_directory_too_big_for_a_record,
              fixture_tear_down);
  g_test_add ("/changes/hostile", Fixture, NULL, fixture_set_up, test_hostile_records, fixture_tear_down);
  return g_test_run ();
}
