/* test_backup_age.c - encrypted backups through the job pipelines (lib/job/backup.h) over SQLite and
 * local storage: round trips with every codec and several recipients, the manifest's record, key-less
 * and keyed verify, restore without or with the wrong identity (EAUTH naming the recipients, target
 * untouched), tampering (ECORRUPT before the target is touched), .age names without a manifest. */
#include <dirent.h>
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

typedef struct {
    char dir[64];
    char *db, *url, *store;
    dp_age_identity ids[3]; /* ids[2] is a stranger's */
    dp_age_recipient r[3];
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

/* Every row, as text: enough to compare a restore with its source. */
static char *contents(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    dp_buf b = {0};
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT id, quote(v), quote(b) FROM t ORDER BY id", -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        dp_buf_printf(&b, "%lld|%s|%s\n", (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
                      sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return b.data;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    dp_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/dumper-unit-backup-age.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->db = dp_asprintf("%s/app.db", f->dir);
    f->url = dp_asprintf("sqlite://%s", f->db);
    f->store = dp_asprintf("%s/backups", f->dir);
    /* enough rows for several 64 KiB chunks after compression (random blobs do not compress) */
    exec_sql(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                    " INSERT INTO t SELECT i, 'row ' || i || ' it''s', randomblob(100) FROM n;");
    for (int i = 0; i < 3; i++) {
        if (dp_age_identity_generate(&f->ids[i], &err))
            return -1;
        dp_age_identity_recipient(&f->ids[i], &f->r[i]);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char *cmd = dp_asprintf("rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(cmd);
    free(f->db);
    free(f->url);
    free(f->store);
    free(f);
    return rc ? -1 : 0;
}

static void do_backup(fixture *f, dp_codec codec, const char *name, const dp_age_recipient *r, size_t nr,
                      dp_backup_result *res)
{
    dp_backup_req req;
    memset(&req, 0, sizeof req);
    req.db_url = f->url;
    req.storage = f->store;
    req.name = name;
    req.codec = codec;
    req.recipients = r;
    req.nrecipients = nr;
    dp_err err = {0};
    if (dp_backup_run(&req, res, &err))
        fail_msg("backup: %s", err.msg);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static int restore(fixture *f, dp_storage *st, const char *key, const char *sha, const dp_age_identity *ids,
                   size_t nids, const char *target, dp_err *err)
{
    char *url = dp_asprintf("sqlite://%s", target);
    dp_source_opts src = {0};
    dp_backup_read_opts o = {.sha256 = sha, .identities = ids, .nidentities = nids};
    int rc = dp_backup_restore_opts(st, key, &o, url, &src, err);
    free(url);
    return rc;
}

static void test_roundtrip(void **state)
{
    fixture *f = *state;
    char *want = contents(f->db);
    dp_codec codecs[] = {DP_CODEC_ZSTD, DP_CODEC_GZIP, DP_CODEC_NONE};
    const char *ext[] = {".sql.zst.age", ".sql.gz.age", ".sql.age"};
    dp_storage *st;
    dp_err err = {0};
    for (int c = 0; c < 3; c++) {
        dp_backup_result res;
        /* two recipients, one given twice: recorded once each, in order */
        dp_age_recipient rs[3] = {f->r[0], f->r[1], f->r[0]};
        do_backup(f, codecs[c], "enc", rs, 3, &res);
        assert_true(dp_str_has_suffix(res.key, ext[c]));
        assert_string_equal(res.m.encryption, "age");
        assert_int_equal(res.m.nrecipients, 2);
        assert_string_equal(res.m.recipients[0], f->r[0].str);
        assert_string_equal(res.m.recipients[1], f->r[1].str);
        /* stored: an age file, nothing of the dump in clear */
        size_t len;
        FILE *fp = fopen(res.path, "rb");
        char *data = malloc(res.m.size + 1);
        len = fread(data, 1, res.m.size + 1, fp);
        fclose(fp);
        assert_int_equal(len, res.m.size);
        assert_memory_equal(data, DP_AGE_INTRO, strlen(DP_AGE_INTRO));
        assert_null(memmem(data, len, "row 1", 5));
        assert_null(memmem(data, len, "CREATE TABLE", 12));
        char hex[65];
        dp_sha256_hex(data, len, hex);
        assert_string_equal(hex, res.m.sha256); /* the checksum is the ciphertext's */
        free(data);

        assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
        /* the manifest as stored */
        dp_manifest m;
        assert_int_equal(dp_backup_manifest(st, res.key, &m, &err), 0);
        assert_string_equal(m.encryption, "age");
        assert_int_equal(m.nrecipients, 2);
        dp_manifest_free(&m);
        /* verify: key-less, then with each identity (and the stranger's among them) */
        dp_backup_read_opts o = {0};
        assert_int_equal(dp_backup_verify_opts(st, res.key, &o, &m, &err), 0);
        dp_manifest_free(&m);
        for (int k = 0; k < 2; k++) {
            dp_age_identity two[2] = {f->ids[2], f->ids[k]};
            o.identities = two;
            o.nidentities = 2;
            if (dp_backup_verify_opts(st, res.key, &o, &m, &err))
                fail_msg("verify with identity %d: %s", k, err.msg);
            assert_int_equal(m.raw_size, res.m.raw_size);
            dp_manifest_free(&m);
            char *target = dp_asprintf("%s/r-%d-%d.db", f->dir, c, k);
            if (restore(f, st, res.key, NULL, &f->ids[k], 1, target, &err))
                fail_msg("restore with identity %d: %s", k, err.msg);
            char *got = contents(target);
            assert_string_equal(got, want);
            free(got);
            free(target);
        }
        /* listed, with its encryption */
        dp_manifest *items;
        size_t n;
        assert_int_equal(dp_backup_list(st, &items, &n, &err), 0);
        int seen = 0;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(items[i].name, res.key)) {
                seen = 1;
                assert_string_equal(items[i].encryption, "age");
            }
        assert_true(seen);
        dp_backup_list_free(items, n);
        dp_storage_close(st);
        dp_backup_result_free(&res);
    }
    free(want);
}

static void test_no_matching_identity(void **state)
{
    fixture *f = *state;
    dp_backup_result res;
    do_backup(f, DP_CODEC_ZSTD, "locked", f->r, 2, &res);
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
    char *tdir = dp_asprintf("%s/locked-target", f->dir), *target = dp_asprintf("%s/x.db", tdir);
    mkdir(tdir, 0700);
    /* no identity at all */
    assert_int_equal(restore(f, st, res.key, NULL, NULL, 0, target, &err), DUMPER_EAUTH);
    char *want = dp_asprintf("backup '%s' is encrypted (age) to %s, %s: give an identity of one of them with "
                             "--identity FILE (or DUMPER_IDENTITY)",
                             res.key, f->r[0].str, f->r[1].str);
    if (!strstr(err.msg, want))
        fail_msg("got: %s", err.msg);
    assert_non_null(strstr(err.msg, "restore of '"));
    free(want);
    /* a stranger's identity */
    dp_err_clear(&err);
    assert_int_equal(restore(f, st, res.key, NULL, &f->ids[2], 1, target, &err), DUMPER_EAUTH);
    want = dp_asprintf("backup '%s' is encrypted to %s, %s; none of the identities given matches (their recipients: "
                       "%s)",
                       res.key, f->r[0].str, f->r[1].str, f->r[2].str);
    if (!strstr(err.msg, want))
        fail_msg("got: %s", err.msg);
    free(want);
    assert_null(strstr(err.msg, "SECRET"));
    assert_int_equal(count_entries(tdir), 0);
    /* verify with it: the same answer */
    dp_err_clear(&err);
    dp_backup_read_opts o = {.identities = &f->ids[2], .nidentities = 1};
    assert_int_equal(dp_backup_verify_opts(st, res.key, &o, NULL, &err), DUMPER_EAUTH);
    /* an unencrypted backup ignores identities */
    dp_backup_result plain;
    do_backup(f, DP_CODEC_ZSTD, "plain", NULL, 0, &plain);
    assert_null(plain.m.encryption);
    assert_false(dp_str_has_suffix(plain.key, ".age"));
    dp_err_clear(&err);
    if (restore(f, st, plain.key, NULL, &f->ids[2], 1, target, &err))
        fail_msg("plain restore with an identity: %s", err.msg);
    dp_backup_result_free(&plain);
    free(tdir);
    free(target);
    dp_storage_close(st);
    dp_backup_result_free(&res);
}

static void flip(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x04;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static char *file_sha(const char *path)
{
    FILE *fp = fopen(path, "rb");
    dp_buf b = {0};
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, fp)) > 0)
        dp_buf_append(&b, tmp, r);
    fclose(fp);
    char *hex = malloc(65);
    dp_sha256_hex(b.data, b.len, hex);
    dp_buf_free(&b);
    return hex;
}

/* Rewrite the manifest's sha256 and size to match the (tampered) data, as someone who can write
 * the storage could: then only age's authentication stands between the change and the target. */
static void forge_manifest(dp_storage *st, const dp_backup_result *res)
{
    dp_manifest m;
    dp_err err = {0};
    assert_int_equal(dp_backup_manifest(st, res->key, &m, &err), 0);
    char *sha = file_sha(res->path);
    memcpy(m.sha256, sha, 65);
    struct stat sb;
    stat(res->path, &sb);
    m.size = (uint64_t)sb.st_size;
    char *json = dp_manifest_to_json(&m), *mpath = dp_asprintf("%s.json", res->path);
    FILE *fp = fopen(mpath, "wb");
    fputs(json, fp);
    fclose(fp);
    free(json);
    free(mpath);
    free(sha);
    dp_manifest_free(&m);
}

static void test_tamper(void **state)
{
    fixture *f = *state;
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(f->store, NULL, 0, &st, &err), 0);
    char *tdir = dp_asprintf("%s/tamper-target", f->dir), *target = dp_asprintf("%s/x.db", tdir);
    mkdir(tdir, 0700);
    /* where: in the header's stanza, in its MAC, in the payload (first and a later chunk), the
     * last byte; and a truncation; each with the manifest as it was, then forged to match */
    for (int kind = 0; kind < 6; kind++) {
        for (int forged = 0; forged < 2; forged++) {
            dp_backup_result res;
            char name[32];
            snprintf(name, sizeof name, "t%d%d", kind, forged);
            do_backup(f, DP_CODEC_NONE, name, f->r, 1, &res);
            assert_true(res.m.size > 3 * 65536);
            if (kind == 0)
                flip(res.path, 60); /* "-> X25519 <share>" */
            else if (kind == 1)
                flip(res.path, 100); /* the wrapped file key */
            else if (kind == 2)
                flip(res.path, 300);
            else if (kind == 3)
                flip(res.path, 2 * 65552 + 77);
            else if (kind == 4)
                flip(res.path, (off_t)res.m.size - 1);
            else
                assert_int_equal(truncate(res.path, (off_t)res.m.size - 65552), 0);
            if (forged)
                forge_manifest(st, &res);
            dp_err_clear(&err);
            int rc = restore(f, st, res.key, NULL, &f->ids[0], 1, target, &err);
            /* a changed stanza with a forged checksum: the identity's recipient is in the manifest
             * but opens nothing */
            int want = DUMPER_ECORRUPT;
            if (rc != want)
                fail_msg("kind %d forged %d: rc %d (%s)", kind, forged, rc, err.msg);

            if (!forged && !strstr(err.msg, kind == 5 ? "is truncated" : "is corrupt"))
                fail_msg("kind %d: %s", kind, err.msg);
            if (forged && kind >= 2 && kind <= 4 && !strstr(err.msg, "does not authenticate") &&
                !strstr(err.msg, "final age chunk"))
                fail_msg("kind %d forged: %s", kind, err.msg);
            assert_int_equal(count_entries(tdir), 0);
            dp_err_clear(&err);
            dp_backup_read_opts o = {.identities = &f->ids[0], .nidentities = 1};
            assert_int_equal(dp_backup_verify_opts(st, res.key, &o, NULL, &err), want);
            dp_backup_result_free(&res);
        }
    }
    /* a stanza that still parses but opens nothing, under a forged checksum: the manifest lists the
     * identity's recipient, so it is corrupt, not someone else's backup */
    dp_backup_result sres;
    do_backup(f, DP_CODEC_NONE, "stanza", f->r, 1, &sres);
    int fd = open(sres.path, O_RDWR);
    char c;
    assert_int_equal(pread(fd, &c, 1, 90), 1); /* in the wrapped key's base64, not its last character */
    c = c == 'A' ? 'B' : 'A';
    assert_int_equal(pwrite(fd, &c, 1, 90), 1);
    close(fd);
    forge_manifest(st, &sres);
    dp_err_clear(&err);
    assert_int_equal(restore(f, st, sres.key, NULL, &f->ids[0], 1, target, &err), DUMPER_ECORRUPT);
    char *lists = dp_asprintf("is corrupt: its manifest lists %s, an identity given, but no recipient stanza of "
                              "its age header opens with it",
                              f->r[0].str);
    if (!strstr(err.msg, lists))
        fail_msg("got: %s", err.msg);
    free(lists);
    /* a stranger's identity on the same file: not listed, so EAUTH */
    dp_err_clear(&err);
    assert_int_equal(restore(f, st, sres.key, NULL, &f->ids[2], 1, target, &err), DUMPER_EAUTH);
    assert_int_equal(count_entries(tdir), 0);
    dp_backup_result_free(&sres);
    /* short and broken at its first byte: the message gives the stored size, not what was hashed
     * before the error (nothing) */
    dp_backup_result res;
    do_backup(f, DP_CODEC_NONE, "short", f->r, 1, &res);
    assert_int_equal(truncate(res.path, 1000), 0);
    flip(res.path, 0);
    dp_err_clear(&err);
    assert_int_equal(restore(f, st, res.key, NULL, &f->ids[0], 1, target, &err), DUMPER_ECORRUPT);
    char *want = dp_asprintf("is truncated: 1000 of %llu bytes", (unsigned long long)res.m.size);
    if (!strstr(err.msg, want))
        fail_msg("got: %s", err.msg);
    free(want);
    assert_int_equal(count_entries(tdir), 0);
    dp_backup_result_free(&res);
    free(tdir);
    free(target);
    dp_storage_close(st);
}

