#include <signal.h>
#include <string.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/names.h"
#include "common/signals.h"
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
  /* Numbers beyond gint64 (found by fuzz-json) are refused, not converted. */
  {
    const char *huge = "{\"a\":1e999,\"b\":-1e19,\"c\":9.3e18,\"d\":4e18}";
    g_autoptr (JsonObject) h = ferry_json_parse_object (huge, strlen (huge), FALSE, &error);
    g_assert_no_error (error);
    g_assert_false (ferry_json_get_int (h, "a", &n, NULL));
    g_assert_false (ferry_json_get_int (h, "b", &n, NULL));
    g_assert_false (ferry_json_get_int (h, "c", &n, NULL));
    g_assert_true (ferry_json_get_int (h, "d", &n, NULL));
    g_assert_cmpint (n, ==, G_GINT64_CONSTANT (4000000000000000000));
  }
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
assert_refused (const char *text, gssize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = ferry_json_parse (text, len, &error);

  if (node != NULL)
    g_error ("accepted: %.60s", text);
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
}

static char *
repeat (const char *head, char c, gsize n, const char *tail)
{
  GString *s = g_string_new (head);

  for (gsize i = 0; i < n; i++)
    g_string_append_c (s, c);
  g_string_append (s, tail);
  return g_string_free (s, FALSE);
}

/* Issue 9: json-glib recurses per level and reads comments, so a bracket
 * count that did not skip comments exactly as json-glib does could be
 * taken below zero by a comment full of "]". */
static void
test_json_guard (void)
{
  g_autofree char *opens = repeat ("", '[', 100000, "");
  g_autofree char *closes_in_comment = repeat ("/*", ']', 100000, "*/ {\"password\": ");
  g_autofree char *comment_bypass = g_strconcat (closes_in_comment, opens, "}", NULL);
  g_autofree char *line_comment = repeat ("// ", ']', 100000, "\n");
  g_autofree char *line_bypass = g_strconcat (line_comment, opens, NULL);
  g_autofree char *deep64 = repeat ("", '[', 64, "");
  g_autofree char *deep65 = repeat ("", '[', 65, "");
  g_autofree char *ok64 = NULL;
  const char *extensions[] = {
    "/* c */ {}", "{} // c", "{\"a\": 1 /* c */}", "# c\n{}", "{'a': 1}", "{\"a\": 'b'}", "{a: 1}",
    "{\"a\": 0x10}", "{\"a\": $10}", "{\"a\": 010}", "{\"a\": +1}", "{\"a\": .5}", "{\"a\": 1.}",
    "{\"a\": 1e}", "{\"a\": NaN}", "{\"a\": Infinity}", "{\"a\": True}", "{\"a\": nul}", "[1,]",
    "{\"a\": 1,}", "[,1]", "{\"a\" 1}", "{\"a\": 1 \"b\": 2}", "[1 2]", "{} {}", "{}x", "[\"\\x41\"]",
    "[\"\\u12\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"a\\u0000b\"]",
    "[\"tab\there\"]", "[\"\\", "[\"abc", "[", "{", "{\"a\":", "", " ", "\xff", "[\"\xc3\"]",
    "\"\xed\xa0\x80\"",
    "\f{}", "\v{}", "\xc2\xa0{}", "(1)",
  };
  const char *strict[] = {
    "{}", "[]", "0", "-0", "1.5e+10", "1E-3", "-12.25", "true", "false", "null", "\"s\"",
    " \t\r\n{ \"a\" : [ 1 , 2 ] } ",
    "{\"a\":{\"b\":[{},[],\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"]}}",
    "[\"\xc3\xa9\xf0\x9f\x98\x80\"]",
    "{\"\":null,\"a\":1,\"a\":2}",
  };

  /* The exact payloads of the issue, and a line-comment variant. */
  assert_refused (opens, -1);
  assert_refused (comment_bypass, -1);
  assert_refused (line_bypass, -1);
  /* The limit is 64 levels, counted the same way for objects and lists. */
  assert_refused (deep65, -1);
  ok64 = repeat (deep64, ']', 64, "");
  {
    g_autoptr (JsonNode) node = ferry_json_parse (ok64, -1, NULL);
    g_assert_nonnull (node);
  }
  /* Everything json-glib reads beyond RFC 8259 is refused before it runs. */
  for (gsize i = 0; i < G_N_ELEMENTS (extensions); i++)
    assert_refused (extensions[i], -1);
  /* A NUL byte inside the given length, even in a string. */
  assert_refused ("[\"a\0b\"]", 7);
  assert_refused ("{}\0", 3);
  /* And json-glib reads all the strict JSON the scanner lets through. */
  for (gsize i = 0; i < G_N_ELEMENTS (strict); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) node = ferry_json_parse (strict[i], -1, &error);
      if (node == NULL)
        g_error ("refused %s: %s", strict[i], error->message);
    }
  /* Text given by length need not be NUL-terminated. */
  {
    g_autoptr (JsonNode) node = ferry_json_parse ("[1]xyz", 3, NULL);
    g_assert_nonnull (node);
    g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  }
}

