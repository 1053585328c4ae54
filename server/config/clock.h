/*
 * clock.h - the time dumperd's services see: the wall clock, or with `serve --test-clock` a frozen clock
 * that tests move (POST /api/v1/test/clock). Every service asks its context's clock; nothing below the
 * services reads the time itself (the store and the domain policy get `now` as an argument).
 */
#ifndef SD_CLOCK_H
#define SD_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct sd_clock {
    int frozen;              /* set once, before any thread reads the clock */
    _Atomic int64_t now_ms;  /* the frozen time */
} sd_clock;

/* A frozen clock at ms (tests), or the wall clock when frozen is 0. */
void sd_clock_init(sd_clock *c, int frozen, int64_t ms);
/* Milliseconds since the epoch. A NULL clock is the wall clock. Any thread. */
int64_t sd_clock_now_ms(const sd_clock *c);
/* Moves a frozen clock (any thread); no effect on the wall clock. */
void sd_clock_set_ms(sd_clock *c, int64_t ms);

#endif
