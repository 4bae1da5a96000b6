/* LXD's image templates (pongo2, a Django-like language) in the subset that
 * images use: {{ expression }}, {# comments #}, {% if %} / {% elif %} /
 * {% else %} / {% endif %}. An expression is a string or number literal,
 * a variable (container.name, instance.name, trigger, path,
 * properties.KEY, config.KEY or config["KEY"]), or config_get("KEY",
 * DEFAULT), optionally followed by |default:VALUE, |lower, |upper or
 * |trim; a condition is [not] EXPR [== EXPR | != EXPR], joined by and/or.
 * Output is not escaped (LXD renders with autoescape off). Anything else is
 * refused with FERRY_ERROR_INVALID, so a template never half-renders. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* CONTEXT maps a variable name to a string or a map of strings (JSON
 * object); CONFIG is what config_get reads (string -> string). */
char *ferry_template_render (const char *text, JsonObject *context, GHashTable *config, GError **error);
