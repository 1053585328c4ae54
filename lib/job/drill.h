/*
 * drill.h - restore drills: prove a backup restores and holds what its manifest says.
 *
 *   manifest -> throwaway target -> safe restore (dp_backup_restore_opts in one pass: the checksum
 *   verified while the target is fed, data only, nothing the backup carries is run as a command; no
 *   fsync of a throwaway file) -> count what the target holds
 *   (driver->inspect) -> compare with the manifest's contents -> the user's checks -> drop the target.
 *
 * Throwaway targets: SQLite a database in a new temporary directory "dumper-drill-<pid>-XXXXXX";
 * PostgreSQL a database "dumper_drill_<host>_<pid>_<unix time>" created on the scratch server
 * (template0) and dropped afterwards, also after a failure or an interrupt (SIGINT/SIGTERM set
 * dp_interrupted: the restore stops, the drop still runs). What a drill killed with SIGKILL left
 * (its process gone, or older than DP_DRILL_STALE_S) is dropped by the next drill on that server or
 * in that temporary directory. The source database is never touched: a drill only reads the backup.
 */
#ifndef DP_DRILL_H
#define DP_DRILL_H

#include <stdint.h>

#include "crypto/age.h"
#include "job/manifest.h"
#include "storage/storage.h"

#define DP_DRILL_PREFIX "dumper_drill_"
#define DP_DRILL_DIR_PREFIX "dumper-drill-"
#define DP_DRILL_STALE_S (24 * 3600)
#define DP_DRILL_MAX_CHECKS 64

typedef struct dp_drill_req {
    const char *scratch;           /* server URL for databases on a server (postgresql); NULL otherwise */
    const char *scratch_password;  /* when the scratch URL has none; NULL = the drivers' environment */
    const char *tmpdir;            /* sqlite: where the temporary directory goes; NULL = $TMPDIR or /tmp */
    const char *sha256;            /* expected sha256 or NULL */
    const dp_age_identity *identities;
    size_t nidentities;
    const char *const *check_names; /* the user's checks: a name (file) and one SQL query each */
    const char *const *check_sql;
    size_t nchecks;
} dp_drill_req;

typedef struct dp_drill_check {
    char *name;
    int ok;
    char detail[200];
} dp_drill_check;

typedef struct dp_drill_result {
    int passed;           /* restored, contents equal, every check true */
    int compared;         /* the manifest recorded contents (else restore-only) */
    dp_manifest m;        /* the backup's manifest */
    dp_contents found;    /* what the restored target holds */
    char **mismatches;    /* one printable line each */
    size_t nmismatches;
    dp_drill_check *checks;
    size_t nchecks;
    char target[96];      /* the scratch database or directory */
    int64_t restore_ms, total_ms;
} dp_drill_result;

/* Run a drill of `key`. 0: the drill ran and res->passed says how it went; else the restore or the
 * set-up failed (err filled; res->target says where, and the target is gone). Caller frees res. */
int dp_drill_run(dp_storage *st, const char *key, const dp_drill_req *req, dp_drill_result *res, dp_err *err);
void dp_drill_result_free(dp_drill_result *res);
/* The result as the `dumper drill --json` object (docs/drills.md "Output and exit codes"): err NULL when the
 * drill ran (status passed or failed), else the error that stopped it (status error). Caller frees; NULL on
 * OOM. drill_json.c. */
char *dp_drill_result_json(const char *backup, const dp_drill_result *r, const dp_err *err);

/* Pure: the differences between what the manifest recorded and what was found, as lines. -1 on OOM. */
int dp_drill_compare(const dp_contents *want, const dp_contents *got, char ***lines, size_t *n);
/* The same in other words: "<noun> 'x': 4 <unit> in the manifest, 3 restored", "... is missing from
 * the restored <place>" (Redis: database, keys, server). */
int dp_drill_compare_as(const dp_contents *want, const dp_contents *got, const char *noun, const char *unit,
                        const char *place, char ***lines, size_t *n);

/* Pure: a scratch database name's parts; 0 when `name` is one of ours. */
int dp_drill_parse_name(const char *name, char host[9], long *pid, int64_t *stamp);
/* 1 when a leftover scratch target named so may be dropped now: its process is gone from this host,
 * or it is older than DP_DRILL_STALE_S. */
int dp_drill_stale(const char *host, long pid, int64_t stamp, const char *our_host, int64_t now_s);

#endif
