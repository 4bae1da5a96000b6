/* Unit tests of `ferry move` / `ferry copy`'s requests against what lxc
 * 5.0.2 sends (reference section 8), the migration addresses, the retry
 * rule and the --verbose figures. */
#include "config.h"

#include <locale.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "migration.h"

static JsonObject *
parse_object (const char *json)
{
  g_autoptr (GError) error = NULL;
  JsonObject *obj = ferry_json_parse_object (json, strlen (json), FALSE, &error);

  g_assert_no_error (error);
  return obj;
}

static char *
to_json (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

/* GET /1.0/instances/c1 as ferryd answers it, trimmed to what is read. */
static const char instance_json[]
  = "{\"architecture\":\"x86_64\",\"name\":\"c1\",\"type\":\"container\",\"status_code\":103,"
    "\"config\":{\"volatile.base_image\":\"abc123def456\",\"volatile.eth0.hwaddr\":\"00:16:3e:00:00:01\","
    "\"volatile.last_state.power\":\"RUNNING\",\"limits.memory\":\"256MiB\",\"volatile.idmap.next\":\"[]\"},"
    "\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"ferrybr0\",\"name\":\"eth0\"}},"
    "\"ephemeral\":false,\"profiles\":[\"default\"],\"stateful\":false,\"description\":\"web\","
    "\"expanded_config\":{\"ignored\":\"yes\"}}";

static void
test_source_request_pull (void)
{
  g_autoptr (JsonNode) live = ferry_migration_source_request (TRUE, FALSE, NULL, NULL, NULL);
  g_autoptr (JsonNode) only = ferry_migration_source_request (FALSE, TRUE, NULL, NULL, NULL);
  g_autofree char *live_json = to_json (live);
  g_autofree char *only_json = to_json (only);

  /* byte for byte what lxc sends (reference 8, pull mode step 4) */
  g_assert_cmpstr (live_json, ==,
                   "{\"name\":\"\",\"migration\":true,\"live\":true,\"instance_only\":false,"
                   "\"container_only\":false,\"target\":null,\"pool\":\"\",\"project\":\"\","
                   "\"allow_inconsistent\":false}");
  g_assert_cmpstr (only_json, ==,
                   "{\"name\":\"\",\"migration\":true,\"live\":false,\"instance_only\":true,"
                   "\"container_only\":true,\"target\":null,\"pool\":\"\",\"project\":\"\","
                   "\"allow_inconsistent\":false}");
}

static void
test_source_request_push (void)
{
  g_autoptr (JsonObject) secrets = parse_object ("{\"fs\":\"F\",\"control\":\"C\",\"criu\":\"R\"}");
  g_autoptr (JsonNode) body
    = ferry_migration_source_request (TRUE, FALSE, "PEM", "https://192.0.2.20:8443/1.0/operations/t1", secrets);
  g_autofree char *json = to_json (body);

  g_assert_cmpstr (json, ==,
                   "{\"name\":\"\",\"migration\":true,\"live\":true,\"instance_only\":false,"
                   "\"container_only\":false,\"target\":{\"certificate\":\"PEM\","
                   "\"operation\":\"https://192.0.2.20:8443/1.0/operations/t1\","
                   "\"secrets\":{\"control\":\"C\",\"criu\":\"R\",\"fs\":\"F\"}},\"pool\":\"\",\"project\":\"\","
                   "\"allow_inconsistent\":false}");
}

static void
test_target_request_move_pull (void)
{
  g_autoptr (JsonObject) instance = parse_object (instance_json);
  g_autoptr (JsonObject) secrets = parse_object ("{\"fs\":\"F\",\"control\":\"C\",\"criu\":\"R\"}");
  FerryMigrationSource source = {
    .mode = "pull",
    .live = TRUE,
    .certificate = "PEM",
    .operation = "https://192.0.2.10:8443/1.0/operations/s1",
    .secrets = secrets,
  };
  g_autoptr (JsonNode) body = ferry_migration_target_request (instance, "c9", TRUE, &source);
  g_autofree char *json = to_json (body);

  /* A move keeps volatile keys but the last power state; live is sent,
   * instance_only is not (omitempty). */
  g_assert_cmpstr (json, ==,
                   "{\"architecture\":\"x86_64\",\"config\":{\"limits.memory\":\"256MiB\","
                   "\"volatile.base_image\":\"abc123def456\",\"volatile.eth0.hwaddr\":\"00:16:3e:00:00:01\","
                   "\"volatile.idmap.next\":\"[]\"},"
                   "\"devices\":{\"eth0\":{\"name\":\"eth0\",\"network\":\"ferrybr0\",\"type\":\"nic\"}},"
                   "\"ephemeral\":false,\"profiles\":[\"default\"],\"stateful\":false,\"description\":\"web\","
                   "\"name\":\"c9\",\"source\":{\"type\":\"migration\",\"certificate\":\"PEM\","
                   "\"base-image\":\"abc123def456\",\"mode\":\"pull\","
                   "\"operation\":\"https://192.0.2.10:8443/1.0/operations/s1\","
                   "\"secrets\":{\"control\":\"C\",\"criu\":\"R\",\"fs\":\"F\"},\"live\":true,"
                   "\"allow_inconsistent\":false},\"instance_type\":\"\",\"type\":\"container\"}");
}

static void
test_target_request_copy (void)
{
  g_autoptr (JsonObject) instance = parse_object (instance_json);
  FerryMigrationSource push = { .mode = "push", .instance_only = TRUE };
  FerryMigrationSource local = { .mode = "copy", .operation = "c1" };
  g_autoptr (JsonNode) push_body = ferry_migration_target_request (instance, "c2", FALSE, &push);
  g_autoptr (JsonNode) local_body = ferry_migration_target_request (instance, "c3", FALSE, &local);
  g_autofree char *push_json = to_json (push_body);
  g_autofree char *local_json = to_json (local_body);

  /* A copy keeps only volatile.base_image of the volatile keys. */
  g_assert_cmpstr (push_json, ==,
                   "{\"architecture\":\"x86_64\",\"config\":{\"limits.memory\":\"256MiB\","
                   "\"volatile.base_image\":\"abc123def456\"},"
                   "\"devices\":{\"eth0\":{\"name\":\"eth0\",\"network\":\"ferrybr0\",\"type\":\"nic\"}},"
                   "\"ephemeral\":false,\"profiles\":[\"default\"],\"stateful\":false,\"description\":\"web\","
                   "\"name\":\"c2\",\"source\":{\"type\":\"migration\",\"certificate\":\"\","
                   "\"base-image\":\"abc123def456\",\"mode\":\"push\",\"instance_only\":true,"
                   "\"container_only\":true,\"allow_inconsistent\":false},\"instance_type\":\"\","
                   "\"type\":\"container\"}");
  g_assert_nonnull (strstr (local_json, "\"name\":\"c3\",\"source\":{\"type\":\"copy\",\"certificate\":\"\","
                                        "\"base-image\":\"abc123def456\",\"source\":\"c1\","
                                        "\"allow_inconsistent\":false}"));
  g_assert_null (strstr (local_json, "hwaddr"));
}

/* -s POOL as lxc/copy.go applies it: the own root disk gets the pool, or a
 * root disk is added when the root disk comes from a profile. */
static void
test_set_root_pool (void)
{
  g_autoptr (JsonObject) own = parse_object ("{\"devices\":{\"eth0\":{\"type\":\"nic\"},"
                                             "\"rootfs\":{\"type\":\"disk\",\"path\":\"/\",\"pool\":\"p0\"}}}");
  g_autoptr (JsonObject) profile = parse_object ("{\"devices\":{\"eth0\":{\"type\":\"nic\"}}}");
  g_autoptr (JsonObject) none = parse_object ("{}");
  JsonObject *root;

  ferry_migration_set_root_pool (own, "p1");
  root = json_object_get_object_member (json_object_get_object_member (own, "devices"), "rootfs");
  g_assert_cmpstr (json_object_get_string_member (root, "pool"), ==, "p1");
  g_assert_false (json_object_has_member (json_object_get_object_member (own, "devices"), "root"));
  ferry_migration_set_root_pool (profile, "p1");
  root = json_object_get_object_member (json_object_get_object_member (profile, "devices"), "root");
  g_assert_cmpstr (json_object_get_string_member (root, "type"), ==, "disk");
  g_assert_cmpstr (json_object_get_string_member (root, "path"), ==, "/");
  g_assert_cmpstr (json_object_get_string_member (root, "pool"), ==, "p1");
  ferry_migration_set_root_pool (none, "p2");
  root = json_object_get_object_member (json_object_get_object_member (none, "devices"), "root");
  g_assert_cmpstr (json_object_get_string_member (root, "pool"), ==, "p2");
}

static void
test_addresses (void)
{
  g_autoptr (JsonObject) server = parse_object (
    "{\"environment\":{\"addresses\":[\"192.0.2.10:8443\",\":8443\",\"[2001:db8::1]:8443\",\"192.0.2.10:8443\"]}}");
  g_autoptr (JsonObject) none = parse_object ("{\"environment\":{\"addresses\":[]}}");
  g_autoptr (JsonObject) untrusted = parse_object ("{\"auth\":\"untrusted\"}");
  g_auto (GStrv) local = ferry_migration_addresses (NULL, server);
  g_auto (GStrv) https = ferry_migration_addresses ("https://192.0.2.10:8443", server);
  g_auto (GStrv) empty = ferry_migration_addresses (NULL, none);
  g_auto (GStrv) only_url = ferry_migration_addresses ("https://r2.example:8443", untrusted);
  g_autofree char *url = ferry_migration_operation_url ("https://[2001:db8::1]:8443", "a b");

  g_assert_cmpuint (g_strv_length (local), ==, 2);
  g_assert_cmpstr (local[0], ==, "https://192.0.2.10:8443");
  g_assert_cmpstr (local[1], ==, "https://[2001:db8::1]:8443");
  /* the remote's own URL first, not repeated */
  g_assert_cmpuint (g_strv_length (https), ==, 2);
  g_assert_cmpstr (https[0], ==, "https://192.0.2.10:8443");
  g_assert_cmpuint (g_strv_length (empty), ==, 0);
  g_assert_cmpuint (g_strv_length (only_url), ==, 1);
  g_assert_cmpstr (url, ==, "https://[2001:db8::1]:8443/1.0/operations/a%20b");
}

static void
test_secrets (void)
{
  g_autoptr (JsonObject) good = parse_object ("{\"id\":\"s1\",\"metadata\":{\"control\":\"C\",\"fs\":\"F\"}}");
  g_autoptr (JsonObject) number = parse_object ("{\"id\":\"s1\",\"metadata\":{\"control\":\"C\",\"fs\":3}}");
  g_autoptr (JsonObject) missing = parse_object ("{\"id\":\"s1\",\"metadata\":null}");
  g_autoptr (JsonObject) secrets = ferry_migration_secrets (good, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (secrets);
  g_assert_cmpstr (json_object_get_string_member (secrets, "fs"), ==, "F");
  g_assert_null (ferry_migration_secrets (number, &error));
  g_assert_nonnull (strstr (error->message, "\"fs\""));
  g_clear_error (&error);
  g_assert_null (ferry_migration_secrets (missing, &error));
}

static void
test_errors (void)
{
  g_autoptr (GPtrArray) addresses = g_ptr_array_new ();
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  g_autoptr (GError) same = NULL;
  g_autoptr (GError) mixed = NULL;
  GError *refused = g_error_new_literal (FERRY_ERROR, FERRY_ERROR_FAILED,
                                         "Unable to connect to: 192.0.2.10:8443 (connection refused)");

  g_assert_true (ferry_migration_is_connection_error (refused));
  g_ptr_array_add (addresses, (char *) "https://a:8443");
  g_ptr_array_add (errors, g_error_copy (refused));
  g_ptr_array_add (addresses, (char *) "https://b:8443");
  g_ptr_array_add (errors, refused);
  ferry_migration_set_error (&same, "Failed instance creation", addresses, errors);
  g_assert_cmpstr (same->message, ==,
                   "Failed instance creation: Unable to connect to: 192.0.2.10:8443 (connection refused)");

  g_ptr_array_add (addresses, (char *) "https://c:8443");
  g_ptr_array_add (errors, g_error_new_literal (FERRY_ERROR, FERRY_ERROR_FAILED, "Target disk full"));
  g_assert_false (ferry_migration_is_connection_error (errors->pdata[2]));
  ferry_migration_set_error (&mixed, "Failed instance creation", addresses, errors);
  g_assert_cmpstr (mixed->message, ==,
                   "Failed instance creation:\n"
                   " - https://a:8443: Unable to connect to: 192.0.2.10:8443 (connection refused)\n"
                   " - https://b:8443: Unable to connect to: 192.0.2.10:8443 (connection refused)\n"
                   " - https://c:8443: Target disk full");
}

static void
test_figures (void)
{
  g_autoptr (JsonObject) all = parse_object (
    "{\"control\":\"x\",\"migration_total_ms\":\"2400\",\"migration_freeze_ms\":\"120\","
    "\"migration_transfer_bytes\":\"73400320\",\"migration_transfer_mbps\":\"61.2\","
    "\"migration_downtime_ms\":\"310\",\"migration_dump_ms\":\"95\",\"migration_restore_ms\":\"140\","
    "\"migration_page_faults\":\"12\",\"migration_sync_s\":\"1.5\",\"migration_\":\"odd\"}");
  g_autoptr (JsonObject) partial = parse_object ("{\"migration_downtime_ms\":250,\"fs\":\"secret\"}");
  g_autoptr (JsonObject) none = parse_object ("{\"fs\":\"secret\"}");
  g_autofree char *table = ferry_migration_figures (all);
  g_autofree char *some = ferry_migration_figures (partial);

  g_assert_cmpstr (table, ==,
                   "Freeze:        120 ms\n"
                   "Dump:          95 ms\n"
                   "Transferred:   73400320 bytes (70.00MiB)\n"
                   "Transfer rate: 61.2 MB/s\n"
                   "Restore:       140 ms\n"
                   "Total:         2400 ms\n"
                   "Downtime:      310 ms\n"
                   "Page faults:   12\n"
                   "Sync:          1.5 s\n");
  /* a number is shown too, though the daemon should send strings */
  g_assert_cmpstr (some, ==, "Downtime: 250 ms\n");
  g_assert_null (ferry_migration_figures (none));
  g_assert_null (ferry_migration_figures (NULL));
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "C");
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/migration/source-request-pull", test_source_request_pull);
  g_test_add_func ("/cli/migration/source-request-push", test_source_request_push);
  g_test_add_func ("/cli/migration/target-request-move-pull", test_target_request_move_pull);
  g_test_add_func ("/cli/migration/target-request-copy", test_target_request_copy);
  g_test_add_func ("/cli/migration/set-root-pool", test_set_root_pool);
  g_test_add_func ("/cli/migration/addresses", test_addresses);
  g_test_add_func ("/cli/migration/secrets", test_secrets);
  g_test_add_func ("/cli/migration/errors", test_errors);
  g_test_add_func ("/cli/migration/figures", test_figures);
  return g_test_run ();
}
