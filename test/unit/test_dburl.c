/* test_dburl.c - the database URL parser: schemes and aliases, sqlite paths, percent-decoding, IPv6,
 * ports, query parameters, malformed input, and that no message or redaction ever shows a password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dburl.h"

static void parse_ok(const char *s, dp_dburl *u)
{
    dp_err err = {0};
    int rc = dp_dburl_parse(s, u, &err);
    if (rc)
        fail_msg("'%s' did not parse: %s", s, err.msg);
    assert_int_equal(err.code, 0);
}

/* Parse must fail with DUMPER_EURL, a message containing `why`, and never `secret`. */
static void parse_bad(const char *s, const char *why, const char *secret)
{
    dp_dburl u;
    dp_err err = {0};
    int rc = dp_dburl_parse(s, &u, &err);
    if (rc != DUMPER_EURL)
        fail_msg("'%s': expected DUMPER_EURL, got %d (%s)", s, rc, err.msg);
    assert_int_equal(err.code, DUMPER_EURL);
    assert_non_null(strstr(err.msg, "malformed database url"));
    if (why && !strstr(err.msg, why))
        fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, why);
    if (secret && strstr(err.msg, secret))
        fail_msg("'%s': message '%s' leaks the password", s, err.msg);
    /* the struct is left empty */
    assert_null(u.scheme);
    assert_null(u.password);
    assert_null(u.host);
    assert_null(u.hostlist);
    assert_int_equal(u.nhosts, 0);
    assert_null(u.params);
}

