/*
 * log.h - one log line per call: "<UTC time> [pid] LEVEL message".
 *
 * Lines go to one file descriptor (stderr by default) with a single write(2), so lines from
 * threads and processes sharing the file never interleave. Messages must never contain secrets:
 * callers pass URLs through dp_dburl_redacted() first.
 */
#ifndef DP_LOG_H
#define DP_LOG_H

enum { DP_LOG_DEBUG = 0, DP_LOG_INFO = 1, DP_LOG_WARN = 2, DP_LOG_ERROR = 3, DP_LOG_OFF = 4 };

/* Process-wide configuration; set before starting threads. fd is borrowed. */
void dp_log_set_fd(int fd);
void dp_log_set_level(int level);
void dp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define dp_debug(...) dp_log(DP_LOG_DEBUG, __VA_ARGS__)
#define dp_info(...) dp_log(DP_LOG_INFO, __VA_ARGS__)
#define dp_warn(...) dp_log(DP_LOG_WARN, __VA_ARGS__)
#define dp_error(...) dp_log(DP_LOG_ERROR, __VA_ARGS__)

#endif
