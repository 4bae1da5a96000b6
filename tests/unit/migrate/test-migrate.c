/* Migration feasibility checks (src/migrate): the pure verdicts over facts
 * recorded on a real host (fixtures/this-host.json: `ferry-monitor
 * migrate-facts` of a running Ferry container), edited into the hosts a lab
 * of one kernel cannot have; then the real ferry-monitor subcommands. */
#include "common/idmap.h"
#include "migrate/peer.h"
#include "common/error.h"
#include "common/fs.h"
#include "migrate/facts.h"
#include "migrate/feasibility.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define GiB (G_GINT64_CONSTANT (1024) * 1024 * 1024)

typedef struct
{
  JsonNode *source_root, *target_root;
  JsonObject *source, *container, *target; /* source host, its container, target host */
  FerryMigrateCpuVerdict cpu;
} Fixture;

static JsonNode *
load_facts (JsonObject **host, JsonObject **container)
{
  g_autofree char *path = g_build_filename (FIXTURE_DIR, "this-host.json", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  root = ferry_migrate_parse_facts (text, host, container, &error);
  g_assert_no_error (error);
  g_assert_nonnull (*host);
  return root;
}

/* The source and the target are the recorded host; each test edits the
 * target (or the container) into what it needs. */
static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  JsonObject *unused = NULL;

  f->source_root = load_facts (&f->source, &f->container);
  f->target_root = load_facts (&f->target, &unused);
  g_assert_nonnull (f->container);
  f->cpu.compatible = TRUE;
  f->cpu.criu_says = NULL;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  json_node_unref (f->source_root);
  json_node_unref (f->target_root);
}

static JsonObject *
member (JsonObject *obj, const char *name)
{
  return json_object_get_object_member (obj, name);
}

/* Asserts the verdict: feasible when EXPECTED is NONE, else refused by
 * EXPECTED with a message holding every string of WORDS. */
static void
assert_verdict (Fixture *f, gint64 bytes, FerryMigrateCheck expected, const char *const *words)
{
  g_autoptr (GError) error = NULL;
  FerryMigrateCheck failed = FERRY_MIGRATE_CHECK_FACTS;
  gboolean ok
      = ferry_migrate_check_feasible (f->source, f->container, f->target, &f->cpu, bytes, &failed, &error);

  if (expected == FERRY_MIGRATE_CHECK_NONE)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpint (failed, ==, FERRY_MIGRATE_CHECK_NONE);
      return;
    }
  g_assert_false (ok);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_cmpstr (ferry_migrate_check_name (failed), ==, ferry_migrate_check_name (expected));
  int code = expected == FERRY_MIGRATE_CHECK_FACTS ? FERRY_ERROR_INVALID : FERRY_ERROR_CONFLICT;
  g_assert_error (error, FERRY_ERROR, code);
  g_autofree char *prefix
      = g_strdup_printf ("Migration check '%s' failed: ", ferry_migrate_check_name (expected));
  g_assert_true (g_str_has_prefix (error->message, prefix));
  /* One sentence: what was seen, then what to do. */
  g_assert_null (strchr (error->message, '\n'));
  for (const char *const *w = words; w != NULL && *w != NULL; w++)
    if (strstr (error->message, *w) == NULL)
      g_error ("\"%s\" is not in: %s", *w, error->message);
}

static void
set_kernel (JsonObject *host, const char *release, gint64 major, gint64 minor, gint64 patch)
{
  JsonObject *k = member (host, "kernel");

  json_object_set_string_member (k, "release", release);
  json_object_set_int_member (k, "major", major);
  json_object_set_int_member (k, "minor", minor);
  json_object_set_int_member (k, "patch", patch);
}

static void
set_criu (JsonObject *host, gint64 version, const char *text)
{
  json_object_set_int_member (member (host, "criu"), "version", version);
  json_object_set_string_member (member (host, "criu"), "version_text", text);
}

static void
test_identical_hosts (Fixture *f, gconstpointer data)
{
  assert_verdict (f, 2 * GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  assert_verdict (f, 0, FERRY_MIGRATE_CHECK_NONE, NULL);
}

static void
test_recorded_facts (Fixture *f, gconstpointer data)
{
  /* What the fixture holds is what the checks read: a real host. */
  g_assert_cmpstr (json_object_get_string_member (f->source, "architecture"), ==, "x86_64");
  g_assert_cmpint (json_object_get_int_member (member (f->source, "criu"), "version"), >=, 40200);
  g_assert_nonnull (json_object_get_string_member (member (f->source, "criu"), "cpuinfo"));
  g_assert_true (json_object_get_boolean_member (member (member (f->source, "criu"), "features"), "timens"));
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (f->container, "filesystems")), >=, 4);
}