static void test_schemes_and_aliases(void **state)
{
    static const struct {
        const char *url;
        dp_db_type type;
        const char *scheme;
    } cases[] = {
        {"sqlite:///a.db", DP_DB_SQLITE, "sqlite"},
        {"sqlite3:///a.db", DP_DB_SQLITE, "sqlite3"},
        {"SQLite:///a.db", DP_DB_SQLITE, "sqlite"},
        {"postgres://h/db", DP_DB_POSTGRES, "postgres"},
        {"postgresql://h/db", DP_DB_POSTGRES, "postgresql"},
        {"postgis://h/db", DP_DB_POSTGRES, "postgis"},
        {"POSTGRES://h/db", DP_DB_POSTGRES, "postgres"},
        {"mysql://h/db", DP_DB_MYSQL, "mysql"},
        {"mysql2://h/db", DP_DB_MYSQL, "mysql2"},
        {"mariadb://h/db", DP_DB_MYSQL, "mariadb"},
        {"trilogy://h/db", DP_DB_MYSQL, "trilogy"},
        {"redis://h", DP_DB_REDIS, "redis"},
        {"rediss://h:6380/2", DP_DB_REDIS, "rediss"},
        {"mongodb://h/db", DP_DB_MONGODB, "mongodb"},
        {"mongodb+srv://cluster.example.com/db", DP_DB_MONGODB, "mongodb+srv"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dp_dburl u;
        parse_ok(cases[i].url, &u);
        assert_int_equal(u.type, cases[i].type);
        assert_string_equal(u.scheme, cases[i].scheme);
        dp_dburl_free(&u);
    }
    assert_string_equal(dp_db_type_name(DP_DB_SQLITE), "sqlite");
    assert_string_equal(dp_db_type_name(DP_DB_POSTGRES), "postgresql");
    assert_string_equal(dp_db_type_name(DP_DB_MYSQL), "mysql");
    assert_string_equal(dp_db_type_name(DP_DB_REDIS), "redis");
    assert_string_equal(dp_db_type_name(DP_DB_MONGODB), "mongodb");
    assert_string_equal(dp_db_type_name((dp_db_type)99), "unknown");
}

static void test_sqlite_paths(void **state)
{
    dp_dburl u;
    parse_ok("sqlite:///var/lib/app/prod.sqlite3", &u);
    assert_string_equal(u.path, "/var/lib/app/prod.sqlite3");
    assert_null(u.host);
    assert_null(u.password);
    char *red = dp_dburl_redacted(&u);
    assert_string_equal(red, "sqlite:///var/lib/app/prod.sqlite3");
    free(red);
    char *sn = dp_dburl_short_name(&u);
    assert_string_equal(sn, "prod");
    free(sn);
    dp_dburl_free(&u);

    parse_ok("sqlite:db/development.sqlite3", &u);
    assert_string_equal(u.path, "db/development.sqlite3");
    red = dp_dburl_redacted(&u);
    assert_string_equal(red, "sqlite:db/development.sqlite3");
    free(red);
    dp_dburl_free(&u);

    parse_ok("sqlite://localhost/tmp/x.db", &u);
    assert_string_equal(u.path, "/tmp/x.db");
    dp_dburl_free(&u);

    parse_ok("sqlite:///tmp/with%20space%25.db?mode=ro&cache=shared", &u);
    assert_string_equal(u.path, "/tmp/with space%.db");
    assert_int_equal(u.nparams, 2);
    assert_string_equal(dp_dburl_param(&u, "mode"), "ro");
    assert_string_equal(dp_dburl_param(&u, "cache"), "shared");
    assert_null(dp_dburl_param(&u, "nope"));
    sn = dp_dburl_short_name(&u);
    assert_string_equal(sn, "with_space_"); /* only [A-Za-z0-9_.-] survive */
    free(sn);
    dp_dburl_free(&u);

    parse_ok("sqlite:plain", &u);
    assert_string_equal(u.path, "plain");
    sn = dp_dburl_short_name(&u);
    assert_string_equal(sn, "plain");
    free(sn);
    dp_dburl_free(&u);

    parse_ok("sqlite:///dir/.hidden", &u); /* a leading dot is not an extension */
    sn = dp_dburl_short_name(&u);
    assert_string_equal(sn, ".hidden");
    free(sn);
    dp_dburl_free(&u);

    parse_bad("sqlite:", "missing path", NULL);
    parse_bad("sqlite://", "missing path", NULL);
    parse_bad("sqlite://host/x.db", "no host", NULL);
    parse_bad("sqlite:?mode=ro", "missing path", NULL);
    parse_bad("sqlite:///a%zz.db", "percent", NULL);
    parse_bad("sqlite:///a%00.db", "percent", NULL);
    parse_bad("sqlite:///a%4", "percent", NULL);
}

static void test_full_urls(void **state)
{
    dp_dburl u;
    parse_ok("postgresql://app%40corp:p%40ss%3Aw%2Fd@db.example.com:6543/my%20db?sslmode=require&application_name=a+b",
             &u);
    assert_int_equal(u.type, DP_DB_POSTGRES);
    assert_string_equal(u.user, "app@corp");
    assert_string_equal(u.password, "p@ss:w/d");
    assert_string_equal(u.host, "db.example.com");
    assert_int_equal(u.port, 6543);
    assert_string_equal(u.dbname, "my db");
    assert_string_equal(dp_dburl_param(&u, "sslmode"), "require");
    assert_string_equal(dp_dburl_param(&u, "application_name"), "a b");
    char *red = dp_dburl_redacted(&u);
    assert_null(strstr(red, "p@ss"));
    assert_non_null(strstr(red, ":***@db.example.com:6543/"));
    free(red);
    char *sn = dp_dburl_short_name(&u);
    assert_string_equal(sn, "my_db");
    free(sn);
    dp_dburl_free(&u);

    /* user without password, password without user, neither */
    parse_ok("mysql://root@127.0.0.1/app", &u);
    assert_string_equal(u.user, "root");
    assert_null(u.password);
    assert_int_equal(u.port, 0);
    red = dp_dburl_redacted(&u);
    assert_string_equal(red, "mysql://root@127.0.0.1/app");
    free(red);
    dp_dburl_free(&u);

    parse_ok("redis://:s3cret@cache:6379/3", &u);
    assert_null(u.user);
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.dbname, "3");
    red = dp_dburl_redacted(&u);
    assert_string_equal(red, "redis://:***@cache:6379/3");
    free(red);
    sn = dp_dburl_short_name(&u); /* a redis db number is not a name */
    assert_string_equal(sn, "redis");
    free(sn);
    dp_dburl_free(&u);

    /* empty password is still a password (present, empty) */
    parse_ok("postgres://u:@h/d", &u);
    assert_string_equal(u.password, "");
    dp_dburl_free(&u);

    /* a literal '@' in the password: the last '@' ends the user info */
    parse_ok("postgres://u:p@ss@h/d", &u);
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "h");
    dp_dburl_free(&u);

    /* host-less postgres/mysql (unix socket), host in the query */
    parse_ok("postgres:///app?host=/var/run/postgresql", &u);
    assert_null(u.host);
    assert_string_equal(u.dbname, "app");
    assert_string_equal(dp_dburl_param(&u, "host"), "/var/run/postgresql");
    dp_dburl_free(&u);
    parse_ok("mysql:///app", &u);
    dp_dburl_free(&u);
    parse_ok("redis:///0?host=/tmp/redis.sock", &u);
    dp_dburl_free(&u);

    /* no path at all */
    parse_ok("mongodb://mongo.local", &u);
    assert_null(u.dbname);
    sn = dp_dburl_short_name(&u);
    assert_string_equal(sn, "mongodb");
    free(sn);
    dp_dburl_free(&u);
    parse_ok("postgres://h/", &u);
    assert_null(u.dbname);
    dp_dburl_free(&u);
}

