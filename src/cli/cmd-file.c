/* ferry file push|pull|delete|edit (lxc/file.go): files in and out of an
 * instance through /1.0/instances/NAME/files, streamed both ways. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"

/* "[remote:]instance/path" -> client, instance, path (absolute). */
static FerryClient *
resolve_file (FerryCli *cli, const char *arg, char **instance_out, char **path_out, GError **error)
{
  g_autofree char *rest = NULL;
  FerryClient *client = ferry_cli_resolve (cli, arg, &rest, error);
  const char *slash;

  if (client == NULL)
    return NULL;
  slash = strchr (rest, '/');
  if (slash == NULL || slash == rest)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid target %s: expected <instance>/<path>", arg);
      return NULL;
    }
  *instance_out = g_strndup (rest, (gsize) (slash - rest));
  *path_out = g_strdup (slash);
  return client;
}

static char *
files_path (const char *instance, const char *path)
{
  g_autofree char *escaped_instance = ferry_client_escape (instance);
  g_autofree char *escaped_path = g_uri_escape_string (path, "/", FALSE);

  return g_strdup_printf ("/1.0/instances/%s/files?path=%s", escaped_instance, escaped_path);
}

/* ---- push ---- */

typedef struct
{
  FerryCli *cli;
  FerryClient *client;
  const char *instance;
  gint64 uid, gid; /* -1: the local file's */
  int mode;        /* -1: the local file's */
} Push;

static GHashTable *
push_headers (const Push *p, const struct stat *st, const char *type)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (h, "X-LXD-type", g_strdup (type));
  g_hash_table_insert (h, "X-LXD-uid", g_strdup_printf ("%" G_GINT64_FORMAT, p->uid >= 0 ? p->uid : (gint64) st->st_uid));
  g_hash_table_insert (h, "X-LXD-gid", g_strdup_printf ("%" G_GINT64_FORMAT, p->gid >= 0 ? p->gid : (gint64) st->st_gid));
  if (strcmp (type, "symlink") != 0)
    g_hash_table_insert (h, "X-LXD-mode", g_strdup_printf ("%04o", p->mode >= 0 ? (unsigned) p->mode
                                                                             : (unsigned) (st->st_mode & 0777)));
  g_hash_table_insert (h, "X-LXD-write", g_strdup ("overwrite"));
  return h;
}

