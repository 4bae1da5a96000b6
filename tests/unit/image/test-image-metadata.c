/* The metadata.yaml parser: real LXD/distrobuilder files parse, YAML that
 * the old hand-written subset got wrong reads as LXD reads it, and bad
 * input is refused with FERRY_ERROR_INVALID. */
#include "image/metadata.h"
#include "common/error.h"

#include <string.h>

static FerryImageMetadata *
parse (const char *text, GError **error)
{
  return ferry_image_metadata_parse (text, strlen (text), error);
}

static void
test_distrobuilder (void)
{
  const char *text = "architecture: x86_64\n"
                     "creation_date: 1700000000\n"
                     "expiry_date: 1702592000\n"
                     "properties:\n"
                     "  architecture: amd64\n"
                     "  description: Debian bookworm amd64 (20231115_05:24)\n"
                     "  name: debian-bookworm-amd64-default-20231115_05:24\n"
                     "  os: debian\n"
                     "  release: bookworm\n"
                     "  serial: \"20231115_05:24\"\n"
                     "  variant: default # trailing comment\n"
                     "  quoted: 'it''s \"fine\"'\n"
                     "  escaped: \"tab\\there \\u00e9\"\n"
                     "  empty:\n"
                     "templates:\n"
                     "  /etc/hostname:\n"
                     "    when:\n"
                     "    - create\n"
                     "    - copy\n"
                     "    create_only: false\n"
                     "    template: hostname.tpl\n"
                     "    properties: {}\n"
                     "  /etc/hosts:\n"
                     "    when:\n"
                     "    - create\n"
                     "    template: hosts.tpl\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageMetadata) md = parse (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (md->architecture, ==, "x86_64");
  g_assert_cmpint (md->creation_date, ==, 1700000000);
  g_assert_cmpint (md->expiry_date, ==, 1702592000);
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "description"), ==, "Debian bookworm amd64 (20231115_05:24)");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "serial"), ==, "20231115_05:24");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "variant"), ==, "default");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "quoted"), ==, "it's \"fine\"");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "escaped"), ==, "tab\there \xc3\xa9");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "empty"), ==, "");
  g_assert_false (g_hash_table_contains (md->properties, "template"));
  g_assert_cmpuint (g_hash_table_size (md->properties), ==, 10);
}

static void
test_small_forms (void)
{
  const char *good[] = {
    "architecture: aarch64\n",
    "---\narchitecture: \"x86_64\"\r\nproperties: {}\n",
    "# comment\n\narchitecture: x86_64\ncreation_date:\nunknown: whatever\nother:\n  nested:\n    - x\n",
    "architecture: x86_64\nproperties:\n    os: alpine\n    release: '3.19'\ntemplates: {}\n",
    "\xef\xbb\xbf" "architecture: x86_64\n...\nignored: [after the end\n",
    "  architecture: x86_64\n", /* an indented top level is still a map */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryImageMetadata) md = parse (good[i], &error);
      g_test_message ("good[%" G_GSIZE_FORMAT "]", i);
      g_assert_no_error (error);
      g_assert_nonnull (md->architecture);
    }
}

static void
test_rejects (void)
{
  const char *bad[] = {
    "",
    "properties:\n  os: busybox\n",                       /* no architecture */
    "architecture:\n",                                    /* empty architecture */
    "architecture: x86 64\n",                             /* not an architecture name */
    "architecture: [x86_64]\n",                           /* flow sequence */
    "architecture: x86_64\narchitecture: arm64\n",        /* duplicate key */
    "architecture: x86_64\ncreation_date: yesterday\n",   /* not a number */
    "architecture: x86_64\ncreation_date: -5\n",
    "architecture: x86_64\ncreation_date: 99999999999999999999\n",
    "architecture: x86_64\nproperties: os\n",             /* properties not a map */
    "architecture: x86_64\nproperties:\n  os:\n    nested: map\n",
    "architecture: x86_64\nproperties:\n  os: a\n   release: b\n", /* bad indentation */
    "architecture: x86_64\nproperties:\n  - a\n  - b\n",  /* a list */
    "architecture: x86_64\nproperties:\n  os: a\n  os: b\n", /* duplicate property */
    "architecture: \"x86_64\n",                           /* unterminated */
    "architecture: 'x86_64\n",
    "architecture: \"x86\\q64\"\n",                        /* bad escape */
    "architecture: \"x86\\u0000\"\n",                      /* NUL */
    "architecture: \"x86_64\" junk\n",
    "architecture: x86_64\n\tos: tab\n",
    "architecture: x86_64\nkey: a: b\n",
    "architecture: x86_64\njust a line\n",
    "architecture: x86_64\n- item\n",
    "architecture: x86_64\nproperties:\n  os: *alias\n",   /* unknown anchor */
    "architecture: x86_64\nproperties: &p\n  os: *p\n",    /* an alias inside its own anchor */
    "architecture: x86_64\nproperties:\n  os: [a, b]\n",   /* not a scalar */
    "architecture: !!binary /w==\n",                      /* not text */
    "architecture: [x86_64\n  - :\n\t",                  /* test_bad_input.py's */
    "architecture: x86_64\n\xff\xfe\n",                    /* not UTF-8 */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryImageMetadata) md = parse (bad[i], &error);
      g_test_message ("bad[%" G_GSIZE_FORMAT "]: %s", i, error != NULL ? error->message : "(accepted)");
      g_assert_null (md);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
  {
    g_autoptr (GError) error = NULL;
    const char nul[] = "architecture: x86_64\0\n";
    g_assert_null (ferry_image_metadata_parse (nul, sizeof nul - 1, &error));
    g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  }
}

