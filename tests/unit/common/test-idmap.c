/* Id maps as LXD keeps them: raw.idmap, AddSafe's splitting, the JSON of
 * volatile.idmap.*, ferry-monitor's --idmap and the kernel's map text. */
#include "config.h"

#include "common/idmap.h"

#include "common/error.h"

#include <string.h>

static void
assert_proc (GArray *map, gboolean uid, const char *want)
{
  g_autofree char *text = ferry_idmap_proc_text (map, uid);
  g_assert_cmpstr (text, ==, want);
}

static void
test_range (void)
{
  g_autoptr (GArray) map = ferry_idmap_new_range (1000000, 1000000000);
  g_autofree char *json = ferry_idmap_to_json (map);
  g_autofree char *arg = ferry_idmap_to_arg (map);
  g_autoptr (GArray) back = ferry_idmap_from_json (json, NULL);
  g_autoptr (GArray) short_arg = ferry_idmap_from_arg ("1000000:1000000000", NULL);

  g_assert_cmpstr (json, ==,
                   "[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":1000000,\"Nsid\":0,\"Maprange\":1000000000},"
                   "{\"Isuid\":false,\"Isgid\":true,\"Hostid\":1000000,\"Nsid\":0,\"Maprange\":1000000000}]");
  g_assert_cmpstr (arg, ==, "u:0:1000000:1000000000,g:0:1000000:1000000000");
  assert_proc (map, TRUE, "0 1000000 1000000000\n");
  assert_proc (map, FALSE, "0 1000000 1000000000\n");
  g_assert_nonnull (back);
  g_assert_true (ferry_idmap_equal (map, back));
  g_assert_nonnull (short_arg);
  g_assert_true (ferry_idmap_equal (map, short_arg));
  g_assert_cmpint (ferry_idmap_to_host (map, TRUE, 0), ==, 1000000);
  g_assert_cmpint (ferry_idmap_to_host (map, FALSE, 5), ==, 1000005);
  g_assert_cmpint (ferry_idmap_to_host (map, TRUE, 1000000000), ==, -1);
}

static void
test_raw (void)
{
  g_autoptr (GArray) map = ferry_idmap_new_range (1000000, 1000000000);
  g_autoptr (GArray) raw = ferry_idmap_parse_raw ("both 1000 1000\n\nuid 2000-2001 3000-3001\n", NULL);
  g_autoptr (GArray) round = NULL;
  g_autofree char *arg = NULL;

  g_assert_nonnull (raw);
  g_assert_cmpuint (raw->len, ==, 2);
  for (guint i = 0; i < raw->len; i++)
    g_assert_true (ferry_idmap_add_safe (map, &g_array_index (raw, FerryIdmapEntry, i), NULL));
  /* The uid entry is split twice, the gid entry once; "both" is listed twice. */
  assert_proc (map, TRUE, "0 1000000 1000\n1000 1000 1\n1001 1001001 1999\n3000 2000 2\n3002 1003002 999996998\n");
  assert_proc (map, FALSE, "1000 1000 1\n0 1000000 1000\n1001 1001001 999998999\n");
  g_assert_cmpint (ferry_idmap_to_host (map, TRUE, 1000), ==, 1000);
  g_assert_cmpint (ferry_idmap_to_host (map, TRUE, 3001), ==, 2001);
  g_assert_cmpint (ferry_idmap_to_host (map, FALSE, 3001), ==, 1003001);
  arg = ferry_idmap_to_arg (map);
  round = ferry_idmap_from_arg (arg, NULL);
  g_assert_nonnull (round);
  g_assert_true (ferry_idmap_equal (map, round));
}

