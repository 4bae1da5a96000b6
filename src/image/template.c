/* The pongo2 subset of LXD's image templates (template.h). A small
 * recursive-descent reader over the tag's text; values are strings, as
 * every variable LXD gives a template is a string or a map of them. */
#include "image/template.h"
#include "common/error.h"

#include <string.h>

typedef struct
{
  const char *p;
  JsonObject *context;
  GHashTable *config;
  GError **error;
} Expr;

static gboolean
expr_fail (Expr *x, const char *what)
{
  if (x->error != NULL && *x->error == NULL)
    g_set_error (x->error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template: %s near \"%.20s\"", what, x->p);
  return FALSE;
}

static void
skip_space (Expr *x)
{
  while (g_ascii_isspace (*x->p))
    x->p++;
}

static char *
read_ident (Expr *x)
{
  const char *start = x->p;

  while (g_ascii_isalnum (*x->p) || *x->p == '_')
    x->p++;
  return x->p > start ? g_strndup (start, (gsize) (x->p - start)) : NULL;
}

static gboolean
accept (Expr *x, const char *token)
{
  skip_space (x);
  if (strncmp (x->p, token, strlen (token)) != 0)
    return FALSE;
  x->p += strlen (token);
  return TRUE;
}

/* A word (and, or, not) followed by a non-identifier character. */
static gboolean
accept_word (Expr *x, const char *word)
{
  gsize n = strlen (word);

  skip_space (x);
  if (strncmp (x->p, word, n) != 0 || g_ascii_isalnum (x->p[n]) || x->p[n] == '_')
    return FALSE;
  x->p += n;
  return TRUE;
}

static char *
read_string (Expr *x)
{
  char quote = *x->p;
  GString *s = g_string_new (NULL);

  x->p++;
  while (*x->p != '\0' && *x->p != quote)
    {
      if (*x->p == '\\' && x->p[1] != '\0')
        {
          x->p++;
          g_string_append_c (s, *x->p == 'n' ? '\n' : *x->p == 't' ? '\t' : *x->p);
        }
      else
        g_string_append_c (s, *x->p);
      x->p++;
    }
  if (*x->p != quote)
    {
      g_string_free (s, TRUE);
      expr_fail (x, "unterminated string");
      return NULL;
    }
  x->p++;
  return g_string_free (s, FALSE);
}

static char *parse_value (Expr *x);

