/* Which CRIU runs, and whether this host can checkpoint at all (`ferry-monitor
 * check-criu`, and the first step of every dump and restore). */
#include "checkpoint/checkpoint.h"
#include "checkpoint/criu-opts.h"

#include "common/error.h"
#include "common/fs.h"

#include <criu/criu.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#define FERRY_CRIU_ENV_FILE "/opt/ferry/criu/env"
#define FERRY_CRIU_CHECK_CACHE "/run/ferry/criu-check"
#define FERRY_CRIU_VERSION_CACHE "/run/ferry/criu-version"
#define FERRY_CRIU_KDAT_DIR "/dev/shm/ferry-criu-kdat"
#define SETUP_HINT "run scripts/setup-criu to install CRIU >= 4.2 in /opt/ferry/criu"

void
ferry_criu_info_clear (FerryCriuInfo *info)
{
  g_clear_pointer (&info->path, g_free);
  g_clear_pointer (&info->found_by, g_free);
  g_clear_pointer (&info->version_text, g_free);
  g_clear_pointer (&info->nested, g_free);
  info->version = 0;
  info->check_ran = info->check_ok = FALSE;
}

/* FERRY_CRIU=... from the env file written by scripts/setup-criu. */
static char *
criu_from_env_file (void)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (FERRY_CRIU_ENV_FILE, &text, NULL, NULL))
    return NULL;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    if (g_str_has_prefix (*l, "FERRY_CRIU="))
      {
        g_autofree char *v = g_strstrip (g_strdup (*l + strlen ("FERRY_CRIU=")));
        gsize n = strlen (v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
          {
            v[n - 1] = '\0';
            return g_strdup (v + 1);
          }
        return n > 0 ? g_steal_pointer (&v) : NULL;
      }
  return NULL;
}

char *
ferry_criu_locate (char **found_by, GError **error)
{
  const char *env = g_getenv ("FERRY_CRIU");
  g_autofree char *path = NULL;
  const char *how;

  if (env != NULL && *env != '\0')
    {
      path = g_strdup (env);
      how = "$FERRY_CRIU";
    }
  else if ((path = criu_from_env_file ()) != NULL)
    how = FERRY_CRIU_ENV_FILE;
  else
    {
      path = g_find_program_in_path ("criu");
      how = "PATH";
    }
  if (path == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "CRIU is not installed (no $FERRY_CRIU, no %s, no criu on PATH): " SETUP_HINT,
                   FERRY_CRIU_ENV_FILE);
      return NULL;
    }
  if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE) || g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "CRIU %s (from %s) is not an executable: " SETUP_HINT,
                   path, how);
      return NULL;
    }
  if (found_by != NULL)
    *found_by = g_strdup (how);
  return g_steal_pointer (&path);
}

/* A namespace of PID 1 differs from ours, or ours is not the initial one:
 * the initial namespaces have fixed inode numbers. (/.dockerenv is not a
 * sign: some VMs boot from docker-built root file systems.) */
static gboolean
in_child_namespace (const char *ns, unsigned long long initial_ino)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/ns/%s", ns);
  struct stat st;

  return stat (path, &st) == 0 && (unsigned long long) st.st_ino != initial_ino;
}

char *
ferry_criu_detect_nesting (void)
{
  g_autofree char *environ_ = NULL;
  gsize len = 0;

  if (g_file_get_contents ("/proc/1/environ", &environ_, &len, NULL))
    for (gsize off = 0; off < len; off += strlen (environ_ + off) + 1)
      if (g_str_has_prefix (environ_ + off, "container="))
        return g_strdup_printf ("PID 1 runs with %s", environ_ + off);
  if (g_file_test ("/run/.containerenv", G_FILE_TEST_EXISTS))
    return g_strdup ("/run/.containerenv exists (podman)");
  /* PROC_USER_INIT_INO and PROC_PID_INIT_INO of include/linux/proc_ns.h. */
  if (in_child_namespace ("user", 0xEFFFFFFDULL))
    return g_strdup ("this process is not in the initial user namespace");
  if (in_child_namespace ("pid", 0xEFFFFFFCULL))
    return g_strdup ("this process is not in the initial PID namespace");
  return NULL;
}

