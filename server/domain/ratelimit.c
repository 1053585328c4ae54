/* ratelimit.c - one report per window (see ratelimit.h). */
#include "domain/ratelimit.h"

int sd_ratelimit_hit(sd_ratelimit *r, int64_t now, int64_t window_ms, int64_t *suppressed)
{
    /* a clock that went back (a test clock, a wall-clock step) reports again rather than staying silent */
    if (r->last && now >= r->last && now - r->last < window_ms) {
        r->suppressed++;
        return 0;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->last = now ? now : 1;
    return 1;
}
