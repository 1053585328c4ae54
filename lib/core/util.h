/*
 * util.h - small helpers shared by every module: strings, growable buffers, time, files.
 */
#ifndef DP_UTIL_H
#define DP_UTIL_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Set from a signal handler (the CLI's SIGINT/SIGTERM); long loops poll it and stop with
 * DUMPER_EINTR so that partial output is aborted cleanly. */
extern volatile sig_atomic_t dp_interrupted;

char *dp_strdup(const char *s);                 /* NULL-safe; NULL on NULL or OOM */
char *dp_strndup(const char *s, size_t n);
char *dp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int dp_streq(const char *a, const char *b);     /* NULL-safe equality */
int dp_str_has_suffix(const char *s, const char *suffix);
/* Wipe and free a secret. */
void dp_free_secret(char *s);
/* Overwrite memory in a way the compiler won't drop. */
void dp_memzero(void *p, size_t n);

/* Growable byte buffer. Always NUL-terminated after any append (len excludes the NUL). */
typedef struct dp_buf {
    char *data;
    size_t len, cap;
} dp_buf;
int dp_buf_append(dp_buf *b, const void *p, size_t n);
int dp_buf_puts(dp_buf *b, const char *s);
int dp_buf_printf(dp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dp_buf_consume(dp_buf *b, size_t n); /* drop n bytes from the front */
void dp_buf_reset(dp_buf *b);
void dp_buf_free(dp_buf *b);

/* Time. */
int64_t dp_now_ms(void);       /* wall clock, ms since the epoch */
int64_t dp_mono_ms(void);      /* monotonic clock, ms */
int64_t dp_mono_ns(void);      /* monotonic clock, ns */
/* "20261126T094500.123Z" (sorts by time). out must hold 24 bytes. */
void dp_stamp_compact(int64_t ms, char out[24]);
/* "2026-11-26T09:45:00Z" (RFC 3339). out must hold 24 bytes. */
void dp_stamp_rfc3339(int64_t ms, char out[24]);
/* Parse "2026-11-26T09:45:00Z" (optional .fff); -1 on error. */
int64_t dp_parse_rfc3339(const char *s);

/* Files. */
int dp_write_all(int fd, const void *p, size_t n);  /* 0 or -1 with errno */
ssize_t dp_read_full(int fd, void *p, size_t n);     /* loops until n, EOF or error */
int dp_fsync_dir_of(const char *path);              /* fsync the directory holding path */
int dp_set_cloexec(int fd);
/* Human-readable size: "1.5 MiB". */
void dp_human_size(uint64_t n, char *out, size_t outlen);

#endif
