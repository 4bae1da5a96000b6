/* Image templates applied as LXD applies them (templates.h). */
#include "daemon/templates.h"
#include "image/metadata.h"
#include "image/template.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct FerryTemplateJob
{
  char *name;
  char *instance_dir;
  char *rootfs;
  char *deferred; /* volatile.apply_template, or NULL */
  JsonObject *instance_meta; /* name, architecture, privileged, ephemeral */
  GHashTable *config;        /* expanded */
  gboolean applied; /* the deferred trigger's templates are written */
};

FerryTemplateJob *
ferry_templates_job_new (FerryDaemon *d, FerryInstance *inst)
{
  FerryTemplateJob *job = g_new0 (FerryTemplateJob, 1);
  const char *deferred;
  const char *privileged;

  job->name = g_strdup (inst->row->name);
  job->instance_dir = ferry_layout_instance_dir (d->layout, inst->row->name);
  job->rootfs = ferry_layout_rootfs (d->layout, inst->row->name);
  job->config = ferry_instance_expanded_config (d, inst);
  deferred = g_hash_table_lookup (job->config, "volatile.apply_template");
  job->deferred = deferred != NULL && *deferred != '\0' ? g_strdup (deferred) : NULL;
  privileged = g_hash_table_lookup (job->config, "security.privileged");
  /* LXD's containerMeta: every value a string. */
  job->instance_meta = json_object_new ();
  json_object_set_string_member (job->instance_meta, "name", inst->row->name);
  json_object_set_string_member (job->instance_meta, "architecture",
                                 inst->row->architecture != NULL ? inst->row->architecture : "");
  json_object_set_string_member (job->instance_meta, "privileged",
                                 privileged != NULL && (strcmp (privileged, "true") == 0 || strcmp (privileged, "1") == 0
                                                        || strcmp (privileged, "yes") == 0 || strcmp (privileged, "on") == 0)
                                   ? "true"
                                   : "false");
  json_object_set_string_member (job->instance_meta, "ephemeral", inst->row->ephemeral ? "true" : "false");
  return job;
}

void
ferry_templates_job_free (FerryTemplateJob *job)
{
  if (job == NULL)
    return;
  g_free (job->name);
  g_free (job->instance_dir);
  g_free (job->rootfs);
  g_free (job->deferred);
  g_clear_pointer (&job->instance_meta, json_object_unref);
  g_clear_pointer (&job->config, g_hash_table_unref);
  g_free (job);
}

void
ferry_templates_job_done (FerryDaemon *d, FerryInstance *inst, FerryTemplateJob *job)
{
  g_autoptr (GHashTable) config = NULL;
  g_autoptr (GError) error = NULL;

  if (job == NULL || !job->applied || job->deferred == NULL)
    return;
  config = ferry_instance_own_config (inst);
  if (!g_hash_table_remove (config, "volatile.apply_template"))
    return;
  ferry_instance_set_own_config (inst, config);
  if (!ferry_instance_save (d, inst, &error))
    g_warning ("Saving %s after applying its templates: %s", inst->row->name, error->message);
}

/* ---- reading ---- */

/* A small regular file of ferryd's own (never through a symlink); NULL
 * with *missing when absent. */
static char *
read_own_file (const char *path, gsize *len, gboolean *missing, GError **error)
{
  ferry_autofd int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  g_autoptr (GString) data = g_string_new (NULL);
  struct stat st;
  char buf[64 * 1024];
  ssize_t n;

  *missing = fd < 0 && errno == ENOENT;
  if (*missing)
    return NULL;
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", path,
                   fd < 0 ? g_strerror (errno) : "not a regular file");
      return NULL;
    }
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      g_string_append_len (data, buf, n);
      if (data->len > FERRY_IMAGE_METADATA_MAX)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s is too large", path);
          return NULL;
        }
    }
  if (n < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Reading %s: %s", path, g_strerror (errno));
      return NULL;
    }
  *len = data->len;
  return g_string_free (g_steal_pointer (&data), FALSE);
}

/* ---- writing inside the rootfs ---- */

