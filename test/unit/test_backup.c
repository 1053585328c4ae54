/* test_backup.c - the backup/verify/restore/list pipelines (lib/job/backup.h) over the SQLite source and
 * local storage: contents compared value by value (types, exact reals, blobs, rowids), every codec,
 * corrupt/truncated/missing backups, target rules (--force, empty target), size limits, listing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "core/util.h"
#include "job/backup.h"

/* Under valgrind, long double has only double precision, so SQLite's own decimal <-> double
 * conversions (which round through long double) are off by an ulp for values like 1e300: reals
 * are compared at 14 significant digits there, exactly (17) everywhere else. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

typedef struct {
    char dir[64];
    char *db, *url, *store;
} fixture;

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("sql failed: %s", msg);
    sqlite3_close(db);
}

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA user_version=20261126;"
    "PRAGMA application_id=1146440016;"
    "CREATE TABLE kinds(id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, r REAL, t TEXT, b BLOB, n);"
    "INSERT INTO kinds(i, r, t, b, n) VALUES"
    " (0, 0.1, 'plain', x'', NULL),"
    " (-9223372036854775808, 1e300, 'it''s \"quoted\"', x'00ff00', 1),"
    " (9223372036854775807, -2.5e-308, 'line1\nline2\r\n;\nEND;', x'0001020304', 'x'),"
    " (42, 1.0, 'unicode: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80', zeroblob(3), 2.0),"
    " (NULL, 3.141592653589793, '', NULL, x'41'),"
    " (7, 1e-5, CAST(x'61006200' AS TEXT), x'3b0a', 9e999),"
    " (8, -0.0, 'CREATE TABLE fake(x);', x'27', -9e999);"
    "DELETE FROM kinds WHERE id = 5;"
    "CREATE TABLE plain(a, b);" /* a rowid table without an INTEGER PRIMARY KEY */
    "INSERT INTO plain VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four');"
    "DELETE FROM plain WHERE a IN (1, 3);"
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "INSERT INTO kv VALUES ('b', 2), ('a', 1);"
    "CREATE TABLE gen(x INTEGER, y AS (x * 2), z AS (x + 1) STORED);"
    "INSERT INTO gen(x) VALUES (1), (5);"
    "CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT UNIQUE);"
    "CREATE TABLE child(id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent(id) ON DELETE CASCADE);"
    "INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');"
    "INSERT INTO child VALUES (10, 1), (11, 2), (12, 2);"
    "CREATE INDEX kinds_t ON kinds(t);"
    "CREATE VIEW kinds_view AS SELECT id, t FROM kinds WHERE i IS NOT NULL;"
    "CREATE TABLE audit(msg TEXT);"
    "CREATE TRIGGER kinds_ins AFTER INSERT ON kinds BEGIN INSERT INTO audit VALUES ('ins;\n' || new.id); END;"
    "INSERT INTO kinds(i) VALUES (100);"
    "CREATE VIRTUAL TABLE docs USING fts5(title, body);"
    "INSERT INTO docs VALUES ('hello', 'the quick brown fox'), ('bye', 'jumps over; the lazy dog');"
    "CREATE TABLE \"odd \"\"name\"\"\"(\"col one\" TEXT, rowid_like INTEGER);"
    "INSERT INTO \"odd \"\"name\"\"\" VALUES ('v', 1);"
    "ANALYZE;";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/dumper-unit-backup.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->db = dp_asprintf("%s/app.db", f->dir);
    f->url = dp_asprintf("sqlite://%s", f->db);
    f->store = dp_asprintf("%s/backups", f->dir);
    exec_sql(f->db, SCHEMA);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char *cmd = dp_asprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(cmd);
    free(f->db);
    free(f->url);
    free(f->store);
    free(f);
    return 0;
}

/* A canonical text of the whole database: schema, then every row of every table (rowid included
 * where there is one) with exact types and values. */
