/* The ETag of an object (http/request.c): it must change exactly when one
 * of the fields it covers does, whatever order the object lists keys in. */
#include "daemon/http/request.h"
#include "common/json.h"

#include <string.h>

static JsonNode *
parse (const char *text)
{
  g_autoptr (GError) error = NULL;
  JsonNode *node = ferry_json_parse (text, -1, &error);

  g_assert_no_error (error);
  return node;
}

static char *
etag_of (const char *text, const char *const *writable)
{
  g_autoptr (JsonNode) node = parse (text);

  return ferry_etag_of (node, writable);
}

static const char *const writable[] = { "config", "description", "profiles", NULL };

static void
test_key_order_ignored (void)
{
  g_autofree char *a = etag_of ("{\"config\":{\"a\":\"1\",\"b\":{\"x\":1,\"y\":2}},\"description\":\"d\"}", writable);
  g_autofree char *b = etag_of ("{\"description\":\"d\",\"config\":{\"b\":{\"y\":2,\"x\":1},\"a\":\"1\"}}", writable);

  g_assert_cmpstr (a, ==, b);
  g_assert_cmpuint (strlen (a), ==, 64);
}

static void
test_writable_change_changes_it (void)
{
  g_autofree char *a = etag_of ("{\"config\":{\"a\":\"1\"},\"description\":\"d\",\"profiles\":[\"p1\",\"p2\"]}",
                                writable);
  g_autofree char *value = etag_of ("{\"config\":{\"a\":\"2\"},\"description\":\"d\",\"profiles\":[\"p1\",\"p2\"]}",
                                    writable);
  g_autofree char *key = etag_of ("{\"config\":{\"a\":\"1\",\"b\":\"\"},\"description\":\"d\",\"profiles\":[\"p1\",\"p2\"]}",
                                  writable);
  g_autofree char *order = etag_of ("{\"config\":{\"a\":\"1\"},\"description\":\"d\",\"profiles\":[\"p2\",\"p1\"]}",
                                    writable);
  g_autofree char *moved = etag_of ("{\"config\":{},\"description\":\"d\",\"a\":\"1\",\"profiles\":[\"p1\",\"p2\"]}",
                                    writable);

  g_assert_cmpstr (a, !=, value);
  g_assert_cmpstr (a, !=, key);
  /* A list of profiles is applied in order: another order is another value. */
  g_assert_cmpstr (a, !=, order);
  g_assert_cmpstr (a, !=, moved);
}

static void
test_other_fields_ignored (void)
{
  g_autofree char *a = etag_of ("{\"config\":{},\"description\":\"d\",\"status\":\"Running\",\"used_by\":[]}", writable);
  g_autofree char *b = etag_of ("{\"config\":{},\"description\":\"d\",\"status\":\"Stopped\",\"used_by\":[\"x\"]}",
                                writable);
  /* An absent field is not the same as an empty one. */
  g_autofree char *absent = etag_of ("{\"config\":{}}", writable);
  g_autofree char *empty = etag_of ("{\"config\":{},\"description\":\"\"}", writable);

  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (absent, !=, empty);
}

static void
test_whole_object (void)
{
  g_autofree char *a = etag_of ("{\"name\":\"a\",\"target\":\"f1\"}", NULL);
  g_autofree char *b = etag_of ("{\"target\":\"f1\",\"name\":\"a\"}", NULL);
  g_autofree char *c = etag_of ("{\"name\":\"a\",\"target\":\"f2\"}", NULL);

  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (a, !=, c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/etag/key-order-ignored", test_key_order_ignored);
  g_test_add_func ("/etag/writable-change-changes-it", test_writable_change_changes_it);
  g_test_add_func ("/etag/other-fields-ignored", test_other_fields_ignored);
  g_test_add_func ("/etag/whole-object", test_whole_object);
  return g_test_run ();
}
