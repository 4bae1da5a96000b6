/* ferry image list|import|export|delete|info|alias (lxc/image.go,
 * image_alias.go); build is in cmd-image-build.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cli.h"
#include "common/error.h"
#include "image-build.h"

static char *
image_size (JsonObject *image)
{
  return g_strdup_printf ("%.2fMB", (double) ferry_obj_int (image, "size") / 1024.0 / 1024.0);
}

/* An alias, else a fingerprint (prefix): the full fingerprint. */
static char *
dereference_image (FerryClient *client, const char *name, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *alias_path = g_strdup_printf ("/1.0/images/aliases/%s", escaped);
  g_autoptr (JsonObject) alias = ferry_client_get_object (client, alias_path, NULL, NULL);
  g_autofree char *image_path = NULL;
  g_autoptr (JsonObject) image = NULL;

  if (alias != NULL && *ferry_obj_string (alias, "target") != '\0')
    return g_strdup (ferry_obj_string (alias, "target"));
  image_path = g_strdup_printf ("/1.0/images/%s", escaped);
  image = ferry_client_get_object (client, image_path, NULL, error);
  if (image == NULL)
    return NULL;
  return g_strdup (ferry_obj_string (image, "fingerprint"));
}

static char *
shortest_alias (JsonArray *aliases)
{
  const char *best = NULL;
  guint n = aliases != NULL ? json_array_get_length (aliases) : 0;

  for (guint i = 0; i < n; i++)
    {
      const char *name = ferry_obj_string (json_array_get_object_element (aliases, i), "name");
      if (best == NULL || strlen (name) < strlen (best))
        best = name;
    }
  if (best == NULL)
    return g_strdup ("");
  if (n > 1)
    return g_strdup_printf ("%s (%u more)", best, n - 1);
  return g_strdup (best);
}

static gboolean
image_matches (JsonObject *image, const char *filter)
{
  JsonArray *aliases = ferry_obj_array (image, "aliases");
  const char *eq = strchr (filter, '=');

  if (eq != NULL)
    {
      g_autofree char *key = g_strndup (filter, eq - filter);
      return g_strcmp0 (ferry_obj_string (ferry_obj_object (image, "properties"), key), eq + 1) == 0;
    }
  if (g_str_has_prefix (ferry_obj_string (image, "fingerprint"), filter))
    return TRUE;
  for (guint i = 0; aliases != NULL && i < json_array_get_length (aliases); i++)
    if (g_str_has_prefix (ferry_obj_string (json_array_get_object_element (aliases, i), "name"), filter))
      return TRUE;
  return FALSE;
}

/* The cell of column CODE (lxc's shorthand) for IMAGE, a new string. */
static char *
image_cell (JsonObject *image, char code)
{
  const char *fp = ferry_obj_string (image, "fingerprint");

  switch (code)
    {
    case 'l':
      return shortest_alias (ferry_obj_array (image, "aliases"));
    case 'L':
      {
        JsonArray *aliases = ferry_obj_array (image, "aliases");
        GString *all = g_string_new (NULL);
        for (guint a = 0; aliases != NULL && a < json_array_get_length (aliases); a++)
          g_string_append_printf (all, "%s%s", a > 0 ? "\n" : "",
                                  ferry_obj_string (json_array_get_object_element (aliases, a), "name"));
        return g_string_free (all, FALSE);
      }
    case 'f':
      return g_strndup (fp, 12);
    case 'F':
      return g_strdup (fp);
    case 'p':
      return g_strdup (ferry_obj_bool (image, "public") ? "yes" : "no");
    case 'd':
      return g_strdup (ferry_obj_string (ferry_obj_object (image, "properties"), "description"));
    case 'a':
      return g_strdup (ferry_obj_string (image, "architecture"));
    case 't':
      {
        const char *type = ferry_obj_string (image, "type");
        return g_ascii_strup (*type != '\0' ? type : "container", -1);
      }
    case 's':
      return image_size (image);
    case 'u':
      return ferry_format_time (ferry_obj_string (image, "uploaded_at"), "%b %-e, %Y at %-l:%M%P (%Z)", TRUE);
    default:
      return g_strdup ("");
    }
}

