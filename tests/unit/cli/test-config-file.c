/* The client's config.yml (lxc's format) and remote resolution. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config-file.h"
#include "remote.h"

static const char lxc_config[] = "default-remote: s-tollana\n"
                                 "remotes:\n"
                                 "  images:\n"
                                 "    addr: https://images.linuxcontainers.org\n"
                                 "    protocol: simplestreams\n"
                                 "    public: true\n"
                                 "  local:\n"
                                 "    addr: unix://\n"
                                 "    public: false\n"
                                 "  s-tollana:\n"
                                 "    addr: https://192.0.2.7:8443\n"
                                 "    auth_type: tls\n"
                                 "    project: default\n"
                                 "    protocol: lxd\n"
                                 "    public: false\n"
                                 "aliases: {}\n";

static void
test_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryConfig) config = ferry_config_from_yaml ("/x", lxc_config, &error);
  g_autoptr (FerryConfig) again = NULL;
  g_autofree char *text = NULL;
  FerryRemoteConfig *r;

  g_assert_no_error (error);
  g_assert_cmpstr (config->default_remote, ==, "s-tollana");
  g_assert_cmpuint (config->remotes->len, ==, 3);
  r = ferry_config_find (config, "s-tollana");
  g_assert_cmpstr (r->addr, ==, "https://192.0.2.7:8443");
  g_assert_cmpstr (r->auth_type, ==, "tls");
  g_assert_cmpstr (r->protocol, ==, "lxd");
  g_assert_true (ferry_config_find (config, "images")->public_);
  text = ferry_config_to_yaml (config);
  /* Written as lxc writes it, so both clients can share the file. */
  g_assert_cmpstr (text, ==,
                   "default-remote: s-tollana\n"
                   "remotes:\n"
                   "  images:\n"
                   "    addr: https://images.linuxcontainers.org\n"
                   "    protocol: simplestreams\n"
                   "    public: true\n"
                   "  local:\n"
                   "    addr: unix://\n"
                   "    protocol: lxd\n"
                   "    public: false\n"
                   "  s-tollana:\n"
                   "    addr: https://192.0.2.7:8443\n"
                   "    auth_type: tls\n"
                   "    project: default\n"
                   "    protocol: lxd\n"
                   "    public: false\n"
                   "aliases: {}\n");
  again = ferry_config_from_yaml ("/x", text, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->default_remote, ==, "s-tollana");
  g_assert_cmpuint (again->remotes->len, ==, 3);
}

static void
test_defaults_and_lookup (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ferry-conf-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (FerryConfig) config = NULL;
  g_autoptr (FerryRemote) local = NULL, remote = NULL;
  g_autofree char *rname = NULL, *name = NULL;

  g_setenv ("FERRY_CONF", dir, TRUE);
  g_setenv ("FERRY_SOCKET", "/run/test.socket", TRUE);
  config = ferry_config_load (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (config->default_remote, ==, "local");
  g_assert_nonnull (ferry_config_find (config, "local"));
  ferry_config_add (config, g_memdup2 (&(FerryRemoteConfig){ g_strdup ("r2"), g_strdup ("https://127.0.0.1:9443"),
                                                           g_strdup ("lxd"), g_strdup ("tls"), g_strdup ("default"),
                                                           FALSE },
                                       sizeof (FerryRemoteConfig)));
  g_assert_true (ferry_config_save (config, &error));
  g_assert_no_error (error);

  local = ferry_remote_lookup ("local", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (local->socket_path, ==, "/run/test.socket");
  remote = ferry_remote_lookup ("r2", &error);
  g_assert_no_error (error);
  g_assert_null (remote->socket_path);
  g_assert_cmpstr (remote->addr, ==, "https://127.0.0.1:9443");
  g_assert_true (g_str_has_suffix (remote->server_cert, "/servercerts/r2.crt"));
  g_assert_true (g_str_has_suffix (remote->client_cert, "/client.crt"));
  g_assert_null (ferry_remote_lookup ("nope", NULL));

  g_assert_true (ferry_remote_parse ("r2:c1", &rname, &name, &error));
  g_assert_cmpstr (rname, ==, "r2");
  g_assert_cmpstr (name, ==, "c1");
  g_unsetenv ("FERRY_CONF");
  g_unsetenv ("FERRY_SOCKET");
  {
    g_autofree char *file = g_build_filename (dir, "config.yml", NULL);
    g_unlink (file);
    g_rmdir (dir);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config-file/round-trip", test_round_trip);
  g_test_add_func ("/config-file/defaults-lookup", test_defaults_and_lookup);
  return g_test_run ();
}
