/*
 * manifest.h - the JSON sidecar stored next to every backup as "<backup key>.json".
 *
 *   {"dumper_manifest": 1, "name": "...", "source_type": "sqlite", "format": "sql",
 *    "compression": "zstd", "size": 1234, "raw_size": 5678, "sha256": "<hex of the stored bytes>",
 *    "created_at": "2026-11-26T09:45:00Z", "duration_ms": 12, "dumper_version": "0.1.0",
 *    "database": "<redacted url>"}
 *
 * An encrypted backup adds "encryption": "age" and "recipients": ["age1...", ...] (the public keys it
 * was encrypted to; never a private key); size and sha256 are then those of the ciphertext.
 * Manifests without these fields (every older one) describe unencrypted backups.
 *
 * The backup object is published after its manifest, so a listed backup always has one; a
 * manifest whose backup is missing is an interrupted backup and is ignored.
 */
#ifndef DP_MANIFEST_H
#define DP_MANIFEST_H

#include <stdint.h>

#include "core/err.h"

#define DP_MANIFEST_SUFFIX ".json"
#define DP_MANIFEST_MAX (64 * 1024)

typedef struct dp_manifest {
    char *name;        /* backup key */
    char *source_type; /* "sqlite", "postgresql", ... */
    char *format;      /* "sql", "dump", "rdb", "tar" */
    char *compression; /* "zstd", "gzip", "none" */
    uint64_t size;     /* stored bytes */
    uint64_t raw_size; /* uncompressed dump bytes */
    char sha256[65];   /* of the stored bytes */
    int64_t created_ms;
    int64_t duration_ms;
    char *dumper_version;
    char *database; /* redacted URL */
    char *encryption;  /* NULL (none) or "age" */
    char **recipients; /* with encryption: the age1... recipients, nrecipients >= 1 */
    size_t nrecipients;
} dp_manifest;

#define DP_MANIFEST_MAX_RECIPIENTS 64
/* created_ms is before 10000-01-01T00:00:00Z (created_at has a four-digit year) */
#define DP_MANIFEST_MAX_CREATED_MS 253402300800000LL

/* Serialize; caller frees. NULL on OOM. */
char *dp_manifest_to_json(const dp_manifest *m);
/* Parse and validate strictly; fills err (DUMPER_ECORRUPT) naming `what` on failure. */
int dp_manifest_parse(const char *json, size_t len, const char *what, dp_manifest *m, dp_err *err);
void dp_manifest_free(dp_manifest *m);

#endif
