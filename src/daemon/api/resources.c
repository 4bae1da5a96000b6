/* GET /1.0/resources: the host's CPUs, memory, disks and network cards as
 * LXD's api.Resources (lxd/resources/ at 5.0.2), read from /proc and /sys
 * at each request. Clients use it to place instances (lxc info
 * --resources). GPUs and USB devices are not passed to containers by
 * Ferry: those sections are empty, as LXD shows them on a machine without
 * any; PCI devices are listed as LXD lists them. */
#include "daemon/api/api.h"

#include "common/json.h"
#include "network/network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define SYS_CPU "/sys/devices/system/cpu"
#define SYS_NODE "/sys/devices/system/node"

/* A /sys or /proc file's first line, stripped; NULL when unreadable. */
static char *
read_line (const char *dir, const char *name)
{
  g_autofree char *path = name ? g_build_filename (dir, name, NULL) : g_strdup (dir);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  text[strcspn (text, "\n")] = '\0';
  return g_strdup (g_strstrip (text));
}

static guint64
read_uint (const char *dir, const char *name, guint64 fallback)
{
  g_autofree char *line = read_line (dir, name);
  char *end = NULL;
  guint64 v;

  if (line == NULL || *line == '\0')
    return fallback;
  v = g_ascii_strtoull (line, &end, 10);
  return end != line ? v : fallback;
}

/* The NUMA node of a sysfs device or CPU directory: its nodeN entry, or
 * its numa_node file; 0 without NUMA. */
