/*
 * fuzz_pg_copy.c - libFuzzer target for the COPY row counter of plain pg_dump streams (pg_copy.h).
 *
 * Any input: no crash, no leak, no UB; and the counts do not depend on how the stream is cut into
 * writes (the whole input at once, then in pieces whose sizes come from the first byte).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source/pg_copy.h"

static int run(const uint8_t *data, size_t size, size_t step, dp_contents *c)
{
    static const char *const names[] = {"public.t", "Odd.We \"ird", "a.b"};
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < 3; i++)
        if (dp_contents_add(c, names[i], NULL, 0))
            abort();
    dp_pg_copy_counter k;
    dp_pg_copy_init(&k, c);
    for (size_t off = 0; off < size; off += step)
        dp_pg_copy_feed(&k, data + off, size - off < step ? size - off : step);
    return dp_pg_copy_finish(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    dp_contents whole, pieces;
    int a = run(data + 1, size - 1, size, &whole);
    int b = run(data + 1, size - 1, step, &pieces);
    if (a != b)
        abort();
    for (size_t i = 0; i < whole.ntables; i++)
        if (whole.tables[i].rows != pieces.tables[i].rows)
            abort();
    dp_contents_free(&whole);
    dp_contents_free(&pieces);
    return 0;
}
