/* Managed bridge networks: their definitions on disk, the "auto" and
 * overlap checks of their config, and setup and shutdown with ferryd. */
#include "config.h"
#include "daemon/network-manager.h"
#include "daemon/network-internal.h"
#include "daemon/instance.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "network/network.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>


#define DEFAULT_NETWORK "ferrybr0"

void
ferry_network_free (FerryNetwork *n)
{
  if (n == NULL)
    return;
  if (n->watch != 0)
    g_source_remove (n->watch);
  if (n->restart_id != 0)
    g_source_remove (n->restart_id);
  if (n->pidfd >= 0)
    close (n->pidfd);
  g_free (n->name);
  g_free (n->description);
  g_free (n->error);
  if (n->config != NULL)
    g_hash_table_unref (n->config);
  g_free (n);
}

FerryNetwork *
ferry_network_lookup (FerryDaemon *d, const char *name)
{
  return name ? g_hash_table_lookup (d->networks->by_name, name) : NULL;
}

char *
ferry_network_dir (FerryDaemon *d, const char *name)
{
  return g_build_filename (d->networks->dir, name, NULL);
}

const char *
ferry_network_get (FerryNetwork *n, const char *key)
{
  return g_hash_table_lookup (n->config, key);
}

const char *
ferry_network_address (FerryNetwork *n, const char *key)
{
  const char *v = ferry_network_get (n, key);
  return v == NULL || strcmp (v, "none") == 0 || strcmp (v, "auto") == 0 || *v == '\0' ? NULL : v;
}

gboolean
ferry_network_save (FerryDaemon *d, FerryNetwork *n, GError **error)
{
  g_autofree char *dir = ferry_network_dir (d, n->name);
  g_autofree char *path = g_build_filename (dir, "network.json", NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  if (!ferry_mkdir_p (dir, 0755, error))
    return FALSE;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, n->name);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, n->description ? n->description : "");
  json_builder_set_member_name (b, "config");
  json_builder_add_value (b, ferry_json_from_string_map (n->config));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = ferry_json_to_string (root, TRUE);
  return ferry_write_file_atomic (path, text, -1, 0644, error);
}

static FerryNetwork *
load_one (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (JsonObject) obj = NULL;
  JsonObject *config = NULL;
  const char *name = NULL, *description = NULL;
  FerryNetwork *n;

  if (!g_file_get_contents (path, &text, &len, error)
      || (obj = ferry_json_parse_object (text, len, FALSE, error)) == NULL
      || !ferry_json_get_string (obj, "name", &name, error) || !ferry_json_get_string (obj, "description", &description, error)
      || !ferry_json_get_object (obj, "config", &config, error))
    return NULL;
  n = g_new0 (FerryNetwork, 1);
  n->pidfd = -1;
  n->name = g_strdup (name);
  n->description = g_strdup (description ? description : "");
  n->config = config ? ferry_json_string_map (config, "Config", NULL) : NULL;
  if (n->config == NULL)
    n->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return n;
}

/* ---- "auto" and overlap checks ---- */

static void
add_cidr (GPtrArray *out, const char *text)
{
  FerryCidr c;
  if (text && ferry_cidr_parse (text, &c, NULL))
    g_ptr_array_add (out, g_memdup2 (&c, sizeof c));
}

gboolean
ferry_network_resolve_config (FerryDaemon *d, const char *name, GHashTable *config, GError **error)
{
  g_autoptr (GPtrArray) used = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) host = ferry_host_networks (NULL);
  GHashTableIter iter;
  gpointer k, v;
  const char *keys[] = { "ipv4.address", "ipv6.address" };

  if (!ferry_network_config_validate (config, error))
    return FALSE;
  /* Other networks' subnets; the host's routes except those of our own bridges. */
  g_hash_table_iter_init (&iter, d->networks->by_name);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (strcmp (k, name) != 0)
      for (int i = 0; i < 2; i++)
        add_cidr (used, ferry_network_address (v, keys[i]));
  g_autoptr (GPtrArray) own = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&iter, d->networks->by_name);
  while (g_hash_table_iter_next (&iter, &k, &v))
    for (int i = 0; i < 2; i++)
      add_cidr (own, ferry_network_address (v, keys[i]));
  for (guint i = 0; host && i < host->len; i++)
    {
      FerryCidr *h = g_ptr_array_index (host, i);
      gboolean ours = FALSE;
      if (h->family == AF_INET && h->prefix == 32 && h->addr[0] == 127)
        continue;
      if (h->family == AF_INET6 && (h->prefix == 128 || (h->addr[0] == 0xfe && (h->addr[1] & 0xc0) == 0x80)))
        continue; /* host addresses and link-local: not subnets */
      for (guint j = 0; j < own->len && !ours; j++)
        ours = ferry_cidr_overlaps (h, g_ptr_array_index (own, j));
      if (!ours && !(h->family == AF_INET && h->prefix == 0))
        g_ptr_array_add (used, g_memdup2 (h, sizeof *h));
    }
  for (int i = 0; i < 2; i++)
    {
      const char *value = g_hash_table_lookup (config, keys[i]);
      FerryCidr c;

      if (value != NULL && strcmp (value, "auto") == 0)
        {
          g_autofree char *picked = i == 0 ? ferry_ipv4_pick_free (used) : ferry_ula_random ();
          if (picked == NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "No free 10.x.y.0/24 subnet left for %s", name);
              return FALSE;
            }
          g_hash_table_insert (config, g_strdup (keys[i]), g_strdup (picked));
          continue;
        }
      if (value == NULL || strcmp (value, "none") == 0 || !ferry_cidr_parse (value, &c, NULL))
        continue;
      for (guint j = 0; j < used->len; j++)
        if (ferry_cidr_overlaps (&c, g_ptr_array_index (used, j)))
          {
            g_autofree char *other = ferry_cidr_to_string (g_ptr_array_index (used, j));
            g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                         "%s %s overlaps %s, already used by another network or the host", keys[i], value, other);
            return FALSE;
          }
    }
  return TRUE;
}

