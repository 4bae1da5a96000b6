#include "daemon/snapshot.h"
#include "daemon/api/api.h"
#include "common/error.h"
#include "common/json.h"
#include "common/names.h"

#include <string.h>

static FerryDbSnapshot *
find_snapshot (GPtrArray *snaps, const char *name)
{
  for (guint i = 0; snaps && i < snaps->len; i++)
    {
      FerryDbSnapshot *s = g_ptr_array_index (snaps, i);
      if (strcmp (s->name, name) == 0)
        return s;
    }
  return NULL;
}

/* expires_at in UNIX microseconds; Go's zero time (year 1) is 0: none. */
static gboolean
parse_expires_at (const char *text, gint64 *expires_at, GError **error)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (text, NULL);

  if (dt == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid expires_at \"%s\": expected an RFC 3339 time",
                   text);
      return FALSE;
    }
  *expires_at = g_date_time_to_unix (dt) > 0 ? g_date_time_to_unix (dt) * G_USEC_PER_SEC : 0;
  return TRUE;
}

/* An expires_at given (LXD's client sends the zero time for --no-expiry),
 * or else the instance's snapshots.expiry from now, as LXD does. */
static gboolean
requested_expiry (FerryDaemon *d, FerryInstance *inst, const char *expires, gint64 *expires_at,
                  GError **error)
{
  if (expires != NULL && *expires != '\0')
    return parse_expires_at (expires, expires_at, error);
  {
    g_autoptr (GDateTime) now = g_date_time_new_now_local ();
    return ferry_snapshot_config_expiry (d, inst, now, expires_at, error);
  }
}

static void
create_snapshot (FerryRequest *req, FerryInstance *inst)
{
  FerryDaemon *d = req->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = ferry_request_json (req, TRUE, &error);
  const char *name = NULL, *expires = NULL;
  gboolean stateful = FALSE;
  g_autofree char *chosen = NULL;
  gint64 expires_at = 0;
  FerryOperation *op;

  if (body == NULL || !ferry_json_get_string (body, "name", &name, &error)
      || !ferry_json_get_bool (body, "stateful", &stateful, &error)
      || !ferry_json_get_string (body, "expires_at", &expires, &error))
    goto fail;
  if (name == NULL || *name == '\0')
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_local ();
      if ((name = chosen = ferry_snapshot_next_name (d, inst, now, &error)) == NULL)
        goto fail;
    }
  if (!requested_expiry (d, inst, expires, &expires_at, &error))
    goto fail;
  op = ferry_snapshot_create (d, inst, name, stateful, expires_at, &error);
  if (op == NULL)
    goto fail;
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
  return;

fail:
  ferry_respond_error (req->msg, error);
}

/* The answer to a request that started OP, or failed with ERROR. */
static void
respond_operation (FerryRequest *req, FerryOperation *op, GError *error)
{
  if (op == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  ferry_respond_async (req->msg, op);
  ferry_operation_unref (op);
}

static const char *
snapshot_name (gpointer item)
{
  return ((FerryDbSnapshot *) item)->name;
}

static JsonNode *
snapshot_item_json (gpointer item, gpointer daemon)
{
  return ferry_snapshot_to_json (daemon, item);
}

void
ferry_api_snapshots_list (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) snaps = ferry_db_snapshot_list (req->daemon->db, inst->row->id, &error);
  g_autofree char *prefix = NULL;

  if (snaps == NULL)
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  prefix = g_strdup_printf ("/1.0/%s/%s/snapshots/", req->parts[0], inst->row->name);
  ferry_api_respond_collection (req, snaps, prefix, snapshot_name, snapshot_item_json, req->daemon);
}

void
ferry_api_snapshots_create (FerryRequest *req, FerryInstance *inst)
{
  create_snapshot (req, inst);
}

/* The snapshot /1.0/instances/NAME/snapshots/SNAP names, from SNAPS (read
 * here); NULL once it answered why not. */
