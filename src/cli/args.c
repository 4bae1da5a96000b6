#include "config.h"

#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

typedef struct
{
  const FerryOption *option;
  gboolean set;
  gboolean boolean;
  char *string;
  gint64 integer;
  GPtrArray *strv;
} FerryOptValue;

struct FerryArgs
{
  GHashTable *values; /* long name -> FerryOptValue */
  GPtrArray *positional;
  int dashdash;
};

static void
opt_value_free (FerryOptValue *value)
{
  g_free (value->string);
  if (value->strv != NULL)
    g_ptr_array_unref (value->strv);
  g_free (value);
}

void
ferry_args_free (FerryArgs *args)
{
  if (args == NULL)
    return;
  g_hash_table_unref (args->values);
  g_ptr_array_unref (args->positional);
  g_free (args);
}

static const FerryOption *
find_long (const FerryOption *const *tables, const char *name, gsize len)
{
  for (guint t = 0; tables[t] != NULL; t++)
    for (const FerryOption *o = tables[t]; o->long_name != NULL; o++)
      if (strlen (o->long_name) == len && strncmp (o->long_name, name, len) == 0)
        return o;
  return NULL;
}

static const FerryOption *
find_short (const FerryOption *const *tables, char c)
{
  for (guint t = 0; tables[t] != NULL; t++)
    for (const FerryOption *o = tables[t]; o->long_name != NULL; o++)
      if (o->short_name == c)
        return o;
  return NULL;
}

static gboolean
store_value (FerryArgs *args, const FerryOption *option, const char *text, const char *flag, GError **error)
{
  FerryOptValue *value = g_hash_table_lookup (args->values, option->long_name);
  char *end = NULL;

  if (value == NULL)
    {
      value = g_new0 (FerryOptValue, 1);
      value->option = option;
      g_hash_table_insert (args->values, (gpointer) option->long_name, value);
    }
  value->set = TRUE;
  switch (option->kind)
    {
    case FERRY_OPT_BOOL:
      if (text == NULL || g_strcmp0 (text, "true") == 0 || g_strcmp0 (text, "1") == 0)
        value->boolean = TRUE;
      else if (g_strcmp0 (text, "false") == 0 || g_strcmp0 (text, "0") == 0)
        value->boolean = FALSE;
      else
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "invalid argument \"%s\" for \"%s\" flag: strconv.ParseBool: parsing \"%s\": invalid syntax",
                       text, flag, text);
          return FALSE;
        }
      break;
    case FERRY_OPT_STRING:
      g_free (value->string);
      value->string = g_strdup (text);
      break;
    case FERRY_OPT_INT:
      errno = 0;
      value->integer = g_ascii_strtoll (text, &end, 10);
      if (*text == '\0' || *end != '\0' || errno != 0)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                       "invalid argument \"%s\" for \"%s\" flag: strconv.ParseInt: parsing \"%s\": invalid syntax",
                       text, flag, text);
          return FALSE;
        }
      break;
    case FERRY_OPT_STRV:
      if (value->strv == NULL)
        value->strv = g_ptr_array_new_with_free_func (g_free);
      /* keep the array NULL-terminated for ferry_args_get_strv */
      if (value->strv->len > 0)
        g_ptr_array_remove_index (value->strv, value->strv->len - 1);
      g_ptr_array_add (value->strv, g_strdup (text));
      g_ptr_array_add (value->strv, NULL);
      break;
    }
  return TRUE;
}

static gboolean
parse_long (FerryArgs *args, const FerryOption *const *tables, int argc, char **argv, int *i, GError **error)
{
  const char *arg = argv[*i] + 2;
  const char *eq = strchr (arg, '=');
  gsize len = eq != NULL ? (gsize) (eq - arg) : strlen (arg);
  const FerryOption *option = find_long (tables, arg, len);
  g_autofree char *flag = g_strdup_printf ("--%.*s", (int) len, arg);

  if (option == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "unknown flag: %s", flag);
      return FALSE;
    }
  if (eq != NULL)
    return store_value (args, option, eq + 1, flag, error);
  if (option->kind == FERRY_OPT_BOOL)
    return store_value (args, option, NULL, flag, error);
  if (*i + 1 >= argc)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "flag needs an argument: %s", flag);
      return FALSE;
    }
  (*i)++;
  return store_value (args, option, argv[*i], flag, error);
}

