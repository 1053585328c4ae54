/* test_domain_shell.c - restore commands safe to paste (server/domain/shell.c): every hostile name becomes
 * exactly one word when a real /bin/sh parses the command (argv compared byte for byte, no command run), the
 * URL's parts are percent-encoded, an IPv6 host is bracketed, and plain commands stay unquoted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "domain/shell.h"

/* The words /bin/sh makes of `cmd` (a restore command: "dumper" replaced by a function that prints each
 * argument followed by a NUL), NUL-separated into out; its length. Side effects would show as files in the
 * current directory, which the caller checks for. */
static size_t sh_words(const char *cmd, char *out, size_t max)
{
    char *script = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&script, &len);
    fprintf(m, "dumper() { for a in \"$@\"; do printf '%%s\\0' \"$a\"; done; }\n%s\n", cmd);
    fclose(m);
    char path[] = "/tmp/test_domain_shell.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, script, len), (ssize_t)len);
    close(fd);
    free(script);
    char run[200];
    snprintf(run, sizeof run, "cd /tmp && /bin/sh %s", path);
    FILE *p = popen(run, "r");
    size_t n = fread(out, 1, max, p);
    assert_int_equal(pclose(p), 0);
    unlink(path);
    return n;
}

static void expect_words(const char *cmd, const char *const *want, int nwant)
{
    char out[8192];
    size_t n = sh_words(cmd, out, sizeof out), off = 0;
    for (int i = 0; i < nwant; i++) {
        size_t k = strlen(want[i]);
        if (off + k >= n + 1 || memcmp(out + off, want[i], k) || out[off + k] != 0)
            fail_msg("command %s: word %d is not '%s'", cmd, i, want[i]);
        off += k + 1;
    }
    if (off != n)
        fail_msg("command %s: %zu bytes more than %d words", cmd, n - off, nwant);
}

static const char *const hostile[] = {
    "x'; touch /tmp/test_domain_shell_pwned; '",
    "$(touch /tmp/test_domain_shell_pwned)",
    "`touch /tmp/test_domain_shell_pwned`",
    "a\nb; touch /tmp/test_domain_shell_pwned",
    "\"; touch /tmp/test_domain_shell_pwned; \"",
    "'\\''",
    "*",
    "~root",
    "a b\tc",
    "-rf",
    "\xe2\x80\xae" "evil",
    "'",
    "''",
    "\\",
    "!!",
    "${HOME}",
};

static void test_quote_words(void **state)
{
    unlink("/tmp/test_domain_shell_pwned");
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        dp_buf b = {0};
        assert_int_equal(dp_buf_puts(&b, "dumper "), 0);
        assert_int_equal(sd_shell_quote(&b, hostile[i]), 0);
        const char *want[] = {hostile[i]};
        expect_words(b.data, want, 1);
        dp_buf_free(&b);
    }
    assert_int_equal(access("/tmp/test_domain_shell_pwned", F_OK), -1);
}

static void test_plain_unquoted(void **state)
{
    dp_buf b = {0};
    sd_shell_quote(&b, "/var/lib/dumperd/backups/shop-production-main-20270115T080000Z-b1.sql.zst");
    assert_string_equal(b.data, "/var/lib/dumperd/backups/shop-production-main-20270115T080000Z-b1.sql.zst");
    dp_buf_free(&b);
    sd_shell_quote(&b, "");
    assert_string_equal(b.data, "''");
    dp_buf_free(&b);
    sd_shell_quote(&b, "it's");
    assert_string_equal(b.data, "'it'\\''s'");
    dp_buf_free(&b);
}

static void test_restore_commands(void **state)
{
    unlink("/tmp/test_domain_shell_pwned");
    sd_restore_target pg = {"postgresql", "db1", "shop", "app", 5432};
    char *c = sd_restore_command("/srv/backups", "f.sql.zst", &pg, NULL);
    assert_string_equal(c, "dumper restore /srv/backups/f.sql.zst postgresql://app@db1:5432/shop");
    free(c);
    c = sd_restore_command(NULL, "f.sql.zst", &pg, "ab12");
    assert_string_equal(c, "dumper restore ./f.sql.zst postgresql://app@db1:5432/shop --sha256 ab12");
    free(c);
    sd_restore_target v6 = {"mysql", "::1", "a/b c", "u@x", 0};
    c = sd_restore_command("/s", "f", &v6, NULL);
    assert_string_equal(c, "dumper restore /s/f 'mysql://u%40x@[::1]/a%2Fb%20c'");
    free(c);
    c = sd_restore_command("/s", "f", NULL, NULL);
    assert_string_equal(c, "dumper restore /s/f DATABASE_URL");
    free(c);
    /* Hostile names and a hostile storage location: still the three words, nothing run. */
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        sd_restore_target t = {"sqlite", hostile[i], hostile[i], hostile[i], 0};
        char *loc = (char *)hostile[i];
        c = sd_restore_command(loc, "f.sql.zst", &t, NULL);
        char path[300], url[300];
        snprintf(path, sizeof path, "%s/f.sql.zst", loc);
        snprintf(url, sizeof url, "sqlite://%s", hostile[i]);
        const char *want[] = {"restore", path, url};
        expect_words(c, want, 3);
        free(c);
        c = sd_restore_command(NULL, "f.sql.zst", &t, hostile[i]);
        const char *want_dl[] = {"restore", "./f.sql.zst", url, "--sha256", hostile[i]};
        expect_words(c, want_dl, 5);
        free(c);
    }
    assert_int_equal(access("/tmp/test_domain_shell_pwned", F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_words),
        cmocka_unit_test(test_plain_unquoted),
        cmocka_unit_test(test_restore_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
