/* Disk device specs (runtime/disk-spec.h): what ferryd hands ferry-monitor
 * and the monitor records must come back the same, whatever the paths hold. */
#include "runtime/disk-spec.h"

#include "common/error.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static void
test_round_trip (void)
{
  FerryDiskSpec in = { .name = (char *) "share", .source = (char *) "/srv/a,b=c d%20\xc3\xa9",
                       .path = (char *) "/mnt/x,readonly=1", .readonly = FALSE, .required = TRUE };
  g_autofree char *text = ferry_disk_spec_format (&in);
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryDiskSpec) out = ferry_disk_spec_parse (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (out->name, ==, "share");
  g_assert_cmpstr (out->source, ==, in.source);
  g_assert_cmpstr (out->path, ==, in.path);
  g_assert_false (out->readonly);
  g_assert_true (out->required);
  g_assert_null (strchr (text, '\n'));
}

static void
test_refused (void)
{
  const char *bad[] = {
    "name=a,source=rel,path=/m", "name=a,source=/s,path=m",   "name=a,source=/s,path=/",
    "name=,source=/s,path=/m",   "name=a,source=/s",          "name=a,source=/s,path=/m,bogus=1",
    "name=a,source=/s,path",     "",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FerryDiskSpec) s = ferry_disk_spec_parse (bad[i], &error);
      g_assert_null (s);
      g_assert_error (error, FERRY_ERROR, FERRY_ERROR_INVALID);
    }
}

static void
test_record (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-disk-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, FERRY_DISK_RECORD, NULL);
  g_autoptr (GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_disk_spec_free);
  g_autoptr (GError) error = NULL;

  for (int i = 0; i < 2; i++)
    {
      FerryDiskSpec *s = g_new0 (FerryDiskSpec, 1);
      s->name = g_strdup_printf ("d%d", i);
      s->source = g_strdup ("/srv/line\nbreak");
      s->path = g_strdup_printf ("/mnt/%d", i);
      s->readonly = i == 1;
      s->required = TRUE;
      g_ptr_array_add (specs, s);
    }
  g_assert_true (ferry_disk_record_write (path, specs, &error));
  g_autoptr (GPtrArray) back = ferry_disk_record_read (path);
  g_assert_cmpuint (back->len, ==, 2);
  g_assert_cmpstr (((FerryDiskSpec *) back->pdata[0])->source, ==, "/srv/line\nbreak");
  g_assert_true (((FerryDiskSpec *) back->pdata[1])->readonly);
  /* None left: no record at all. */
  g_ptr_array_set_size (specs, 0);
  g_assert_true (ferry_disk_record_write (path, specs, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_autoptr (GPtrArray) none = ferry_disk_record_read (path);
  g_assert_cmpuint (none->len, ==, 0);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runtime/disk-spec/round-trip", test_round_trip);
  g_test_add_func ("/runtime/disk-spec/refused", test_refused);
  g_test_add_func ("/runtime/disk-spec/record", test_record);
  return g_test_run ();
}
