/* ferry info (lxc/info.go): an instance's status and resources, or the
 * server's information (with the CRIU ferryd found). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "checkpoint-stats.h"
#include "cli.h"
#include "common/error.h"
#include "instance.h"
#include "common/yaml.h"

#define INFO_TIME_LAYOUT "%Y/%m/%d %H:%M %Z"

static void
print_time_line (const char *label, JsonObject *obj, const char *member)
{
  g_autofree char *text = ferry_format_time (ferry_obj_string (obj, member), INFO_TIME_LAYOUT, FALSE);

  if (*text != '\0')
    printf ("%s: %s\n", label, text);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

static void
append_network (GString *out, JsonObject *network)
{
  GList *names = g_list_sort (json_object_get_members (network), compare_strings);

  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonObject *nic = ferry_obj_object (network, l->data);
      JsonObject *counters = ferry_obj_object (nic, "counters");
      JsonArray *addresses = ferry_obj_array (nic, "addresses");
      g_autofree char *state = g_ascii_strup (ferry_obj_string (nic, "state"), -1);
      g_autofree char *rx = ferry_size_si (ferry_obj_int (counters, "bytes_received"));
      g_autofree char *tx = ferry_size_si (ferry_obj_int (counters, "bytes_sent"));

      g_string_append_printf (out, "    %s:\n", (const char *) l->data);
      g_string_append_printf (out, "      Type: %s\n", ferry_obj_string (nic, "type"));
      g_string_append_printf (out, "      State: %s\n", state);
      if (*ferry_obj_string (nic, "host_name") != '\0')
        g_string_append_printf (out, "      Host interface: %s\n", ferry_obj_string (nic, "host_name"));
      if (*ferry_obj_string (nic, "hwaddr") != '\0')
        g_string_append_printf (out, "      MAC address: %s\n", ferry_obj_string (nic, "hwaddr"));
      if (ferry_obj_int (nic, "mtu") != 0)
        g_string_append_printf (out, "      MTU: %" G_GINT64_FORMAT "\n", ferry_obj_int (nic, "mtu"));
      g_string_append_printf (out, "      Bytes received: %s\n", rx);
      g_string_append_printf (out, "      Bytes sent: %s\n", tx);
      g_string_append_printf (out, "      Packets received: %" G_GINT64_FORMAT "\n",
                              ferry_obj_int (counters, "packets_received"));
      g_string_append_printf (out, "      Packets sent: %" G_GINT64_FORMAT "\n", ferry_obj_int (counters, "packets_sent"));
      g_string_append (out, "      IP addresses:\n");
      for (guint i = 0; addresses != NULL && i < json_array_get_length (addresses); i++)
        {
          JsonObject *addr = json_array_get_object_element (addresses, i);
          const char *family = ferry_obj_string (addr, "family");

          g_string_append_printf (out, "        %s:%s%s/%s (%s)\n", family, g_strcmp0 (family, "inet") == 0 ? "  " : " ",
                                  ferry_obj_string (addr, "address"), ferry_obj_string (addr, "netmask"),
                                  ferry_obj_string (addr, "scope"));
        }
    }
  g_list_free (names);
}

static void
print_resources (JsonObject *state)
{
  JsonObject *memory = ferry_obj_object (state, "memory");
  JsonObject *disk = ferry_obj_object (state, "disk");
  JsonObject *network = ferry_obj_object (state, "network");
  gint64 cpu = ferry_obj_int (ferry_obj_object (state, "cpu"), "usage");
  g_autoptr (GString) disk_info = g_string_new (NULL);
  g_autoptr (GString) memory_info = g_string_new (NULL);
  g_autoptr (GString) network_info = g_string_new (NULL);
  static const struct
  {
    const char *member;
    const char *label;
  } memory_fields[] = {
    { "usage", "Memory (current)" },
    { "usage_peak", "Memory (peak)" },
    { "swap_usage", "Swap (current)" },
    { "swap_usage_peak", "Swap (peak)" },
  };

  printf ("\nResources:\n");
  printf ("  Processes: %" G_GINT64_FORMAT "\n", ferry_obj_int (state, "processes"));
  if (disk != NULL)
    {
      GList *names = g_list_sort (json_object_get_members (disk), compare_strings);
      for (GList *l = names; l != NULL; l = l->next)
        {
          gint64 usage = ferry_obj_int (ferry_obj_object (disk, l->data), "usage");
          if (usage != 0)
            {
              g_autofree char *size = ferry_size_iec (usage);
              g_string_append_printf (disk_info, "    %s: %s\n", (const char *) l->data, size);
            }
        }
      g_list_free (names);
    }
  if (disk_info->len > 0)
    printf ("  Disk usage:\n%s", disk_info->str);
  if (cpu != 0)
    printf ("  CPU usage:\n    CPU usage (in seconds): %" G_GINT64_FORMAT "\n", cpu / 1000000000);
  for (gsize i = 0; i < G_N_ELEMENTS (memory_fields); i++)
    {
      gint64 value = ferry_obj_int (memory, memory_fields[i].member);
      if (value != 0)
        {
          g_autofree char *size = ferry_size_iec (value);
          g_string_append_printf (memory_info, "    %s: %s\n", memory_fields[i].label, size);
        }
    }
  if (memory_info->len > 0)
    printf ("  Memory usage:\n%s", memory_info->str);
  if (network != NULL)
    append_network (network_info, network);
  if (network_info->len > 0)
    printf ("  Network usage:\n%s", network_info->str);
}

static void
print_snapshots (JsonArray *snapshots)
{
  static const char *const headers[] = { "Name", "Taken at", "Expires at", "Stateful", NULL };
  g_autoptr (FerryTable) table = NULL;
  g_autofree char *text = NULL;

  if (snapshots == NULL || json_array_get_length (snapshots) == 0)
    return;
  printf ("\nSnapshots:\n");
  table = ferry_table_new (headers);
  for (guint i = 0; i < json_array_get_length (snapshots); i++)
    {
      JsonObject *snap = json_array_get_object_element (snapshots, i);
      char **row = g_new0 (char *, 5);

      row[0] = g_strdup (ferry_url_last_part (ferry_obj_string (snap, "name")));
      row[1] = ferry_format_time (ferry_obj_string (snap, "created_at"), INFO_TIME_LAYOUT, FALSE);
      row[2] = ferry_format_time (ferry_obj_string (snap, "expires_at"), INFO_TIME_LAYOUT, FALSE);
      row[3] = g_strdup (ferry_obj_bool (snap, "stateful") ? "YES" : "NO");
      ferry_table_add_row (table, row);
    }
  text = ferry_table_render_boxed (table);
  fputs (text, stdout);
}

/* ferryd's record of the last CRIU dump and restore (absent on LXD) */
static void
print_checkpoints (JsonObject *inst)
{
  g_autoptr (GString) out = g_string_new (NULL);

  ferry_checkpoint_append_record (out, "Last checkpoint", ferry_obj_object (inst, "last_dump"), FALSE);
  ferry_checkpoint_append_record (out, "Last restore", ferry_obj_object (inst, "last_restore"), FALSE);
  fputs (out->str, stdout);
}