static int
cmd_image_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const struct
  {
    char code;
    const char *header;
  } columns[] = {
    { 'l', "ALIAS" },        { 'L', "ALIASES" }, { 'f', "FINGERPRINT" }, { 'F', "FINGERPRINT" },
    { 'p', "PUBLIC" },       { 'd', "DESCRIPTION" }, { 'a', "ARCHITECTURE" }, { 't', "TYPE" },
    { 's', "SIZE" },         { 'u', "UPLOAD DATE" },
  };
  char **pos = ferry_args_positional (args);
  const char *spec = ferry_args_get_string (args, "columns", "lfpdatsu");
  g_autofree char *remote = ferry_remote_default ();
  g_autoptr (JsonArray) images = NULL;
  g_autoptr (JsonArray) shown = json_array_new ();
  g_autoptr (FerryTable) table = ferry_table_new (NULL);
  g_autoptr (JsonNode) raw = json_node_new (JSON_NODE_ARRAY);
  g_autoptr (GPtrArray) filters = g_ptr_array_new_with_free_func (g_free);
  FerryClient *client;
  FerryFormat format;

  if (!ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  for (guint i = 0; pos[i] != NULL; i++)
    {
      if (i == 0 && g_str_has_suffix (pos[i], ":"))
        {
          g_autofree char *rest = NULL;
          g_clear_pointer (&remote, g_free);
          if (!ferry_remote_parse (pos[i], &remote, &rest, error))
            return FERRY_EXIT_ERROR;
          continue;
        }
      g_ptr_array_add (filters, g_strdup (pos[i]));
    }
  for (const char *c = spec; *c != '\0'; c++)
    {
      gsize i;
      for (i = 0; i < G_N_ELEMENTS (columns) && columns[i].code != *c; i++)
        ;
      if (i == G_N_ELEMENTS (columns))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown column shorthand char '%c' in '%s'", *c, spec);
          return FERRY_EXIT_ERROR;
        }
      ferry_table_add_header (table, columns[i].header);
    }
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  images = ferry_client_get_array (client, "/1.0/images?recursion=1", error);
  if (images == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < json_array_get_length (images); i++)
    {
      JsonObject *image = json_array_get_object_element (images, i);
      GPtrArray *row;
      gboolean match = TRUE;

      if (image == NULL)
        continue;
      for (guint f = 0; f < filters->len && match; f++)
        match = image_matches (image, filters->pdata[f]);
      if (!match)
        continue;
      json_array_add_element (shown, json_node_copy (json_array_get_element (images, i)));
      row = g_ptr_array_new ();
      for (const char *c = spec; *c != '\0'; c++)
        g_ptr_array_add (row, image_cell (image, *c));
      g_ptr_array_add (row, NULL);
      ferry_table_add_row (table, (char **) g_ptr_array_free (row, FALSE));
    }
  ferry_table_sort (table);
  json_node_set_array (raw, g_steal_pointer (&shown));
  ferry_output_print (format, table, raw);
  return 0;
}

static gboolean
create_alias (FerryClient *client, const char *alias, const char *fingerprint, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonNode) result = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "target");
  json_builder_add_string_value (b, fingerprint);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, alias);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "");
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  result = ferry_client_query (client, "POST", "/1.0/images/aliases", body, NULL, NULL, error);
  return result != NULL;
}

