/* ferry list (lxc/list.go): columns, filters, formats. */
#include "config.h"

#include <string.h>

#include "cli.h"
#include "common/error.h"

#define STATUS_STOPPED 102
#define STATUS_ERROR 112

/* An instance counts as active (state columns shown) unless stopped or in
 * error; lxc decides on status_code, not on the status string. */
static gboolean
instance_active (JsonObject *inst)
{
  gint64 code = ferry_object_status_code (inst);
  return code != STATUS_STOPPED && code != STATUS_ERROR;
}

static int
compare_desc (gconstpointer a, gconstpointer b)
{
  return -strcmp (*(const char **) a, *(const char **) b);
}

/* IPV4/IPV6 cell: "ADDR (ifname)" for every non-loopback interface address of
 * the family whose scope is not link or local, sorted descending, one per
 * line. */
char *ferry_list_addresses (JsonObject *inst, const char *family);
char *
ferry_list_addresses (JsonObject *inst, const char *family)
{
  JsonObject *network = ferry_obj_object (ferry_obj_object (inst, "state"), "network");
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GList) names = NULL;
  GString *out = g_string_new (NULL);

  if (!instance_active (inst) || network == NULL)
    return g_string_free (out, FALSE);
  names = json_object_get_members (network);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonObject *nic = ferry_obj_object (network, l->data);
      JsonArray *addresses = ferry_obj_array (nic, "addresses");

      if (g_strcmp0 (ferry_obj_string (nic, "type"), "loopback") == 0 || addresses == NULL)
        continue;
      for (guint i = 0; i < json_array_get_length (addresses); i++)
        {
          JsonObject *addr = json_array_get_object_element (addresses, i);
          const char *scope = ferry_obj_string (addr, "scope");

          if (addr == NULL || g_strcmp0 (ferry_obj_string (addr, "family"), family) != 0
              || g_strcmp0 (scope, "link") == 0 || g_strcmp0 (scope, "local") == 0)
            continue;
          g_ptr_array_add (entries, g_strdup_printf ("%s (%s)", ferry_obj_string (addr, "address"),
                                                     (const char *) l->data));
        }
    }
  g_ptr_array_sort (entries, compare_desc);
  for (guint i = 0; i < entries->len; i++)
    {
      if (i > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, entries->pdata[i]);
    }
  return g_string_free (out, FALSE);
}

typedef struct
{
  char *header;
  char code;           /* column letter, 0 for a config key column */
  char *config_key;    /* for config columns */
  gboolean from_devices;
  gboolean needs_state;
  gboolean needs_snapshots;
} Column;

static void
column_free (Column *c)
{
  g_free (c->header);
  g_free (c->config_key);
  g_free (c);
}

static const struct
{
  char code;
  const char *header;
  gboolean state;
  gboolean snapshots;
} known_columns[] = {
  { '4', "IPV4", TRUE, FALSE },        { '6', "IPV6", TRUE, FALSE },        { 'a', "ARCHITECTURE", FALSE, FALSE },
  { 'b', "STORAGE POOL", FALSE, FALSE }, { 'c', "CREATED AT", FALSE, FALSE }, { 'd', "DESCRIPTION", FALSE, FALSE },
  { 'D', "DISK USAGE", TRUE, FALSE },  { 'f', "BASE IMAGE", FALSE, FALSE }, { 'F', "BASE IMAGE", FALSE, FALSE },
  { 'l', "LAST USED AT", FALSE, FALSE }, { 'L', "LOCATION", FALSE, FALSE }, { 'm', "MEMORY USAGE", TRUE, FALSE },
  { 'M', "MEMORY USAGE%", TRUE, FALSE }, { 'n', "NAME", FALSE, FALSE },     { 'N', "PROCESSES", TRUE, FALSE },
  { 'p', "PID", TRUE, FALSE },         { 'P', "PROFILES", FALSE, FALSE },   { 's', "STATE", FALSE, FALSE },
  { 'S', "SNAPSHOTS", FALSE, TRUE },   { 't', "TYPE", FALSE, FALSE },       { 'u', "CPU USAGE", TRUE, FALSE },
};

