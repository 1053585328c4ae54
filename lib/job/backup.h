/*
 * backup.h - backup, verify, restore and list: the pipelines the CLI and the agent's job process run.
 *
 *   backup:  source -> [progress] -> compress -> async -> [age encrypt] -> sha256 -> [limit]
 *            -> [throttle] -> storage writer; then the manifest is stored, then the backup object is
 *            committed (published).
 *   verify:  storage -> sha256 -> [shield] -> async -> [age decrypt] -> decompress -> null (checks
 *            sha256, sizes, every age chunk, compression); an encrypted backup without identities:
 *            storage -> sha256 -> age check -> null (ciphertext size and sha256, header, chunk framing)
 *   restore: verify pass first (checksum and every age chunk before touching the target), then
 *            storage -> sha256 -> async -> [age decrypt] -> decompress -> source restore sink;
 *            committed only if the second pass hashes equal too.
 * "async" is a thread boundary (io/pipeline.h; docs/architecture.md, "Threads in the pipeline").
 */
#ifndef DP_BACKUP_H
#define DP_BACKUP_H

#include <stdint.h>

#include "crypto/age.h"
#include "io/filter.h"
#include "job/manifest.h"
#include "source/source.h"
#include "storage/storage.h"

/* Called at most every 250 ms while bytes flow, and once with done=1. raw = uncompressed bytes. */
typedef void (*dp_progress_fn)(void *ctx, uint64_t raw_bytes, int done);

typedef struct dp_backup_req {
    const char *db_url;
    dp_source_opts src;
    const char *storage;                 /* location: directory or s3://bucket/prefix */
    const dp_storage_opts *storage_opts; /* may be NULL */
    const char *name;                    /* base name of the file; NULL = derived from the URL */
    dp_codec codec;
    int level;          /* N > 0 fixed, 0 = codec default (zstd: adaptive 1-3), DP_LEVEL_ADAPT(lo, hi) */
    uint64_t max_size;  /* 0 = unlimited; stored bytes */
    uint64_t limit_rate; /* 0 = unlimited; else bytes per second written to storage (1..DP_RATE_MAX) */
    dp_progress_fn progress;
    void *progress_ctx;
    /* Encrypt (age, after compression) to these recipients; 0 = not encrypted. The name then ends
     * in DP_BACKUP_AGE_SUFFIX and the manifest records "encryption": "age" and the recipients. */
    const dp_age_recipient *recipients;
    size_t nrecipients;
} dp_backup_req;

#define DP_BACKUP_AGE_SUFFIX ".age"

typedef struct dp_backup_result {
    char *key;      /* object key within the storage */
    char *path;     /* location + "/" + key */
    dp_manifest m;
} dp_backup_result;

/* Streaming core shared with the agent's job process: runs the source into `writer` through
 * compression and SHA-256, ends the chain (data durable, not published) and fills the manifest's
 * format, compression, sizes and sha256. On failure the caller aborts `writer`. The writer is
 * borrowed. `url` must be parsed already. */
int dp_backup_stream(const dp_dburl *url, const dp_source_driver *drv, const dp_source_opts *src, dp_codec codec,
                     int level, uint64_t max_size, uint64_t limit_rate, dp_progress_fn progress, void *progress_ctx,
                     dp_sink *writer, dp_manifest *m, dp_err *err);
/* The same, encrypting to `recipients` after compression when nrecipients > 0 (the manifest then
 * records encryption and recipients; the stored name should end in DP_BACKUP_AGE_SUFFIX). */
int dp_backup_stream_age(const dp_dburl *url, const dp_source_driver *drv, const dp_source_opts *src, dp_codec codec,
                         int level, const dp_age_recipient *recipients, size_t nrecipients, uint64_t max_size,
                         uint64_t limit_rate, dp_progress_fn progress, void *progress_ctx, dp_sink *writer,
                         dp_manifest *m, dp_err *err);

