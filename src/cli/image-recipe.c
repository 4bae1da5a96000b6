#include "config.h"

#include "image-recipe.h"

#include <string.h>

#include "common/error.h"

static const FerryDistroRelease releases[] = {
  { "debian", "bookworm", "12" },
  { "debian", "trixie", "13" },
};

/* What makes a stock Debian boot as a system container under Ferry (and
 * LXD): systemd as init, networkd for DHCP on eth0, resolved for DNS from
 * the lease, logind sessions, and the tools a user reaches for first. */
static const char *const base_packages[] = {
  "systemd", "systemd-sysv", "systemd-resolved", "libpam-systemd", "dbus", "iproute2", "netbase", "procps", NULL,
};

/* uname's machine -> Debian's architecture. */
static const struct
{
  const char *machine;
  const char *dpkg;
} architectures[] = {
  { "x86_64", "amd64" }, { "aarch64", "arm64" },   { "ppc64le", "ppc64el" },
  { "s390x", "s390x" },  { "riscv64", "riscv64" },
};

static const char *const templates[] = {
  "hostname.tpl",
  "{{ container.name }}\n",
  "hosts.tpl",
  "127.0.0.1\tlocalhost\n"
  "127.0.1.1\t{{ container.name }}\n"
  "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
  "ff02::1\t\tip6-allnodes\n"
  "ff02::2\t\tip6-allrouters\n",
  NULL,
};

void
ferry_image_recipe_free (FerryImageRecipe *recipe)
{
  if (recipe == NULL)
    return;
  g_free (recipe->dpkg_arch);
  g_free (recipe->lxd_arch);
  g_clear_pointer (&recipe->includes, g_ptr_array_unref);
  g_free (recipe->mirror);
  g_free (recipe->security_mirror);
  g_free (recipe);
}

static char *
known_releases (void)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (releases); i++)
    g_string_append_printf (s, "%s%s/%s (%s)", i > 0 ? ", " : "", releases[i].distribution, releases[i].release,
                            releases[i].version);
  return g_string_free (s, FALSE);
}

const FerryDistroRelease *
ferry_distro_release_lookup (const char *name, GError **error)
{
  g_autofree char *known = NULL;
  const char *slash = strchr (name, '/');

  for (gsize i = 0; slash != NULL && i < G_N_ELEMENTS (releases); i++)
    {
      gsize n = strlen (releases[i].distribution);
      if ((gsize) (slash - name) == n && strncmp (name, releases[i].distribution, n) == 0
          && (strcmp (slash + 1, releases[i].release) == 0 || strcmp (slash + 1, releases[i].version) == 0))
        return &releases[i];
    }
  known = known_releases ();
  g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Unknown distribution or release \"%s\": can build %s", name,
               known);
  return NULL;
}

/* Debian policy 5.6.1: lower-case letters, digits, "+", "-" and "."; two
 * characters at least, starting alphanumeric; ":arch" may follow. Anything
 * else (an apt pattern, a path to a .deb) is refused before root runs it. */
static gboolean
valid_package_name (const char *name)
{
  const char *colon = strchr (name, ':');
  gsize len = colon != NULL ? (gsize) (colon - name) : strlen (name);

  if (len < 2 || !(g_ascii_islower (name[0]) || g_ascii_isdigit (name[0])))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_islower (name[i]) && !g_ascii_isdigit (name[i]) && strchr ("+-.", name[i]) == NULL)
      return FALSE;
  if (colon == NULL)
    return TRUE;
  if (colon[1] == '\0')
    return FALSE;
  for (const char *p = colon + 1; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
parse_includes (const char *const *include_args, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (; include_args != NULL && *include_args != NULL; include_args++)
    {
      g_auto (GStrv) names = g_strsplit (*include_args, ",", -1);
      for (char **n = names; *n != NULL; n++)
        {
          g_autofree char *name = g_strstrip (g_strdup (*n));
          if (*name == '\0')
            continue;
          if (!valid_package_name (name))
            {
              g_autofree char *shown = g_strescape (name, NULL);
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID,
                           "Invalid package name \"%s\" in --include: Debian package names are lower-case "
                           "letters, digits, \"+\", \"-\" and \".\"",
                           shown);
              return NULL;
            }
          if (g_hash_table_contains (seen, name))
            continue;
          g_hash_table_add (seen, name);
          g_ptr_array_add (out, g_steal_pointer (&name));
        }
    }
  g_ptr_array_sort (out, compare_strings);
  return g_steal_pointer (&out);
}

