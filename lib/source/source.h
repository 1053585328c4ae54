/*
 * source.h - the database source driver interface.
 *
 * A source produces a dump as a byte stream pushed into a sink (it never ends or commits the sink:
 * the caller owns the pipeline), and restores from one through a sink it returns. Sources know
 * nothing about storage, compression or checksums.
 *
 * Restore sinks: bytes written are the uncompressed dump; dp_sink_end() finishes feeding the
 * database (e.g. waits for psql) and reports its outcome; dp_sink_commit() publishes the result
 * where that is possible (SQLite renames the new file into place); dp_sink_abort() removes whatever
 * can be removed.
 */
#ifndef DP_SOURCE_H
#define DP_SOURCE_H

#include "core/dburl.h"
#include "core/err.h"
#include "io/sink.h"
#include "job/manifest.h"

typedef struct dp_source_opts {
    const char *format;         /* driver-specific ("sql", "dump", ...); NULL = default */
    const char *custom_options; /* extra dump tool options, split into argv without a shell */
    int force;                  /* restore: allow a non-empty target */
    const char *restore_file;   /* restore: write the dump to this file instead of a live server (redis) */
    int jobs;                   /* restore: parallel jobs, > 1 only with DP_SOURCE_FEAT_RESTORE_JOBS */
    const char *password;       /* the database password when the URL has none (the CLI's --password-file);
                                   dp_backup_run/dp_backup_restore put it into the parsed URL, so it takes the
                                   URL password's place in every driver. Never logged. */
    dp_contents *contents;      /* backup: when not NULL, the driver records what the dump holds (tables and
                                   row counts from the dump's own snapshot, server version, schema
                                   fingerprint, newest schema_migrations version) and finishes it
                                   (dp_contents_finish). Best effort: left unknown (known = 0) when the
                                   driver cannot tell; the backup does not fail for it. */
    int throwaway;              /* restore: the target is a drill's, deleted right after: what only makes it
                                   durable (fsync of a restored file and its directory) is skipped */
} dp_source_opts;

enum {
    DP_SOURCE_FEAT_BACKUP = 1 << 0,
    DP_SOURCE_FEAT_RESTORE = 1 << 1,
    /* restore accepts opts->jobs > 1 (for the formats that allow it; it refuses the others) */
    DP_SOURCE_FEAT_RESTORE_JOBS = 1 << 2,
};

typedef struct dp_source_driver {
    const char *name; /* "sqlite", "postgresql", ... (matches dp_db_type_name) */
    dp_db_type type;
    unsigned features;
    /* Required. The format this backup will have, e.g. "sql" or "dump"; static string. Fails on an
     * unknown format option. */
    int (*resolve_format)(const dp_dburl *url, const dp_source_opts *opts, const char **format, dp_err *err);
    /* Optional. Cheap connectivity/permission check before any storage object is created. */
    int (*check)(const dp_dburl *url, const dp_source_opts *opts, dp_err *err);
    /* FEAT_BACKUP. Stream the dump into out. */
    int (*backup)(const dp_dburl *url, const dp_source_opts *opts, dp_sink *out, dp_err *err);
    /* FEAT_RESTORE. A sink that restores a dump of `format` into url. Checks the target (exists,
     * empty unless opts->force) before returning. */
    int (*restore)(const dp_dburl *url, const dp_source_opts *opts, const char *format, dp_sink **out, dp_err *err);
    /* FEAT_RESTORE. The formats restore accepts, NULL-terminated (checked before a backup without a
     * manifest is read: its format comes from the file name). */
    const char *const *restore_formats;

    /* ---- restore drills (optional; a driver without inspect is drilled as restore-only) ---- */
    /* What the database at url holds, recorded exactly as backup records it into opts->contents
     * (rows counted with a query here); finished. */
    int (*inspect)(const dp_dburl *url, const dp_source_opts *opts, dp_contents *out, dp_err *err);
    /* Run a user's check (one SQL query) against url: *ok = 1 when its first row's first column is
     * true. detail gets what it returned (or why it did not return a boolean). */
    int (*check_query)(const dp_dburl *url, const dp_source_opts *opts, const char *sql, int *ok, char *detail,
                       size_t detail_size, dp_err *err);
    /* Servers with databases (postgresql, mysql): create, drop and list databases on the server that
     * `server` names (its database is the one connected to for it). Names are made by the caller
     * from [a-z0-9_] only. */
    int (*scratch_create)(const dp_dburl *server, const dp_source_opts *opts, const char *name, dp_err *err);
    int (*scratch_drop)(const dp_dburl *server, const dp_source_opts *opts, const char *name, dp_err *err);
    int (*scratch_list)(const dp_dburl *server, const dp_source_opts *opts, const char *prefix, char ***names,
                        size_t *n, dp_err *err);
} dp_source_driver;

/* The driver for a database type, or NULL. */
const dp_source_driver *dp_source_for(dp_db_type type);
/* 1 when d restores backups of `format`. */
int dp_source_restores(const dp_source_driver *d, const char *format);
/* 1 when some driver restores backups of `format`. */
int dp_source_known_format(const char *format);
/* Validate a driver table (used by tests and at lookup). */
int dp_source_driver_valid(const dp_source_driver *d);

extern const dp_source_driver dp_source_sqlite;
extern const dp_source_driver dp_source_postgres;
extern const dp_source_driver dp_source_mysql;
extern const dp_source_driver dp_source_redis;
extern const dp_source_driver dp_source_mongodb;

#endif
