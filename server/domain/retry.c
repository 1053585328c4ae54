/* retry.c - job retry policy (see retry.h). */
#include "domain/retry.h"

#include <string.h>

int sd_failure_permanent(const char *code)
{
    static const char *const permanent[] = {"too_large", "auth_failed", "tool_missing", "unsupported",
                                            "bad_url",   "bad_job",     "not_found"};
    for (size_t i = 0; code && i < sizeof permanent / sizeof *permanent; i++)
        if (!strcmp(code, permanent[i]))
            return 1;
    return 0;
}

int sd_retry_requeue(int64_t attempt, int64_t max_attempts, int permanent) { return !permanent && attempt < max_attempts; }

int64_t sd_copy_retry_delay_ms(int64_t attempts)
{
    int64_t shift = attempts < 1 ? 0 : attempts > 10 ? 9 : attempts - 1;
    int64_t delay = 2000LL << shift;
    return delay > 600000 ? 600000 : delay;
}

int sd_copy_behind(int64_t attempts) { return attempts == SD_COPY_BEHIND_ATTEMPTS; }
