/* A disk device as ferryd hands it to ferry-monitor (`--disk SPEC`) and as
 * the monitor records the ones it mounted (run/NAME/disks, and a
 * checkpoint's ferry-disks.txt): one line of key=value fields, the values
 * URI-escaped, so that any path survives the trip. */
#pragma once

#include <glib.h>

typedef struct
{
  char *name, *source, *path;
  gboolean readonly, required;
} FerryDiskSpec;

/* The run directory's record of the disks mounted in the container. */
#define FERRY_DISK_RECORD "disks"
/* The same record in a checkpoint's images: what a restore must bind. */
#define FERRY_DISK_IMAGES_RECORD "ferry-disks.txt"
/* The most disk devices one container takes (passed in one SCM_RIGHTS). */
#define FERRY_DISK_MAX 32

void ferry_disk_spec_free (FerryDiskSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryDiskSpec, ferry_disk_spec_free)

char *ferry_disk_spec_format (const FerryDiskSpec *spec);
FerryDiskSpec *ferry_disk_spec_parse (const char *text, GError **error);
/* The specs of a record (one per line; unreadable lines are skipped), an
 * empty array when the file does not exist. */
GPtrArray *ferry_disk_record_read (const char *path);
gboolean ferry_disk_record_write (const char *path, GPtrArray *specs, GError **error);
