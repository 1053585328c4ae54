/*
 * filter.c - zstd/gzip compression and decompression, SHA-256.
 *
 * zstd frames are written with the content checksum flag, so decompression to the end proves the
 * data intact on its own; gzip carries a CRC-32 that zlib checks. Both decompressors reject
 * truncated input at end().
 */
#include "io/filter.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "core/log.h"
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
    int workers, started; /* compressor: zstd worker threads asked for; started (first call made) */
    size_t outcap;
    char *out;
    /* adaptive level (compressor with min_level < max_level), see adapt() */
    int level, min_level, max_level;
    int vote;             /* the verdict of the current streak: -1 lower, +1 raise, 0 keep */
    int streak;           /* windows in a row with that verdict */
    int raise_need;       /* windows in a row a raise needs: 2, doubled by each flap (ADAPT_NEED_MAX) */
    int last_move;        /* the last change: -1 lowered, +1 raised, 0 none yet */
    int64_t win_start;    /* ns; 0 = no window yet */
    int64_t t_comp, t_down; /* ns spent in zstd / in the sinks below during the window */
    int64_t c_comp;       /* CPU ns of this thread in zstd during the window */
    int64_t idle0;        /* the machine's idle CPU ns at the window's start (machine_idle_ns), -1: unknown */
    int use_cpu;          /* the contention and spare-CPU rules are on (tests turn them off) */
    int (*verdict)(int64_t, int64_t, int64_t, int64_t, int64_t); /* dp_zstd_adapt_verdict; tests replace it */
    uint64_t win_in;      /* input bytes in the window */
    uint64_t window;      /* input bytes between two verdicts (ADAPT_WINDOW) */
    unsigned changes;     /* level changes so far (tests, debug log) */
} zstd_sink;

#define ADAPT_WINDOW (8u << 20) /* input bytes between two verdicts */
#define ADAPT_NEED 2            /* equal verdicts in a row for a change */
#define ADAPT_NEED_MAX 16       /* ... for a raise after flaps: 128 MiB of input at the most */

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static int64_t cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

/* Idle CPU time of the whole machine so far, all cores summed (idle + iowait of /proc/stat's first
 * line), in ns; -1 when it cannot be read. A 10 ms resolution (USER_HZ 100): enough for windows of
 * tens of milliseconds on 2 cores and more. */
static int64_t machine_idle_ns(void)
{
    char buf[512];
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 5 || memcmp(buf, "cpu ", 4) != 0)
        return -1;
    buf[n] = 0;
    char *p = buf + 4, *end;
    unsigned long long v[5];
    for (int i = 0; i < 5; i++) {
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (end == p || errno)
            return -1;
        p = end;
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        return -1;
    return (int64_t)((v[3] + v[4]) * (1000000000ull / (unsigned long long)hz));
}

/* Hand compressed bytes down, timing how long the sinks below take (wall time, and this thread's CPU
 * time so that it can be taken out of zstd's). */
static int zstd_c_emit(zstd_sink *z, size_t n, dp_err *err)
{
    if (!n)
        return 0;
    if (z->min_level == z->max_level)
        return dp_sink_write(z->base.next, z->out, n, err);
    int64_t t0 = mono_ns(), c0 = cpu_ns();
    int rc = dp_sink_write(z->base.next, z->out, n, err);
    z->t_down += mono_ns() - t0;
    z->c_comp -= cpu_ns() - c0;
    return rc;
}

