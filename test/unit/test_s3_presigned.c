/*
 * test_s3_presigned.c - the uploader's second mode: part URLs presigned by someone else (the
 * control plane), against s3rver. The "control plane" here is the same process using the
 * dp_s3_* helpers; the uploader never sees credentials, only URLs. Also: an expired presigned
 * URL fails with one clear error and the upload is aborted; a part whose first URL leads nowhere is
 * retried with a URL asked for afresh (as the job asks dumperd again). Skipped without s3rver
 * (scripts/services.sh start s3).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "http/sigv4.h"
#include "storage/s3_upload.h"
#include "storage/storage.h"

typedef struct {
    dp_storage *st;
    const char *key;
    char *upload_id;
    int expired;   /* hand out URLs that expired an hour ago */
    int first_dead; /* the first URL of part 1 points where nothing listens */
    int completed, aborted, parts_asked;
    uint64_t sizes_total; /* sum of the part sizes complete was given */
    pthread_mutex_t mu;
} plane;

static int cp_part(void *ctx, dp_http *h, int n, const void *data, size_t len, const char *md5, char **url,
                   struct curl_slist **headers, dp_err *err)
{
    plane *p = ctx;
    pthread_mutex_lock(&p->mu);
    int dead = p->first_dead && n == 1;
    p->first_dead = p->first_dead && !dead;
    p->parts_asked++;
    pthread_mutex_unlock(&p->mu);
    if (dead)
        return (*url = dp_strdup("http://127.0.0.1:1/nowhere")) ? 0 : DUMPER_ENOMEM;
    if (!p->expired)
        return dp_s3_presign(p->st, "PUT", p->key, p->upload_id, n, 600, url, err);
    const char *ep = getenv("DUMPER_TEST_S3_ENDPOINT");
    char amzdate[17];
    dp_sigv4_amzdate(dp_now_ms() / 1000 - 3600, amzdate);
    dp_sigv4_creds c = {"S3RVER", "S3RVER", NULL, "us-east-1", "s3"};
    char *uid = dp_sigv4_uri_encode(p->upload_id, 1);
    char *q = dp_asprintf("partNumber=%d&uploadId=%s", n, uid);
    char *path = dp_asprintf("%s/%s", getenv("TEST_PREFIX_PATH"), p->key);
    *url = dp_sigv4_presign(&c, amzdate, 60, "PUT", ep, ep + 7, path, q);
    free(uid);
    free(q);
    free(path);
    return 0;
}

static int cp_complete(void *ctx, int n, char *const *etags, const uint64_t *sizes, uint64_t total, dp_err *err)
{
    plane *p = ctx;
    p->completed = 1;
    for (int i = 0; i < n; i++)
        p->sizes_total += sizes[i];
    return dp_s3_complete_upload(p->st, p->key, p->upload_id, n, etags, err);
}

static void cp_abort(void *ctx)
{
    plane *p = ctx;
    dp_err e = {0};
    p->aborted = 1;
    dp_s3_abort_upload(p->st, p->key, p->upload_id, &e); /* s3rver answers 405: nothing to check */
}

static const dp_s3_upload_ops presigned_ops = {.part = cp_part, .complete = cp_complete, .abort = cp_abort};

static dp_storage *st;
static char location[128];

