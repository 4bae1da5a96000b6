/* seccomp-image.c: the mount notification filter taken out of the chains
 * CRIU dumped, in the two layouts Ferry's containers have (filter stacked
 * last at start; inherited first after a restore). */
#include "checkpoint/checkpoint.h"

#include <linux/filter.h>
#include <linux/seccomp.h>

static GBytes *
program(guint32 ret)
{
  struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, ret) };
  return g_bytes_new(f, sizeof f);
}

static void
add(GArray *filters, GBytes *prog, gint64 prev)
{
  FerrySeccompFilter f = { .filter = g_bytes_ref(prog), .has_flags = TRUE, .flags = 1 };

  if (prev >= 0) {
    f.has_prev = TRUE;
    f.prev = (guint32)prev;
  }
  g_array_append_val(filters, f);
}

/* The chain a thread whose core names filter OLDEST gets, oldest first. */
static GPtrArray *
chain(GArray *filters, guint oldest)
{
  GPtrArray *out = g_ptr_array_new();

  for (guint i = oldest, n = 0; n < filters->len; n++) {
    FerrySeccompFilter *f = &g_array_index(filters, FerrySeccompFilter, i);
    g_ptr_array_add(out, f->filter);
    if (!f->has_prev)
      break;
    i = f->prev;
  }
  return out;
}

/* Serialised and parsed back, as the restore does. */
static GArray *
round_trip(GArray *filters)
{
  g_autoptr(GByteArray) bytes = ferry_seccomp_image_serialize(filters);
  GArray *back = ferry_seccomp_filters_new();

  g_assert_true(ferry_seccomp_image_parse(bytes->data, bytes->len, back));
  return back;
}

static void
test_started(void)
{
  g_autoptr(GBytes) deny = program(SECCOMP_RET_ERRNO | 1), extra = program(SECCOMP_RET_ERRNO | 2);
  g_autoptr(GBytes) notify = program(SECCOMP_RET_USER_NOTIF);
  g_autoptr(GArray) filters = ferry_seccomp_filters_new();

  /* Installed deny, extra, notify: CRIU writes the newest first and the
   * core names the oldest (slot 2). */
  add(filters, notify, -1);
  add(filters, extra, 0);
  add(filters, deny, 1);
  g_autoptr(GArray) parsed = round_trip(filters);
  g_assert_cmpuint(ferry_seccomp_filters_drop(parsed, notify), ==, 1);
  g_autoptr(GArray) back = round_trip(parsed);
  g_autoptr(GPtrArray) c = chain(back, 2);
  g_assert_cmpuint(c->len, ==, 2);
  g_assert_true(g_bytes_equal(c->pdata[0], deny));
  g_assert_true(g_bytes_equal(c->pdata[1], extra));
}

static void
test_restored(void)
{
  g_autoptr(GBytes) deny = program(SECCOMP_RET_ERRNO | 1), extra = program(SECCOMP_RET_ERRNO | 2);
  g_autoptr(GBytes) notify = program(SECCOMP_RET_USER_NOTIF), own = program(SECCOMP_RET_KILL);
  g_autoptr(GArray) filters = ferry_seccomp_filters_new();

  /* Two threads. One inherited notify and got deny, extra back, then
   * installed its own filter; the other has notify alone. */
  add(filters, own, -1);
  add(filters, extra, 0);
  add(filters, deny, 1);
  add(filters, notify, 2);  /* slot 3: the first thread's core */
  add(filters, notify, -1); /* slot 4: the second thread's core */
  g_assert_cmpuint(ferry_seccomp_filters_drop(filters, notify), ==, 2);
  g_autoptr(GArray) back = round_trip(filters);
  g_autoptr(GPtrArray) c = chain(back, 3);
  g_assert_cmpuint(c->len, ==, 3);
  g_assert_true(g_bytes_equal(c->pdata[0], deny));
  g_assert_true(g_bytes_equal(c->pdata[1], extra));
  g_assert_true(g_bytes_equal(c->pdata[2], own));
  g_autoptr(GPtrArray) alone = chain(back, 4);
  g_autoptr(GBytes) allow = program(SECCOMP_RET_ALLOW);
  g_assert_cmpuint(alone->len, ==, 1);
  g_assert_true(g_bytes_equal(alone->pdata[0], allow));
}

static void
test_garbage(void)
{
  static const guint8 bad[] = { 0x0a, 0x05, 0x0a, 0x10, 0x00 };
  g_autoptr(GArray) filters = ferry_seccomp_filters_new();

  g_assert_false(ferry_seccomp_image_parse(bad, sizeof bad, filters));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/checkpoint/seccomp-image/started", test_started);
  g_test_add_func("/checkpoint/seccomp-image/restored", test_restored);
  g_test_add_func("/checkpoint/seccomp-image/garbage", test_garbage);
  return g_test_run();
}
