/* Editing the seccomp filter chains CRIU recorded (seccomp.img, one
 * seccomp_entry of seccomp_filter messages, criu/images/seccomp.proto).
 * Each thread's chain is its own list: the thread's core names its oldest
 * filter, and a filter's "prev" names the next newer one. */
#include "checkpoint/checkpoint.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <unistd.h>

#define SECCOMP_IMAGE "seccomp.img"
#define MAGIC_BYTES 8 /* CRIU's common magic and the image's own */

static void
filter_clear(gpointer data)
{
  FerrySeccompFilter *f = data;

  g_clear_pointer(&f->filter, g_bytes_unref);
}

static gboolean
read_varint(const guint8 **p, const guint8 *end, guint64 *v)
{
  *v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    guint8 b = *(*p)++;
    *v |= (guint64)(b & 0x7f) << shift;
    if (!(b & 0x80))
      return TRUE;
  }
  return FALSE;
}

static void
write_varint(GByteArray *out, guint64 v)
{
  do {
    guint8 b = v & 0x7f;
    v >>= 7;
    if (v)
      b |= 0x80;
    g_byte_array_append(out, &b, 1);
  } while (v);
}

/* A length-delimited field: its bytes. */
static gboolean
read_bytes(const guint8 **p, const guint8 *end, const guint8 **data, gsize *len)
{
  guint64 n;

  if (!read_varint(p, end, &n) || n > (guint64)(end - *p))
    return FALSE;
  *data = *p;
  *len = (gsize)n;
  *p += n;
  return TRUE;
}

static gboolean
parse_filter(const guint8 *p, const guint8 *end, FerrySeccompFilter *f)
{
  while (p < end) {
    guint64 key, v;
    const guint8 *data;
    gsize len;
    if (!read_varint(&p, end, &key))
      return FALSE;
    if (key == (1 << 3 | 2) && read_bytes(&p, end, &data, &len)) {
      g_clear_pointer(&f->filter, g_bytes_unref);
      f->filter = g_bytes_new(data, len);
    }
    else if ((key == (2 << 3 | 0) || key == (3 << 3 | 0)) && read_varint(&p, end, &v) && v <= G_MAXUINT32) {
      gboolean prev = key == (2 << 3 | 0);
      *(prev ? &f->has_prev : &f->has_flags) = TRUE;
      *(prev ? &f->prev : &f->flags) = (guint32)v;
    }
    else
      return FALSE;
  }
  return f->filter != NULL;
}

gboolean
ferry_seccomp_image_parse(const guint8 *data, gsize len, GArray *filters)
{
  const guint8 *p = data, *end = data + len;

  while (p < end) {
    guint64 key;
    const guint8 *msg;
    gsize msg_len;
    FerrySeccompFilter f = { 0 };
    if (!read_varint(&p, end, &key) || key != (1 << 3 | 2) || !read_bytes(&p, end, &msg, &msg_len))
      return FALSE;
    if (!parse_filter(msg, msg + msg_len, &f)) {
      filter_clear(&f);
      return FALSE;
    }
    g_array_append_val(filters, f);
  }
  return TRUE;
}

GByteArray *
ferry_seccomp_image_serialize(GArray *filters)
{
  GByteArray *out = g_byte_array_new();

  for (guint i = 0; i < filters->len; i++) {
    const FerrySeccompFilter *f = &g_array_index(filters, FerrySeccompFilter, i);
    g_autoptr(GByteArray) msg = g_byte_array_new();
    gsize len = 0;
    const guint8 *bytes = g_bytes_get_data(f->filter, &len);
    write_varint(msg, 1 << 3 | 2);
    write_varint(msg, len);
    g_byte_array_append(msg, bytes, len);
    if (f->has_prev) {
      write_varint(msg, 2 << 3 | 0);
      write_varint(msg, f->prev);
    }
    if (f->has_flags) {
      write_varint(msg, 3 << 3 | 0);
      write_varint(msg, f->flags);
    }
    write_varint(out, 1 << 3 | 2);
    write_varint(out, msg->len);
    g_byte_array_append(out, msg->data, msg->len);
  }
  return out;
}

GArray *
ferry_seccomp_filters_new(void)
{
  GArray *a = g_array_new(FALSE, TRUE, sizeof(FerrySeccompFilter));

  g_array_set_clear_func(a, filter_clear);
  return a;
}

/* Takes every copy of DROP out of the chains. A copy that is a thread's
 * oldest filter (named by the thread's core, which we do not rewrite) takes
 * the place and links of its newer neighbour; a chain of DROP alone keeps a
 * filter that allows everything. Returns the number of copies removed. */
