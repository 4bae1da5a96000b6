/* Secrets that guard the API (trust tokens, operation websockets): made from
 * the kernel's CSPRNG and compared in constant time. */
#pragma once

#include <glib.h>

/* A new secret: n_bytes from getrandom(), as lowercase hex. Aborts if the
 * kernel cannot give randomness (a secret must never be predictable). */
char *ferry_secret_new_hex (gsize n_bytes);

/* Whether a and b are the same string, in a time that depends on their
 * lengths only, never on where they differ. NULL equals nothing. */
gboolean ferry_secret_equal (const char *a, const char *b);
