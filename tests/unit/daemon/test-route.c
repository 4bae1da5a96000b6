/* Request paths and list filters (src/daemon/http/route.c). */
#include <glib.h>
#include <string.h>

#include "common/error.h"
#include "daemon/http/route.h"

static void
assert_split (const char *path, const char *const *expected)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) parts = ferry_route_split_path (path, &error);

  g_test_message ("path: %s", path);
  g_assert_no_error (error);
  g_assert_nonnull (parts);
  g_assert_cmpuint (parts->len - 1, ==, g_strv_length ((char **) expected));
  g_assert_null (g_ptr_array_index (parts, parts->len - 1));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (g_ptr_array_index (parts, i), ==, expected[i]);
}

static void
assert_refused (const char *path, FerryErrorCode code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) parts = ferry_route_split_path (path, &error);

  g_test_message ("path: %s", path);
  g_assert_null (parts);
  g_assert_error (error, FERRY_ERROR, (gint) code);
}

static void
test_split_decodes_each_segment_once (void)
{
  assert_split ("/1.0", (const char *[]){ NULL });
  assert_split ("/1.0/", (const char *[]){ NULL });
  assert_split ("/1.0/instances", (const char *[]){ "instances", NULL });
  assert_split ("/1.0//instances///c0/", (const char *[]){ "instances", "c0", NULL });
  /* The name 'a%41b' as a client escapes it, and as the server lists it. */
  assert_split ("/1.0/instances/c0/snapshots/a%2541b", (const char *[]){ "instances", "c0", "snapshots", "a%41b", NULL });
  assert_split ("/1.0/instances/c0/snapshots/100%25", (const char *[]){ "instances", "c0", "snapshots", "100%", NULL });
  assert_split ("/1.0/images/aliases/%C3%A9t%C3%A9", (const char *[]){ "images", "aliases", "\u00e9t\u00e9", NULL });
  assert_split ("/1.0/a%20b/...", (const char *[]){ "a b", "...", NULL });
}

static void
test_split_refuses (void)
{
  assert_refused (NULL, FERRY_ERROR_NOT_FOUND);
  assert_refused ("", FERRY_ERROR_NOT_FOUND);
  assert_refused ("/", FERRY_ERROR_NOT_FOUND);
  assert_refused ("/1.0x/instances", FERRY_ERROR_NOT_FOUND);
  assert_refused ("/2.0", FERRY_ERROR_NOT_FOUND);
  assert_refused ("1.0/instances", FERRY_ERROR_NOT_FOUND);
  assert_refused ("/1.0/instances/c0%2Fsnapshots", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/c0%2fsnapshots", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/c0%00", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/%", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/%4", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/%zz", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/%2E%2E", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/..", FERRY_ERROR_INVALID);
  assert_refused ("/1.0/instances/c0/.", FERRY_ERROR_INVALID);
}

static void
test_filter (void)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj;
  const char *bad[] = { "name", "name eq", "name is c1", "name  eq c1", "nosuch eq x", "config eq x",
                        "stateful eq false", " and ", NULL };

  g_assert_true (json_parser_load_from_data (
      parser, "{\"name\": \"c1\", \"status\": \"Running\", \"config\": {}, \"stateful\": false}", -1, NULL));
  obj = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (ferry_route_filter_matches (obj, NULL, NULL));
  g_assert_true (ferry_route_filter_matches (obj, "", NULL));
  g_assert_true (ferry_route_filter_matches (obj, "name eq c1", NULL));
  g_assert_true (ferry_route_filter_matches (obj, "status eq running and name ne c2", NULL));
  g_assert_false (ferry_route_filter_matches (obj, "status eq stopped", NULL));
  /* The value is the rest of the term. */
  g_assert_false (ferry_route_filter_matches (obj, "name eq c1 and", NULL));
  g_assert_false (ferry_route_filter_matches (obj, "name eq c1 with spaces", NULL));
  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      g_test_message ("filter: '%s'", bad[i]);
      g_assert_false (ferry_route_filter_matches (obj, bad[i], &error));
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/route/split-decodes-each-segment-once", test_split_decodes_each_segment_once);
  g_test_add_func ("/route/split-refuses", test_split_refuses);
  g_test_add_func ("/route/filter", test_filter);
  return g_test_run ();
}