/* Uploads a unified tarball, names it and says so; shared with image build. */
gboolean
ferry_cli_image_upload (FerryCli *cli, FerryClient *client, const char *file, const char *const *aliases,
                        gboolean public_, const char *properties, GError **error)
{
  g_autoptr (GHashTable) headers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr (JsonObject) op = NULL;
  g_autoptr (JsonObject) done = NULL;
  g_autofree char *basename = g_path_get_basename (file);
  JsonObject *metadata;
  const char *fingerprint;
  gint64 skipped;

  g_hash_table_insert (headers, "X-LXD-filename", g_strdup (basename));
  g_hash_table_insert (headers, "X-LXD-public", g_strdup (public_ ? "1" : "0"));
  if (properties != NULL && *properties != '\0')
    g_hash_table_insert (headers, "X-LXD-properties", g_strdup (properties));
  op = ferry_client_operation_upload (client, "/1.0/images", file, headers, error);
  if (op == NULL)
    return FALSE;
  done = ferry_client_wait (client, op, ferry_cli_operation_progress, cli, NULL, error);
  ferry_cli_progress_done (cli);
  if (done == NULL)
    return FALSE;
  metadata = ferry_obj_object (done, "metadata");
  fingerprint = ferry_obj_string (metadata, "fingerprint");
  if (*fingerprint == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "The server did not return the image's fingerprint");
      return FALSE;
    }
  for (; aliases != NULL && *aliases != NULL; aliases++)
    if (!create_alias (client, *aliases, fingerprint, error))
      return FALSE;
  skipped = ferry_obj_int (metadata, "skipped_device_nodes");
  if (skipped > 0 && !cli->quiet)
    printf ("Note: %" G_GINT64_FORMAT " device nodes under rootfs/dev/ are skipped (containers get a fresh /dev)\n",
            skipped);
  printf ("Image imported with fingerprint: %s\n", fingerprint);
  return TRUE;
}

