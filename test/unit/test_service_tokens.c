/* test_service_tokens.c - API tokens through the services on a real store (server/service/tokens.c over
 * store/tokens.c), on SQLite and, when the test service runs, PostgreSQL: a token is stored only as its
 * SHA-256; the bearer check finds its scope and app, refuses a revoked one at once and an expired one at its
 * expiry (a frozen clock), takes an app key as SD_SCOPE_APP_KEY on its app; names, scopes, lifetimes and
 * apps are checked with exact messages; last use is written at most once a minute; deleting an app deletes
 * its tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/util.h"
#include "io/filter.h"
#include "service/admin.h"
#include "service/tokens.h"
#include "store_fixture.h"

#define T0 INT64_C(1800000000000)
#define DAY INT64_C(86400000)

typedef struct {
    store_fixture f;
    sd_config cfg;
    sd_clock clock;
    sd_ctx ctx;
} world;

static void open_world(world *w, int pg)
{
    dp_err err = {0};
    assert_int_equal(store_fixture_open(&w->f, pg), 0);
    sd_config_defaults(&w->cfg);
    assert_int_equal(sd_config_paths(&w->cfg, "/nonexistent", w->f.url, "/nonexistent/backups"), 0);
    sd_clock_init(&w->clock, 1, T0);
    if (sd_ctx_open(&w->ctx, &w->cfg, &w->clock, &err) || sd_schema_migrate(w->ctx.db, &err))
        fail_msg("%s", err.msg);
}

static void close_world(world *w)
{
    sd_ctx_close(&w->ctx);
    sd_config_free(&w->cfg);
    store_fixture_close(&w->f);
}

/* The first cell of a query with one text parameter (or none: arg NULL). sql is a literal: it keys the
 * store's statement cache (store/db.h). */
static int64_t cell(sd_ctx *ctx, const char *sql, const char *arg)
{
    sd_res r;
    dp_err err = {0};
    assert_int_equal(arg ? sd_q(ctx->db, &r, &err, sql, "s", arg) : sd_q(ctx->db, &r, &err, sql, ""), 0);
    int64_t n = r.rows ? sd_geti(&r, 0, 0) : -1;
    sd_res_free(&r);
    return n;
}
#define count(ctx, sql) cell(ctx, sql, NULL)

static void expect_fail(int rc, const sd_status *st, sd_outcome o, const char *msg)
{
    assert_int_equal(rc, -1);
    assert_int_equal(st->outcome, o);
    assert_string_equal(st->err.msg, msg);
}