/* Run the compressor over `in` with `op` until it is consumed (continue) or flushed (end). */
static int zstd_c_run(zstd_sink *z, ZSTD_inBuffer *in, ZSTD_EndDirective op, dp_err *err)
{
    size_t remaining;
    if (z->workers && !z->started) {
        /* zstd starts its worker threads in the first call: they must block every signal, which
         * belongs to the thread that owns the chain (its blocking reads must see EINTR) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        ZSTD_outBuffer out = {z->out, z->outcap, 0};
        remaining = ZSTD_compressStream2(z->cs, &out, in, op);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        z->started = 1;
        if (ZSTD_isError(remaining))
            return dp_err_set(err, DUMPER_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(remaining));
        if (zstd_c_emit(z, out.pos, err))
            return err->code;
        if (op == ZSTD_e_end ? remaining == 0 : in->pos == in->size)
            return 0;
    }
    do {
        ZSTD_outBuffer out = {z->out, z->outcap, 0};
        remaining = ZSTD_compressStream2(z->cs, &out, in, op);
        if (ZSTD_isError(remaining))
            return dp_err_set(err, DUMPER_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(remaining));
        if (zstd_c_emit(z, out.pos, err))
            return err->code;
    } while (op == ZSTD_e_end ? remaining != 0 : in->pos < in->size);
    return 0;
}

/*
 * The adaptive level: every ADAPT_WINDOW input bytes (a window), split the window's wall time into time
 * in zstd, time in the sinks below (the second async stage, or hash, encryption and the writer: the
 * output side) and the rest, idle (waiting for input: the dump is the slowest stage); also take this
 * thread's CPU time in zstd. Then:
 *   - zstd takes a quarter of the window or more and waited for a CPU more than 20% of its time
 *     (wall - CPU): the machine's cores are all busy and compression competes with the dump itself
 *     (on 2 cores beside a local database server: its backend and pg_dump) or with the host's own
 *     work: one level lower. Idle time would not show it: the dump slows down with us, so we seem to
 *     wait for it. (Below a quarter, compression hardly matters and a few preemptions are noise.)
 *   - idle under 10%: this thread sets the pace. If zstd takes more of it than the output side,
 *     compression is the bottleneck: one level lower. Else the output (a slow network, a rate
 *     limit) is: one level higher, spending the wait on a better ratio.
 *   - idle more than the time in zstd: compression could take twice as long without slowing
 *     anything down: one level higher.
 *   - but never higher when the machine had no spare CPU in the window: less idle CPU time, all
 *     cores summed (/proc/stat), than the time zstd took. Then the idle time is not free: the dump
 *     tool and the database's backend wait for the cores we would take (on 2 cores beside a local
 *     server the level went back to 3 whenever pg_dump paused, and `--level 3` runs 1.25-1.76x
 *     `pg_dump | zstd -3` under load: bench/README.md, "Under load"), and so does the host's own
 *     work. Unknown (no /proc/stat): as before, raise.
 *   - and one level lower when the machine had next to no idle CPU (under a quarter of zstd's time)
 *     while zstd took a tenth of the window or more, even if this thread waits for its input: the
 *     dump tool it waits for is then waiting for a CPU (on a loaded 2-core machine the reader sat
 *     mostly idle at level 3, zstd under a quarter of the window, so neither rule above fired).
 * A change needs the same verdict twice in a row (16 MiB), so the level does not flap on noise. And
 * a lower right after a raise (a flap: the raise took CPU that something else needed, typically
 * the dump itself on a 2-core machine beside its database, where idle CPU shows up between the
 * backend's and pg_dump's turns and vanishes as soon as compression takes it) doubles the run of
 * raise verdicts the next raise needs, up to 16 windows: the level flapped 2<->3 every 2-3 windows
 * there (22 changes per backup, each ending a frame), and `--level 1` ran 1.03x the floor against
 * the default's 1.09x (bench/README.md, "Direct writes"). A new level
 * takes effect at a frame boundary: the current frame is ended and the next starts at the new level
 * (a zstd stream of several frames decompresses as one; the cost is one frame header and the
 * window's history, noise at 16 MiB or more per frame).
 */
int dp_zstd_adapt_verdict(int64_t wall, int64_t t_comp, int64_t c_comp, int64_t t_down, int64_t spare)
{
    int64_t idle = wall - t_comp - t_down;
    int may_raise = spare < 0 || spare >= t_comp;
    if (c_comp >= 0 && t_comp * 4 > wall && (t_comp - c_comp) * 5 > t_comp)
        return -1;
    if (spare >= 0 && spare * 4 < t_comp && t_comp * 10 > wall)
        return -1;
    if (idle * 10 < wall)
        return t_comp >= t_down ? -1 : may_raise;
    return idle > t_comp ? may_raise : 0;
}

static int adapt(zstd_sink *z, int64_t now, dp_err *err)
{
    int64_t wall = now - z->win_start;
    int64_t idle = z->use_cpu ? machine_idle_ns() : -1;
    int64_t spare = idle >= 0 && z->idle0 >= 0 ? idle - z->idle0 : -1;
    int v = z->verdict(wall, z->t_comp, z->use_cpu ? z->c_comp : -1, z->t_down, spare);
    if (v == z->vote) {
        z->streak++;
    } else {
        z->vote = v;
        z->streak = 1;
    }
    int want = z->level;
    if (v && z->streak >= (v > 0 ? z->raise_need : ADAPT_NEED)) {
        want += v;
        z->vote = 0;
        z->streak = 0;
    }
    int64_t z_comp = z->t_comp, z_down = z->t_down, z_cpu = z->c_comp;
    z->win_start = now;
    z->idle0 = idle;
    z->t_comp = z->t_down = z->c_comp = 0;
    z->win_in = 0;
    if (want < z->min_level || want > z->max_level || want == z->level)
        return 0;
    ZSTD_inBuffer none = {NULL, 0, 0};
    if (zstd_c_run(z, &none, ZSTD_e_end, err))
        return err->code;
    size_t r = ZSTD_CCtx_setParameter(z->cs, ZSTD_c_compressionLevel, want);
    if (ZSTD_isError(r))
        return dp_err_set(err, DUMPER_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(r));
    dp_debug("zstd level %d -> %d (window: %lld ms, zstd %lld ms of which CPU %lld ms, output %lld ms, "
             "idle CPU %lld ms)",
             z->level, want, (long long)(wall / 1000000), (long long)(z_comp / 1000000), (long long)(z_cpu / 1000000),
             (long long)(z_down / 1000000), (long long)(spare / 1000000));
    if (want < z->level && z->last_move > 0 && z->raise_need < ADAPT_NEED_MAX)
        z->raise_need *= 2; /* a flap */
    z->last_move = want > z->level ? 1 : -1;
    z->level = want;
    z->changes++;
    z->win_start = mono_ns(); /* the flush is not part of the next window */
    z->idle0 = z->use_cpu ? machine_idle_ns() : -1;
    return 0;
}

static int zstd_c_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    zstd_sink *z = (zstd_sink *)s;
    ZSTD_inBuffer in = {p, n, 0};
    if (z->min_level == z->max_level)
        return zstd_c_run(z, &in, ZSTD_e_continue, err);
    int64_t t0 = mono_ns(), c0 = cpu_ns(), down0 = z->t_down;
    if (!z->win_start) {
        z->win_start = t0;
        z->idle0 = z->use_cpu ? machine_idle_ns() : -1;
    }
    if (zstd_c_run(z, &in, ZSTD_e_continue, err))
        return err->code;
    int64_t now = mono_ns();
    z->t_comp += (now - t0) - (z->t_down - down0);
    z->c_comp += cpu_ns() - c0; /* zstd_c_emit took the output's CPU time out */
    z->win_in += n;
    return z->win_in >= z->window ? adapt(z, now, err) : 0;
}

static int zstd_c_end(dp_sink *s, dp_err *err)
{
    zstd_sink *z = (zstd_sink *)s;
    ZSTD_inBuffer in = {NULL, 0, 0};
    if (zstd_c_run(z, &in, ZSTD_e_end, err))
        return err->code;
    dp_debug("zstd: level %d at the end, %u level changes", z->level, z->changes);
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
        if (level > 0) {
            z->min_level = z->max_level = level;
        } else if (level < 0) {
            z->min_level = DP_LEVEL_ADAPT_MIN(level);
            z->max_level = DP_LEVEL_ADAPT_MAX(level);
        } else {
            z->min_level = DP_ZSTD_ADAPT_MIN;
            z->max_level = DP_ZSTD_ADAPT_MAX;
        }
        z->level = z->max_level; /* start at the best ratio asked for; adapt() steps down if needed */
        z->window = ADAPT_WINDOW;
        z->raise_need = ADAPT_NEED;
        z->use_cpu = 1;
        z->verdict = dp_zstd_adapt_verdict;
        z->cs = ZSTD_createCCtx();
        z->outcap = ZSTD_CStreamOutSize();
        if (z->cs) {
            ZSTD_CCtx_setParameter(z->cs, ZSTD_c_compressionLevel, z->level);
            ZSTD_CCtx_setParameter(z->cs, ZSTD_c_checksumFlag, 1);
            /* zstd's own worker threads take compression off the thread that reads the dump: one
             * with 3 cores online, two with 4 or more (the reader, the writer and a local database
             * want the others); none on 1-2 cores, where every core is busy anyway and the threads'
             * own cost (~15% more CPU) made backups slower (bench/README.md).
             * DUMPER_ZSTD_THREADS=N (0-8) overrides. The workers start from the thread that first
             * compresses and inherit its signal mask. */
            const char *t = getenv("DUMPER_ZSTD_THREADS");
            char *end = NULL;
            long cores = sysconf(_SC_NPROCESSORS_ONLN), n = cores >= 4 ? 2 : cores == 3 ? 1 : 0;
            if (t && *t) {
                long v = strtol(t, &end, 10);
                if (v >= 0 && v <= 8 && !*end)
                    n = v;
            }
            if (n > 0 && !ZSTD_isError(ZSTD_CCtx_setParameter(z->cs, ZSTD_c_nbWorkers, (int)n))) {
                z->workers = (int)n;
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

void dp_filter_zstd_adapt_config(dp_sink *s, uint64_t window, int use_cpu,
                                 int (*verdict)(int64_t, int64_t, int64_t, int64_t, int64_t))
{
    if (s && s->ops == &zstd_c_ops && window) {
        zstd_sink *z = (zstd_sink *)s;
        z->window = window;
        z->use_cpu = use_cpu;
        z->verdict = verdict ? verdict : dp_zstd_adapt_verdict;
    }
}

int dp_filter_zstd_level(const dp_sink *s, unsigned *changes)
{
    if (!s || s->ops != &zstd_c_ops)
        return -1;
    const zstd_sink *z = (const zstd_sink *)s;
    if (changes)
        *changes = z->changes;
    return z->level;
}

dp_sink *dp_filter_compress_new(dp_codec codec, int level, dp_sink *next)
{
    switch (codec) {
    case DP_CODEC_ZSTD: return zstd_new(1, level, next);
    case DP_CODEC_GZIP: return level < 0 ? NULL : gz_new(1, level, next);
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