static guint64
numa_node (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *e;
  gint64 n = (gint64) read_uint (dir, "numa_node", 0);

  while (d != NULL && (e = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (e, "node") && g_ascii_isdigit (e[4]))
      return g_ascii_strtoull (e + 4, NULL, 10);
  return n < 0 ? 0 : (guint64) n;
}

/* Entries of DIR starting with PREFIX followed by a number, by number. */
static gint
by_number (gconstpointer a, gconstpointer b, gpointer prefix_len)
{
  guint64 x = g_ascii_strtoull (*(const char *const *) a + GPOINTER_TO_UINT (prefix_len), NULL, 10);
  guint64 y = g_ascii_strtoull (*(const char *const *) b + GPOINTER_TO_UINT (prefix_len), NULL, 10);

  return x < y ? -1 : x > y;
}

static GPtrArray *
numbered_entries (const char *dir, const char *prefix)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  gsize len = strlen (prefix);
  const char *e;

  while (d != NULL && (e = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (e, prefix) && e[len] != '\0' && strspn (e + len, "0123456789") == strlen (e + len))
      g_ptr_array_add (out, g_strdup (e));
  g_ptr_array_sort_with_data (out, by_number, GUINT_TO_POINTER (len));
  return out;
}

/* g_ptr_array_sort's comparator of an array of strings (it passes
 * pointers to the elements). */
static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
sorted_entries (const char *dir)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *e;

  while (d != NULL && (e = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (out, g_strdup (e));
  g_ptr_array_sort (out, compare_strings);
  return out;
}

/* ---- CPU ---- */

/* /proc/cpuinfo's "KEY : value" of each processor, by processor number. */
static GHashTable *
cpuinfo_field (const char *key)
{
  GHashTable *out = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  gint64 cpu = -1;

  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return out;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      g_strstrip (lines[i]);
      if (strcmp (lines[i], "processor") == 0)
        cpu = g_ascii_strtoll (colon + 1, NULL, 10);
      else if (cpu >= 0 && strcmp (lines[i], key) == 0)
        g_hash_table_replace (out, GINT_TO_POINTER ((int) cpu), g_strdup (g_strstrip (colon + 1)));
    }
  return out;
}

/* The CPUs of /sys/devices/system/cpu/isolated ("1-3,5"). */
static gboolean
cpu_isolated (const char *list, guint64 cpu)
{
  g_auto (GStrv) ranges = g_strsplit (list ? list : "", ",", -1);

  for (guint i = 0; ranges[i] != NULL; i++)
    {
      guint64 a = 0, b = 0;
      int n = sscanf (ranges[i], "%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT, &a, &b);
      if ((n == 1 && cpu == a) || (n == 2 && cpu >= a && cpu <= b))
        return TRUE;
    }
  return FALSE;
}

static JsonObject *
find_by_int (JsonArray *arr, const char *key, guint64 value, guint64 second_key_value, const char *second_key)
{
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonObject *o = json_array_get_object_element (arr, i);
      if ((guint64) json_object_get_int_member (o, key) == value
          && (second_key == NULL || (guint64) json_object_get_int_member (o, second_key) == second_key_value))
        return o;
    }
  return NULL;
}

static void
set_uint (JsonObject *o, const char *key, guint64 v)
{
  json_object_set_int_member (o, key, (gint64) v);
}

static JsonObject *
new_socket (guint64 socket, const char *name, const char *vendor, guint64 freq_min, guint64 freq_max)
{
  JsonObject *s = json_object_new ();

  if (name != NULL && *name != '\0')
    json_object_set_string_member (s, "name", name);
  if (vendor != NULL && *vendor != '\0')
    json_object_set_string_member (s, "vendor", vendor);
  set_uint (s, "socket", socket);
  json_object_set_array_member (s, "cores", json_array_new ());
  if (freq_min > 0)
    set_uint (s, "frequency_minimum", freq_min);
  if (freq_max > 0)
    set_uint (s, "frequency_turbo", freq_max);
  return s;
}

/* The socket's frequency: the mean of its cores' (as LXD). */
static void
socket_frequency (JsonObject *socket)
{
  JsonArray *cores = json_object_get_array_member (socket, "cores");
  guint64 sum = 0, n = 0;

  for (guint i = 0; i < json_array_get_length (cores); i++)
    {
      JsonObject *c = json_array_get_object_element (cores, i);
      if (json_object_has_member (c, "frequency"))
        {
          sum += (guint64) json_object_get_int_member (c, "frequency");
          n++;
        }
    }
  if (n > 0)
    set_uint (socket, "frequency", sum / n);
}

static JsonObject *
cpu_json (void)
{
  JsonObject *cpu = json_object_new ();
  JsonArray *sockets = json_array_new ();
  g_autoptr (GPtrArray) cpus = numbered_entries (SYS_CPU, "cpu");
  g_autoptr (GHashTable) names = cpuinfo_field ("model name");
  g_autoptr (GHashTable) vendors = cpuinfo_field ("vendor_id");
  g_autofree char *isolated = read_line (SYS_CPU "/isolated", NULL);
  struct utsname uts;
  guint64 total = 0;

  uname (&uts);
  for (guint i = 0; i < cpus->len; i++)
    {
      const char *entry = g_ptr_array_index (cpus, i);
      g_autofree char *dir = g_build_filename (SYS_CPU, entry, NULL);
      g_autofree char *topology = g_build_filename (dir, "topology", NULL);
      g_autofree char *cpufreq = g_build_filename (dir, "cpufreq", NULL);
      guint64 id = g_ascii_strtoull (entry + 3, NULL, 10);
      guint64 socket_id, core_id, die_id;
      JsonObject *socket, *core, *thread;
      JsonArray *threads;

      if (!g_file_test (topology, G_FILE_TEST_IS_DIR))
        continue; /* offline CPUs without topology: LXD skips them too */
      socket_id = read_uint (topology, "physical_package_id", 0);
      core_id = read_uint (topology, "core_id", 0);
      die_id = read_uint (topology, "die_id", 0);
      socket = find_by_int (sockets, "socket", socket_id, 0, NULL);
      if (socket == NULL)
        {
          socket = new_socket (socket_id, g_hash_table_lookup (names, GINT_TO_POINTER ((int) id)),
                               g_hash_table_lookup (vendors, GINT_TO_POINTER ((int) id)),
                               read_uint (cpufreq, "cpuinfo_min_freq", 0) / 1000,
                               read_uint (cpufreq, "cpuinfo_max_freq", 0) / 1000);
          json_array_add_object_element (sockets, socket);
        }
      core = find_by_int (json_object_get_array_member (socket, "cores"), "core", core_id, die_id, "die");
      if (core == NULL)
        {
          /* cpufreq's current frequency (kHz); none without cpufreq (a
           * virtual machine), as LXD: the key is then left out. */
          guint64 freq = read_uint (cpufreq, "scaling_cur_freq", 0) / 1000;
          core = json_object_new ();
          set_uint (core, "core", core_id);
          set_uint (core, "die", die_id);
          json_object_set_array_member (core, "threads", json_array_new ());
          if (freq > 0)
            set_uint (core, "frequency", freq);
          json_array_add_object_element (json_object_get_array_member (socket, "cores"), core);
        }
      threads = json_object_get_array_member (core, "threads");
      thread = json_object_new ();
      set_uint (thread, "id", id);
      set_uint (thread, "numa_node", numa_node (dir));
      set_uint (thread, "thread", json_array_get_length (threads));
      json_object_set_boolean_member (thread, "online", read_uint (dir, "online", 1) != 0);
      json_object_set_boolean_member (thread, "isolated", cpu_isolated (isolated, id));
      json_array_add_object_element (threads, thread);
      total++;
    }
  for (guint i = 0; i < json_array_get_length (sockets); i++)
    socket_frequency (json_array_get_object_element (sockets, i));
  json_object_set_string_member (cpu, "architecture", uts.machine);
  json_object_set_array_member (cpu, "sockets", sockets);
  set_uint (cpu, "total", total);
  return cpu;
}

/* ---- memory ---- */

typedef struct
{
  guint64 total, free, used, cached, buffers, huge_total, huge_free, huge_size;
} MemInfo;

/* /proc/meminfo, or a node's meminfo ("Node N KEY: V kB"). */
static gboolean
parse_meminfo (const char *path, MemInfo *m)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  memset (m, 0, sizeof *m);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i], *colon = strchr (line, ':');
      g_auto (GStrv) value = NULL;
      guint64 v;

      if (colon == NULL)
        continue;
      if (g_str_has_prefix (line, "Node "))
        line = strchr (line + 5, ' ') ? strchr (line + 5, ' ') + 1 : line;
      *colon = '\0';
      value = g_strsplit_set (g_strstrip (colon + 1), " ", -1);
      v = g_ascii_strtoull (value[0], NULL, 10);
      if (value[1] != NULL && strcmp (value[1], "kB") == 0)
        v *= 1024;
      if (strcmp (line, "MemTotal") == 0)
        m->total = v;
      else if (strcmp (line, "MemFree") == 0)
        m->free = v;
      else if (strcmp (line, "MemUsed") == 0)
        m->used = v;
      else if (strcmp (line, "Cached") == 0)
        m->cached = v;
      else if (strcmp (line, "Buffers") == 0)
        m->buffers = v;
      else if (strcmp (line, "HugePages_Total") == 0)
        m->huge_total = v;
      else if (strcmp (line, "HugePages_Free") == 0)
        m->huge_free = v;
      else if (strcmp (line, "Hugepagesize") == 0)
        m->huge_size = v;
    }
  return TRUE;
}

