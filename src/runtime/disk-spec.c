#include "runtime/disk-spec.h"

#include "common/error.h"
#include "common/fs.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void
ferry_disk_spec_free (FerryDiskSpec *spec)
{
  if (spec == NULL)
    return;
  g_free (spec->name);
  g_free (spec->source);
  g_free (spec->path);
  g_free (spec);
}

char *
ferry_disk_spec_format (const FerryDiskSpec *spec)
{
  g_autofree char *name = g_uri_escape_string (spec->name, NULL, FALSE);
  g_autofree char *source = g_uri_escape_string (spec->source ? spec->source : "", NULL, FALSE);
  g_autofree char *path = g_uri_escape_string (spec->path, NULL, FALSE);

  return g_strdup_printf ("name=%s,source=%s,path=%s,readonly=%d,required=%d", name, source, path,
                          spec->readonly ? 1 : 0, spec->required ? 1 : 0);
}

FerryDiskSpec *
ferry_disk_spec_parse (const char *text, GError **error)
{
  g_autoptr (FerryDiskSpec) spec = g_new0 (FerryDiskSpec, 1);
  g_auto (GStrv) fields = g_strsplit (text, ",", -1);

  spec->required = TRUE;
  for (char **f = fields; *f != NULL; f++)
    {
      char *eq = strchr (*f, '=');
      g_autofree char *value = eq ? g_uri_unescape_string (eq + 1, NULL) : NULL;
      if (value == NULL)
        goto bad;
      *eq = '\0';
      char **field = strcmp (*f, "name") == 0     ? &spec->name
                     : strcmp (*f, "source") == 0 ? &spec->source
                     : strcmp (*f, "path") == 0   ? &spec->path
                                                  : NULL;
      if (field != NULL)
        {
          g_free (*field);
          *field = g_steal_pointer (&value);
        }
      else if (strcmp (*f, "readonly") == 0)
        spec->readonly = strcmp (value, "1") == 0;
      else if (strcmp (*f, "required") == 0)
        spec->required = strcmp (value, "1") == 0;
      else
        goto bad;
    }
  if (spec->name == NULL || *spec->name == '\0' || spec->source == NULL || spec->source[0] != '/'
      || spec->path == NULL || spec->path[0] != '/' || strcmp (spec->path, "/") == 0)
    goto bad;
  return g_steal_pointer (&spec);
bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid disk \"%s\": expected name=N,source=/S,path=/P[,readonly=0|1][,required=0|1]", text);
  return NULL;
}

GPtrArray *
ferry_disk_record_read (const char *path)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_disk_spec_free);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return specs;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      FerryDiskSpec *s = **l ? ferry_disk_spec_parse (*l, NULL) : NULL;
      if (s != NULL)
        g_ptr_array_add (specs, s);
    }
  return specs;
}

gboolean
ferry_disk_record_write (const char *path, GPtrArray *specs, GError **error)
{
  g_autoptr (GString) text = g_string_new (NULL);

  if (specs->len == 0)
    {
      if (unlink (path) < 0 && errno != ENOENT)
        {
          int saved = errno;
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Removing %s: %s", path, g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  for (guint i = 0; i < specs->len; i++)
    {
      g_autofree char *line = ferry_disk_spec_format (g_ptr_array_index (specs, i));
      g_string_append_printf (text, "%s\n", line);
    }
  return ferry_write_file_atomic (path, text->str, (gssize) text->len, 0644, error);
}
