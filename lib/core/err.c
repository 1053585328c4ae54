/* err.c - error records and the stable code table. */
#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dp_version.h"

static const char *const messages[] = {
    [DUMPER_OK] = "ok",
    [DUMPER_EINTERNAL] = "internal error",
    [DUMPER_EUSAGE] = "invalid arguments",
    [DUMPER_EURL] = "malformed url",
    [DUMPER_EUNSUPPORTED] = "not supported",
    [DUMPER_ENOENT] = "not found",
    [DUMPER_EEXIST] = "target exists",
    [DUMPER_EIO] = "i/o error",
    [DUMPER_ENOSPC] = "no space left on target",
    [DUMPER_ECORRUPT] = "backup corrupt or truncated",
    [DUMPER_ESOURCE] = "database source failed",
    [DUMPER_EAUTH] = "authentication failed",
    [DUMPER_ECONNECT] = "connection failed",
    [DUMPER_ESTORAGE] = "storage error",
    [DUMPER_EPROTO] = "protocol error",
    [DUMPER_ETOOLARGE] = "backup too large",
    [DUMPER_EBUSY] = "busy or already running",
    [DUMPER_EINTR] = "interrupted",
    [DUMPER_ENOMEM] = "out of memory",
    [DUMPER_ETIMEOUT] = "timed out",
    [DUMPER_ETOOL] = "dump tool missing or incompatible",
    [DUMPER_EDRILL] = "restore drill failed",
};

const char *dumper_strerror(int code)
{
    if (code < 0 || (size_t)code >= sizeof(messages) / sizeof(messages[0]) || !messages[code])
        return "unknown error";
    return messages[code];
}

const char *dumper_version(void) { return DP_VERSION_STRING; }

/* A message is one line whatever it quotes (a backup's bytes in a database's syntax error, a
 * server's text): line breaks and tabs become spaces, other control bytes '?'. */
static void one_line(char *m)
{
    for (unsigned char *c = (unsigned char *)m; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
        else if (*c < 0x20 || *c == 0x7f)
            *c = '?';
}

__attribute__((format(printf, 4, 0))) static int vset(dp_err *e, int code, const char *suffix, const char *fmt, va_list ap)
{
    if (!e)
        return code;
    if (e->code)
        return e->code;
    e->code = code;
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    if (suffix && n >= 0 && (size_t)n < sizeof e->msg)
        snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", suffix);
    one_line(e->msg);
    return code;
}

int dp_err_set(dp_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vset(e, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int dp_err_sys(dp_err *e, int code, int errnum, const char *fmt, ...)
{
    char buf[128];
    const char *s = strerror_r(errnum, buf, sizeof buf); /* GNU variant */
    va_list ap;
    va_start(ap, fmt);
    int r = vset(e, code, s, fmt, ap);
    va_end(ap);
    return r;
}

int dp_err_code_for_errno(int errnum)
{
    return (errnum == ENOSPC || errnum == EDQUOT) ? DUMPER_ENOSPC : DUMPER_EIO;
}

void dp_err_clear(dp_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = 0;
    }
}

void dp_err_prefix(dp_err *e, const char *fmt, ...)
{
    if (!e || !e->code)
        return;
    char pre[DP_ERR_MSG_MAX], old[DP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t pl = strlen(pre);
    if (pl > sizeof e->msg - 3)
        pl = sizeof e->msg - 3;
    memcpy(e->msg, pre, pl);
    memcpy(e->msg + pl, ": ", 2);
    size_t ol = strlen(old), room = sizeof e->msg - pl - 3;
    if (ol > room)
        ol = room;
    memcpy(e->msg + pl + 2, old, ol);
    e->msg[pl + 2 + ol] = 0;
    one_line(e->msg);
}
