/* core.trust_password checks for untrusted HTTPS clients: the scrypt hash
 * runs in a worker thread of its own (never on the main loop, never in the
 * operations' pool), and wrong passwords are limited per client address. */
#pragma once

#include <gio/gio.h>

typedef struct FerryPasswordGuard FerryPasswordGuard;

/* One per daemon, for its lifetime (worker threads hold on to it). */
FerryPasswordGuard *ferry_password_guard_new (void);

/* Checks password against the stored hash for the client at address (an
 * IP), then calls done on the main thread with whether it matched. Returns
 * FALSE without calling done, and a FERRY_ERROR_TOO_MANY_REQUESTS or
 * FERRY_ERROR_UNAVAILABLE error, when that client must wait (too many wrong
 * passwords) or too many checks are queued. */
typedef void (*FerryPasswordChecked) (gboolean matches, gpointer user_data);
gboolean ferry_password_guard_check (FerryPasswordGuard *guard, const char *address, const char *stored_hash,
                                     const char *password, FerryPasswordChecked done, gpointer user_data,
                                     GError **error);