/* A member of a map variable: a string, or "" when absent. */
static char *
map_member (JsonNode *map, const char *key)
{
  JsonNode *v;

  if (map == NULL || !JSON_NODE_HOLDS_OBJECT (map))
    return g_strdup ("");
  v = json_object_get_member (json_node_get_object (map), key);
  if (v == NULL || !JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
    return g_strdup ("");
  return g_strdup (json_node_get_string (v));
}

static char *
parse_primary (Expr *x)
{
  g_autofree char *ident = NULL;
  JsonNode *var;

  skip_space (x);
  if (*x->p == '"' || *x->p == '\'')
    return read_string (x);
  if (g_ascii_isdigit (*x->p) || (*x->p == '-' && g_ascii_isdigit (x->p[1])))
    {
      const char *start = x->p++;
      while (g_ascii_isdigit (*x->p) || *x->p == '.')
        x->p++;
      return g_strndup (start, (gsize) (x->p - start));
    }
  ident = read_ident (x);
  if (ident == NULL)
    return expr_fail (x, "expected a value"), NULL;
  if (strcmp (ident, "config_get") == 0)
    {
      g_autofree char *key = NULL;
      g_autofree char *def = NULL;
      const char *v;

      if (!accept (x, "(") || (key = parse_value (x)) == NULL || !accept (x, ",") || (def = parse_value (x)) == NULL
          || !accept (x, ")"))
        return expr_fail (x, "config_get takes (\"key\", default)"), NULL;
      v = x->config != NULL ? g_hash_table_lookup (x->config, key) : NULL;
      if (v == NULL)
        return g_steal_pointer (&def);
      /* As LXD: the value without trailing line ends. */
      {
        gsize n = strlen (v);
        while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n'))
          n--;
        return g_strndup (v, n);
      }
    }
  if (strcmp (ident, "true") == 0 || strcmp (ident, "false") == 0)
    return g_strdup (strcmp (ident, "true") == 0 ? "true" : "");
  var = json_object_get_member (x->context, ident);
  skip_space (x);
  if (*x->p == '.')
    {
      g_autofree char *member = NULL;
      x->p++;
      member = read_ident (x);
      if (member == NULL)
        return expr_fail (x, "expected a member name after '.'"), NULL;
      return map_member (var, member);
    }
  if (*x->p == '[')
    {
      g_autofree char *key = NULL;
      x->p++;
      key = parse_value (x);
      if (key == NULL || !accept (x, "]"))
        return expr_fail (x, "expected ']'"), NULL;
      return map_member (var, key);
    }
  if (var != NULL && JSON_NODE_HOLDS_VALUE (var) && json_node_get_value_type (var) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (var));
  return g_strdup ("");
}

/* A primary and its filters. */
static char *
parse_value (Expr *x)
{
  g_autofree char *v = parse_primary (x);

  if (v == NULL)
    return NULL;
  while (accept (x, "|"))
    {
      g_autofree char *filter = NULL;

      skip_space (x);
      filter = read_ident (x);
      if (filter == NULL)
        return expr_fail (x, "expected a filter name"), NULL;
      if (strcmp (filter, "default") == 0)
        {
          g_autofree char *def = NULL;
          if (!accept (x, ":") || (def = parse_primary (x)) == NULL)
            return expr_fail (x, "default needs a value"), NULL;
          if (*v == '\0')
            {
              g_free (v);
              v = g_steal_pointer (&def);
            }
        }
      else if (strcmp (filter, "lower") == 0 || strcmp (filter, "upper") == 0)
        {
          char *c = strcmp (filter, "lower") == 0 ? g_ascii_strdown (v, -1) : g_ascii_strup (v, -1);
          g_free (v);
          v = c;
        }
      else if (strcmp (filter, "trim") == 0)
        {
          char *c = g_strstrip (g_strdup (v));
          g_free (v);
          v = c;
        }
      else
        return expr_fail (x, "unsupported filter"), NULL;
    }
  return g_steal_pointer (&v);
}

/* [not] value [==|!= value]; -1 on error. */
static int
parse_comparison (Expr *x)
{
  g_autofree char *left = NULL;
  g_autofree char *right = NULL;
  gboolean negate = accept_word (x, "not");
  gboolean equal;
  int r;

  left = parse_value (x);
  if (left == NULL)
    return -1;
  if (accept (x, "=="))
    equal = TRUE;
  else if (accept (x, "!="))
    equal = FALSE;
  else
    return (*left != '\0') != negate;
  right = parse_value (x);
  if (right == NULL)
    return -1;
  r = (strcmp (left, right) == 0) == equal;
  return r != negate;
}

static int
parse_condition (Expr *x)
{
  int r = parse_comparison (x);

  while (r >= 0)
    {
      int next;
      gboolean is_and;

      if (accept_word (x, "and"))
        is_and = TRUE;
      else if (accept_word (x, "or"))
        is_and = FALSE;
      else
        break;
      next = parse_comparison (x);
      if (next < 0)
        return -1;
      r = is_and ? (r && next) : (r || next);
    }
  return r;
}

/* ---- the template's text ---- */

typedef struct
{
  gboolean outer_active; /* the enclosing block renders */
  gboolean taken;        /* a branch of this if has been taken */
  gboolean active;       /* the current branch renders */
  gboolean seen_else;
} IfFrame;

/* The inside of "{% ... %}" or "{{ ... }}" that starts at P + 2; its end
 * in *END (after the closing pair). */
static char *
tag_body (const char *p, const char *close, const char **end, GError **error)
{
  const char *stop = strstr (p + 2, close);
  const char *start = p + 2;
  const char *last;

  if (stop == NULL)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template: \"%.2s\" is never closed", p);
      return NULL;
    }
  *end = stop + 2;
  /* Whitespace control marks ({%- -%}) are accepted and ignored. */
  if (*start == '-')
    start++;
  last = stop;
  if (last > start && last[-1] == '-')
    last--;
  return g_strstrip (g_strndup (start, (gsize) (last - start)));
}