static void
test_older_target_kernel (Fixture *f, gconstpointer data)
{
  set_kernel (f->target, "6.1.0-28-amd64", 6, 1, 0);
  const char *words[] = { "Linux 6.1.0-28-amd64 (6.1)", "6.18.44-fc-v657 (6.18)", "system calls",
                          "Linux 6.18 or newer", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_KERNEL, words);

  set_kernel (f->target, "5.19.0", 5, 19, 0);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_KERNEL, words + 3);
}

static void
test_kernel_patch_and_newer (Fixture *f, gconstpointer data)
{
  /* Stable patch releases add no system calls: 6.18.0 takes 6.18.44's. */
  set_kernel (f->target, "6.18.0", 6, 18, 0);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  set_kernel (f->target, "6.19.2", 6, 19, 2);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  set_kernel (f->target, "7.0.0", 7, 0, 0);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
}

static void
test_older_criu (Fixture *f, gconstpointer data)
{
  /* Older than Ferry's minimum. */
  set_criu (f->target, 40101, "4.1.1");
  const char *too_old[]
      = { "CRIU 4.1.1", ">= 4.2", "source runs CRIU 4.2.1", "install CRIU 4.2.1 or newer", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_CRIU, too_old);

  /* New enough for Ferry, older than the source's. */
  set_criu (f->target, 40200, "4.2");
  const char *older[]
      = { "CRIU 4.2, older than the source's CRIU 4.2.1", "install CRIU 4.2.1 or newer", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_CRIU, older);

  /* None at all. */
  set_criu (f->target, 0, "none");
  const char *none[] = { "no usable CRIU", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_CRIU, none);

  /* A newer CRIU on the target is fine. */
  set_criu (f->target, 40300, "4.3");
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
}

static void
test_other_architecture (Fixture *f, gconstpointer data)
{
  json_object_set_string_member (f->target, "architecture", "aarch64");
  const char *words[] = { "runs on x86_64", "target is aarch64", "host of architecture x86_64", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_ARCHITECTURE, words);
}

static void
test_missing_criu_feature (Fixture *f, gconstpointer data)
{
  JsonObject *target_features = member (member (f->target, "criu"), "features");

  json_object_set_boolean_member (target_features, "timens", FALSE);
  json_object_set_boolean_member (target_features, "clone3_set_tid", FALSE);
  const char *words[] = { "clone3_set_tid, timens", "criu check --feature", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_CRIU_FEATURES, words);
}

static void
test_criu_features_not_compared (Fixture *f, gconstpointer data)
{
  JsonObject *target_criu = member (f->target, "criu");

  /* A feature the source lacks too is no reason to refuse. */
  json_object_set_boolean_member (member (target_criu, "features"), "mem_dirty_track", FALSE);
  json_object_set_boolean_member (member (member (f->source, "criu"), "features"), "mem_dirty_track", FALSE);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  /* A feature the target's CRIU does not know of is not compared... */
  json_object_remove_member (member (target_criu, "features"), "timens");
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  /* ...nor are features a side did not probe. */
  json_object_remove_member (target_criu, "features");
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
}

static void
test_cpu_refused (Fixture *f, gconstpointer data)
{
  f->cpu.compatible = FALSE;
  f->cpu.criu_says
      = "Error (criu/arch/x86/cpu.c:342): cpu: CPU instruction capabilities do not match run time";
  json_object_set_string_member (f->target, "cpu_model", "Intel(R) Xeon(R) CPU E5-2680 v2");
  const char *words[]
      = { "target's CPU (Intel(R) Xeon(R) CPU E5-2680 v2)", "source's CPU (AMD EPYC)", "criu cpuinfo check",
          "CPU instruction capabilities do not match",      "newer CPU model",         NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_CPU, words);

  f->cpu.criu_says = NULL;
  const char *silent[] = { "failed, without a reason", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_CPU, silent);
}

