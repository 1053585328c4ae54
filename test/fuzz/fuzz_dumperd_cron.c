/*
 * fuzz_dumperd_cron.c - libFuzzer target for schedules as dumperd reads them (server/domain/cron.c,
 * schedule.c): the cron expression and the time zone a dashboard user or `dumperd schedule` gives
 * (GET /ui/cron?expr=&tz=, POST /ui/apps/ID/schedule), and the slots the scheduler computes.
 *
 * Input: 8 bytes of a start time (seconds, folded into 1970-01-03..2100), one byte choosing the zone, then
 * the expression (at most 200 bytes, like the dashboard), optionally followed by "\n" and a time zone
 * name, which is then checked and (when valid) used instead of the chosen one.
 *
 * Beyond "no crash, leak, UB or endless loop" (libFuzzer's -timeout):
 * - parse: a refusal is one non-empty line without control characters; an accepted expression has
 *   bits only in each field's range and at least one in each, and its canonical text (numbers,
 *   ranges and "*") parses back to the same fields when it fits the 63 bytes a field may have;
 * - sd_tz_valid: a zone it accepts is "UTC" or a TZif file of the system's TZ database (anything else
 *   would silently run the schedule in UTC);
 * - slots (sd_schedule_next, 5 at most): strictly increasing, whole minutes, the first after the
 *   start, within the 400-day horizon; the next slot from any point between two slots is the later
 *   one; and, for the zones of the list, each agrees with a plain reference: a slot is the first UTC
 *   minute at which the local clock has shown, for the first time, a wall minute that matches (so a
 *   wall time skipped by a jump forward fires at the jump, one shown twice fires once). The reference
 *   walks minute by minute from a day before: the first slot and every minute up to it (2 days at
 *   most) are checked, and the last slot.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/cron.h"
#include "domain/schedule.h"

/* Zones with every kind of offset change: none, 1 h, 30 min (Lord Howe), 2 h (Troll), +5:45, a whole
 * day skipped (Apia, 2011), Ramadan suspensions (Casablanca), southern hemisphere, 12:45 (Chatham). */
static const char *const zones[] = {"UTC",
                                    "Europe/Paris",
                                    "America/New_York",
                                    "Australia/Lord_Howe",
                                    "Antarctica/Troll",
                                    "Asia/Kathmandu",
                                    "Pacific/Apia",
                                    "Africa/Casablanca",
                                    "America/Santiago",
                                    "Pacific/Chatham",
                                    "Asia/Kolkata",
                                    "America/St_Johns",
                                    "Europe/London",
                                    "Australia/Sydney",
                                    "America/Havana",
                                    "Asia/Tehran"};
#define NZONES (sizeof zones / sizeof *zones)

static void check_line(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n == cap)
        abort();
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            abort();
}

/* The fields' canonical text: "*" for a star field, else the numbers of its bits. */
static void field_text(char *out, size_t cap, uint64_t bits, int lo, int hi, int star)
{
    size_t n = 0;
    if (star) {
        snprintf(out, cap, "*");
        return;
    }
    out[0] = 0;
    for (int i = lo; i <= hi; i++) {
        if (!((bits >> i) & 1))
            continue;
        int j = i;
        while (j < hi && ((bits >> (j + 1)) & 1))
            j++;
        n += (size_t)snprintf(out + n, cap - n, j > i ? "%s%d-%d" : "%s%d", n ? "," : "", i, j);
        i = j;
    }
}

static void check_fields(const sd_cron *c)
{
    if (!c->min || (c->min >> 60) || !c->hour || (c->hour >> 24) || !(c->dom & ~1u) || (c->dom & 1u) ||
        !(c->mon & 0x1ffeu) || (c->mon & ~0x1ffeu) || !c->dow || (c->dow >> 7))
        abort();
    /* a star field means every value */
    if ((c->dom_star && c->dom != 0xfffffffeu) || (c->dow_star && c->dow != 0x7fu))
        abort();
    char f[5][200], text[1024];
    field_text(f[0], sizeof f[0], c->min, 0, 59, 0);
    field_text(f[1], sizeof f[1], c->hour, 0, 23, 0);
    field_text(f[2], sizeof f[2], c->dom, 1, 31, c->dom_star);
    field_text(f[3], sizeof f[3], c->mon, 1, 12, 0);
    field_text(f[4], sizeof f[4], c->dow, 0, 6, c->dow_star);
    for (int i = 0; i < 5; i++)
        if (strlen(f[i]) > 63)
            return; /* longer than a field may be (a list the expression wrote with a step) */
    snprintf(text, sizeof text, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
    sd_cron back;
    char msg[200];
    if (sd_cron_parse(text, &back, msg, sizeof msg) != 0 || memcmp(&back, c, sizeof back) != 0)
        abort();
}

/* A TZif file of the TZ database (what glibc can load), or "UTC". */
static int tz_loadable(const char *tz)
{
    if (!strcmp(tz, "UTC"))
        return 1;
    char path[160], magic[4];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int ok = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "TZif", 4);
    fclose(f);
    return ok;
}