static JsonObject *
memory_json (void)
{
  JsonObject *mem = json_object_new ();
  MemInfo m;
  g_autoptr (GPtrArray) nodes = numbered_entries (SYS_NODE, "node");

  parse_meminfo ("/proc/meminfo", &m);
  set_uint (mem, "hugepages_total", m.huge_total * m.huge_size);
  set_uint (mem, "hugepages_used", (m.huge_total - m.huge_free) * m.huge_size);
  set_uint (mem, "hugepages_size", m.huge_size);
  set_uint (mem, "used", m.total - m.free - m.cached - m.buffers);
  set_uint (mem, "total", m.total);
  if (g_file_test (SYS_NODE, G_FILE_TEST_IS_DIR))
    {
      JsonArray *arr = json_array_new ();
      for (guint i = 0; i < nodes->len; i++)
        {
          const char *entry = g_ptr_array_index (nodes, i);
          g_autofree char *path = g_build_filename (SYS_NODE, entry, "meminfo", NULL);
          JsonObject *n;
          MemInfo nm;

          if (!parse_meminfo (path, &nm))
            continue;
          n = json_object_new ();
          set_uint (n, "numa_node", g_ascii_strtoull (entry + 4, NULL, 10));
          set_uint (n, "hugepages_used", (nm.huge_total - nm.huge_free) * m.huge_size);
          set_uint (n, "hugepages_total", nm.huge_total * m.huge_size);
          set_uint (n, "used", nm.used);
          set_uint (n, "total", nm.total);
          json_array_add_object_element (arr, n);
        }
      json_object_set_array_member (mem, "nodes", arr);
    }
  return mem;
}

