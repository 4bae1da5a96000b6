/* Runs mmdebstrap, shows its phases, keeps its log and turns its failures
 * into one sentence; the tarball it streams is packed as it comes. */
#include "config.h"

#include "image-build.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "image-pack.h"

/* mmdebstrap's "I: ..." lines -> what the status line says. */
static const struct
{
  const char *prefix;
  const char *phase;
} phases[] = {
  { "running --setup-hook", "checking the packages with apt" },
  { "running apt-get update", "updating the package lists" },
  { "downloading packages", "downloading packages" },
  { "extracting archives", "extracting the essential packages" },
  { "installing essential packages", "installing the essential packages" },
  { "installing remaining packages", "installing packages" },
  { "running --customize-hook", "configuring the container" },
  { "cleaning package lists", "cleaning up" },
  { "creating tarball", "writing the image" },
};

/* apt's words for "the mirror cannot be reached" and "no such package". */
static const char *const network_markers[] = {
  "Failed to fetch",   "Could not resolve", "Could not connect",    "Temporary failure resolving",
  "Connection failed", "Unable to connect", "Connection timed out", NULL,
};
static const char *const package_markers[] = {
  "Unable to locate package",
  "has no installation candidate",
  "unmet dependencies",
  "Unable to correct problems",
  "is not available",
  "Couldn't find any package",
  NULL,
};

typedef struct
{
  FerryCli *cli;
  const char *label;       /* "debian/bookworm" */
  GInputStream *stderr_in; /* mmdebstrap's stderr */
  FILE *log;
  gint64 started;
  GMutex lock; /* status and written, shared by the two threads */
  char *status;
  guint64 written;
  GPtrArray *problems; /* apt's and mmdebstrap's E: and Err: lines */
} Build;

static void
show_status (Build *b)
{
  g_autofree char *text = NULL;
  gint64 secs = (g_get_monotonic_time () - b->started) / G_USEC_PER_SEC;

  if (b->status == NULL)
    return;
  if (b->written > 0)
    text = g_strdup_printf ("Building %s: %s, %" G_GUINT64_FORMAT " MiB [%d:%02d]", b->label, b->status,
                            b->written / (1024 * 1024), (int) (secs / 60), (int) (secs % 60));
  else
    text = g_strdup_printf ("Building %s: %s [%d:%02d]", b->label, b->status, (int) (secs / 60), (int) (secs % 60));
  ferry_cli_progress (b->cli, text);
}

static void
note_line (Build *b, const char *line)
{
  gint64 secs = (g_get_monotonic_time () - b->started) / G_USEC_PER_SEC;

  fprintf (b->log, "[%4" G_GINT64_FORMAT "s] %s\n", secs, line);
  fflush (b->log);
  if (b->cli->verbose)
    g_printerr ("%s\n", line);
  if (g_str_has_prefix (line, "E: ") || g_str_has_prefix (line, "Err:") || g_str_has_prefix (line, "  ")
      || g_str_has_prefix (line, "W: Failed to fetch"))
    {
      /* Continuation lines ("  Could not connect ...") only after an Err:. */
      if (!g_str_has_prefix (line, "  ") || b->problems->len > 0)
        g_ptr_array_add (b->problems, g_strstrip (g_strdup (line)));
      return;
    }
  if (!g_str_has_prefix (line, "I: "))
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (phases); i++)
    if (g_str_has_prefix (line + 3, phases[i].prefix))
      {
        g_mutex_lock (&b->lock);
        g_free (b->status);
        b->status = g_strdup (phases[i].phase);
        show_status (b);
        g_mutex_unlock (&b->lock);
      }
}

static gpointer
read_stderr (gpointer data)
{
  Build *b = data;
  g_autoptr (GDataInputStream) in = g_data_input_stream_new (b->stderr_in);
  char *line;

  while ((line = g_data_input_stream_read_line_utf8 (in, NULL, NULL, NULL)) != NULL)
    {
      note_line (b, line);
      g_free (line);
    }
  return NULL;
}

static void
pack_progress (guint64 bytes, gpointer user_data)
{
  Build *b = user_data;

  g_mutex_lock (&b->lock);
  b->written = bytes;
  show_status (b);
  g_mutex_unlock (&b->lock);
}

static gboolean
contains_any (const char *line, const char *const *markers)
{
  for (; *markers != NULL; markers++)
    if (strstr (line, *markers) != NULL)
      return TRUE;
  return FALSE;
}

/* mmdebstrap repeats a failing command line after apt's own message: the
 * latter is what the user needs. */
static gboolean
is_wrapper_line (const char *line)
{
  return g_str_has_prefix (line, "E: setup failed") || g_str_has_prefix (line, "E: mmdebstrap failed")
         || g_str_has_prefix (line, "E: command failed") || g_str_has_prefix (line, "E: apt-get ")
         || strstr (line, "Some index files failed to download") != NULL;
}