static void
remove_string (JsonArray *array, const char *value)
{
  for (guint i = json_array_get_length (array); i-- > 0;)
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      json_array_remove_element (array, i);
}

static void
test_missing_filesystem (Fixture *f, gconstpointer data)
{
  JsonArray *container_fs = json_object_get_array_member (f->container, "filesystems");
  JsonArray *target_fs = json_object_get_array_member (f->target, "filesystems");

  json_array_add_string_element (container_fs, "btrfs");
  json_array_add_string_element (container_fs, "overlay");
  remove_string (target_fs, "btrfs");
  remove_string (target_fs, "overlay");
  const char *words[]
      = { "has btrfs, overlay mounted but the target's kernel (Linux 6.18.44-fc-v657) does not offer them",
          "/proc/filesystems", "modprobe btrfs overlay", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_FILESYSTEMS, words);

  /* nodev types count as much as the others. */
  remove_string (container_fs, "btrfs");
  remove_string (container_fs, "overlay");
  remove_string (target_fs, "mqueue");
  const char *nodev[]
      = { "has mqueue mounted but the target's kernel (Linux 6.18.44-fc-v657) does not offer it",
          "modprobe mqueue", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_FILESYSTEMS, nodev);
}

static void
test_internal_filesystem (Fixture *f, gconstpointer data)
{
  /* A bind-mounted namespace file (ip netns add): nsfs is in no
   * /proc/filesystems, and in every kernel. */
  json_array_add_string_element (json_object_get_array_member (f->container, "filesystems"), "nsfs");
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
}

static void
test_fuse_subtype (Fixture *f, gconstpointer data)
{
  JsonArray *container_fs = json_object_get_array_member (f->container, "filesystems");
  JsonArray *target_fs = json_object_get_array_member (f->target, "filesystems");

  /* "fuse.sshfs" needs the kernel's fuse. */
  json_array_add_string_element (container_fs, "fuse.sshfs");
  remove_string (target_fs, "fuse");
  json_array_add_string_element (target_fs, "fuse");
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  remove_string (target_fs, "fuse");
  const char *words[] = { "has fuse.sshfs mounted", "modprobe fuse", NULL };
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_FILESYSTEMS, words);
}

static void
test_not_enough_room (Fixture *f, gconstpointer data)
{
  const gint64 MiB64 = 64 * 1024 * 1024;

  json_object_set_int_member (f->target, "free_bytes", GiB);
  /* Small containers: the 64 MiB margin. */
  assert_verdict (f, GiB - MiB64, FERRY_MIGRATE_CHECK_NONE, NULL);
  const char *small[] = { "1.0 GiB free in /var/lib/ferry (1073741824 bytes)", "plus a margin of 64.0 MiB",
                          "free 1 byte there", NULL };
  assert_verdict (f, GiB - MiB64 + 1, FERRY_MIGRATE_CHECK_STORAGE, small);
  /* Large ones: 5%. */
  json_object_set_int_member (f->target, "free_bytes", 105 * GiB);
  assert_verdict (f, 100 * GiB, FERRY_MIGRATE_CHECK_NONE, NULL);
  const char *large[] = { "105.0 GiB free", "needs 105.0 GiB", "margin of 5.0 GiB", NULL };
  assert_verdict (f, 100 * GiB + 100, FERRY_MIGRATE_CHECK_STORAGE, large);
  /* No overflow at the extreme. */
  const char *huge[] = { "or pick another target", NULL };
  assert_verdict (f, G_MAXINT64, FERRY_MIGRATE_CHECK_STORAGE, huge);
}

static void
test_first_failure_named (Fixture *f, gconstpointer data)
{
  /* Several checks fail: the first in the documented order is named. */
  json_object_set_int_member (f->target, "free_bytes", 0);
  set_kernel (f->target, "6.1.0", 6, 1, 0);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_KERNEL, NULL);
}

