/* The built-in "busybox" image, made from the host's busybox-static so that a
 * container can be launched with no network and no download. */
#include "image/image.h"
#include "image/fs-at.h"
#include "image/store.h"
#include "common/error.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Every mtime and the creation_date: BusyBox 1.35.0's release day. A fixed
 * time (with fixed owners and entry order) makes the tarball, and so the
 * fingerprint, a function of the busybox binary alone. */
#define BUSYBOX_IMAGE_EPOCH 1640476800
/* Bump when the image's contents change, so a stored build is not reused. */
#define BUSYBOX_IMAGE_RECIPE "ferry-busybox-image-3"

typedef struct
{
  char *path; /* below rootfs/ */
  mode_t mode;
  char *target;   /* symlinks */
  GBytes *content; /* files */
  char *hardlink;  /* below rootfs/: this entry is a hard link to that one */
} Entry;

static void
entry_free (gpointer p)
{
  Entry *e = p;
  g_free (e->path);
  g_free (e->target);
  g_free (e->hardlink);
  g_clear_pointer (&e->content, g_bytes_unref);
  g_free (e);
}

static void
add_entry (GHashTable *entries, const char *path, mode_t mode, const char *target, GBytes *content)
{
  Entry *e = g_new0 (Entry, 1);

  e->path = g_strdup (path);
  e->mode = mode;
  e->target = g_strdup (target);
  e->content = content;
  g_hash_table_replace (entries, e->path, e);
}

static void
add_text (GHashTable *entries, const char *path, mode_t perm, const char *text)
{
  add_entry (entries, path, S_IFREG | perm, NULL, g_bytes_new (text, strlen (text)));
}

/* Every ancestor of every entry becomes a 0755 directory unless listed. */
static void
add_parent_dirs (GHashTable *entries)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;

  g_hash_table_iter_init (&it, entries);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (paths, key);

  for (guint i = 0; i < paths->len; i++)
    {
      g_autofree char *p = g_strdup (paths->pdata[i]);
      char *slash;

      while ((slash = strrchr (p, '/')) != NULL)
        {
          *slash = '\0';
          if (!g_hash_table_contains (entries, p))
            add_entry (entries, p, S_IFDIR | 0755, NULL, NULL);
        }
    }
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
valid_applet_path (const char *p)
{
  if (*p == '\0' || *p == '/' || strstr (p, "..") != NULL || strstr (p, "//") != NULL || g_str_has_suffix (p, "/"))
    return FALSE;
  for (; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_-.[]/", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* "sbin/init" -> "../bin/busybox", "bin/sh" -> "busybox". */
static char *
applet_link_target (const char *path)
{
  g_autoptr (GString) t = g_string_new (NULL);

  if (g_str_has_prefix (path, "bin/") && strchr (path + 4, '/') == NULL)
    return g_strdup ("busybox");
  for (const char *p = strchr (path, '/'); p != NULL; p = strchr (p + 1, '/'))
    g_string_append (t, "../");
  g_string_append (t, "bin/busybox");
  return g_string_free (g_steal_pointer (&t), FALSE);
}

/* One symlink per applet, but the applets of one directory (which all point
 * to the same target) share a single symlink inode through hard links: each
 * new inode costs a launch up to a millisecond on a busy ext4 (the allocator
 * skips recently freed inodes), and there are about 270 applets. A reader of
 * the rootfs sees ordinary relative symlinks (bin/sh -> busybox). */
static void
add_applet_links (GHashTable *entries, GHashTable *applets)
{
  g_autoptr (GHashTable) first_in_dir = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;

  g_hash_table_iter_init (&it, applets);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (sorted, key);
  g_ptr_array_sort (sorted, compare_strings);
  for (guint i = 0; i < sorted->len; i++)
    {
      const char *path = sorted->pdata[i];
      const char *slash = strrchr (path, '/');
      g_autofree char *dir = g_strndup (path, slash != NULL ? (gsize) (slash - path) : 0);
      g_autofree char *target = applet_link_target (path);
      const char *first = g_hash_table_lookup (first_in_dir, dir);
      Entry *e;

      add_entry (entries, path, S_IFLNK | 0777, target, NULL);
      if (first == NULL)
        {
          g_hash_table_insert (first_in_dir, g_steal_pointer (&dir), (gpointer) path);
          continue;
        }
      e = g_hash_table_lookup (entries, path);
      e->hardlink = g_strdup (first);
    }
}

/* The applets from `busybox --list-full`, as path -> absolute path. */
static GHashTable *
list_applets (const char *busybox, GError **error)
{
  g_autoptr (GHashTable) applets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *argv[] = { busybox, "--list-full", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto (GStrv) lines = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, error)
      || !g_spawn_check_wait_status (status, error))
    {
      g_prefix_error (error, "Listing the applets of %s: ", busybox);
      return NULL;
    }
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *p = lines[i];
      if (*p == '\0' || strcmp (p, "bin/busybox") == 0)
        continue;
      if (!valid_applet_path (p))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s --list-full gave an odd applet path \"%s\"",
                       busybox, p);
          return NULL;
        }
      g_hash_table_add (applets, g_strdup (p));
    }
  return g_steal_pointer (&applets);
}