static void
set_build_error (Build *b, const FerryImageRecipe *recipe, int status, GError **error)
{
  const char *first = NULL;
  g_autoptr (GString) apt = g_string_new (NULL);

  for (guint i = 0; i < b->problems->len; i++)
    {
      const char *line = b->problems->pdata[i];
      if (contains_any (line, network_markers))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "Cannot reach the Debian mirror %s: %s",
                       recipe->mirror, line);
          return;
        }
    }
  for (guint i = 0; i < b->problems->len; i++)
    {
      const char *line = b->problems->pdata[i];
      if (contains_any (line, package_markers))
        g_string_append_printf (apt, "%s%s", apt->len > 0 ? "; " : "", line);
      else if (first == NULL && !is_wrapper_line (line))
        first = line;
    }
  if (apt->len > 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "apt cannot install the packages in Debian %s: %s",
                 recipe->release->release, apt->str);
  else if (first != NULL)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "mmdebstrap failed: %s", first);
  else if (b->problems->len > 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "mmdebstrap failed: %s",
                 (const char *) b->problems->pdata[b->problems->len - 1]);
  else
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "mmdebstrap failed with exit status %d", status);
}

static GSubprocess *
spawn_mmdebstrap (const FerryImageRecipe *recipe, const char *deb_cache, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_auto (GStrv) argv = NULL;
  g_autofree char *found = g_find_program_in_path ("mmdebstrap");

  if (found == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "mmdebstrap is not installed: install Debian's package of that name (apt-get install mmdebstrap)");
      return NULL;
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE
                                        | G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  /* apt's messages are matched in English. */
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");
  argv = ferry_image_recipe_mmdebstrap_argv (recipe, deb_cache);
  return g_subprocess_launcher_spawnv (launcher, (const char *const *) argv, error);
}

gboolean
ferry_image_build_run (FerryCli *cli, const FerryImageRecipe *recipe, const char *deb_cache, int out_fd,
                       const char *compression, const char *log_path, GError **error)
{
  g_autofree char *label = g_strdup_printf ("%s/%s", recipe->release->distribution, recipe->release->release);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *metadata = ferry_image_recipe_metadata (recipe, now);
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) pack_error = NULL;
  Build b = { .cli = cli, .label = label, .started = g_get_monotonic_time (), .problems = problems };
  GThread *reader;
  gboolean packed;
  int status;

  b.log = fopen (log_path, "we");
  if (b.log == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating the build log %s: %s", log_path,
                   g_strerror (errno));
      return FALSE;
    }
  proc = spawn_mmdebstrap (recipe, deb_cache, error);
  if (proc == NULL)
    {
      fclose (b.log);
      return FALSE;
    }
  g_mutex_init (&b.lock);
  b.status = g_strdup ("starting mmdebstrap");
  show_status (&b);
  b.stderr_in = g_subprocess_get_stderr_pipe (proc);
  reader = g_thread_new ("mmdebstrap-log", read_stderr, &b);
  packed = ferry_image_pack (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (proc))),
                             out_fd, compression, metadata, ferry_image_recipe_templates (), pack_progress, &b,
                             &pack_error);
  /* If packing stopped early, mmdebstrap gets EPIPE and ends too. */
  g_input_stream_close (g_subprocess_get_stdout_pipe (proc), NULL, NULL);
  g_subprocess_wait (proc, NULL, NULL);
  g_thread_join (reader);
  ferry_cli_progress_done (cli);
  status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : 128;
  fprintf (b.log, "mmdebstrap exited with status %d; packing %s\n", status, packed ? "succeeded" : pack_error->message);
  fclose (b.log);
  g_free (b.status);
  g_mutex_clear (&b.lock);
  /* A failed write (disk full) stops mmdebstrap too: then ours is the cause;
     a truncated stream is mmdebstrap's failure, which it explains. */
  if (!packed && (status == 0 || !g_error_matches (pack_error, FERRY_ERROR, FERRY_ERROR_INVALID)))
    g_propagate_error (error, g_steal_pointer (&pack_error));
  else if (status != 0)
    set_build_error (&b, recipe, status, error);
  else
    return TRUE;
  ferry_error_add_log (error, log_path);
  return FALSE;
}

GHashTable *
ferry_image_list_debs (const char *deb_cache)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) dir = g_dir_open (deb_cache, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".deb"))
      g_hash_table_add (names, g_strdup (name));
  return names;
}

/* "libc6_2.36-9+deb12u9_amd64.deb" -> "libc6 amd64". */
static char *
package_of (const char *deb)
{
  g_auto (GStrv) parts = g_strsplit (deb, "_", -1);

  if (g_strv_length (parts) != 3)
    return NULL;
  return g_strdup_printf ("%s %s", parts[0], parts[2]);
}

void
ferry_image_prune_debs (const char *deb_cache, GHashTable *before)
{
  g_autoptr (GHashTable) after = ferry_image_list_debs (deb_cache);
  g_autoptr (GHashTable) updated = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (!g_hash_table_contains (before, name))
      {
        char *package = package_of (name);
        if (package != NULL)
          g_hash_table_add (updated, package);
      }
  g_hash_table_iter_init (&iter, before);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    {
      g_autofree char *package = package_of (name);
      if (package != NULL && g_hash_table_contains (updated, package) && g_hash_table_contains (after, name))
        {
          g_autofree char *path = g_build_filename (deb_cache, name, NULL);
          unlink (path);
        }
    }
}