/* ---- storage ---- */

/* The PCI address of a sysfs device (the last dddd:bb:dd.f of its real
 * path), or NULL. */
static char *
pci_address (const char *device_link)
{
  g_autofree char *real = realpath (device_link, NULL);
  g_auto (GStrv) parts = real ? g_strsplit (real, "/", -1) : NULL;
  char *found = NULL;

  for (guint i = 0; parts != NULL && parts[i] != NULL; i++)
    if (strlen (parts[i]) == 12 && parts[i][4] == ':' && parts[i][7] == ':' && parts[i][10] == '.')
      {
        g_free (found);
        found = g_strdup (parts[i]);
      }
  return found;
}

static void
set_optional (JsonObject *o, const char *key, const char *value)
{
  if (value != NULL && *value != '\0')
    json_object_set_string_member (o, key, value);
}

/* LXD's disk type from the driver path: nvme, virtio, scsi, mmc, cdrom. */
static const char *
disk_type (const char *name, const char *block_dir)
{
  g_autofree char *dev = g_build_filename (block_dir, "device", NULL);
  g_autofree char *real = realpath (dev, NULL);

  if (g_str_has_prefix (name, "nvme"))
    return "nvme";
  if (g_str_has_prefix (name, "mmcblk"))
    return "mmc";
  if (g_str_has_prefix (name, "sr"))
    return "cdrom";
  if (real != NULL && strstr (real, "/virtio") != NULL)
    return "virtio";
  if (g_str_has_prefix (name, "sd"))
    return "scsi";
  return "";
}