/* Parses lxc's -c value: letters, and comma-separated custom columns
 * "[config:|devices:]key[:NAME[:MAXWIDTH]]". */
static GPtrArray *
parse_columns (const char *spec, gboolean clustered, GError **error)
{
  g_autoptr (GPtrArray) columns = g_ptr_array_new_with_free_func ((GDestroyNotify) column_free);
  g_auto (GStrv) parts = g_strsplit (spec, ",", -1);

  for (guint p = 0; parts[p] != NULL; p++)
    {
      const char *part = parts[p];

      if (*part == '\0')
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Empty column entry (redundant, leading or trailing command) in '%s'", spec);
          return NULL;
        }
      if (strchr (part, '.') != NULL || strchr (part, ':') != NULL)
        {
          g_auto (GStrv) fields = g_strsplit (part, ":", -1);
          Column *c = g_new0 (Column, 1);
          guint n = g_strv_length (fields);
          guint k = 0;

          if (g_strcmp0 (fields[0], "config") == 0 || g_strcmp0 (fields[0], "devices") == 0)
            {
              c->from_devices = g_strcmp0 (fields[0], "devices") == 0;
              k = 1;
            }
          if (k >= n || *fields[k] == '\0')
            {
              column_free (c);
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Invalid config key column format (too many fields): '%s'", part);
              return NULL;
            }
          c->config_key = g_strdup (fields[k]);
          c->header = g_strdup (k + 1 < n && *fields[k + 1] != '\0' ? fields[k + 1] : fields[k]);
          g_ptr_array_add (columns, c);
          continue;
        }
      for (const char *ch = part; *ch != '\0'; ch++)
        {
          gsize i;

          for (i = 0; i < G_N_ELEMENTS (known_columns); i++)
            if (known_columns[i].code == *ch)
              break;
          if (i == G_N_ELEMENTS (known_columns))
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown column shorthand char '%c' in '%s'", *ch,
                           part);
              return NULL;
            }
          if (*ch == 'L' && !clustered)
            continue;
          {
            Column *c = g_new0 (Column, 1);
            c->code = *ch;
            c->header = g_strdup (known_columns[i].header);
            c->needs_state = known_columns[i].state;
            c->needs_snapshots = known_columns[i].snapshots;
            g_ptr_array_add (columns, c);
          }
        }
    }
  return g_steal_pointer (&columns);
}

static char *
join_profiles (JsonObject *inst)
{
  JsonArray *profiles = ferry_obj_array (inst, "profiles");
  GString *out = g_string_new (NULL);

  for (guint i = 0; profiles != NULL && i < json_array_get_length (profiles); i++)
    {
      if (i > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, json_array_get_string_element (profiles, i));
    }
  return g_string_free (out, FALSE);
}