guint
ferry_seccomp_filters_drop(GArray *filters, GBytes *drop)
{
  static const struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
  g_autoptr(GBytes) allow_bytes = g_bytes_new_static(allow, sizeof allow);
  guint removed = 0;

  for (;;) {
    FerrySeccompFilter *f = NULL, *older = NULL;
    for (guint i = 0; i < filters->len && f == NULL; i++)
      if (g_bytes_equal(g_array_index(filters, FerrySeccompFilter, i).filter, drop)) {
        f = &g_array_index(filters, FerrySeccompFilter, i);
        for (guint j = 0; j < filters->len; j++) {
          FerrySeccompFilter *o = &g_array_index(filters, FerrySeccompFilter, j);
          if (o->has_prev && o->prev == i)
            older = o;
        }
      }
    if (f == NULL)
      return removed;
    removed++;
    if (older != NULL) {
      older->has_prev = f->has_prev;
      older->prev = f->prev;
    }
    else if (f->has_prev && f->prev < filters->len) {
      FerrySeccompFilter *newer = &g_array_index(filters, FerrySeccompFilter, f->prev);
      g_bytes_unref(f->filter);
      f->filter = g_bytes_ref(newer->filter);
      f->has_flags = newer->has_flags;
      f->flags = newer->flags;
      f->has_prev = newer->has_prev;
      f->prev = newer->prev;
      f = newer; /* unused from now on */
    }
    g_bytes_unref(f->filter);
    f->filter = g_bytes_ref(allow_bytes);
  }
}

/* A directory in PARENT showing every image of IMAGES_DIR but seccomp.img,
 * whose copy lacks FILTER: hard links, or where IMAGES_DIR is on another
 * file system, symlinks. Restored tasks open images through the
 * directory's fd with their own root (in which an absolute target means
 * another file, so the symlinks are relative) and, in a user namespace, as
 * its root, to whom the directories above IMAGES_DIR are closed: a hard
 * link needs no path. */
static char *
make_view(const char *images_dir, const char *parent, GByteArray *seccomp, GError **error)
{
  g_autofree char *template = g_build_filename(parent, ".images-view-XXXXXX", NULL);
  g_autofree char *abs = g_canonicalize_filename(images_dir, NULL);
  g_autofree char *view = g_mkdtemp(g_steal_pointer(&template));
  g_autoptr(GString) up = g_string_new(NULL);
  GDir *d;

  if (view == NULL || (d = g_dir_open(abs, 0, error)) == NULL) {
    if (view == NULL)
      g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating a directory in %s: %s", parent,
                  g_strerror(errno));
    else
      rmdir(view);
    return NULL;
  }
  g_autofree char *view_abs = g_canonicalize_filename(view, NULL);
  for (const char *p = view_abs; *p; p++)
    if (*p == '/')
      g_string_append(up, "../");
  for (const char *e; (e = g_dir_read_name(d)) != NULL;) {
    g_autofree char *target = g_strconcat(up->str, abs + 1, "/", e, NULL);
    g_autofree char *entry = g_build_filename(view, e, NULL);
    g_autofree char *original = g_build_filename(abs, e, NULL);
    if (!g_str_equal(e, SECCOMP_IMAGE) && link(original, entry) < 0 && symlink(target, entry) < 0) {
      g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "Linking %s: %s", entry, g_strerror(errno));
      break;
    }
  }
  g_dir_close(d);
  g_autofree char *path = g_build_filename(view, SECCOMP_IMAGE, NULL);
  if ((error == NULL || *error == NULL)
      && ferry_write_file_atomic(path, (const char *)seccomp->data, seccomp->len, 0600, error))
    return g_steal_pointer(&view);
  ferry_rm_rf(view, NULL);
  return NULL;
}

char *
ferry_checkpoint_images_without_filter(const char *images_dir, const char *parent, const void *filter,
                                       gsize len, GError **error)
{
  g_autofree char *path = g_build_filename(images_dir, SECCOMP_IMAGE, NULL);
  g_autofree char *data = NULL;
  g_autoptr(GArray) filters = ferry_seccomp_filters_new();
  g_autoptr(GBytes) drop = g_bytes_new(filter, len);
  gsize size = 0;
  guint32 entry_len;

  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    return NULL; /* no thread had a filter */
  if (!g_file_get_contents(path, &data, &size, error))
    return NULL;
  if (size == MAGIC_BYTES)
    return NULL;
  if (size < MAGIC_BYTES + 4
      || (memcpy(&entry_len, data + MAGIC_BYTES, 4), entry_len != size - MAGIC_BYTES - 4)
      || !ferry_seccomp_image_parse((const guint8 *)data + MAGIC_BYTES + 4, entry_len, filters)) {
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s is not a seccomp image Ferry can read", path);
    return NULL;
  }
  if (ferry_seccomp_filters_drop(filters, drop) == 0)
    return NULL;
  g_autoptr(GByteArray) entry = ferry_seccomp_image_serialize(filters);
  g_autoptr(GByteArray) image = g_byte_array_new();
  guint32 n = entry->len;
  g_byte_array_append(image, (const guint8 *)data, MAGIC_BYTES);
  g_byte_array_append(image, (const guint8 *)&n, 4);
  g_byte_array_append(image, entry->data, entry->len);
  char *view = make_view(images_dir, parent, image, error);
  if (view == NULL)
    g_prefix_error(error, "Removing the dumped mount notification filter: ");
  return view;
}