static JsonObject *
storage_json (void)
{
  JsonObject *storage = json_object_new ();
  JsonArray *disks = json_array_new ();
  g_autoptr (GPtrArray) blocks = sorted_entries ("/sys/class/block");

  for (guint i = 0; i < blocks->len; i++)
    {
      const char *name = g_ptr_array_index (blocks, i);
      g_autofree char *dir = g_build_filename ("/sys/class/block", name, NULL);
      g_autofree char *device = g_build_filename (dir, "device", NULL);
      g_autofree char *partition = g_build_filename (dir, "partition", NULL);
      g_autofree char *dev = NULL, *model = NULL, *serial = NULL, *wwid = NULL, *pci = NULL, *firmware = NULL;
      JsonArray *parts = json_array_new ();
      g_autoptr (GPtrArray) entries = NULL;
      JsonObject *disk;

      /* Whole disks with a device behind them: not partitions, loop,
       * zram or device-mapper devices (as LXD). */
      if (g_file_test (partition, G_FILE_TEST_EXISTS) || !g_file_test (device, G_FILE_TEST_EXISTS))
        {
          json_array_unref (parts);
          continue;
        }
      dev = read_line (dir, "dev");
      model = read_line (device, "model");
      serial = read_line (device, "serial");
      wwid = read_line (device, "wwid");
      firmware = read_line (device, "firmware_rev");
      pci = pci_address (device);
      disk = json_object_new ();
      json_object_set_string_member (disk, "id", name);
      json_object_set_string_member (disk, "device", dev ? dev : "");
      set_optional (disk, "model", model);
      set_optional (disk, "type", disk_type (name, dir));
      json_object_set_boolean_member (disk, "read_only", read_uint (dir, "ro", 0) != 0);
      set_uint (disk, "size", read_uint (dir, "size", 0) * 512);
      json_object_set_boolean_member (disk, "removable", read_uint (dir, "removable", 0) != 0);
      set_optional (disk, "wwn", wwid);
      set_uint (disk, "numa_node", numa_node (device));
      set_uint (disk, "block_size", read_uint (dir, "queue/physical_block_size", 0));
      set_optional (disk, "firmware_version", firmware);
      /* LXD: 1 for a rotational disk whose speed udev does not know. */
      set_uint (disk, "rpm", read_uint (dir, "queue/rotational", 0) == 1 ? 1 : 0);
      set_optional (disk, "serial", serial);
      json_object_set_string_member (disk, "device_id", "");
      set_optional (disk, "pci_address", pci);
      entries = sorted_entries (dir);
      for (guint j = 0; j < entries->len; j++)
        {
          const char *pname = g_ptr_array_index (entries, j);
          g_autofree char *pdir = g_build_filename (dir, pname, NULL);
          g_autofree char *pdev = NULL;
          JsonObject *p;

          if (!g_str_has_prefix (pname, name) || read_uint (pdir, "partition", 0) == 0)
            continue;
          pdev = read_line (pdir, "dev");
          p = json_object_new ();
          json_object_set_string_member (p, "id", pname);
          json_object_set_string_member (p, "device", pdev ? pdev : "");
          json_object_set_boolean_member (p, "read_only", read_uint (pdir, "ro", 0) != 0);
          set_uint (p, "size", read_uint (pdir, "size", 0) * 512);
          set_uint (p, "partition", read_uint (pdir, "partition", 0));
          json_array_add_object_element (parts, p);
        }
      json_object_set_array_member (disk, "partitions", parts);
      json_array_add_object_element (disks, disk);
    }
  set_uint (storage, "total", json_array_get_length (disks));
  json_object_set_array_member (storage, "disks", disks);
  return storage;
}

/* ---- network ---- */

static char *
link_basename (const char *path)
{
  g_autofree char *target = g_file_read_link (path, NULL);

  return target ? g_path_get_basename (target) : NULL;
}

/* A driver's version: its module's, else the kernel's (as LXD). */
static char *
driver_version (const char *device)
{
  g_autofree char *dir = g_build_filename (device, "driver", "module", NULL);
  char *version = read_line (dir, "version");
  struct utsname uts;

  if (version != NULL)
    return version;
  uname (&uts);
  return g_strdup (uts.release);
}

/* Physical network cards (interfaces with a device behind them), one port
 * per interface, as LXD lists cards it cannot group by PCI function. */