/* ---- setup and shutdown ---- */

static gboolean
add_default_nic_to_profile (FerryDaemon *d, const char *network, GError **error)
{
  g_autoptr (GPtrArray) profiles = ferry_db_profile_list (d->db, error);

  if (profiles == NULL)
    return FALSE;
  for (guint i = 0; i < profiles->len; i++)
    {
      FerryDbProfile *p = g_ptr_array_index (profiles, i);
      if (strcmp (p->name, "default") != 0)
        continue;
      g_autoptr (JsonObject) devices = ferry_json_parse_object (p->devices_json, strlen (p->devices_json), TRUE, NULL);
      if (devices == NULL)
        devices = json_object_new ();
      if (json_object_has_member (devices, "eth0"))
        return TRUE;
      JsonObject *nic = json_object_new ();
      json_object_set_string_member (nic, "type", "nic");
      json_object_set_string_member (nic, "network", network);
      json_object_set_string_member (nic, "name", "eth0");
      json_object_set_object_member (devices, "eth0", nic);
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (node, devices);
      g_free (p->devices_json);
      p->devices_json = ferry_json_to_string (node, FALSE);
      return ferry_db_profile_upsert (d->db, p, error);
    }
  return TRUE;
}

static gboolean
create_default_network (FerryDaemon *d, GError **error)
{
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup (DEFAULT_NETWORK) : g_strdup_printf ("ferrybr%d", i);
      g_autoptr (GError) local = NULL;
      FerryNetwork *n;

      /* Another ferryd on this kernel (a test, the lab) may own ferrybr0. */
      if (ferry_link_exists (name))
        continue;
      n = g_new0 (FerryNetwork, 1);
      n->pidfd = -1;
      n->name = g_strdup (name);
      n->description = g_strdup ("");
      n->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (n->config, g_strdup ("ipv4.address"), g_strdup ("auto"));
      g_hash_table_insert (n->config, g_strdup ("ipv4.nat"), g_strdup ("true"));
      g_hash_table_insert (n->config, g_strdup ("ipv6.address"), g_strdup ("auto"));
      g_hash_table_insert (n->config, g_strdup ("ipv6.nat"), g_strdup ("true"));
      if (!ferry_network_resolve_config (d, name, n->config, error) || !ferry_network_save (d, n, error))
        {
          ferry_network_free (n);
          return FALSE;
        }
      g_hash_table_insert (d->networks->by_name, n->name, n);
      g_message ("Created the default network %s (%s, %s)", name, (char *) ferry_network_get (n, "ipv4.address"),
                 (char *) ferry_network_get (n, "ipv6.address"));
      return add_default_nic_to_profile (d, name, error);
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_CONFLICT, "ferrybr0..ferrybr9 all exist on this host");
  return FALSE;
}

static char *
firewall_table_name (FerryDaemon *d)
{
  g_autofree char *sum = NULL;

  if (strcmp (d->layout->root, FERRY_DEFAULT_ROOT) == 0)
    return g_strdup ("ferry");
  sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, d->layout->root, -1);
  return g_strdup_printf ("ferry-%.10s", sum);
}

gboolean
ferry_networks_setup (FerryDaemon *d, GError **error)
{
  FerryNetworks *ns = g_new0 (FerryNetworks, 1);
  gboolean first;
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  d->networks = ns;
  ns->by_name = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) ferry_network_free);
  ns->dir = g_strdup (d->layout->networks);
  ns->table = firewall_table_name (d);
  ns->alias = g_strdup_printf ("ferry:%s", ns->table);
  first = !g_file_test (ns->dir, G_FILE_TEST_IS_DIR);
  if (!ferry_mkdir_p (ns->dir, 0700, error))
    return FALSE;
  if ((dir = g_dir_open (ns->dir, 0, error)) == NULL)
    return FALSE;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (ns->dir, entry, "network.json", NULL);
      g_autoptr (GError) local = NULL;
      FerryNetwork *n;
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      if ((n = load_one (path, &local)) == NULL)
        {
          g_warning ("Ignoring network %s: %s", entry, local->message);
          continue;
        }
      g_hash_table_insert (ns->by_name, n->name, n);
    }
  if (first && !create_default_network (d, error))
    return FALSE;

  GHashTableIter iter;
  gpointer v;
  g_hash_table_iter_init (&iter, ns->by_name);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      g_autoptr (GError) local = NULL;
      FerryNetwork *n = v;
      if (!ferry_network_bring_up (d, n, FALSE, NULL, &local))
        g_warning ("Network %s is not available: %s", n->name, local->message);
    }
  return TRUE;
}

void
ferry_networks_shutdown (FerryDaemon *d)
{
  GHashTableIter iter;
  gpointer v;
  g_autoptr (GError) error = NULL;

  if (d->networks == NULL)
    return;
  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    if (!((FerryInstance *) v)->creating && ferry_instance_is_running (d, v))
      {
        g_message ("Instances run on: networks stay up");
        return;
      }
  g_hash_table_iter_init (&iter, d->networks->by_name);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    ferry_network_take_down (d, v);
  if (!ferry_firewall_remove (d->networks->table, &error))
    g_warning ("%s", error->message);
  g_message ("No instance runs: networks taken down");
}