static void
test_malformed_facts (Fixture *f, gconstpointer data)
{
  const char *no_kernel[] = { "target host facts have no \"kernel\"", NULL };
  json_object_remove_member (f->target, "kernel");
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_FACTS, no_kernel);

  json_object_set_int_member (f->target, "kernel", 6);
  assert_verdict (f, GiB, FERRY_MIGRATE_CHECK_FACTS, NULL);

  const char *negative[] = { "must not be negative", NULL };
  fixture_tear_down (f, NULL);
  fixture_set_up (f, NULL);
  assert_verdict (f, -1, FERRY_MIGRATE_CHECK_FACTS, negative);

  g_autoptr (GError) error = NULL;
  JsonObject *host = NULL, *container = NULL;
  g_assert_null (ferry_migrate_parse_facts ("{\"format\":2,\"host\":{}}", &host, &container, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "same Ferry version"));
  g_clear_error (&error);
  g_assert_null (ferry_migrate_parse_facts ("[]", &host, &container, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_assert_null (host);
}

static void
test_container_needs_self (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) needs = ferry_migrate_container_needs (getpid (), &error);

  g_assert_no_error (error);
  JsonArray *fs = json_object_get_array_member (json_node_get_object (needs), "filesystems");
  gboolean has_proc = FALSE;
  for (guint i = 0; i < json_array_get_length (fs); i++)
    has_proc |= g_str_equal (json_array_get_string_element (fs, i), "proc");
  g_assert_true (has_proc);
}

/* ---- the real ferry-monitor against itself ---- */

static void
message_line (const char *text)
{
  g_autofree char *line = g_strstrip (g_strdup (text));

  g_test_message ("%s", line);
}

/* ferry-monitor ARGS with FERRY_MIGRATE_CACHE=CACHE (if not NULL). */
static int
run_monitor (const char *const *args, const char *cache, char **out, char **err)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;

  g_ptr_array_add (argv, (gpointer) g_getenv ("FERRY_MONITOR"));
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  if (cache != NULL)
    g_subprocess_launcher_setenv (launcher, "FERRY_MIGRATE_CACHE", cache, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, out, err, &error);
  g_assert_no_error (error);
  return g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
}

static void
test_monitor_same_host (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *facts = NULL, *cache = NULL, *out = NULL, *err = NULL;
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());

  if (getuid () != 0 || g_getenv ("FERRY_MONITOR") == NULL)
    {
      g_test_skip ("needs root and $FERRY_MONITOR");
      return;
    }
  const char *check_criu[] = { "check-criu", NULL };
  if (run_monitor (check_criu, NULL, NULL, NULL) != 0)
    {
      g_test_skip ("no usable CRIU (ferry-monitor check-criu)");
      return;
    }
  dir = g_dir_make_tmp ("ferry-test-migrate-XXXXXX", &error);
  g_assert_no_error (error);
  facts = g_build_filename (dir, "source.json", NULL);
  /* A cache of its own: the first run probes CRIU, the next ones read it. */
  cache = g_build_filename (dir, "cache.json", NULL);

  const char *facts_args[] = { "migrate-facts", "--root", dir, "--pid", pid, NULL };
  for (int run = 0; run < 3; run++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (run_monitor (facts_args, cache, &out, &err), ==, 0);
      g_test_message ("migrate-facts, %s cache: %.1f ms", run == 0 ? "cold" : "warm",
                      (g_get_monotonic_time () - t0) / 1000.0);
    }
  g_assert_true (g_file_test (cache, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_set_contents (facts, out, -1, &error));

  const char *feasible[] = { "migrate-check", "--source", facts, "--root", dir, "--bytes", "1048576", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  int rc = run_monitor (feasible, cache, &out, &err);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpint (rc, ==, 0);

  const char *huge[]
      = { "migrate-check", "--source", facts, "--root", dir, "--bytes", "4611686018427387904", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_monitor (huge, cache, &out, &err), ==, 1);
  message_line (err);
  g_assert_true (g_str_has_prefix (err, "Migration check 'storage' failed: the target has "));
  g_assert_true (g_str_has_suffix (err, "or pick another target\n"));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1); /* one line */

  /* A corrupt CPU description is CRIU's to refuse. */
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (facts, &text, NULL, &error));
  g_autoptr (GRegex) re = g_regex_new ("\"cpuinfo\":\"[^\"]*\"", 0, 0, &error);
  g_autofree char *corrupt
      = g_regex_replace_literal (re, text, -1, 0, "\"cpuinfo\":\"AAAAAAAAAAAA\"", 0, &error);
  g_assert_true (g_file_set_contents (facts, corrupt, -1, &error));
  const char *cpu[] = { "migrate-check", "--source", facts, "--root", dir, "--bytes", "1", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_monitor (cpu, cache, &out, &err), ==, 1);
  message_line (err);
  g_assert_true (g_str_has_prefix (err, "Migration check 'cpu' failed: "));

  ferry_rm_rf (dir, NULL);
}