static void test_ipv6_and_ports(void **state)
{
    dp_dburl u;
    parse_ok("postgres://u:pw@[::1]:5433/db", &u);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 5433);
    char *red = dp_dburl_redacted(&u);
    assert_string_equal(red, "postgres://u:***@[::1]:5433/db");
    free(red);
    dp_dburl_free(&u);

    parse_ok("redis://[2001:db8::17]/1", &u);
    assert_string_equal(u.host, "2001:db8::17");
    assert_int_equal(u.port, 0);
    dp_dburl_free(&u);

    parse_ok("mysql://[fe80::1%25eth0]:3306/x", &u);
    assert_non_null(u.host);
    assert_int_equal(u.port, 3306);
    dp_dburl_free(&u);

    parse_ok("mysql://h:1/x", &u);
    assert_int_equal(u.port, 1);
    dp_dburl_free(&u);
    parse_ok("mysql://h:65535/x", &u);
    assert_int_equal(u.port, 65535);
    dp_dburl_free(&u);
    parse_ok("mysql://h:00080/x", &u);
    assert_int_equal(u.port, 80);
    dp_dburl_free(&u);

    parse_bad("postgres://[::1/db", "unterminated", NULL);
    parse_bad("postgres://[::1]x/db", "after ']'", NULL);
    parse_bad("postgres://[::1]:/db", "empty port", NULL);
    parse_bad("postgres://[]/db", NULL, NULL);
    parse_bad("postgres://[g::1]/db", NULL, NULL);
    parse_bad("postgres://h:/db", "empty port", NULL);
    parse_bad("postgres://h:0/db", "out of range", NULL);
    parse_bad("postgres://h:65536/db", "out of range", NULL);
    parse_bad("postgres://h:99999999999999999999/db", "out of range", NULL);
    parse_bad("postgres://h:-1/db", "not a number", NULL);
    parse_bad("postgres://h:54x/db", "not a number", NULL);
    parse_bad("postgres://h: 5/db", "not a number", NULL);
    parse_bad("postgres://:5432/db", "port without host", NULL);
}

