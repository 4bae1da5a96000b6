/* This host's migration facts: what /proc, uname and statvfs say, and what
 * CRIU says of the CPU and the kernel (cached per boot and CRIU binary). */
#include "migrate/facts.h"
#include "migrate/feasibility.h"

#include "checkpoint/checkpoint.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

/* `criu check --feature` probes run at once on a cache miss. */
#define FEATURE_PROBES_AT_ONCE 8

/* Runs criu ARGS...; *OUTPUT gets stdout and stderr together. */
static gboolean
run_criu (const char *const *argv, char **output, int *exit_status, GError **error)
{
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *out = NULL;

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, error);
  if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, error))
    {
      g_prefix_error (error, "Running %s: ", argv[0]);
      return FALSE;
    }
  *exit_status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : 128;
  if (output != NULL)
    *output = g_steal_pointer (&out);
  return TRUE;
}

/* "Version: 4.2.1" -> 40201 (libcriu's numbering). */
static int
criu_version (const char *criu, char **text)
{
  const char *argv[] = { criu, "--version", NULL };
  g_autofree char *out = NULL;
  int status, major = 0, minor = 0, sub = 0;
  char *v;

  if (!run_criu (argv, &out, &status, NULL) || status != 0 || (v = strstr (out, "Version: ")) == NULL)
    return 0;
  v += strlen ("Version: ");
  if (sscanf (v, "%d.%d.%d", &major, &minor, &sub) < 2)
    return 0;
  *text = g_strndup (v, strcspn (v, " \n"));
  return major * 10000 + minor * 100 + sub;
}

