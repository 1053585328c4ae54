/* clock.c - the wall clock or the test clock (see clock.h). */
#include "config/clock.h"

#include "core/util.h"

void sd_clock_init(sd_clock *c, int frozen, int64_t ms)
{
    c->frozen = frozen;
    atomic_store(&c->now_ms, ms);
}

int64_t sd_clock_now_ms(const sd_clock *c)
{
    if (!c || !c->frozen)
        return dp_now_ms();
    return atomic_load(&((sd_clock *)c)->now_ms);
}

void sd_clock_set_ms(sd_clock *c, int64_t ms)
{
    if (c && c->frozen)
        atomic_store(&c->now_ms, ms);
}
