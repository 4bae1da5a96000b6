/* libFuzzer entry point for request bodies: ferry_json_parse_object sees
 * every byte an API client sends, trusted or not (its guard runs before
 * json-glib). Then the accessors handlers use on what it returns. Run by
 * scripts/fuzz; by hand: build-fuzz/src/common/fuzz-json tests/fuzz/json
 *
 * The parse runs on a thread with a small stack: json-glib recurses once
 * per nesting level, and a guard that lets depth grow without bound then
 * overflows it within libFuzzer's input sizes (about a thousand levels)
 * instead of needing the ~100,000 that overflow the daemon's 8 MiB. */
#include "common/json.h"
#include "common/fuzz-glib.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
use_object (JsonObject *obj)
{
  g_autoptr (GHashTable) map = NULL;
  g_autofree char *text = NULL;
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  JsonObject *inner = NULL;
  const char *name = NULL;
  gint64 number = 0;
  gboolean flag = FALSE;

  ferry_json_get_string (obj, "name", &name, NULL);
  ferry_json_get_int (obj, "timeout", &number, NULL);
  ferry_json_get_bool (obj, "stateful", &flag, NULL);
  if (ferry_json_get_object (obj, "config", &inner, NULL) && inner != NULL)
    map = ferry_json_string_map (inner, "config", NULL);
  json_node_set_object (node, obj);
  text = ferry_json_to_string (node, FALSE);
  json_node_unref (node);
}

/* One long-lived parser thread (a thread per input costs ASan more than
 * the parse), handed each input under LOCK. */
static GMutex lock;
static GCond changed;
static const uint8_t *input_data;
static size_t input_size;
static gboolean input_pending;

static void *
parse_thread (void *user_data)
{
  for (;;)
    {
      g_autoptr (JsonObject) obj = NULL;

      g_mutex_lock (&lock);
      while (!input_pending)
        g_cond_wait (&changed, &lock);
      g_mutex_unlock (&lock);
      obj = ferry_json_parse_object ((const char *) input_data, input_size, input_size % 2 == 0, NULL);
      if (obj != NULL)
        use_object (obj);
      g_mutex_lock (&lock);
      input_pending = FALSE;
      g_cond_broadcast (&changed);
      g_mutex_unlock (&lock);
    }
  return NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gsize started;

  if (g_once_init_enter (&started))
    {
      pthread_attr_t attr;
      pthread_t thread;

      pthread_attr_init (&attr);
      pthread_attr_setstacksize (&attr, 64 * 1024);
      if (pthread_create (&thread, &attr, parse_thread, NULL) != 0)
        g_error ("pthread_create failed");
      pthread_attr_destroy (&attr);
      g_once_init_leave (&started, 1);
    }
  g_mutex_lock (&lock);
  input_data = data;
  input_size = size;
  input_pending = TRUE;
  g_cond_broadcast (&changed);
  while (input_pending)
    g_cond_wait (&changed, &lock);
  g_mutex_unlock (&lock);
  return 0;
}
