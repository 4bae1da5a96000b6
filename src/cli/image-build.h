/* `ferry image build`: makes a Debian image with mmdebstrap on this host and
 * hands it to the daemon like `ferry image import` does. */
#pragma once

#include <glib.h>

#include "cli.h"
#include "image-recipe.h"

extern const FerryCommand ferry_cmd_image_build;

/* cmd-image.c's upload of a unified tarball (POST /1.0/images), aliases
 * created, the fingerprint printed. */
gboolean ferry_cli_image_upload (FerryCli *cli, FerryClient *client, const char *file, const char *const *aliases,
                                 gboolean public_, const char *properties, GError **error);

/* Runs mmdebstrap for recipe and writes the unified tarball, compressed
 * with compression (image-pack.h), to out_fd. Its
 * output goes to log_path; on a terminal (and not --quiet) a status line
 * shows the current phase. Fails with one sentence that says what went wrong
 * (mmdebstrap missing, the mirror unreachable, a package not found, quoting
 * apt) and names the log. */
gboolean ferry_image_build_run (FerryCli *cli, const FerryImageRecipe *recipe, const char *deb_cache, int out_fd,
                                const char *compression, const char *log_path, GError **error);

/* Removes from deb_cache the .debs that a newer version of the same
 * package and architecture replaced: those in before (file names) for which
 * a name not in before now exists. */
void ferry_image_prune_debs (const char *deb_cache, GHashTable *before);

/* The .deb file names in deb_cache (a set). */
GHashTable *ferry_image_list_debs (const char *deb_cache);
