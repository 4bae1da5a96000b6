/* User namespace id maps, as LXD keeps them (see idmap.h). */
#include "config.h"

#include "common/idmap.h"

#include <string.h>

#include "common/error.h"
#include "common/json.h"

/* Every id the kernel can map: 0..2^32-2 (2^32-1 is the invalid id). */
#define ID_LIMIT ((gint64) G_MAXUINT32)

GArray *
ferry_idmap_new (void)
{
  return g_array_new (FALSE, TRUE, sizeof (FerryIdmapEntry));
}

GArray *
ferry_idmap_new_range (gint64 base, gint64 size)
{
  GArray *map = ferry_idmap_new ();
  FerryIdmapEntry u = { .isuid = TRUE, .hostid = base, .nsid = 0, .range = size };
  FerryIdmapEntry g = { .isgid = TRUE, .hostid = base, .nsid = 0, .range = size };

  g_array_append_val (map, u);
  g_array_append_val (map, g);
  return map;
}

static gboolean
between (gint64 x, gint64 low, gint64 high)
{
  return x >= low && x < high;
}

static gboolean
same_kind (const FerryIdmapEntry *a, const FerryIdmapEntry *b)
{
  return (a->isuid && b->isuid) || (a->isgid && b->isgid);
}

static gboolean
ranges_meet (gint64 a, gint64 b, gint64 n, gint64 m)
{
  return between (a, b, b + m) || between (b, a, a + n) || between (a + n, b, b + m) || between (b + m, a, a + n);
}

/* LXD's IdmapEntry.Intersects / HostidsIntersect (its bounds included). */
static gboolean
hostids_meet (const FerryIdmapEntry *a, const FerryIdmapEntry *b)
{
  return same_kind (a, b) && ranges_meet (a->hostid, b->hostid, a->range, b->range);
}

static gboolean
entries_meet (const FerryIdmapEntry *a, const FerryIdmapEntry *b)
{
  return same_kind (a, b) && (ranges_meet (a->hostid, b->hostid, a->range, b->range)
                              || ranges_meet (a->nsid, b->nsid, a->range, b->range));
}

gboolean
ferry_idmap_add_safe (GArray *map, const FerryIdmapEntry *e, GError **error)
{
  g_autoptr (GArray) result = ferry_idmap_new ();
  gboolean added = FALSE;

  for (guint i = 0; i < map->len; i++)
    {
      const FerryIdmapEntry *old = &g_array_index (map, FerryIdmapEntry, i);
      if (!entries_meet (old, e))
        {
          g_array_append_vals (result, old, 1);
          continue;
        }
      if (hostids_meet (old, e))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Host ID %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT " is in the range of the container's subids",
                       e->hostid, e->hostid + e->range - 1);
          return FALSE;
        }
      FerryIdmapEntry lower = *old, upper = *old;
      lower.range = e->nsid - old->nsid;
      upper.hostid = old->hostid + lower.range + e->range;
      upper.nsid = e->nsid + e->range;
      upper.range = old->range - e->range - lower.range;
      if (lower.range > 0)
        g_array_append_val (result, lower);
      g_array_append_vals (result, e, 1);
      if (upper.range > 0)
        g_array_append_val (result, upper);
      added = TRUE;
    }
  if (!added)
    g_array_append_vals (result, e, 1);
  g_array_set_size (map, 0);
  g_array_append_vals (map, result->data, result->len);
  return TRUE;
}

/* "N" or "A-B" of raw.idmap. */
static gboolean
raw_range (const char *text, gint64 *base, gint64 *size)
{
  g_auto (GStrv) ends = g_strsplit (text, "-", -1);
  guint64 a, b;

  if (g_strv_length (ends) < 1 || g_strv_length (ends) > 2
      || !g_ascii_string_to_unsigned (ends[0], 10, 0, ID_LIMIT - 1, &a, NULL))
    return FALSE;
  b = a;
  if (ends[1] != NULL && (!g_ascii_string_to_unsigned (ends[1], 10, a, ID_LIMIT - 1, &b, NULL)))
    return FALSE;
  *base = (gint64) a;
  *size = (gint64) (b - a + 1);
  return TRUE;
}

