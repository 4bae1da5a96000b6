/* Request paths and query filters (see route.h). */
#include "daemon/http/route.h"

#include "common/error.h"

#include <string.h>

#define API_PREFIX "/1.0"

/* One segment decoded once. A '/' inside would let a name make a new
 * segment, and "." or ".." would name the directory around an object. */
static char *
decode_segment (const char *raw, GError **error)
{
  g_autofree char *part = g_uri_unescape_string (raw, "/");

  if (part == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                   "Invalid URL path segment \"%s\": bad percent-encoding, or an encoded '/' or NUL", raw);
      return NULL;
    }
  if (strcmp (part, ".") == 0 || strcmp (part, "..") == 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid URL path segment \"%s\"", raw);
      return NULL;
    }
  return g_steal_pointer (&part);
}

GPtrArray *
ferry_route_split_path (const char *path, GError **error)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) raw_parts = NULL;

  if (path == NULL || !g_str_has_prefix (path, API_PREFIX)
      || (path[strlen (API_PREFIX)] != '\0' && path[strlen (API_PREFIX)] != '/'))
    {
      g_set_error_literal (error, FERRY_ERROR, FERRY_ERROR_NOT_FOUND, "not found");
      return NULL;
    }
  /* Split first, then decode each segment: libsoup left the path encoded,
   * so "%2F" inside a name cannot make a new segment, and "%25" is a '%'
   * that nothing decodes again. */
  raw_parts = g_strsplit (path + strlen (API_PREFIX), "/", -1);
  for (guint i = 0; raw_parts[i] != NULL; i++)
    {
      char *part;

      if (raw_parts[i][0] == '\0')
        continue;
      part = decode_segment (raw_parts[i], error);
      if (part == NULL)
        return NULL;
      g_ptr_array_add (parts, part);
    }
  g_ptr_array_add (parts, NULL);
  return g_steal_pointer (&parts);
}

gboolean
ferry_route_filter_matches (JsonObject *obj, const char *filter, GError **error)
{
  g_auto (GStrv) terms = NULL;

  if (filter == NULL || *filter == '\0')
    return TRUE;
  terms = g_strsplit (filter, " and ", -1);
  for (guint i = 0; terms[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit (g_strstrip (terms[i]), " ", 3);
      JsonNode *member;
      const char *actual;
      gboolean equal;

      if (g_strv_length (words) != 3 || (strcmp (words[1], "eq") != 0 && strcmp (words[1], "ne") != 0))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unsupported filter \"%s\"", terms[i]);
          return FALSE;
        }
      /* Only string fields: json-glib's string getter is critical about others. */
      member = json_object_get_member (obj, words[0]);
      actual = member != NULL && JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_STRING
                   ? json_node_get_string (member)
                   : NULL;
      if (actual == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unsupported filter field \"%s\"", words[0]);
          return FALSE;
        }
      equal = g_ascii_strcasecmp (actual, words[2]) == 0;
      if (equal != (strcmp (words[1], "eq") == 0))
        return FALSE;
    }
  return TRUE;
}