static void tokens(int pg)
{
    world w;
    open_world(&w, pg);
    sd_ctx *ctx = &w.ctx;
    char key[68], tok[68], tok2[68];
    int64_t shop = 0, other = 0, id = 0;
    sd_status st = SD_STATUS_INIT;
    assert_int_equal(sd_app_create(ctx, "shop", key, &shop, &st), 0);
    assert_int_equal(sd_app_create(ctx, "other", tok2, &other, &st), 0);

    /* creation: shown once, stored as its SHA-256 only */
    sd_token_spec spec = {"ci", "write", "shop", 30};
    assert_int_equal(sd_token_create(ctx, &spec, tok, &id, &st), 0);
    assert_true(sd_token_well_formed(tok));
    char hash[65], like[32];
    dp_sha256_hex(tok, 67, hash);
    assert_int_equal(cell(ctx, "SELECT expires_at FROM api_tokens WHERE token_hash = ?", hash), T0 + 30 * DAY);
    snprintf(like, sizeof like, "%%%.20s%%", tok + 3);
    assert_int_equal(cell(ctx, "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE ?", like), 0);

    /* bad specs: exact messages, nothing stored */
    struct {
        sd_token_spec s;
        sd_outcome o;
        const char *msg;
    } bad[] = {
        {{"ci", "read", NULL, 0}, SD_CONFLICT, "token 'ci' already exists (revoked tokens keep their names)"},
        {{"bad name", "read", NULL, 0}, SD_INVALID, "a token name is 1-64 characters of [A-Za-z0-9_.-]"},
        {{"x", "root", NULL, 0}, SD_INVALID, "unknown scope 'root' (read, write or admin)"},
        {{"x", NULL, NULL, 0}, SD_INVALID, "unknown scope '' (read, write or admin)"},
        {{"x", "read", "nope", 0}, SD_NOT_FOUND, "no app named 'nope' (dumperd app list)"},
        {{"x", "read", NULL, 3651}, SD_INVALID, "a token lives 1 to 3650 days (0 or none: it never expires)"},
        {{"x", "read", NULL, -1}, SD_INVALID, "a token lives 1 to 3650 days (0 or none: it never expires)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sd_status b = SD_STATUS_INIT;
        char t[68];
        expect_fail(sd_token_create(ctx, &bad[i].s, t, &id, &b), &b, bad[i].o, bad[i].msg);
    }
    assert_int_equal(count(ctx, "SELECT COUNT(*) FROM api_tokens"), 1);

    /* the bearer check */
    sd_principal p;
    assert_int_equal(sd_auth_bearer(ctx, tok, &p, &st), 0);
    assert_int_equal(p.scope, SD_SCOPE_WRITE);
    assert_int_equal(p.app, shop);
    assert_int_equal(sd_auth_bearer(ctx, key, &p, &st), 0);
    assert_int_equal(p.scope, SD_SCOPE_APP_KEY);
    assert_int_equal(p.app, shop);
    const char *refused[] = {NULL, "", "dt_", "Bearer"};
    for (size_t i = 0; i < 4; i++) {
        sd_status b = SD_STATUS_INIT;
        expect_fail(sd_auth_bearer(ctx, refused[i], &p, &b), &b, SD_UNAUTHORIZED,
                    "missing, wrong, expired or revoked token");
    }
    char wrong[68];
    memcpy(wrong, tok, 68);
    wrong[66] = wrong[66] == '0' ? '1' : '0';
    sd_status b = SD_STATUS_INIT;
    expect_fail(sd_auth_bearer(ctx, wrong, &p, &b), &b, SD_UNAUTHORIZED, "missing, wrong, expired or revoked token");
    b = (sd_status)SD_STATUS_INIT;
    wrong[1] = 'k'; /* "dk_...": an app key that is not one */
    expect_fail(sd_auth_bearer(ctx, wrong, &p, &b), &b, SD_UNAUTHORIZED, "missing or wrong app key");

    /* last use: written at the first use, not again within a minute */
    static const char sql[] = "SELECT last_used_at FROM api_tokens WHERE name = 'ci'";
    assert_int_equal(count(ctx, sql), T0);
    sd_clock_set_ms(&w.clock, T0 + 59000);
    assert_int_equal(sd_auth_bearer(ctx, tok, &p, &st), 0);
    assert_int_equal(count(ctx, sql), T0);
    sd_clock_set_ms(&w.clock, T0 + 61000);
    assert_int_equal(sd_auth_bearer(ctx, tok, &p, &st), 0);
    assert_int_equal(count(ctx, sql), T0 + 61000);

    /* expiry: live until the last millisecond before it */
    sd_clock_set_ms(&w.clock, T0 + 30 * DAY - 1);
    assert_int_equal(sd_auth_bearer(ctx, tok, &p, &st), 0);
    sd_clock_set_ms(&w.clock, T0 + 30 * DAY);
    b = (sd_status)SD_STATUS_INIT;
    expect_fail(sd_auth_bearer(ctx, tok, &p, &b), &b, SD_UNAUTHORIZED, "missing, wrong, expired or revoked token");
    sd_clock_set_ms(&w.clock, T0);

    /* revocation: at once; a second revoke is not found; the list keeps it */
    sd_token_spec g = {"global", "admin", NULL, 0};
    assert_int_equal(sd_token_create(ctx, &g, tok2, &id, &st), 0);
    assert_int_equal(sd_auth_bearer(ctx, tok2, &p, &st), 0);
    assert_int_equal(p.scope, SD_SCOPE_ADMIN);
    assert_int_equal(p.app, 0);
    assert_int_equal(sd_token_revoke(ctx, "global", 0, &st), 0);
    b = (sd_status)SD_STATUS_INIT;
    expect_fail(sd_auth_bearer(ctx, tok2, &p, &b), &b, SD_UNAUTHORIZED, "missing, wrong, expired or revoked token");
    b = (sd_status)SD_STATUS_INIT;
    expect_fail(sd_token_revoke(ctx, "global", 0, &b), &b, SD_NOT_FOUND,
                "no live token named 'global' (dumperd token list)");
    b = (sd_status)SD_STATUS_INIT;
    expect_fail(sd_token_revoke(ctx, NULL, id, &b), &b, SD_NOT_FOUND, "no live token with id 2");
    sd_token_list l;
    assert_int_equal(sd_tokens(ctx, &l, &st), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "ci");
    assert_string_equal(l.v[0].app_name, "shop");
    assert_string_equal(l.v[1].name, "global");
    assert_null(l.v[1].app_name);
    assert_int_equal(l.v[1].revoked_at, T0);
    sd_list_free(&l);

    /* an app's tokens go with it */
    int removed = 0, left = 0;
    assert_int_equal(sd_app_delete(ctx, shop, 0, &removed, &left, &st), 0);
    assert_int_equal(count(ctx, "SELECT COUNT(*) FROM api_tokens"), 1);
    b = (sd_status)SD_STATUS_INIT;
    expect_fail(sd_auth_bearer(ctx, tok, &p, &b), &b, SD_UNAUTHORIZED, "missing, wrong, expired or revoked token");
    dp_memzero(tok, sizeof tok);
    close_world(&w);
}

static void test_sqlite(void **state) { tokens(0); }

static void test_pg(void **state)
{
    if (!store_fixture_have_pg())
        skip();
    tokens(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sqlite), cmocka_unit_test(test_pg)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
