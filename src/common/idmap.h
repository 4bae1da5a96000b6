/* User namespace id maps, in LXD's terms: a list of entries, each mapping
 * the container's ids NSID..NSID+RANGE-1 to the host's HOSTID.., for uids,
 * gids or both. ferryd keeps a container's map as LXD does (the JSON of
 * volatile.idmap.next/current and volatile.last_state.idmap); ferry-monitor
 * takes it as one --idmap argument and writes it to the user namespace. */
#pragma once

#include <glib.h>

typedef struct
{
  gboolean isuid, isgid;
  gint64 hostid, nsid, range;
} FerryIdmapEntry;

/* A map is a GArray of FerryIdmapEntry. */
GArray *ferry_idmap_new (void);

/* Container ids 0..SIZE-1 (uids and gids) are the host's BASE.. */
GArray *ferry_idmap_new_range (gint64 base, gint64 size);

/* Adds E as LXD's IdmapSet.AddSafe does: an entry it overlaps in the
 * container's ids is split around it. Fails when E's host ids fall in
 * such an entry's host ids (a host id mapped twice). */
gboolean ferry_idmap_add_safe (GArray *map, const FerryIdmapEntry *e, GError **error);

/* raw.idmap: lines "uid|gid|both HOST NS", HOST and NS single ids or equal
 * ranges "A-B"; blank lines ignored. The entries in order, or NULL. */
GArray *ferry_idmap_parse_raw (const char *raw, GError **error);

/* LXD's JSON: [{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,
 * "Maprange":1000000000}, ...]. "[]" for an empty map. */
char *ferry_idmap_to_json (GArray *map);
GArray *ferry_idmap_from_json (const char *json, GError **error);

/* ferry-monitor's --idmap: "KIND:NSID:HOSTID:RANGE" entries joined by
 * commas, KIND u, g or b; "BASE:SIZE" alone means b:0:BASE:SIZE. */
char *ferry_idmap_to_arg (GArray *map);
GArray *ferry_idmap_from_arg (const char *spec, GError **error);

/* /proc/PID/uid_map (UID) or gid_map text of MAP: "NSID HOSTID RANGE\n"... */
char *ferry_idmap_proc_text (GArray *map, gboolean uid);

/* The host id of container id NSID, or -1 when it is not mapped. */
gint64 ferry_idmap_to_host (GArray *map, gboolean uid, gint64 nsid);

/* TRUE when both maps map the same ids the same way. */
gboolean ferry_idmap_equal (GArray *a, GArray *b);

/* ---- Which map a container gets, as LXD 5.0 chooses it (idmap-choice.c) ---- */

/* The size of an isolated map when security.idmap.size is unset; LXD also
 * gives the first so many ids of root's range to no isolated container. */
#define FERRY_IDMAP_ISOLATED_SIZE 65536

typedef struct
{
  gint64 base, size;
} FerryIdRange;

/* LXD's truth values of config keys ("true", "1", "yes", "on"). */
gboolean ferry_config_true (const char *value);

/* Root's host ids: its entries in SUBUID and SUBGID when both exist and
 * agree, else 1000000 and 1000000000 ids (LXD's default). */
FerryIdRange ferry_idmap_host_range (const char *subuid, const char *subgid);

/* The map the (expanded) CONFIG asks for: "[]" when security.privileged;
 * HOST (plus raw.idmap) unless security.idmap.isolated; else an isolated
 * range of security.idmap.size ids (65536) at security.idmap.base, or at
 * OWN_BASE when that still fits, or the first range after HOST's first 65536
 * ids that overlaps none of TAKEN (FerryIdRange). *BASE gets what
 * volatile.idmap.base says (0 when not isolated). */
GArray *ferry_idmap_choose (GHashTable *config, FerryIdRange host, gint64 own_base, GArray *taken, gint64 *base,
                            GError **error);

/* Whether MAP can be applied here to instance NAME of expanded CONFIG: its
 * host ids are HOST's (or raw.idmap's), and when isolated it overlaps none
 * of TAKEN. Pure: a migration's worker thread calls it. */
gboolean ferry_idmap_applies (const char *name, GArray *map, GHashTable *config, FerryIdRange host, GArray *taken,
                              GError **error);

/* The unsigned value of KEY in CONFIG, FALLBACK when unset or invalid. */
gint64 ferry_config_uint (GHashTable *config, const char *key, gint64 fallback);

/* security.idmap.isolated of an unprivileged container. */
gboolean ferry_idmap_config_isolated (GHashTable *config);