/* The backup file name: "<name>-<UTC stamp>.<format>[.<ext>]". Caller frees. */
char *dp_backup_key(const char *name, int64_t created_ms, const char *format, dp_codec codec);

int dp_backup_run(const dp_backup_req *req, dp_backup_result *res, dp_err *err);
void dp_backup_result_free(dp_backup_result *res);

/* Read and validate the manifest of `key`. */
int dp_backup_manifest(dp_storage *st, const char *key, dp_manifest *m, dp_err *err);
/* Format, compression and creation time from a backup's file name: "<name>-<UTC stamp>.<format>[.<ext>][.age]"
 * (dp_backup_key), also "<app>-<env>-<db>-<UTC stamp>-b<id>.<format>[.<ext>][.age]" as dumperd names them
 * (".age": encrypted, see dp_str_has_suffix(key, DP_BACKUP_AGE_SUFFIX)).
 * The format must be one some source restores. *format: caller frees. DUMPER_EUSAGE otherwise. */
int dp_backup_parse_name(const char *key, char **format, dp_codec *codec, int64_t *created_ms, dp_err *err);

/* Verify and restore take an optional expected `sha256` (64 hex digits, e.g. from dumperd's catalog; NULL =
 * none). With a manifest it must equal the manifest's (else DUMPER_ECORRUPT). A backup without a manifest
 * (a file downloaded from dumperd) needs it (else DUMPER_ECORRUPT, saying to pass it): its format and compression
 * then come from the file name (dp_backup_parse_name), its size from storage, its source type from the
 * restore target, and the same checks run; only the uncompressed size is not known beforehand. */

/* Full integrity check. Fills *m (caller frees) when not NULL. */
int dp_backup_verify(dp_storage *st, const char *key, const char *sha256, dp_manifest *m, dp_progress_fn progress,
                     void *ctx, dp_err *err);
int dp_backup_restore(dp_storage *st, const char *key, const char *sha256, const char *db_url,
                      const dp_source_opts *src, dp_progress_fn progress, void *ctx, dp_err *err);

/* What verify and restore read a backup with; zero-initialise and fill what applies. */
typedef struct dp_backup_read_opts {
    const char *sha256; /* expected sha256 (see above) or NULL */
    /* Identities for an encrypted backup (borrowed). Verify without them checks the ciphertext (size,
     * sha256, the age header and chunk framing) but neither authenticates nor decompresses it (the
     * manifest's raw_size is then unchecked); restore without them, or when none unwraps the file
     * key, fails with DUMPER_EAUTH naming the recipients from the manifest, before the target is
     * touched. A backup that does not authenticate is DUMPER_ECORRUPT. Ignored for plain backups. */
    const dp_age_identity *identities;
    size_t nidentities;
    dp_progress_fn progress;
    void *progress_ctx;
    /* Restore: one pass for a throwaway target (a drill's): the checksum, size, uncompressed size and
     * age chunks are checked while the bytes are restored instead of in a verify pass first, so a
     * damaged backup may have fed part of itself to the target before it fails (the target is
     * aborted; a drill drops it anyway). The bytes still only ever reach the target the way a
     * restore sends them (data only: psql_guard, the SQLite authorizer, ...). A failed restore is
     * then verified to name the cause: a corrupt backup or a wrong identity is reported as such
     * (DUMPER_ECORRUPT, DUMPER_EAUTH), not as the target's complaint about the damaged bytes. */
    int one_pass;
} dp_backup_read_opts;

int dp_backup_verify_opts(dp_storage *st, const char *key, const dp_backup_read_opts *o, dp_manifest *m, dp_err *err);
int dp_backup_restore_opts(dp_storage *st, const char *key, const dp_backup_read_opts *o, const char *db_url,
                           const dp_source_opts *src, dp_err *err);
/* Every backup with a valid manifest, newest first. Caller frees with dp_backup_list_free. */
int dp_backup_list(dp_storage *st, dp_manifest **items, size_t *n, dp_err *err);
void dp_backup_list_free(dp_manifest *items, size_t n);

#endif
