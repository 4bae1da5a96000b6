/* What `ferry image build` makes: which releases it knows, which packages
 * and settings go into the image, the mmdebstrap command line that makes it
 * and the LXD metadata that describes it. Pure functions of their inputs, so
 * that the unit tests can check them without building anything. */
#pragma once

#include <glib.h>

/* Bumped whenever the image's contents change for the same inputs: cached
 * builds of another recipe version are not reused. */
#define FERRY_IMAGE_RECIPE_VERSION 1

typedef struct
{
  const char *distribution; /* "debian" */
  const char *release;      /* "bookworm" */
  const char *version;      /* "12" */
} FerryDistroRelease;

typedef struct
{
  const FerryDistroRelease *release;
  char *dpkg_arch;       /* "amd64" */
  char *lxd_arch;        /* "x86_64", as metadata.yaml and LXD name it */
  GPtrArray *includes;   /* the user's extra packages: sorted, unique, valid names */
  char *mirror;          /* the archive, e.g. "http://deb.debian.org/debian" */
  char *security_mirror; /* e.g. "http://deb.debian.org/debian-security" */
} FerryImageRecipe;

void ferry_image_recipe_free (FerryImageRecipe *recipe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FerryImageRecipe, ferry_image_recipe_free)

/* "debian/bookworm" or "debian/12"; else FERRY_ERROR_INVALID naming the
 * releases that can be built. */
const FerryDistroRelease *ferry_distro_release_lookup (const char *name, GError **error);

/* The recipe for building name (see above) for the machine arch (uname's,
 * e.g. "x86_64") with the extra packages of the --include values (each a
 * comma-separated list). Invalid package names fail with FERRY_ERROR_INVALID. */
FerryImageRecipe *ferry_image_recipe_new (const char *name, const char *machine, const char *const *include_args,
                                          const char *mirror, const char *security_mirror, GError **error);

/* "debian-bookworm-amd64-<12 hex digits>": names the cached tarball of
 * exactly this recipe (release, architecture, packages, recipe version). */
char *ferry_image_recipe_cache_key (const FerryImageRecipe *recipe);

/* Every package installed on top of the minbase variant, NULL-terminated. */
GStrv ferry_image_recipe_packages (const FerryImageRecipe *recipe);

/* metadata.yaml of the image made at now; serial "YYYYmmdd_HHMM" (UTC). */
char *ferry_image_recipe_metadata (const FerryImageRecipe *recipe, GDateTime *now);

/* The templates/ files LXD applies at create and copy (Ferry sets the
 * hostname itself and leaves them alone): NULL-terminated name, contents,
 * name, contents... */
const char *const *ferry_image_recipe_templates (void);

/* mmdebstrap's full command line: root mode, minbase, the packages, the
 * release's archive, -updates and -security sources, the container
 * settings, .debs kept in deb_cache (an existing directory) between builds,
 * and the tarball written to standard output. */
GStrv ferry_image_recipe_mmdebstrap_argv (const FerryImageRecipe *recipe, const char *deb_cache);
