/* test_proc.c - running external tools: output, environment, stderr tail, stdin, exit codes, kill,
 * interruption, descriptor hygiene, one-line summaries with secrets scrubbed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/proc.h"
#include "core/util.h"

/* Run argv with stdout into a buffer; returns the dp_proc_finish code. */
static int run(const char *const *argv, const char *const *env_add, const char *const *env_remove, dp_buf *out,
               dp_err *err)
{
    dp_proc *p = NULL;
    dp_proc_opts o = {.path = argv[0], .argv = argv, .env_add = env_add, .env_remove = env_remove, .stdout_pipe = 1};
    int rc = dp_proc_spawn(&o, &p, err);
    if (rc)
        return rc;
    dp_sink *s = dp_sink_buf_new(out);
    rc = dp_proc_pump(p, s, err);
    if (!rc)
        rc = dp_proc_finish(p, DUMPER_ESOURCE, "s3cr3t", err);
    dp_sink_free(s);
    dp_proc_free(p);
    return rc;
}

static void test_stdout(void **state)
{
    dp_buf b = {0};
    dp_err err = {0};
    assert_int_equal(run((const char *[]){"/bin/echo", "hello", "two words", NULL}, NULL, NULL, &b, &err), 0);
    assert_string_equal(b.data, "hello two words\n");
    dp_buf_free(&b);
    /* PATH lookup */
    assert_int_equal(run((const char *[]){"printf", "%s|", "a b", "$HOME", NULL}, NULL, NULL, &b, &err), 0);
    assert_string_equal(b.data, "a b|$HOME|");
    dp_buf_free(&b);
}

static void test_env(void **state)
{
    dp_buf b = {0};
    dp_err err = {0};
    setenv("DP_TEST_REPLACED", "old", 1);
    setenv("DP_TEST_REMOVED", "gone", 1);
    assert_int_equal(run((const char *[]){"/usr/bin/env", NULL},
                         (const char *[]){"DP_TEST_SECRET=xyz", "DP_TEST_REPLACED=new", NULL},
                         (const char *[]){"DP_TEST_REMOVED", NULL}, &b, &err),
                     0);
    assert_non_null(strstr(b.data, "\nDP_TEST_SECRET=xyz\n"));
    assert_non_null(strstr(b.data, "DP_TEST_REPLACED=new\n"));
    assert_null(strstr(b.data, "DP_TEST_REPLACED=old"));
    assert_null(strstr(b.data, "DP_TEST_REMOVED"));
    assert_non_null(strstr(b.data, "PATH="));
    dp_buf_free(&b);
}

static void test_failure_tail(void **state)
{
    dp_buf b = {0};
    dp_err err = {0};
    /* Lots of stderr before the real error, and lots of stdout at the same time: no deadlock, the
     * tail keeps the end, the summary picks the error line and scrubs the secret. */
    int rc = run((const char *[]){"/bin/sh", "-c",
                                  "i=0; while [ $i -lt 3000 ]; do echo \"warning $i\" >&2; i=$((i+1)); done;"
                                  "head -c 3000000 /dev/zero; echo 'tool: error: password s3cr3t\trejected' >&2;"
                                  "echo 'HINT: something' >&2; exit 3",
                                  NULL},
                 NULL, NULL, &b, &err);
    assert_int_equal(rc, DUMPER_ESOURCE);
    assert_int_equal(b.len, 3000000);
    assert_string_equal(err.msg, "sh failed (exit 3): tool: error: password *** rejected");
    dp_buf_free(&b);
}

static void test_signal_death(void **state)
{
    dp_buf b = {0};
    dp_err err = {0};
    int rc = run((const char *[]){"/bin/sh", "-c", "echo dying >&2; kill -9 $$", NULL}, NULL, NULL, &b, &err);
    assert_int_equal(rc, DUMPER_ESOURCE);
    assert_string_equal(err.msg, "sh was killed by signal 9: dying");
    dp_buf_free(&b);
}

static void test_missing_tool(void **state)
{
    dp_buf b = {0};
    dp_err err = {0};
    assert_int_equal(run((const char *[]){"/nonexistent/pg_dump", NULL}, NULL, NULL, &b, &err), DUMPER_ETOOL);
    assert_non_null(strstr(err.msg, "unable to run pg_dump ('/nonexistent/pg_dump')"));
    dp_err_clear(&err);
    assert_int_equal(run((const char *[]){"dumper-no-such-tool", NULL}, NULL, NULL, &b, &err), DUMPER_ETOOL);
    dp_buf_free(&b);
    char *w = dp_proc_which("sh", NULL);
    assert_non_null(w);
    free(w);
    assert_null(dp_proc_which("sh", "/nonexistent"));
    assert_null(dp_proc_which("dumper-no-such-tool", NULL));
}