static char *
column_value (Column *c, JsonObject *inst)
{
  JsonObject *state = ferry_obj_object (inst, "state");
  gboolean active = instance_active (inst);

  if (c->config_key != NULL)
    {
      if (c->from_devices)
        {
          /* "eth0.parent": device eth0, key parent */
          const char *dot = strchr (c->config_key, '.');
          g_autofree char *dev = dot != NULL ? g_strndup (c->config_key, dot - c->config_key) : NULL;
          if (dev == NULL)
            return g_strdup ("");
          return g_strdup (ferry_obj_string (ferry_obj_object (ferry_obj_object (inst, "expanded_devices"), dev), dot + 1));
        }
      return g_strdup (ferry_obj_string (ferry_obj_object (inst, "expanded_config"), c->config_key));
    }
  switch (c->code)
    {
    case 'n':
      return g_strdup (ferry_obj_string (inst, "name"));
    case 's':
      return g_ascii_strup (ferry_obj_string (inst, "status"), -1);
    case '4':
      return ferry_list_addresses (inst, "inet");
    case '6':
      return ferry_list_addresses (inst, "inet6");
    case 't':
      {
        const char *type = ferry_obj_string (inst, "type");
        g_autofree char *upper = g_ascii_strup (*type != '\0' ? type : "container", -1);
        return ferry_obj_bool (inst, "ephemeral") ? g_strdup_printf ("%s (EPHEMERAL)", upper) : g_strdup (upper);
      }
    case 'S':
      {
        JsonArray *snaps = ferry_obj_array (inst, "snapshots");
        return g_strdup_printf ("%u", snaps != NULL ? json_array_get_length (snaps) : 0);
      }
    case 'a':
      return g_strdup (ferry_obj_string (inst, "architecture"));
    case 'b':
      return g_strdup (ferry_obj_string (ferry_obj_object (ferry_obj_object (inst, "expanded_devices"), "root"), "pool"));
    case 'c':
      return ferry_format_time (ferry_obj_string (inst, "created_at"), "%Y/%m/%d %H:%M %Z", TRUE);
    case 'l':
      return ferry_format_time (ferry_obj_string (inst, "last_used_at"), "%Y/%m/%d %H:%M %Z", TRUE);
    case 'd':
      return g_strdup (ferry_obj_string (inst, "description"));
    case 'f':
      return g_strdup (ferry_obj_string (ferry_obj_object (inst, "expanded_config"), "image.description"));
    case 'F':
      return g_strdup (ferry_obj_string (ferry_obj_object (inst, "expanded_config"), "volatile.base_image"));
    case 'L':
      return g_strdup (ferry_obj_string (inst, "location"));
    case 'P':
      return join_profiles (inst);
    case 'p':
      return active && state != NULL ? g_strdup_printf ("%" G_GINT64_FORMAT, ferry_obj_int (state, "pid"))
                                     : g_strdup ("");
    case 'N':
      return active && state != NULL ? g_strdup_printf ("%" G_GINT64_FORMAT, ferry_obj_int (state, "processes"))
                                     : g_strdup ("");
    case 'm':
      return active && state != NULL ? ferry_size_iec (ferry_obj_int (ferry_obj_object (state, "memory"), "usage"))
                                     : g_strdup ("");
    case 'u':
      return active && state != NULL
               ? g_strdup_printf ("%" G_GINT64_FORMAT "s",
                                  ferry_obj_int (ferry_obj_object (state, "cpu"), "usage") / 1000000000)
               : g_strdup ("");
    case 'D':
      return active && state != NULL
               ? ferry_size_iec (ferry_obj_int (ferry_obj_object (ferry_obj_object (state, "disk"), "root"), "usage"))
               : g_strdup ("");
    default:
      return g_strdup ("");
    }
}

/* Top-level instance fields the server filters itself (api_filtering). */
static gboolean
is_server_filter_key (const char *key)
{
  static const char *const keys[] = { "name", "status", "type", "architecture", "location", "description",
                                      "ephemeral", "stateful", NULL };
  return g_strv_contains (keys, key);
}

static gboolean
regex_full_match (const char *pattern, const char *text, gboolean *valid)
{
  g_autofree char *anchored = NULL;
  g_autoptr (GRegex) regex = NULL;

  if (strchr (pattern, '^') == NULL && strchr (pattern, '$') == NULL)
    anchored = g_strdup_printf ("^%s$", pattern);
  else
    anchored = g_strdup (pattern);
  regex = g_regex_new (anchored, 0, 0, NULL);
  *valid = regex != NULL;
  return regex != NULL && g_regex_match (regex, text, 0, NULL);
}

/* lxc's shouldShow: a plain filter matches the name (regex or prefix); a
 * key=value filter matches a config key (regex on the value) or one of the
 * shorthand fields. */