FerryImageRecipe *
ferry_image_recipe_new (const char *name, const char *machine, const char *const *include_args, const char *mirror,
                        const char *security_mirror, GError **error)
{
  g_autoptr (FerryImageRecipe) recipe = g_new0 (FerryImageRecipe, 1);
  gsize a;

  recipe->release = ferry_distro_release_lookup (name, error);
  if (recipe->release == NULL)
    return NULL;
  for (a = 0; a < G_N_ELEMENTS (architectures) && strcmp (architectures[a].machine, machine) != 0; a++)
    ;
  if (a == G_N_ELEMENTS (architectures))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Cannot build images on a %s machine: no Debian port known",
                   machine);
      return NULL;
    }
  recipe->lxd_arch = g_strdup (machine);
  recipe->dpkg_arch = g_strdup (architectures[a].dpkg);
  recipe->includes = parse_includes (include_args, error);
  if (recipe->includes == NULL)
    return NULL;
  recipe->mirror = g_strdup (mirror);
  recipe->security_mirror = g_strdup (security_mirror);
  return g_steal_pointer (&recipe);
}

char *
ferry_image_recipe_cache_key (const FerryImageRecipe *recipe)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *version = g_strdup_printf ("recipe %d\n", FERRY_IMAGE_RECIPE_VERSION);
  g_auto (GStrv) packages = ferry_image_recipe_packages (recipe);

  g_checksum_update (sum, (const guchar *) version, -1);
  for (char **p = packages; *p != NULL; p++)
    {
      g_checksum_update (sum, (const guchar *) *p, -1);
      g_checksum_update (sum, (const guchar *) "\n", 1);
    }
  return g_strdup_printf ("%s-%s-%s-%.12s", recipe->release->distribution, recipe->release->release, recipe->dpkg_arch,
                          g_checksum_get_string (sum));
}

GStrv
ferry_image_recipe_packages (const FerryImageRecipe *recipe)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

  g_strv_builder_addv (b, (const char **) base_packages);
  for (guint i = 0; i < recipe->includes->len; i++)
    g_strv_builder_add (b, recipe->includes->pdata[i]);
  return g_strv_builder_end (b);
}

static void
append_template (GString *yaml, const char *path, const char *file)
{
  g_string_append_printf (yaml,
                          "  %s:\n"
                          "    when:\n"
                          "    - create\n"
                          "    - copy\n"
                          "    create_only: false\n"
                          "    template: %s\n"
                          "    properties: {}\n",
                          path, file);
}

char *
ferry_image_recipe_metadata (const FerryImageRecipe *recipe, GDateTime *now)
{
  g_autoptr (GDateTime) utc = g_date_time_to_utc (now);
  g_autofree char *serial = g_date_time_format (utc, "%Y%m%d_%H%M");
  g_autofree char *with = NULL;
  const FerryDistroRelease *r = recipe->release;
  GString *yaml = g_string_new (NULL);

  if (recipe->includes->len > 0)
    {
      GString *list = g_string_new (", with ");
      for (guint i = 0; i < recipe->includes->len; i++)
        g_string_append_printf (list, "%s%s", i > 0 ? " " : "", (const char *) recipe->includes->pdata[i]);
      with = g_string_free (list, FALSE);
    }
  /* LXD's image server's property names and values, so `lxc image list
   * os=Debian` and friends behave the same. */
  g_string_append_printf (yaml,
                          "architecture: %s\n"
                          "creation_date: %" G_GINT64_FORMAT "\n"
                          "properties:\n"
                          "  architecture: %s\n"
                          "  description: \"Debian %s (%s) %s%s (%s)\"\n"
                          "  name: %s-%s-%s-default-%s\n"
                          "  os: Debian\n"
                          "  release: %s\n"
                          "  serial: \"%s\"\n"
                          "  variant: default\n"
                          "  version: \"%s\"\n"
                          "  ferry.recipe: \"%d\"\n"
                          "templates:\n",
                          recipe->lxd_arch, g_date_time_to_unix (now), recipe->dpkg_arch, r->version, r->release,
                          recipe->dpkg_arch, with != NULL ? with : "", serial, r->distribution, r->release,
                          recipe->dpkg_arch, serial, r->release, serial, r->version, FERRY_IMAGE_RECIPE_VERSION);
  append_template (yaml, "/etc/hostname", "hostname.tpl");
  append_template (yaml, "/etc/hosts", "hosts.tpl");
  return g_string_free (yaml, FALSE);
}