/* The feature names `criu check --feature` accepts, from its --help. */
static char **
criu_feature_names (const char *criu)
{
  const char *argv[] = { criu, "--help", NULL };
  g_autofree char *out = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int status;
  const char *p;

  if (!run_criu (argv, &out, &status, NULL) || (p = strstr (out, "--feature FEAT")) == NULL
      || (p = strstr (p, "one of:")) == NULL)
    return NULL;
  p += strlen ("one of:");
  /* Comma-separated names over indented lines, up to the blank line. */
  const char *end = strstr (p, "\n\n");
  g_autofree char *list = end != NULL ? g_strndup (p, end - p) : g_strdup (p);
  g_auto (GStrv) parts = g_strsplit_set (list, ", \n", -1);
  for (char **n = parts; *n != NULL; n++)
    if (**n != '\0')
      g_ptr_array_add (names, g_strdup (*n));
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

/* {"feature": supported, ...}, by `criu check --feature F`'s exit status. */
static JsonNode *
probe_criu_features (const char *criu)
{
  g_auto (GStrv) names = criu_feature_names (criu);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint n = names != NULL ? g_strv_length (names) : 0;

  if (n == 0)
    return NULL;
  json_builder_begin_object (b);
  for (guint first = 0; first < n; first += FEATURE_PROBES_AT_ONCE)
    {
      GSubprocess *procs[FEATURE_PROBES_AT_ONCE] = { NULL };
      guint count = MIN (FEATURE_PROBES_AT_ONCE, n - first);
      for (guint i = 0; i < count; i++)
        {
          const char *argv[] = { criu, "check", "--feature", names[first + i], NULL };
          procs[i] = g_subprocess_newv (
              argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
        }
      for (guint i = 0; i < count; i++)
        {
          gboolean ok = procs[i] != NULL && g_subprocess_wait (procs[i], NULL, NULL)
                        && g_subprocess_get_if_exited (procs[i])
                        && g_subprocess_get_exit_status (procs[i]) == 0;
          json_builder_set_member_name (b, names[first + i]);
          json_builder_add_boolean_value (b, ok);
          g_clear_object (&procs[i]);
        }
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* base64 of the cpuinfo.img `criu cpuinfo dump` writes. */
static char *
dump_cpuinfo (const char *criu, GError **error)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-cpuinfo-XXXXXX", error);
  g_autofree char *out = NULL, *image = NULL, *data = NULL;
  gsize len = 0;
  int status = -1;
  char *b64 = NULL;

  if (dir == NULL)
    return NULL;
  const char *argv[] = { criu, "cpuinfo", "dump", "-D", dir, "-o", "cpuinfo-dump.log", NULL };
  image = g_build_filename (dir, "cpuinfo.img", NULL);
  if (run_criu (argv, &out, &status, error)
      && (status != 0 || !g_file_get_contents (image, &data, &len, NULL)))
    {
      g_autofree char *log = g_build_filename (dir, "cpuinfo-dump.log", NULL);
      g_autofree char *errors = ferry_criu_log_errors (log);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "`criu cpuinfo dump` failed (exit status %d): %s",
                   status, *errors ? errors : g_strstrip (out));
    }
  else if (data != NULL)
    b64 = g_base64_encode ((const guchar *) data, len);
  ferry_rm_rf (dir, NULL);
  return b64;
}

static const char *
cache_path (void)
{
  const char *env = g_getenv ("FERRY_MIGRATE_CACHE");

  return env != NULL && *env != '\0' ? env : FERRY_MIGRATE_CACHE;
}

/* What the cached facts depend on: this boot, this CRIU binary. */
static char *
cache_key (const char *criu, const char *version_text)
{
  g_autofree char *boot_id = ferry_read_small_file ("/proc/sys/kernel/random/boot_id");
  g_autofree char *real = realpath (criu, NULL);
  struct stat st;

  if (boot_id == NULL || real == NULL || stat (real, &st) < 0)
    return NULL;
  return g_strdup_printf ("%s %s %s %lld.%09ld", boot_id, real, version_text, (long long) st.st_mtim.tv_sec,
                          st.st_mtim.tv_nsec);
}

/* The cached {"key", "cpuinfo", "features"} for KEY, or NULL. */
static JsonObject *
cache_load (const char *key)
{
  g_autofree char *text = NULL;
  g_autoptr (JsonObject) obj = NULL;
  const char *cached_key = NULL, *cpuinfo = NULL;

  if (key == NULL || !g_file_get_contents (cache_path (), &text, NULL, NULL))
    return NULL;
  obj = ferry_json_parse_object (text, strlen (text), FALSE, NULL);
  if (obj == NULL || !ferry_json_get_string (obj, "key", &cached_key, NULL)
      || !ferry_json_get_string (obj, "cpuinfo", &cpuinfo, NULL) || g_strcmp0 (cached_key, key) != 0
      || cpuinfo == NULL)
    return NULL;
  return g_steal_pointer (&obj);
}

static void
cache_store (const char *key, const char *cpuinfo, JsonNode *features)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *dir = g_path_get_dirname (cache_path ());

  if (key == NULL)
    return;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "key");
  json_builder_add_string_value (b, key);
  json_builder_set_member_name (b, "cpuinfo");
  json_builder_add_string_value (b, cpuinfo);
  if (features != NULL)
    {
      json_builder_set_member_name (b, "features");
      json_builder_add_value (b, json_node_copy (features));
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  g_autofree char *text = ferry_json_to_string (root, FALSE);
  if (ferry_mkdir_p (dir, 0755, NULL))
    ferry_write_file_atomic (cache_path (), text, -1, 0644, NULL);
}

/* The "criu" object: version, cpuinfo and features (cached). */
static JsonNode *
criu_facts (const char *criu, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *version_text = NULL, *key = NULL, *cpuinfo = NULL;
  g_autoptr (JsonObject) cached = NULL;
  g_autoptr (JsonNode) features = NULL;
  int version = criu != NULL ? criu_version (criu, &version_text) : 0;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, version);
  if (version > 0)
    {
      json_builder_set_member_name (b, "version_text");
      json_builder_add_string_value (b, version_text);
      key = cache_key (criu, version_text);
      if ((cached = cache_load (key)) != NULL)
        {
          cpuinfo = g_strdup (json_object_get_string_member (cached, "cpuinfo"));
          JsonNode *f = json_object_get_member (cached, "features");
          features = f != NULL ? json_node_copy (f) : NULL;
        }
      else
        {
          if ((cpuinfo = dump_cpuinfo (criu, error)) == NULL)
            return NULL;
          features = probe_criu_features (criu);
          cache_store (key, cpuinfo, features);
        }
      json_builder_set_member_name (b, "cpuinfo");
      json_builder_add_string_value (b, cpuinfo);
      if (features != NULL)
        {
          json_builder_set_member_name (b, "features");
          json_builder_add_value (b, g_steal_pointer (&features));
        }
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* /proc/filesystems: "nodev\tsysfs" or "\text4" per line. */
static gboolean
add_proc_filesystems (JsonBuilder *b, GError **error)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents ("/proc/filesystems", &text, NULL, error))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  json_builder_begin_array (b);
  for (char **l = lines; *l != NULL; l++)
    {
      const char *name = strchr (*l, '\t');
      if (name != NULL && name[1] != '\0')
        json_builder_add_string_value (b, name + 1);
    }
  json_builder_end_array (b);
  return TRUE;
}

