/* What the two ferryds of a live move tell each other about the container's
 * user namespace before anything is frozen. The source's offer carries
 * "idmap": the map its processes run with (LXD's JSON, "[]" when
 * privileged), which CRIU recreates on the target; the target's accept
 * carries "idmap": true, saying it restores with that map. A Ferry from
 * before user namespaces sends neither: it runs every container privileged,
 * so a live move to or from it is refused, never restored with other ids. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Target side: the map of the source's OFFER (a GArray of FerryIdmapEntry),
 * or NULL with an error naming the old source. */
GArray *ferry_migrate_offer_idmap (JsonObject *offer, GError **error);

/* Source side: FALSE with an error when ACCEPT comes from an old target. */
gboolean ferry_migrate_accept_check (JsonObject *accept, GError **error);