static char *canonical(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    dp_buf out = {0};
    sqlite3_stmt *st, *cols, *rows;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT type, name, tbl_name, coalesce(sql,'') FROM sqlite_schema "
                                        "WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0), *name = (const char *)sqlite3_column_text(st, 1);
        dp_buf_printf(&out, "%s %s: %s\n", type, name, sqlite3_column_text(st, 3));
        if (strcmp(type, "table") != 0 || strncmp(name, "sqlite_", 7) == 0)
            continue;
        char *q = sqlite3_mprintf("PRAGMA table_xinfo(%Q)", name);
        assert_int_equal(sqlite3_prepare_v2(db, q, -1, &cols, NULL), SQLITE_OK);
        sqlite3_free(q);
        dp_buf sel = {0};
        dp_buf_puts(&sel, "SELECT ");
        int ncols = 0;
        while (sqlite3_step(cols) == SQLITE_ROW) {
            char *e = sqlite3_mprintf("%s typeof(\"%w\") || ':' || CASE typeof(\"%w\") WHEN 'real' THEN printf('%s', "
                                      "\"%w\") WHEN 'null' THEN '' ELSE hex(\"%w\") END",
                                      ncols ? " || '|' ||" : "", sqlite3_column_text(cols, 1),
                                      sqlite3_column_text(cols, 1), RUNNING_ON_VALGRIND ? "%!.14g" : "%!.17g",
                                      sqlite3_column_text(cols, 1), sqlite3_column_text(cols, 1));
            dp_buf_puts(&sel, e);
            sqlite3_free(e);
            ncols++;
        }
        sqlite3_finalize(cols);
        if (!ncols) {
            dp_buf_free(&sel);
            continue;
        }
        /* with the rowid when the table has one */
        char *tail = sqlite3_mprintf(", _rowid_ FROM \"%w\" ORDER BY 1", name);
        dp_buf sel2 = {0};
        dp_buf_append(&sel2, sel.data, sel.len);
        dp_buf_puts(&sel2, tail);
        sqlite3_free(tail);
        if (sqlite3_prepare_v2(db, sel2.data, -1, &rows, NULL) != SQLITE_OK) {
            tail = sqlite3_mprintf(", NULL FROM \"%w\" ORDER BY 1", name); /* WITHOUT ROWID, virtual */
            dp_buf_puts(&sel, tail);
            sqlite3_free(tail);
            assert_int_equal(sqlite3_prepare_v2(db, sel.data, -1, &rows, NULL), SQLITE_OK);
        }
        while (sqlite3_step(rows) == SQLITE_ROW)
            dp_buf_printf(&out, "  row %s @%s\n", sqlite3_column_text(rows, 0),
                          sqlite3_column_text(rows, 1) ? (const char *)sqlite3_column_text(rows, 1) : "-");
        sqlite3_finalize(rows);
        dp_buf_free(&sel);
        dp_buf_free(&sel2);
    }
    sqlite3_finalize(st);
    /* the FTS index works after a restore */
    if (sqlite3_prepare_v2(db, "SELECT title FROM docs WHERE docs MATCH 'lazy'", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            dp_buf_printf(&out, "fts lazy: %s\n", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    /* header fields */
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM pragma_user_version, pragma_application_id", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    dp_buf_printf(&out, "user_version %lld application_id %lld\n", (long long)sqlite3_column_int64(st, 0),
                  (long long)sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out.data;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int progress_calls, progress_done;
static uint64_t progress_last;
static void on_progress(void *ctx, uint64_t raw, int done)
{
    progress_calls++;
    progress_last = raw;
    if (done)
        progress_done++;
}

static void do_backup(fixture *f, dp_codec codec, const char *name, dp_backup_result *res)
{
    dp_backup_req req;
    memset(&req, 0, sizeof req);
    req.db_url = f->url;
    req.storage = f->store;
    req.codec = codec;
    req.name = name;
    req.progress = on_progress;
    dp_err err = {0};
    if (dp_backup_run(&req, res, &err))
        fail_msg("backup failed: %s", err.msg);
}

static void test_roundtrip_all_codecs(void **state)
{
    fixture *f = *state;
    char *want = canonical(f->db);
    assert_non_null(strstr(want, "fts lazy: bye"));
    assert_non_null(strstr(want, "user_version 20261126 application_id 1146440016"));
    dp_codec codecs[] = {DP_CODEC_ZSTD, DP_CODEC_GZIP, DP_CODEC_NONE};
    for (int c = 0; c < 3; c++) {
        dp_backup_result res;
        progress_calls = progress_done = 0;
        do_backup(f, codecs[c], NULL, &res);
        assert_int_equal(progress_done, 1);
        assert_int_equal(progress_last, res.m.raw_size);
        /* name and manifest */
        assert_true(strncmp(res.key, "app-", 4) == 0);
        const char *ext = c == 0 ? ".sql.zst" : c == 1 ? ".sql.gz" : ".sql";
        assert_true(dp_str_has_suffix(res.key, ext));
        assert_string_equal(res.m.source_type, "sqlite");
        assert_string_equal(res.m.format, "sql");
        assert_string_equal(res.m.compression, dp_codec_name(codecs[c]));
        assert_string_equal(res.m.database, f->url);
        char *expect_path = dp_asprintf("%s/%s", f->store, res.key);
        assert_string_equal(res.path, expect_path);
        /* size and sha256 of the stored file match the manifest */
        struct stat sb;
        assert_int_equal(stat(res.path, &sb), 0);
        assert_int_equal((uint64_t)sb.st_size, res.m.size);
        int fd = open(res.path, O_RDONLY);
        char *data = malloc((size_t)sb.st_size + 1);
        assert_int_equal(dp_read_full(fd, data, (size_t)sb.st_size), sb.st_size);
        close(fd);
        char hex[65];
        dp_sha256_hex(data, (size_t)sb.st_size, hex);
        assert_string_equal(hex, res.m.sha256);
        if (codecs[c] == DP_CODEC_NONE) {
            assert_int_equal(res.m.size, res.m.raw_size);
            assert_memory_equal(data, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n", 44);
        } else {
            assert_true(res.m.size < res.m.raw_size);
        }
        free(data);
        free(expect_path);

        /* verify */
        dp_storage *st;
        dp_err err = {0};
        assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
        dp_manifest m;
        assert_int_equal(dp_backup_verify(st, res.key, NULL, &m, NULL, NULL, &err), 0);
        assert_string_equal(m.sha256, res.m.sha256);
        assert_int_equal(m.raw_size, res.m.raw_size);
        dp_manifest_free(&m);

        /* restore into a new file and compare everything */
        char *target = dp_asprintf("%s/restored-%d.db", f->dir, c), *turl = dp_asprintf("sqlite://%s", target);
        dp_source_opts src = {0};
        if (dp_backup_restore(st, res.key, NULL, turl, &src, NULL, NULL, &err))
            fail_msg("restore failed: %s", err.msg);
        char *got = canonical(target);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "--- want\n%s\n--- got\n%s\n", want, got);
            fail_msg("restored database differs (codec %d)", c);
        }
        free(got);
        /* the restored file is a normal rollback-journal database, 0600 */
        assert_int_equal(stat(target, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        free(target);
        free(turl);
        dp_storage_close(st);
        dp_backup_result_free(&res);
    }
    free(want);
}

static void test_restore_target_rules(void **state)
{
    fixture *f = *state;
    dp_backup_result res;
    do_backup(f, DP_CODEC_ZSTD, "rules", &res);
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
    char *want = canonical(f->db);

    /* a non-empty target is refused without force, and left alone */
    char *target = dp_asprintf("%s/t.db", f->dir), *turl = dp_asprintf("sqlite://%s", target);
    exec_sql(target, "CREATE TABLE keep(x); INSERT INTO keep VALUES (1);");
    dp_source_opts src = {0};
    assert_int_equal(dp_backup_restore(st, res.key, NULL, turl, &src, NULL, NULL, &err), DUMPER_EEXIST);
    assert_non_null(strstr(err.msg, "--force"));
    char *kept = canonical(target);
    assert_non_null(strstr(kept, "table keep"));
    free(kept);
    /* force replaces it (and its WAL) */
    exec_sql(target, "PRAGMA journal_mode=WAL; INSERT INTO keep VALUES (2);");
    src.force = 1;
    dp_err_clear(&err);
    if (dp_backup_restore(st, res.key, NULL, turl, &src, NULL, NULL, &err))
        fail_msg("forced restore failed: %s", err.msg);
    char *got = canonical(target);
    assert_string_equal(got, want);
    free(got);

    /* an existing empty file is not "non-empty": restore fills it without --force */
    char *empty = dp_asprintf("%s/empty.db", f->dir), *eurl = dp_asprintf("sqlite://%s", empty);
    int fd = open(empty, O_CREAT | O_WRONLY, 0600);
    close(fd);
    src.force = 0;
    dp_err_clear(&err);
    if (dp_backup_restore(st, res.key, NULL, eurl, &src, NULL, NULL, &err))
        fail_msg("restore into an empty file failed: %s", err.msg);
    got = canonical(empty);
    assert_string_equal(got, want);
    free(got);

    /* a target in a missing directory: an error, nothing created */
    char *nodir = dp_asprintf("sqlite://%s/no/such/dir/x.db", f->dir);
    dp_err_clear(&err);
    assert_int_not_equal(dp_backup_restore(st, res.key, NULL, nodir, &src, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "restore of"));

    /* restoring into another database type: unsupported (placeholder driver) or refused */
    dp_err_clear(&err);
    int rrc = dp_backup_restore(st, res.key, NULL, "redis://127.0.0.1:1/0", &src, NULL, NULL, &err);
    if (rrc != DUMPER_EUNSUPPORTED && rrc != DUMPER_EUSAGE)
        fail_msg("restore of a sqlite backup into redis: %d (%s)", rrc, err.msg);
    dp_err_clear(&err);
    assert_int_equal(dp_backup_restore(st, res.key, NULL, "nope://x", &src, NULL, NULL, &err), DUMPER_EURL);

    free(nodir);
    free(empty);
    free(eurl);
    free(want);
    free(target);
    free(turl);
    dp_storage_close(st);
    dp_backup_result_free(&res);
}

static void flip_byte(const char *path, off_t pos)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, pos), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, pos), 1);
    close(fd);
}