static void test_query_params(void **state)
{
    dp_dburl u;
    parse_ok("mongodb://h/db?authSource=admin&&replicaSet=rs%300&flag&empty=&a=1=2", &u);
    assert_int_equal(u.nparams, 5);
    assert_string_equal(dp_dburl_param(&u, "authSource"), "admin");
    assert_string_equal(dp_dburl_param(&u, "replicaSet"), "rs00");
    assert_string_equal(dp_dburl_param(&u, "flag"), "");
    assert_string_equal(dp_dburl_param(&u, "empty"), "");
    assert_string_equal(dp_dburl_param(&u, "a"), "1=2");
    dp_dburl_free(&u);

    parse_ok("postgres://h/db?password=qs%2Fsecret&sslpassword=keypw&user=x", &u);
    assert_string_equal(dp_dburl_param(&u, "password"), "qs/secret");
    char *red = dp_dburl_redacted(&u);
    assert_null(strstr(red, "secret"));
    assert_null(strstr(red, "keypw"));
    assert_non_null(strstr(red, "password=***"));
    assert_non_null(strstr(red, "user=x"));
    free(red);
    dp_dburl_free(&u);

    parse_bad("postgres://h/db?x=%G1", "query", NULL);
    parse_bad("postgres://h/db?x=1#frag", "fragment", NULL);
    parse_bad("postgres://h#frag", "fragment", NULL);
}

static void test_malformed(void **state)
{
    dp_dburl u;
    dp_err err = {0};
    assert_int_equal(dp_dburl_parse("", &u, &err), DUMPER_EURL);
    assert_non_null(strstr(err.msg, "empty"));
    dp_err_clear(&err);
    assert_int_equal(dp_dburl_parse(NULL, &u, &err), DUMPER_EURL);

    parse_bad("no-scheme-here", "missing scheme", NULL);
    parse_bad(":nothing", "missing scheme", NULL);
    parse_bad("/abs/path.db", "missing scheme", NULL);
    parse_bad("ftp://h/x", "unknown scheme", NULL);
    parse_bad("averyveryverylongschemename://h/x", "unknown scheme", NULL);
    parse_bad("postgres:h/db", "'//'", NULL);
}

/* Which schemes may omit the host. */
static void test_hostless_rules(void **state)
{
    dp_dburl u;
    dp_err err = {0};
    /* redis and mongodb need a host; postgres and mysql can use a socket */
    assert_int_equal(dp_dburl_parse("redis://", &u, &err), DUMPER_EURL);
    assert_non_null(strstr(err.msg, "missing host"));
    dp_err_clear(&err);
    assert_int_equal(dp_dburl_parse("mongodb:///db", &u, &err), DUMPER_EURL);
    dp_err_clear(&err);
    assert_int_equal(dp_dburl_parse("mysql://", &u, &err), 0);
    dp_dburl_free(&u);
    parse_bad("redis://h/abc", "number", NULL);
    parse_bad("postgres://bad host/db", "invalid character", NULL);
    parse_bad("mysql://h,h2/db", "several hosts are only supported for postgresql and mongodb", NULL);
    parse_bad("postgres://h\x01/db", "control", NULL);
    parse_bad("postgres://h/db\x7f", "control", NULL);
    parse_bad("postgres://h/db\n", "control", NULL);
}