gboolean ferry_list_filter_match (JsonObject *inst, const char *filter);
gboolean
ferry_list_filter_match (JsonObject *inst, const char *filter)
{
  const char *eq = strchr (filter, '=');
  const char *name = ferry_obj_string (inst, "name");
  gboolean valid;

  if (eq == NULL)
    return regex_full_match (filter, name, &valid) || g_str_has_prefix (name, filter);
  {
    g_autofree char *key = g_strndup (filter, eq - filter);
    const char *value = eq + 1;
    JsonObject *config = ferry_obj_object (inst, "expanded_config");
    g_autofree char *user_key = g_strdup_printf ("user.%s", key);

    if (is_server_filter_key (key))
      {
        const char *field = ferry_obj_string (inst, key);
        if (g_strcmp0 (key, "type") == 0 && *field == '\0')
          field = "container";
        if (g_strcmp0 (key, "ephemeral") == 0 || g_strcmp0 (key, "stateful") == 0)
          field = ferry_obj_bool (inst, key) ? "true" : "false";
        return g_ascii_strcasecmp (field, value) == 0;
      }
    if (g_strcmp0 (key, "ipv4") == 0 || g_strcmp0 (key, "ipv6") == 0)
      {
        g_autofree char *addresses = ferry_list_addresses (inst, g_strcmp0 (key, "ipv4") == 0 ? "inet" : "inet6");
        return strstr (addresses, value) != NULL;
      }
    if (config == NULL)
      return FALSE;
    for (const char *k = key; k != NULL; k = k == key ? user_key : NULL)
      if (json_object_has_member (config, k))
        {
          const char *actual = ferry_obj_string (config, k);
          if (regex_full_match (value, actual, &valid) || (!valid && g_strcmp0 (value, actual) == 0))
            return TRUE;
        }
    return FALSE;
  }
}

static char *
server_filter (char **filters)
{
  GString *out = g_string_new (NULL);

  for (char **f = filters; *f != NULL; f++)
    {
      const char *eq = strchr (*f, '=');
      g_autofree char *key = eq != NULL ? g_strndup (*f, eq - *f) : NULL;

      if (key == NULL || !is_server_filter_key (key))
        continue;
      if (out->len > 0)
        g_string_append (out, " and ");
      g_string_append_printf (out, "%s eq %s", key, eq + 1);
    }
  return g_string_free (out, FALSE);
}

static int
cmd_list (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *remote = ferry_remote_default ();
  g_autoptr (GPtrArray) filters = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) columns = NULL;
  g_autoptr (JsonArray) instances = NULL;
  g_autoptr (JsonArray) shown = json_array_new ();
  g_autoptr (FerryTable) table = ferry_table_new (NULL);
  g_autoptr (JsonNode) raw = json_node_new (JSON_NODE_ARRAY);
  g_autofree char *filter = NULL;
  g_autofree char *escaped_filter = NULL;
  g_autofree char *path = NULL;
  const char *spec = ferry_args_get_string (args, "columns", "ns46tSL");
  FerryFormat format;
  FerryClient *client;
  gboolean need_full = FALSE;
  JsonObject *server;

  if (!ferry_format_parse (ferry_args_get_string (args, "format", "table"), &format, error))
    return FERRY_EXIT_ERROR;
  if (ferry_args_get_bool (args, "fast"))
    {
      if (ferry_args_is_set (args, "columns"))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Can't specify --fast with --columns");
          return FERRY_EXIT_ERROR;
        }
      spec = "nsacPt";
    }
  for (guint i = 0; pos[i] != NULL; i++)
    {
      /* "remote:" (or "remote:filter") first, as lxc */
      if (i == 0 && strchr (pos[i], ':') != NULL && strchr (pos[i], '=') == NULL)
        {
          g_autofree char *rest = NULL;
          g_free (remote);
          remote = NULL;
          if (!ferry_remote_parse (pos[i], &remote, &rest, error))
            return FERRY_EXIT_ERROR;
          if (*rest != '\0')
            g_ptr_array_add (filters, g_steal_pointer (&rest));
          continue;
        }
      g_ptr_array_add (filters, g_strdup (pos[i]));
    }
  g_ptr_array_add (filters, NULL);
  client = ferry_cli_client (cli, remote, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  server = ferry_client_server (client, NULL);
  columns = parse_columns (spec, ferry_obj_bool (ferry_obj_object (server, "environment"), "server_clustered"), error);
  if (columns == NULL)
    return FERRY_EXIT_ERROR;
  for (guint i = 0; i < columns->len; i++)
    {
      Column *c = columns->pdata[i];
      need_full |= c->needs_state || c->needs_snapshots;
    }
  /* json/yaml show everything, like lxc */
  if (format == FERRY_FORMAT_JSON || format == FERRY_FORMAT_YAML)
    need_full = TRUE;

  filter = server_filter ((char **) filters->pdata);
  escaped_filter = g_uri_escape_string (filter, NULL, FALSE);
  path = g_strdup_printf ("/1.0/instances?filter=%s&recursion=%d", escaped_filter, need_full ? 2 : 1);
  instances = ferry_client_get_array (client, path, error);
  if (instances == NULL)
    return FERRY_EXIT_ERROR;

  for (guint i = 0; i < columns->len; i++)
    ferry_table_add_header (table, ((Column *) columns->pdata[i])->header);
  for (guint i = 0; i < json_array_get_length (instances); i++)
    {
      JsonObject *inst = json_array_get_object_element (instances, i);
      GPtrArray *row;
      gboolean match = TRUE;

      if (inst == NULL)
        continue;
      for (char **f = (char **) filters->pdata; *f != NULL && match; f++)
        match = ferry_list_filter_match (inst, *f);
      if (!match)
        continue;
      /* Only json/yaml print the objects themselves: a table needs no copy. */
      if (format == FERRY_FORMAT_JSON || format == FERRY_FORMAT_YAML)
        json_array_add_element (shown, json_node_copy (json_array_get_element (instances, i)));
      row = g_ptr_array_new ();
      for (guint c = 0; c < columns->len; c++)
        g_ptr_array_add (row, column_value (columns->pdata[c], inst));
      g_ptr_array_add (row, NULL);
      ferry_table_add_row (table, (char **) g_ptr_array_free (row, FALSE));
    }
  ferry_table_sort (table);
  json_node_set_array (raw, shown);
  ferry_output_print (format, table, raw);
  return 0;
}

