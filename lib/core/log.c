/* log.c - timestamped single-write log lines. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "core/util.h"

static int log_fd = 2;
static int log_level = DP_LOG_INFO;

void dp_log_set_fd(int fd) { log_fd = fd; }
void dp_log_set_level(int level) { log_level = level; }

void dp_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < log_level || level < 0 || level > DP_LOG_ERROR || log_fd < 0)
        return;
    char line[2048];
    char ts[24];
    int64_t now = dp_now_ms();
    dp_stamp_rfc3339(now, ts);
    ts[19] = 0; /* drop the Z; add milliseconds below */
    int n = snprintf(line, sizeof line, "%s.%03dZ [%ld] %-5s ", ts, (int)(now % 1000), (long)getpid(), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    (void)dp_write_all(log_fd, line, len);
}