static void test_names(void **state)
{
    static const struct {
        const char *name, *format;
        dp_codec codec;
    } good[] = {
        {"app-20261126T094500.123Z.sql.zst.age", "sql", DP_CODEC_ZSTD},
        {"app-20261126T094500.123Z.dump.gz.age", "dump", DP_CODEC_GZIP},
        {"app-20261126T094500.123Z.sql.age", "sql", DP_CODEC_NONE},
        {"shop-production-primary-20261126T094500.123Z-b12.sql.zst.age", "sql", DP_CODEC_ZSTD},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *fmt = NULL;
        dp_codec codec;
        int64_t ms;
        dp_err err = {0};
        if (dp_backup_parse_name(good[i].name, &fmt, &codec, &ms, &err))
            fail_msg("%s: %s", good[i].name, err.msg);
        assert_string_equal(fmt, good[i].format);
        assert_int_equal(codec, good[i].codec);
        assert_int_equal(ms, 1795686300123);
        free(fmt);
    }
    static const char *bad[] = {"app-20261126T094500.123Z.age", "app-20261126T094500.123Z.sql.age.zst",
                                "app-20261126T094500.123Z.zst.age", ".age"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *fmt = NULL;
        dp_codec codec;
        dp_err err = {0};
        if (dp_backup_parse_name(bad[i], &fmt, &codec, NULL, &err) != DUMPER_EUSAGE)
            fail_msg("'%s' parsed as %s", bad[i], fmt);
    }
}