GArray *
ferry_idmap_parse_raw (const char *raw, GError **error)
{
  g_autoptr (GArray) map = ferry_idmap_new ();
  g_auto (GStrv) lines = g_strsplit (raw ? raw : "", "\n", -1);

  for (char **l = lines; *l != NULL; l++)
    {
      g_autofree char *line = g_strstrip (g_strdup (*l));
      g_auto (GStrv) f = NULL;
      FerryIdmapEntry e = { 0 };
      gint64 size;

      if (*line == '\0')
        continue;
      f = g_strsplit_set (line, " \t", -1);
      /* Fields separated by any run of blanks. */
      GStrvBuilder *b = g_strv_builder_new ();
      for (char **w = f; *w; w++)
        if (**w != '\0')
          g_strv_builder_add (b, *w);
      g_strfreev (f);
      f = g_strv_builder_end (b);
      g_strv_builder_unref (b);
      if (g_strv_length (f) != 3)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid raw.idmap line \"%s\" (uid|gid|both HOST NS)",
                       line);
          return NULL;
        }
      if (!raw_range (f[1], &e.hostid, &e.range) || !raw_range (f[2], &e.nsid, &size))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Invalid raw.idmap line \"%s\" (an id is N or A-B, at most %" G_GINT64_FORMAT ")", line,
                       ID_LIMIT - 1);
          return NULL;
        }
      if (size != e.range || e.nsid + size > ID_LIMIT || e.hostid + size > ID_LIMIT)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The ID map ranges are of different sizes: %s", line);
          return NULL;
        }
      e.isuid = g_str_equal (f[0], "uid") || g_str_equal (f[0], "both");
      e.isgid = g_str_equal (f[0], "gid") || g_str_equal (f[0], "both");
      if (!e.isuid && !e.isgid)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid raw.idmap type \"%s\" (uid, gid or both)",
                       f[0]);
          return NULL;
        }
      if (!ferry_idmap_add_safe (map, &e, error))
        return NULL;
    }
  return g_steal_pointer (&map);
}

char *
ferry_idmap_to_json (GArray *map)
{
  GString *s = g_string_new ("[");

  for (guint i = 0; i < map->len; i++)
    {
      const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);
      g_string_append_printf (s,
                              "%s{\"Isuid\":%s,\"Isgid\":%s,\"Hostid\":%" G_GINT64_FORMAT ",\"Nsid\":%" G_GINT64_FORMAT
                              ",\"Maprange\":%" G_GINT64_FORMAT "}",
                              i ? "," : "", e->isuid ? "true" : "false", e->isgid ? "true" : "false", e->hostid,
                              e->nsid, e->range);
    }
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Every entry within the kernel's ids, ranges not empty. */
static gboolean
check_entries (GArray *map, const char *what, GError **error)
{
  for (guint i = 0; i < map->len; i++)
    {
      const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);
      if ((!e->isuid && !e->isgid) || e->range < 1 || e->hostid < 0 || e->nsid < 0 || e->hostid + e->range > ID_LIMIT
          || e->nsid + e->range > ID_LIMIT)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid %s: entry %u is out of range", what, i);
          return FALSE;
        }
    }
  return TRUE;
}

GArray *
ferry_idmap_from_json (const char *json, GError **error)
{
  g_autoptr (JsonNode) root = ferry_json_parse (json ? json : "", -1, error);
  g_autoptr (GArray) map = ferry_idmap_new ();
  JsonArray *array;

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (root))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "An idmap is a JSON array");
      return NULL;
    }
  array = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *n = json_array_get_element (array, i);
      FerryIdmapEntry e = { 0 };
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      if (o == NULL || !ferry_json_get_bool (o, "Isuid", &e.isuid, error)
          || !ferry_json_get_bool (o, "Isgid", &e.isgid, error) || !ferry_json_get_int (o, "Hostid", &e.hostid, error)
          || !ferry_json_get_int (o, "Nsid", &e.nsid, error) || !ferry_json_get_int (o, "Maprange", &e.range, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Idmap entry %u is not an object", i);
          return NULL;
        }
      g_array_append_val (map, e);
    }
  return check_entries (map, "idmap", error) ? g_steal_pointer (&map) : NULL;
}

