/* Validation of instance and profile configuration, with LXD's keys. */
#include "daemon/validate.h"
#include "daemon/instance.h"
#include "daemon/network-manager.h"
#include "common/error.h"
#include "common/idmap.h"
#include "common/signals.h"
#include "common/json.h"
#include "common/names.h"
#include "common/cron.h"
#include "common/expiry.h"
#include "common/snapshot-pattern.h"

#include <errno.h>
#include <string.h>

gboolean
ferry_parse_size (const char *text, gint64 *bytes, GError **error)
{
  static const struct
  {
    const char *suffix;
    gint64 factor;
  } units[] = {
    { "KiB", 1LL << 10 }, { "MiB", 1LL << 20 }, { "GiB", 1LL << 30 }, { "TiB", 1LL << 40 },
    { "kB", 1000LL }, { "KB", 1000LL }, { "MB", 1000000LL }, { "GB", 1000000000LL }, { "TB", 1000000000000LL },
    { "B", 1 }, { "", 1 },
  };
  char *end = NULL;
  gint64 value;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    goto bad;
  errno = 0;
  value = g_ascii_strtoll (text, &end, 10);
  if (errno != 0 || value < 0)
    goto bad;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (strcmp (end, units[i].suffix) == 0)
      {
        if (value > G_MAXINT64 / units[i].factor)
          goto bad;
        *bytes = value * units[i].factor;
        return TRUE;
      }
bad:
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
               "Invalid size \"%s\": expected a number with an optional unit (B, kB, MB, GB, KiB, MiB, GiB...)",
               text ? text : "");
  return FALSE;
}

static gboolean
valid_bool (const char *v)
{
  const char *ok[] = { "true", "false", "1", "0", "yes", "no", "on", "off", NULL };
  return g_strv_contains (ok, v);
}

static gboolean
valid_cpuset (const char *v)
{
  g_auto (GStrv) ranges = g_strsplit (v, ",", -1);

  if (*v == '\0')
    return FALSE;
  for (guint i = 0; ranges[i] != NULL; i++)
    {
      g_auto (GStrv) ends = g_strsplit (ranges[i], "-", 3);
      guint n = g_strv_length (ends);
      if (n < 1 || n > 2)
        return FALSE;
      for (guint j = 0; j < n; j++)
        {
          if (ends[j][0] == '\0')
            return FALSE;
          for (const char *c = ends[j]; *c; c++)
            if (!g_ascii_isdigit (*c))
              return FALSE;
        }
    }
  return TRUE;
}

/* raw.lxc, as LXD passes it to LXC: "key = value" lines, blank lines and
 * comments. Ferry is not LXC: it takes lxc.signal.halt (the signal
 * that asks the init to halt, as users set it for inits LXC's rule gets
 * wrong) and says so of any other key. Returns the halt signal, 0 when
 * none is set, -1 with an error. */
int
ferry_config_raw_lxc_halt_signal (const char *raw, GError **error)
{
  g_auto (GStrv) lines = g_strsplit (raw ? raw : "", "\n", -1);
  int halt = 0;

  for (char **l = lines; *l != NULL; l++)
    {
      g_autofree char *line = g_strstrip (g_strdup (*l));
      char *eq = strchr (line, '=');
      if (*line == '\0' || *line == '#')
        continue;
      if (eq == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "raw.lxc: \"%s\" is not of the form key = value",
                       line);
          return -1;
        }
      *eq = '\0';
      const char *key = g_strstrip (line), *value = g_strstrip (eq + 1);
      if (strcmp (key, "lxc.signal.halt") != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "raw.lxc: Ferry is not LXC and takes only lxc.signal.halt, not %s", key);
          return -1;
        }
      if ((halt = ferry_signal_parse (value)) < 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "raw.lxc: invalid lxc.signal.halt \"%s\"", value);
          return -1;
        }
    }
  return halt;
}