static gboolean
post (const Push *p, const char *path, GInputStream *body, goffset size, GHashTable *headers, GError **error)
{
  g_autofree char *url = files_path (p->instance, path);
  g_autoptr (JsonNode) result = ferry_client_send_stream (p->client, "POST", url, body, size, headers, error);

  if (result == NULL)
    {
      g_prefix_error (error, "Pushing to %s: ", path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
push_directory_entry (const Push *p, const char *path, const struct stat *st, GError **error)
{
  g_autoptr (GHashTable) headers = push_headers (p, st, "directory");
  g_autoptr (GInputStream) empty = g_memory_input_stream_new ();

  return post (p, path, empty, 0, headers, error);
}

static gboolean
push_one (const Push *p, const char *local, const char *path, GError **error)
{
  struct stat st;

  if (lstat (local, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s: %s", local, g_strerror (errno));
      return FALSE;
    }
  if (S_ISLNK (st.st_mode))
    {
      g_autoptr (GHashTable) headers = push_headers (p, &st, "symlink");
      g_autofree char *target = g_file_read_link (local, error);
      g_autoptr (GInputStream) body = NULL;
      if (target == NULL)
        return FALSE;
      body = g_memory_input_stream_new_from_data (g_strdup (target), (gssize) strlen (target), g_free);
      return post (p, path, body, (goffset) strlen (target), headers, error);
    }
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) dir = g_dir_open (local, 0, error);
      const char *name;
      if (dir == NULL || !push_directory_entry (p, path, &st, error))
        return FALSE;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child_local = g_build_filename (local, name, NULL);
          g_autofree char *child_path = g_build_path ("/", path, name, NULL);
          if (!push_one (p, child_local, child_path, error))
            return FALSE;
        }
      return TRUE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s is not a file, directory or symlink", local);
      return FALSE;
    }
  g_autoptr (GFile) file = g_file_new_for_path (local);
  g_autoptr (GFileInputStream) in = g_file_read (file, NULL, error);
  g_autoptr (GHashTable) headers = push_headers (p, &st, "file");
  if (in == NULL)
    return FALSE;
  if (!p->cli->quiet && isatty (STDOUT_FILENO))
    {
      g_autofree char *line = g_strdup_printf ("Pushing %s to %s", local, path);
      ferry_cli_progress (p->cli, line);
    }
  gboolean ok = post (p, path, G_INPUT_STREAM (in), st.st_size, headers, error);
  ferry_cli_progress_done (p->cli);
  return ok;
}

/* -p: every missing parent of PATH, as directories owned as asked. */
static gboolean
push_parents (const Push *p, const char *path, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  g_autoptr (GString) prefix = g_string_new (NULL);
  struct stat st = { .st_mode = S_IFDIR | 0755 };
  guint n = g_strv_length (parts);

  for (guint i = 0; i + 1 < n; i++)
    {
      if (*parts[i] == '\0')
        continue;
      g_string_append_printf (prefix, "/%s", parts[i]);
      Push dirs = *p;
      if (dirs.mode < 0)
        dirs.mode = 0755;
      if (!push_directory_entry (&dirs, prefix->str, &st, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
parse_mode (const char *text, int *mode, GError **error)
{
  guint64 m;

  *mode = -1;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 8, 0, 0777, &m, NULL))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid mode %s (octal, such as 0644)", text);
      return FALSE;
    }
  *mode = (int) m;
  return TRUE;
}

static int
cmd_file_push (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  guint n = ferry_args_n_positional (args);
  g_autofree char *instance = NULL, *target = NULL;
  gboolean recursive = ferry_args_get_bool (args, "recursive");
  Push p = { .cli = cli };

  if (n < 2)
    {
      ferry_cli_usage_error (error);
      return FERRY_EXIT_ERROR;
    }
  p.client = resolve_file (cli, pos[n - 1], &instance, &target, error);
  if (p.client == NULL || !parse_mode (ferry_args_get_string (args, "mode", NULL), &p.mode, error))
    return FERRY_EXIT_ERROR;
  p.instance = instance;
  p.uid = ferry_args_get_int (args, "uid", -1);
  p.gid = ferry_args_get_int (args, "gid", -1);
  /* As lxc: into a directory when the target ends with '/' (always for -r
   * and several sources). */
  gboolean into_dir = g_str_has_suffix (target, "/") || recursive;
  if (n > 2 && !into_dir)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Missing target directory");
      return FERRY_EXIT_ERROR;
    }
  for (guint i = 0; i + 1 < n; i++)
    {
      g_autofree char *base = g_path_get_basename (pos[i]);
      g_autofree char *path = into_dir ? g_build_path ("/", target, base, NULL) : g_strdup (target);
      struct stat st;

      if (!recursive && stat (pos[i], &st) == 0 && S_ISDIR (st.st_mode))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s is a directory: use --recursive", pos[i]);
          return FERRY_EXIT_ERROR;
        }
      if ((ferry_args_get_bool (args, "create-dirs") && !push_parents (&p, path, error))
          || !push_one (&p, pos[i], path, error))
        return FERRY_EXIT_ERROR;
    }
  return 0;
}

/* ---- pull ---- */

typedef struct
{
  SoupMessageHeaders *headers;
  GInputStream *body;
} Answer;

static void
answer_clear (Answer *a)
{
  g_clear_pointer (&a->headers, soup_message_headers_unref);
  g_clear_object (&a->body);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Answer, answer_clear)

static gboolean
get (FerryClient *client, const char *instance, const char *path, Answer *a, GError **error)
{
  g_autofree char *url = files_path (instance, path);

  a->body = ferry_client_get_stream (client, url, &a->headers, error);
  if (a->body == NULL)
    g_prefix_error (error, "Pulling %s: ", path);
  return a->body != NULL;
}

