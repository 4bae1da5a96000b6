/* CRIU's statistics images (stats-dump, stats-restore): the service-image
 * magics, then one entry: a 4-byte size and a protobuf stats_entry
 * (images/stats.proto). A varint reader is all it takes. */
#include "checkpoint/checkpoint.h"

#include "common/error.h"

#include <string.h>

#define IMG_SERVICE_MAGIC 0x55105940
#define STATS_MAGIC 0x57093306

typedef struct
{
  const guint8 *p, *end;
} Reader;

static gboolean
read_varint (Reader *r, guint64 *out)
{
  guint64 v = 0;

  for (int shift = 0; shift < 64 && r->p < r->end; shift += 7)
    {
      guint8 b = *r->p++;
      v |= (guint64) (b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        {
          *out = v;
          return TRUE;
        }
    }
  return FALSE;
}

/* Skips a field of WIRE_TYPE; FALSE on truncation or unknown type. */
static gboolean
skip_field (Reader *r, guint wire_type)
{
  guint64 n;

  switch (wire_type)
    {
    case 0:
      return read_varint (r, &n);
    case 1:
      if (r->end - r->p < 8)
        return FALSE;
      r->p += 8;
      return TRUE;
    case 2:
      if (!read_varint (r, &n) || n > (guint64) (r->end - r->p))
        return FALSE;
      r->p += n;
      return TRUE;
    case 5:
      if (r->end - r->p < 4)
        return FALSE;
      r->p += 4;
      return TRUE;
    default:
      return FALSE;
    }
}

static const char *const dump_fields[] = {
  NULL,           "freezing_time",          "frozen_time",   "memdump_time",    "memwrite_time",
  "pages_scanned", "pages_skipped_parent",  "pages_written", "irmap_resolve",   "pages_lazy",
  "page_pipes",    "page_pipe_bufs",        "shpages_scanned", "shpages_skipped_parent", "shpages_written",
};

static const char *const restore_fields[] = {
  NULL, "pages_compared", "pages_skipped_cow", "forking_time", "restore_time", "pages_restored",
};

/* Appends the varint fields of a dump_stats_entry / restore_stats_entry. */
static gboolean
parse_entry (Reader *r, const char *const *names, guint n_names, GString *json)
{
  while (r->p < r->end)
    {
      guint64 key, v;
      if (!read_varint (r, &key))
        return FALSE;
      guint field = (guint) (key >> 3), wire = (guint) (key & 7);
      if (wire != 0 || field >= n_names || names[field] == NULL)
        {
          if (!skip_field (r, wire))
            return FALSE;
          continue;
        }
      if (!read_varint (r, &v))
        return FALSE;
      g_string_append_printf (json, "\"%s\":%" G_GUINT64_FORMAT ",", names[field], v);
    }
  return TRUE;
}

static guint32
le32 (const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
}

char *
ferry_criu_stats_parse (const guint8 *data, gsize len, gboolean dump, gint64 total_time_us, GError **error)
{
  g_autoptr (GString) json = g_string_new ("{");
  gboolean found = FALSE;

  if (len < 12 || le32 (data) != IMG_SERVICE_MAGIC || le32 (data + 4) != STATS_MAGIC)
    goto bad;
  guint32 size = le32 (data + 8);
  if (size > len - 12)
    goto bad;
  Reader r = { data + 12, data + 12 + size };
  while (r.p < r.end)
    {
      guint64 key, n;
      if (!read_varint (&r, &key))
        goto bad;
      guint field = (guint) (key >> 3), wire = (guint) (key & 7);
      /* stats_entry: 1 = dump, 2 = restore (length-delimited). */
      if (wire == 2 && field == (dump ? 1u : 2u))
        {
          if (!read_varint (&r, &n) || n > (guint64) (r.end - r.p))
            goto bad;
          Reader sub = { r.p, r.p + n };
          if (!(dump ? parse_entry (&sub, dump_fields, G_N_ELEMENTS (dump_fields), json)
                     : parse_entry (&sub, restore_fields, G_N_ELEMENTS (restore_fields), json)))
            goto bad;
          r.p += n;
          found = TRUE;
        }
      else if (!skip_field (&r, wire))
        goto bad;
    }
  if (!found)
    goto bad;
  g_string_append_printf (json, "\"total_time\":%" G_GINT64_FORMAT "}", total_time_us);
  return g_string_free (g_steal_pointer (&json), FALSE);

bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Not a CRIU %s statistics image", dump ? "dump" : "restore");
  return NULL;
}

char *
ferry_criu_stats_json (const char *dir, gboolean dump, gint64 total_time_us, GError **error)
{
  g_autofree char *path = g_build_filename (dir, dump ? "stats-dump" : "stats-restore", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  char *json = ferry_criu_stats_parse ((const guint8 *) data, len, dump, total_time_us, error);
  if (json == NULL)
    g_prefix_error (error, "%s: ", path);
  return json;
}
