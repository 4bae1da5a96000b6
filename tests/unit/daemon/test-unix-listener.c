/* The unix listener's Host fix: ws4py's "localhost:None" loses its port,
 * every other head is left alone. */
#include "daemon/http/unix-listener.h"

#include <string.h>

static char *
fixed (const char *head)
{
  g_autoptr (GBytes) out = ferry_unix_fix_host ((const guint8 *) head, strlen (head));
  gsize len = 0;
  const char *data;

  if (out == NULL)
    return NULL;
  data = g_bytes_get_data (out, &len);
  return g_strndup (data, len);
}

static void
test_port_none (void)
{
  g_autofree char *a = fixed ("GET /1.0/operations/x/websocket?secret=s HTTP/1.1\r\nUpgrade: websocket\r\n"
                              "Host: localhost:None\r\nOrigin: http://localhost:None\r\n\r\nbody");
  g_autofree char *b = fixed ("GET / HTTP/1.1\r\nhost:  localhost:None \r\n\r\n");

  g_assert_cmpstr (a, ==, "GET /1.0/operations/x/websocket?secret=s HTTP/1.1\r\nUpgrade: websocket\r\n"
                          "Host: localhost\r\nOrigin: http://localhost:None\r\n\r\nbody");
  g_assert_cmpstr (b, ==, "GET / HTTP/1.1\r\nhost:  localhost \r\n\r\n");
}

static void
test_left_alone (void)
{
  const char *heads[] = {
    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: localhost:8443\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: [::1]:None\r\n\r\n",
    "GET / HTTP/1.1\r\nX-Host: a:b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: localhost:None\r\n", /* no end of head */
    "GET / HTTP/1.1\r\n\r\nHost: a:b\r\n\r\n",    /* in the body */
    "",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (heads); i++)
    {
      g_autofree char *out = fixed (heads[i]);
      g_assert_null (out);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/unix-listener/port-none", test_port_none);
  g_test_add_func ("/unix-listener/left-alone", test_left_alone);
  return g_test_run ();
}
