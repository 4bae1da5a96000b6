/* Validation of user-supplied names, with LXD's rules. */
#pragma once

#include <glib.h>

/* Instance names follow LXD: a valid hostname label, 1-63 characters of
 * [a-zA-Z0-9-], not starting with a digit or '-', not ending with '-'. */
gboolean ferry_name_validate_instance (const char *name, GError **error);

/* Snapshot names: 1-255 characters, no '/', not "." or "..", no whitespace
 * or control characters. */
gboolean ferry_name_validate_snapshot (const char *name, GError **error);

/* Names of profiles, networks, image aliases and remotes: 1-255 printable
 * characters without '/', whitespace, not "." or "..". */
gboolean ferry_name_validate_object (const char *kind, const char *name, GError **error);
