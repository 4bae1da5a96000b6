#include "config.h"

#include "debian-mirror.h"

#include <string.h>

#define DEFAULT_MIRROR "http://deb.debian.org/debian"

typedef struct
{
  char *mirror;
  char *security;
} Found;

/* Suites of Debian itself; third-party repositories (cloud-sdk-bookworm,
 * nodistro...) do not match. */
static gboolean
debian_suite (const char *suite, gboolean *security)
{
  static const char *const names[] = {
    "buster",       "bullseye",  "bookworm", "trixie",  "forky",    "duke", "sid",
    "oldoldstable", "oldstable", "stable",   "testing", "unstable", NULL,
  };
  const char *dash = strchr (suite, '-');
  g_autofree char *base = dash != NULL ? g_strndup (suite, (gsize) (dash - suite)) : g_strdup (suite);

  *security = dash != NULL && strcmp (dash, "-security") == 0;
  if (dash != NULL && !*security && strcmp (dash, "-updates") != 0 && strcmp (dash, "-backports") != 0
      && strcmp (dash, "-proposed-updates") != 0)
    return FALSE;
  return g_strv_contains (names, base);
}

static void
consider (Found *found, const char *type, const char *uri, const char *suite, gboolean has_main)
{
  gboolean security;
  gsize n = strlen (uri);

  if (strcmp (type, "deb") != 0 || !has_main || !debian_suite (suite, &security))
    return;
  if (!g_str_has_prefix (uri, "http://") && !g_str_has_prefix (uri, "https://") && !g_str_has_prefix (uri, "file:/"))
    return;
  while (n > 0 && uri[n - 1] == '/')
    n--;
  if (security && found->security == NULL)
    found->security = g_strndup (uri, n);
  else if (!security && found->mirror == NULL)
    found->mirror = g_strndup (uri, n);
}

/* "deb [signed-by=... arch=amd64] URI SUITE COMPONENT..." */
static void
parse_one_line (Found *found, const char *line)
{
  g_autofree char *copy = g_strdup (line);
  g_auto (GStrv) words = NULL;
  char *p = copy;
  char *hash = strchr (copy, '#');
  guint n;
  gboolean has_main = FALSE;

  if (hash != NULL)
    *hash = '\0';
  p = strchr (copy, '[');
  if (p != NULL)
    {
      char *end = strchr (p, ']');
      if (end == NULL)
        return;
      memset (p, ' ', (gsize) (end - p + 1));
    }
  words = g_strsplit_set (g_strstrip (copy), " \t", -1);
  /* Drop the empty words runs of blanks leave. */
  n = 0;
  for (guint i = 0; words[i] != NULL; i++)
    if (*words[i] != '\0')
      words[n++] = words[i];
    else
      g_free (words[i]);
  words[n] = NULL;
  if (n < 3)
    return;
  for (guint i = 3; i < n; i++)
    has_main |= strcmp (words[i], "main") == 0;
  consider (found, words[0], words[1], words[2], has_main);
}

static void
parse_deb822_stanza (Found *found, GHashTable *fields)
{
  const char *types = g_hash_table_lookup (fields, "types");
  const char *uris = g_hash_table_lookup (fields, "uris");
  const char *suites = g_hash_table_lookup (fields, "suites");
  const char *components = g_hash_table_lookup (fields, "components");
  const char *enabled = g_hash_table_lookup (fields, "enabled");
  g_auto (GStrv) type_list = NULL;
  g_auto (GStrv) uri_list = NULL;
  g_auto (GStrv) suite_list = NULL;
  g_auto (GStrv) component_list = NULL;
  gboolean has_main;

  if (types == NULL || uris == NULL || suites == NULL || components == NULL
      || (enabled != NULL && g_ascii_strcasecmp (enabled, "no") == 0))
    return;
  type_list = g_strsplit_set (types, " \t", -1);
  uri_list = g_strsplit_set (uris, " \t", -1);
  suite_list = g_strsplit_set (suites, " \t", -1);
  component_list = g_strsplit_set (components, " \t", -1);
  has_main = g_strv_contains ((const char *const *) component_list, "main");
  for (char **t = type_list; *t != NULL; t++)
    for (char **u = uri_list; *u != NULL; u++)
      for (char **s = suite_list; *s != NULL; s++)
        if (**t != '\0' && **u != '\0' && **s != '\0')
          consider (found, *t, *u, *s, has_main);
}

static void
parse_deb822 (Found *found, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GHashTable) fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *last = NULL;

  for (char **l = lines;; l++)
    {
      g_autofree char *stripped = *l != NULL ? g_strstrip (g_strdup (*l)) : NULL;
      const char *colon;

      if (stripped != NULL && stripped[0] == '#')
        continue;
      if (stripped == NULL || *stripped == '\0')
        {
          parse_deb822_stanza (found, fields);
          g_hash_table_remove_all (fields);
          g_clear_pointer (&last, g_free);
          if (*l == NULL)
            break;
          continue;
        }
      if (**l == ' ' || **l == '\t')
        {
          /* A continuation line: one more value of the last field. */
          if (last != NULL)
            {
              const char *old = g_hash_table_lookup (fields, last);
              g_hash_table_insert (fields, g_strdup (last), g_strconcat (old, " ", stripped, NULL));
            }
          continue;
        }
      colon = strchr (stripped, ':');
      if (colon == NULL)
        continue;
      g_free (last);
      last = g_ascii_strdown (stripped, (gssize) (colon - stripped));
      g_hash_table_insert (fields, g_strdup (last), g_strstrip (g_strdup (colon + 1)));
    }
}

static void
parse_file (Found *found, const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;
  if (g_str_has_suffix (path, ".sources"))
    {
      parse_deb822 (found, text);
      return;
    }
  {
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
    for (char **l = lines; *l != NULL; l++)
      parse_one_line (found, *l);
  }
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
ferry_debian_security_for (const char *mirror)
{
  if (!g_str_has_suffix (mirror, "/debian"))
    return NULL;
  return g_strconcat (mirror, "-security", NULL);
}

void
ferry_debian_mirrors (const char *etc_apt, char **mirror, char **security)
{
  g_autofree char *list = g_build_filename (etc_apt, "sources.list", NULL);
  g_autofree char *dir = g_build_filename (etc_apt, "sources.list.d", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  Found found = { 0 };
  const char *name;

  parse_file (&found, list);
  /* apt reads sources.list.d/ in name order, like this. */
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".list") || g_str_has_suffix (name, ".sources"))
      g_ptr_array_add (files, g_build_filename (dir, name, NULL));
  g_ptr_array_sort (files, compare_names);
  for (guint i = 0; i < files->len; i++)
    parse_file (&found, files->pdata[i]);
  if (found.mirror == NULL)
    found.mirror = g_strdup (DEFAULT_MIRROR);
  if (found.security == NULL)
    found.security = ferry_debian_security_for (found.mirror);
  if (found.security == NULL)
    found.security = g_strdup (DEFAULT_MIRROR "-security");
  *mirror = found.mirror;
  *security = found.security;
}