static FerryDbSnapshot *
lookup_snapshot (FerryRequest *req, FerryInstance *inst, GPtrArray **snaps)
{
  g_autoptr (GError) error = NULL;
  FerryDbSnapshot *s;

  *snaps = ferry_db_snapshot_list (req->daemon->db, inst->row->id, &error);
  if (*snaps == NULL)
    {
      ferry_respond_error (req->msg, error);
      return NULL;
    }
  s = find_snapshot (*snaps, req->parts[3]);
  if (s == NULL)
    {
      g_autofree char *text = g_strdup_printf ("Failed to fetch snapshot \"%s\" of instance \"%s\" in project "
                                               "\"default\": InstanceSnapshot not found",
                                               req->parts[3], inst->row->name);
      ferry_respond_error_literal (req->msg, 404, text);
    }
  return s;
}

/* What a snapshot's ETag covers: the fields of its PUT. */
static const char *const snapshot_writable[] = { "description", "expires_at", NULL };

void
ferry_api_snapshot_get (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);

  if (s != NULL)
    ferry_respond_sync_etag (req->msg, ferry_snapshot_to_json (req->daemon, s), snapshot_writable);
}

void
ferry_api_snapshot_delete (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (GError) error = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);

  if (s != NULL)
    respond_operation (req, ferry_snapshot_delete (req->daemon, inst, s, &error), error);
}

/* POST: a rename (a snapshot's migration is not supported). */
void
ferry_api_snapshot_post (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);
  const char *name = NULL;
  gboolean migration = FALSE;

  if (s == NULL)
    return;
  body = ferry_request_json (req, FALSE, &error);
  if (body == NULL || !ferry_json_get_string (body, "name", &name, &error)
      || !ferry_json_get_bool (body, "migration", &migration, &error) || !ferry_name_validate_snapshot (name, &error))
    ferry_respond_error (req->msg, error);
  else if (migration)
    ferry_respond_error_literal (req->msg, 400, "Snapshot migration isn't supported yet");
  else if (find_snapshot (snaps, name) != NULL)
    ferry_respond_error_literal (req->msg, 409, "A snapshot by that name already exists");
  else
    respond_operation (req, ferry_snapshot_rename (req->daemon, inst, s, name, &error), error);
}

/* PUT/PATCH: description and expires_at. */
void
ferry_api_snapshot_update (FerryRequest *req, FerryInstance *inst)
{
  g_autoptr (GPtrArray) snaps = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) body = NULL;
  FerryDbSnapshot *s = lookup_snapshot (req, inst, &snaps);
  const char *description = NULL, *expires = NULL;
  g_autoptr (JsonNode) now = NULL;

  if (s == NULL)
    return;
  now = ferry_snapshot_to_json (req->daemon, s);
  if (!ferry_request_if_match (req, now, snapshot_writable, &error)
      || (body = ferry_request_json (req, FALSE, &error)) == NULL
      || !ferry_json_get_string (body, "description", &description, &error)
      || !ferry_json_get_string (body, "expires_at", &expires, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (expires != NULL && *expires != '\0' && !parse_expires_at (expires, &s->expires_at, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  if (description != NULL)
    {
      g_free (s->description);
      s->description = g_strdup (description);
    }
  if (!ferry_db_snapshot_update (req->daemon->db, s, &error))
    {
      ferry_respond_error (req->msg, error);
      return;
    }
  /* LXD answers with an operation, which lxc config edit waits on. */
  {
    g_autofree char *source = g_strdup_printf ("/1.0/instances/%s/snapshots/%s", inst->row->name, s->name);
    g_autofree char *instance_url = g_strdup_printf ("/1.0/instances/%s", inst->row->name);
    g_autoptr (FerryOperation) op = ferry_operation_new (req->daemon, FERRY_OP_CLASS_TASK, "Updating snapshot");
    ferry_operation_add_resource (op, "instances", instance_url);
    ferry_operation_register (op);
    ferry_operation_finish (op, NULL);
    ferry_events_lifecycle (req->daemon, "instance-snapshot-updated", source, NULL);
    ferry_respond_async (req->msg, op);
  }
}