/* Passwords that make the URL malformed in every way: messages must never show them. */
static void test_errors_never_leak_password(void **state)
{
    static const char *const bad[] = {
        "postgres://user:Hunter2Secret@h:notaport/db",
        "postgres://user:Hunter2Secret@h:99999/db",
        "postgres://user:Hunter2Secret@[::1/db",
        "postgres://user:Hunter2Secret@[::1]x/db",
        "postgres://user:Hunter2Secret@bad host/db",
        "postgres://user:Hunter2Secret@h/db#frag",
        "postgres://user:Hunter2Secret@h/db?x=%zz",
        "postgres://user:Hunter2Secret%zz@h/db",
        "postgres://us%zzer:Hunter2Secret@h/db",
        "postgres://user:Hunter2/Secret@h/db",   /* unencoded '/' in the password */
        "mysql://user:Hunter2://Secret@h:x/db",  /* "://" in the password */
        "mysql://ro://Hunter2Secret@h:/x",
        "postgres://user:Hunter2?Secret@h/db",   /* unencoded '?' */
        "postgres://user:Hunter2#Secret@h/db",   /* unencoded '#' */
        "postgres://user:Hunter2 Secret@h:x/db", /* a space */
        "postgres://user:Hunter2Secret@h:1:2/db",
        "postgres:user:Hunter2Secret@h/db", /* no '//' */
        "postgres:/user:Hunter2Secret@h/db",
        "mysql://user:Hunter2Secret@h/db?password=Hunter2Secret#x",
        "ftp://user:Hunter2Secret@h/db",
        "foo:user:Hunter2Secret@h/db",
        "redis://:Hunter2Secret@h/notanumber",
        "redis://user:Hunter2Secret@/0",
        "mongodb://user:Hunter2Secret@h1:27017,h2:27017/db",
        "sqlite://user:Hunter2Secret@host/x.db",
        "postgres://h/db?password=Hunter2Secret&x=%zz",
        "postgres://h/db?PASSWORD=Hunter2Secret&x=%zz",
        "postgres://h/db?sslpassword=Hunter2Secret#",
        "postgres://u:Hunter2Secret@h/db\x01",
        "postgres://u:Hunter2Secret@h/db?x=1#y",
        "unknown+scheme-that-is-long://u:Hunter2Secret@h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_dburl u;
        dp_err err = {0};
        int rc = dp_dburl_parse(bad[i], &u, &err);
        if (rc == 0) {
            char *red = dp_dburl_redacted(&u);
            if (strstr(red, "Hunter2") || strstr(red, "Secret"))
                fail_msg("redacted '%s' leaks: %s", bad[i], red);
            free(red);
            dp_dburl_free(&u);
        } else {
            assert_int_equal(rc, DUMPER_EURL);
            if (strstr(err.msg, "Hunter2") || strstr(err.msg, "Secret"))
                fail_msg("error for '%s' leaks: %s", bad[i], err.msg);
        }
        char *raw = dp_url_redact_raw(bad[i]);
        assert_non_null(raw);
        if (strstr(raw, "Hunter2") || strstr(raw, "Secret"))
            fail_msg("dp_url_redact_raw('%s') leaks: %s", bad[i], raw);
        free(raw);
    }
}

static void test_redact_raw(void **state)
{
    char *r = dp_url_redact_raw("connect to postgres://bob:pw1@h/db and mysql://al:pw2@m/x failed");
    assert_null(strstr(r, "pw1"));
    assert_null(strstr(r, "pw2"));
    assert_non_null(strstr(r, "postgres://bob:***@h/db"));
    assert_non_null(strstr(r, "mysql://al:***@m/x"));
    free(r);
    r = dp_url_redact_raw("postgres://h:5432/db?user=u&password=pw3&x=1");
    assert_null(strstr(r, "pw3"));
    assert_non_null(strstr(r, "password=***&x=1"));
    free(r);
    /* values shorter than "***" (the redaction grows the string), empty values, any case */
    r = dp_url_redact_raw("x?password=a&password=&PASSWORD=bb&sslpassword=c");
    assert_string_equal(r, "x?password=***&password=&PASSWORD=***&sslpassword=***");
    free(r);
    r = dp_url_redact_raw("nothing secret here");
    assert_string_equal(r, "nothing secret here");
    free(r);
    r = dp_url_redact_raw("");
    assert_string_equal(r, "");
    free(r);
    r = dp_url_redact_raw("postgres://user@h/db");
    assert_string_equal(r, "postgres://user@h/db");
    free(r);
}