/* `criu check` through libcriu, with its log in a temporary directory so
 * that nothing reaches our stdout. */
static gboolean
run_criu_check (const char *criu, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ferry-criu-check-XXXXXX", &local);
  g_autofree char *log = NULL;
  criu_opts *opts = NULL;
  gboolean ok = FALSE;
  int rc, wfd = -1;

  if (dir == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  log = g_build_filename (dir, "check.log", NULL);
  int dfd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0)
    {
      int saved = errno;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "Opening %s: %s", dir, g_strerror (saved));
      goto out;
    }
  if ((opts = ferry_criu_opts_new (criu, log, &wfd, error)) == NULL)
    goto out;
  criu_local_set_images_dir_fd (opts, dfd);
  /* `criu check` prints its verdict on its stdout, which is ours. */
  fflush (stdout);
  int saved_stdout = dup (STDOUT_FILENO);
  int devnull = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved_stdout >= 0 && devnull >= 0)
    dup2 (devnull, STDOUT_FILENO);
  rc = criu_local_check (opts);
  if (saved_stdout >= 0)
    {
      dup2 (saved_stdout, STDOUT_FILENO);
      close (saved_stdout);
    }
  if (devnull >= 0)
    close (devnull);
  if (rc == 0)
    ok = TRUE;
  else
    {
      g_autofree char *errors = ferry_criu_log_errors (log);
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE, "`criu check` failed (%d) on this kernel%s%s", rc,
                   *errors ? ":\n" : "", errors);
    }
out:
  if (opts != NULL)
    criu_local_free_opts (opts);
  if (dfd >= 0)
    close (dfd);
  if (wfd >= 0)
    close (wfd);
  ferry_rm_rf (dir, NULL);
  return ok;
}

/* A cache file of root's in /run/ferry: KEY on its first line, the value
 * remembered for it after. The value, or NULL unless the file holds KEY. */
static char *
cache_lookup (const char *file, const char *key)
{
  g_autofree char *text = NULL;
  gsize n = strlen (key);

  if (!g_file_get_contents (file, &text, NULL, NULL) || strncmp (text, key, n) != 0 || text[n] != '\n')
    return NULL;
  return g_strdup (text + n + 1);
}

static void
cache_store (const char *file, const char *key, const char *value)
{
  g_autofree char *dir = g_path_get_dirname (file);
  g_autofree char *text = g_strdup_printf ("%s\n%s\n", key, value);

  if (ferry_mkdir_p (dir, 0755, NULL))
    ferry_write_file_atomic (file, text, -1, 0644, NULL);
}

/* A passed `criu check` holds until the kernel or CRIU changes: remembered
 * per boot, CRIU binary and version (it costs ~70 ms, on every dump). */
static char *
check_cache_key (const FerryCriuInfo *info)
{
  g_autofree char *boot_id = ferry_read_small_file ("/proc/sys/kernel/random/boot_id");
  struct stat st;

  if (boot_id == NULL || stat (info->path, &st) < 0)
    return NULL;
  return g_strdup_printf ("%s %s %d %lld", boot_id, info->path, info->version, (long long) st.st_mtime);
}

static gboolean
check_cached (const FerryCriuInfo *info)
{
  g_autofree char *key = check_cache_key (info);
  g_autofree char *value = key != NULL ? cache_lookup (FERRY_CRIU_CHECK_CACHE, key) : NULL;

  return value != NULL;
}

static void
remember_check (const FerryCriuInfo *info)
{
  g_autofree char *key = check_cache_key (info);

  if (key != NULL)
    cache_store (FERRY_CRIU_CHECK_CACHE, key, "passed");
}

/* The version of the binary at PATH, as it is now (asking libcriu starts
 * CRIU: 10-25 ms, inside the freeze of a live move's restore). */
