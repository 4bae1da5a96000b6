/* The metadata.yaml parser: real LXD/distrobuilder files parse, everything
 * outside the accepted subset is refused with FERRY_ERROR_INVALID. */
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
    "architecture: x86_64\nproperties:\n  description: |\n    text\n",
    "architecture: \"x86_64\n",                           /* unterminated */
    "architecture: 'x86_64\n",
    "architecture: \"x86\\q64\"\n",                        /* bad escape */
    "architecture: \"x86\\u0000\"\n",                      /* NUL */
    "architecture: \"x86_64\" junk\n",
    "architecture: x86_64\n\tos: tab\n",
    "  architecture: x86_64\n",                          /* indented top level */
    "architecture: x86_64\nkey: a: b\n",
    "architecture: x86_64\njust a line\n",
    "architecture: x86_64\n- item\n",
    "architecture: x86_64\n&anchor: x\n",
    "architecture: x86_64\nproperties:\n  os: *alias\n",
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
  g_test_add_func ("/image/metadata/small-forms", test_small_forms);
  g_test_add_func ("/image/metadata/rejects", test_rejects);
  g_test_add_func ("/image/metadata/mutations", test_mutations);
  return g_test_run ();
}