static void test_redacted_roundtrip(void **state)
{
    /* The redacted form of a password-less URL parses back to the same fields. */
    static const char *const urls[] = {
        "postgres://u@h:5432/db?sslmode=require", "mysql://h/app", "redis://h:6379/0",
        "mongodb://u@[::1]:27017/db?authSource=admin", "sqlite:///abs/x.db", "sqlite:rel/x.db",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        dp_dburl a, b;
        parse_ok(urls[i], &a);
        char *red = dp_dburl_redacted(&a);
        parse_ok(red, &b);
        assert_int_equal(a.type, b.type);
        assert_int_equal(a.port, b.port);
        assert_true((a.host == NULL) == (b.host == NULL));
        if (a.host)
            assert_string_equal(a.host, b.host);
        if (a.path)
            assert_string_equal(a.path, b.path);
        assert_int_equal(a.nparams, b.nparams);
        free(red);
        dp_dburl_free(&a);
        dp_dburl_free(&b);
    }
    dp_dburl_free(NULL);
}

/* MongoDB replica-set seed lists: each entry validated, the first fills host/port, the list is kept
 * (and shown by the redaction, without the password); other databases refuse lists. */
static void test_mongodb_host_lists(void **state)
{
    (void)state;
    dp_dburl u;
    parse_ok("mongodb://app:s3cret@db1.example.com,db2.example.com:27018,[::1]:27019/shop?replicaSet=rs0", &u);
    assert_string_equal(u.host, "db1.example.com");
    assert_int_equal(u.port, 0);
    assert_string_equal(u.hosts, "db1.example.com,db2.example.com:27018,[::1]:27019");
    assert_string_equal(u.dbname, "shop");
    assert_string_equal(u.password, "s3cret");
    char *red = dp_dburl_redacted(&u);
    assert_string_equal(red, "mongodb://app:***@db1.example.com,db2.example.com:27018,[::1]:27019/shop?replicaSet=rs0");
    free(red);
    dp_dburl_free(&u);

    parse_ok("mongodb://h1:1,h2:2", &u);
    assert_string_equal(u.host, "h1");
    assert_int_equal(u.port, 1);
    assert_string_equal(u.hosts, "h1:1,h2:2");
    dp_dburl_free(&u);

    parse_ok("mongodb+srv://cluster0.example.net/shop", &u);
    assert_null(u.hosts);
    assert_string_equal(u.host, "cluster0.example.net");
    dp_dburl_free(&u);

    parse_bad("mongodb://u:pw1234@h1,,h2/db", "empty host in the host list", "pw1234");
    parse_bad("mongodb://h1,/db", "empty host in the host list", NULL);
    parse_bad("mongodb://,h1/db", "empty host in the host list", NULL);
    parse_bad("mongodb://h1,h2:99999/db", "port out of range", NULL);
    parse_bad("mongodb://h1,h$2/db", "invalid character in host", NULL);
    parse_bad("mysql://u:pw1234@h1,h2/db", "several hosts are only supported for postgresql and mongodb", "pw1234");
    parse_bad("redis://u:pw1234@h1,h2/0", "several hosts are only supported for postgresql and mongodb", "pw1234");
}

static void expect_host(const dp_dburl *u, size_t i, const char *host, int port)
{
    assert_true(i < u->nhosts);
    assert_string_equal(u->hostlist[i].host, host);
    assert_int_equal(u->hostlist[i].port, port);
}

/* PostgreSQL multi-host URLs as libpq takes them: every host:port validated and kept in order (a
 * missing port is 0, libpq's default), IPv6 literals in brackets, query parameters kept; an empty
 * entry or a bad port anywhere is an error that never shows the password. */