/* The scheduled snapshots' keys, each refused with the parser's reason. */
static gboolean
validate_snapshot_key (const char *key, const char *value, GError **error)
{
  gboolean ok;

  if (strcmp (key, "snapshots.schedule") == 0)
    ok = ferry_schedule_validate (value, error);
  else if (strcmp (key, "snapshots.expiry") == 0)
    ok = ferry_expiry_validate (value, error);
  else
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_local ();
      g_autofree char *rendered = *value ? ferry_snapshot_pattern_render (value, now, error) : g_strdup ("");
      ok = rendered != NULL;
    }
  if (!ok)
    g_prefix_error (error, "Invalid value for configuration key \"%s\": ", key);
  return ok;
}

gboolean
ferry_config_validate (GHashTable *config, gboolean from_profile, GError **error)
{
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, config);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      const char *key = k, *value = v;
      gint64 n;

      if (g_str_has_prefix (key, "user.") || g_str_has_prefix (key, "environment.")
          || g_str_has_prefix (key, "image.") || (!from_profile && g_str_has_prefix (key, "volatile.")))
        continue;
      if (strcmp (key, "limits.memory") == 0)
        {
          if (g_str_has_suffix (value, "%"))
            {
              g_autofree char *num = g_strndup (value, strlen (value) - 1);
              char *end = NULL;
              gint64 pct = g_ascii_strtoll (num, &end, 10);
              if (*num == '\0' || *end != '\0' || pct <= 0 || pct > 100)
                goto bad_value;
            }
          else if (!ferry_parse_size (value, &n, NULL) || n < 4 * 1024 * 1024)
            goto bad_value;
          continue;
        }
      if (strcmp (key, "limits.cpu") == 0)
        {
          if (!valid_cpuset (value))
            goto bad_value;
          if (strchr (value, ',') == NULL && strchr (value, '-') == NULL
              && (g_ascii_strtoll (value, NULL, 10) < 1 || g_ascii_strtoll (value, NULL, 10) > 4096))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "limits.processes") == 0)
        {
          char *end = NULL;
          n = g_ascii_strtoll (value, &end, 10);
          if (*value == '\0' || *end != '\0' || n < 1)
            goto bad_value;
          continue;
        }
      if (strcmp (key, "boot.autostart") == 0 || strcmp (key, "security.protection.delete") == 0
          || strcmp (key, "security.privileged") == 0 || strcmp (key, "security.idmap.isolated") == 0)
        {
          if (!valid_bool (value))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "boot.host_shutdown_timeout") == 0 || strcmp (key, "boot.autostart.delay") == 0
          || strcmp (key, "boot.autostart.priority") == 0 || strcmp (key, "boot.stop.priority") == 0)
        {
          char *end = NULL;
          g_ascii_strtoll (value, &end, 10);
          if (*value == '\0' || *end != '\0')
            goto bad_value;
          continue;
        }
      if (strcmp (key, "security.idmap.size") == 0 || strcmp (key, "security.idmap.base") == 0)
        {
          guint64 id;
          if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32 - 1, &id, NULL))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "raw.idmap") == 0)
        {
          g_autoptr (GArray) raw = ferry_idmap_parse_raw (value, error);
          if (raw == NULL)
            {
              g_prefix_error (error, "Failed to get ID map: ");
              return FALSE;
            }
          continue;
        }
      if (strcmp (key, "raw.lxc") == 0)
        {
          if (ferry_config_raw_lxc_halt_signal (value, error) < 0)
            return FALSE;
          continue;
        }
      if (strcmp (key, "snapshots.schedule.stopped") == 0)
        {
          if (!valid_bool (value))
            goto bad_value;
          continue;
        }
      if (strcmp (key, "snapshots.schedule") == 0 || strcmp (key, "snapshots.expiry") == 0
          || strcmp (key, "snapshots.pattern") == 0)
        {
          if (!validate_snapshot_key (key, value, error))
            return FALSE;
          continue;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown configuration key: %s", key);
      return FALSE;
    bad_value:
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid value for configuration key \"%s\": \"%s\"",
                   key, value);
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_config_bool_true (const char *value)
{
  const char *yes[] = { "true", "1", "yes", "on", NULL };
  return value != NULL && g_strv_contains (yes, value);
}

