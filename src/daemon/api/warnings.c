/* /1.0/warnings: what stops a feature of Ferry from working on this host,
 * as LXD's warnings. Today one: no usable CRIU (no stateful stop, stateful
 * snapshot or live migration). A warning is computed from the host facts
 * at each request; its status (acknowledged) and deletion are kept in
 * memory: one deleted comes back after a restart if its cause remains, as
 * LXD records it again at start. Main thread only. */
#include "daemon/api/api.h"
#include "daemon/hostinfo.h"

#include "common/error.h"
#include "common/json.h"
#include "common/timeutil.h"

#include <string.h>

typedef struct
{
  const char *type;
  const char *severity;
  char *message;
  char uuid[37];
} Warning;

static void
warning_free (Warning *w)
{
  g_free (w->message);
  g_free (w);
}

/* What the API remembers of a warning: first seen, status, deleted. */
typedef struct
{
  gint64 first_seen, last_seen;
  char *status;
  gboolean deleted;
} WarningRecord;

static GHashTable *records; /* uuid -> WarningRecord */

static void
record_free (WarningRecord *r)
{
  g_free (r->status);
  g_free (r);
}

/* A stable UUID per warning type (a version-5 style hash), so that
 * /1.0/warnings/UUID names the same warning across requests and restarts. */
static void
type_uuid (const char *type, char out[37])
{
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA1, type, -1);

  g_snprintf (out, 37, "%.8s-%.4s-5%.3s-a%.3s-%.12s", sum, sum + 8, sum + 13, sum + 17, sum + 20);
}

static WarningRecord *
record_of (const Warning *w)
{
  WarningRecord *r;

  if (records == NULL)
    records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) record_free);
  r = g_hash_table_lookup (records, w->uuid);
  if (r == NULL)
    {
      r = g_new0 (WarningRecord, 1);
      r->first_seen = ferry_time_now ();
      r->status = g_strdup ("new");
      g_hash_table_insert (records, g_strdup (w->uuid), r);
    }
  r->last_seen = ferry_time_now ();
  return r;
}

/* The warnings the host's facts give now (deleted ones left out). */
static GPtrArray *
current_warnings (FerryDaemon *d)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) warning_free);
  g_autoptr (FerryHostInfo) host = ferry_hostinfo_get (d);

  if (g_strcmp0 (host->criu_check, "probing") != 0 && g_strcmp0 (host->criu_check, "Looks good.") != 0)
    {
      Warning *w = g_new0 (Warning, 1);
      w->type = "CRIU unavailable: no stateful stop, stateful snapshot or live migration";
      w->severity = "moderate";
      w->message = g_strdup (host->criu_check);
      type_uuid (w->type, w->uuid);
      g_ptr_array_add (out, w);
    }
  for (guint i = out->len; i > 0; i--)
    if (record_of (g_ptr_array_index (out, i - 1))->deleted)
      g_ptr_array_remove_index (out, i - 1);
  return out;
}

static JsonNode *
warning_json (gpointer item, gpointer unused)
{
  Warning *w = item;
  WarningRecord *r = record_of (w);
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *first = ferry_time_rfc3339 (r->first_seen);
  g_autofree char *last = ferry_time_rfc3339 (r->last_seen);

  json_object_set_string_member (o, "status", r->status);
  json_object_set_string_member (o, "uuid", w->uuid);
  /* LXD's member name outside a cluster. */
  json_object_set_string_member (o, "location", "none");
  json_object_set_string_member (o, "project", "");
  json_object_set_string_member (o, "type", w->type);
  json_object_set_int_member (o, "count", 1);
  json_object_set_string_member (o, "first_seen_at", first);
  json_object_set_string_member (o, "last_seen_at", last);
  json_object_set_string_member (o, "last_message", w->message);
  json_object_set_string_member (o, "severity", w->severity);
  json_object_set_string_member (o, "entity_url", "");
  json_node_take_object (node, o);
  return node;
}

static const char *
warning_uuid (gpointer item)
{
  return ((Warning *) item)->uuid;
}

void
ferry_api_warnings_list (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) warnings = current_warnings (req->daemon);

  ferry_api_respond_collection (req, warnings, "/1.0/warnings/", warning_uuid, warning_json, NULL);
}

/* The warning /1.0/warnings/UUID names (in WARNINGS), or NULL once it
 * answered 404. */
static Warning *
lookup_warning (FerryRequest *req, GPtrArray *warnings)
{
  for (guint i = 0; i < warnings->len; i++)
    {
      Warning *w = g_ptr_array_index (warnings, i);
      if (strcmp (w->uuid, req->parts[1]) == 0)
        return w;
    }
  ferry_respond_error_literal (req->msg, 404, "Warning not found");
  return NULL;
}

void
ferry_api_warning_get (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) warnings = current_warnings (req->daemon);
  Warning *w = lookup_warning (req, warnings);

  if (w != NULL)
    ferry_respond_sync (req->msg, warning_json (w, NULL));
}

/* PUT/PATCH {"status": "new" | "acknowledged"} (lxc warning ack). */
void
ferry_api_warning_update (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) warnings = current_warnings (req->daemon);
  Warning *w = lookup_warning (req, warnings);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  const char *status = NULL;

  if (w == NULL)
    return;
  body = ferry_request_json (req, FALSE, &error);
  if (body != NULL && ferry_json_get_string (body, "status", &status, &error))
    {
      if (status != NULL && (strcmp (status, "new") == 0 || strcmp (status, "acknowledged") == 0))
        {
          WarningRecord *r = record_of (w);
          g_free (r->status);
          r->status = g_strdup (status);
          ferry_respond_sync_empty (req->msg);
          return;
        }
      if (status == NULL && strcmp (req->method, "PATCH") == 0)
        {
          ferry_respond_sync_empty (req->msg);
          return;
        }
      g_set_error (&error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid warning status \"%s\" (new or acknowledged)",
                   status ? status : "");
    }
  ferry_respond_error (req->msg, error);
}

void
ferry_api_warning_delete (FerryRequest *req, FerryInstance *unused)
{
  g_autoptr (GPtrArray) warnings = current_warnings (req->daemon);
  Warning *w = lookup_warning (req, warnings);

  if (w == NULL)
    return;
  record_of (w)->deleted = TRUE;
  ferry_respond_sync_empty (req->msg);
}
