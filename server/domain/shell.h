/*
 * shell.h - the restore commands dumperd shows (the dashboard, the app page's JSON), built once and safe to
 * paste: every part that comes from an agent or the configuration is one shell word, quoted when it holds
 * anything but [A-Za-z0-9_@%+=:,./-]. Registration refuses most dangerous names already
 * (names.h, sd_text_valid/sd_shell_safe); the quoting holds for what an older dumperd stored too.
 * Pure: strings in, a malloc'd string out.
 */
#ifndef SD_SHELL_H
#define SD_SHELL_H

#include <stdint.h>

#include "core/util.h"

/* s as one shell word onto b: as is when it is non-empty and all of [A-Za-z0-9_@%+=:,./-], else in single
 * quotes with each ' written as '\''. -1 when out of memory. */
int sd_shell_quote(dp_buf *b, const char *s);

/* The database a backup restores into, as the agent registered it (host, name, user may be NULL). */
typedef struct sd_restore_target {
    const char *type, *host, *name, *user;
    int64_t port; /* 0: none */
} sd_restore_target;

/* "dumper restore LOCATION/FILE URL", or with location NULL the downloaded file's
 * "dumper restore ./FILE URL --sha256 SHA256". The URL is built from t (user and name percent-encoded,
 * an IPv6 host in brackets); t NULL gives the placeholder DATABASE_URL. NULL when out of memory. */
char *sd_restore_command(const char *location, const char *file, const sd_restore_target *t, const char *sha256);

#endif