static const char *
answer_type (Answer *a)
{
  const char *type = soup_message_headers_get_one (a->headers, "X-LXD-type");

  return type != NULL ? type : "file";
}

static char *
read_all (GInputStream *in, GError **error)
{
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();

  if (g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE, NULL, error) < 0
      || !g_output_stream_write_all (mem, "", 1, NULL, NULL, error) || !g_output_stream_close (mem, NULL, error))
    return NULL;
  return g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (mem));
}

static gboolean
save_file (Answer *a, const char *local, GError **error)
{
  g_autoptr (GOutputStream) out = NULL;
  const char *mode = soup_message_headers_get_one (a->headers, "X-LXD-mode");
  guint64 m = 0644;
  int fd;

  if (strcmp (local, "-") == 0)
    out = g_unix_output_stream_new (STDOUT_FILENO, FALSE);
  else
    {
      if (mode != NULL)
        g_ascii_string_to_unsigned (mode, 8, 0, 0777, &m, NULL);
      fd = open (local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t) m);
      if (fd < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", local, g_strerror (errno));
          return FALSE;
        }
      fchmod (fd, (mode_t) m);
      out = g_unix_output_stream_new (fd, TRUE);
    }
  return g_output_stream_splice (out, a->body, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) >= 0;
}

static gboolean pull_one (FerryClient *client, const char *instance, const char *path, const char *local,
                          gboolean recursive, int depth, GError **error);

static gboolean
pull_directory (FerryClient *client, const char *instance, const char *path, Answer *a, const char *local,
                int depth, GError **error)
{
  g_autofree char *text = read_all (a->body, error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *envelope;
  JsonArray *names;

  if (text == NULL || !json_parser_load_from_data (parser, text, -1, error))
    return FALSE;
  envelope = JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)) ? json_node_get_object (json_parser_get_root (parser))
                                                                    : NULL;
  names = envelope != NULL ? ferry_obj_array (envelope, "metadata") : NULL;
  if (mkdir (local, 0755) < 0 && errno != EEXIST)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", local, g_strerror (errno));
      return FALSE;
    }
  for (guint i = 0; names != NULL && i < json_array_get_length (names); i++)
    {
      const char *name = json_array_get_string_element (names, i);
      if (name == NULL || strchr (name, '/') != NULL || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        continue; /* never written outside LOCAL */
      g_autofree char *child_path = g_build_path ("/", path, name, NULL);
      g_autofree char *child_local = g_build_filename (local, name, NULL);
      if (!pull_one (client, instance, child_path, child_local, TRUE, depth, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
pull_one (FerryClient *client, const char *instance, const char *path, const char *local, gboolean recursive,
          int depth, GError **error)
{
  g_auto (Answer) a = { 0 };
  const char *type;

  if (!get (client, instance, path, &a, error))
    return FALSE;
  type = answer_type (&a);
  if (strcmp (type, "directory") == 0)
    {
      if (!recursive)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s is a directory: use --recursive", path);
          return FALSE;
        }
      return pull_directory (client, instance, path, &a, local, depth, error);
    }
  if (strcmp (type, "symlink") == 0)
    {
      g_autofree char *target = read_all (a.body, error);
      if (target == NULL)
        return FALSE;
      if (recursive && strcmp (local, "-") != 0)
        {
          /* Kept as a link, as lxc pull -r does. */
          unlink (local);
          if (symlink (target, local) < 0)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", local, g_strerror (errno));
              return FALSE;
            }
          return TRUE;
        }
      /* Followed inside the instance, as lxc file pull does. */
      if (depth >= 40)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s: too many levels of symbolic links", path);
          return FALSE;
        }
      g_autofree char *dir = g_path_get_dirname (path);
      g_autofree char *next = g_path_is_absolute (target) ? g_strdup (target) : g_build_path ("/", dir, target, NULL);
      return pull_one (client, instance, next, local, recursive, depth + 1, error);
    }
  return save_file (&a, local, error);
}

static int
cmd_file_pull (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  guint n = ferry_args_n_positional (args);
  const char *target = n > 0 ? pos[n - 1] : NULL;
  gboolean target_is_dir = target != NULL && g_file_test (target, G_FILE_TEST_IS_DIR);

  if (n < 2)
    {
      ferry_cli_usage_error (error);
      return FERRY_EXIT_ERROR;
    }
  if (n > 2 && !target_is_dir)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Target %s must be a directory", target);
      return FERRY_EXIT_ERROR;
    }
  if (ferry_args_get_bool (args, "create-dirs"))
    {
      g_autofree char *parent = g_str_has_suffix (target, "/") ? g_strdup (target) : g_path_get_dirname (target);
      if (g_mkdir_with_parents (parent, 0755) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", parent, g_strerror (errno));
          return FERRY_EXIT_ERROR;
        }
      target_is_dir = g_file_test (target, G_FILE_TEST_IS_DIR);
    }
  for (guint i = 0; i + 1 < n; i++)
    {
      g_autofree char *instance = NULL, *path = NULL;
      FerryClient *client = resolve_file (cli, pos[i], &instance, &path, error);
      g_autofree char *base = NULL, *local = NULL;

      if (client == NULL)
        return FERRY_EXIT_ERROR;
      base = g_path_get_basename (path);
      local = target_is_dir ? g_build_filename (target, base, NULL) : g_strdup (target);
      if (!pull_one (client, instance, path, local, ferry_args_get_bool (args, "recursive"), 0, error))
        return FERRY_EXIT_ERROR;
    }
  return 0;
}