static int64_t wall(int64_t t)
{
    time_t x = (time_t)t;
    struct tm tm;
    localtime_r(&x, &tm);
    return (int64_t)timegm(&tm);
}

static int wall_matches(const sd_cron *c, int64_t w)
{
    time_t x = (time_t)w;
    struct tm t;
    gmtime_r(&x, &t);
    if (!((c->mon >> (t.tm_mon + 1)) & 1) || !((c->hour >> t.tm_hour) & 1) || !((c->min >> t.tm_min) & 1))
        return 0;
    int d = (c->dom >> t.tm_mday) & 1, w7 = (c->dow >> t.tm_wday) & 1;
    return (c->dom_star || c->dow_star) ? d && w7 : d || w7;
}

/* The reference over [from, to] (whole minutes; TZ set): the slots in (after, to], up to max, into out. */
static int ref_slots(const sd_cron *c, int64_t from, int64_t after, int64_t to, int64_t *out, int max)
{
    int64_t seen = wall(from - 60); /* the latest wall time shown so far */
    int n = 0;
    for (int64_t t = from; t <= to && n < max; t += 60) {
        int64_t w = wall(t), hit = 0;
        for (int64_t x = (seen / 60 + 1) * 60; x <= w && !hit; x += 60)
            hit = wall_matches(c, x);
        if (w > seen)
            seen = w;
        if (hit && t > after)
            out[n++] = t;
    }
    return n;
}

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9 || size > 9 + 200 + 1 + 80)
        return 0;
    uint64_t raw = 0;
    memcpy(&raw, data, 8);
    int64_t after = 2 * 86400 + (int64_t)(raw % UINT64_C(4102444800));
    const char *tz = zones[data[8] % NZONES];
    int listed = 1;
    char expr[201], name[81];
    const char *text = (const char *)data + 9, *nl = memchr(text, '\n', size - 9);
    size_t elen = nl ? (size_t)(nl - text) : size - 9;
    if (elen > 200)
        return 0;
    memcpy(expr, text, elen);
    expr[elen] = 0;
    if (nl) {
        size_t tlen = size - 9 - elen - 1;
        if (tlen > 80)
            return 0;
        memcpy(name, nl + 1, tlen);
        name[tlen] = 0;
        if (strlen(name) == tlen && sd_tz_valid(name)) {
            if (!tz_loadable(name))
                abort();
            tz = name;
            listed = 0;
        }
    }
    if (strlen(expr) != elen)
        return 0; /* a NUL: the dashboard's strings hold none */

    sd_cron c;
    char msg[200];
    memset(msg, 0x55, sizeof msg);
    if (sd_cron_parse(expr, &c, msg, sizeof msg)) {
        check_line(msg, sizeof msg);
        return 0;
    }
    check_fields(&c);

    int64_t slots[5];
    int n = sd_schedule_next(&c, tz, after, 5, slots);
    if (n < 0 || n > 5)
        abort();
    for (int k = 0; k < n; k++) {
        int64_t prev = k ? slots[k - 1] : after;
        if (slots[k] <= prev || slots[k] % 60 || slots[k] > prev + SD_SCHEDULE_HORIZON_S)
            abort();
        /* from anywhere in the gap, the next slot is this one */
        int64_t mid = prev + (slots[k] - prev) / 2;
        if (sd_cron_next(&c, tz, mid, SD_SCHEDULE_HORIZON_S) != slots[k])
            abort();
    }
    if (!listed)
        return 0;

    set_tz(tz);
    int64_t ref[2];
    int64_t start = (after / 60 + 1) * 60, end = n ? slots[0] : start + 2 * 86400;
    if (end - start > 2 * 86400)
        end = start + 2 * 86400;
    int m = ref_slots(&c, start - 86400, after, end, ref, 1);
    if (n && slots[0] <= end ? m != 1 || ref[0] != slots[0] : m != 0)
        abort();
    if (n > 1 && (ref_slots(&c, slots[n - 1] - 86400, slots[n - 1] - 60, slots[n - 1], ref, 1) != 1 ||
                  ref[0] != slots[n - 1]))
        abort();
    set_tz("UTC");
    return 0;
}
