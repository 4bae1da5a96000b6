/* The target's feasibility checks for a live migration: pure logic over the
 * facts of both hosts (feasibility.h has the JSON shape). */
#include "migrate/feasibility.h"

#include "checkpoint/checkpoint.h"
#include "common/error.h"
#include "common/json.h"

#include <stdarg.h>
#include <string.h>

static const char *const check_names[] = {
  [FERRY_MIGRATE_CHECK_NONE] = "none",       [FERRY_MIGRATE_CHECK_FACTS] = "facts",
  [FERRY_MIGRATE_CHECK_CRIU] = "criu",       [FERRY_MIGRATE_CHECK_ARCHITECTURE] = "architecture",
  [FERRY_MIGRATE_CHECK_KERNEL] = "kernel",   [FERRY_MIGRATE_CHECK_CRIU_FEATURES] = "criu-features",
  [FERRY_MIGRATE_CHECK_CPU] = "cpu",         [FERRY_MIGRATE_CHECK_FILESYSTEMS] = "filesystems",
  [FERRY_MIGRATE_CHECK_STORAGE] = "storage",   [FERRY_MIGRATE_CHECK_DISKS] = "disks",
};

const char *
ferry_migrate_check_name (FerryMigrateCheck check)
{
  if ((gsize) check >= G_N_ELEMENTS (check_names))
    return "unknown";
  return check_names[check];
}

/* FALSE, with the one-sentence refusal of CHECK in ERROR. */
static gboolean refuse (FerryMigrateCheck check, FerryMigrateCheck *failed, GError **error, const char *fmt,
                        ...) G_GNUC_PRINTF (4, 5);

static gboolean
refuse (FerryMigrateCheck check, FerryMigrateCheck *failed, GError **error, const char *fmt, ...)
{
  g_autofree char *why = NULL;
  va_list ap;

  va_start (ap, fmt);
  why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (failed != NULL)
    *failed = check;
  g_set_error (error, FERRY_ERROR,
               check == FERRY_MIGRATE_CHECK_FACTS ? FERRY_ERROR_INVALID : FERRY_ERROR_CONFLICT,
               "Migration check '%s' failed: %s", ferry_migrate_check_name (check), why);
  return FALSE;
}

/* The facts as the checks read them; strings borrowed from the JSON. */
typedef struct
{
  const char *architecture;
  const char *kernel_release;
  gint64 kernel_major, kernel_minor;
  gint64 criu_version;
  const char *criu_version_text;
  JsonObject *criu_features; /* NULL if not probed */
  JsonArray *filesystems;
  const char *root;
  gint64 free_bytes;
  const char *cpu_model;
} HostFacts;

/* A member that must be there, of the right type. */
static gboolean
require (JsonObject *obj, const char *what, const char *member, GError **error)
{
  JsonNode *n = json_object_get_member (obj, member);

  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the %s facts have no \"%s\"", what, member);
      return FALSE;
    }
  return TRUE;
}

static gboolean read_host_members (JsonObject *host, const char *what, HostFacts *out, GError **error);

static gboolean
read_host (JsonObject *host, const char *what, HostFacts *out, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (read_host_members (host, what, out, &local))
    return TRUE;
  if (g_str_has_prefix (local->message, "the "))
    g_propagate_error (error, g_steal_pointer (&local));
  else
    g_propagate_prefixed_error (error, g_steal_pointer (&local), "in the %s facts: ", what);
  return FALSE;
}

static gboolean
read_host_members (JsonObject *host, const char *what, HostFacts *out, GError **error)
{
  JsonObject *kernel = NULL, *criu = NULL;

  memset (out, 0, sizeof *out);
  out->free_bytes = -1;
  if (host == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "the %s facts are missing", what);
      return FALSE;
    }
  if (!require (host, what, "architecture", error) || !require (host, what, "kernel", error)
      || !require (host, what, "criu", error) || !require (host, what, "filesystems", error)
      || !require (host, what, "free_bytes", error)
      || !ferry_json_get_string (host, "architecture", &out->architecture, error)
      || !ferry_json_get_object (host, "kernel", &kernel, error)
      || !ferry_json_get_object (host, "criu", &criu, error)
      || !ferry_json_get_array (host, "filesystems", &out->filesystems, error)
      || !ferry_json_get_string (host, "root", &out->root, error)
      || !ferry_json_get_string (host, "cpu_model", &out->cpu_model, error)
      || !ferry_json_get_int (host, "free_bytes", &out->free_bytes, error))
    return FALSE;
  if (!require (kernel, what, "major", error) || !require (kernel, what, "minor", error)
      || !ferry_json_get_string (kernel, "release", &out->kernel_release, error)
      || !ferry_json_get_int (kernel, "major", &out->kernel_major, error)
      || !ferry_json_get_int (kernel, "minor", &out->kernel_minor, error))
    return FALSE;
  if (!require (criu, what, "version", error)
      || !ferry_json_get_int (criu, "version", &out->criu_version, error)
      || !ferry_json_get_string (criu, "version_text", &out->criu_version_text, error)
      || !ferry_json_get_object (criu, "features", &out->criu_features, error))
    return FALSE;
  if (out->kernel_release == NULL)
    out->kernel_release = "(unknown release)";
  if (out->criu_version_text == NULL)
    out->criu_version_text = out->criu_version > 0 ? "(unknown version)" : "none";
  if (out->root == NULL)
    out->root = "its root directory";
  if (out->cpu_model == NULL)
    out->cpu_model = "unknown";
  return TRUE;
}

