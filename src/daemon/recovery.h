/* Crash consistency at start (docs/durability.md): before anything else
 * touches an instance, ferryd settles the intents (intent.h) a dead ferryd
 * left, each to the state before or after its operation, and removes what
 * no instance owns (never-committed creates, snapshots, incomplete dumps). */
#pragma once

#include "daemon/daemon.h"

/* At start, after the instances are loaded and before any autostart. */
void ferry_recovery_run (FerryDaemon *d);
