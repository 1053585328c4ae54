/*
 * dburl.h - database URLs, parsed in one place.
 *
 *   sqlite:///abs/path.db   sqlite:relative/path.db   (also sqlite3:)
 *   postgres://user:pass@host:5432/db?sslmode=...     (also postgresql:; host lists "h1:5432,h2:5433"
 *                                                      as libpq takes them, e.g. with target_session_attrs)
 *   mysql://user:pass@host:3306/db                    (also mariadb:, mysql2:)
 *   redis://[user[:pass]@]host:6379/0                 (also rediss:)
 *   mongodb://user:pass@host:27017/db?authSource=...  (also host lists "h1,h2:27018", mongodb+srv:)
 *
 * The parser is pure (string in, struct or error out) so it can be fuzzed. User, password and
 * database name are percent-decoded. Error messages and dp_dburl_redacted() never show the password.
 */
#ifndef DP_DBURL_H
#define DP_DBURL_H

#include <stddef.h>

#include "core/err.h"

typedef enum dp_db_type {
    DP_DB_SQLITE = 0,
    DP_DB_POSTGRES,
    DP_DB_MYSQL,
    DP_DB_REDIS,
    DP_DB_MONGODB,
    DP_DB__COUNT
} dp_db_type;

typedef struct dp_kv {
    char *key, *value;
} dp_kv;

typedef struct dp_hostport {
    char *host; /* decoded; IPv6 without brackets */
    int port;   /* 0 if absent (the database's default) */
} dp_hostport;

typedef struct dp_dburl {
    dp_db_type type;
    char *scheme;   /* as written, lowercased ("postgresql") */
    char *user;     /* NULL if absent */
    char *password; /* NULL if absent; never log */
    char *host;     /* NULL if absent; IPv6 without brackets. With a host list: the first entry's */
    char *hosts;    /* mongodb, postgresql: the raw "h1:p1,h2:p2" list when several hosts are given */
    dp_hostport *hostlist; /* the same list parsed, in order (nhosts >= 2); NULL for a single host */
    size_t nhosts;  /* entries in hostlist; 0 for a single host */
    int port;       /* 0 if absent. With a host list: the first entry's */
    char *dbname;   /* path after the host without the leading '/', decoded; NULL if absent */
    char *path;     /* sqlite: the file path as given (absolute or relative) */
    dp_kv *params;  /* query parameters, decoded */
    size_t nparams;
} dp_dburl;

/* Parse `s` into `out` (zeroed first). On error fills err (DUMPER_EURL) and leaves out empty. */
int dp_dburl_parse(const char *s, dp_dburl *out, dp_err *err);
void dp_dburl_free(dp_dburl *u);
/* Value of a query parameter, or NULL. Borrowed from u. */
const char *dp_dburl_param(const dp_dburl *u, const char *key);
/* The URL rebuilt with the password replaced by "***". Caller frees. */
char *dp_dburl_redacted(const dp_dburl *u);
/* Redact any "scheme://user:secret@" in an arbitrary string (for error messages about URLs that did
 * not parse). Caller frees. */
char *dp_url_redact_raw(const char *s);
/* "sqlite", "postgresql", "mysql", "redis", "mongodb". */
const char *dp_db_type_name(dp_db_type t);
/* A short name for the database, used in backup file names: the sqlite file's base name without
 * extension, else dbname, else the type. Caller frees. Only [A-Za-z0-9_.-] survive. */
char *dp_dburl_short_name(const dp_dburl *u);

#endif