static const FerryOption list_options[] = {
  { "all-projects", 0, FERRY_OPT_BOOL, "Display instances from all projects" },
  { "columns", 'c', FERRY_OPT_STRING, "Columns (default \"ns46tSL\")" },
  { "fast", 0, FERRY_OPT_BOOL, "Fast mode (same as --columns=nsacPt)" },
  { "format", 'f', FERRY_OPT_STRING, "Format (csv|json|table|yaml|compact) (default \"table\")" },
  { NULL },
};

static const char *const list_aliases[] = { "ls", NULL };

const FerryCommand ferry_cmd_list = {
  .name = "list",
  .aliases = list_aliases,
  .summary = "List instances",
  .description =
    "List instances\n\n"
    "Default column layout: ns46tS\n"
    "Fast column layout: nsacPt\n\n"
    "A single keyword like \"web\" which will list any instance with a name starting by \"web\".\n"
    "A regular expression on the instance name. (e.g. .*web.*01$).\n"
    "A key/value pair referring to a configuration item. For those, the\n"
    "namespace can be abbreviated to the smallest unambiguous identifier.\n"
    "A key/value pair where the key is a shorthand. Multiple values must be delimited by ','.\n\n"
    "Pre-defined column shorthand chars:\n"
    "  4 - IPv4 address\n  6 - IPv6 address\n  a - Architecture\n  b - Storage pool\n"
    "  c - Creation date\n  d - Description\n  D - disk usage\n  f - Base Image\n"
    "  F - Base Image (fingerprint)\n  l - Last used date\n  m - Memory usage\n"
    "  n - Name\n  N - Number of Processes\n  p - PID of the instance's init process\n"
    "  P - Profiles\n  s - State\n  S - Number of snapshots\n  t - Type (persistent or ephemeral)\n"
    "  u - CPU usage (in seconds)\n\n"
    "Custom columns are defined with \"[config:|devices:]key[:name][:maxWidth]\"",
  .usage = "[<remote>:] [<filter>...]",
  .examples = "ferry list -c ns,user.comment:comment\n  List instances with their running state and user comment.",
  .options = list_options,
  .run = cmd_list,
  .min_args = -1,
};
