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
