/* The daemon's side of images: database records, aliases, the built-in
 * busybox image (the endpoints are api/images.c; files are src/image's). */
#include "daemon/images.h"
#include "common/error.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "image/image.h"

#include <string.h>

#define BUILTIN_ALIAS "busybox"

FerryDbImage *
ferry_images_find (GPtrArray *images, const char *fingerprint)
{
  for (guint i = 0; images && i < images->len; i++)
    {
      FerryDbImage *img = g_ptr_array_index (images, i);
      if (strcmp (img->fingerprint, fingerprint) == 0)
        return img;
    }
  return NULL;
}

char *
ferry_images_properties_json (GHashTable *properties)
{
  g_autoptr (JsonNode) node = ferry_json_from_string_map (properties);
  return ferry_json_to_string (node, FALSE);
}

gboolean
ferry_images_record (FerryDaemon *d, FerryImageInfo *info, gboolean public_, GError **error)
{
  FerryDbImage row = { 0 };
  g_autofree char *props = ferry_images_properties_json (info->properties);

  row.fingerprint = info->fingerprint;
  row.filename = info->filename;
  row.size = info->size;
  row.architecture = info->architecture;
  row.public_ = public_;
  row.created_at = info->created_at;
  row.uploaded_at = ferry_time_now ();
  row.properties_json = props;
  return ferry_db_image_insert (d->db, &row, error);
}

gboolean
ferry_images_bootstrap (FerryDaemon *d, GError **error)
{
  g_autoptr (FerryImageInfo) info = ferry_image_build_busybox (d->layout->images, error);
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GPtrArray) aliases = NULL;
  gboolean have_alias = FALSE;

  if (info == NULL)
    {
      g_prefix_error (error, "Building the built-in busybox image: ");
      return FALSE;
    }
  images = ferry_db_image_list (d->db, error);
  if (images == NULL)
    return FALSE;
  if (ferry_images_find (images, info->fingerprint) == NULL && !ferry_images_record (d, info, FALSE, error))
    return FALSE;
  aliases = ferry_db_alias_list (d->db, error);
  if (aliases == NULL)
    return FALSE;
  for (guint i = 0; i < aliases->len; i++)
    have_alias = have_alias || strcmp (((FerryDbAlias *) g_ptr_array_index (aliases, i))->name, BUILTIN_ALIAS) == 0;
  if (!have_alias)
    {
      FerryDbAlias alias = { .name = (char *) BUILTIN_ALIAS,
                             .fingerprint = info->fingerprint,
                             .description = (char *) "Built-in busybox image" };
      if (!ferry_db_alias_insert (d->db, &alias, error))
        return FALSE;
    }
  return TRUE;
}

char *
ferry_images_resolve (FerryDaemon *d, const char *ref, GError **error)
{
  g_autoptr (GPtrArray) aliases = NULL;
  g_autoptr (GPtrArray) images = NULL;
  const char *match = NULL;

  if (ref == NULL || *ref == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "No image fingerprint or alias given");
      return NULL;
    }
  aliases = ferry_db_alias_list (d->db, error);
  if (aliases == NULL)
    return NULL;
  for (guint i = 0; i < aliases->len; i++)
    {
      FerryDbAlias *a = g_ptr_array_index (aliases, i);
      if (strcmp (a->name, ref) == 0)
        return g_strdup (a->fingerprint);
    }
  images = ferry_db_image_list (d->db, error);
  if (images == NULL)
    return NULL;
  for (guint i = 0; i < images->len; i++)
    {
      FerryDbImage *img = g_ptr_array_index (images, i);
      if (g_str_has_prefix (img->fingerprint, ref))
        {
          if (match != NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Image prefix \"%s\" matches several images", ref);
              return NULL;
            }
          match = img->fingerprint;
        }
    }
  if (match == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "Image \"%s\" not found", ref);
      return NULL;
    }
  return g_strdup (match);
}

void
ferry_images_mark_used (FerryDaemon *d, const char *fingerprint)
{
  g_autoptr (GPtrArray) images = ferry_db_image_list (d->db, NULL);
  FerryDbImage *img = ferry_images_find (images, fingerprint);

  if (img != NULL)
    {
      img->last_used_at = ferry_time_now ();
      ferry_db_image_update (d->db, img, NULL);
    }
}