static char *
version_cache_key (const char *path)
{
  struct stat st;

  if (stat (path, &st) < 0)
    return NULL;
  return g_strdup_printf ("%s %llu %llu %lld %lld.%09ld %lld.%09ld", path, (unsigned long long) st.st_dev,
                          (unsigned long long) st.st_ino, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
                          st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

static int
cached_version (const char *path)
{
  g_autofree char *key = version_cache_key (path);
  g_autofree char *value = key != NULL ? cache_lookup (FERRY_CRIU_VERSION_CACHE, key) : NULL;

  return value != NULL ? (int) g_ascii_strtoll (value, NULL, 10) : 0;
}

static void
remember_version (const char *path, int version)
{
  g_autofree char *key = version_cache_key (path);
  g_autofree char *value = g_strdup_printf ("%d", version);

  if (key != NULL)
    cache_store (FERRY_CRIU_VERSION_CACHE, key, value);
}

gboolean
ferry_criu_probe (FerryCriuInfo *info, FerryCriuCheck run_check, GError **error)
{
  g_autoptr (GError) local = NULL;
  criu_opts *opts = NULL;

  memset (info, 0, sizeof *info);
  info->nested = ferry_criu_detect_nesting ();
  if ((info->path = ferry_criu_locate (&info->found_by, error)) == NULL)
    return FALSE;
  if ((info->version = cached_version (info->path)) <= 0)
    {
      if ((opts = ferry_criu_opts_new (info->path, NULL, NULL, error)) == NULL)
        return FALSE;
      info->version = criu_local_get_version (opts);
      criu_local_free_opts (opts);
      if (info->version > 0)
        remember_version (info->path, info->version);
    }
  if (info->version <= 0)
    {
      info->version = 0;
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "CRIU %s (from %s) does not answer libcriu's version request (CRIU older than 3.0, or broken): "
                   SETUP_HINT,
                   info->path, info->found_by);
      return FALSE;
    }
  info->version_text = g_strdup_printf ("%d.%d.%d", info->version / 10000, info->version / 100 % 100,
                                        info->version % 100);
  if (info->version < FERRY_CRIU_MIN_VERSION)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "CRIU %s (%s, from %s) is too old: Ferry needs CRIU >= 4.2 on this kernel; " SETUP_HINT,
                   info->version_text, info->path, info->found_by);
      return FALSE;
    }
  if (info->nested != NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_UNAVAILABLE,
                   "Checkpoint/restore needs Ferry to run directly on the host, not nested in a container (%s)",
                   info->nested);
      return FALSE;
    }
  if (run_check != FERRY_CRIU_CHECK_SKIP)
    {
      info->check_ran = TRUE;
      if (run_check == FERRY_CRIU_CHECK_CACHED && check_cached (info))
        {
          info->check_ok = TRUE;
          return TRUE;
        }
      info->check_ok = run_criu_check (info->path, &local);
      if (info->check_ok)
        remember_check (info);
      else
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "CRIU %s (%s): ", info->version_text,
                                      info->path);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
on_tmpfs (const char *path)
{
  struct statfs fs;

  return statfs (path, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

/* Root's own directory: CRIU (as root) trusts what it reads there. */
static gboolean
private_dir (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0 && S_ISDIR (st.st_mode) && st.st_uid == 0 && (st.st_mode & 0077) == 0;
}

char *
ferry_criu_kdat_dir_choose (const char *preferred)
{
  g_autofree char *parent = g_path_get_dirname (preferred);
  g_autofree char *fresh = NULL;

  if (!on_tmpfs (parent))
    return NULL;
  if (mkdir (preferred, 0700) < 0 && errno != EEXIST)
    return NULL;
  if (private_dir (preferred))
    return g_strdup (preferred);
  /* Somebody else's name (/dev/shm is everybody's): one of our own. */
  fresh = g_strconcat (preferred, ".XXXXXX", NULL);
  if (g_mkdtemp_full (fresh, 0700) == NULL || !private_dir (fresh))
    return NULL;
  g_message ("%s is not a directory of root's: CRIU's kernel-feature cache goes in %s", preferred, fresh);
  return g_steal_pointer (&fresh);
}

void
ferry_criu_kdat_cache_prepare (void)
{
  g_autofree char *dir = NULL;

  if (g_getenv ("CRIU_KDAT_DIR") != NULL || on_tmpfs ("/run"))
    return;
  if ((dir = ferry_criu_kdat_dir_choose (FERRY_CRIU_KDAT_DIR)) != NULL)
    g_setenv ("CRIU_KDAT_DIR", dir, TRUE);
}
