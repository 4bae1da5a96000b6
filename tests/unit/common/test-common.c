#include <string.h>

#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/timeutil.h"

static void
test_instance_names (void)
{
  const char *good[] = { "c1", "web-01", "A", "x123456789012345678901234567890123456789012345678901234567890ab" };
  const char *bad[] = { "", "1c", "-c", "c-", "c_1", "c.1", "c/1", "c 1", "ünï",
                        "x1234567890123456789012345678901234567890123456789012345678901234" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (ferry_name_validate_instance (good[i], NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (ferry_name_validate_instance (bad[i], &error));
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

static void
test_snapshot_names (void)
{
  g_assert_true (ferry_name_validate_snapshot ("snap0", NULL));
  g_assert_true (ferry_name_validate_snapshot ("before-upgrade_2", NULL));
  g_assert_false (ferry_name_validate_snapshot ("a/b", NULL));
  g_assert_false (ferry_name_validate_snapshot ("..", NULL));
  g_assert_false (ferry_name_validate_snapshot ("", NULL));
  g_assert_false (ferry_name_validate_snapshot ("a b", NULL));
}

static void
test_json_strict (void)
{
  const char *body = "{\"name\":\"c1\",\"ephemeral\":\"yes\",\"config\":{\"a\":\"1\",\"b\":2},\"n\":3}";
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) obj = ferry_json_parse_object (body, strlen (body), FALSE, &error);
  const char *name = NULL;
  gboolean eph = FALSE;
  gint64 n = 0;
  JsonObject *config = NULL;

  g_assert_no_error (error);
  g_assert_true (ferry_json_get_string (obj, "name", &name, NULL));
  g_assert_cmpstr (name, ==, "c1");
  g_assert_false (ferry_json_get_bool (obj, "ephemeral", &eph, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (ferry_json_get_int (obj, "n", &n, NULL));
  g_assert_cmpint (n, ==, 3);
  g_assert_true (ferry_json_get_object (obj, "config", &config, NULL));
  g_assert_null (ferry_json_string_map (config, "Config", &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_clear_error (&error);

  /* An escaped backslash before "u0000" is not a NUL escape. */
  {
    const char *ok = "{\"p\":\"c:\\\\u0000\"}";
    g_autoptr (JsonObject) o = ferry_json_parse_object (ok, strlen (ok), FALSE, &error);
    g_assert_no_error (error);
    g_assert_nonnull (o);
  }

  /* Deep nesting is refused before json-glib's recursive parser sees it. */
  {
    g_autoptr (GString) deep = g_string_new ("{\"a\":");
    for (int i = 0; i < 100000; i++)
      g_string_append_c (deep, '[');
    g_autoptr (JsonObject) o = ferry_json_parse_object (deep->str, deep->len, FALSE, &error);
    g_assert_null (o);
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    g_clear_error (&error);
  }

  const char *garbage[] = { "", "[1,2]", "{", "nul", "\"str\"", "{\"a\":}", "{\"name\":\"a\\u0000b\"}" };
  for (gsize i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_autoptr (JsonObject) o = ferry_json_parse_object (garbage[i], strlen (garbage[i]), FALSE, &error);
      g_assert_null (o);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
      g_clear_error (&error);
    }
}

static void
test_rfc3339 (void)
{
  g_autofree char *unset = ferry_time_rfc3339 (0);
  g_autofree char *t = ferry_time_rfc3339 (1764099301123456);

  g_assert_cmpstr (unset, ==, "0001-01-01T00:00:00Z");
  g_assert_cmpstr (t, ==, "2025-11-25T19:35:01.123456Z");
}

/* Field 22 of /proc/self/stat is fixed for the life of the process; field
 * 23 (vsize) is not, and an off-by-one once returned that. */
static void
test_proc_starttime (void)
{
  g_autofree char *stat = NULL;
  g_auto (GStrv) fields = NULL;
  const char *after;

  g_assert_true (g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL));
  after = strrchr (stat, ')') + 2; /* field 3 */
  fields = g_strsplit (after, " ", -1);
  g_assert_cmpuint (ferry_proc_starttime (getpid ()), ==, g_ascii_strtoull (fields[22 - 3], NULL, 10));
  g_assert_cmpuint (ferry_proc_starttime (-1), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/common/names/instance", test_instance_names);
  g_test_add_func ("/common/names/snapshot", test_snapshot_names);
  g_test_add_func ("/common/json/strict", test_json_strict);
  g_test_add_func ("/common/time/rfc3339", test_rfc3339);
  g_test_add_func ("/common/fs/proc-starttime", test_proc_starttime);
  return g_test_run ();
}
