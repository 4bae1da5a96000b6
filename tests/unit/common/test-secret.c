/* Secrets of trust tokens and operation websockets. */
#include <glib.h>
#include <string.h>

#include "common/secret.h"

static void
test_new_hex (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (int i = 0; i < 1000; i++)
    {
      char *s = ferry_secret_new_hex (32);
      g_assert_cmpuint (strlen (s), ==, 64);
      for (const char *p = s; *p != '\0'; p++)
        g_assert_true (g_ascii_isxdigit (*p) && !g_ascii_isupper (*p));
      g_assert_false (g_hash_table_contains (seen, s));
      g_hash_table_add (seen, s);
    }
}

/* Its answers; that it runs in constant time is checked by reading it
 * (timings are never test assertions). */
static void
test_equal (void)
{
  g_assert_true (ferry_secret_equal ("abc", "abc"));
  g_assert_true (ferry_secret_equal ("", ""));
  g_assert_false (ferry_secret_equal ("abc", "abd"));
  g_assert_false (ferry_secret_equal ("abc", "xbc"));
  g_assert_false (ferry_secret_equal ("abc", "ab"));
  g_assert_false (ferry_secret_equal ("ab", "abc"));
  g_assert_false (ferry_secret_equal ("abc", ""));
  g_assert_false (ferry_secret_equal ("", "abc"));
  g_assert_false (ferry_secret_equal (NULL, "abc"));
  g_assert_false (ferry_secret_equal ("abc", NULL));
  g_assert_false (ferry_secret_equal (NULL, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/secret/new-hex", test_new_hex);
  g_test_add_func ("/secret/equal", test_equal);
  return g_test_run ();
}