/* metadata.yaml of an Ubuntu cloud image (cloud-images.ubuntu.com's
 * lxd.tar.xz): quoted scalars, 4-space indentation, a literal block in a
 * template's properties. */
static void
test_ubuntu_cloud_image (void)
{
  const char *text = "architecture: \"x86_64\"\n"
                     "creation_date: 1700006400\n"
                     "properties:\n"
                     "    architecture: \"x86_64\"\n"
                     "    description: \"Ubuntu 22.04 LTS server (20231115)\"\n"
                     "    os: \"ubuntu\"\n"
                     "    release: \"jammy\"\n"
                     "templates:\n"
                     "    /var/lib/cloud/seed/nocloud-net/meta-data:\n"
                     "        when:\n"
                     "            - create\n"
                     "            - copy\n"
                     "        template: cloud-init-meta.tpl\n"
                     "    /var/lib/cloud/seed/nocloud-net/user-data:\n"
                     "        when:\n"
                     "            - create\n"
                     "            - copy\n"
                     "        template: cloud-init-user.tpl\n"
                     "        properties:\n"
                     "            default: |\n"
                     "                #cloud-config\n"
                     "                {}\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageMetadata) md = parse (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (md->architecture, ==, "x86_64");
  g_assert_cmpint (md->creation_date, ==, 1700006400);
  g_assert_cmpint (md->expiry_date, ==, 0);
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "description"), ==, "Ubuntu 22.04 LTS server (20231115)");
  g_assert_cmpuint (g_hash_table_size (md->properties), ==, 4);
}

/* What the hand-written subset parser got wrong or refused. */
static void
test_yaml_forms (void)
{
  const char *text = "architecture: x86_64\n"
                     "creation_date: !!int 1700000000\n"
                     "properties:\n"
                     "  cr: \"one\\rtwo\"\n"
                     "  literal: |\n"
                     "    line one\n"
                     "    line two\n"
                     "  folded: >-\n"
                     "    folded\n"
                     "    text\n"
                     "  plain: a plain value\n"
                     "    over two lines\n"
                     "  serial: !!str 20231115\n"
                     "  release: &rel \"3,19\"\n"
                     "  version: *rel\n"
                     "  yes_word: yes\n"
                     "  float: 1.0\n";
  const char *flow = "architecture: x86_64\nproperties: {os: \"debian, sid\", release: '3,19'}\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageMetadata) md = parse (text, &error);

  g_assert_no_error (error);
  g_assert_cmpint (md->creation_date, ==, 1700000000);
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "cr"), ==, "one\rtwo");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "literal"), ==, "line one\nline two\n");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "folded"), ==, "folded text");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "plain"), ==, "a plain value over two lines");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "serial"), ==, "20231115");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "version"), ==, "3,19");
  /* LXD decodes properties into map[string]string: as written */
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "yes_word"), ==, "yes");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "float"), ==, "1.0");
  g_clear_pointer (&md, ferry_image_metadata_free);

  md = parse (flow, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "os"), ==, "debian, sid");
  g_assert_cmpstr (g_hash_table_lookup (md->properties, "release"), ==, "3,19");
}

/* Untrusted input: exponential aliases and deep nesting fail cleanly. */
static void
test_hostile (void)
{
  g_autoptr (GString) laughs = g_string_new ("architecture: x86_64\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol]\n");
  g_autoptr (GString) deep = g_string_new ("architecture: x86_64\nx: ");
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryImageMetadata) md = NULL;

  for (int i = 1; i < 12; i++)
    g_string_append_printf (laughs, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i - 1, i - 1,
                            i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
  md = parse (laughs->str, &error);
  g_assert_null (md);
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  md = parse (deep->str, &error);
  g_assert_null (md);
  g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
  g_test_message ("%s", error->message);
}

/* Random mutations of a valid document must never crash (run under ASan). */
static void
test_mutations (void)
{
  const char *base = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: \"de\\u00e9bian\"\n"
                     "  release: 'x''y'\ntemplates:\n  /etc/hosts:\n    when:\n    - create\n";
  gsize len = strlen (base);
  GRand *rand = g_rand_new_with_seed (42);

  for (int round = 0; round < 20000; round++)
    {
      g_autofree char *buf = g_strdup (base);
      int flips = g_rand_int_range (rand, 1, 5);
      for (int f = 0; f < flips; f++)
        buf[g_rand_int_range (rand, 0, (gint32) len)] = (char) g_rand_int_range (rand, 1, 256);
      FerryImageMetadata *md = ferry_image_metadata_parse (buf, g_rand_int_range (rand, 0, (gint32) len + 1), NULL);
      ferry_image_metadata_free (md);
    }
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image/metadata/distrobuilder", test_distrobuilder);
  g_test_add_func ("/image/metadata/ubuntu-cloud-image", test_ubuntu_cloud_image);
  g_test_add_func ("/image/metadata/small-forms", test_small_forms);
  g_test_add_func ("/image/metadata/yaml-forms", test_yaml_forms);
  g_test_add_func ("/image/metadata/hostile", test_hostile);
  g_test_add_func ("/image/metadata/rejects", test_rejects);
  g_test_add_func ("/image/metadata/mutations", test_mutations);
  return g_test_run ();
}