/* Where busybox installs an applet ("usr/sbin/httpd"), from its list. */
static const char *
find_applet (GHashTable *applets, const char *name, GError **error)
{
  GHashTableIter it;
  gpointer key;

  g_hash_table_iter_init (&it, applets);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      const char *slash = strrchr (key, '/');
      if (strcmp (slash != NULL ? slash + 1 : key, name) == 0)
        return key;
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
               "The host's busybox has no \"%s\" applet, which the built-in image needs", name);
  return NULL;
}

/* "BusyBox v1.35.0 (Debian ...)" in the binary -> "1.35.0". */
static char *
busybox_version (GBytes *binary, const char *busybox, GError **error)
{
  gsize len;
  const char *data = g_bytes_get_data (binary, &len);
  const char *tag = "BusyBox v";
  const char *p = memmem (data, len, tag, strlen (tag));
  const char *end;

  if (p != NULL)
    {
      p += strlen (tag);
      for (end = p; end < data + len && (g_ascii_isdigit (*end) || *end == '.'); end++)
        ;
      if (end > p)
        return g_strndup (p, (gsize) (end - p));
    }
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "%s does not look like busybox (no version banner)",
               busybox);
  return NULL;
}

static const char inittab_fmt[] =
  "# Ferry built-in busybox image. Format: id:runlevel:action:process (busybox init).\n"
  "::sysinit:/etc/init.d/rcS\n"
  "::respawn:/%s -n -O /var/log/messages\n"
  "::respawn:/%s -f -c /var/spool/cron/crontabs\n"
  "::respawn:/%s -f -p 80 -h /var/www\n"
  "::ctrlaltdel:/sbin/reboot\n"
  "::restart:/sbin/init\n"
  "# On SIGPWR/SIGTERM/SIGUSR1/SIGUSR2 init runs these, then sends TERM and KILL to what is left.\n"
  "::shutdown:/etc/init.d/rcK\n";

static const char rcS[] =
  "#!/bin/sh\n"
  "# Boot-time setup, run once by init. The runtime has already mounted /proc,\n"
  "# /sys and /dev and set the hostname; stdout is /dev/console.\n"
  "mkdir -p /var/log /var/run /run /tmp /var/spool/cron/crontabs\n"
  "chmod 1777 /tmp\n"
  "ip link set lo up 2>/dev/null\n"
  "# nics come up before init runs: DHCPv4 on each (IPv6 SLAAC is the kernel's).\n"
  "for dev in /sys/class/net/*; do\n"
  "  dev=${dev##*/}\n"
  "  [ \"$dev\" = lo ] && continue\n"
  "  udhcpc -i \"$dev\" -b -S -t 10 -T 1 -A 5 -x hostname:\"$(hostname)\" -s /usr/share/udhcpc/default.script >/dev/null 2>&1\n"
  "done\n"
  "echo \"Ferry busybox: boot complete\"\n";