static void
test_raw_errors (void)
{
  for (const char *const *bad = (const char *const[]) { "garbage", "both 1000", "both 1000 1000 1", "user 1 1",
                                                        "both 1-2 1-3", "both a b", "both 2-1 2-1", "both -1 1",
                                                        "uid 4294967295 1", "both 1-2-3 1", NULL };
       *bad; bad++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) map = ferry_idmap_parse_raw (*bad, &error);
      g_assert_null (map);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  /* A host id inside the container's range would be mapped twice. */
  g_autoptr (GArray) map = ferry_idmap_new_range (1000000, 65536);
  g_autoptr (GError) error = NULL;
  FerryIdmapEntry e = { .isuid = TRUE, .hostid = 1000010, .nsid = 5, .range = 1 };
  g_assert_false (ferry_idmap_add_safe (map, &e, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
}

static void
test_bad_input (void)
{
  for (const char *const *bad = (const char *const[]) { "", "1", "1:2:3", "x:0:1:2", "u:0:1", "1000:0",
                                                        "u:0:4294967295:2", "1:2,3:4", "u:0:1:2,", NULL };
       *bad; bad++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) map = ferry_idmap_from_arg (*bad, &error);
      g_assert_null (map);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  for (const char *const *bad = (const char *const[]) { "", "{}", "[1]", "[{\"Isuid\":\"yes\"}]",
                                                        "[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":-1,\"Nsid\":0,"
                                                        "\"Maprange\":1}]",
                                                        "[{\"Isuid\":false,\"Isgid\":false,\"Hostid\":1,\"Nsid\":0,"
                                                        "\"Maprange\":1}]",
                                                        NULL };
       *bad; bad++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) map = ferry_idmap_from_json (*bad, &error);
      g_assert_null (map);
      g_assert_nonnull (error);
    }
  g_autoptr (GArray) empty = ferry_idmap_from_json ("[]", NULL);
  g_assert_nonnull (empty);
  g_assert_cmpuint (empty->len, ==, 0);
}

static GHashTable *
config_of (const char *const *kv)
{
  GHashTable *c = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (; kv[0] != NULL; kv += 2)
    g_hash_table_insert (c, g_strdup (kv[0]), g_strdup (kv[1]));
  return c;
}

static GArray *
choose (const char *const *kv, GArray *taken, gint64 own_base, gint64 *base, GError **error)
{
  g_autoptr (GHashTable) config = config_of (kv);
  return ferry_idmap_choose (config, (FerryIdRange){ .base = 100000, .size = 10000001 }, own_base, taken, base, error);
}

/* LXD's choices: privileged, the host's whole range, isolated ranges after
 * the first 65536 ids in the first gap, security.idmap.base as given. */
static void
test_choose (void)
{
  g_autoptr (GArray) taken = g_array_new (FALSE, FALSE, sizeof (FerryIdRange));
  gint64 base = -1;

  {
    g_autoptr (GArray) map = choose ((const char *const[]) { "security.privileged", "true", NULL }, NULL, 0, &base,
                                     NULL);
    g_assert_cmpuint (map->len, ==, 0);
    g_assert_cmpint (base, ==, 0);
  }
  {
    g_autoptr (GArray) map = choose ((const char *const[]) { NULL }, NULL, 0, &base, NULL);
    assert_proc (map, TRUE, "0 100000 10000001\n");
    g_assert_cmpint (base, ==, 0);
  }
  const char *const isolated[] = { "security.idmap.isolated", "true", NULL };
  for (int i = 0; i < 2; i++)
    {
      g_autoptr (GArray) map = choose (isolated, taken, 0, &base, NULL);
      g_assert_cmpint (base, ==, 165536 + i * 65536);
      assert_proc (map, FALSE, i ? "0 231072 65536\n" : "0 165536 65536\n");
      g_array_append_val (taken, ((FerryIdRange){ .base = base, .size = 65536 }));
    }
  {
    /* Its own base is kept while it fits; a gap is filled first. */
    g_autoptr (GArray) kept = choose (isolated, taken, 400000, &base, NULL);
    g_assert_cmpint (base, ==, 400000);
    g_autoptr (GArray) at = choose ((const char *const[]) { "security.idmap.isolated", "true", "security.idmap.size",
                                                            "100000", NULL },
                                    taken, 200000, &base, NULL);
    g_assert_cmpint (base, ==, 296608);
    g_autoptr (GArray) given = choose ((const char *const[]) { "security.idmap.isolated", "true",
                                                               "security.idmap.base", "500000", NULL },
                                       taken, 0, &base, NULL);
    g_assert_cmpint (base, ==, 500000);
    assert_proc (given, TRUE, "0 500000 65536\n");
  }
  {
    /* Base and size mean nothing to a container that is not isolated. */
    g_autoptr (GArray) map = choose ((const char *const[]) { "security.idmap.base", "500000", NULL }, taken, 0, &base,
                                     NULL);
    g_assert_cmpint (base, ==, 0);
    assert_proc (map, TRUE, "0 100000 10000001\n");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GArray) map = choose ((const char *const[]) { "security.idmap.isolated", "true", "security.idmap.size",
                                                             "10000000", NULL },
                                     taken, 0, &base, &error);
    g_assert_null (map);
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
    g_assert_nonnull (strstr (error->message, "Not enough uid/gid available"));
  }
  {
    g_autoptr (GArray) map = choose ((const char *const[]) { "raw.idmap", "both 1000 1000", NULL }, NULL, 0, &base,
                                     NULL);
    assert_proc (map, TRUE, "0 100000 1000\n1000 1000 1\n1001 101001 9999000\n");
    g_autoptr (GError) error = NULL;
    g_autoptr (GArray) bad = choose ((const char *const[]) { "raw.idmap", "both 100001 5", NULL }, NULL, 0, &base,
                                     &error);
    g_assert_null (bad);
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  }
}

