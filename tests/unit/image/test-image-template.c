/* Image templates (pongo2's subset that images use) and an instance's
 * metadata as LXD's API shows it: what renders, what is refused, and the
 * types a metadata.yaml read as text is given. */
#include "image/metadata.h"
#include "image/template.h"
#include "common/error.h"
#include "common/json.h"

#include <string.h>

static JsonObject *
context (void)
{
  JsonObject *c = json_object_new ();
  JsonObject *inst = json_object_new ();
  JsonObject *props = json_object_new ();

  json_object_set_string_member (inst, "name", "c1");
  json_object_set_string_member (inst, "privileged", "false");
  json_object_set_string_member (props, "colour", "blue");
  json_object_set_object_member (c, "container", json_object_ref (inst));
  json_object_set_object_member (c, "instance", inst);
  json_object_set_object_member (c, "properties", props);
  json_object_set_string_member (c, "trigger", "create");
  return c;
}

static char *
render (const char *text, GError **error)
{
  g_autoptr (JsonObject) c = context ();
  g_autoptr (GHashTable) config = g_hash_table_new (g_str_hash, g_str_equal);

  g_hash_table_insert (config, (gpointer) "user.a", (gpointer) "value\r\n");
  return ferry_template_render (text, c, config, error);
}

static void
check (const char *text, const char *want)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *got = render (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, want);
}

static void
test_render (void)
{
  check ("{{ container.name }}\n", "c1\n");
  check ("127.0.1.1\t{{instance.name}}\n", "127.0.1.1\tc1\n");
  check ("{{ config_get(\"user.a\", \"d\") }}|{{ config_get('user.b', \"d\") }}", "value|d");
  check ("{{ properties.colour }}{{ properties[\"colour\"] }}{{ properties.none }}", "blueblue");
  check ("{# hidden #}{{ trigger|upper }}{{ nothing|default:\"x\" }}", "CREATEx");
  check ("{% if config_get(\"user.a\", \"\") == \"value\" %}yes{% else %}no{% endif %}", "yes");
  check ("{% if not properties.none %}a{% elif trigger %}b{% endif %}", "a");
  check ("{% if trigger != \"create\" %}a{% elif trigger == \"create\" and instance.name %}b{% else %}c{% endif %}",
         "b");
  check ("{% autoescape off %}<&>{% endautoescape %}", "<&>");
  check ("no tags at all", "no tags at all");
}

static void
test_render_refused (void)
{
  const char *bad[] = { "{{ container.name", "{% for x in y %}{% endfor %}", "{% if a %}", "{% endif %}",
                        "{{ a|nofilter }}", "{{ config_get(\"a\") }}", "{# open", "{{ \"unterminated }}" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *got = render (bad[i], &error);
      g_assert_null (got);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

static void
test_metadata_types (void)
{
  const char *yaml = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  release: 12\n"
                     "templates:\n  /etc/hostname:\n    when:\n    - create\n    create_only: yes\n"
                     "    template: hostname.tpl\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) md = ferry_image_metadata_read_json (yaml, strlen (yaml), &error);
  g_autofree char *json = NULL;
  g_autofree char *written = NULL;
  g_autoptr (JsonNode) again = NULL;

  g_assert_no_error (error);
  json = ferry_json_to_string (md, FALSE);
  g_assert_cmpstr (json, ==,
                   "{\"architecture\":\"x86_64\",\"creation_date\":1700000000,\"expiry_date\":0,"
                   "\"properties\":{\"release\":\"12\"},\"templates\":{\"/etc/hostname\":{\"when\":[\"create\"],"
                   "\"create_only\":true,\"template\":\"hostname.tpl\",\"properties\":null}}}");
  /* Written back as LXD writes it, and read again the same. */
  written = ferry_image_metadata_write_yaml (md);
  again = ferry_image_metadata_read_json (written, strlen (written), &error);
  g_assert_no_error (error);
  g_assert_true (json_node_equal (md, again));
  /* LXD's empty metadata when there is no file. */
  {
    g_autoptr (JsonNode) empty = ferry_image_metadata_read_json (NULL, 0, &error);
    g_autofree char *text = ferry_json_to_string (empty, FALSE);
    g_assert_cmpstr (text, ==,
                     "{\"architecture\":\"\",\"creation_date\":0,\"expiry_date\":0,\"properties\":null,"
                     "\"templates\":null}");
  }
}

static void
test_metadata_refused (void)
{
  const char *bad[] = { "{\"creation_date\":\"1\"}", "{\"properties\":{\"a\":1}}", "{\"templates\":[]}",
                        "{\"templates\":{\"/x\":{\"when\":\"start\"}}}",
                        "{\"templates\":{\"/x\":{\"template\":\"../../etc/shadow\"}}}",
                        "{\"templates\":{\"/x\":{\"template\":\"..\"}}}",
                        "{\"templates\":{\"/x\":{\"create_only\":\"yes\"}}}",
                        "{\"templates\":{\"/x\":{\"mode\":\"999\"}}}" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) doc = ferry_json_parse (bad[i], -1, &error);
      g_autoptr (JsonNode) md = NULL;

      g_assert_no_error (error);
      md = ferry_image_metadata_normalise (doc, FERRY_METADATA_FROM_JSON, &error);
      g_assert_null (md);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  g_assert_false (ferry_image_template_name_valid ("a/b"));
  g_assert_false (ferry_image_template_name_valid (""));
  g_assert_true (ferry_image_template_name_valid ("hosts.tpl"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image/template/render", test_render);
  g_test_add_func ("/image/template/refused", test_render_refused);
  g_test_add_func ("/image/metadata/instance-types", test_metadata_types);
  g_test_add_func ("/image/metadata/instance-refused", test_metadata_refused);
  return g_test_run ();
}