static const char udhcpc_script[] =
  "#!/bin/sh\n"
  "# busybox udhcpc hook: applies a DHCPv4 lease (address, router, DNS).\n"
  "[ -n \"$1\" ] || exit 1\n"
  "case \"$1\" in\n"
  "deconfig)\n"
  "  ip -4 addr flush dev \"$interface\"\n"
  "  ip link set \"$interface\" up\n"
  "  ;;\n"
  "bound|renew)\n"
  "  ip -4 addr replace \"$ip/${mask:-24}\" broadcast \"${broadcast:-+}\" dev \"$interface\"\n"
  "  if [ -n \"$router\" ]; then\n"
  "    ip -4 route del default dev \"$interface\" 2>/dev/null\n"
  "    for r in $router; do ip -4 route add default via \"$r\" dev \"$interface\" && break; done\n"
  "  fi\n"
  "  { [ -n \"$domain\" ] && echo \"search $domain\"; for s in $dns; do echo \"nameserver $s\"; done; } >/etc/resolv.conf\n"
  "  ;;\n"
  "esac\n"
  "exit 0\n";

static const char rcK[] =
  "#!/bin/sh\n"
  "# Run by init at halt/poweroff/reboot, before it signals every process.\n"
  "echo \"Ferry busybox: shutting down\"\n"
  "killall -TERM httpd crond syslogd 2>/dev/null\n"
  "sync\n";

static const char passwd[] =
  "root:x:0:0:root:/root:/bin/sh\n"
  "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
  "www-data:x:33:33:www-data:/var/www:/bin/false\n"
  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

static const char group[] =
  "root:x:0:\n"
  "daemon:x:1:\n"
  "www-data:x:33:\n"
  "nogroup:x:65534:\n";

static const char shadow[] =
  "root:*:19000:0:99999:7:::\n"
  "daemon:*:19000:0:99999:7:::\n"
  "www-data:*:19000:0:99999:7:::\n"
  "nobody:*:19000:0:99999:7:::\n";

static const char hosts[] =
  "127.0.0.1\tlocalhost\n"
  "::1\tlocalhost ip6-localhost ip6-loopback\n";

/* LXD's images template /etc/hostname and /etc/hosts with the instance's
 * name at create and copy (distrobuilder's hostname.tpl and hosts.tpl). */
static const char hostname_tpl[] = "{{ container.name }}\n";

static const char hosts_tpl[] =
  "127.0.1.1\t{{ container.name }}\n"
  "127.0.0.1\tlocalhost\n"
  "::1\tlocalhost ip6-localhost ip6-loopback\n"
  "ff02::1\tip6-allnodes\n"
  "ff02::2\tip6-allrouters\n";

static const char metadata_templates[] =
  "templates:\n"
  "  /etc/hostname:\n"
  "    when:\n"
  "    - create\n"
  "    - copy\n"
  "    create_only: false\n"
  "    template: hostname.tpl\n"
  "    properties: {}\n"
  "  /etc/hosts:\n"
  "    when:\n"
  "    - create\n"
  "    - copy\n"
  "    create_only: false\n"
  "    template: hosts.tpl\n"
  "    properties: {}\n";

static const char profile[] =
  "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
  "export PS1='\\h:\\w\\$ '\n";

static const char index_html[] =
  "<!DOCTYPE html>\n<html><head><title>Ferry busybox</title></head>\n"
  "<body><h1>Ferry built-in busybox container</h1><p>Served by busybox httpd.</p></body></html>\n";

static const char crontab[] =
  "# A harmless heartbeat: proves crond runs.\n"
  "* * * * * date > /tmp/cron-tick\n";

