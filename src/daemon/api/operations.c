/* /1.0/operations: the list by status, one operation, cancelling it,
 * waiting for it, and its websockets (exec, migration channels). */
#include "daemon/api/api.h"

#include <string.h>

static void
list_operations (FerryRequest *req)
{
  static const char *const groups[] = { "running", "success", "failure", "cancelled", NULL };
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gboolean recursive = ferry_request_recursion (req) > 0;

  json_builder_begin_object (b);
  for (guint g = 0; groups[g] != NULL; g++)
    {
      GHashTableIter iter;
      gpointer value;
      gboolean any = FALSE;

      g_hash_table_iter_init (&iter, req->daemon->operations);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          FerryOperation *op = value;
          if (strcmp (ferry_operation_status_group (op), groups[g]) != 0)
            continue;
          if (!any)
            {
              json_builder_set_member_name (b, groups[g]);
              json_builder_begin_array (b);
              any = TRUE;
            }
          if (recursive)
            json_builder_add_value (b, ferry_operation_to_json (op));
          else
            {
              g_autofree char *url = g_strdup_printf ("/1.0/operations/%s", ferry_operation_id (op));
              json_builder_add_string_value (b, url);
            }
        }
      if (any)
        json_builder_end_array (b);
    }
  json_builder_end_object (b);
  ferry_respond_sync (req->msg, json_builder_get_root (b));
}

void
ferry_api_operations (FerryRequest *req, FerryInstance *unused)
{
  FerryOperation *op;

  if (req->n_parts == 1)
    {
      if (strcmp (req->method, "GET") == 0)
        list_operations (req);
      else
        ferry_respond_not_allowed (req->msg);
      return;
    }
  op = ferry_operation_lookup (req->daemon, req->parts[1]);
  if (op == NULL || req->n_parts > 3)
    {
      ferry_respond_error_literal (req->msg, 404, "Operation not found");
      return;
    }
  if (req->n_parts == 2 && strcmp (req->method, "GET") == 0)
    ferry_respond_sync (req->msg, ferry_operation_to_json (op));
  else if (req->n_parts == 2 && strcmp (req->method, "DELETE") == 0)
    {
      if (ferry_operation_cancel (op))
        ferry_respond_sync_empty (req->msg);
      else
        ferry_respond_error_literal (req->msg, 400, "This operation can't be cancelled");
    }
  else if (req->n_parts == 3 && strcmp (req->parts[2], "wait") == 0 && strcmp (req->method, "GET") == 0)
    {
      const char *t = ferry_request_query (req, "timeout");
      ferry_operation_wait (op, req->msg, t ? g_ascii_strtoll (t, NULL, 10) : -1);
    }
  else if (req->n_parts == 3 && strcmp (req->parts[2], "websocket") == 0 && strcmp (req->method, "GET") == 0)
    ferry_operation_accept_websocket (op, req->msg, ferry_request_query (req, "secret"));
  else
    ferry_respond_not_allowed (req->msg);
}
