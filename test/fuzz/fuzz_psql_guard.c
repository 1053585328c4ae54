/*
 * fuzz_psql_guard.c - libFuzzer target for the \restrict fence around plain dumps
 * (lib/source/psql_guard.c), which reads hostile bytes.
 *
 * Input: the first byte picks a chunk size (1..256), the rest is the dump. Properties: no crash,
 * leak or UB; the output does not depend on how the dump is cut into chunks; the guard only removes
 * (a dropped line becomes an empty one), so the output is never longer than the input; a dump
 * without "\restrict" passes through byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source/psql_guard.h"

static void run(const char *p, size_t n, size_t step, dp_buf *out)
{
    dp_psql_guard g;
    dp_psql_guard_init(&g);
    for (size_t off = 0; off < n;) {
        size_t k = n - off > step ? step : n - off;
        if (dp_psql_guard_feed(&g, p + off, k, out) < 0)
            abort();
        off += k;
    }
    if (dp_psql_guard_finish(&g, out) < 0)
        abort();
    dp_psql_guard_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    dp_buf whole = {0}, cut = {0};
    run(p, n, n ? n : 1, &whole);
    run(p, n, step, &cut);
    if (whole.len != cut.len || (whole.len && memcmp(whole.data, cut.data, whole.len) != 0))
        abort();
    if (whole.len > n)
        abort();
    if (!memmem(p, n, "\\restrict", 9) && (whole.len != n || (n && memcmp(whole.data, p, n) != 0)))
        abort();
    dp_buf_free(&whole);
    dp_buf_free(&cut);
    return 0;
}