const char *const *
ferry_image_recipe_templates (void)
{
  return templates;
}

/* Runs as the second setup hook, after the sources are written and before
 * mmdebstrap's own update: a wrong package name or an unreachable mirror
 * then fails in seconds with apt's own message, not after the essential
 * packages are installed. Hooks are one line: mmdebstrap stat()s a hook to
 * see whether it names a program, and warns about newlines. */
static char *
check_hook (GStrv packages)
{
  GString *s = g_string_new ("exec >&2; "
                             "APT_CONFIG=\"$MMDEBSTRAP_APT_CONFIG\" apt-get update --error-on=any -q && "
                             "APT_CONFIG=\"$MMDEBSTRAP_APT_CONFIG\" apt-get install --simulate -q");

  for (char **p = packages; *p != NULL; p++)
    {
      g_autofree char *quoted = g_shell_quote (*p);
      g_string_append_printf (s, " %s", quoted);
    }
  g_string_append (s, " >/dev/null");
  return g_string_free (s, FALSE);
}

/* The container settings: networkd does DHCP on eth0 (Ferry's and LXD's
 * NIC name), resolved serves DNS from the lease; no /etc/hostname, so the
 * container keeps the name its manager gives it (LXD writes one from
 * hostname.tpl), and no copy of this host's resolv.conf; an /etc/hosts like
 * debootstrap's. */
static const char customize_hook[]
    = "exec >&2; set -e; "
      "mkdir -p \"$1/etc/systemd/network\"; "
      "printf '[Match]\\nName=eth0\\n\\n[Network]\\nDHCP=yes\\n' >\"$1/etc/systemd/network/eth0.network\"; "
      "chroot \"$1\" systemctl enable systemd-networkd.service systemd-resolved.service; "
      "rm -f \"$1/etc/hostname\" \"$1/etc/.resolv.conf.systemd-resolved.bak\"; "
      "ln -sfn ../run/systemd/resolve/stub-resolv.conf \"$1/etc/resolv.conf\"; "
      "printf '127.0.0.1\\tlocalhost\\n::1\\t\\tlocalhost ip6-localhost ip6-loopback\\n"
      "ff02::1\\t\\tip6-allnodes\\nff02::2\\t\\tip6-allrouters\\n' >\"$1/etc/hosts\"";

static void
add_printf (GStrvBuilder *b, const char *fmt, ...)
{
  g_autofree char *s = NULL;
  va_list ap;

  va_start (ap, fmt);
  s = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_strv_builder_add (b, s);
}

GStrv
ferry_image_recipe_mmdebstrap_argv (const FerryImageRecipe *recipe, const char *deb_cache)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) packages = ferry_image_recipe_packages (recipe);
  g_autofree char *cache = g_shell_quote (deb_cache);
  g_autofree char *includes = g_strjoinv (",", packages);
  g_autofree char *check = check_hook (packages);
  const char *rel = recipe->release->release;

  g_strv_builder_add_many (b, "mmdebstrap", "--mode=root", "--variant=minbase", "--format=tar",
                           "--aptopt=Acquire::Languages \"none\"",
                           /* The essential .debs stay for the copy back into the cache. */
                           "--skip=essential/unlink", NULL);
  add_printf (b, "--architectures=%s", recipe->dpkg_arch);
  add_printf (b, "--include=%s", includes);
  /* apt reuses a .deb already in archives/ whose hash matches the index. */
  add_printf (b,
              "--setup-hook=mkdir -p \"$1/var/cache/apt/archives\" && "
              "find %s -maxdepth 1 -name '*.deb' -exec cp -p -t "
              "\"$1/var/cache/apt/archives\" {} +",
              cache);
  add_printf (b, "--setup-hook=%s", check);
  add_printf (b, "--customize-hook=%s", customize_hook);
  add_printf (b,
              "--customize-hook=find \"$1/var/cache/apt/archives\" -maxdepth 1 "
              "-name '*.deb' -exec cp -p -u -t %s {} +",
              cache);
  g_strv_builder_add_many (b, rel, "-", NULL);
  add_printf (b, "deb %s %s main", recipe->mirror, rel);
  add_printf (b, "deb %s %s-updates main", recipe->mirror, rel);
  add_printf (b, "deb %s %s-security main", recipe->security_mirror, rel);
  return g_strv_builder_end (b);
}