static gboolean
print_log (FerryClient *client, const char *name, GError **error)
{
  g_autofree char *escaped = ferry_client_escape (name);
  g_autofree char *path = g_strdup_printf ("/1.0/instances/%s/logs/lxc.log", escaped);
  g_autoptr (GBytes) log = ferry_client_get_raw (client, path, error);
  gsize len = 0;
  const char *data;

  if (log == NULL)
    return FALSE;
  data = g_bytes_get_data (log, &len);
  printf ("\nLog:\n\n");
  fwrite (data, 1, len, stdout);
  printf ("\n");
  return TRUE;
}

static int
instance_info (FerryCli *cli, FerryClient *client, const char *name, gboolean show_log, GError **error)
{
  g_autoptr (JsonObject) inst = ferry_instance_get (client, name, TRUE, NULL, error);
  JsonObject *state;
  g_autofree char *status = NULL;
  const char *type;

  if (inst == NULL)
    return FERRY_EXIT_ERROR;
  state = ferry_obj_object (inst, "state");
  status = g_ascii_strup (ferry_obj_string (inst, "status"), -1);
  type = ferry_obj_string (inst, "type");
  if (*type == '\0')
    type = "container";

  printf ("Name: %s\n", ferry_obj_string (inst, "name"));
  printf ("Status: %s\n", status);
  printf (ferry_obj_bool (inst, "ephemeral") ? "Type: %s (ephemeral)\n" : "Type: %s\n", type);
  printf ("Architecture: %s\n", ferry_obj_string (inst, "architecture"));
  if (ferry_obj_int (state, "pid") != 0)
    printf ("PID: %" G_GINT64_FORMAT "\n", ferry_obj_int (state, "pid"));
  print_time_line ("Created", inst, "created_at");
  print_time_line ("Last Used", inst, "last_used_at");
  if (ferry_obj_int (state, "pid") != 0)
    print_resources (state);
  print_checkpoints (inst);
  print_snapshots (ferry_obj_array (inst, "snapshots"));
  if (show_log && !print_log (client, name, error))
    return FERRY_EXIT_ERROR;
  return 0;
}