/* A backup named <prefix><c><damage>, then damaged: 0 not, 1 a byte flipped, 2 truncated, 3 junk appended. */
static void damaged_backup(fixture *f, dp_codec codec, const char *prefix, int c, int damage, dp_backup_result *res)
{
    char name[32];
    snprintf(name, sizeof name, "%s%d%d", prefix, c, damage);
    do_backup(f, codec, name, res);
    if (damage == 1) {
        flip_byte(res->path, (off_t)(res->m.size / 2));
    } else if (damage == 2) {
        assert_int_equal(truncate(res->path, (off_t)(res->m.size - 7)), 0);
    } else if (damage == 3) {
        FILE *fp = fopen(res->path, "a");
        fputs("junk", fp);
        fclose(fp);
    }
}

static void test_corrupt_backups(void **state)
{
    fixture *f = *state;
    dp_codec codecs[] = {DP_CODEC_ZSTD, DP_CODEC_GZIP, DP_CODEC_NONE};
    for (int c = 0; c < 3; c++) {
        for (int kind = 0; kind < 3; kind++) { /* flip, truncate, append */
            dp_backup_result res;
            damaged_backup(f, codecs[c], "bad", c, kind + 1, &res);
            dp_storage *st;
            dp_err err = {0};
            assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
            int rc = dp_backup_verify(st, res.key, NULL, NULL, NULL, NULL, &err);
            if (rc != DUMPER_ECORRUPT)
                fail_msg("codec %d kind %d: verify gave %d (%s)", c, kind, rc, err.msg);
            assert_non_null(strstr(err.msg, res.key));
            if (kind == 1 && !strstr(err.msg, "truncated"))
                fail_msg("codec %d: truncation reported as: %s", c, err.msg);
            /* a flipped byte is a checksum mismatch, never "truncated" (zstd and gzip stop at it) */
            if (kind == 0 && (!strstr(err.msg, "checksum mismatch") || strstr(err.msg, "truncated")))
                fail_msg("codec %d: a flipped byte reported as: %s", c, err.msg);
            /* restore refuses before touching the target: no file, no hidden partial */
            char *tdir = dp_asprintf("%s/target-%d-%d", f->dir, c, kind);
            mkdir(tdir, 0700);
            char *turl = dp_asprintf("sqlite://%s/x.db", tdir);
            dp_source_opts src = {0};
            dp_err e2 = {0};
            assert_int_equal(dp_backup_restore(st, res.key, NULL, turl, &src, NULL, NULL, &e2), DUMPER_ECORRUPT);
            assert_non_null(strstr(e2.msg, "restore of"));
            if (kind == 0 && !strstr(e2.msg, "checksum mismatch"))
                fail_msg("codec %d: restore of a flipped byte reported as: %s", c, e2.msg);
            assert_int_equal(count_entries(tdir), 0);
            free(tdir);
            free(turl);
            dp_storage_close(st);
            dp_backup_result_free(&res);
        }
    }
}

