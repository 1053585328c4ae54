/*
 * err.h - the error record threaded through every internal call.
 *
 * A failing function fills a dp_err (code + one lowercase message line naming the object) and
 * returns the code. The first error recorded wins: cleanup after a failure must not replace the
 * root cause, so dp_err_set is a no-op on a record that already holds an error.
 */
#ifndef DP_ERR_H
#define DP_ERR_H

#include <stddef.h>
#include "dumper.h"

#define DP_ERR_MSG_MAX 512

typedef struct dp_err {
    int code;
    char msg[DP_ERR_MSG_MAX];
} dp_err;

/* Record an error unless one is already recorded. Returns `code` (or the existing code). */
int dp_err_set(dp_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like dp_err_set, appending ": strerror(errnum)". */
int dp_err_sys(dp_err *e, int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Map an errno from a write/fsync to DUMPER_ENOSPC or DUMPER_EIO. */
int dp_err_code_for_errno(int errnum);
void dp_err_clear(dp_err *e);
/* Prefix the message with context ("backup of 'x': ..."). Keeps the code. */
void dp_err_prefix(dp_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