static gboolean
parse_short (FerryArgs *args, const FerryOption *const *tables, int argc, char **argv, int *i, GError **error)
{
  const char *arg = argv[*i];

  for (const char *p = arg + 1; *p != '\0'; p++)
    {
      const FerryOption *option = find_short (tables, *p);
      char flag[3] = { '-', *p, '\0' };

      if (option == NULL)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "unknown shorthand flag: '%c' in %s", *p, arg);
          return FALSE;
        }
      if (option->kind == FERRY_OPT_BOOL)
        {
          if (p[1] == '=')
            return store_value (args, option, p + 2, flag, error);
          if (!store_value (args, option, NULL, flag, error))
            return FALSE;
          continue;
        }
      if (p[1] != '\0')
        return store_value (args, option, p[1] == '=' ? p + 2 : p + 1, flag, error);
      if (*i + 1 >= argc)
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "flag needs an argument: '%c' in %s", *p, arg);
          return FALSE;
        }
      (*i)++;
      return store_value (args, option, argv[*i], flag, error);
    }
  return TRUE;
}

FerryArgs *
ferry_args_parse (int argc, char **argv, const FerryOption *const *tables, GError **error)
{
  g_autoptr (FerryArgs) args = g_new0 (FerryArgs, 1);

  args->values = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) opt_value_free);
  args->positional = g_ptr_array_new_with_free_func (g_free);
  args->dashdash = -1;

  for (int i = 0; i < argc; i++)
    {
      const char *arg = argv[i];

      if (args->dashdash < 0 && strcmp (arg, "--") == 0)
        {
          args->dashdash = (int) args->positional->len;
          continue;
        }
      if (args->dashdash >= 0 || arg[0] != '-' || arg[1] == '\0')
        {
          g_ptr_array_add (args->positional, g_strdup (arg));
          continue;
        }
      if (arg[1] == '-')
        {
          if (!parse_long (args, tables, argc, argv, &i, error))
            return NULL;
        }
      else if (!parse_short (args, tables, argc, argv, &i, error))
        return NULL;
    }
  g_ptr_array_add (args->positional, NULL);
  return g_steal_pointer (&args);
}

static FerryOptValue *
lookup (FerryArgs *args, const char *long_name)
{
  FerryOptValue *value = g_hash_table_lookup (args->values, long_name);
  return value != NULL && value->set ? value : NULL;
}

gboolean
ferry_args_is_set (FerryArgs *args, const char *long_name)
{
  return lookup (args, long_name) != NULL;
}

gboolean
ferry_args_get_bool (FerryArgs *args, const char *long_name)
{
  FerryOptValue *value = lookup (args, long_name);
  return value != NULL && value->boolean;
}

const char *
ferry_args_get_string (FerryArgs *args, const char *long_name, const char *fallback)
{
  FerryOptValue *value = lookup (args, long_name);
  return value != NULL ? value->string : fallback;
}

gint64
ferry_args_get_int (FerryArgs *args, const char *long_name, gint64 fallback)
{
  FerryOptValue *value = lookup (args, long_name);
  return value != NULL ? value->integer : fallback;
}

const char *const *
ferry_args_get_strv (FerryArgs *args, const char *long_name)
{
  static const char *const empty[] = { NULL };
  FerryOptValue *value = lookup (args, long_name);

  if (value == NULL || value->strv == NULL)
    return empty;
  return (const char *const *) value->strv->pdata;
}

char **
ferry_args_positional (FerryArgs *args)
{
  return (char **) args->positional->pdata;
}

guint
ferry_args_n_positional (FerryArgs *args)
{
  return args->positional->len - 1;
}

int
ferry_args_dashdash (FerryArgs *args)
{
  return args->dashdash;
}

static char *
flag_label (const FerryOption *o)
{
  if (o->short_name != 0)
    return g_strdup_printf ("  -%c, --%s", o->short_name, o->long_name);
  return g_strdup_printf ("      --%s", o->long_name);
}

void
ferry_args_format_help (GString *out, const FerryOption *options)
{
  gsize width = 0;

  for (const FerryOption *o = options; o->long_name != NULL; o++)
    {
      g_autofree char *label = flag_label (o);
      width = MAX (width, strlen (label));
    }
  for (const FerryOption *o = options; o->long_name != NULL; o++)
    {
      g_autofree char *label = flag_label (o);
      g_string_append_printf (out, "%-*s   %s\n", (int) width, label, o->help);
    }
}

gboolean
ferry_args_split_pair (const char *arg, char **key, const char **value, GError **error)
{
  const char *eq = strchr (arg, '=');

  if (eq == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Bad key=value pair: %s", arg);
      return FALSE;
    }
  *key = g_strndup (arg, (gsize) (eq - arg));
  *value = eq + 1;
  return TRUE;
}
