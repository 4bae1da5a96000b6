#include "common/secret.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

char *
ferry_secret_new_hex (gsize n_bytes)
{
  g_autofree guint8 *raw = g_malloc (n_bytes);
  GString *hex = g_string_sized_new (2 * n_bytes);
  gsize got = 0;

  while (got < n_bytes)
    {
      ssize_t n = getrandom (raw + got, n_bytes - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("getrandom failed: %s", g_strerror (errno));
      got += (gsize) n;
    }
  for (gsize i = 0; i < n_bytes; i++)
    g_string_append_printf (hex, "%02x", raw[i]);
  explicit_bzero (raw, n_bytes);
  return g_string_free (hex, FALSE);
}

gboolean
ferry_secret_equal (const char *a, const char *b)
{
  gsize len_a, len_b;
  volatile guint8 diff;

  if (a == NULL || b == NULL)
    return FALSE;
  len_a = strlen (a);
  len_b = strlen (b);
  diff = len_a != len_b;
  /* Always walk all of b, the secret a caller sent: its length is public. */
  for (gsize i = 0; i < len_b; i++)
    diff |= (guint8) (b[i] ^ (i < len_a ? a[i] : 0));
  return diff == 0;
}