/* ---- delete ---- */

static int
cmd_file_delete (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);

  for (guint i = 0; pos[i] != NULL; i++)
    {
      g_autofree char *instance = NULL, *path = NULL, *url = NULL;
      FerryClient *client = resolve_file (cli, pos[i], &instance, &path, error);
      g_autoptr (JsonNode) result = NULL;

      if (client == NULL)
        return FERRY_EXIT_ERROR;
      url = files_path (instance, path);
      result = ferry_client_query (client, "DELETE", url, NULL, NULL, NULL, error);
      if (result == NULL)
        return FERRY_EXIT_ERROR;
    }
  return 0;
}

/* ---- edit ---- */

static int
cmd_file_edit (FerryCli *cli, FerryArgs *args, GError **error)
{
  g_autofree char *instance = NULL, *path = NULL, *tmp = NULL;
  FerryClient *client = resolve_file (cli, ferry_args_positional (args)[0], &instance, &path, error);
  g_auto (Answer) a = { 0 };
  struct stat st = { 0 };
  Push p = { .cli = cli, .uid = -1, .gid = -1, .mode = -1 };
  g_autoptr (GFile) file = NULL;
  g_autoptr (GFileInputStream) in = NULL;
  g_autoptr (GHashTable) headers = NULL;
  int fd;

  if (client == NULL)
    return FERRY_EXIT_ERROR;
  p.client = client;
  p.instance = instance;
  fd = g_file_open_tmp ("ferry_file_edit_XXXXXX", &tmp, error);
  if (fd < 0)
    return FERRY_EXIT_ERROR;
  close (fd);
  /* As lxc: the new content from stdin when it is not a terminal. */
  if (!isatty (STDIN_FILENO))
    {
      g_autoptr (GInputStream) stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
      g_autoptr (GFile) out_file = g_file_new_for_path (tmp);
      g_autoptr (GFileOutputStream) out = g_file_replace (out_file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, error);
      if (out == NULL
          || g_output_stream_splice (G_OUTPUT_STREAM (out), stdin_stream, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL,
                                     error)
                 < 0)
        goto fail;
    }
  else
    {
      const char *editor = g_getenv ("VISUAL") ? g_getenv ("VISUAL") : g_getenv ("EDITOR") ? g_getenv ("EDITOR") : "vi";
      g_autofree char *quoted = g_shell_quote (tmp);
      g_autofree char *command = g_strdup_printf ("%s %s", editor, quoted);
      int status = 0;
      if (!get (client, instance, path, &a, error) || !save_file (&a, tmp, error))
        goto fail;
      if (!g_spawn_command_line_sync (command, NULL, NULL, &status, error))
        goto fail;
      if (!g_spawn_check_wait_status (status, error))
        goto fail;
    }
  /* Owner and mode stay those of the file in the instance. */
  {
    g_auto (Answer) current = { 0 };
    g_autoptr (GError) ignored = NULL;
    if (get (client, instance, path, &current, &ignored))
      {
        const char *uid = soup_message_headers_get_one (current.headers, "X-LXD-uid");
        const char *gid = soup_message_headers_get_one (current.headers, "X-LXD-gid");
        const char *mode = soup_message_headers_get_one (current.headers, "X-LXD-mode");
        p.uid = uid ? g_ascii_strtoll (uid, NULL, 10) : -1;
        p.gid = gid ? g_ascii_strtoll (gid, NULL, 10) : -1;
        p.mode = mode ? (int) g_ascii_strtoll (mode, NULL, 8) : -1;
      }
  }
  if (stat (tmp, &st) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s: %s", tmp, g_strerror (errno));
      goto fail;
    }
  if (p.uid < 0)
    p.uid = 0;
  if (p.gid < 0)
    p.gid = 0;
  file = g_file_new_for_path (tmp);
  in = g_file_read (file, NULL, error);
  headers = push_headers (&p, &st, "file");
  if (in == NULL || !post (&p, path, G_INPUT_STREAM (in), st.st_size, headers, error))
    goto fail;
  unlink (tmp);
  return 0;

fail:
  unlink (tmp);
  return FERRY_EXIT_ERROR;
}