static void test_postgres_host_lists(void **state)
{
    (void)state;
    dp_dburl u;
    parse_ok("postgres://u:p%40ss@h1:5432,h2:5433/db?target_session_attrs=read-write&sslmode=prefer"
             "&connect_timeout=3&application_name=app",
             &u);
    assert_int_equal(u.type, DP_DB_POSTGRES);
    assert_int_equal(u.nhosts, 2);
    expect_host(&u, 0, "h1", 5432);
    expect_host(&u, 1, "h2", 5433);
    assert_string_equal(u.host, "h1");
    assert_int_equal(u.port, 5432);
    assert_string_equal(u.hosts, "h1:5432,h2:5433");
    assert_string_equal(u.user, "u");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.dbname, "db");
    assert_string_equal(dp_dburl_param(&u, "target_session_attrs"), "read-write");
    assert_string_equal(dp_dburl_param(&u, "sslmode"), "prefer");
    assert_string_equal(dp_dburl_param(&u, "connect_timeout"), "3");
    assert_string_equal(dp_dburl_param(&u, "application_name"), "app");
    char *red = dp_dburl_redacted(&u);
    assert_string_equal(red, "postgres://u:***@h1:5432,h2:5433/db?target_session_attrs=read-write&sslmode=prefer"
                             "&connect_timeout=3&application_name=app");
    assert_null(strstr(red, "p@ss"));
    free(red);
    dp_dburl_free(&u);
    assert_null(u.hostlist);
    assert_int_equal(u.nhosts, 0);

    /* IPv6 literals, a zone, a missing port (0: the default) in any position, three entries. */
    parse_ok("postgresql://[::1]:5432,[fe80::1%25eth0],db-3.example.com/x", &u);
    assert_int_equal(u.nhosts, 3);
    expect_host(&u, 0, "::1", 5432);
    expect_host(&u, 1, "fe80::1%eth0", 0);
    expect_host(&u, 2, "db-3.example.com", 0);
    assert_string_equal(u.host, "::1");
    red = dp_dburl_redacted(&u);
    assert_string_equal(red, "postgresql://[::1]:5432,[fe80::1%25eth0],db-3.example.com/x");
    free(red);
    dp_dburl_free(&u);

    parse_ok("postgres://h1,h2:6000", &u);
    expect_host(&u, 0, "h1", 0);
    expect_host(&u, 1, "h2", 6000);
    assert_int_equal(u.port, 0);
    assert_null(u.dbname);
    dp_dburl_free(&u);

    /* A single host keeps the old shape: no list. */
    parse_ok("postgres://h:5432/db", &u);
    assert_null(u.hosts);
    assert_null(u.hostlist);
    assert_int_equal(u.nhosts, 0);
    dp_dburl_free(&u);

    parse_bad("postgres://u:pw1234@h1,h2:notaport/db", "port is not a number", "pw1234");
    parse_bad("postgres://u:pw1234@h1:99999,h2/db", "port out of range", "pw1234");
    parse_bad("postgres://u:pw1234@h1:0,h2/db", "port out of range", "pw1234");
    parse_bad("postgres://u:pw1234@h1:,h2/db", "empty port", "pw1234");
    parse_bad("postgres://u:pw1234@h1,,h2/db", "empty host in the host list", "pw1234");
    parse_bad("postgres://u:pw1234@h1,/db", "empty host in the host list", "pw1234");
    parse_bad("postgres://u:pw1234@,h2/db", "empty host in the host list", "pw1234");
    parse_bad("postgres://u:pw1234@h1,:5433/db", "port without host", "pw1234");
    parse_bad("postgres://u:pw1234@h1,[::1/db", "unterminated '['", "pw1234");
    parse_bad("postgres://u:pw1234@h1,[::1]x/db", "unexpected text after ']'", "pw1234");
    parse_bad("postgres://u:pw1234@h1,[zz]/db", "invalid ipv6", "pw1234");
    parse_bad("postgres://u:pw1234@h1,h$2/db", "invalid character in host", "pw1234");
    /* A percent-encoded comma would turn one host into a list once decoded. */
    parse_bad("postgres://u:pw1234@h1%2Ch2/db", "invalid character in host", "pw1234");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemes_and_aliases),
        cmocka_unit_test(test_sqlite_paths),
        cmocka_unit_test(test_full_urls),
        cmocka_unit_test(test_ipv6_and_ports),
        cmocka_unit_test(test_query_params),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hostless_rules),
        cmocka_unit_test(test_errors_never_leak_password),
        cmocka_unit_test(test_redact_raw),
        cmocka_unit_test(test_redacted_roundtrip),
        cmocka_unit_test(test_mongodb_host_lists),
        cmocka_unit_test(test_postgres_host_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
