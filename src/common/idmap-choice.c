/* Which map a container gets, as LXD 5.0 chooses it (see idmap.h). */
#include "config.h"

#include "common/idmap.h"

#include <string.h>

#include "common/error.h"

gboolean
ferry_config_true (const char *value)
{
  return value != NULL
         && (g_str_equal (value, "true") || g_str_equal (value, "1") || g_str_equal (value, "yes")
             || g_str_equal (value, "on"));
}

static gboolean
subid_root_entry (const char *path, guint64 *base, guint64 *size)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      g_auto (GStrv) f = g_strsplit (g_strstrip (*l), ":", -1);
      if (g_strv_length (f) == 3 && g_str_equal (f[0], "root")
          && g_ascii_string_to_unsigned (f[1], 10, 1, G_MAXUINT32 - 1, base, NULL)
          && g_ascii_string_to_unsigned (f[2], 10, 1, G_MAXUINT32 - *base, size, NULL))
        return TRUE;
    }
  return FALSE;
}

FerryIdRange
ferry_idmap_host_range (const char *subuid, const char *subgid)
{
  guint64 ub, us, gb, gs;

  if (subid_root_entry (subuid, &ub, &us) && subid_root_entry (subgid, &gb, &gs) && ub == gb && us == gs)
    return (FerryIdRange){ .base = (gint64) ub, .size = (gint64) us };
  return (FerryIdRange){ .base = 1000000, .size = 1000000000 };
}


gint64
ferry_config_uint (GHashTable *config, const char *key, gint64 fallback)
{
  const char *v = g_hash_table_lookup (config, key);
  guint64 n;

  if (v == NULL || *v == '\0' || !g_ascii_string_to_unsigned (v, 10, 0, G_MAXUINT32, &n, NULL))
    return fallback;
  return (gint64) n;
}

gboolean
ferry_idmap_config_isolated (GHashTable *config)
{
  return !ferry_config_true (g_hash_table_lookup (config, "security.privileged"))
         && ferry_config_true (g_hash_table_lookup (config, "security.idmap.isolated"));
}

static gboolean
overlaps (gint64 base, gint64 size, GArray *taken)
{
  for (guint i = 0; taken != NULL && i < taken->len; i++)
    {
      const FerryIdRange *r = &g_array_index (taken, FerryIdRange, i);
      if (base < r->base + r->size && r->base < base + size)
        return TRUE;
    }
  return FALSE;
}

static gint
by_base (gconstpointer a, gconstpointer b)
{
  gint64 x = ((const FerryIdRange *) a)->base, y = ((const FerryIdRange *) b)->base;
  return x < y ? -1 : x > y;
}

/* The first SIZE ids of HOST after its first 65536 that none of TAKEN holds. */
static gboolean
allocate (FerryIdRange host, gint64 size, GArray *taken, gint64 own_base, gint64 *base)
{
  gint64 start = host.base + FERRY_IDMAP_ISOLATED_SIZE, end = host.base + host.size;
  g_autoptr (GArray) sorted = g_array_new (FALSE, FALSE, sizeof (FerryIdRange));

  if (own_base >= start && own_base + size <= end && !overlaps (own_base, size, taken))
    {
      *base = own_base;
      return TRUE;
    }
  if (taken != NULL)
    g_array_append_vals (sorted, taken->data, taken->len);
  g_array_sort (sorted, by_base);
  for (guint i = 0; i < sorted->len; i++)
    {
      const FerryIdRange *r = &g_array_index (sorted, FerryIdRange, i);
      if (start + size <= r->base)
        break;
      start = MAX (start, r->base + r->size);
    }
  if (start + size > end)
    return FALSE;
  *base = start;
  return TRUE;
}

GArray *
ferry_idmap_choose (GHashTable *config, FerryIdRange host, gint64 own_base, GArray *taken, gint64 *base,
                    GError **error)
{
  g_autoptr (GArray) raw = ferry_idmap_parse_raw (g_hash_table_lookup (config, "raw.idmap"), error);
  g_autoptr (GArray) map = NULL;

  *base = 0;
  if (raw == NULL)
    return NULL;
  if (ferry_config_true (g_hash_table_lookup (config, "security.privileged")))
    return ferry_idmap_new ();
  if (!ferry_idmap_config_isolated (config))
    map = ferry_idmap_new_range (host.base, host.size);
  else
    {
      gint64 size = ferry_config_uint (config, "security.idmap.size", FERRY_IDMAP_ISOLATED_SIZE);
      gint64 wanted = ferry_config_uint (config, "security.idmap.base", -1);

      if (size < 1)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "security.idmap.size must be at least 1");
          return NULL;
        }
      if (wanted >= 0)
        *base = wanted;
      else if (!allocate (host, size, taken, own_base, base))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "Not enough uid/gid available for the container (%" G_GINT64_FORMAT
                       " ids asked of root's %" G_GINT64_FORMAT " at %" G_GINT64_FORMAT
                       ", after the isolated containers' and the first 65536)",
                       size, host.size, host.base);
          return NULL;
        }
      if (*base < 1 || *base + size > G_MAXUINT32)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "security.idmap.base %" G_GINT64_FORMAT " with security.idmap.size %" G_GINT64_FORMAT
                       " is not a range of host ids other than root",
                       *base, size);
          return NULL;
        }
      map = ferry_idmap_new_range (*base, size);
    }
  for (guint i = 0; i < raw->len; i++)
    if (!ferry_idmap_add_safe (map, &g_array_index (raw, FerryIdmapEntry, i), error))
      return NULL;
  return g_steal_pointer (&map);
}

static char *
describe (GArray *map)
{
  g_autofree char *u = ferry_idmap_proc_text (map, TRUE), *g = ferry_idmap_proc_text (map, FALSE);
  g_strdelimit (g_strstrip (u), "\n", ',');
  g_strdelimit (g_strstrip (g), "\n", ',');
  return g_strdup_printf ("uids %s; gids %s", u, g);
}

gboolean
ferry_idmap_applies (const char *name, GArray *map, GHashTable *config, FerryIdRange host, GArray *taken,
                     GError **error)
{
  g_autoptr (GArray) raw = ferry_idmap_parse_raw (g_hash_table_lookup (config, "raw.idmap"), NULL);

  for (guint i = 0; i < map->len; i++)
    {
      const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);
      gboolean from_raw = FALSE;
      for (guint j = 0; raw != NULL && j < raw->len && !from_raw; j++)
        {
          const FerryIdmapEntry *r = &g_array_index (raw, FerryIdmapEntry, j);
          from_raw = r->hostid == e->hostid && r->nsid == e->nsid && r->range == e->range;
        }
      if (!from_raw && (e->hostid < host.base || e->hostid + e->range > host.base + host.size))
        {
          g_autofree char *what = describe (map);
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "Instance %s runs with host ids outside this host's range for containers (%" G_GINT64_FORMAT
                       ", %" G_GINT64_FORMAT " ids; root's /etc/subuid and /etc/subgid): its map is %s",
                       name, host.base, host.size, what);
          return FALSE;
        }
    }
  if (ferry_idmap_config_isolated (config) && map->len > 0)
    {
      gint64 base = ferry_idmap_to_host (map, TRUE, 0);
      gint64 size = ferry_config_uint (config, "security.idmap.size", FERRY_IDMAP_ISOLATED_SIZE);
      if (overlaps (base, size, taken))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "Instance %s is isolated at host ids %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT
                       ", which another isolated container here uses",
                       name, base, base + size - 1);
          return FALSE;
        }
    }
  return TRUE;
}

