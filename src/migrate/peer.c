/* The user namespace map in a live move's offer and accept (see peer.h). */
#include "config.h"

#include "migrate/peer.h"

#include "common/error.h"
#include "common/idmap.h"
#include "common/json.h"

GArray *
ferry_migrate_offer_idmap (JsonObject *offer, GError **error)
{
  const char *json = NULL;
  GArray *map;

  if (!ferry_json_get_string (offer, "idmap", &json, error))
    return NULL;
  if (json == NULL)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "The source host's Ferry predates unprivileged containers (its offer names no idmap) and "
                           "this one would restore the container with other ids: upgrade the source first");
      return NULL;
    }
  if ((map = ferry_idmap_from_json (json, error)) == NULL)
    g_prefix_error (error, "The source's idmap: ");
  return map;
}

gboolean
ferry_migrate_accept_check (JsonObject *accept, GError **error)
{
  gboolean idmap = FALSE;

  if (!ferry_json_get_bool (accept, "idmap", &idmap, error))
    return FALSE;
  if (!idmap)
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "The target host's Ferry predates unprivileged containers (its answer names no idmap) and "
                           "would restore the container with other ids: upgrade the target first");
      return FALSE;
    }
  return TRUE;
}
