/* test_service_ctx.c - the services' context and error convention (server/service/ctx.c, status.c): sd_txn
 * runs a step again after a conflict (SD_RETRY, injected) in a new transaction, so its writes happen once;
 * a store error becomes SD_INTERNAL with the store's message; a decision (sd_fail) rolls the transaction
 * back; outcomes carry their DUMPER_E* codes; the storage handle is opened once per context and S3 is told
 * from the driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "service/ctx.h"
#include "store_fixture.h"

typedef struct {
    int runs;
    int conflict; /* sd_fail after the insert */
} step_arg;

static int step(sd_ctx *ctx, void *a_, sd_status *st)
{
    step_arg *a = a_;
    a->runs++;
    SD_TRY(sd_q(ctx->db, NULL, &st->err, "INSERT INTO t (v) VALUES (?)", "i", (int64_t)a->runs));
    SD_TRY(sd_q(ctx->db, NULL, &st->err, "UPDATE t SET v = v + 100 WHERE v = ?", "i", (int64_t)a->runs));
    return a->conflict ? sd_fail(st, SD_CONFLICT, "backup 'b_%d' is %s", 7, "good") : 0;
}

static int64_t rows(sd_ctx *ctx)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(sd_q(ctx->db, &r, &err, "SELECT COUNT(*) FROM t", ""), 0);
    int64_t n = sd_geti(&r, 0, 0);
    sd_res_free(&r);
    return n;
}

static void txn(int pg)
{
    store_fixture f;
    sd_config cfg;
    sd_ctx ctx;
    dp_err err = {0};
    assert_int_equal(store_fixture_open(&f, pg), 0);
    sd_config_defaults(&cfg);
    assert_int_equal(sd_config_paths(&cfg, "/nonexistent", f.url, "/nonexistent/backups"), 0);
    if (sd_ctx_open(&ctx, &cfg, NULL, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(sd_exec(ctx.db, "CREATE TABLE t (v BIGINT)", &err), 0);

    /* A conflict on the step's second statement: rolled back, run again, its writes happen once. */
    for (int mode = SD_TXN_READ; mode <= SD_TXN_WRITE; mode++) {
        step_arg a = {0};
        sd_status st = SD_STATUS_INIT;
        sd_exec(ctx.db, "DELETE FROM t", &err);
        sd_db_inject_retry(ctx.db, 2);
        assert_int_equal(sd_txn(&ctx, mode, step, &a, &st), 0);
        assert_int_equal(st.outcome, SD_OK);
        assert_int_equal(a.runs, 2);
        assert_int_equal(rows(&ctx), 1);
    }
    /* A store error: SD_INTERNAL with the store's line, nothing written. */
    step_arg a = {0};
    sd_status st = SD_STATUS_INIT;
    sd_exec(ctx.db, "DELETE FROM t", &err);
    sd_db_inject_faults(ctx.db, 2, 0);
    assert_int_equal(sd_txn(&ctx, SD_TXN_WRITE, step, &a, &st), -1);
    assert_int_equal(st.outcome, SD_INTERNAL);
    assert_int_equal(st.err.code, DUMPER_EINTERNAL);
    assert_string_equal(st.err.msg, "state store: injected fault");
    assert_int_equal(a.runs, 1);
    assert_int_equal(rows(&ctx), 0);
    /* A decision: its outcome and code; the transaction rolled back. */
    a = (step_arg){.conflict = 1};
    st = (sd_status)SD_STATUS_INIT;
    assert_int_equal(sd_txn(&ctx, SD_TXN_WRITE, step, &a, &st), -1);
    assert_int_equal(st.outcome, SD_CONFLICT);
    assert_int_equal(st.err.code, DUMPER_EEXIST);
    assert_string_equal(st.err.msg, "backup 'b_7' is good");
    assert_int_equal(rows(&ctx), 0);
    /* Without a transaction each statement stands alone: the conflict reruns the whole step. */
    a = (step_arg){0};
    st = (sd_status)SD_STATUS_INIT;
    sd_db_inject_retry(ctx.db, 2);
    assert_int_equal(sd_txn(&ctx, SD_TXN_NONE, step, &a, &st), 0);
    assert_int_equal(a.runs, 2);
    assert_int_equal(rows(&ctx), 2);
    sd_ctx_close(&ctx);
    sd_config_free(&cfg);
    store_fixture_close(&f);
}

static void test_sqlite_txn(void **state) { txn(0); }

static void test_pg_txn(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    txn(1);
}

static void test_outcomes(void **state)
{
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_fail(&st, SD_NOT_FOUND, "unknown backup 'b_%d'", 3), -1);
    assert_int_equal(sd_fail(&st, SD_CONFLICT, "second"), -1); /* the first failure wins */
    assert_int_equal(st.outcome, SD_NOT_FOUND);
    assert_int_equal(st.err.code, DUMPER_ENOENT);
    assert_string_equal(st.err.msg, "unknown backup 'b_3'");
    st = (sd_status)SD_STATUS_INIT;
    sd_fail_code(&st, SD_STORAGE_FAILED, DUMPER_ECONNECT, "s3 down");
    assert_int_equal(st.err.code, DUMPER_ECONNECT);
    static const struct {
        sd_outcome o;
        int code;
    } codes[] = {{SD_INVALID, DUMPER_EUSAGE},         {SD_UNAUTHORIZED, DUMPER_EAUTH},
                 {SD_FORBIDDEN, DUMPER_EAUTH},        {SD_NOT_FOUND, DUMPER_ENOENT},
                 {SD_CONFLICT, DUMPER_EEXIST},        {SD_TOO_LARGE, DUMPER_ETOOLARGE},
                 {SD_VERIFY_FAILED, DUMPER_ECORRUPT}, {SD_INTERNAL, DUMPER_EINTERNAL},
                 {SD_STORAGE_FAILED, DUMPER_ESTORAGE}, {SD_UNAVAILABLE, DUMPER_EBUSY}};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        assert_int_equal(sd_outcome_code(codes[i].o), codes[i].code);
}

/* One storage handle per context, opened on first use; a local directory is not S3. */
static void test_storage_handle(void **state)
{
    store_fixture f;
    sd_config cfg;
    sd_ctx ctx;
    dp_err err = {0};
    char dir[64] = "/tmp/dumperd-stg.XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_fixture_open(&f, 0), 0);
    sd_config_defaults(&cfg);
    assert_int_equal(sd_config_paths(&cfg, dir, f.url, dir), 0);
    assert_int_equal(sd_ctx_open(&ctx, &cfg, NULL, &err), 0);
    dp_storage *s1 = sd_ctx_storage(&ctx, &err);
    assert_non_null(s1);
    assert_ptr_equal(sd_ctx_storage(&ctx, &err), s1);
    assert_ptr_equal(ctx.storage_drv, &dp_storage_local);
    assert_false(sd_ctx_presigned(&ctx));
    sd_ctx_close(&ctx);
    /* a context like this one knows the driver without opening anything */
    sd_ctx tmpl = {.cfg = &cfg, .storage_drv = &dp_storage_s3};
    assert_int_equal(sd_ctx_open_like(&ctx, &tmpl, &err), 0);
    assert_true(sd_ctx_presigned(&ctx));
    assert_null(ctx.stg);
    sd_ctx_close(&ctx);
    sd_config_free(&cfg);
    store_fixture_close(&f);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sqlite_txn), cmocka_unit_test(test_pg_txn),
                                       cmocka_unit_test(test_outcomes), cmocka_unit_test(test_storage_handle)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