/* LXD's ServerStorageDriverInfo has no JSON tags ("Name") but lower-case
 * YAML tags ("name"): lxc prints the latter. */
static void
lowercase_driver_keys (JsonObject *environment)
{
  JsonArray *drivers = ferry_obj_array (environment, "storage_supported_drivers");
  g_autoptr (JsonArray) out = json_array_new ();

  if (drivers == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (drivers); i++)
    {
      JsonObject *driver = json_array_get_object_element (drivers, i);
      g_autoptr (JsonObject) lowered = json_object_new ();
      g_autoptr (GList) keys = NULL;

      if (driver == NULL)
        {
          json_array_add_element (out, json_node_copy (json_array_get_element (drivers, i)));
          continue;
        }
      keys = json_object_get_members (driver);
      for (GList *l = keys; l != NULL; l = l->next)
        {
          g_autofree char *lower = g_ascii_strdown (l->data, -1);
          json_object_set_member (lowered, lower, json_node_copy (json_object_get_member (driver, l->data)));
        }
      json_array_add_object_element (out, g_steal_pointer (&lowered));
    }
  json_object_set_array_member (environment, "storage_supported_drivers", g_steal_pointer (&out));
}

static void
print_size_line (const char *prefix, const char *label, gint64 bytes)
{
  g_autofree char *size = ferry_size_iec (bytes);

  printf ("%s%s: %s\n", prefix, label, size);
}

