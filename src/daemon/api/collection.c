/* GET of a collection, as every LXD list endpoint answers it. */
#include "daemon/api/api.h"

void
ferry_api_respond_collection (FerryRequest *req, GPtrArray *items, const char *prefix, FerryApiItemName name,
                              FerryApiItemJson to_json, gpointer data)
{
  JsonArray *arr;
  JsonNode *node;

  if (ferry_request_recursion (req) < 1)
    {
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      for (guint i = 0; items != NULL && i < items->len; i++)
        g_ptr_array_add (names, (gpointer) name (g_ptr_array_index (items, i)));
      ferry_respond_sync (req->msg, ferry_json_url_list (prefix, names));
      return;
    }
  arr = json_array_new ();
  node = json_node_new (JSON_NODE_ARRAY);
  for (guint i = 0; items != NULL && i < items->len; i++)
    json_array_add_element (arr, to_json (g_ptr_array_index (items, i), data));
  json_node_take_array (node, arr);
  ferry_respond_sync (req->msg, node);
}
