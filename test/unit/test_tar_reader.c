/* test_tar_reader.c - the push-mode tar reader against archives written by libarchive (pax, with
 * long and non-ASCII names; GNU format), at every chunk size, plus truncation and corruption. */
#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "source/tar_reader.h"

typedef struct {
    dp_buf log; /* "path:size:content|" per entry */
    int in_entry;
} collect;

static int c_begin(void *ctx, const char *path, uint64_t size, dp_err *err)
{
    collect *c = ctx;
    assert_false(c->in_entry);
    c->in_entry = 1;
    dp_buf_printf(&c->log, "%s:%llu:", path, (unsigned long long)size);
    return 0;
}

static int c_data(void *ctx, const void *p, size_t n, dp_err *err)
{
    collect *c = ctx;
    assert_true(c->in_entry);
    dp_buf_append(&c->log, p, n);
    return 0;
}

static int c_end(void *ctx, dp_err *err)
{
    collect *c = ctx;
    c->in_entry = 0;
    dp_buf_puts(&c->log, "|");
    return 0;
}

static const dp_tar_reader_cb cb = {.begin = c_begin, .data = c_data, .end = c_end};

static la_ssize_t to_buf(struct archive *a, void *ctx, const void *p, size_t n)
{
    dp_buf_append(ctx, p, n);
    return (la_ssize_t)n;
}

static void add(struct archive *a, const char *name, const char *content, int dir)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, dir ? 0 : (la_int64_t)strlen(content));
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    if (!dir && *content)
        assert_int_equal(archive_write_data(a, content, strlen(content)), (la_ssize_t)strlen(content));
    archive_entry_free(e);
}

static char long_name[300];

/* A sample archive in the given format; returns the expected log. */
static const char *make(dp_buf *out, int gnu)
{
    struct archive *a = archive_write_new();
    if (gnu)
        archive_write_set_format_gnutar(a);
    else
        archive_write_set_format_pax_restricted(a);
    archive_write_open(a, out, NULL, to_buf, NULL);
    char xs[151];
    memset(xs, 'x', 150);
    xs[150] = 0;
    snprintf(long_name, sizeof long_name, "db/n\xc3\xa4me-%s.bson", xs);
    add(a, "db/", "", 1);
    add(a, "db/a.metadata.json", "{\"indexes\":[]}", 0);
    add(a, "db/empty.bson", "", 0);
    add(a, long_name, "LONG", 0);
    static char big[2000];
    memset(big, 'b', sizeof big - 1);
    add(a, "db/big.bson", big, 0);
    archive_write_close(a);
    archive_write_free(a);
    static char want[4096];
    snprintf(want, sizeof want, "db/a.metadata.json:14:{\"indexes\":[]}|db/empty.bson:0:|%s:4:LONG|db/big.bson:1999:%s|",
             long_name, big);
    return want;
}

static int run(const dp_buf *tar, size_t len, size_t chunk, dp_buf *log, dp_err *err)
{
    collect c = {0};
    dp_tar_reader t;
    dp_tar_reader_init(&t, &cb, &c);
    int rc = 0;
    for (size_t off = 0; off < len && !rc; off += chunk)
        rc = dp_tar_reader_feed(&t, tar->data + off, len - off < chunk ? len - off : chunk, err);
    if (!rc)
        rc = dp_tar_reader_finish(&t, err);
    dp_tar_reader_free(&t);
    if (log)
        *log = c.log;
    else
        dp_buf_free(&c.log);
    return rc;
}

static void check_format(int gnu)
{
    dp_buf tar = {0};
    const char *want = make(&tar, gnu);
    static const size_t chunks[] = {1, 7, 511, 512, 513, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        dp_buf log;
        dp_err err = {0};
        assert_int_equal(run(&tar, tar.len, chunks[i], &log, &err), 0);
        assert_string_equal(log.data, want);
        dp_buf_free(&log);
    }
    dp_buf_free(&tar);
}

static void test_pax(void **state) { check_format(0); }
static void test_gnu(void **state) { check_format(1); }

