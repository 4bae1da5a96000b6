#include "config.h"

#include "config-file.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "common/cert.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/yaml.h"

void
ferry_remote_config_free (FerryRemoteConfig *remote)
{
  if (remote == NULL)
    return;
  g_free (remote->name);
  g_free (remote->addr);
  g_free (remote->protocol);
  g_free (remote->auth_type);
  g_free (remote->project);
  g_free (remote);
}

void
ferry_config_free (FerryConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->dir);
  g_free (config->default_remote);
  g_ptr_array_unref (config->remotes);
  g_free (config);
}

char *
ferry_config_dir (void)
{
  const char *env = g_getenv ("FERRY_CONF");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_build_filename (g_get_user_config_dir (), "ferry", NULL);
}

static FerryRemoteConfig *
remote_new (const char *name, const char *addr, const char *protocol, const char *auth_type, const char *project,
            gboolean public_)
{
  FerryRemoteConfig *r = g_new0 (FerryRemoteConfig, 1);

  r->name = g_strdup (name);
  r->addr = g_strdup (addr);
  r->protocol = g_strdup (protocol != NULL ? protocol : "lxd");
  r->auth_type = g_strdup (auth_type != NULL ? auth_type : "");
  r->project = g_strdup (project != NULL ? project : "");
  r->public_ = public_;
  return r;
}

static gint
compare_remotes (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(FerryRemoteConfig **) a)->name, (*(FerryRemoteConfig **) b)->name);
}

static FerryConfig *
config_new (const char *dir)
{
  FerryConfig *config = g_new0 (FerryConfig, 1);

  config->dir = g_strdup (dir);
  config->default_remote = g_strdup ("local");
  config->remotes = g_ptr_array_new_with_free_func ((GDestroyNotify) ferry_remote_config_free);
  return config;
}

FerryRemoteConfig *
ferry_config_find (FerryConfig *config, const char *name)
{
  for (guint i = 0; i < config->remotes->len; i++)
    {
      FerryRemoteConfig *r = g_ptr_array_index (config->remotes, i);
      if (strcmp (r->name, name) == 0)
        return r;
    }
  return NULL;
}

gboolean
ferry_config_remove (FerryConfig *config, const char *name)
{
  FerryRemoteConfig *r = ferry_config_find (config, name);

  return r != NULL && g_ptr_array_remove (config->remotes, r);
}

void
ferry_config_add (FerryConfig *config, FerryRemoteConfig *remote)
{
  ferry_config_remove (config, remote->name);
  g_ptr_array_add (config->remotes, remote);
  g_ptr_array_sort (config->remotes, compare_remotes);
}

static const char *
member_string (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

FerryConfig *
ferry_config_from_yaml (const char *dir, const char *text, GError **error)
{
  g_autoptr (FerryConfig) config = config_new (dir);
  g_autoptr (JsonNode) root = ferry_yaml_read (text, -1, FERRY_YAML_READ_TYPED, error);
  JsonObject *o, *remotes;
  JsonNode *remotes_node;

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "config.yml is not a map");
      return NULL;
    }
  o = json_node_get_object (root);
  if (member_string (o, "default-remote") != NULL)
    {
      g_free (config->default_remote);
      config->default_remote = g_strdup (member_string (o, "default-remote"));
    }
  remotes_node = json_object_get_member (o, "remotes");
  if (remotes_node != NULL && JSON_NODE_HOLDS_OBJECT (remotes_node))
    {
      g_autoptr (GList) names = NULL;
      remotes = json_node_get_object (remotes_node);
      names = json_object_get_members (remotes);
      for (GList *l = names; l != NULL; l = l->next)
        {
          JsonNode *rn = json_object_get_member (remotes, l->data);
          JsonObject *r;
          if (!JSON_NODE_HOLDS_OBJECT (rn))
            continue;
          r = json_node_get_object (rn);
          ferry_config_add (config, remote_new (l->data, member_string (r, "addr"), member_string (r, "protocol"),
                                                member_string (r, "auth_type"), member_string (r, "project"),
                                                json_object_get_boolean_member_with_default (r, "public", FALSE)));
        }
    }
  if (ferry_config_find (config, "local") == NULL)
    ferry_config_add (config, remote_new ("local", "unix://", "lxd", "", "", FALSE));
  return g_steal_pointer (&config);
}

char *
ferry_config_to_yaml (FerryConfig *config)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  /* lxc's Config struct order: default-remote, remotes, aliases. */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "default-remote");
  json_builder_add_string_value (b, config->default_remote);
  json_builder_set_member_name (b, "remotes");
  json_builder_begin_object (b);
  for (guint i = 0; i < config->remotes->len; i++)
    {
      FerryRemoteConfig *r = g_ptr_array_index (config->remotes, i);
      json_builder_set_member_name (b, r->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "addr");
      json_builder_add_string_value (b, r->addr);
      if (r->auth_type != NULL && *r->auth_type != '\0')
        {
          json_builder_set_member_name (b, "auth_type");
          json_builder_add_string_value (b, r->auth_type);
        }
      if (r->project != NULL && *r->project != '\0')
        {
          json_builder_set_member_name (b, "project");
          json_builder_add_string_value (b, r->project);
        }
      if (r->protocol != NULL && *r->protocol != '\0')
        {
          json_builder_set_member_name (b, "protocol");
          json_builder_add_string_value (b, r->protocol);
        }
      json_builder_set_member_name (b, "public");
      json_builder_add_boolean_value (b, r->public_);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "aliases");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ferry_yaml_write (root);
}

FerryConfig *
ferry_config_load (GError **error)
{
  g_autofree char *dir = ferry_config_dir ();
  g_autofree char *path = g_build_filename (dir, "config.yml", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  FerryConfig *config;

  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_set_error (error, FERRY_ERROR, FERRY_ERROR_FAILED, "%s", local->message);
          return NULL;
        }
      return ferry_config_from_yaml (dir, "", error);
    }
  config = ferry_config_from_yaml (dir, text, error);
  if (config == NULL)
    g_prefix_error (error, "%s: ", path);
  return config;
}

gboolean
ferry_config_save (FerryConfig *config, GError **error)
{
  g_autofree char *path = g_build_filename (config->dir, "config.yml", NULL);
  g_autofree char *text = ferry_config_to_yaml (config);

  if (!ferry_mkdir_p (config->dir, 0750, error))
    return FALSE;
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

char *
ferry_config_servercert_path (FerryConfig *config, const char *name)
{
  g_autofree char *file = g_strconcat (name, ".crt", NULL);
  return g_build_filename (config->dir, "servercerts", file, NULL);
}

char *
ferry_config_client_cert_path (FerryConfig *config)
{
  return g_build_filename (config->dir, "client.crt", NULL);
}

char *
ferry_config_client_key_path (FerryConfig *config)
{
  return g_build_filename (config->dir, "client.key", NULL);
}

gboolean
ferry_config_ensure_client_cert (FerryConfig *config, GError **error)
{
  g_autofree char *crt = ferry_config_client_cert_path (config);
  g_autofree char *key = ferry_config_client_key_path (config);
  g_autofree char *cn = NULL;

  if (g_file_test (crt, G_FILE_TEST_EXISTS) && g_file_test (key, G_FILE_TEST_EXISTS))
    return TRUE;
  if (!ferry_mkdir_p (config->dir, 0750, error))
    return FALSE;
  fprintf (stderr, "Generating a client certificate. This may take a minute...\n");
  cn = g_strdup_printf ("%s@%s", g_get_user_name (), g_get_host_name ());
  return ferry_cert_generate (crt, key, FERRY_CERT_CLIENT, cn, error);
}