static gboolean
strv_array_has (JsonArray *array, const char *value)
{
  guint n = json_array_get_length (array);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
          && g_strcmp0 (json_node_get_string (e), value) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
check_criu (const HostFacts *src, const HostFacts *dst, FerryMigrateCheck *failed, GError **error)
{
  const char *need = src->criu_version > FERRY_CRIU_MIN_VERSION ? src->criu_version_text : "4.2";

  if (src->criu_version <= 0)
    return refuse (
        FERRY_MIGRATE_CHECK_CRIU, failed, error,
        "the source has no usable CRIU (the target runs CRIU %s), so it cannot dump the container; "
        "install CRIU 4.2 or newer on the source (scripts/setup-criu) or move it stopped (--stateless)",
        dst->criu_version_text);
  if (dst->criu_version <= 0)
    return refuse (FERRY_MIGRATE_CHECK_CRIU, failed, error,
                   "the target has no usable CRIU (the source runs CRIU %s); install CRIU %s or newer on the "
                   "target (scripts/setup-criu)",
                   src->criu_version_text, need);
  if (dst->criu_version < FERRY_CRIU_MIN_VERSION)
    return refuse (
        FERRY_MIGRATE_CHECK_CRIU, failed, error,
        "the target runs CRIU %s but Ferry needs CRIU >= 4.2 there (4.1 cannot dump or restore TCP "
        "sockets on kernels >= 6.16) and the source runs CRIU %s; install CRIU %s or newer on the "
        "target (scripts/setup-criu)",
        dst->criu_version_text, src->criu_version_text, need);
  if (dst->criu_version < src->criu_version)
    return refuse (
        FERRY_MIGRATE_CHECK_CRIU, failed, error,
        "the target runs CRIU %s, older than the source's CRIU %s, and an older CRIU may not read the "
        "images a newer one writes; install CRIU %s or newer on the target (scripts/setup-criu)",
        dst->criu_version_text, src->criu_version_text, need);
  return TRUE;
}

static gboolean
check_architecture (const HostFacts *src, const char *container_arch, const HostFacts *dst,
                    FerryMigrateCheck *failed, GError **error)
{
  const char *arch = container_arch != NULL ? container_arch : src->architecture;

  if (g_strcmp0 (arch, dst->architecture) != 0 || g_strcmp0 (src->architecture, dst->architecture) != 0)
    return refuse (
        FERRY_MIGRATE_CHECK_ARCHITECTURE, failed, error,
        "the container runs on %s (source host %s) but the target is %s, and CRIU restores processes "
        "only on the architecture they were dumped on; move it to a host of architecture %s",
        arch, src->architecture, dst->architecture, arch);
  return TRUE;
}

/* The kernel's ABI only grows: processes that started on the source may call
 * any system call (or use any /proc, socket or ioctl interface) that kernel
 * has, and after the move they call it on the target. An older target
 * kernel can lack some of them (clone3, pidfd_*, landlock, openat2 ...), and
 * the process would fail with ENOSYS mid-run. Minor versions carry new
 * syscalls; stable patch releases do not. */
static gboolean
check_kernel (const HostFacts *src, const HostFacts *dst, FerryMigrateCheck *failed, GError **error)
{
  if (dst->kernel_major > src->kernel_major
      || (dst->kernel_major == src->kernel_major && dst->kernel_minor >= src->kernel_minor))
    return TRUE;
  return refuse (
      FERRY_MIGRATE_CHECK_KERNEL, failed, error,
      "the target runs Linux %s (%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ") but the source runs %s "
      "(%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT "), and the container's processes may use system calls "
      "and kernel interfaces that %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT " lacks; move it to a host "
      "running Linux %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT " or newer",
      dst->kernel_release, dst->kernel_major, dst->kernel_minor, src->kernel_release, src->kernel_major,
      src->kernel_minor, dst->kernel_major, dst->kernel_minor, src->kernel_major, src->kernel_minor);
}

