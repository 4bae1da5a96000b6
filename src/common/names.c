#include "common/names.h"
#include "common/error.h"

#include <string.h>

gboolean
ferry_name_validate_instance (const char *name, GError **error)
{
  size_t len = name ? strlen (name) : 0;

  if (len == 0)
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Instance name cannot be empty"), FALSE;
  if (len > 63)
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                        "Instance name \"%.63s...\" is too long (63 characters at most)", name),
           FALSE;
  for (size_t i = 0; i < len; i++)
    {
      char c = name[i];
      if (!g_ascii_isalnum (c) && c != '-')
        return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                            "Instance name \"%s\" may only contain letters, digits and hyphens", name),
               FALSE;
    }
  if (g_ascii_isdigit (name[0]) || name[0] == '-')
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                        "Instance name \"%s\" must not start with a digit or a hyphen", name),
           FALSE;
  if (name[len - 1] == '-')
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Instance name \"%s\" must not end with a hyphen",
                        name),
           FALSE;
  return TRUE;
}

static gboolean
name_is_plain (const char *kind, const char *name, size_t max, GError **error)
{
  size_t len = name ? strlen (name) : 0;

  if (len == 0)
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s name cannot be empty", kind), FALSE;
  if (len > max)
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s name is too long (%zu characters at most)", kind,
                        max),
           FALSE;
  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s name \"%s\" is not allowed", kind, name), FALSE;
  if (!g_utf8_validate (name, len, NULL))
    return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "%s name is not valid UTF-8", kind), FALSE;
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char) name[i];
      if (c == '/' || c <= ' ' || c == 0x7f)
        return g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                            "%s name \"%s\" must not contain '/', spaces or control characters", kind, name),
               FALSE;
    }
  return TRUE;
}

gboolean
ferry_name_validate_snapshot (const char *name, GError **error)
{
  return name_is_plain ("Snapshot", name, 255, error);
}

gboolean
ferry_name_validate_object (const char *kind, const char *name, GError **error)
{
  return name_is_plain (kind, name, 255, error);
}