static int
cmd_image_import (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  const char *file = pos[0];
  g_autofree char *remote = ferry_remote_default ();
  g_autoptr (GString) properties = g_string_new (NULL);
  FerryClient *client;

  for (guint i = 1; pos[i] != NULL; i++)
    {
      if (strchr (pos[i], '=') != NULL)
        {
          g_autofree char *escaped = g_uri_escape_string (pos[i], "=", FALSE);
          g_string_append_printf (properties, "%s%s", properties->len > 0 ? "&" : "", escaped);
          continue;
        }
      if (g_str_has_suffix (pos[i], ":"))
        {
          g_autofree char *rest = NULL;
          g_clear_pointer (&remote, g_free);
          if (!ferry_remote_parse (pos[i], &remote, &rest, error))
            return FERRY_EXIT_ERROR;
          continue;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Split images (metadata and rootfs tarballs) are not supported yet");
      return FERRY_EXIT_ERROR;
    }
  if (g_file_test (file, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Importing an image from a directory is not supported yet");
      return FERRY_EXIT_ERROR;
    }
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (!ferry_cli_image_upload (cli, client, file, ferry_args_get_strv (args, "alias"),
                               ferry_args_get_bool (args, "public"), properties->str, error))
    return FERRY_EXIT_ERROR;
  return 0;
}

/* The compression's extension of a downloaded tarball, from its first bytes. */
static const char *
tarball_extension (const char *file)
{
  gsize len = 0;
  g_autoptr (GFile) f = g_file_new_for_path (file);
  g_autoptr (GFileInputStream) in = g_file_read (f, NULL, NULL);
  guchar b[6] = { 0 };

  if (in == NULL || !g_input_stream_read_all (G_INPUT_STREAM (in), b, sizeof b, &len, NULL, NULL))
    return ".tar";
  if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
    return ".tar.gz";
  if (len >= 5 && memcmp (b, "\xfd" "7zXZ", 5) == 0)
    return ".tar.xz";
  if (len >= 4 && memcmp (b, "\x28\xb5\x2f\xfd", 4) == 0)
    return ".tar.zst";
  if (len >= 3 && memcmp (b, "BZh", 3) == 0)
    return ".tar.bz2";
  return ".tar";
}

static char *
file_sha256 (const char *file, GError **error)
{
  g_autoptr (GFile) f = g_file_new_for_path (file);
  g_autoptr (GFileInputStream) in = g_file_read (f, NULL, error);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc (1 << 20);
  gssize n;

  if (in == NULL)
    return NULL;
  while ((n = g_input_stream_read (G_INPUT_STREAM (in), buf, 1 << 20, NULL, error)) > 0)
    g_checksum_update (sum, buf, n);
  return n < 0 ? NULL : g_strdup (g_checksum_get_string (sum));
}

/* lxc image export: the image's unified tarball as TARGET (a file name, or a
 * directory for FINGERPRINT) plus its compression's extension, checked
 * against the fingerprint as lxc checks it. */
static int
cmd_image_export (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL, *fp = NULL, *escaped = NULL, *path = NULL, *base = NULL, *got = NULL;
  g_autofree char *tmp = NULL, *final = NULL;
  const char *target = pos[1] != NULL ? pos[1] : ".";
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &name, error);
  const char *ext;

  if (client == NULL || (fp = dereference_image (client, name, error)) == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (fp);
  path = g_strdup_printf ("/1.0/images/%s/export", escaped);
  base = g_file_test (target, G_FILE_TEST_IS_DIR) ? g_build_filename (target, fp, NULL) : g_strdup (target);
  tmp = g_strconcat (base, ".download", NULL);
  if (!ferry_client_download (client, path, tmp, NULL, error))
    return FERRY_EXIT_ERROR;
  got = file_sha256 (tmp, error);
  if (got == NULL)
    return FERRY_EXIT_ERROR;
  if (strcmp (got, fp) != 0)
    {
      g_unlink (tmp);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Image fingerprint doesn't match. Got %s expected %s", got,
                   fp);
      return FERRY_EXIT_ERROR;
    }
  ext = tarball_extension (tmp);
  final = g_str_has_suffix (base, ext) ? g_strdup (base) : g_strconcat (base, ext, NULL);
  if (g_rename (tmp, final) < 0)
    {
      int saved = errno;
      g_unlink (tmp);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s: %s", final, g_strerror (saved));
      return FERRY_EXIT_ERROR;
    }
  printf ("Image exported successfully!\n");
  return 0;
}

static int
cmd_image_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  for (char **p = ferry_args_positional (args); *p != NULL; p++)
    {
      g_autofree char *name = NULL;
      g_autofree char *fingerprint = NULL;
      g_autofree char *path = NULL;
      FerryClient *client = ferry_cli_resolve (cli, *p, &name, error);

      if (client == NULL)
        return FERRY_EXIT_ERROR;
      fingerprint = dereference_image (client, name, error);
      if (fingerprint == NULL)
        return FERRY_EXIT_ERROR;
      path = g_strdup_printf ("/1.0/images/%s", fingerprint);
      if (!ferry_client_await (client, ferry_client_operation (client, "DELETE", path, NULL, error), error))
        return FERRY_EXIT_ERROR;
    }
  return 0;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

static int
cmd_image_info (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *name = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &name, error);
  g_autofree char *fingerprint = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonObject) image = NULL;
  JsonObject *properties;
  JsonArray *aliases;
  JsonArray *profiles;
  static const struct
  {
    const char *label;
    const char *member;
  } times[] = {
    { "Created", "created_at" }, { "Uploaded", "uploaded_at" }, { "Expires", "expires_at" }, { "Last used", "last_used_at" },
  };

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  fingerprint = dereference_image (client, name, error);
  if (fingerprint == NULL)
    return FERRY_EXIT_ERROR;
  path = g_strdup_printf ("/1.0/images/%s", fingerprint);
  image = ferry_client_get_object (client, path, NULL, error);
  if (image == NULL)
    return FERRY_EXIT_ERROR;
  printf ("Fingerprint: %s\n", ferry_obj_string (image, "fingerprint"));
  {
    g_autofree char *size = image_size (image);
    printf ("Size: %s\n", size);
  }
  printf ("Architecture: %s\n", ferry_obj_string (image, "architecture"));
  printf ("Type: %s\n", *ferry_obj_string (image, "type") != '\0' ? ferry_obj_string (image, "type") : "container");
  printf ("Public: %s\n", ferry_obj_bool (image, "public") ? "yes" : "no");
  printf ("Timestamps:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (times); i++)
    {
      g_autofree char *when = ferry_format_time (ferry_obj_string (image, times[i].member), "%Y/%m/%d %H:%M %Z", TRUE);
      if (*when != '\0')
        printf ("    %s: %s\n", times[i].label, when);
      else if (i >= 2)
        printf ("    %s: never\n", times[i].label);
    }
  printf ("Properties:\n");
  properties = ferry_obj_object (image, "properties");
  if (properties != NULL)
    {
      GList *keys = g_list_sort (json_object_get_members (properties), compare_strings);
      for (GList *l = keys; l != NULL; l = l->next)
        printf ("    %s: %s\n", (const char *) l->data, ferry_obj_string (properties, l->data));
      g_list_free (keys);
    }
  printf ("Aliases:\n");
  aliases = ferry_obj_array (image, "aliases");
  for (guint i = 0; aliases != NULL && i < json_array_get_length (aliases); i++)
    {
      JsonObject *alias = json_array_get_object_element (aliases, i);
      const char *description = ferry_obj_string (alias, "description");
      if (*description != '\0')
        printf ("    - %s (%s)\n", ferry_obj_string (alias, "name"), description);
      else
        printf ("    - %s\n", ferry_obj_string (alias, "name"));
    }
  printf ("Cached: %s\n", ferry_obj_bool (image, "cached") ? "yes" : "no");
  printf ("Auto update: %s\n", ferry_obj_bool (image, "auto_update") ? "enabled" : "disabled");
  profiles = ferry_obj_array (image, "profiles");
  if (profiles != NULL)
    {
      printf ("Profiles:\n");
      if (json_array_get_length (profiles) == 0)
        printf ("    [] \n");
      for (guint i = 0; i < json_array_get_length (profiles); i++)
        printf ("    - %s\n", json_array_get_string_element (profiles, i));
    }
  return 0;
}