static void test_stdin(void **state)
{
    dp_proc *p = NULL;
    dp_err err = {0};
    const char *argv[] = {"/bin/sh", "-c", "wc -c >&2", NULL};
    dp_proc_opts o = {.path = argv[0], .argv = argv, .stdin_pipe = 1};
    assert_int_equal(dp_proc_spawn(&o, &p, &err), 0);
    char *chunk = calloc(1, 1 << 20);
    for (int i = 0; i < 10; i++)
        assert_int_equal(dp_proc_write(p, chunk, 1 << 20, &err), 0);
    free(chunk);
    int status = -5;
    assert_int_equal(dp_proc_wait(p, &status, &err), 0);
    assert_int_equal(status, 0);
    assert_int_equal(strtol(dp_proc_stderr(p), NULL, 10), 10 << 20);
    dp_proc_free(p);

    /* A tool that exits without reading: EPIPE becomes a clear error with its exit code. */
    const char *argv2[] = {"/bin/sh", "-c", "echo 'ERROR: syntax error at line 1' >&2; exit 4", NULL};
    o.argv = argv2;
    o.path = argv2[0];
    assert_int_equal(dp_proc_spawn(&o, &p, &err), 0);
    char big[65536] = {0};
    int rc = 0;
    for (int i = 0; i < 100 && !rc; i++)
        rc = dp_proc_write(p, big, sizeof big, &err);
    assert_int_equal(rc, DUMPER_ESOURCE);
    assert_string_equal(err.msg, "sh stopped reading its input (exit 4): ERROR: syntax error at line 1");
    dp_proc_free(p);
}

static void test_kill_and_interrupt(void **state)
{
    dp_proc *p = NULL;
    dp_err err = {0};
    const char *argv[] = {"/bin/sleep", "30", NULL};
    dp_proc_opts o = {.path = argv[0], .argv = argv, .stdout_pipe = 1};
    assert_int_equal(dp_proc_spawn(&o, &p, &err), 0);
    pid_t pid = dp_proc_pid(p);
    assert_true(pid > 0);
    int64_t t0 = dp_mono_ms();
    dp_interrupted = 1;
    dp_sink *s = dp_sink_null_new();
    assert_int_equal(dp_proc_pump(p, s, &err), DUMPER_EINTR);
    dp_interrupted = 0;
    dp_proc_free(p); /* SIGTERM + reap */
    assert_true(dp_mono_ms() - t0 < 2000);
    assert_int_equal(kill(pid, 0), -1); /* reaped: no such process */
    dp_sink_free(s);
}

static void test_no_fd_leak(void **state)
{
    int fd = open("/dev/null", O_RDONLY); /* deliberately not close-on-exec */
    assert_true(fd >= 3);
    int hi = dup2(fd, 47);
    assert_int_equal(hi, 47);
    dp_buf b = {0};
    dp_err err = {0};
    assert_int_equal(run((const char *[]){"/bin/ls", "/proc/self/fd", NULL}, NULL, NULL, &b, &err), 0);
    /* 0, 1, 2 and ls's own directory descriptor: nothing of ours. */
    assert_null(strstr(b.data, "47"));
    char want[16];
    snprintf(want, sizeof want, "\n%d\n", fd);
    if (fd > 3)
        assert_null(strstr(b.data, want));
    close(fd);
    close(hi);
    dp_buf_free(&b);
}

static void test_summary(void **state)
{
    char out[64];
    dp_proc_summary("a\nb\n\n  \n", NULL, out, sizeof out);
    assert_string_equal(out, "b");
    dp_proc_summary("x\npg_dump: error: connection lost\n\tdetail\n", NULL, out, sizeof out);
    assert_string_equal(out, "pg_dump: error: connection lost");
    dp_proc_summary("FATAL: password pw for pw rejected\n", "pw", out, sizeof out);
    assert_string_equal(out, "FATAL: password *** for *** rejected");
    dp_proc_summary("", NULL, out, sizeof out);
    assert_string_equal(out, "");
    dp_proc_summary(NULL, NULL, out, 8);
    assert_string_equal(out, "");
    dp_proc_summary("a very long line that does not fit", NULL, out, 8);
    assert_string_equal(out, "a very ");
}

int main(void)
{
    /* SIGPIPE keeps its default (terminate): dp_proc_write must not raise it, as in a host that does
     * not ignore it. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdout),       cmocka_unit_test(test_env),        cmocka_unit_test(test_failure_tail),
        cmocka_unit_test(test_signal_death), cmocka_unit_test(test_missing_tool), cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_kill_and_interrupt), cmocka_unit_test(test_no_fd_leak), cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
