/* Intents: what an operation records before it changes an instance's
 * files, settled once its outcome is in the database (intent.h). */
#include "daemon/intent.h"
#include "checkpoint/checkpoint.h"
#include "common/json.h"
#include "common/timeutil.h"

gint64
ferry_intent_begin (FerryDaemon *d, const char *instance, const char *op, const char *name, GError **error)
{
  g_autoptr (JsonObject) data = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *json = NULL;

  if (name != NULL)
    json_object_set_string_member (data, "name", name);
  json_node_set_object (node, data);
  json = ferry_json_to_string (node, FALSE);
  FerryDbIntent row = { .instance = (char *) instance, .op = (char *) op, .data_json = json,
                        .created_at = ferry_time_now () };

  if (!ferry_db_intent_add (d->db, &row, error))
    {
      g_prefix_error (error, "Recording the %s of %s: ", op, instance);
      return 0;
    }
  return row.id;
}

void
ferry_intent_settle (FerryDaemon *d, gint64 id)
{
  g_autoptr (GError) error = NULL;

  if (id > 0 && !ferry_db_intent_settle (d->db, id, &error))
    g_warning ("Settling intent %" G_GINT64_FORMAT ": %s (the next start settles it again)", id, error->message);
}

char *
ferry_intent_aside_path (const char *dir)
{
  return g_strconcat (dir, FERRY_INTENT_ASIDE_SUFFIX, NULL);
}

/* Complete: marked by its monitor; or finished by CRIU (its statistics
 * written, the processes killed) when the monitor died before marking it,
 * then synced and marked here. */
gboolean
ferry_intent_dump_complete (const char *images, gboolean processes_gone)
{
  g_autoptr (GError) error = NULL;

  if (ferry_checkpoint_marked_complete (images))
    return TRUE;
  if (!processes_gone || !ferry_checkpoint_criu_finished (images))
    return FALSE;
  g_message ("The dump in %s ended (CRIU's statistics are there) but its monitor died before marking it "
             "complete: marking it now",
             images);
  if (!ferry_checkpoint_mark_complete (images, &error))
    {
      g_warning ("%s", error->message);
      return FALSE;
    }
  return TRUE;
}