/* One CPU socket as lxc's renderCPU. */
static void
print_cpu_socket (JsonObject *socket, const char *prefix)
{
  JsonArray *cores = ferry_obj_array (socket, "cores");
  gint64 freq = ferry_obj_int (socket, "frequency");
  gint64 fmin = ferry_obj_int (socket, "frequency_minimum");
  gint64 fmax = ferry_obj_int (socket, "frequency_turbo");

  if (*ferry_obj_string (socket, "vendor") != '\0')
    printf ("%sVendor: %s\n", prefix, ferry_obj_string (socket, "vendor"));
  if (*ferry_obj_string (socket, "name") != '\0')
    printf ("%sName: %s\n", prefix, ferry_obj_string (socket, "name"));
  printf ("%sCores:\n", prefix);
  for (guint i = 0; cores != NULL && i < json_array_get_length (cores); i++)
    {
      JsonObject *core = json_array_get_object_element (cores, i);
      JsonArray *threads = core ? ferry_obj_array (core, "threads") : NULL;

      if (core == NULL)
        continue;
      printf ("%s  - Core %" G_GINT64_FORMAT "\n", prefix, ferry_obj_int (core, "core"));
      printf ("%s    Frequency: %" G_GINT64_FORMAT "Mhz\n", prefix, ferry_obj_int (core, "frequency"));
      printf ("%s    Threads:\n", prefix);
      for (guint j = 0; threads != NULL && j < json_array_get_length (threads); j++)
        {
          JsonObject *t = json_array_get_object_element (threads, j);
          if (t != NULL)
            printf ("%s      - %" G_GINT64_FORMAT " (id: %" G_GINT64_FORMAT ", online: %s, NUMA node: %" G_GINT64_FORMAT
                    ")\n",
                    prefix, ferry_obj_int (t, "thread"), ferry_obj_int (t, "id"),
                    ferry_obj_bool (t, "online") ? "true" : "false", ferry_obj_int (t, "numa_node"));
        }
    }
  if (freq > 0 && fmin > 0 && fmax > 0)
    printf ("%sFrequency: %" G_GINT64_FORMAT "Mhz (min: %" G_GINT64_FORMAT "Mhz, max: %" G_GINT64_FORMAT "Mhz)\n",
            prefix, freq, fmin, fmax);
  else if (freq > 0)
    printf ("%sFrequency: %" G_GINT64_FORMAT "Mhz\n", prefix, freq);
}

/* A section of cards or disks: "TITLE:" for one, "TITLEs:" with "ITEM N:"
 * for several, as lxc; each item's string KEYS with their LABELS. */
static void
print_items (JsonArray *items, const char *title, const char *item, const char *const (*fields)[2], gsize n_fields)
{
  guint n = items != NULL ? json_array_get_length (items) : 0;

  if (n == 0)
    return;
  printf ("\n%s%s:\n", title, n > 1 ? "s" : "");
  for (guint i = 0; i < n; i++)
    {
      JsonObject *o = json_array_get_object_element (items, i);
      const char *prefix = n > 1 ? "    " : "  ";

      if (o == NULL)
        continue;
      if (n > 1)
        printf ("  %s %u:\n", item, i);
      printf ("%sNUMA node: %" G_GINT64_FORMAT "\n", prefix, ferry_obj_int (o, "numa_node"));
      for (gsize f = 0; f < n_fields; f++)
        if (*ferry_obj_string (o, fields[f][0]) != '\0')
          printf ("%s%s: %s\n", prefix, fields[f][1], ferry_obj_string (o, fields[f][0]));
      if (json_object_has_member (o, "size"))
        print_size_line (prefix, "Size", ferry_obj_int (o, "size"));
    }
}

/* info --resources: GET /1.0/resources printed as lxc prints it (CPU,
 * memory, NICs, disks; GPUs never, Ferry reports none). */