static JsonObject *
network_json (void)
{
  JsonObject *network = json_object_new ();
  JsonArray *cards = json_array_new ();
  g_autoptr (GPtrArray) links = sorted_entries ("/sys/class/net");

  for (guint i = 0; i < links->len; i++)
    {
      const char *name = g_ptr_array_index (links, i);
      g_autofree char *dir = g_build_filename ("/sys/class/net", name, NULL);
      g_autofree char *device = g_build_filename (dir, "device", NULL);
      g_autofree char *driver_link = g_build_filename (device, "driver", NULL);
      g_autofree char *driver = NULL, *address = NULL, *pci = NULL, *vendor = NULL, *product = NULL;
      g_autofree char *version = NULL;
      JsonObject *card, *port;
      JsonArray *ports;

      if (!g_file_test (device, G_FILE_TEST_EXISTS))
        continue;
      driver = link_basename (driver_link);
      address = read_line (dir, "address");
      if (driver != NULL)
        version = driver_version (device);
      pci = pci_address (device);
      vendor = read_line (device, "vendor");
      product = read_line (device, "device");
      card = json_object_new ();
      set_optional (card, "driver", driver);
      set_optional (card, "driver_version", version);
      set_uint (card, "numa_node", numa_node (device));
      set_optional (card, "pci_address", pci);
      if (vendor != NULL && g_str_has_prefix (vendor, "0x"))
        set_optional (card, "vendor_id", vendor + 2);
      if (product != NULL && g_str_has_prefix (product, "0x"))
        set_optional (card, "product_id", product + 2);
      ports = json_array_new ();
      port = json_object_new ();
      json_object_set_string_member (port, "id", name);
      set_optional (port, "address", address);
      set_uint (port, "port", 0);
      json_object_set_string_member (port, "protocol", read_uint (dir, "type", 1) == 32 ? "infiniband" : "ethernet");
      {
        FerryEthtoolPort eth;
        gboolean link = read_uint (dir, "carrier", 0) == 1;
        gboolean known = ferry_ethtool_port (name, &eth);

        set_optional (port, "port_type", known ? eth.port : NULL);
        set_optional (port, "transceiver_type", known ? eth.transceiver : NULL);
        json_object_set_boolean_member (port, "auto_negotiation", known && eth.autoneg);
        json_object_set_boolean_member (port, "link_detected", link);
        /* Speed and duplex only of a link that is up, as LXD. */
        if (known && link && eth.speed > 0)
          set_uint (port, "link_speed", eth.speed);
        if (known && link)
          set_optional (port, "link_duplex", eth.duplex);
      }
      json_array_add_object_element (ports, port);
      json_object_set_array_member (card, "ports", ports);
      json_array_add_object_element (cards, card);
    }
  set_uint (network, "total", json_array_get_length (cards));
  json_object_set_array_member (network, "cards", cards);
  return network;
}

/* ---- PCI devices: all of /sys/bus/pci/devices, as LXD lists them ---- */

static JsonObject *
pci_json (void)
{
  JsonObject *pci = json_object_new ();
  JsonArray *devices = json_array_new ();
  g_autoptr (GPtrArray) entries = sorted_entries ("/sys/bus/pci/devices");

  for (guint i = 0; i < entries->len; i++)
    {
      const char *address = g_ptr_array_index (entries, i);
      g_autofree char *dir = g_build_filename ("/sys/bus/pci/devices", address, NULL);
      g_autofree char *driver_link = g_build_filename (dir, "driver", NULL);
      g_autofree char *group_link = g_build_filename (dir, "iommu_group", NULL);
      g_autofree char *driver = link_basename (driver_link);
      g_autofree char *version = driver != NULL ? driver_version (dir) : NULL;
      g_autofree char *group = link_basename (group_link);
      g_autofree char *vendor = read_line (dir, "vendor");
      g_autofree char *product = read_line (dir, "device");
      JsonObject *d = json_object_new ();

      json_object_set_string_member (d, "driver", driver ? driver : "");
      json_object_set_string_member (d, "driver_version", version ? version : "");
      set_uint (d, "numa_node", numa_node (dir));
      json_object_set_string_member (d, "pci_address", address);
      /* Names come from the PCI ids database, which LXD did not find
       * here either: the ids only. */
      json_object_set_string_member (d, "vendor", "");
      json_object_set_string_member (d, "vendor_id", vendor && g_str_has_prefix (vendor, "0x") ? vendor + 2 : "");
      json_object_set_string_member (d, "product", "");
      json_object_set_string_member (d, "product_id", product && g_str_has_prefix (product, "0x") ? product + 2 : "");
      set_uint (d, "iommu_group", group ? g_ascii_strtoull (group, NULL, 10) : 0);
      json_object_set_object_member (d, "vpd", json_object_new ());
      json_array_add_object_element (devices, d);
    }
  json_object_set_array_member (pci, "devices", devices);
  set_uint (pci, "total", json_array_get_length (devices));
  return pci;
}