/* "model name : AMD EPYC ..." (x86; other architectures have none). */
static char *
cpu_model (void)
{
  g_autofree char *text = NULL;
  const char *p, *colon;

  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL) || (p = strstr (text, "model name")) == NULL
      || (colon = strchr (p, ':')) == NULL)
    return NULL;
  colon++;
  return g_strstrip (g_strndup (colon, strcspn (colon, "\n")));
}

JsonNode *
ferry_migrate_host_facts (const char *criu_path, const char *root_dir, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) criu = NULL;
  g_autofree char *model = cpu_model ();
  struct utsname u;
  struct statvfs vfs;
  int major = 0, minor = 0, patch = 0;

  if (uname (&u) < 0 || statvfs (root_dir, &vfs) < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading the facts of this host (%s): %s",
                   root_dir, g_strerror (saved));
      return NULL;
    }
  if ((criu = criu_facts (criu_path, error)) == NULL)
    return NULL;
  sscanf (u.release, "%d.%d.%d", &major, &minor, &patch);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, u.machine);
  json_builder_set_member_name (b, "kernel");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "release");
  json_builder_add_string_value (b, u.release);
  json_builder_set_member_name (b, "major");
  json_builder_add_int_value (b, major);
  json_builder_set_member_name (b, "minor");
  json_builder_add_int_value (b, minor);
  json_builder_set_member_name (b, "patch");
  json_builder_add_int_value (b, patch);
  json_builder_end_object (b);
  if (model != NULL)
    {
      json_builder_set_member_name (b, "cpu_model");
      json_builder_add_string_value (b, model);
    }
  json_builder_set_member_name (b, "criu");
  json_builder_add_value (b, g_steal_pointer (&criu));
  json_builder_set_member_name (b, "filesystems");
  if (!add_proc_filesystems (b, error))
    return NULL;
  json_builder_set_member_name (b, "root");
  json_builder_add_string_value (b, root_dir);
  json_builder_set_member_name (b, "free_bytes");
  json_builder_add_int_value (b, (gint64) vfs.f_bavail * (gint64) vfs.f_frsize);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

