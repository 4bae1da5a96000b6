/* GET /1.0/events: the events websocket, filtered by ?type=. */
#include "daemon/api/api.h"

#include <string.h>

typedef struct
{
  FerryDaemon *daemon;
  char **types;
} EventsAccept;

static void
events_ready (SoupWebsocketConnection *conn, gpointer user_data)
{
  EventsAccept *accept = user_data;

  ferry_events_add_listener (accept->daemon, conn, g_steal_pointer (&accept->types));
  g_free (accept);
}

void
ferry_api_events (FerryRequest *req, FerryInstance *unused)
{
  static const char *known[] = { "operation", "logging", "lifecycle", NULL };
  const char *type = ferry_request_query (req, "type");
  g_auto (GStrv) types = NULL;
  EventsAccept *accept;

  if (type != NULL && *type != '\0')
    {
      types = g_strsplit (type, ",", -1);
      for (guint i = 0; types[i] != NULL; i++)
        if (!g_strv_contains (known, types[i]))
          {
            g_autofree char *message = g_strdup_printf ("\"%s\" isn't a supported event type", types[i]);
            ferry_respond_error_literal (req->msg, 400, message);
            return;
          }
    }
  accept = g_new0 (EventsAccept, 1);
  accept->daemon = req->daemon;
  accept->types = g_steal_pointer (&types);
  if (!ferry_websocket_accept (req->msg, events_ready, accept))
    {
      g_strfreev (accept->types);
      g_free (accept);
    }
}