/* ---- GPUs and USB: none passed to containers by Ferry ---- */

static JsonObject *
empty_section (const char *list)
{
  JsonObject *o = json_object_new ();

  json_object_set_array_member (o, list, json_array_new ());
  set_uint (o, "total", 0);
  return o;
}

/* KEYS' values (DMI file names) under /sys/class/dmi/id, "" if unreadable. */
static JsonObject *
dmi_object (const char *const (*keys)[2], gsize n)
{
  JsonObject *o = json_object_new ();

  for (gsize i = 0; i < n; i++)
    {
      g_autofree char *v = read_line ("/sys/class/dmi/id", keys[i][1]);
      json_object_set_string_member (o, keys[i][0], v ? v : "");
    }
  return o;
}

static JsonObject *
system_json (void)
{
  static const char *const system_keys[][2] = {
    { "uuid", "product_uuid" },       { "vendor", "sys_vendor" }, { "product", "product_name" },
    { "family", "product_family" },   { "version", "product_version" }, { "sku", "product_sku" },
    { "serial", "product_serial" },
  };
  static const char *const firmware_keys[][2] = {
    { "vendor", "bios_vendor" }, { "date", "bios_date" }, { "version", "bios_version" },
  };
  static const char *const chassis_keys[][2] = {
    { "vendor", "chassis_vendor" }, { "type", "chassis_type" }, { "serial", "chassis_serial" },
    { "version", "chassis_version" },
  };
  static const char *const board_keys[][2] = {
    { "vendor", "board_vendor" }, { "product", "board_name" }, { "serial", "board_serial" },
    { "version", "board_version" },
  };
  JsonObject *o = dmi_object (system_keys, G_N_ELEMENTS (system_keys));
  g_autofree char *cpuinfo = NULL;
  gboolean vm = g_file_get_contents ("/proc/cpuinfo", &cpuinfo, NULL, NULL) && strstr (cpuinfo, " hypervisor") != NULL;

  /* The CPU's hypervisor flag tells a virtual machine (LXD asks
   * systemd-detect-virt, which also tells which). */
  json_object_set_string_member (o, "type", vm ? "virtual-machine" : "physical");
  /* Without DMI (no /sys/class/dmi/id) LXD leaves these out: null. */
  if (g_file_test ("/sys/class/dmi/id", G_FILE_TEST_IS_DIR))
    {
      json_object_set_object_member (o, "firmware", dmi_object (firmware_keys, G_N_ELEMENTS (firmware_keys)));
      json_object_set_object_member (o, "chassis", dmi_object (chassis_keys, G_N_ELEMENTS (chassis_keys)));
      json_object_set_object_member (o, "motherboard", dmi_object (board_keys, G_N_ELEMENTS (board_keys)));
    }
  else
    {
      json_object_set_null_member (o, "firmware");
      json_object_set_null_member (o, "chassis");
      json_object_set_null_member (o, "motherboard");
    }
  return o;
}

void
ferry_api_resources (FerryRequest *req, FerryInstance *unused)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_object_member (o, "cpu", cpu_json ());
  json_object_set_object_member (o, "memory", memory_json ());
  json_object_set_object_member (o, "gpu", empty_section ("cards"));
  json_object_set_object_member (o, "network", network_json ());
  json_object_set_object_member (o, "storage", storage_json ());
  json_object_set_object_member (o, "usb", empty_section ("devices"));
  json_object_set_object_member (o, "pci", pci_json ());
  json_object_set_object_member (o, "system", system_json ());
  json_node_take_object (node, o);
  ferry_respond_sync (req->msg, node);
}
