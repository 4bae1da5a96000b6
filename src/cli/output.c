#include "config.h"

#include "output.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/yaml.h"

gboolean
ferry_format_parse (const char *text, FerryFormat *format, GError **error)
{
  static const struct
  {
    const char *name;
    FerryFormat format;
  } formats[] = {
    { "table", FERRY_FORMAT_TABLE }, { "compact", FERRY_FORMAT_COMPACT }, { "csv", FERRY_FORMAT_CSV },
    { "json", FERRY_FORMAT_JSON },   { "yaml", FERRY_FORMAT_YAML },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    if (g_strcmp0 (text, formats[i].name) == 0)
      {
        *format = formats[i].format;
        return TRUE;
      }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid format \"%s\"", text);
  return FALSE;
}

FerryTable *
ferry_table_new (const char *const *headers)
{
  FerryTable *table = g_new0 (FerryTable, 1);

  table->headers = g_ptr_array_new_with_free_func (g_free);
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  for (guint i = 0; headers != NULL && headers[i] != NULL; i++)
    g_ptr_array_add (table->headers, g_strdup (headers[i]));
  return table;
}

void
ferry_table_add_header (FerryTable *table, const char *header)
{
  g_ptr_array_add (table->headers, g_strdup (header));
}

void
ferry_table_add_row (FerryTable *table, char **row)
{
  g_ptr_array_add (table->rows, row);
}

void
ferry_table_free (FerryTable *table)
{
  if (table == NULL)
    return;
  g_ptr_array_unref (table->headers);
  g_ptr_array_unref (table->rows);
  g_free (table);
}

int
ferry_natural_compare (const char *a, const char *b)
{
  while (*a != '\0' && *b != '\0')
    {
      if (g_ascii_isdigit (*a) && g_ascii_isdigit (*b))
        {
          const char *ea = a, *eb = b;
          gsize la, lb;
          int cmp;

          while (*a == '0' && g_ascii_isdigit (a[1]))
            a++;
          while (*b == '0' && g_ascii_isdigit (b[1]))
            b++;
          for (ea = a; g_ascii_isdigit (*ea); ea++)
            ;
          for (eb = b; g_ascii_isdigit (*eb); eb++)
            ;
          la = ea - a;
          lb = eb - b;
          if (la != lb)
            return la < lb ? -1 : 1;
          cmp = strncmp (a, b, la);
          if (cmp != 0)
            return cmp;
          a = ea;
          b = eb;
          continue;
        }
      if (*a != *b)
        return (unsigned char) *a < (unsigned char) *b ? -1 : 1;
      a++;
      b++;
    }
  return (*a != '\0') - (*b != '\0');
}

static int
compare_rows (gconstpointer pa, gconstpointer pb)
{
  char **a = *(char ***) pa;
  char **b = *(char ***) pb;

  for (guint i = 0; a[i] != NULL && b[i] != NULL; i++)
    {
      int cmp = ferry_natural_compare (a[i], b[i]);
      if (cmp != 0)
        return cmp;
    }
  return 0;
}

void
ferry_table_sort (FerryTable *table)
{
  g_ptr_array_sort (table->rows, compare_rows);
}

gsize
ferry_display_width (const char *text)
{
  gsize width = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          width++;
          continue;
        }
      if (g_unichar_iszerowidth (c))
        continue;
      width += g_unichar_iswide (c) ? 2 : 1;
    }
  return width;
}

static gboolean
is_num_or_space (gunichar c)
{
  return (c >= '0' && c <= '9') || c == ' ';
}

char *
ferry_table_title (const char *header)
{
  g_autofree gunichar *chars = NULL;
  glong n = 0;
  g_autofree char *utf8 = NULL;
  char *trimmed;

  chars = g_utf8_to_ucs4 (header, -1, NULL, &n, NULL);
  if (chars == NULL)
    return g_ascii_strup (header, -1);
  for (glong i = 0; i < n; i++)
    {
      if (chars[i] == '_')
        chars[i] = ' ';
      else if (chars[i] == '.'
               && ((i != 0 && !is_num_or_space (chars[i - 1])) || (i != n - 1 && !is_num_or_space (chars[i + 1]))))
        chars[i] = ' ';
    }
  utf8 = g_ucs4_to_utf8 (chars, n, NULL, NULL, NULL);
  trimmed = g_strstrip (utf8);
  if (*trimmed == '\0' && *header != '\0')
    return g_strdup (" ");
  return g_utf8_strup (trimmed, -1);
}

