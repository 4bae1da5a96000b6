/* Command-line flags parsed the way lxc's (cobra/pflag) are: flags anywhere
 * among the arguments, "--long=value", "--long value", "-s value", "-svalue",
 * grouped boolean shorthands ("-ef"), and "--" ending the flags. */
#pragma once

#include <glib.h>

typedef enum
{
  FERRY_OPT_BOOL,
  FERRY_OPT_STRING,
  FERRY_OPT_INT,
  FERRY_OPT_STRV, /* repeatable */
} FerryOptKind;

typedef struct
{
  const char *long_name;
  char short_name; /* 0 = none */
  FerryOptKind kind;
  const char *help; /* includes lxc's "(default ...)" text where there is one */
} FerryOption;

typedef struct FerryArgs FerryArgs;

/* Parses argv against one or more NULL-name-terminated option tables. On
 * error, the message is pflag's ("unknown flag: --x"). */
FerryArgs *ferry_args_parse (int argc, char **argv, const FerryOption *const *tables, GError **error);
void ferry_args_free (FerryArgs *args);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryArgs, ferry_args_free)

gboolean ferry_args_is_set (FerryArgs *args, const char *long_name);
gboolean ferry_args_get_bool (FerryArgs *args, const char *long_name);
const char *ferry_args_get_string (FerryArgs *args, const char *long_name, const char *fallback);
gint64 ferry_args_get_int (FerryArgs *args, const char *long_name, gint64 fallback);
/* Values of a repeatable flag in order (never NULL; owned by args). */
const char *const *ferry_args_get_strv (FerryArgs *args, const char *long_name);

/* Positional arguments (never NULL) and their count. */
char **ferry_args_positional (FerryArgs *args);

/* Splits "key=value" (a config key, a property, an environment variable)
 * into *KEY (a new string) and *VALUE (inside ARG); "Bad key=value pair"
 * when ARG has no "=". */
gboolean ferry_args_split_pair (const char *arg, char **key, const char **value, GError **error);
guint ferry_args_n_positional (FerryArgs *args);
/* Index in the positional arguments where "--" was seen, or -1. */
int ferry_args_dashdash (FerryArgs *args);

/* Appends a cobra-style flag block ("  -c, --config   help"), aligned. */
void ferry_args_format_help (GString *out, const FerryOption *options);