static void
test_rfc3339 (void)
{
  /* Go's RFC3339Nano: trailing zeros of the fraction dropped, no dot at all
   * for a whole second; 0 is Go's zero time or the epoch, per field. */
  const struct
  {
    gint64 usec;
    const char *want;
  } cases[] = {
    { 0, "0001-01-01T00:00:00Z" },
    { -5, "0001-01-01T00:00:00Z" },
    { 1764099301123456, "2025-11-25T19:35:01.123456Z" },
    { 1764099301120000, "2025-11-25T19:35:01.12Z" },
    { 1764099301100000, "2025-11-25T19:35:01.1Z" },
    { 1764099301000001, "2025-11-25T19:35:01.000001Z" },
    { 1764099301000000, "2025-11-25T19:35:01Z" },
    { 1, "1970-01-01T00:00:00.000001Z" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *t = ferry_time_rfc3339 (cases[i].usec);
      g_assert_cmpstr (t, ==, cases[i].want);
    }
  g_autofree char *epoch = ferry_time_rfc3339_epoch (0);
  g_autofree char *negative = ferry_time_rfc3339_epoch (-1);
  g_autofree char *set = ferry_time_rfc3339_epoch (1764099301500000);
  g_assert_cmpstr (epoch, ==, "1970-01-01T00:00:00Z");
  g_assert_cmpstr (negative, ==, "1970-01-01T00:00:00Z");
  g_assert_cmpstr (set, ==, "2025-11-25T19:35:01.5Z");
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

static void
test_proc_status_mask (void)
{
  const char *status = "Name:\tx\nSigBlk:\t0000001000000000\nCapEff:\t000001fffeffffff\n";

  g_assert_cmphex (ferry_proc_status_mask (status, "SigBlk"), ==, 0x1000000000ull);
  g_assert_cmphex (ferry_proc_status_mask (status, "CapEff"), ==, 0x1fffeffffffull);
  g_assert_cmphex (ferry_proc_status_mask (status, "CapBnd"), ==, 0);
  g_assert_cmphex (ferry_proc_status_mask (NULL, "CapEff"), ==, 0);
}

static void
test_signal_names (void)
{
  g_assert_cmpint (ferry_signal_parse ("SIGRTMIN+3"), ==, SIGRTMIN + 3);
  g_assert_cmpint (ferry_signal_parse ("rtmin+3"), ==, SIGRTMIN + 3);
  g_assert_cmpint (ferry_signal_parse ("SIGPWR"), ==, SIGPWR);
  g_assert_cmpint (ferry_signal_parse ("term"), ==, SIGTERM);
  g_assert_cmpint (ferry_signal_parse ("37"), ==, 37);
  g_assert_cmpint (ferry_signal_parse ("SIGRTMAX-1"), ==, SIGRTMAX - 1);
  for (const char *const *bad = (const char *const[]) { "", "0", "9", "SIGKILL", "19", "SIGRTMIN+99", "65", "x",
                                                        "SIGRTMIN+", "RTMIN-3", "99999999999", "+3", "SIG", NULL };
       *bad; bad++)
    g_assert_cmpint (ferry_signal_parse (*bad), ==, -1);
  g_assert_cmpint (ferry_signal_parse (NULL), ==, -1);
}

/* In a child: fds KEEP and ALSO stay (either may be -1), all others above 2 close. */
static void
check_close_fds_but (int n, int keep_i, int also_i)
{
  int fds[8];
  pid_t pid;
  int status;

  g_assert_cmpint (n, <=, (int) G_N_ELEMENTS (fds));
  for (int i = 0; i < n; i++)
    g_assert_cmpint ((fds[i] = open ("/dev/null", O_RDONLY)), >, 2);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      int keep = keep_i >= 0 ? fds[keep_i] : -1, also = also_i >= 0 ? fds[also_i] : -1;
      ferry_close_fds_but (keep, also);
      for (int i = 0; i < n; i++)
        if ((fcntl (fds[i], F_GETFD) >= 0) != (fds[i] == keep || fds[i] == also))
          _exit (1);
      _exit (fcntl (0, F_GETFD) >= 0 && fcntl (2, F_GETFD) >= 0 ? 0 : 2);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  for (int i = 0; i < n; i++)
    close (fds[i]);
}

static void
test_close_fds_but (void)
{
  check_close_fds_but (5, 2, -1); /* one kept in the middle */
  check_close_fds_but (5, 3, 1);  /* two, given high first */
  check_close_fds_but (5, 0, 4);  /* the lowest and the highest */
  check_close_fds_but (4, 2, 2);  /* the same twice */
  check_close_fds_but (4, -1, -1); /* none */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/common/names/instance", test_instance_names);
  g_test_add_func ("/common/names/snapshot", test_snapshot_names);
  g_test_add_func ("/common/json/strict", test_json_strict);
  g_test_add_func ("/common/json/guard", test_json_guard);
  g_test_add_func ("/common/time/rfc3339", test_rfc3339);
  g_test_add_func ("/common/fs/proc-starttime", test_proc_starttime);
  g_test_add_func ("/common/fs/close-fds-but", test_close_fds_but);
  g_test_add_func ("/common/signals/parse", test_signal_names);
  g_test_add_func ("/common/fs/proc-status-mask", test_proc_status_mask);
  return g_test_run ();
}