char *
ferry_idmap_to_arg (GArray *map)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < map->len; i++)
    {
      const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);
      g_string_append_printf (s, "%s%c:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, i ? "," : "",
                              e->isuid && e->isgid ? 'b' : e->isuid ? 'u' : 'g', e->nsid, e->hostid, e->range);
    }
  return g_string_free (s, FALSE);
}

GArray *
ferry_idmap_from_arg (const char *spec, GError **error)
{
  g_autoptr (GArray) map = ferry_idmap_new ();
  g_auto (GStrv) entries = g_strsplit (spec ? spec : "", ",", -1);

  if (entries[0] == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid idmap \"\" (an empty map)");
      return NULL;
    }

  for (char **s = entries; *s != NULL; s++)
    {
      g_auto (GStrv) f = g_strsplit (*s, ":", -1);
      guint n = g_strv_length (f);
      guint64 v[3] = { 0 };
      FerryIdmapEntry e = { .isuid = TRUE, .isgid = TRUE };
      const char *kind = n == 4 ? f[0] : "b";
      gboolean ok = (n == 4 || (n == 2 && entries[1] == NULL)) && strlen (kind) == 1 && strchr ("ugb", *kind);

      for (guint j = 0; ok && j < n - (n == 4); j++)
        ok = g_ascii_string_to_unsigned (f[j + (n == 4)], 10, 0, ID_LIMIT, &v[j], NULL);
      if (!ok)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Invalid idmap \"%s\" (BASE:SIZE, or KIND:NSID:HOSTID:RANGE entries joined by commas)", spec);
          return NULL;
        }
      if (n == 2)
        {
          e.hostid = (gint64) v[0];
          e.range = (gint64) v[1];
        }
      else
        {
          e.isuid = *kind != 'g';
          e.isgid = *kind != 'u';
          e.nsid = (gint64) v[0];
          e.hostid = (gint64) v[1];
          e.range = (gint64) v[2];
        }
      g_array_append_val (map, e);
    }
  return check_entries (map, "idmap", error) ? g_steal_pointer (&map) : NULL;
}

/* TRUE when an entry before I maps the same ids of this kind (a "both"
 * entry that split a uid and a gid entry is in LXD's list twice). */
static gboolean
seen_before (GArray *map, guint i, gboolean uid)
{
  const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);

  for (guint j = 0; j < i; j++)
    {
      const FerryIdmapEntry *o = &g_array_index (map, FerryIdmapEntry, j);
      if ((uid ? o->isuid : o->isgid) && o->nsid == e->nsid && o->hostid == e->hostid && o->range == e->range)
        return TRUE;
    }
  return FALSE;
}

char *
ferry_idmap_proc_text (GArray *map, gboolean uid)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < map->len; i++)
    {
      const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);
      if ((uid ? e->isuid : e->isgid) && !seen_before (map, i, uid))
        g_string_append_printf (s, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n", e->nsid,
                                e->hostid, e->range);
    }
  return g_string_free (s, FALSE);
}

gint64
ferry_idmap_to_host (GArray *map, gboolean uid, gint64 nsid)
{
  for (guint i = 0; map != NULL && i < map->len; i++)
    {
      const FerryIdmapEntry *e = &g_array_index (map, FerryIdmapEntry, i);
      if ((uid ? e->isuid : e->isgid) && between (nsid, e->nsid, e->nsid + e->range))
        return e->hostid + (nsid - e->nsid);
    }
  return -1;
}

gboolean
ferry_idmap_equal (GArray *a, GArray *b)
{
  g_autofree char *au = ferry_idmap_proc_text (a, TRUE), *ag = ferry_idmap_proc_text (a, FALSE);
  g_autofree char *bu = ferry_idmap_proc_text (b, TRUE), *bg = ferry_idmap_proc_text (b, FALSE);

  return g_str_equal (au, bu) && g_str_equal (ag, bg);
}