/* Features `criu check --feature` finds on the source but not on the target.
 * A feature only one side probed (different CRIU versions) is not compared. */
static gboolean
check_criu_features (const HostFacts *src, const HostFacts *dst, FerryMigrateCheck *failed, GError **error)
{
  g_autoptr (GString) missing = g_string_new (NULL);
  g_autoptr (GList) names = NULL;

  if (src->criu_features == NULL || dst->criu_features == NULL)
    return TRUE;
  names = json_object_get_members (src->criu_features);
  names = g_list_sort (names, (GCompareFunc) strcmp);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *s = json_object_get_member (src->criu_features, l->data);
      JsonNode *t = json_object_get_member (dst->criu_features, l->data);
      if (s == NULL || t == NULL || json_node_get_value_type (s) != G_TYPE_BOOLEAN
          || json_node_get_value_type (t) != G_TYPE_BOOLEAN)
        continue;
      if (json_node_get_boolean (s) && !json_node_get_boolean (t))
        g_string_append_printf (missing, "%s%s", missing->len ? ", " : "", (const char *) l->data);
    }
  if (missing->len == 0)
    return TRUE;
  return refuse (
      FERRY_MIGRATE_CHECK_CRIU_FEATURES, failed, error,
      "CRIU %s on the target (Linux %s) lacks kernel features that CRIU %s finds on the source (Linux %s): "
      "%s, and a restore of processes that use them would fail; pick a target where "
      "`criu check --feature NAME` passes for each",
      dst->criu_version_text, dst->kernel_release, src->criu_version_text, src->kernel_release, missing->str);
}

static gboolean
check_cpu (const HostFacts *src, const HostFacts *dst, const FerryMigrateCpuVerdict *verdict,
           FerryMigrateCheck *failed, GError **error)
{
  if (verdict->compatible)
    return TRUE;
  return refuse (
      FERRY_MIGRATE_CHECK_CPU, failed, error,
      "the target's CPU (%s) does not offer every feature of the source's CPU (%s) that the "
      "container's processes may use (`criu cpuinfo check --cpu-cap=fpu,ins` on the target: %s); move "
      "it to a host with the same or a newer CPU model",
      dst->cpu_model, src->cpu_model,
      verdict->criu_says != NULL && *verdict->criu_says ? verdict->criu_says : "failed, without a reason");
}

/* "fuse.sshfs" is mounted as fuse: the kernel only knows the part before
 * the dot. */
static char *
kernel_fs_name (const char *fs_type)
{
  const char *dot = strchr (fs_type, '.');

  return dot != NULL ? g_strndup (fs_type, dot - fs_type) : g_strdup (fs_type);
}

/* Types the kernel mounts internally, never in /proc/filesystems, that show
 * in mountinfo when a file of theirs is bind-mounted (`ip netns add` binds
 * /proc/PID/ns/net: nsfs). Every kernel CRIU >= 4.2 runs on has them. */
static const char *const internal_fs_types[] = { "nsfs", "pidfs", NULL };

static gboolean
check_filesystems (JsonArray *container_fs, const HostFacts *dst, FerryMigrateCheck *failed, GError **error)
{
  g_autoptr (GString) missing = g_string_new (NULL);
  g_autoptr (GString) modprobe = g_string_new (NULL);
  guint n_missing = 0;
  guint n = container_fs != NULL ? json_array_get_length (container_fs) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (container_fs, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        return refuse (FERRY_MIGRATE_CHECK_FACTS, failed, error,
                       "the container's \"filesystems\" must be an array of strings");
      g_autofree char *fs = kernel_fs_name (json_node_get_string (e));
      if (strv_array_has (dst->filesystems, fs) || g_strv_contains (internal_fs_types, fs))
        continue;
      g_string_append_printf (missing, "%s%s", missing->len ? ", " : "", json_node_get_string (e));
      g_string_append_printf (modprobe, " %s", fs);
      n_missing++;
    }
  if (missing->len == 0)
    return TRUE;
  const char *them = n_missing > 1 ? "them" : "it";
  return refuse (
      FERRY_MIGRATE_CHECK_FILESYSTEMS, failed, error,
      "the container has %s mounted but the target's kernel (Linux %s) does not offer %s (not in its "
      "/proc/filesystems), so CRIU could not mount %s again there; load the module on the target "
      "(modprobe%s) or unmount %s in the container",
      missing->str, dst->kernel_release, them, them, modprobe->str, them);
}

/* "1.5 GiB", with a plain space (GLib's is a no-break space, which logs and
 * terminals without UTF-8 garble). */