static GHashTable *
image_entries (GBytes *binary, GHashTable *applets, const char *version, GError **error)
{
  g_autoptr (GHashTable) entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, entry_free);
  const char *syslogd, *crond, *httpd;
  g_autofree char *inittab = NULL;
  g_autofree char *os_release = NULL;

  if ((syslogd = find_applet (applets, "syslogd", error)) == NULL || (crond = find_applet (applets, "crond", error)) == NULL
      || (httpd = find_applet (applets, "httpd", error)) == NULL || find_applet (applets, "init", error) == NULL
      || find_applet (applets, "sh", error) == NULL)
    return NULL;

  add_entry (entries, "bin/busybox", S_IFREG | 0755, NULL, g_bytes_ref (binary));
  add_applet_links (entries, applets);

  inittab = g_strdup_printf (inittab_fmt, syslogd, crond, httpd);
  os_release = g_strdup_printf ("NAME=Busybox\nID=busybox\nVERSION_ID=%s\nPRETTY_NAME=\"Ferry built-in busybox\"\n",
                                version);
  add_text (entries, "etc/inittab", 0644, inittab);
  add_text (entries, "etc/init.d/rcS", 0755, rcS);
  add_text (entries, "etc/init.d/rcK", 0755, rcK);
  add_text (entries, "etc/passwd", 0644, passwd);
  add_text (entries, "etc/group", 0644, group);
  add_text (entries, "etc/shadow", 0600, shadow);
  add_text (entries, "etc/hosts", 0644, hosts);
  add_text (entries, "etc/resolv.conf", 0644, "");
  add_text (entries, "usr/share/udhcpc/default.script", 0755, udhcpc_script);
  add_text (entries, "etc/os-release", 0644, os_release);
  add_text (entries, "etc/profile", 0644, profile);
  add_text (entries, "var/www/index.html", 0644, index_html);
  add_text (entries, "var/spool/cron/crontabs/root", 0600, crontab);

  const char *dirs[] = { "proc", "sys", "dev", "run", "home", "mnt", "var/log", "var/run" };
  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    add_entry (entries, dirs[i], S_IFDIR | 0755, NULL, NULL);
  add_entry (entries, "tmp", S_IFDIR | 01777, NULL, NULL);
  add_entry (entries, "root", S_IFDIR | 0700, NULL, NULL);
  add_parent_dirs (entries);
  return g_steal_pointer (&entries);
}

static gboolean
write_one (struct archive *a, const char *path, mode_t mode, const char *target, const char *hardlink,
           GBytes *content, GError **error)
{
  struct archive_entry *e = archive_entry_new ();
  gsize len = 0;
  const void *data = content != NULL ? g_bytes_get_data (content, &len) : NULL;
  gboolean ok = TRUE;

  archive_entry_set_pathname (e, path);
  archive_entry_set_mode (e, mode);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  archive_entry_set_uname (e, "root");
  archive_entry_set_gname (e, "root");
  archive_entry_set_mtime (e, BUSYBOX_IMAGE_EPOCH, 0);
  archive_entry_set_size (e, (la_int64_t) len);
  if (hardlink != NULL)
    archive_entry_set_hardlink (e, hardlink);
  else if (target != NULL)
    archive_entry_set_symlink (e, target);
  if (archive_write_header (a, e) != ARCHIVE_OK
      || (len > 0 && archive_write_data (a, data, len) != (la_ssize_t) len))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing %s into the busybox image: %s", path,
                   archive_error_string (a));
      ok = FALSE;
    }
  archive_entry_free (e);
  return ok;
}

static gint
compare_entry_paths (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Entry *const *) a)->path, (*(Entry *const *) b)->path);
}

static gboolean
write_tarball (int fd, GHashTable *entries, const char *version, GError **error)
{
  struct archive *a = archive_write_new ();
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  g_autofree char *metadata = NULL;
  g_autoptr (GBytes) metadata_bytes = NULL;
  struct utsname u;
  gboolean ok = FALSE;

  uname (&u);
  metadata = g_strdup_printf ("architecture: %s\n"
                              "creation_date: %d\n"
                              "properties:\n"
                              "  architecture: %s\n"
                              "  description: \"Ferry built-in busybox image\"\n"
                              "  os: busybox\n"
                              "  release: \"%s\"\n"
                              "%s",
                              u.machine, BUSYBOX_IMAGE_EPOCH, u.machine, version, metadata_templates);
  metadata_bytes = g_bytes_new_static (metadata, strlen (metadata));
  /* gzip: a quick cache fill; no timestamp in its header, for determinism. */
  if (archive_write_set_format_ustar (a) != ARCHIVE_OK || archive_write_add_filter_gzip (a) != ARCHIVE_OK
      || archive_write_set_filter_option (a, "gzip", "timestamp", NULL) != ARCHIVE_OK
      || archive_write_open_fd (a, fd) != ARCHIVE_OK)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Creating the busybox image: %s", archive_error_string (a));
      goto out;
    }
  g_hash_table_iter_init (&it, entries);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (sorted, value);
  g_ptr_array_sort (sorted, compare_entry_paths);
  if (!write_one (a, "metadata.yaml", S_IFREG | 0644, NULL, NULL, metadata_bytes, error)
      || !write_one (a, "rootfs", S_IFDIR | 0755, NULL, NULL, NULL, error))
    goto out;
  for (guint i = 0; i < sorted->len; i++)
    {
      Entry *e = sorted->pdata[i];
      g_autofree char *path = g_strconcat ("rootfs/", e->path, NULL);
      g_autofree char *hardlink = e->hardlink != NULL ? g_strconcat ("rootfs/", e->hardlink, NULL) : NULL;
      if (!write_one (a, path, e->mode, e->target, hardlink, e->content, error))
        goto out;
    }
  {
    g_autoptr (GBytes) hostname_bytes = g_bytes_new_static (hostname_tpl, strlen (hostname_tpl));
    g_autoptr (GBytes) hosts_bytes = g_bytes_new_static (hosts_tpl, strlen (hosts_tpl));
    if (!write_one (a, "templates", S_IFDIR | 0755, NULL, NULL, NULL, error)
        || !write_one (a, "templates/hostname.tpl", S_IFREG | 0644, NULL, NULL, hostname_bytes, error)
        || !write_one (a, "templates/hosts.tpl", S_IFREG | 0644, NULL, NULL, hosts_bytes, error))
      goto out;
  }
  if (archive_write_close (a) != ARCHIVE_OK)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Writing the busybox image: %s", archive_error_string (a));
      goto out;
    }
  ok = TRUE;