static void test_without_manifest(void **state)
{
    fixture *f = *state;
    char *want = contents(f->db);
    dp_backup_result res;
    do_backup(f, DP_CODEC_ZSTD, "dl", &f->r[1], 1, &res);
    char stamp[24];
    dp_stamp_compact(res.m.created_ms, stamp);
    char *dir = dp_asprintf("%s/downloads", f->dir);
    char *name = dp_asprintf("shop-production-main-%s-b7.sql.zst.age", stamp);
    char *cmd = dp_asprintf("mkdir -p '%s' && cp '%s' '%s/%s'", dir, res.path, dir, name);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    dp_storage *st;
    dp_err err = {0};
    assert_int_equal(dp_storage_open(dir, NULL, 0, &st, &err), 0);
    /* key-less verify with the catalog's sha256 */
    dp_backup_read_opts o = {.sha256 = res.m.sha256};
    dp_manifest m;
    if (dp_backup_verify_opts(st, name, &o, &m, &err))
        fail_msg("verify: %s", err.msg);
    assert_string_equal(m.encryption, "age");
    dp_manifest_free(&m);
    /* with the identity: decompressed, the size found */
    o.identities = &f->ids[1];
    o.nidentities = 1;
    assert_int_equal(dp_backup_verify_opts(st, name, &o, &m, &err), 0);
    assert_int_equal(m.raw_size, res.m.raw_size);
    dp_manifest_free(&m);
    char *target = dp_asprintf("%s/dl.db", f->dir);
    if (restore(f, st, name, res.m.sha256, &f->ids[1], 1, target, &err))
        fail_msg("restore: %s", err.msg);
    char *got = contents(target);
    assert_string_equal(got, want);
    free(got);
    /* the wrong identity: no recipients known to name */
    char *t2 = dp_asprintf("%s/dl2.db", f->dir);
    dp_err_clear(&err);
    assert_int_equal(restore(f, st, name, res.m.sha256, &f->ids[0], 1, t2, &err), DUMPER_EAUTH);
    assert_non_null(strstr(err.msg, "is encrypted (age) and none of the identities given matches its recipients"));
    assert_non_null(strstr(err.msg, f->r[0].str));
    assert_int_equal(access(t2, F_OK), -1);
    dp_err_clear(&err);
    assert_int_equal(restore(f, st, name, res.m.sha256, NULL, 0, t2, &err), DUMPER_EAUTH);
    assert_non_null(strstr(err.msg, "is encrypted (age): give an identity"));
    free(t2);
    free(target);
    free(name);
    free(dir);
    free(want);
    dp_storage_close(st);
    dp_backup_result_free(&res);
}

static void test_too_many_recipients(void **state)
{
    fixture *f = *state;
    dp_age_recipient many[65];
    for (int i = 0; i < 65; i++)
        many[i] = f->r[i % 3];
    dp_backup_req req;
    memset(&req, 0, sizeof req);
    req.db_url = f->url;
    req.storage = f->store;
    req.name = "many";
    req.recipients = many;
    req.nrecipients = 65;
    dp_backup_result res;
    dp_err err = {0};
    assert_int_equal(dp_backup_run(&req, &res, &err), DUMPER_EUSAGE);
    assert_non_null(strstr(err.msg, "too many recipients (at most 64)"));
    /* nothing left behind under that name */
    DIR *d = opendir(f->store);
    struct dirent *e;
    while (d && (e = readdir(d)))
        assert_null(strstr(e->d_name, "many-"));
    if (d)
        closedir(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_no_matching_identity),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_without_manifest),
        cmocka_unit_test(test_too_many_recipients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
