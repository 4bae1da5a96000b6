/* Which Debian mirror an image is built from: the one this host's apt
 * already uses (machines often reach only that one), read from its
 * sources.list and the .list and deb822 .sources files of sources.list.d. */
#pragma once

#include <glib.h>

/* Looks in etc_apt (normally "/etc/apt") for the first enabled "deb" source
 * of a Debian release (a suite named like bookworm, trixie-updates, stable,
 * sid... with the main component) and the first of a "-security" suite.
 * *mirror and *security are set to their URIs without a trailing slash;
 * when none is configured, the security archive is derived from the archive
 * (".../debian" -> ".../debian-security") and the archive falls back to
 * Debian's own redirector, http://deb.debian.org/debian. */
void ferry_debian_mirrors (const char *etc_apt, char **mirror, char **security);

/* ".../debian" -> ".../debian-security"; NULL for any other URI. */
char *ferry_debian_security_for (const char *mirror);
