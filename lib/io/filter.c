/*
 * filter.c - zstd/gzip compression and decompression, SHA-256.
 *
 * zstd frames are written with the content checksum flag, so decompression to the end proves the
 * data intact on its own; gzip carries a CRC-32 that zlib checks. Both decompressors reject
 * truncated input at end().
 */
#include "io/filter.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/util.h"

int dp_codec_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "zstd") == 0 || strcmp(name, "zst") == 0)
        return DP_CODEC_ZSTD;
    if (strcmp(name, "gzip") == 0 || strcmp(name, "gz") == 0)
        return DP_CODEC_GZIP;
    if (strcmp(name, "none") == 0)
        return DP_CODEC_NONE;
    return -1;
}

const char *dp_codec_name(dp_codec c)
{
    return c == DP_CODEC_ZSTD ? "zstd" : c == DP_CODEC_GZIP ? "gzip" : "none";
}

const char *dp_codec_ext(dp_codec c) { return c == DP_CODEC_ZSTD ? "zst" : c == DP_CODEC_GZIP ? "gz" : ""; }

static int pass_write(dp_sink *s, const void *p, size_t n, dp_err *err) { return dp_sink_write(s->next, p, n, err); }
static int pass_end(dp_sink *s, dp_err *err) { return dp_sink_end(s->next, err); }
static const dp_sink_ops pass_ops = {.name = "none", .write = pass_write, .end = pass_end};

static dp_sink *pass_new(dp_sink *next)
{
    dp_sink *s = calloc(1, sizeof *s);
    if (s)
        dp_sink_init(s, &pass_ops, next);
    return s;
}

/* ---- zstd ---- */

/* The decompressor checks each frame's magic and declared content size itself: zstd's streaming
 * mode misses a frame whose last block is empty while its header declared more (its one-pass mode,
 * taken when a whole small frame arrives in one write, refuses it), and tells the pre-1.0 formats
 * apart only once their magic is in, so the verdict on the same stored bytes depended on how they
 * were read (both found by test/fuzz/fuzz_decompress.c). */
typedef struct {
    unsigned char hdr[18];   /* the current frame's first bytes (ZSTD_FRAMEHEADERSIZE_MAX) */
    size_t hlen;
    unsigned long long want; /* declared content size; ZSTD_CONTENTSIZE_UNKNOWN while unknown */
    unsigned long long got;  /* bytes the frame decoded to so far */
} zframe;

typedef struct {
    dp_sink base;
    zframe fr; /* decompressor */
    ZSTD_CStream *cs;
    ZSTD_DStream *ds;
    int frame_open; /* decompressor: inside a frame */
    size_t outcap;
    char *out;
} zstd_sink;

static int zstd_c_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    zstd_sink *z = (zstd_sink *)s;
    ZSTD_inBuffer in = {p, n, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out = {z->out, z->outcap, 0};
        size_t r = ZSTD_compressStream2(z->cs, &out, &in, ZSTD_e_continue);
        if (ZSTD_isError(r))
            return dp_err_set(err, DUMPER_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(r));
        if (out.pos && dp_sink_write(s->next, z->out, out.pos, err))
            return err->code;
    }
    return 0;
}

static int zstd_c_end(dp_sink *s, dp_err *err)
{
    zstd_sink *z = (zstd_sink *)s;
    ZSTD_inBuffer in = {NULL, 0, 0};
    size_t remaining;
    do {
        ZSTD_outBuffer out = {z->out, z->outcap, 0};
        remaining = ZSTD_compressStream2(z->cs, &out, &in, ZSTD_e_end);
        if (ZSTD_isError(remaining))
            return dp_err_set(err, DUMPER_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(remaining));
        if (out.pos && dp_sink_write(s->next, z->out, out.pos, err))
            return err->code;
    } while (remaining);
    return dp_sink_end(s->next, err);
}

/* After a decoder call that consumed in[0..used) and produced `made` bytes: account them to the
 * current frame; r == 0: the frame ended, its size must be the declared one. */