/* One-pass restores (a drill's throwaway target): a good backup restores; a damaged one fails with
 * the same error a verify names (checksum mismatch, truncated), the target aborted; a manifest whose
 * uncompressed size disagrees fails although nothing else is wrong (the check the verify pass made). */
static void test_one_pass(void **state)
{
    fixture *f = *state;
    dp_codec codecs[] = {DP_CODEC_ZSTD, DP_CODEC_GZIP, DP_CODEC_NONE};
    dp_backup_read_opts o = {.one_pass = 1};
    dp_source_opts src = {.throwaway = 1};
    for (int c = 0; c < 3; c++) {
        for (int kind = 0; kind < 3; kind++) { /* good, flip, truncate */
            dp_backup_result res;
            damaged_backup(f, codecs[c], "one", c, kind, &res);
            dp_storage *st;
            dp_err err = {0};
            assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
            char *tdir = dp_asprintf("%s/one-%d-%d", f->dir, c, kind);
            mkdir(tdir, 0700);
            char *turl = dp_asprintf("sqlite://%s/x.db", tdir);
            int rc = dp_backup_restore_opts(st, res.key, &o, turl, &src, &err);
            if (kind == 0) {
                if (rc)
                    fail_msg("codec %d: one-pass restore of a good backup: %s", c, err.msg);
                assert_int_equal(count_entries(tdir), 1);
            } else {
                if (rc != DUMPER_ECORRUPT)
                    fail_msg("codec %d kind %d: one-pass restore gave %d (%s)", c, kind, rc, err.msg);
                if (!strstr(err.msg, kind == 1 ? "checksum mismatch" : "is truncated"))
                    fail_msg("codec %d kind %d: reported as: %s", c, kind, err.msg);
                assert_int_equal(count_entries(tdir), 0);
            }
            free(tdir);
            free(turl);
            dp_storage_close(st);
            dp_backup_result_free(&res);
        }
    }
    /* the manifest's uncompressed size one more than the dump's */
    dp_backup_result res;
    do_backup(f, DP_CODEC_ZSTD, "onesize", &res);
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
    char *mkey = dp_asprintf("%s.json", res.key), *mpath = dp_asprintf("%s.json", res.path), *json;
    size_t len;
    assert_int_equal(dp_storage_get(st, mkey, 65536, &json, &len, &err), 0);
    char want[64], *pos;
    snprintf(want, sizeof want, "\"raw_size\":\t%llu,", (unsigned long long)res.m.raw_size);
    assert_non_null(pos = strstr(json, want));
    dp_buf b = {0};
    dp_buf_printf(&b, "%.*s\"raw_size\":\t%llu,%s", (int)(pos - json), json, (unsigned long long)res.m.raw_size + 1,
                  pos + strlen(want));
    unlink(mpath);
    assert_int_equal(dp_storage_put(st, mkey, b.data, b.len, &err), 0);
    char *tdir = dp_asprintf("%s/one-size", f->dir), *turl = dp_asprintf("sqlite://%s/x.db", tdir);
    mkdir(tdir, 0700);
    assert_int_equal(dp_backup_restore_opts(st, res.key, &o, turl, &src, &err), DUMPER_ECORRUPT);
    char line[200];
    snprintf(line, sizeof line, "decompresses to %llu bytes, its manifest says %llu",
             (unsigned long long)res.m.raw_size, (unsigned long long)res.m.raw_size + 1);
    if (!strstr(err.msg, line))
        fail_msg("raw size reported as: %s", err.msg);
    assert_int_equal(count_entries(tdir), 0);
    dp_buf_free(&b);
    free(json);
    free(mkey);
    free(mpath);
    free(tdir);
    free(turl);
    dp_storage_close(st);
    dp_backup_result_free(&res);
}