static int
open_in_root (int rootfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = { .flags = (guint64) (flags | O_CLOEXEC),
                          .mode = (flags & O_CREAT) ? mode : 0,
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

  while (*path == '/')
    path++;
  return (int) syscall (SYS_openat2, rootfd, *path != '\0' ? path : ".", &how, sizeof how);
}

/* The directory DIR inside the root, its missing components created
 * (0755, root's, as LXD's MkdirAllOwner). */
static int
open_dir_creating (int rootfd, const char *dir, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (dir, "/", -1);
  ferry_autofd int fd = open_in_root (rootfd, "/", O_PATH | O_DIRECTORY, 0);

  for (guint i = 0; fd >= 0 && parts[i] != NULL; i++)
    {
      int next;

      if (*parts[i] == '\0' || strcmp (parts[i], ".") == 0)
        continue;
      /* Each step resolved inside the root again: ".." and symlinks stay in. */
      {
        struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        g_autofree char *sofar = NULL;
        g_autoptr (GString) prefix = g_string_new ("");

        for (guint j = 0; j <= i; j++)
          if (*parts[j] != '\0')
            g_string_append_printf (prefix, "/%s", parts[j]);
        sofar = g_strdup (prefix->str + 1);
        next = (int) syscall (SYS_openat2, rootfd, sofar, &how, sizeof how);
        if (next < 0 && errno == ENOENT && strcmp (parts[i], "..") != 0)
          {
            if (mkdirat (fd, parts[i], 0755) < 0 && errno != EEXIST)
              {
                g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating directory %s: %s", sofar,
                             g_strerror (errno));
                return -1;
              }
            next = (int) syscall (SYS_openat2, rootfd, sofar, &how, sizeof how);
          }
        if (next < 0)
          {
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Opening directory /%s: %s", sofar,
                         g_strerror (errno));
            return -1;
          }
      }
      close (fd);
      fd = next;
    }
  if (fd < 0)
    g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening the root: %s", g_strerror (errno));
  return g_steal_fd (&fd);
}

static gboolean
parse_id (JsonObject *tpl, const char *member, int base, gint64 *out)
{
  const char *text = json_object_has_member (tpl, member) ? json_object_get_string_member (tpl, member) : NULL;
  guint64 v;

  *out = -1;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, base, 0, G_MAXUINT32 - 1, &v, NULL))
    return FALSE;
  *out = (gint64) v;
  return TRUE;
}

/* Writes CONTENT at PATH inside the root as LXD does: an existing file is
 * truncated and rewritten (skipped when create_only), a new one is made
 * root's, 0644, its directories first. A final symlink is followed inside
 * the root; what it leads to must be a regular file. */
static gboolean
write_in_root (int rootfd, const char *path, JsonObject *tpl, const char *content, GError **error)
{
  g_autofree char *trimmed = g_strdup (path);
  g_autofree char *dir = NULL;
  const char *base;
  char *slash;
  ferry_autofd int dirfd = -1;
  ferry_autofd int pathfd = -1;
  ferry_autofd int fd = -1;
  g_autofree char *proc = NULL;
  struct stat st;
  gint64 uid, gid, mode;
  gboolean created = FALSE;
  gsize len = strlen (content);

  g_strstrip (trimmed);
  while (strlen (trimmed) > 1 && trimmed[strlen (trimmed) - 1] == '/')
    trimmed[strlen (trimmed) - 1] = '\0';
  slash = strrchr (trimmed, '/');
  base = slash != NULL ? slash + 1 : trimmed;
  dir = slash != NULL ? g_strndup (trimmed, (gsize) (slash - trimmed)) : g_strdup ("");
  if (*base == '\0' || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template target \"%s\" names no file", path);
      return FALSE;
    }
  if (!parse_id (tpl, "uid", 10, &uid) || !parse_id (tpl, "gid", 10, &gid) || !parse_id (tpl, "mode", 8, &mode))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template for \"%s\": bad uid, gid or mode", path);
      return FALSE;
    }
  pathfd = open_in_root (rootfd, trimmed, O_PATH, 0);
  if (pathfd >= 0)
    {
      if (json_object_get_boolean_member (tpl, "create_only"))
        return TRUE;
      if (fstat (pathfd, &st) < 0 || !S_ISREG (st.st_mode))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template target \"%s\" is not a regular file", path);
          return FALSE;
        }
      /* The same inode opened for writing: what the path now names does not matter. */
      proc = g_strdup_printf ("/proc/self/fd/%d", pathfd);
      fd = open (proc, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    }
  else if (errno == ENOENT)
    {
      dirfd = open_dir_creating (rootfd, dir, error);
      if (dirfd < 0)
        return FALSE;
      fd = openat (dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      created = fd >= 0;
      if (fd < 0 && errno == EEXIST)
        {
          /* A dangling symlink: as LXD, the file it names is created, but
           * found inside the root; only a regular file is written. */
          fd = open_in_root (rootfd, trimmed, O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK, 0644);
          if (fd >= 0 && (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template target \"%s\" is not a regular file",
                           path);
              return FALSE;
            }
        }
    }
  if (fd < 0)
    {
      g_set_error (error, FERRY_ERROR, errno == ELOOP || errno == EXDEV ? FERRY_ERROR_INVALID : FERRY_ERROR_FAILED,
                   "Opening template target \"%s\": %s", path, g_strerror (errno));
      return FALSE;
    }
  if (created && (fchown (fd, 0, 0) < 0 || fchmod (fd, 0644) < 0))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Setting up \"%s\": %s", path, g_strerror (errno));
      return FALSE;
    }
  if ((uid >= 0 || gid >= 0) && fchown (fd, uid >= 0 ? (uid_t) uid : (uid_t) -1, gid >= 0 ? (gid_t) gid : (gid_t) -1) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Changing the owner of \"%s\": %s", path, g_strerror (errno));
      return FALSE;
    }
  if (mode >= 0 && fchmod (fd, (mode_t) mode) < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Changing the mode of \"%s\": %s", path, g_strerror (errno));
      return FALSE;
    }
  if (ftruncate (fd, 0) < 0 || !ferry_write_all (fd, content, len))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing template target \"%s\": %s", path,
                   g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