/* A checkpoint's map applies where its host ids are root's (or raw.idmap's)
 * and an isolated one overlaps no other isolated container. */
static void
test_applies (void)
{
  FerryIdRange host = { .base = 100000, .size = 10000001 };
  g_autoptr (GArray) taken = g_array_new (FALSE, FALSE, sizeof (FerryIdRange));
  g_autoptr (GHashTable) plain = config_of ((const char *const[]) { NULL });
  g_autoptr (GHashTable) isolated = config_of ((const char *const[]) { "security.idmap.isolated", "true", NULL });
  g_autoptr (GHashTable) raw = config_of ((const char *const[]) { "raw.idmap", "both 1000 1000", NULL });
  g_autoptr (GArray) whole = ferry_idmap_new_range (100000, 10000001);
  g_autoptr (GArray) elsewhere = ferry_idmap_new_range (1000000, 1000000000);
  g_autoptr (GArray) slot = ferry_idmap_new_range (165536, 65536);
  g_autoptr (GArray) empty = ferry_idmap_new ();
  g_autoptr (GArray) with_raw = ferry_idmap_new_range (100000, 10000001);
  g_autoptr (GArray) raw_entries = ferry_idmap_parse_raw ("both 1000 1000", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (ferry_idmap_add_safe (with_raw, &g_array_index (raw_entries, FerryIdmapEntry, 0), NULL));
  g_assert_true (ferry_idmap_applies ("c", whole, plain, host, taken, NULL));
  g_assert_true (ferry_idmap_applies ("c", empty, plain, host, taken, NULL));
  g_assert_true (ferry_idmap_applies ("c", with_raw, raw, host, taken, NULL));
  g_assert_false (ferry_idmap_applies ("c", with_raw, plain, host, taken, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
  g_clear_error (&error);
  g_assert_false (ferry_idmap_applies ("c", elsewhere, plain, host, taken, &error));
  g_assert_nonnull (strstr (error->message, "outside this host's range"));
  g_clear_error (&error);
  g_assert_true (ferry_idmap_applies ("c", slot, isolated, host, taken, NULL));
  g_array_append_val (taken, ((FerryIdRange){ .base = 200000, .size = 65536 }));
  g_assert_false (ferry_idmap_applies ("c", slot, isolated, host, taken, &error));
  g_assert_nonnull (strstr (error->message, "another isolated container"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/common/idmap/range", test_range);
  g_test_add_func ("/common/idmap/raw", test_raw);
  g_test_add_func ("/common/idmap/raw-errors", test_raw_errors);
  g_test_add_func ("/common/idmap/bad-input", test_bad_input);
  g_test_add_func ("/common/idmap/choose", test_choose);
  g_test_add_func ("/common/idmap/applies", test_applies);
  return g_test_run ();
}
