/*
 * filter.h - filters between a source and a storage: compression, decompression, SHA-256.
 *
 * Each filter is a dp_sink that owns its downstream sink. Memory per filter is fixed (the codec's
 * window plus one output chunk), independent of the stream length.
 */
#ifndef DP_FILTER_H
#define DP_FILTER_H

#include "io/sink.h"

typedef enum dp_codec { DP_CODEC_NONE = 0, DP_CODEC_ZSTD, DP_CODEC_GZIP } dp_codec;

/* "zstd" / "gzip" / "none" -> codec; -1 if unknown. */
int dp_codec_parse(const char *name);
const char *dp_codec_name(dp_codec c);
/* File name extension without the dot: "zst", "gz", "" for none. */
const char *dp_codec_ext(dp_codec c);

/* Compress with codec at level (0 = codec default). codec NONE returns a pass-through. */
dp_sink *dp_filter_compress_new(dp_codec codec, int level, dp_sink *next);
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
