/*
 * state.h - dumperd's own state, backed up: `dumperd backup-state OUT` makes a consistent copy of the SQLite
 * state store while `serve` runs (the sqlite3 backup API, one read transaction: the HTTP threads and the
 * scheduler go on writing). The copy is written to a temporary file beside OUT (mode 0600: it holds key hashes
 * and the alert channels' settings), checked, synced and only then linked to OUT, so nothing partial ever
 * looks like a good copy, and an existing OUT is never overwritten. To restore: stop dumperd, put the copy in
 * place of the store file (removing a stale -wal/-shm beside it), start dumperd (docs/operations.md).
 */
#ifndef SD_STATE_H
#define SD_STATE_H

#include "service/ctx.h"

/* SD_CONFLICT when out exists, SD_INVALID on a PostgreSQL store, SD_INTERNAL on I/O errors. */
int sd_state_backup(sd_ctx *ctx, const char *out, sd_status *st);

#endif