static int zframe_step(zframe *f, const unsigned char *in, size_t used, size_t made, size_t r, dp_err *err)
{
    if (f->hlen < sizeof f->hdr && used) {
        size_t k = used < sizeof f->hdr - f->hlen ? used : sizeof f->hdr - f->hlen;
        memcpy(f->hdr + f->hlen, in, k);
        int had_magic = f->hlen >= 4;
        f->hlen += k;
        /* only zstd frames (and skippable ones): this libzstd also decodes the pre-1.0 formats, in
         * one write but not in small ones; Dumper never writes them */
        uint32_t magic = (uint32_t)f->hdr[0] | (uint32_t)f->hdr[1] << 8 | (uint32_t)f->hdr[2] << 16 |
                         (uint32_t)f->hdr[3] << 24;
        if (!had_magic && f->hlen >= 4 && magic != ZSTD_MAGICNUMBER &&
            (magic & ZSTD_MAGIC_SKIPPABLE_MASK) != ZSTD_MAGIC_SKIPPABLE_START)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: zstd: not a zstd frame (magic %08x)", magic);
        unsigned long long fcs = ZSTD_getFrameContentSize(f->hdr, f->hlen);
        f->want = fcs == ZSTD_CONTENTSIZE_ERROR ? ZSTD_CONTENTSIZE_UNKNOWN : fcs;
    }
    f->got += made;
    if (r != 0)
        return 0;
    int bad = f->want != ZSTD_CONTENTSIZE_UNKNOWN && f->got != f->want;
    unsigned long long want = f->want, got = f->got;
    memset(f, 0, sizeof *f);
    f->want = ZSTD_CONTENTSIZE_UNKNOWN;
    if (bad)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: zstd: a frame declares %llu bytes and holds %llu",
                          want, got);
    return 0;
}

static int zstd_d_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    zstd_sink *z = (zstd_sink *)s;
    ZSTD_inBuffer in = {p, n, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out = {z->out, z->outcap, 0};
        size_t at = in.pos;
        size_t r = ZSTD_decompressStream(z->ds, &out, &in);
        if (ZSTD_isError(r))
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: zstd: %s", ZSTD_getErrorName(r));
        if (zframe_step(&z->fr, (const unsigned char *)p + at, in.pos - at, out.pos, r, err))
            return err->code;
        z->frame_open = r != 0;
        if (out.pos && dp_sink_write(s->next, z->out, out.pos, err))
            return err->code;
    }
    return 0;
}

static int zstd_d_end(dp_sink *s, dp_err *err)
{
    zstd_sink *z = (zstd_sink *)s;
    /* Drain anything still buffered inside the decoder (only inside a frame: between frames the
     * decoder answers an empty call with a hint for the next frame's header). */
    while (z->frame_open) {
        ZSTD_inBuffer in = {NULL, 0, 0};
        ZSTD_outBuffer out = {z->out, z->outcap, 0};
        size_t r = ZSTD_decompressStream(z->ds, &out, &in);
        if (ZSTD_isError(r))
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: zstd: %s", ZSTD_getErrorName(r));
        if (zframe_step(&z->fr, NULL, 0, out.pos, r, err))
            return err->code;
        if (out.pos && dp_sink_write(s->next, z->out, out.pos, err))
            return err->code;
        z->frame_open = r != 0;
        if (out.pos < out.size)
            break;
    }
    if (z->frame_open || s->bytes == 0)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the zstd stream ends mid-frame");
    return dp_sink_end(s->next, err);
}

static void zstd_destroy(dp_sink *s)
{
    zstd_sink *z = (zstd_sink *)s;
    ZSTD_freeCStream(z->cs);
    ZSTD_freeDStream(z->ds);
    free(z->out);
}

static const dp_sink_ops zstd_c_ops = {.name = "zstd", .write = zstd_c_write, .end = zstd_c_end, .destroy = zstd_destroy};
static const dp_sink_ops zstd_d_ops = {.name = "unzstd", .write = zstd_d_write, .end = zstd_d_end, .destroy = zstd_destroy};

