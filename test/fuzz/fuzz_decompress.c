/*
 * fuzz_decompress.c - libFuzzer target for the decompression filters (lib/io/filter.c) that every
 * restore and verify runs over a backup's stored bytes: gzip and zstd framing.
 *
 * Input: the stored stream; every input goes through both decoders. Beyond "no crash, leak or UB":
 * - the outcome (0, DUMPER_ECORRUPT with a message, or the output limit) and the output (its
 *   length and SHA-256) do not depend on the write sizes (one write, odd sizes, byte by byte for
 *   small inputs);
 * - the zstd window cap: a frame that asks for a window above 128 MiB fails, and no allocation is
 *   ever larger than the cap allows (the target's -malloc_limit_mb makes any bigger one a failure);
 * - round trip: the input compressed by the compression filters decompresses to itself.
 * The output goes through a 16 MiB limit (a small input may expand a thousandfold: a restore
 * streams that into the database, the fuzzer needs not wait for it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#include "core/util.h"
#include "io/filter.h"

#define OUT_LIMIT (16u << 20)

typedef struct {
    int rc;
    uint64_t bytes;
    char sha[65];
} outcome;

static void decompress(dp_codec codec, const uint8_t *p, size_t n, size_t step, outcome *o)
{
    dp_sink *null = dp_sink_null_new();
    dp_sink *limit = null ? dp_filter_limit_new(OUT_LIMIT, null) : NULL;
    dp_sink *sha = limit ? dp_filter_sha256_new(limit) : NULL;
    dp_sink *d = sha ? dp_filter_decompress_new(codec, sha) : NULL;
    if (!d)
        abort();
    dp_err err = {0};
    int rc = 0;
    for (size_t off = 0; off < n && !rc; off += step)
        rc = dp_sink_write(d, p + off, n - off < step ? n - off : step, &err);
    if (!rc)
        rc = dp_sink_end(d, &err);
    if (rc && (!err.msg[0] || err.code != rc || (rc != DUMPER_ECORRUPT && rc != DUMPER_ETOOLARGE)))
        abort();
    o->rc = rc;
    o->bytes = null->bytes;
    if (rc || dp_filter_sha256_hex(sha, o->sha) != 0)
        memcpy(o->sha, "-", 2);
    dp_sink_free(d);
}

static void check(dp_codec codec, const uint8_t *p, size_t n)
{
    outcome whole, odd, bytes;
    decompress(codec, p, n, n ? n : 1, &whole);
    decompress(codec, p, n, 1 + (n ? p[n / 2] : 0) % 251, &odd);
    if (whole.rc != odd.rc || strcmp(whole.sha, odd.sha) != 0 || (!whole.rc && whole.bytes != odd.bytes))
        abort();
    if (n <= 2048) {
        decompress(codec, p, n, 1, &bytes);
        if (whole.rc != bytes.rc || strcmp(whole.sha, bytes.sha) != 0)
            abort();
    }
    /* the window cap: a zstd frame asking for more than 2^27 bytes of window never decodes */
    ZSTD_frameHeader fh;
    if (codec == DP_CODEC_ZSTD && ZSTD_getFrameHeader(&fh, p, n) == 0 && fh.frameType == ZSTD_frame &&
        fh.windowSize > (1ull << 27) && whole.rc != DUMPER_ECORRUPT)
        abort();
}

static void round_trip(dp_codec codec, const uint8_t *p, size_t n)
{
    dp_buf packed = {0};
    dp_sink *b = dp_sink_buf_new(&packed);
    dp_sink *c = b ? dp_filter_compress_new(codec, 1, b) : NULL;
    dp_err err = {0};
    if (!c || (n && dp_sink_write(c, p, n, &err)) || dp_sink_end(c, &err))
        abort();
    dp_sink_free(c);
    dp_buf back = {0};
    dp_sink *o = dp_sink_buf_new(&back);
    dp_sink *d = o ? dp_filter_decompress_new(codec, o) : NULL;
    if (!d || dp_sink_write(d, packed.data, packed.len, &err) || dp_sink_end(d, &err))
        abort();
    if (back.len != n || (n && memcmp(back.data, p, n) != 0))
        abort();
    dp_sink_free(d);
    dp_buf_free(&packed);
    dp_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(DP_CODEC_ZSTD, data, size);
    check(DP_CODEC_GZIP, data, size);
    round_trip(DP_CODEC_ZSTD, data, size);
    round_trip(DP_CODEC_GZIP, data, size);
    return 0;
}