static const FerryOption push_options[] = {
  { "create-dirs", 'p', FERRY_OPT_BOOL, "Create any directories necessary" },
  { "gid", 0, FERRY_OPT_INT, "Set the file's gid on push (default -1)" },
  { "mode", 0, FERRY_OPT_STRING, "Set the file's perms on push" },
  { "recursive", 'r', FERRY_OPT_BOOL, "Recursively transfer files" },
  { "uid", 0, FERRY_OPT_INT, "Set the file's uid on push (default -1)" },
  { NULL },
};

static const FerryOption pull_options[] = {
  { "create-dirs", 'p', FERRY_OPT_BOOL, "Create any directories necessary" },
  { "recursive", 'r', FERRY_OPT_BOOL, "Recursively transfer files" },
  { NULL },
};

static const char *const delete_aliases[] = { "rm", NULL };

static const FerryCommand file_delete = {
  .name = "delete", .aliases = delete_aliases, .summary = "Delete files in instances",
  .usage = "[<remote>:]<instance>/<path> [[<remote>:]<instance>/<path>...]", .run = cmd_file_delete,
  .min_args = 1, .max_args = -1,
};
static const FerryCommand file_edit = {
  .name = "edit", .summary = "Edit files in instances", .usage = "[<remote>:]<instance>/<path>",
  .run = cmd_file_edit, .min_args = 1, .max_args = 1,
};
static const FerryCommand file_pull = {
  .name = "pull", .summary = "Pull files from instances",
  .usage = "[<remote>:]<instance>/<path> [[<remote>:]<instance>/<path>...] <target path>",
  .examples = "  ferry file pull foo/etc/hosts .\n     To pull /etc/hosts from the instance and write it to the current directory.",
  .options = pull_options, .run = cmd_file_pull, .min_args = 2, .max_args = -1,
};
static const FerryCommand file_push = {
  .name = "push", .summary = "Push files into instances",
  .usage = "<source path>... [<remote>:]<instance>/<path>",
  .examples = "  ferry file push /etc/hosts foo/etc/hosts\n     To push /etc/hosts into the instance \"foo\".",
  .options = push_options, .run = cmd_file_push, .min_args = 2, .max_args = -1,
};
static const FerryCommand *const file_commands[] = { &file_delete, &file_edit, &file_pull, &file_push, NULL };

const FerryCommand ferry_cmd_file = {
  .name = "file",
  .summary = "Manage files in instances",
  .subcommands = file_commands,
};