/* ---- aliases ---- */

static int
cmd_alias_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  static const char *const headers[] = { "ALIAS", "FINGERPRINT", "TYPE", "DESCRIPTION", NULL };
  char **pos = ferry_args_positional (args);
  g_autofree char *remote = ferry_remote_default ();
  g_autoptr (JsonArray) aliases = NULL;
  g_autoptr (FerryTable) table = ferry_table_new (headers);
  g_autoptr (JsonNode) raw = json_node_new (JSON_NODE_ARRAY);
  guint first_filter = 0;
  FerryClient *client;
  FerryFormat format;

  if (!ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  if (pos[0] != NULL && g_str_has_suffix (pos[0], ":"))
    {
      g_autofree char *rest = NULL;
      g_clear_pointer (&remote, g_free);
      if (!ferry_remote_parse (pos[0], &remote, &rest, error))
        return FERRY_EXIT_ERROR;
      first_filter = 1;
    }
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  aliases = ferry_client_get_array (client, "/1.0/images/aliases?recursion=1", error);
  if (aliases == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < json_array_get_length (aliases); i++)
    {
      JsonObject *alias = json_array_get_object_element (aliases, i);
      const char *type = ferry_obj_string (alias, "type");
      gboolean match = pos[first_filter] == NULL;
      char **row;

      for (guint f = first_filter; pos[f] != NULL && !match; f++)
        match = g_str_has_prefix (ferry_obj_string (alias, "name"), pos[f]);
      if (!match)
        continue;
      row = g_new0 (char *, 5);
      row[0] = g_strdup (ferry_obj_string (alias, "name"));
      row[1] = g_strndup (ferry_obj_string (alias, "target"), 12);
      row[2] = g_ascii_strup (*type != '\0' ? type : "container", -1);
      row[3] = g_strdup (ferry_obj_string (alias, "description"));
      ferry_table_add_row (table, row);
    }
  ferry_table_sort (table);
  json_node_set_array (raw, aliases);
  ferry_output_print (format, table, raw);
  return 0;
}