/* Cells split into lines; every row of the table is as tall as its tallest
 * cell (tablewriter without auto-wrapping). */
typedef struct
{
  guint columns;
  gsize *widths;
  GPtrArray *header_lines; /* char** per column */
  GPtrArray *row_lines;    /* per row: GPtrArray of char** per column */
} Layout;

static void
layout_measure (Layout *layout, char **cells, GPtrArray *into)
{
  for (guint c = 0; c < layout->columns; c++)
    {
      const char *cell = cells[c] != NULL ? cells[c] : "";
      char **lines = g_strsplit (cell, "\n", -1);

      if (lines[0] == NULL)
        {
          g_strfreev (lines);
          lines = g_new0 (char *, 2);
          lines[0] = g_strdup ("");
        }
      for (guint l = 0; lines[l] != NULL; l++)
        layout->widths[c] = MAX (layout->widths[c], ferry_display_width (lines[l]));
      g_ptr_array_add (into, lines);
    }
}

static void
layout_init (Layout *layout, FerryTable *table, gboolean titles)
{
  g_autoptr (GPtrArray) header_cells = g_ptr_array_new_with_free_func (g_free);

  layout->columns = table->headers->len;
  layout->widths = g_new0 (gsize, layout->columns);
  for (guint c = 0; c < layout->columns; c++)
    g_ptr_array_add (header_cells, titles ? ferry_table_title (table->headers->pdata[c])
                                          : g_strdup (table->headers->pdata[c]));
  g_ptr_array_add (header_cells, NULL);
  layout->header_lines = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  layout_measure (layout, (char **) header_cells->pdata, layout->header_lines);
  layout->row_lines = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  for (guint r = 0; r < table->rows->len; r++)
    {
      GPtrArray *lines = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
      layout_measure (layout, table->rows->pdata[r], lines);
      g_ptr_array_add (layout->row_lines, lines);
    }
}

static void
layout_clear (Layout *layout)
{
  g_free (layout->widths);
  g_ptr_array_unref (layout->header_lines);
  g_ptr_array_unref (layout->row_lines);
}

static void
append_spaces (GString *out, gsize n)
{
  for (gsize i = 0; i < n; i++)
    g_string_append_c (out, ' ');
}

static void
append_border (GString *out, Layout *layout)
{
  g_string_append_c (out, '+');
  for (guint c = 0; c < layout->columns; c++)
    {
      for (gsize i = 0; i < layout->widths[c] + 2; i++)
        g_string_append_c (out, '-');
      g_string_append_c (out, '+');
    }
  g_string_append_c (out, '\n');
}

/* tablewriter's Pad (centre, the extra space on the right) and PadRight. */
static void
append_cell (GString *out, const char *text, gsize width, gboolean centre)
{
  gsize w = ferry_display_width (text);
  gsize gap = width > w ? width - w : 0;
  gsize left = centre ? gap / 2 : 0;

  append_spaces (out, left);
  g_string_append (out, text);
  append_spaces (out, gap - left);
}

static guint
lines_height (GPtrArray *cells)
{
  guint height = 0;

  for (guint c = 0; c < cells->len; c++)
    height = MAX (height, g_strv_length (cells->pdata[c]));
  return height;
}

static void
append_row (GString *out, Layout *layout, GPtrArray *cells, gboolean centre, const char *left_border,
            const char *separator, const char *right_border)
{
  guint height = lines_height (cells);

  for (guint l = 0; l < height; l++)
    {
      g_string_append (out, left_border);
      for (guint c = 0; c < layout->columns; c++)
        {
          char **lines = cells->pdata[c];
          const char *text = l < g_strv_length (lines) ? lines[l] : "";

          g_string_append_c (out, ' ');
          append_cell (out, text, layout->widths[c], centre);
          g_string_append_c (out, ' ');
          g_string_append (out, c + 1 < layout->columns ? separator : right_border);
        }
      g_string_append_c (out, '\n');
    }
}

char *
ferry_table_render_boxed (FerryTable *table)
{
  GString *out = g_string_new (NULL);
  Layout layout = { 0 };

  layout_init (&layout, table, TRUE);
  append_border (out, &layout);
  append_row (out, &layout, layout.header_lines, TRUE, "|", "|", "|");
  append_border (out, &layout);
  /* lxc sets SetRowLine(true): a line under every row. */
  for (guint r = 0; r < layout.row_lines->len; r++)
    {
      append_row (out, &layout, layout.row_lines->pdata[r], FALSE, "|", "|", "|");
      append_border (out, &layout);
    }
  layout_clear (&layout);
  return g_string_free (out, FALSE);
}

