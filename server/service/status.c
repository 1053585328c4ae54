/* status.c - service outcomes (see status.h). */
#include "service/status.h"

#include <stdarg.h>
#include <stdio.h>

int sd_outcome_code(sd_outcome o)
{
    switch (o) {
    case SD_OK: return 0;
    case SD_INVALID: return DUMPER_EUSAGE;
    case SD_UNAUTHORIZED:
    case SD_FORBIDDEN: return DUMPER_EAUTH;
    case SD_NOT_FOUND: return DUMPER_ENOENT;
    case SD_CONFLICT: return DUMPER_EEXIST;
    case SD_TOO_LARGE: return DUMPER_ETOOLARGE;
    case SD_VERIFY_FAILED: return DUMPER_ECORRUPT;
    case SD_STORAGE_FAILED: return DUMPER_ESTORAGE;
    case SD_UNAVAILABLE: return DUMPER_EBUSY;
    case SD_INTERNAL: break;
    }
    return DUMPER_EINTERNAL;
}

static int vfail(sd_status *st, sd_outcome o, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vfail(sd_status *st, sd_outcome o, int code, const char *fmt, va_list ap)
{
    if (st->outcome != SD_OK)
        return -1;
    st->outcome = o;
    st->err.code = code;
    vsnprintf(st->err.msg, sizeof st->err.msg, fmt, ap);
    return -1;
}

int sd_fail(sd_status *st, sd_outcome o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(st, o, sd_outcome_code(o), fmt, ap);
    va_end(ap);
    return -1;
}

int sd_fail_code(sd_status *st, sd_outcome o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(st, o, code, fmt, ap);
    va_end(ap);
    return -1;
}