static int
server_resources (FerryClient *client, GError **error)
{
  static const char *const nic_fields[][2] = { { "pci_address", "PCI address" }, { "driver", "Driver" } };
  static const char *const disk_fields[][2] = { { "id", "ID" }, { "device", "Device" }, { "model", "Model" },
                                                { "type", "Type" } };
  g_autoptr (JsonObject) res = ferry_client_get_object (client, "/1.0/resources", NULL, error);
  JsonObject *cpu, *memory;
  JsonArray *sockets;

  if (res == NULL)
    return FERRY_EXIT_ERROR;
  cpu = ferry_obj_object (res, "cpu");
  memory = ferry_obj_object (res, "memory");
  sockets = cpu != NULL ? ferry_obj_array (cpu, "sockets") : NULL;
  if (sockets != NULL && json_array_get_length (sockets) == 1)
    {
      printf ("CPU (%s):\n", ferry_obj_string (cpu, "architecture"));
      print_cpu_socket (json_array_get_object_element (sockets, 0), "  ");
    }
  else if (sockets != NULL && json_array_get_length (sockets) > 1)
    {
      printf ("CPUs (%s):\n", ferry_obj_string (cpu, "architecture"));
      for (guint i = 0; i < json_array_get_length (sockets); i++)
        {
          JsonObject *socket = json_array_get_object_element (sockets, i);
          printf ("  Socket %" G_GINT64_FORMAT ":\n", ferry_obj_int (socket, "socket"));
          print_cpu_socket (socket, "    ");
        }
    }
  printf ("\nMemory:\n");
  if (memory != NULL && ferry_obj_int (memory, "hugepages_total") > 0)
    {
      printf ("  Hugepages:\n");
      print_size_line ("    ", "Free",
                       ferry_obj_int (memory, "hugepages_total") - ferry_obj_int (memory, "hugepages_used"));
      print_size_line ("    ", "Used", ferry_obj_int (memory, "hugepages_used"));
      print_size_line ("    ", "Total", ferry_obj_int (memory, "hugepages_total"));
    }
  if (memory != NULL)
    {
      print_size_line ("  ", "Free", ferry_obj_int (memory, "total") - ferry_obj_int (memory, "used"));
      print_size_line ("  ", "Used", ferry_obj_int (memory, "used"));
      print_size_line ("  ", "Total", ferry_obj_int (memory, "total"));
    }
  print_items (ferry_obj_array (ferry_obj_object (res, "network"), "cards"), "NIC", "Card", nic_fields,
               G_N_ELEMENTS (nic_fields));
  print_items (ferry_obj_array (ferry_obj_object (res, "storage"), "disks"), "Disk", "Disk", disk_fields,
               G_N_ELEMENTS (disk_fields));
  return 0;
}

/* Without an instance: the server's whole /1.0 as YAML, as lxc. ferryd adds
 * criu_version, criu_path and criu_check to "environment"; they show there. */
static int
server_info (FerryClient *client, GError **error)
{
  JsonObject *server = ferry_client_server (client, error);
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;

  if (server == NULL)
    return FERRY_EXIT_ERROR;
  if (ferry_obj_object (server, "environment") != NULL)
    lowercase_driver_keys (ferry_obj_object (server, "environment"));
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, server);
  text = ferry_yaml_write (node);
  fputs (text, stdout);
  return 0;
}

static int
cmd_info (FerryCli *cli, FerryArgs *args, GError **error)
{
  char **pos = ferry_args_positional (args);
  g_autofree char *name = NULL;
  FerryClient *client;

  if (ferry_args_n_positional (args) > 1)
    {
      ferry_cli_usage_error (error);
      return FERRY_EXIT_ERROR;
    }
  client = ferry_cli_resolve (cli, pos[0] != NULL ? pos[0] : "", &name, error);
  if (client == NULL)
    return FERRY_EXIT_ERROR;
  if (*name == '\0')
    {
      if (ferry_args_get_bool (args, "resources"))
        return server_resources (client, error);
      return server_info (client, error);
    }
  return instance_info (cli, client, name, ferry_args_get_bool (args, "show-log"), error);
}

static const FerryOption info_options[] = {
  { "resources", 0, FERRY_OPT_BOOL, "Show the resources available to the server" },
  { "show-log", 0, FERRY_OPT_BOOL, "Show the instance's last 100 log lines?" },
  { NULL },
};

const FerryCommand ferry_cmd_info = {
  .name = "info",
  .summary = "Show instance or server information",
  .usage = "[<remote>:][<instance>]",
  .examples = "ferry info [<remote>:]<instance> [--show-log]\n    For instance information.\n\n"
              "ferry info [<remote>:]\n    For server information (kernel, CRIU and its checks, storage, API extensions).",
  .options = info_options,
  .run = cmd_info,
  .min_args = -1,
};
