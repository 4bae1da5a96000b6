/* GET of a collection, as every LXD list endpoint answers it. */
#include "daemon/api/api.h"

void
ferry_api_respond_collection (FerryRequest *req, GPtrArray *items, const char *prefix, FerryApiItemName name,
                              FerryApiItemJson to_json, gpointer data)
{
  JsonArray *arr = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  gboolean objects = ferry_request_recursion (req) >= 1;

  for (guint i = 0; items != NULL && i < items->len; i++)
    {
      gpointer item = g_ptr_array_index (items, i);
      if (objects)
        json_array_add_element (arr, to_json (item, data));
      else
        {
          g_autofree char *escaped = g_uri_escape_string (name (item), NULL, FALSE);
          g_autofree char *url = g_strdup_printf ("%s/%s", prefix, escaped);
          json_array_add_string_element (arr, url);
        }
    }
  json_node_take_array (node, arr);
  ferry_respond_sync (req->msg, node);
}