char *
ferry_template_render (const char *text, JsonObject *context, GHashTable *config, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GArray) ifs = g_array_new (FALSE, FALSE, sizeof (IfFrame));
  const char *p = text;

  while (*p != '\0')
    {
      gboolean active = ifs->len == 0 || g_array_index (ifs, IfFrame, ifs->len - 1).active;
      const char *end = NULL;
      g_autofree char *body = NULL;

      if (p[0] == '{' && p[1] == '#')
        {
          const char *stop = strstr (p + 2, "#}");
          if (stop == NULL)
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template: a comment is never closed");
              return NULL;
            }
          p = stop + 2;
          continue;
        }
      if (p[0] == '{' && p[1] == '{')
        {
          Expr x = { .context = context, .config = config, .error = error };
          g_autofree char *v = NULL;

          if ((body = tag_body (p, "}}", &end, error)) == NULL)
            return NULL;
          x.p = body;
          v = parse_value (&x);
          if (v == NULL)
            return NULL;
          skip_space (&x);
          if (*x.p != '\0')
            return expr_fail (&x, "unexpected text"), NULL;
          if (active)
            g_string_append (out, v);
          p = end;
          continue;
        }
      if (p[0] == '{' && p[1] == '%')
        {
          Expr x = { .context = context, .config = config, .error = error };
          g_autofree char *word = NULL;

          if ((body = tag_body (p, "%}", &end, error)) == NULL)
            return NULL;
          x.p = body;
          word = read_ident (&x);
          if (word != NULL && (strcmp (word, "if") == 0 || strcmp (word, "elif") == 0))
            {
              int c = parse_condition (&x);
              if (c < 0)
                return NULL;
              skip_space (&x);
              if (*x.p != '\0')
                return expr_fail (&x, "unexpected text"), NULL;
              if (strcmp (word, "if") == 0)
                {
                  IfFrame f = { .outer_active = active, .taken = c, .active = active && c };
                  g_array_append_val (ifs, f);
                }
              else
                {
                  IfFrame *f = ifs->len > 0 ? &g_array_index (ifs, IfFrame, ifs->len - 1) : NULL;
                  if (f == NULL || f->seen_else)
                    return expr_fail (&x, "elif without if"), NULL;
                  f->active = f->outer_active && !f->taken && c;
                  f->taken = f->taken || c;
                }
            }
          else if (word != NULL && strcmp (word, "else") == 0 && *x.p == '\0')
            {
              IfFrame *f = ifs->len > 0 ? &g_array_index (ifs, IfFrame, ifs->len - 1) : NULL;
              if (f == NULL || f->seen_else)
                return expr_fail (&x, "else without if"), NULL;
              f->seen_else = TRUE;
              f->active = f->outer_active && !f->taken;
              f->taken = TRUE;
            }
          else if (word != NULL && strcmp (word, "endif") == 0 && *x.p == '\0')
            {
              if (ifs->len == 0)
                return expr_fail (&x, "endif without if"), NULL;
              g_array_set_size (ifs, ifs->len - 1);
            }
          else if (word != NULL
                   && (strcmp (word, "autoescape") == 0 || strcmp (word, "endautoescape") == 0))
            ; /* LXD renders with autoescape off already */
          else
            {
              g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template: unsupported tag \"{%% %s %%}\"", body);
              return NULL;
            }
          p = end;
          continue;
        }
      if (active)
        g_string_append_c (out, *p);
      p++;
    }
  if (ifs->len > 0)
    {
      g_set_error (error, FERRY_ERROR, FERRY_ERROR_INVALID, "Template: an if is never closed by endif");
      return NULL;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