char *
ferry_table_render_compact (FerryTable *table)
{
  GString *out = g_string_new (NULL);
  Layout layout = { 0 };

  layout_init (&layout, table, TRUE);
  /* tablewriter without borders and with an empty column separator still
   * writes a space in place of each outer border */
  append_row (out, &layout, layout.header_lines, TRUE, " ", "", " ");
  for (guint r = 0; r < layout.row_lines->len; r++)
    append_row (out, &layout, layout.row_lines->pdata[r], FALSE, " ", "", " ");
  layout_clear (&layout);
  return g_string_free (out, FALSE);
}

/* Go's encoding/csv fieldNeedsQuotes. */
static gboolean
csv_needs_quotes (const char *field)
{
  if (*field == '\0')
    return FALSE;
  if (strcmp (field, "\\.") == 0)
    return TRUE;
  if (strpbrk (field, ",\"\r\n") != NULL)
    return TRUE;
  return g_unichar_isspace (g_utf8_get_char (field));
}

char *
ferry_table_render_csv (FerryTable *table)
{
  GString *out = g_string_new (NULL);

  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = table->rows->pdata[r];

      for (guint c = 0; c < table->headers->len; c++)
        {
          const char *field = row[c] != NULL ? row[c] : "";

          if (c > 0)
            g_string_append_c (out, ',');
          if (!csv_needs_quotes (field))
            {
              g_string_append (out, field);
              continue;
            }
          g_string_append_c (out, '"');
          for (const char *p = field; *p != '\0'; p++)
            {
              if (*p == '"')
                g_string_append (out, "\"\"");
              else
                g_string_append_c (out, *p);
            }
          g_string_append_c (out, '"');
        }
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

void
ferry_output_print (FerryFormat format, FerryTable *table, JsonNode *raw)
{
  g_autofree char *text = NULL;

  switch (format)
    {
    case FERRY_FORMAT_TABLE:
      text = ferry_table_render_boxed (table);
      break;
    case FERRY_FORMAT_COMPACT:
      text = ferry_table_render_compact (table);
      break;
    case FERRY_FORMAT_CSV:
      text = ferry_table_render_csv (table);
      break;
    case FERRY_FORMAT_JSON:
      {
        g_autoptr (JsonGenerator) gen = json_generator_new ();
        g_autofree char *json = NULL;

        json_generator_set_root (gen, raw);
        json = json_generator_to_data (gen, NULL);
        text = g_strconcat (json, "\n", NULL);
      }
      break;
    case FERRY_FORMAT_YAML:
      text = ferry_yaml_write (raw);
      break;
    }
  fputs (text, stdout);
}

char *
ferry_size_iec (gint64 bytes)
{
  static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double value = bytes;

  if (bytes < 1024)
    return g_strdup_printf ("%" G_GINT64_FORMAT "B", bytes);
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    {
      value /= 1024;
      if (value < 1024)
        return g_strdup_printf ("%.2f%s", value, units[i]);
    }
  return g_strdup_printf ("%.2fEiB", value);
}

char *
ferry_size_si (gint64 bytes)
{
  static const char *const units[] = { "kB", "MB", "GB", "TB", "PB", "EB" };
  double value = bytes;

  if (bytes < 1000)
    return g_strdup_printf ("%" G_GINT64_FORMAT "B", bytes);
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    {
      value /= 1000;
      if (value < 1000)
        return g_strdup_printf ("%.2f%s", value, units[i]);
    }
  return g_strdup_printf ("%.2fEB", value);
}

char *
ferry_format_time (const char *rfc3339, const char *format, gboolean utc)
{
  g_autoptr (GDateTime) parsed = NULL;
  g_autoptr (GDateTime) shown = NULL;

  if (rfc3339 == NULL || *rfc3339 == '\0')
    return g_strdup ("");
  parsed = g_date_time_new_from_iso8601 (rfc3339, NULL);
  if (parsed == NULL || g_date_time_to_unix (parsed) <= 0)
    return g_strdup ("");
  shown = utc ? g_date_time_to_utc (parsed) : g_date_time_to_local (parsed);
  return g_date_time_format (shown, format);
}