out:
  archive_write_free (a);
  return ok;
}

/* images_dir/.busybox-build remembers "<key> <fingerprint>" so that a daemon
 * start with the same busybox does not compress it again. */
static char *
build_key (GBytes *binary)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len;
  const guchar *data = g_bytes_get_data (binary, &len);
  struct utsname u;

  uname (&u);
  g_checksum_update (sum, (const guchar *) BUSYBOX_IMAGE_RECIPE, -1);
  g_checksum_update (sum, (const guchar *) u.machine, -1);
  g_checksum_update (sum, data, len);
  return g_strdup (g_checksum_get_string (sum));
}

static FerryImageInfo *
load_previous_build (const char *images_dir, const char *key)
{
  g_autofree char *path = g_build_filename (images_dir, ".busybox-build", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) parts = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  parts = g_strsplit (g_strstrip (text), " ", 2);
  if (g_strv_length (parts) != 2 || strcmp (parts[0], key) != 0 || !ferry_image_fingerprint_validate (parts[1], NULL))
    return NULL;
  return ferry_image_load (images_dir, parts[1], NULL);
}

FerryImageInfo *
ferry_image_build_busybox (const char *images_dir, GError **error)
{
  const char *busybox = g_getenv ("FERRY_BUSYBOX");
  g_autoptr (GMappedFile) mapped = NULL;
  g_autoptr (GBytes) binary = NULL;
  g_autoptr (GHashTable) applets = NULL;
  g_autoptr (GHashTable) entries = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *version = NULL;
  g_autofree char *key = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *record = NULL;
  g_autofree char *record_path = NULL;
  FerryImageInfo *info;
  int fd;

  if (busybox == NULL || *busybox == '\0')
    busybox = "/bin/busybox";
  mapped = g_mapped_file_new (busybox, FALSE, &local);
  if (mapped == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "Cannot read %s for the built-in image (install busybox-static or set FERRY_BUSYBOX): %s",
                   busybox, local->message);
      return NULL;
    }
  binary = g_mapped_file_get_bytes (mapped);
  key = build_key (binary);
  info = load_previous_build (images_dir, key);
  if (info != NULL)
    return info;

  version = busybox_version (binary, busybox, error);
  if (version == NULL)
    return NULL;
  applets = list_applets (busybox, error);
  if (applets == NULL)
    return NULL;
  entries = image_entries (binary, applets, version, error);
  if (entries == NULL)
    return NULL;

  fd = ferry_image_tmpfile (images_dir, "busybox", &tmp_path, error);
  if (fd < 0)
    return NULL;
  if (!write_tarball (fd, entries, version, error) || (fingerprint = ferry_image_hash_fd (fd, error)) == NULL)
    {
      close (fd);
      unlink (tmp_path);
      return NULL;
    }
  close (fd);
  info = ferry_image_store_commit (images_dir, tmp_path, fingerprint, "busybox.tar.gz", TRUE, error);
  if (info == NULL)
    return NULL;
  record = g_strdup_printf ("%s %s\n", key, fingerprint);
  record_path = g_build_filename (images_dir, ".busybox-build", NULL);
  g_file_set_contents_full (record_path, record, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
  return info;
}