JsonNode *
ferry_migrate_container_needs (pid_t init_pid, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *path = g_strdup_printf ("/proc/%d/mountinfo", (int) init_pid);
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) types = g_ptr_array_new ();
  struct utsname u;

  if (!g_file_get_contents (path, &text, NULL, error))
    {
      g_prefix_error (error, "Reading the container's mounts: ");
      return NULL;
    }
  /* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the
   * type follows the " - " separator. */
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      char *sep = strstr (*l, " - ");
      if (sep == NULL)
        continue;
      char *type = sep + 3;
      type[strcspn (type, " ")] = '\0';
      if (*type != '\0' && !g_ptr_array_find_with_equal_func (types, type, g_str_equal, NULL))
        g_ptr_array_add (types, type);
    }
  g_ptr_array_sort (types, compare_strings);
  uname (&u);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "pid");
  json_builder_add_int_value (b, init_pid);
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, u.machine);
  json_builder_set_member_name (b, "filesystems");
  json_builder_begin_array (b);
  for (guint i = 0; i < types->len; i++)
    json_builder_add_string_value (b, types->pdata[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
ferry_migrate_cpu_check (const char *criu_path, JsonObject *source_host, gboolean *compatible,
                         char **criu_says, GError **error)
{
  JsonObject *criu = NULL;
  const char *b64 = NULL;
  g_autofree guchar *image = NULL;
  g_autofree char *dir = NULL, *image_path = NULL, *out = NULL;
  gsize len = 0;
  int status;
  gboolean ran = FALSE;

  *compatible = FALSE;
  *criu_says = NULL;
  if (!ferry_json_get_object (source_host, "criu", &criu, error)
      || (criu != NULL && !ferry_json_get_string (criu, "cpuinfo", &b64, error)))
    return FALSE;
  if (b64 == NULL || (image = g_base64_decode (b64, &len)) == NULL || len == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The source's facts carry no CPU description (cpuinfo)");
      return FALSE;
    }
  if ((dir = g_dir_make_tmp ("ferry-cpuinfo-XXXXXX", error)) == NULL)
    return FALSE;
  image_path = g_build_filename (dir, "cpuinfo.img", NULL);
  const char *argv[]
      = { criu_path, "cpuinfo", "check", "-D", dir, "--cpu-cap=fpu,ins", "-o", "cpuinfo-check.log", NULL };
  if (g_file_set_contents (image_path, (const char *) image, len, error)
      && run_criu (argv, &out, &status, error))
    {
      ran = TRUE;
      *compatible = status == 0;
      if (!*compatible)
        {
          g_autofree char *log = g_build_filename (dir, "cpuinfo-check.log", NULL);
          g_autofree char *errors = ferry_criu_log_errors (log);
          g_auto (GStrv) lines = g_strsplit (*errors ? errors : g_strstrip (out), "\n", -1);
          *criu_says = g_strjoinv ("; ", lines);
          if (**criu_says == '\0')
            {
              g_free (*criu_says);
              *criu_says = g_strdup_printf ("exit status %d", status);
            }
        }
    }
  ferry_rm_rf (dir, NULL);
  return ran;
}

gboolean
ferry_migrate_check_disks (JsonObject *devices, GError **error)
{
  g_autoptr (GList) names = devices ? json_object_get_members (devices) : NULL;

  names = g_list_sort (names, (GCompareFunc) strcmp);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *n = json_object_get_member (devices, l->data);
      JsonObject *dev = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      const char *type, *path, *source, *required;
      struct stat st;

      if (dev == NULL)
        continue;
      type = json_object_get_string_member_with_default (dev, "type", "");
      path = json_object_get_string_member_with_default (dev, "path", NULL);
      source = json_object_get_string_member_with_default (dev, "source", NULL);
      required = json_object_get_string_member_with_default (dev, "required", "true");
      if (strcmp (type, "disk") != 0 || source == NULL || g_strcmp0 (path, "/") == 0)
        continue;
      if (g_strcmp0 (required, "false") == 0 || g_strcmp0 (required, "0") == 0 || g_strcmp0 (required, "no") == 0
          || g_strcmp0 (required, "off") == 0)
        continue;
      if (stat (source, &st) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT,
                       "Migration check '%s' failed: Disk device \"%s\": source \"%s\" does not exist on the target",
                       ferry_migrate_check_name (FERRY_MIGRATE_CHECK_DISKS), (const char *) l->data, source);
          return FALSE;
        }
    }
  return TRUE;
}
