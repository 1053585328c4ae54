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
 * What the backup holds (optional; written since restore drills, absent from older manifests and
 * from sources that could not tell), taken from the same snapshot as the dump:
 *
 *   "contents": {"server_version": "15.14", "schema_fingerprint": "<sha256 hex>",
 *                "schema_migration": "20261126094500",
 *                "tables": [{"name": "public.users", "rows": 42}, ...]}
 *
 * tables are sorted by name (bytewise, each once); the fingerprint is the SHA-256 of the schema
 * listing (one "<table>\t<column>,<column>...\n" line per table in that order), so a drill can
 * compute it again from a restored database. Redis records one entry per database ("db0": keys),
 * MongoDB "<db>.<collection>": documents.
 *
 * The backup object is published after its manifest, so a listed backup always has one; a
 * manifest whose backup is missing is an interrupted backup and is ignored.
 */
#ifndef DP_MANIFEST_H
#define DP_MANIFEST_H

#include <stdint.h>

#include "core/err.h"

#define DP_MANIFEST_SUFFIX ".json"
/* Room for DP_CONTENTS_MAX_TABLES names of DP_CONTENTS_MAX_NAME bytes, JSON-escaped. */
#define DP_MANIFEST_MAX (8 * 1024 * 1024)
#define DP_CONTENTS_MAX_TABLES 10000
#define DP_CONTENTS_MAX_NAME 300
#define DP_CONTENTS_MAX_STR 200 /* server_version, schema_migration */

typedef struct dp_table_rows {
    char *name;
    uint64_t rows;
    char *columns; /* while collecting: "a,b,c" for the fingerprint; never serialized */
} dp_table_rows;

typedef struct dp_contents {
    int known;            /* 1: recorded (the rest is valid); 0: unknown */
    char *server_version; /* may be NULL */
    char fingerprint[65]; /* "" when unknown */
    char *migration;      /* newest schema_migrations version, NULL when none */
    dp_table_rows *tables;
    size_t ntables, cap;
} dp_contents;

/* Append a table (columns may be NULL). -1 on OOM. */
int dp_contents_add(dp_contents *c, const char *name, const char *columns, uint64_t rows);
/* The entry of `name`, or NULL (linear before finish, binary search after). */
dp_table_rows *dp_contents_find(dp_contents *c, const char *name);
/* Sort by name, compute the fingerprint from the columns, free them, mark known. -1 on OOM or when
 * a name repeats or the limits above are passed (then not known). */
int dp_contents_finish(dp_contents *c);
void dp_contents_free(dp_contents *c);
/* A "contents" object alone (as a job's commit carries it to dumperd), as strictly as in a manifest: 0, or
 * DUMPER_ECORRUPT "contents: <why>" / DUMPER_ENOMEM. */
int dp_contents_parse(const char *json, size_t len, dp_contents *c, dp_err *err);

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
    dp_contents contents; /* contents.known = 0: not recorded */
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
