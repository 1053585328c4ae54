/*
 * storage.h - the storage driver interface: where backups live.
 *
 * A storage is opened from a location string: a local directory ("/var/backups", "file:///x") or,
 * with the S3 driver, "s3://bucket/prefix". Keys are object names relative to the location
 * ("app-20261126T094500.123Z.sql.zst"); they never contain "/" components like "..".
 *
 * Writes are atomic: dp_storage_writer() returns a sink; nothing is visible under the key until
 * dp_sink_commit() succeeds, and dp_sink_abort() (or freeing an uncommitted writer) leaves nothing
 * behind. A driver is a const table checked at registration; optional members are announced in
 * `features`, not guessed from NULL pointers.
 */
#ifndef DP_STORAGE_H
#define DP_STORAGE_H

#include <stdint.h>

#include "core/err.h"
#include "io/sink.h"

typedef struct dp_storage dp_storage;
typedef struct dp_storage_driver dp_storage_driver;

typedef struct dp_object_info {
    char *key;
    uint64_t size;
    int64_t mtime_ms;
} dp_object_info;

/* Options common to all drivers; drivers read what applies to them (zero = default). */
typedef struct dp_storage_opts {
    int parallel;           /* S3: parts in flight (default 4) */
    uint64_t part_size;     /* S3: initial part size (default 8 MiB) */
    const char *endpoint;   /* S3: endpoint URL (else AWS_ENDPOINT_URL) */
    const char *region;     /* S3: region (else AWS_REGION, else us-east-1) */
    int path_style;         /* S3: -1 virtual-host, 1 path-style, 0 auto */
    const char *access_key; /* S3: else AWS_ACCESS_KEY_ID */
    const char *secret_key; /* S3: else AWS_SECRET_ACCESS_KEY */
    const char *session_token;
    /* S3: Object Lock on every object written (PutObject, CreateMultipartUpload): "GOVERNANCE" or
     * "COMPLIANCE" (NULL: none), retained lock_days days from the write. The bucket must have Object Lock. */
    const char *lock_mode;
    int lock_days;
} dp_storage_opts;

enum {
    DP_STORAGE_FEAT_LIST = 1 << 0,
    DP_STORAGE_FEAT_REMOVE = 1 << 1,
    DP_STORAGE_FEAT_READ = 1 << 2,
};

struct dp_storage_driver {
    const char *name;
    unsigned features;
    /* Does this driver handle `location`? */
    int (*accepts)(const char *location);
    /* Required. Open a location; create local directories as needed only when `create`. */
    int (*open)(const char *location, const dp_storage_opts *opts, int create, dp_storage **out, dp_err *err);
    /* Required. A sink that stores an object atomically under key. */
    int (*writer)(dp_storage *st, const char *key, dp_sink **out, dp_err *err);
    /* FEAT_READ. Push the object's bytes into `to` (does not end it). */
    int (*read)(dp_storage *st, const char *key, dp_sink *to, dp_err *err);
    /* FEAT_READ. Size of an object; DUMPER_ENOENT if absent. */
    int (*stat)(dp_storage *st, const char *key, dp_object_info *info, dp_err *err);
    /* FEAT_LIST. Every object under the location (keys relative to it). */
    int (*list)(dp_storage *st, dp_object_info **items, size_t *n, dp_err *err);
    /* FEAT_REMOVE. Delete; absent is not an error. */
    int (*remove)(dp_storage *st, const char *key, dp_err *err);
    /* Required. */
    void (*close)(dp_storage *st);
};

/* Common head of every driver's storage struct. */
struct dp_storage {
    const dp_storage_driver *drv;
    char *location; /* as given, for messages (no secrets) */
};

/* Open `location` with the driver that accepts it. */
int dp_storage_open(const char *location, const dp_storage_opts *opts, int create, dp_storage **out, dp_err *err);
void dp_storage_close(dp_storage *st);
int dp_storage_writer(dp_storage *st, const char *key, dp_sink **out, dp_err *err);
int dp_storage_read(dp_storage *st, const char *key, dp_sink *to, dp_err *err);
int dp_storage_stat(dp_storage *st, const char *key, dp_object_info *info, dp_err *err);
int dp_storage_list(dp_storage *st, dp_object_info **items, size_t *n, dp_err *err);
int dp_storage_remove(dp_storage *st, const char *key, dp_err *err);
void dp_object_info_free(dp_object_info *items, size_t n);
/* Write a small object in one go (atomic). */
int dp_storage_put(dp_storage *st, const char *key, const void *p, size_t n, dp_err *err);
/* Read a small object fully (refuses objects over max bytes). Caller frees *out. */
int dp_storage_get(dp_storage *st, const char *key, size_t max, char **out, size_t *outlen, dp_err *err);
/* Split "dir/name" or "s3://bucket/prefix/name" into a location and key. Caller frees both. */
int dp_storage_split_path(const char *path, char **location, char **key, dp_err *err);
/* A key is safe: non-empty, no "/" at the ends, no "." or ".." segment, no control characters. */
int dp_storage_key_valid(const char *key);

/* Drivers. */
extern const dp_storage_driver dp_storage_local;
extern const dp_storage_driver dp_storage_s3;

#endif