when_matches (JsonObject *tpl, const char *trigger)
{
  JsonNode *when = json_object_get_member (tpl, "when");
  JsonArray *a;

  if (when == NULL || !JSON_NODE_HOLDS_ARRAY (when))
    return FALSE;
  a = json_node_get_array (when);
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (g_strcmp0 (json_array_get_string_element (a, i), trigger) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
apply_one (FerryTemplateJob *job, int rootfd, const char *trigger, const char *path, JsonObject *tpl, GError **error)
{
  const char *name = json_object_get_string_member (tpl, "template");
  g_autofree char *tpl_path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *rendered = NULL;
  g_autoptr (JsonObject) context = json_object_new ();
  JsonNode *props = json_object_get_member (tpl, "properties");
  gboolean missing;
  gsize len = 0;

  if (!ferry_image_template_name_valid (name))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template for \"%s\" names no file of templates/", path);
      return FALSE;
    }
  tpl_path = g_build_filename (job->instance_dir, "templates", name, NULL);
  text = read_own_file (tpl_path, &len, &missing, error);
  if (text == NULL)
    {
      if (missing)
        g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Template file \"%s\" for \"%s\" is missing", name, path);
      return FALSE;
    }
  if (memchr (text, '\0', len) != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template file \"%s\" is not text", name);
      return FALSE;
    }
  json_object_set_string_member (context, "trigger", trigger);
  json_object_set_string_member (context, "path", path);
  json_object_set_object_member (context, "container", json_object_ref (job->instance_meta));
  json_object_set_object_member (context, "instance", json_object_ref (job->instance_meta));
  json_object_set_member (context, "config", ferry_json_from_string_map (job->config));
  json_object_set_member (context, "properties",
                          props != NULL ? json_node_copy (props) : json_node_init_null (json_node_alloc ()));
  rendered = ferry_template_render (text, context, job->config, error);
  if (rendered == NULL)
    {
      g_prefix_error (error, "Rendering template \"%s\": ", name);
      return FALSE;
    }
  return write_in_root (rootfd, path, tpl, rendered, error);
}

static gboolean
apply_trigger (FerryTemplateJob *job, int rootfd, JsonObject *templates, const char *trigger, GError **error)
{
  g_autoptr (GList) paths = ferry_json_sorted_members (templates);

  for (GList *l = paths; l != NULL; l = l->next)
    {
      JsonObject *tpl = json_object_get_object_member (templates, l->data);
      if (when_matches (tpl, trigger) && !apply_one (job, rootfd, trigger, l->data, tpl, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ferry_templates_apply (FerryTemplateJob *job, GError **error)
{
  g_autofree char *md_path = g_build_filename (job->instance_dir, "metadata.yaml", NULL);
  g_autofree char *data = NULL;
  g_autoptr (JsonNode) md = NULL;
  ferry_autofd int rootfd = -1;
  JsonNode *templates;
  gboolean missing;
  gsize len = 0;

  data = read_own_file (md_path, &len, &missing, error);
  if (data == NULL)
    {
      job->applied = missing;
      return missing;
    }
  md = ferry_image_metadata_read_json (data, len, error);
  if (md == NULL)
    return FALSE;
  templates = json_object_get_member (json_node_get_object (md), "templates");
  if (templates == NULL || !JSON_NODE_HOLDS_OBJECT (templates))
    return job->applied = TRUE;
  rootfd = open (job->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", job->rootfs, g_strerror (errno));
      return FALSE;
    }
  /* As LXD, a failed template leaves the deferred trigger for the next start. */
  if (job->deferred != NULL
      && !apply_trigger (job, rootfd, json_node_get_object (templates), job->deferred, error))
    return FALSE;
  job->applied = TRUE;
  return apply_trigger (job, rootfd, json_node_get_object (templates), "start", error);
}