static int setup(void **state)
{
    if (!getenv("DUMPER_TEST_HAVE_S3") || !getenv("DUMPER_TEST_S3_ENDPOINT"))
        return 0;
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    setenv("AWS_ENDPOINT_URL", getenv("DUMPER_TEST_S3_ENDPOINT"), 1);
    unsetenv("AWS_SESSION_TOKEN");
    snprintf(location, sizeof location, "s3://dumper-test/presign-%ld-%ld", (long)getpid(), (long)(dp_now_ms() % 100000));
    char path[160];
    snprintf(path, sizeof path, "/dumper-test/%s", location + strlen("s3://dumper-test/"));
    setenv("TEST_PREFIX_PATH", path, 1);
    dp_err err = {0};
    if (dp_storage_open(location, NULL, 1, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    dp_storage_close(st);
    return 0;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

static void upload_and_check_on(dp_storage *on, size_t size, uint64_t part_size, int parallel, const char *key,
                                int first_dead)
{
    dp_err err = {0};
    plane p = {.st = on, .key = key, .first_dead = first_dead};
    pthread_mutex_init(&p.mu, NULL);
    assert_int_equal(dp_s3_create_upload(on, key, &p.upload_id, &err), 0);
    dp_s3_upload_opts o = {.part_size = part_size, .parallel = parallel, .what = key};
    dp_sink *s = NULL;
    assert_int_equal(dp_s3_upload_new(&o, &presigned_ops, &p, &s, &err), 0);
    unsigned char *data = malloc(size ? size : 1);
    fill(data, size, (unsigned)size);
    for (size_t off = 0; off < size; off += 100000) {
        size_t k = size - off < 100000 ? size - off : 100000;
        assert_int_equal(dp_sink_write(s, data + off, k, &err), 0);
    }
    assert_int_equal(dp_sink_end(s, &err), 0);
    assert_int_equal(p.completed, 0); /* nothing visible before commit */
    if (dp_sink_commit(s, &err))
        fail_msg("%s", err.msg);
    dp_sink_free(s);
    assert_int_equal(p.completed, 1);
    assert_int_equal(p.aborted, 0);
    /* one request per part, one more for the part retried */
    assert_int_equal(p.parts_asked, (int)(size ? (size + part_size - 1) / part_size : 1) + first_dead);
    assert_int_equal(p.sizes_total, size);
    char *got = NULL;
    size_t glen = 0;
    assert_int_equal(dp_storage_get(on, key, size + 10, &got, &glen, &err), 0);
    assert_int_equal(glen, size);
    assert_memory_equal(got, data, size);
    free(got);
    free(data);
    free(p.upload_id);
    pthread_mutex_destroy(&p.mu);
}

static void upload_and_check(size_t size, uint64_t part_size, int parallel, const char *key)
{
    upload_and_check_on(st, size, part_size, parallel, key, 0);
}

static void test_presigned_multipart(void **state)
{
    if (!st)
        skip();
    upload_and_check(11 * 1024 * 1024 + 12345, 5 * 1024 * 1024, 2, "multi.bin");
}

static void test_presigned_one_part(void **state)
{
    if (!st)
        skip();
    upload_and_check(1000, 5 * 1024 * 1024, 4, "one.bin");
}

/* A failed attempt (connection refused) is retried with a URL asked for again. */
static void test_presigned_retry_fresh_url(void **state)
{
    if (!st)
        skip();
    upload_and_check_on(st, 6 * 1024 * 1024, 5 * 1024 * 1024, 1, "retried.bin", 1);
}

static void test_presigned_expired(void **state)
{
    if (!st)
        skip();
    dp_err err = {0};
    plane p = {.st = st, .key = "expired.bin", .expired = 1};
    pthread_mutex_init(&p.mu, NULL);
    assert_int_equal(dp_s3_create_upload(st, p.key, &p.upload_id, &err), 0);
    dp_s3_upload_opts o = {.part_size = 5 * 1024 * 1024, .parallel = 2, .what = "s3://dumper-test/x/expired.bin"};
    dp_sink *s = NULL;
    assert_int_equal(dp_s3_upload_new(&o, &presigned_ops, &p, &s, &err), 0);
    unsigned char *data = calloc(1, 6 * 1024 * 1024);
    int rc = dp_sink_write(s, data, 6 * 1024 * 1024, &err);
    if (!rc)
        rc = dp_sink_end(s, &err);
    assert_int_equal(rc, DUMPER_EAUTH);
    /* part 1 or 2, whichever worker hears first */
    if (strncmp(err.msg, "s3://dumper-test/x/expired.bin part ", 36) != 0 ||
        !strstr(err.msg, ": access denied: HTTP 403 AccessDenied: Request has expired"))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(err.msg, "expired"));
    assert_null(strchr(err.msg, '\n'));
    dp_sink_abort(s);
    dp_sink_free(s);
    assert_int_equal(p.aborted, 1);
    assert_int_equal(p.completed, 0);
    dp_object_info info;
    dp_err e2 = {0};
    assert_int_equal(dp_storage_stat(st, p.key, &info, &e2), DUMPER_ENOENT);
    free(data);
    free(p.upload_id);
    pthread_mutex_destroy(&p.mu);
}

/* GET url with curl (no credentials: the URL carries them); the body must be want */
static void curl_expect(const char *url, const char *want)
{
    char *cmd = dp_asprintf("curl -sf '%s'", url);
    FILE *f = popen(cmd, "r");
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    assert_int_equal(pclose(f), 0);
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
    free(cmd);
}

static void test_presign_get(void **state)
{
    if (!st)
        skip();
    dp_err err = {0};
    assert_int_equal(dp_storage_put(st, "get.txt", "hello", 5, &err), 0);
    char *url = NULL;
    assert_int_equal(dp_s3_presign(st, "GET", "get.txt", NULL, 0, 60, &url, &err), 0);
    curl_expect(url, "hello");
    free(url);
    assert_int_equal(dp_s3_presign(st, "GET", "get.txt", NULL, 0, 0, &url, &err), DUMPER_EUSAGE);
    assert_null(url);
}

/* stat, read and remove: one object request each (s3.c's obj_request), found and missing */
static void object_ops(dp_storage *on)
{
    dp_err err = {0};
    assert_int_equal(dp_storage_put(on, "ops.txt", "hello there", 11, &err), 0);
    dp_object_info info = {0};
    if (dp_storage_stat(on, "ops.txt", &info, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(info.key, "ops.txt");
    assert_int_equal(info.size, 11);
    assert_true(info.mtime_ms > dp_now_ms() - 600000 && info.mtime_ms < dp_now_ms() + 600000);
    free(info.key);
    char *got = NULL;
    size_t n = 0;
    assert_int_equal(dp_storage_get(on, "ops.txt", 100, &got, &n, &err), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(got, "hello there", 11);
    free(got);
    assert_int_equal(dp_storage_remove(on, "ops.txt", &err), 0);
    assert_int_equal(dp_storage_remove(on, "ops.txt", &err), 0); /* absent is fine */
    dp_err e = {0};
    assert_int_equal(dp_storage_stat(on, "ops.txt", &info, &e), DUMPER_ENOENT);
    char want[200];
    snprintf(want, sizeof want, "%s/ops.txt: not found", on->location);
    assert_string_equal(e.msg, want);
    dp_err e2 = {0};
    assert_int_equal(dp_storage_get(on, "ops.txt", 100, &got, &n, &e2), DUMPER_ENOENT);
    assert_string_equal(e2.msg, want);
}

static void test_object_ops(void **state)
{
    if (!st)
        skip();
    object_ops(st);
}

/* Virtual-host addressing (bucket.s3.localhost, which s3rver maps to the bucket when started with
 * --service-endpoint localhost): presigned multipart upload, a presigned GET, object requests. */
static void test_virtual_host(void **state)
{
    const char *vep = getenv("DUMPER_TEST_S3_VHOST_ENDPOINT");
    if (!st || !vep)
        skip();
    /* an s3rver started by an older services.sh (no --service-endpoint localhost) cannot do this */
    char *probe = dp_asprintf("curl -sf 'http://dumper-test.s3.localhost:%s/?list-type=2&max-keys=1' | grep -q "
                              "'<Name>dumper-test</Name>'",
                              getenv("DUMPER_TEST_S3_PORT"));
    int reachable = system(probe) == 0;
    free(probe);
    if (!reachable) {
        fprintf(stderr, "skip: s3rver does not answer for dumper-test.s3.localhost (restart services.sh)\n");
        skip();
    }
    dp_storage_opts o = {.endpoint = vep, .path_style = -1};
    dp_storage *vst = NULL;
    dp_err err = {0};
    if (dp_storage_open(location, &o, 1, &vst, &err))
        fail_msg("%s", err.msg);
    upload_and_check_on(vst, 6 * 1024 * 1024 + 7, 5 * 1024 * 1024, 2, "vhost.bin", 0);
    /* the same object, read path-style: it landed in the bucket, under the prefix */
    dp_object_info info = {0};
    if (dp_storage_stat(st, "vhost.bin", &info, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(info.size, 6 * 1024 * 1024 + 7);
    free(info.key);
    char *url = NULL;
    assert_int_equal(dp_storage_put(st, "vget.txt", "by host", 7, &err), 0);
    assert_int_equal(dp_s3_presign(vst, "GET", "vget.txt", NULL, 0, 60, &url, &err), 0);
    char prefix[200];
    snprintf(prefix, sizeof prefix, "http://dumper-test.s3.localhost:%s/%s/vget.txt?", getenv("DUMPER_TEST_S3_PORT"),
             location + strlen("s3://dumper-test/"));
    if (strncmp(url, prefix, strlen(prefix)) != 0)
        fail_msg("%s", url);
    curl_expect(url, "by host");
    free(url);
    object_ops(vst);
    dp_storage_close(vst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presigned_multipart),
        cmocka_unit_test(test_presigned_one_part),
        cmocka_unit_test(test_presigned_retry_fresh_url),
        cmocka_unit_test(test_presigned_expired),
        cmocka_unit_test(test_presign_get),
        cmocka_unit_test(test_object_ops),
        cmocka_unit_test(test_virtual_host),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
