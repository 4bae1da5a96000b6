/* Which ids an unprivileged container runs with (see idmaps.h). */
#include "config.h"

#include "daemon/idmaps.h"

#include <string.h>

#include "common/error.h"
#include "common/idmap.h"
#include "daemon/instance.h"

FerryIdRange
ferry_idmap_this_host (void)
{
  return ferry_idmap_host_range ("/etc/subuid", "/etc/subgid");
}

/* The isolated ranges of the other instances (by their volatile.idmap.base). */
GArray *
ferry_instance_taken_idmaps (FerryDaemon *d, FerryInstance *self)
{
  GArray *taken = g_array_new (FALSE, FALSE, sizeof (FerryIdRange));
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init (&iter, d->instances);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    {
      FerryInstance *other = v;
      if (other == self || ferry_instance_is_rename_placeholder (other)
          || g_strcmp0 (other->row->name, self->row->name) == 0)
        continue;
      g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, other);
      FerryIdRange r = { .base = ferry_config_uint (config, "volatile.idmap.base", 0),
                         .size = ferry_config_uint (config, "security.idmap.size", FERRY_IDMAP_ISOLATED_SIZE) };
      if (ferry_idmap_config_isolated (config) && r.base > 0)
        g_array_append_val (taken, r);
    }
  return taken;
}

static GArray *
choose_for (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
  g_autoptr (GArray) taken = ferry_instance_taken_idmaps (d, inst);
  g_autoptr (GArray) map = NULL;
  g_autoptr (GHashTable) own = NULL;
  gint64 base = 0;

  map = ferry_idmap_choose (config, ferry_idmap_this_host (), ferry_config_uint (config, "volatile.idmap.base", 0),
                            taken, &base, error);
  if (map == NULL)
    return NULL;
  own = ferry_instance_own_config (inst);
  g_hash_table_insert (own, g_strdup ("volatile.idmap.base"), g_strdup_printf ("%" G_GINT64_FORMAT, base));
  g_hash_table_insert (own, g_strdup ("volatile.idmap.next"), ferry_idmap_to_json (map));
  if (!g_hash_table_contains (own, "volatile.last_state.idmap"))
    g_hash_table_insert (own, g_strdup ("volatile.last_state.idmap"), g_strdup ("[]"));
  ferry_instance_set_own_config (inst, own);
  return g_steal_pointer (&map);
}

gboolean
ferry_instance_choose_idmap (FerryDaemon *d, FerryInstance *inst, GError **error)
{
  g_autoptr (GArray) map = choose_for (d, inst, error);
  return map != NULL;
}

GArray *
ferry_instance_start_idmap (FerryDaemon *d, FerryInstance *inst, gboolean restore, const char *checkpoint_idmap,
                            GError **error)
{
  g_autoptr (GHashTable) own = NULL;
  g_autoptr (GArray) map = NULL;

  if (restore)
    {
      g_autoptr (GHashTable) config = ferry_instance_expanded_config (d, inst);
      const char *json = checkpoint_idmap ? checkpoint_idmap : g_hash_table_lookup (config, "volatile.idmap.current");
      /* Checkpoints made before Ferry had user namespaces are privileged. */
      if ((map = ferry_idmap_from_json (json ? json : "[]", error)) == NULL)
        {
          g_prefix_error (error, "The checkpoint's idmap (volatile.idmap.current): ");
          return NULL;
        }
      g_autoptr (GArray) taken = ferry_instance_taken_idmaps (d, inst);
      if (!ferry_idmap_applies (inst->row->name, map, config, ferry_idmap_this_host (), taken, error))
        return NULL;
      if (checkpoint_idmap == NULL)
        return g_steal_pointer (&map);
    }
  else if ((map = choose_for (d, inst, error)) == NULL)
    return NULL;
  own = ferry_instance_own_config (inst);
  g_hash_table_insert (own, g_strdup ("volatile.idmap.current"), ferry_idmap_to_json (map));
  ferry_instance_set_own_config (inst, own);
  return g_steal_pointer (&map);
}