static char *
format_size (guint64 bytes)
{
  g_autofree char *text = g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
  g_auto (GStrv) parts = g_strsplit (text, "\u00a0", -1);

  return g_strjoinv (" ", parts);
}

static gboolean
check_storage (gint64 bytes_needed, const HostFacts *dst, FerryMigrateCheck *failed, GError **error)
{
  guint64 need = (guint64) bytes_needed;
  guint64 margin = MAX (need / 100 * FERRY_MIGRATE_MARGIN_PERCENT, (guint64) FERRY_MIGRATE_MARGIN_MIN);
  guint64 free_bytes = dst->free_bytes > 0 ? (guint64) dst->free_bytes : 0;

  /* need <= G_MAXINT64 and margin <= need / 20 + 64 MiB: no overflow. */
  if (free_bytes >= need + margin)
    return TRUE;
  g_autofree char *have_s = format_size (free_bytes);
  g_autofree char *total_s = format_size (need + margin);
  g_autofree char *need_s = format_size (need);
  g_autofree char *margin_s = format_size (margin);
  g_autofree char *short_s = format_size (need + margin - free_bytes);
  return refuse (
      FERRY_MIGRATE_CHECK_STORAGE, failed, error,
      "the target has %s free in %s (%" G_GUINT64_FORMAT " bytes) but the move needs %s (%" G_GUINT64_FORMAT
      " bytes: %s for the container's rootfs, snapshots and memory plus a margin of %s); free %s there "
      "or pick another target",
      have_s, dst->root, free_bytes, total_s, need + margin, need_s, margin_s, short_s);
}

gboolean
ferry_migrate_check_feasible (JsonObject *source_host, JsonObject *container, JsonObject *target_host,
                              const FerryMigrateCpuVerdict *cpu_verdict, gint64 bytes_needed,
                              FerryMigrateCheck *failed, GError **error)
{
  g_autoptr (GError) local = NULL;
  HostFacts src, dst;
  const char *container_arch = NULL;
  JsonArray *container_fs = NULL;

  g_return_val_if_fail (cpu_verdict != NULL, FALSE);
  if (failed != NULL)
    *failed = FERRY_MIGRATE_CHECK_NONE;
  if (!read_host (source_host, "source host", &src, &local)
      || !read_host (target_host, "target host", &dst, &local))
    return refuse (FERRY_MIGRATE_CHECK_FACTS, failed, error, "%s", local->message);
  if (container == NULL)
    return refuse (FERRY_MIGRATE_CHECK_FACTS, failed, error, "the container's facts are missing");
  if (!require (container, "container", "filesystems", &local)
      || !ferry_json_get_string (container, "architecture", &container_arch, &local)
      || !ferry_json_get_array (container, "filesystems", &container_fs, &local))
    return refuse (FERRY_MIGRATE_CHECK_FACTS, failed, error, "%s", local->message);
  if (bytes_needed < 0)
    return refuse (FERRY_MIGRATE_CHECK_FACTS, failed, error,
                   "the bytes needed on the target must not be negative (got %" G_GINT64_FORMAT ")",
                   bytes_needed);

  return check_criu (&src, &dst, failed, error)
         && check_architecture (&src, container_arch, &dst, failed, error)
         && check_kernel (&src, &dst, failed, error) && check_criu_features (&src, &dst, failed, error)
         && check_cpu (&src, &dst, cpu_verdict, failed, error)
         && check_filesystems (container_fs, &dst, failed, error)
         && check_storage (bytes_needed, &dst, failed, error);
}

JsonNode *
ferry_migrate_parse_facts (const char *text, JsonObject **host, JsonObject **container, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) root = NULL;
  JsonObject *obj, *h = NULL, *c = NULL;
  gint64 format = 0;

  *host = NULL;
  *container = NULL;
  if ((root = ferry_json_parse (text, -1, &local)) == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The migration facts are not JSON: %s",
                   local->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The migration facts are not a JSON object");
      return NULL;
    }
  obj = json_node_get_object (root);
  if (!ferry_json_get_int (obj, "format", &format, error))
    return NULL;
  if (format != FERRY_MIGRATE_FACTS_FORMAT)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "The migration facts have format %" G_GINT64_FORMAT
                   ", this Ferry reads format %d: run the same "
                   "Ferry version on both hosts",
                   format, FERRY_MIGRATE_FACTS_FORMAT);
      return NULL;
    }
  if (!ferry_json_get_object (obj, "host", &h, error) || !ferry_json_get_object (obj, "container", &c, error))
    return NULL;
  if (h == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "The migration facts have no \"host\"");
      return NULL;
    }
  *host = h;
  *container = c;
  return g_steal_pointer (&root);
}