/* An absolute path of plain components: no "." or "..", no control
 * characters (it travels in ferry-monitor's records, one per line). */
static gboolean
valid_disk_path (const char *path)
{
  g_auto (GStrv) parts = NULL;

  if (path == NULL || path[0] != '/' || strlen (path) >= 4096)
    return FALSE;
  for (const char *c = path; *c; c++)
    if ((unsigned char) *c < 0x20 || *c == 0x7f)
      return FALSE;
  parts = g_strsplit (path, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    if (strcmp (*p, ".") == 0 || strcmp (*p, "..") == 0)
      return FALSE;
  return TRUE;
}

/* A disk device other than the root disk: a host path bound into the
 * container (LXD's source, path, readonly, required). */
static gboolean
disk_device_validate (const char *name, GHashTable *props, GError **error)
{
  static const char *const keys[] = { "type", "source", "path", "readonly", "required", "shift", NULL };
  const char *source = g_hash_table_lookup (props, "source"), *path = g_hash_table_lookup (props, "path");
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, props);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      if (!g_strv_contains (keys, k))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "Device \"%s\": unknown or unsupported disk key \"%s\" (Ferry takes source, path, "
                       "readonly, required)", name, (const char *) k);
          return FALSE;
        }
      if ((strcmp (k, "readonly") == 0 || strcmp (k, "required") == 0 || strcmp (k, "shift") == 0)
          && !valid_bool (v))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": invalid value for \"%s\": \"%s\"",
                       name, (const char *) k, (const char *) v);
          return FALSE;
        }
    }
  if (ferry_config_bool_true (g_hash_table_lookup (props, "shift")))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Device \"%s\": shift is not supported: Ferry binds the source as it is, its owners seen "
                   "through the container's idmap", name);
      return FALSE;
    }
  if (source == NULL || *source == '\0')
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": a disk device needs a \"source\"", name);
      return FALSE;
    }
  if (!valid_disk_path (source))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Device \"%s\": source \"%s\" must be an absolute path on the host (without . or ..)", name,
                   source);
      return FALSE;
    }
  if (path == NULL || !valid_disk_path (path))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Device \"%s\": path \"%s\" must be an absolute path in the container (without . or ..)", name,
                   path ? path : "");
      return FALSE;
    }
  return TRUE;
}

gboolean
ferry_devices_validate (JsonObject *devices, GError **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  if (devices == NULL)
    return TRUE;
  json_object_iter_init (&iter, devices);
  while (json_object_iter_next (&iter, &name, &node))
    {
      g_autoptr (GHashTable) props = NULL;
      const char *type;

      if (!ferry_name_validate_object ("Device", name, error))
        return FALSE;
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\" must be a map of strings", name);
          return FALSE;
        }
      props = ferry_json_string_map (json_node_get_object (node), "Device", error);
      if (props == NULL)
        return FALSE;
      type = g_hash_table_lookup (props, "type");
      if (type == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\" has no \"type\"", name);
          return FALSE;
        }
      if (strcmp (type, "none") == 0)
        continue;
      if (strcmp (type, "nic") == 0)
        {
          if (!ferry_network_nic_device_validate (name, props, error))
            return FALSE;
          continue;
        }
      if (strcmp (type, "disk") == 0)
        {
          const char *path = g_hash_table_lookup (props, "path");
          /* The root disk; any other is a host path bound in. */
          if (g_strcmp0 (path, "/") == 0 && g_hash_table_lookup (props, "source") == NULL)
            continue;
          if (g_strcmp0 (path, "/") == 0)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "Device \"%s\": a disk with a source cannot be mounted on \"/\" (the root disk is the "
                           "instance's own)", name);
              return FALSE;
            }
          if (!disk_device_validate (name, props, error))
            return FALSE;
          continue;
        }
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Device \"%s\": unsupported device type \"%s\"", name,
                   type);
      return FALSE;
    }
  return TRUE;
}