static void test_truncated_and_corrupt(void **state)
{
    dp_buf tar = {0};
    make(&tar, 0);
    /* Every truncation point short of the end-of-archive blocks fails with ECORRUPT. */
    size_t end_blocks = tar.len;
    while (end_blocks >= 512 && !memcmp(tar.data + end_blocks - 512, (char[512]){0}, 512))
        end_blocks -= 512;
    for (size_t len = 0; len < end_blocks + 1024; len += 97) {
        dp_err err = {0};
        assert_int_equal(run(&tar, len, 4096, NULL, &err), DUMPER_ECORRUPT);
        assert_non_null(strstr(err.msg, "tar archive: "));
    }
    /* A flipped byte in a header: checksum error. */
    dp_buf bad = {0};
    dp_buf_append(&bad, tar.data, tar.len);
    bad.data[0] ^= 1;
    dp_err err = {0};
    assert_int_equal(run(&bad, bad.len, 4096, NULL, &err), DUMPER_ECORRUPT);
    assert_string_equal(err.msg, "tar archive: bad header checksum");
    /* Garbage after the end. */
    dp_buf_reset(&bad);
    dp_buf_append(&bad, tar.data, tar.len);
    dp_buf_append(&bad, "junk", 4);
    dp_err err2 = {0};
    assert_int_equal(run(&bad, bad.len, 4096, NULL, &err2), DUMPER_ECORRUPT);
    dp_buf_free(&bad);
    dp_buf_free(&tar);
}

/* One ustar header block (512 bytes) for name, size and type, with its checksum. */
static void header(dp_buf *out, const char *name, size_t size, char type)
{
    char h[512] = {0};
    snprintf(h, 100, "%s", name);
    snprintf(h + 100, 8, "%07o", 0644);
    char num[32];
    snprintf(num, sizeof num, "%011o", (unsigned)size);
    memcpy(h + 124, num, 11);
    snprintf(h + 136, 12, "%011o", 0);
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    dp_buf_append(out, h, 512);
}

/* A pax header 'x' carrying record, then a regular file "f" holding 3 bytes, then the end. */
static int with_pax(const char *record, dp_buf *log, dp_err *err)
{
    dp_buf tar = {0};
    static const char zero[1024];
    char pad[512] = {0};
    header(&tar, "PaxHeader/f", strlen(record), 'x');
    dp_buf_append(&tar, record, strlen(record));
    dp_buf_append(&tar, pad, (512 - strlen(record) % 512) % 512);
    header(&tar, "f", 3, '0');
    dp_buf_append(&tar, "abc", 3);
    dp_buf_append(&tar, pad, 509);
    dp_buf_append(&tar, zero, sizeof zero);
    int rc = run(&tar, tar.len, 512, log, err);
    dp_buf_free(&tar);
    return rc;
}

/* pax numbers are digits: strtoull took a sign or white space, so "size=-1" made an entry of
 * 2^64-1 bytes (the archive then ended "truncated") */
static void test_pax_numbers(void **state)
{
    dp_buf log;
    dp_err err = {0};
    assert_int_equal(with_pax("10 size=3\n", &log, &err), 0);
    assert_string_equal(log.data, "f:3:abc|");
    dp_buf_free(&log);
    assert_int_equal(with_pax("16 path=dir/g.x\n", &log, &err), 0);
    assert_string_equal(log.data, "dir/g.x:3:abc|");
    dp_buf_free(&log);
    const char *bad[] = {"11 size=-1\n", "11 size= 3\n", "11 size=+3\n", "8 size=\n", "+17 path=dir/g.x\n",
                         " 17 path=dir/g.x\n", "32 size=99999999999999999999999\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_err_clear(&err);
        assert_int_equal(with_pax(bad[i], NULL, &err), DUMPER_ECORRUPT);
        assert_true(!strcmp(err.msg, "tar archive: malformed pax size") ||
                    !strcmp(err.msg, "tar archive: malformed pax header"));
    }
}

int main(void)
{
    /* libarchive converts names through LC_CTYPE: non-ASCII names need a UTF-8 locale. */
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pax),
        cmocka_unit_test(test_gnu),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_pax_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