static dp_sink *zstd_new(int compress, int level, dp_sink *next)
{
    zstd_sink *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    dp_sink_init(&z->base, compress ? &zstd_c_ops : &zstd_d_ops, next);
    if (compress) {
        z->cs = ZSTD_createCCtx();
        z->outcap = ZSTD_CStreamOutSize();
        if (z->cs) {
            ZSTD_CCtx_setParameter(z->cs, ZSTD_c_compressionLevel, level ? level : 3);
            ZSTD_CCtx_setParameter(z->cs, ZSTD_c_checksumFlag, 1);
            /* DUMPER_ZSTD_THREADS=N (1-8): compress in N worker threads beside the producer instead
             * of in its thread. Off by default (a backup should stay cheap for the host); it pays
             * when compression, not the database, bounds the backup (bench/README.md). */
            const char *t = getenv("DUMPER_ZSTD_THREADS");
            char *end = NULL;
            long n = t && *t ? strtol(t, &end, 10) : 0;
            if (n > 0 && n <= 8 && end && !*end) {
                ZSTD_CCtx_setParameter(z->cs, ZSTD_c_nbWorkers, (int)n);
                /* Small jobs keep memory near the single-threaded figure (default: 4 windows). */
                ZSTD_CCtx_setParameter(z->cs, ZSTD_c_jobSize, 2 << 20);
            }
        }
    } else {
        z->ds = ZSTD_createDCtx();
        z->outcap = ZSTD_DStreamOutSize();
        z->fr.want = ZSTD_CONTENTSIZE_UNKNOWN;
        /* Bound the decoder window (128 MiB) so a hostile frame cannot ask for unbounded memory. */
        if (z->ds)
            ZSTD_DCtx_setParameter(z->ds, ZSTD_d_windowLogMax, 27);
    }
    z->out = malloc(z->outcap);
    if ((compress ? (void *)z->cs : (void *)z->ds) == NULL || !z->out) {
        zstd_destroy(&z->base);
        free(z);
        return NULL;
    }
    return &z->base;
}

/* ---- gzip ---- */

typedef struct {
    dp_sink base;
    z_stream zs;
    int compress;
    int done; /* decompressor saw Z_STREAM_END */
    char out[64 * 1024];
} gz_sink;

static int gz_c_run(gz_sink *g, int flush, dp_err *err)
{
    int r;
    do {
        g->zs.next_out = (Bytef *)g->out;
        g->zs.avail_out = sizeof g->out;
        r = deflate(&g->zs, flush);
        if (r == Z_STREAM_ERROR)
            return dp_err_set(err, DUMPER_EINTERNAL, "gzip compression failed");
        size_t have = sizeof g->out - g->zs.avail_out;
        if (have && dp_sink_write(g->base.next, g->out, have, err))
            return err->code;
    } while (g->zs.avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
    return 0;
}

static int gz_c_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    gz_sink *g = (gz_sink *)s;
    const unsigned char *c = p;
    while (n) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        g->zs.next_in = (Bytef *)c;
        g->zs.avail_in = chunk;
        if (gz_c_run(g, Z_NO_FLUSH, err))
            return err->code;
        c += chunk;
        n -= chunk;
    }
    return 0;
}

static int gz_c_end(dp_sink *s, dp_err *err)
{
    gz_sink *g = (gz_sink *)s;
    g->zs.next_in = NULL;
    g->zs.avail_in = 0;
    if (gz_c_run(g, Z_FINISH, err))
        return err->code;
    return dp_sink_end(s->next, err);
}

static int gz_d_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    gz_sink *g = (gz_sink *)s;
    g->zs.next_in = (Bytef *)p;
    g->zs.avail_in = (uInt)n;
    while (g->zs.avail_in) {
        if (g->done) {
            /* A new gzip member may follow (concatenated gzip files are valid). */
            if (inflateReset(&g->zs) != Z_OK)
                return dp_err_set(err, DUMPER_EINTERNAL, "gzip reset failed");
            g->done = 0;
        }
        g->zs.next_out = (Bytef *)g->out;
        g->zs.avail_out = sizeof g->out;
        int r = inflate(&g->zs, Z_NO_FLUSH);
        if (r == Z_STREAM_END)
            g->done = 1;
        else if (r != Z_OK && r != Z_BUF_ERROR)
            return dp_err_set(err, DUMPER_ECORRUPT, "backup is corrupt: gzip: %s", g->zs.msg ? g->zs.msg : "bad data");
        size_t have = sizeof g->out - g->zs.avail_out;
        if (have && dp_sink_write(s->next, g->out, have, err))
            return err->code;
        if (r == Z_BUF_ERROR && have == 0)
            break;
    }
    return 0;
}