static void test_manifest_problems(void **state)
{
    fixture *f = *state;
    dp_backup_result res;
    do_backup(f, DP_CODEC_ZSTD, "man", &res);
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
    /* missing backup */
    assert_int_equal(dp_backup_verify(st, "nope.sql.zst", NULL, NULL, NULL, NULL, &err), DUMPER_ENOENT);
    assert_non_null(strstr(err.msg, "not found"));
    /* manifest with a wrong sha256 */
    char *mpath = dp_asprintf("%s.json", res.path);
    char *json;
    size_t len;
    char *mkey = dp_asprintf("%s.json", res.key);
    dp_err_clear(&err);
    assert_int_equal(dp_storage_get(st, mkey, 65536, &json, &len, &err), 0);
    char *pos = strstr(json, res.m.sha256);
    assert_non_null(pos);
    pos[0] = pos[0] == 'a' ? 'b' : 'a';
    unlink(mpath);
    assert_int_equal(dp_storage_put(st, mkey, json, len, &err), 0);
    assert_int_equal(dp_backup_verify(st, res.key, NULL, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
    assert_non_null(strstr(err.msg, "sha256"));
    /* manifest with a wrong size */
    dp_err_clear(&err);
    pos[0] = pos[0] == 'a' ? 'b' : 'a'; /* restore the hash */
    char sizebuf[64];
    snprintf(sizebuf, sizeof sizebuf, "\"size\":\t%llu", (unsigned long long)res.m.size);
    char *sp = strstr(json, sizebuf);
    assert_non_null(sp);
    sp[strlen(sizebuf) - 1] = sp[strlen(sizebuf) - 1] == '1' ? '2' : '1';
    unlink(mpath);
    assert_int_equal(dp_storage_put(st, mkey, json, len, &err), 0);
    assert_int_equal(dp_backup_verify(st, res.key, NULL, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
    /* garbage manifest */
    dp_err_clear(&err);
    unlink(mpath);
    assert_int_equal(dp_storage_put(st, mkey, "{nope", 5, &err), 0);
    assert_int_equal(dp_backup_verify(st, res.key, NULL, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
    assert_non_null(strstr(err.msg, "manifest"));
    /* no manifest at all: unverifiable (corrupt), the one line says to pass the sha256 */
    dp_err_clear(&err);
    unlink(mpath);
    assert_int_equal(dp_backup_verify(st, res.key, NULL, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
    assert_non_null(strstr(err.msg, "no manifest"));
    assert_non_null(strstr(err.msg, "--sha256"));
    assert_null(strchr(err.msg, '\n'));
    /* a backup without manifest is not listed */
    dp_manifest *items;
    size_t n;
    dp_err_clear(&err);
    assert_int_equal(dp_backup_list(st, &items, &n, &err), 0);
    assert_int_equal(n, 0);
    dp_backup_list_free(items, n);
    free(json);
    free(mkey);
    free(mpath);
    dp_storage_close(st);
    dp_backup_result_free(&res);
}


static void test_parse_name(void **state)
{
    (void)state;
    char *fmt = NULL;
    dp_codec codec;
    int64_t ms = -1;
    dp_err err = {0};
    /* dumper's names (dp_backup_key) and dumperd's (<app>-<env>-<db>-<stamp>-b<id>, Content-Disposition) */
    static const struct {
        const char *name, *format;
        dp_codec codec;
        int64_t ms;
    } good[] = {
        {"app-20261126T094500.123Z.sql.zst", "sql", DP_CODEC_ZSTD, 1795686300123},
        {"shop-production-primary-20261126T094500.123Z-b12.sql.zst", "sql", DP_CODEC_ZSTD, 1795686300123},
        {"some/dir/x-19700101T000000.000Z.dump.gz", "dump", DP_CODEC_GZIP, 0},
        {"cache-20261126T094500.005Z-b7.rdb", "rdb", DP_CODEC_NONE, 1795686300005},
        {"a-b-c-20261126T094500.005Z.tar.zst", "tar", DP_CODEC_ZSTD, 1795686300005},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (dp_backup_parse_name(good[i].name, &fmt, &codec, &ms, &err))
            fail_msg("%s: %s", good[i].name, err.msg);
        assert_string_equal(fmt, good[i].format);
        assert_int_equal(codec, good[i].codec);
        assert_int_equal(ms, good[i].ms);
        free(fmt);
        fmt = NULL;
    }
    static const char *const bad[] = {
        "backup.sql.zst",                        /* no timestamp */
        "-20261126T094500.123Z.sql.zst",         /* no name */
        "x-20261126T094500.123Z.zst",            /* no format */
        "x-20261126T094500.123Z",                /* nothing after the stamp */
        "x-20261326T094500.123Z.sql.zst",        /* month 13 */
        "x-20261126T094500.123Z-b.sql.zst",      /* -b without an id */
        "x-20261126T094500.123Z.sql (1).zst",    /* renamed by a browser */
        "x-20261126T094500.123Z.txt.zst",        /* no source restores "txt" */
        "x-20261126T094500.123Z.sql.zst.zst",
        "x-20261126T0945001.23Z.sql",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err_clear(&err);
        int rc = dp_backup_parse_name(bad[i], &fmt, &codec, &ms, &err);
        if (rc != DUMPER_EUSAGE)
            fail_msg("'%s' parsed (%d, %s)", bad[i], rc, fmt ? fmt : "");
        assert_null(strchr(err.msg, '\n'));
    }
    assert_non_null(strstr(err.msg, "<name>-<UTC timestamp>.<format>"));
}

/* A file downloaded from dumperd: the data file alone, under dumperd's name, no manifest beside it. */
static char *download_copy(fixture *f, const dp_backup_result *res, const char *name)
{
    char *dir = dp_asprintf("%s/downloads", f->dir), *to = dp_asprintf("%s/%s", dir, name);
    mkdir(dir, 0700);
    char *cmd = dp_asprintf("cp '%s' '%s'", res->path, to);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(dir);
    return to;
}

static void test_restore_without_manifest(void **state)
{
    fixture *f = *state;
    char *want = canonical(f->db);
    dp_codec codecs[] = {DP_CODEC_ZSTD, DP_CODEC_GZIP, DP_CODEC_NONE};
    const char *exts[] = {"sql.zst", "sql.gz", "sql"};
    char *dl_dir = dp_asprintf("%s/downloads", f->dir);
    for (int c = 0; c < 3; c++) {
        dp_backup_result res;
        do_backup(f, codecs[c], "shop", &res);
        char stamp[24], name[160];
        dp_stamp_compact(res.m.created_ms, stamp);
        snprintf(name, sizeof name, "shop-production-primary-%s-b%d.%s", stamp, 10 + c, exts[c]);
        char *dl = download_copy(f, &res, name);
        dp_storage *st;
        dp_err err = {0};
        assert_int_equal(dp_storage_open(dl_dir, NULL, 0, &st, &err), 0);

        /* verify: the same checks, the uncompressed size found by decompressing to the end */
        dp_manifest m;
        if (dp_backup_verify(st, name, res.m.sha256, &m, NULL, NULL, &err))
            fail_msg("verify %s: %s", name, err.msg);
        assert_string_equal(m.sha256, res.m.sha256);
        assert_int_equal(m.size, res.m.size);
        assert_int_equal(m.raw_size, res.m.raw_size);
        assert_string_equal(m.format, "sql");
        assert_string_equal(m.compression, dp_codec_name(codecs[c]));
        assert_int_equal(m.created_ms, res.m.created_ms);
        dp_manifest_free(&m);
        /* upper-case hex is the same checksum */
        char upper[65];
        for (int i = 0; i < 65; i++)
            upper[i] = (char)(res.m.sha256[i] >= 'a' && res.m.sha256[i] <= 'f' ? res.m.sha256[i] - 32 : res.m.sha256[i]);
        assert_int_equal(dp_backup_verify(st, name, upper, NULL, NULL, NULL, &err), 0);
        /* without the sha256: refused, saying what to pass */
        dp_err_clear(&err);
        assert_int_equal(dp_backup_verify(st, name, NULL, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
        assert_non_null(strstr(err.msg, "--sha256"));
        assert_non_null(strstr(err.msg, name));

        /* restore with the catalog's sha256 into a new database: equal */
        char *target = dp_asprintf("%s/dl-%d.db", f->dir, c), *turl = dp_asprintf("sqlite://%s", target);
        dp_source_opts src = {0};
        dp_err_clear(&err);
        if (dp_backup_restore(st, name, res.m.sha256, turl, &src, NULL, NULL, &err))
            fail_msg("restore of %s: %s", name, err.msg);
        char *got = canonical(target);
        assert_string_equal(got, want);
        free(got);

        /* wrong sha256, no sha256, bad hex, a target that cannot take "sql": refused, target untouched */
        char *tdir = dp_asprintf("%s/dl-target-%d", f->dir, c), *t2 = dp_asprintf("sqlite://%s/x.db", tdir);
        mkdir(tdir, 0700);
        char wrong[65];
        memcpy(wrong, res.m.sha256, 65);
        wrong[10] = wrong[10] == '0' ? '1' : '0';
        dp_err_clear(&err);
        assert_int_equal(dp_backup_restore(st, name, wrong, t2, &src, NULL, NULL, &err), DUMPER_ECORRUPT);
        assert_non_null(strstr(err.msg, "does not match the expected sha256"));
        assert_non_null(strstr(err.msg, wrong));
        dp_err_clear(&err);
        assert_int_equal(dp_backup_verify(st, name, wrong, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
        dp_err_clear(&err);
        assert_int_equal(dp_backup_restore(st, name, NULL, t2, &src, NULL, NULL, &err), DUMPER_ECORRUPT);
        assert_non_null(strstr(err.msg, "pass its sha256 with --sha256"));
        assert_null(strchr(err.msg, '\n'));
        dp_err_clear(&err);
        assert_int_equal(dp_backup_restore(st, name, "abc", t2, &src, NULL, NULL, &err), DUMPER_EUSAGE);
        assert_non_null(strstr(err.msg, "64 hex digits"));
        src.restore_file = dp_asprintf("%s/dump.rdb", tdir);
        dp_err_clear(&err);
        assert_int_equal(dp_backup_restore(st, name, res.m.sha256, "redis://127.0.0.1:1/0", &src, NULL, NULL, &err),
                         DUMPER_EUSAGE);
        assert_non_null(strstr(err.msg, "'sql' backup, which redis cannot restore"));
        free((char *)src.restore_file);
        src.restore_file = NULL;
        assert_int_equal(count_entries(tdir), 0);

        /* a truncated download, and one whose name says zstd but holds something else: the sha256
         * given for exactly those bytes matches, decompression to the end does not */
        if (codecs[c] != DP_CODEC_NONE) {
            assert_int_equal(truncate(dl, (off_t)(res.m.size - 9)), 0);
            char *data;
            size_t len;
            dp_err_clear(&err);
            assert_int_equal(dp_storage_get(st, name, 1 << 20, &data, &len, &err), 0);
            char hex[65];
            dp_sha256_hex(data, len, hex);
            free(data);
            assert_int_equal(dp_backup_restore(st, name, hex, t2, &src, NULL, NULL, &err), DUMPER_ECORRUPT);
            assert_int_equal(count_entries(tdir), 0);
        } else {
            char zname[160];
            snprintf(zname, sizeof zname, "shop-%s.sql.zst", stamp);
            char *z = download_copy(f, &res, zname);
            dp_err_clear(&err);
            assert_int_equal(dp_backup_verify(st, zname, res.m.sha256, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
            dp_err_clear(&err);
            assert_int_equal(dp_backup_restore(st, zname, res.m.sha256, t2, &src, NULL, NULL, &err), DUMPER_ECORRUPT);
            assert_int_equal(count_entries(tdir), 0);
            free(z);
        }
        /* a file name that says nothing of the format: one clear line */
        char *odd = download_copy(f, &res, "backup.sql.zst");
        dp_err_clear(&err);
        assert_int_equal(dp_backup_restore(st, "backup.sql.zst", res.m.sha256, t2, &src, NULL, NULL, &err),
                         DUMPER_EUSAGE);
        assert_non_null(strstr(err.msg, "cannot tell the format and compression of 'backup.sql.zst'"));
        assert_null(strchr(err.msg, '\n'));
        assert_int_equal(count_entries(tdir), 0);
        unlink(odd);
        free(odd);
        /* a missing file is still "not found" */
        dp_err_clear(&err);
        assert_int_equal(dp_backup_verify(st, "nope-20261126T094500.123Z.sql.zst", res.m.sha256, NULL, NULL, NULL, &err),
                         DUMPER_ENOENT);

        /* with its manifest: --sha256 is an extra check that must agree */
        dp_storage *bst;
        dp_err_clear(&err);
        assert_int_equal(dp_storage_open(f->store, NULL, 0, &bst, &err), 0);
        assert_int_equal(dp_backup_verify(bst, res.key, res.m.sha256, NULL, NULL, NULL, &err), 0);
        assert_int_equal(dp_backup_verify(bst, res.key, wrong, NULL, NULL, NULL, &err), DUMPER_ECORRUPT);
        assert_non_null(strstr(err.msg, "its manifest says sha256"));
        dp_err_clear(&err);
        assert_int_equal(dp_backup_restore(bst, res.key, wrong, t2, &src, NULL, NULL, &err), DUMPER_ECORRUPT);
        assert_int_equal(count_entries(tdir), 0);
        char *t3 = dp_asprintf("sqlite://%s/y.db", tdir);
        dp_err_clear(&err);
        if (dp_backup_restore(bst, res.key, res.m.sha256, t3, &src, NULL, NULL, &err))
            fail_msg("restore with manifest and sha256: %s", err.msg);
        assert_int_equal(count_entries(tdir), 1);
        free(t3);
        dp_storage_close(bst);

        free(tdir);
        free(t2);
        free(target);
        free(turl);
        free(dl);
        dp_storage_close(st);
        dp_backup_result_free(&res);
    }
    free(dl_dir);
    free(want);
}

static void test_list_newest_first(void **state)
{
    fixture *f = *state;
    dp_backup_result r[3];
    for (int i = 0; i < 3; i++) {
        do_backup(f, DP_CODEC_ZSTD, NULL, &r[i]);
        usleep(5000); /* distinct millisecond stamps */
    }
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
    dp_manifest *items;
    size_t n;
    assert_int_equal(dp_backup_list(st, &items, &n, &err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(items[i].name, r[2 - i].key);
    assert_true(items[0].created_ms > items[1].created_ms);
    /* file names sort by time too */
    assert_true(strcmp(r[0].key, r[1].key) < 0 && strcmp(r[1].key, r[2].key) < 0);
    dp_backup_list_free(items, n);
    dp_storage_close(st);
    for (int i = 0; i < 3; i++)
        dp_backup_result_free(&r[i]);
}

static void test_backup_failures(void **state)
{
    fixture *f = *state;
    dp_backup_req req;
    memset(&req, 0, sizeof req);
    req.storage = f->store;
    req.codec = DP_CODEC_ZSTD;
    dp_backup_result res;
    dp_err err = {0};
    /* missing database: nothing created, not even the storage directory */
    char *missing = dp_asprintf("sqlite://%s/missing.db", f->dir);
    req.db_url = missing;
    assert_int_equal(dp_backup_run(&req, &res, &err), DUMPER_ENOENT);
    assert_non_null(strstr(err.msg, "missing.db"));
    assert_int_equal(count_entries(f->store), -1);
    /* not a database */
    char *junk = dp_asprintf("%s/junk.db", f->dir);
    FILE *fp = fopen(junk, "w");
    fputs("this is not a database, just some text long enough to have a header of sorts....", fp);
    fclose(fp);
    char *junkurl = dp_asprintf("sqlite://%s", junk);
    req.db_url = junkurl;
    dp_err_clear(&err);
    assert_int_equal(dp_backup_run(&req, &res, &err), DUMPER_ESOURCE);
    assert_int_equal(count_entries(f->store), -1);
    /* malformed and unsupported URLs */
    req.db_url = "sqlite://host/x";
    dp_err_clear(&err);
    assert_int_equal(dp_backup_run(&req, &res, &err), DUMPER_EURL);
    req.db_url = "mongodb://127.0.0.1:1/x";
    dp_err_clear(&err);
    int rc = dp_backup_run(&req, &res, &err);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(rc, DUMPER_EURL);
    /* unknown format */
    req.db_url = f->url;
    req.src.format = "dump";
    dp_err_clear(&err);
    assert_int_equal(dp_backup_run(&req, &res, &err), DUMPER_EUSAGE);
    req.src.format = NULL;
    /* size limit: fails, leaves nothing */
    req.max_size = 100;
    dp_err_clear(&err);
    assert_int_equal(dp_backup_run(&req, &res, &err), DUMPER_ETOOLARGE);
    assert_non_null(strstr(err.msg, "size limit"));
    assert_int_equal(count_entries(f->store), 0);
    req.max_size = 1 << 30;
    dp_err_clear(&err);
    assert_int_equal(dp_backup_run(&req, &res, &err), 0);
    dp_backup_result_free(&res);
    /* interrupted: nothing left */
    req.max_size = 0;
    dp_interrupted = 1;
    dp_err_clear(&err);
    rc = dp_backup_run(&req, &res, &err);
    dp_interrupted = 0;
    assert_int_equal(rc, DUMPER_EINTR);
    assert_int_equal(count_entries(f->store), 2); /* the good backup and its manifest only */
    free(missing);
    free(junk);
    free(junkurl);
}

static void test_key(void **state)
{
    char *k = dp_backup_key("app", 1795686300123, "sql", DP_CODEC_ZSTD);
    assert_string_equal(k, "app-20261126T094500.123Z.sql.zst");
    free(k);
    k = dp_backup_key("app", 1795686300005, "sql", DP_CODEC_NONE);
    assert_string_equal(k, "app-20261126T094500.005Z.sql");
    free(k);
    k = dp_backup_key("x", 0, "dump", DP_CODEC_GZIP);
    assert_string_equal(k, "x-19700101T000000.000Z.dump.gz");
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_all_codecs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_target_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_backups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_failures, setup, teardown),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_parse_name),
        cmocka_unit_test_setup_teardown(test_restore_without_manifest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
