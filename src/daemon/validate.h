/* Validation of user-supplied config keys/values and devices (validate.c). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

gboolean ferry_config_validate (GHashTable *config, gboolean from_profile, GError **error);
/* lxc.signal.halt of a raw.lxc value: the signal, 0 if unset, -1 (with an
 * error) for anything else raw.lxc holds. */
int ferry_config_raw_lxc_halt_signal (const char *raw, GError **error);
gboolean ferry_devices_validate (JsonObject *devices, GError **error);
gboolean ferry_parse_size (const char *text, gint64 *bytes, GError **error);
/* LXD's true: "true", "1", "yes", "on". */
gboolean ferry_config_bool_true (const char *value);