static int
cmd_alias_create (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *alias = NULL;
  g_autofree char *fingerprint = NULL;
  FerryClient *client = ferry_cli_resolve (cli, pos[0], &alias, error);

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  fingerprint = dereference_image (client, pos[1], error);
  if (fingerprint == NULL || !create_alias (client, alias, fingerprint, error))
    return FERRY_EXIT_ERROR;
  return 0;
}

static int
cmd_alias_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *alias = NULL;
  FerryClient *client = ferry_cli_resolve (cli, ferry_args_positional (args)[0], &alias, error);
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr (JsonNode) result = NULL;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  escaped = ferry_client_escape (alias);
  path = g_strdup_printf ("/1.0/images/aliases/%s", escaped);
  result = ferry_client_query (client, "DELETE", path, NULL, NULL, NULL, error);
  return result != NULL ? 0 : FERRY_EXIT_ERROR;
}

static const FerryOption format_options[] = {
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const FerryOption image_list_options[] = {
  { "columns", 'c', FERRY_OPT_STRING, "Columns (default \"lfpdatsu\")" },
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};
static const FerryOption image_import_options[] = {
  { "alias", 0, FERRY_OPT_STRV, "New aliases to add to the image" },
  { "public", 0, FERRY_OPT_BOOL, "Make image public" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };
static const char *const delete_aliases[] = { "rm", NULL };

static const FerryCommand alias_create = {
  .name = "create", .summary = "Create aliases for existing images", .usage = "[<remote>:]<alias> <fingerprint>",
  .run = cmd_alias_create, .min_args = 2, .max_args = 2,
};
static const FerryCommand alias_delete = {
  .name = "delete", .aliases = delete_aliases, .summary = "Delete image aliases", .usage = "[<remote>:]<alias>",
  .run = cmd_alias_delete, .min_args = 1, .max_args = 1,
};
static const FerryCommand alias_list = {
  .name = "list", .aliases = list_aliases, .summary = "List image aliases", .usage = "[<remote>:] [<filters>...]",
  .options = format_options, .run = cmd_alias_list, .min_args = -1,
};
static const FerryCommand *const alias_commands[] = { &alias_create, &alias_delete, &alias_list, NULL };
static const FerryCommand image_alias = {
  .name = "alias", .summary = "Manage image aliases", .subcommands = alias_commands,
};

static const FerryCommand image_delete = {
  .name = "delete", .aliases = delete_aliases, .summary = "Delete images",
  .usage = "[<remote>:]<image> [[<remote>:]<image>...]", .run = cmd_image_delete, .min_args = 1, .max_args = -1,
};
static const FerryCommand image_import = {
  .name = "import", .summary = "Import images into the image store",
  .usage = "<tarball> [<remote>:] [key=value...]", .options = image_import_options, .run = cmd_image_import,
  .min_args = 1, .max_args = -1,
};
static const FerryCommand image_export = {
  .name = "export", .summary = "Export and download images", .usage = "[<remote>:]<image> [<target>]",
  .run = cmd_image_export, .min_args = 1, .max_args = 2,
};
static const FerryCommand image_info = {
  .name = "info", .summary = "Show useful information about images", .usage = "[<remote>:]<image>",
  .run = cmd_image_info, .min_args = 1, .max_args = 1,
};
static const FerryCommand image_list = {
  .name = "list", .aliases = list_aliases, .summary = "List images", .usage = "[<remote>:] [<filter>...]",
  .options = image_list_options, .run = cmd_image_list, .min_args = -1,
};
static const FerryCommand *const image_commands[] = { &image_alias,  &ferry_cmd_image_build, &image_delete,
                                                      &image_import, &image_info, &image_list, &image_export, NULL };

const FerryCommand ferry_cmd_image = {
  .name = "image",
  .summary = "Manage images",
  .subcommands = image_commands,
};
