/* libFuzzer entry point for what ferryd reads from a request line before
 * a handler runs: the raw path (split and decoded once by route.c) and the
 * query (parsed by libsoup as the server does, then the list filter).
 * Input: PATH, optionally "?" QUERY. Run by scripts/fuzz. */
#include "daemon/http/route.h"
#include "common/fuzz-glib.h"

#include <libsoup/soup.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* What GET /1.0/instances?filter=... matches against. */
static JsonObject *
instance_object (void)
{
  JsonObject *obj = json_object_new ();

  json_object_set_string_member (obj, "name", "c1");
  json_object_set_string_member (obj, "status", "Running");
  json_object_set_string_member (obj, "type", "container");
  json_object_set_int_member (obj, "status_code", 103);
  json_object_set_boolean_member (obj, "stateful", FALSE);
  json_object_set_object_member (obj, "config", json_object_new ());
  json_object_set_null_member (obj, "location");
  return obj;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *line = g_strndup ((const char *) data, size);
  char *query = strchr (line, '?');
  g_autoptr (GPtrArray) parts = NULL;
  g_autoptr (GHashTable) params = NULL;

  if (query != NULL)
    *query++ = '\0';
  parts = ferry_route_split_path (line, NULL);
  if (query != NULL && (params = soup_form_decode (query)) != NULL)
    {
      g_autoptr (JsonObject) obj = instance_object ();
      ferry_route_filter_matches (obj, g_hash_table_lookup (params, "filter"), NULL);
    }
  return 0;
}