static int gz_d_end(dp_sink *s, dp_err *err)
{
    gz_sink *g = (gz_sink *)s;
    if (!g->done)
        return dp_err_set(err, DUMPER_ECORRUPT, "backup is truncated: the gzip stream ends early");
    return dp_sink_end(s->next, err);
}

static void gz_destroy(dp_sink *s)
{
    gz_sink *g = (gz_sink *)s;
    if (g->compress)
        deflateEnd(&g->zs);
    else
        inflateEnd(&g->zs);
}

static const dp_sink_ops gz_c_ops = {.name = "gzip", .write = gz_c_write, .end = gz_c_end, .destroy = gz_destroy};
static const dp_sink_ops gz_d_ops = {.name = "gunzip", .write = gz_d_write, .end = gz_d_end, .destroy = gz_destroy};

static dp_sink *gz_new(int compress, int level, dp_sink *next)
{
    gz_sink *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    dp_sink_init(&g->base, compress ? &gz_c_ops : &gz_d_ops, next);
    g->compress = compress;
    int r = compress ? deflateInit2(&g->zs, level ? level : 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
                     : inflateInit2(&g->zs, 15 + 16);
    if (r != Z_OK) {
        free(g);
        return NULL;
    }
    return &g->base;
}

dp_sink *dp_filter_compress_new(dp_codec codec, int level, dp_sink *next)
{
    switch (codec) {
    case DP_CODEC_ZSTD: return zstd_new(1, level, next);
    case DP_CODEC_GZIP: return gz_new(1, level, next);
    default: return pass_new(next);
    }
}

dp_sink *dp_filter_decompress_new(dp_codec codec, dp_sink *next)
{
    switch (codec) {
    case DP_CODEC_ZSTD: return zstd_new(0, 0, next);
    case DP_CODEC_GZIP: return gz_new(0, 0, next);
    default: return pass_new(next);
    }
}

/* ---- sha256 ---- */

typedef struct {
    dp_sink base;
    EVP_MD_CTX *md;
    int ended;
    char hex[65];
} sha_sink;

static int sha_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    sha_sink *h = (sha_sink *)s;
    if (EVP_DigestUpdate(h->md, p, n) != 1)
        return dp_err_set(err, DUMPER_EINTERNAL, "sha256 update failed");
    return s->next ? dp_sink_write(s->next, p, n, err) : 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = 0;
}

static int sha_end(dp_sink *s, dp_err *err)
{
    sha_sink *h = (sha_sink *)s;
    unsigned char d[32];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(h->md, d, &len) != 1 || len != 32)
        return dp_err_set(err, DUMPER_EINTERNAL, "sha256 final failed");
    to_hex(d, 32, h->hex);
    h->ended = 1;
    return s->next ? dp_sink_end(s->next, err) : 0;
}

static void sha_destroy(dp_sink *s) { EVP_MD_CTX_free(((sha_sink *)s)->md); }

static const dp_sink_ops sha_ops = {.name = "sha256", .write = sha_write, .end = sha_end, .destroy = sha_destroy};

dp_sink *dp_filter_sha256_new(dp_sink *next)
{
    sha_sink *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    dp_sink_init(&h->base, &sha_ops, next);
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }
    return &h->base;
}

int dp_filter_sha256_hex(dp_sink *s, char out[65])
{
    sha_sink *h = (sha_sink *)s;
    if (!h->ended)
        return -1;
    memcpy(out, h->hex, 65);
    return 0;
}

void dp_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned int len = 0;
    EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
    to_hex(d, 32, out);
}
