/*
 * filter.h - filters between a source and a storage: compression, decompression, SHA-256.
 *
 * Each filter is a dp_sink that owns its downstream sink. Memory per filter is fixed (the codec's
 * window plus one output chunk), independent of the stream length.
 */
#ifndef DP_FILTER_H
#define DP_FILTER_H

#include <stdint.h>

#include "io/sink.h"

typedef enum dp_codec { DP_CODEC_NONE = 0, DP_CODEC_ZSTD, DP_CODEC_GZIP } dp_codec;

/* "zstd" / "gzip" / "none" -> codec; -1 if unknown. */
int dp_codec_parse(const char *name);
const char *dp_codec_name(dp_codec c);
/* File name extension without the dot: "zst", "gz", "" for none. */
const char *dp_codec_ext(dp_codec c);

/* Compression levels: N > 0 is level N throughout; 0 is the codec's default; DP_LEVEL_ADAPT(lo, hi)
 * (zstd only) lets the level move between lo and hi (1 <= lo < hi <= 22) with the pace of the
 * pipeline (filter.c, adapt()): lower when compression is the slowest stage, higher when the dump
 * tool or the output is. zstd's default is adaptive between 1 and 3: level 3 whenever compression
 * keeps up, so the ratio is zstd -3's unless the CPU is short. gzip's default is 6. */
#define DP_LEVEL_ADAPT(lo, hi) (-((lo) * 100 + (hi)))
#define DP_LEVEL_ADAPT_MIN(l) ((-(l)) / 100)
#define DP_LEVEL_ADAPT_MAX(l) ((-(l)) % 100)
#define DP_ZSTD_ADAPT_MIN 1
#define DP_ZSTD_ADAPT_MAX 3

/* Compress with codec at level (above). codec NONE returns a pass-through. NULL when out of memory
 * or for an adaptive level with gzip. */
dp_sink *dp_filter_compress_new(dp_codec codec, int level, dp_sink *next);
/* A zstd compressor's current level, and how often it changed (may be NULL); -1 for another sink.
 * Only while no other thread drives it (e.g. after end). */
int dp_filter_zstd_level(const dp_sink *zstd, unsigned *changes);
/* The adaptive level's verdict for one window (pure; filter.c explains it): wall time of the
 * window, wall and CPU time in zstd (CPU < 0: not considered), time in the sinks below, the
 * machine's idle CPU time during the window, all cores summed (< 0: not considered) -> -1 (lower),
 * +1 (raise), 0 (keep). */
int dp_zstd_adapt_verdict(int64_t wall_ns, int64_t zstd_ns, int64_t zstd_cpu_ns, int64_t output_ns,
                          int64_t spare_ns);
/* For tests: input bytes per verdict (default 8 MiB), whether the rules that read the CPU (the
 * contention and spare-CPU rules) apply (default 1; a test on a loaded machine cannot rely on
 * them), and the verdict function (NULL: dp_zstd_adapt_verdict; a fixed one tests the level's
 * moves without timing). */
void dp_filter_zstd_adapt_config(dp_sink *zstd, uint64_t window, int use_cpu,
                                 int (*verdict)(int64_t wall_ns, int64_t zstd_ns, int64_t zstd_cpu_ns,
                                                int64_t output_ns, int64_t spare_ns));
/* Decompress; end() fails with DUMPER_ECORRUPT if the compressed stream is truncated, and any
 * corrupt input (bad frame, bad checksum) fails the write with DUMPER_ECORRUPT. Trailing garbage
 * after the last frame is corrupt too. */
dp_sink *dp_filter_decompress_new(dp_codec codec, dp_sink *next);

/* SHA-256 of everything that passes. */
dp_sink *dp_filter_sha256_new(dp_sink *next);
/* Lowercase hex digest; valid once the filter has ended. Returns 0, or -1 if not ended yet. */
int dp_filter_sha256_hex(dp_sink *sha, char out[65]);

/* One-shot helper for tests and small buffers: hex SHA-256 of p[0..n). */
void dp_sha256_hex(const void *p, size_t n, char out[65]);

#endif