#define ADD(name, fn)                                                                                        \
  g_test_add ("/migrate/feasible/" name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)

/* A live move to or from a Ferry that predates user namespaces is refused
 * before the freeze, whichever side is old. */
static void
test_peer_idmap (void)
{
  g_autoptr (JsonObject) old_offer = json_object_new ();
  g_autoptr (JsonObject) offer = json_object_new ();
  g_autoptr (JsonObject) bad_offer = json_object_new ();
  g_autoptr (JsonObject) old_accept = json_object_new ();
  g_autoptr (JsonObject) accept = json_object_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) map = NULL;

  g_assert_null (ferry_migrate_offer_idmap (old_offer, &error));
  g_assert_nonnull (strstr (error->message, "source host's Ferry predates unprivileged containers"));
  g_clear_error (&error);
  json_object_set_string_member (bad_offer, "idmap", "[{\"Isuid\":1}]");
  g_assert_null (ferry_migrate_offer_idmap (bad_offer, &error));
  g_clear_error (&error);
  json_object_set_string_member (offer, "idmap",
                                 "[{\"Isuid\":true,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":65536}]");
  map = ferry_migrate_offer_idmap (offer, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ferry_idmap_to_host (map, FALSE, 5), ==, 100005);

  g_assert_false (ferry_migrate_accept_check (old_accept, &error));
  g_assert_nonnull (strstr (error->message, "target host's Ferry predates unprivileged containers"));
  g_clear_error (&error);
  json_object_set_boolean_member (accept, "idmap", TRUE);
  g_assert_true (ferry_migrate_accept_check (accept, &error));
}

/* A live move's disk devices: every required source must be on the target. */
static void
test_disk_sources (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-disks-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autofree char *json = g_strdup_printf (
      "{\"root\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": \"default\"},"
      " \"here\": {\"type\": \"disk\", \"source\": \"%s\", \"path\": \"/a\"},"
      " \"optional\": {\"type\": \"disk\", \"source\": \"%s\", \"path\": \"/b\", \"required\": \"false\"},"
      " \"eth0\": {\"type\": \"nic\", \"network\": \"ferrybr0\"}}",
      dir, missing);
  g_autoptr (JsonNode) root = json_from_string (json, NULL);
  JsonObject *devices = json_node_get_object (root);
  g_autoptr (GError) error = NULL;

  g_assert_true (ferry_migrate_check_disks (devices, &error));
  g_assert_no_error (error);
  g_assert_true (ferry_migrate_check_disks (NULL, &error));
  json_object_set_string_member (json_object_get_object_member (devices, "optional"), "required", "true");
  g_assert_false (ferry_migrate_check_disks (devices, &error));
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT);
  g_autofree char *expected = g_strdup_printf (
      "Migration check 'disks' failed: Disk device \"optional\": source \"%s\" does not exist on the target", missing);
  g_assert_cmpstr (error->message, ==, expected);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/migrate/disk-sources", test_disk_sources);
  ADD ("identical-hosts", test_identical_hosts);
  ADD ("recorded-facts", test_recorded_facts);
  ADD ("older-target-kernel", test_older_target_kernel);
  ADD ("kernel-patch-and-newer", test_kernel_patch_and_newer);
  ADD ("older-criu", test_older_criu);
  ADD ("other-architecture", test_other_architecture);
  ADD ("missing-criu-feature", test_missing_criu_feature);
  ADD ("criu-features-not-compared", test_criu_features_not_compared);
  ADD ("cpu-refused", test_cpu_refused);
  ADD ("missing-filesystem", test_missing_filesystem);
  ADD ("fuse-subtype", test_fuse_subtype);
  ADD ("internal-filesystem", test_internal_filesystem);
  ADD ("not-enough-room", test_not_enough_room);
  ADD ("first-failure-named", test_first_failure_named);
  ADD ("malformed-facts", test_malformed_facts);
  g_test_add_func ("/migrate/facts/container-needs-self", test_container_needs_self);
  g_test_add_func ("/migrate/peer/idmap", test_peer_idmap);
  g_test_add_func ("/migrate/monitor/same-host", test_monitor_same_host);
  return g_test_run ();
}
