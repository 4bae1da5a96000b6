#include "runtime/monitor.h"

#include "common/error.h"

#include <string.h>

char **
ferry_runtime_build_env (const char *const *base, char *const *extra, GError **error)
{
  g_autoptr (GPtrArray) env = g_ptr_array_new_with_free_func (g_free);

  for (const char *const *b = base; b != NULL && *b != NULL; b++)
    g_ptr_array_add (env, g_strdup (*b));
  for (char *const *e = extra; e != NULL && *e != NULL; e++)
    {
      const char *eq = strchr (*e, '=');
      if (eq == NULL || eq == *e)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid environment entry \"%s\" (want KEY=VALUE)",
                       *e);
          return NULL;
        }
      size_t klen = (size_t) (eq - *e) + 1;
      for (guint i = 0; i < env->len; i++)
        if (strncmp (env->pdata[i], *e, klen) == 0)
          {
            g_ptr_array_remove_index (env, i);
            break;
          }
      g_ptr_array_add (env, g_strdup (*e));
    }
  g_ptr_array_add (env, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&env), FALSE);
}
