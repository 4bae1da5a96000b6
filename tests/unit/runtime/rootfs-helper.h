#pragma once

#include <glib.h>

/* A minimal busybox rootfs under DIR (from the host's static busybox), with
 * an inittab that prints "ferry-boot-ok" and respawns a sleeper. */
gboolean test_make_busybox_rootfs (const char *dir, GError **error);
