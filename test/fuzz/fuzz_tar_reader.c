/*
 * fuzz_tar_reader.c - libFuzzer target for the push-mode tar reader (lib/source/tar_reader.c) that
 * a MongoDB restore feeds a backup's bytes through.
 *
 * Input: a tar stream. Beyond "no crash, leak or UB":
 * - the entries reported (path, size, content) and the outcome do not depend on how the stream is
 *   cut (one write, odd sizes, byte by byte for small inputs);
 * - callbacks come in order (begin, data..., end), an entry's data adds up to its size, and never
 *   more bytes of data than the input holds;
 * - round trip: an archive the reader accepts to its end, written again by libarchive's pax writer
 *   (as a MongoDB backup writes it), reads back as the same entries.
 */
#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "fuzz_tar.h"

typedef struct {
    dp_buf log;           /* per entry: path NUL size(8) content, then 'E' */
    int in_entry;
    uint64_t size, seen;  /* of the current entry */
    uint64_t total;       /* data bytes delivered */
    size_t limit;         /* input size */
} collect;

static int c_begin(void *ctx, const char *path, uint64_t size, dp_err *err)
{
    collect *c = ctx;
    if (c->in_entry || !path)
        abort();
    c->in_entry = 1;
    c->size = size;
    c->seen = 0;
    if (dp_buf_puts(&c->log, "B") < 0 || dp_buf_append(&c->log, path, strlen(path) + 1) < 0 ||
        dp_buf_append(&c->log, &size, sizeof size) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}

static int c_data(void *ctx, const void *p, size_t n, dp_err *err)
{
    collect *c = ctx;
    if (!c->in_entry || n == 0)
        abort();
    c->seen += n;
    c->total += n;
    if (c->seen > c->size || c->total > c->limit)
        abort();
    return dp_buf_append(&c->log, p, n) < 0 ? dp_err_set(err, DUMPER_ENOMEM, "out of memory") : 0;
}

static int c_end(void *ctx, dp_err *err)
{
    collect *c = ctx;
    if (!c->in_entry || c->seen != c->size)
        abort();
    c->in_entry = 0;
    return dp_buf_puts(&c->log, "E") < 0 ? dp_err_set(err, DUMPER_ENOMEM, "out of memory") : 0;
}

static const dp_tar_reader_cb cb = {.begin = c_begin, .data = c_data, .end = c_end};

/* Read p[0..n) in pieces of step bytes; the outcome (0, or the first error's code) and c's log. */
static int read_tar(const uint8_t *p, size_t n, size_t step, collect *c)
{
    memset(c, 0, sizeof *c);
    c->limit = n;
    dp_err err = {0};
    int rc = fuzz_tar_read(&cb, c, p, n, step, &err);
    if (rc && (!err.msg[0] || err.code != rc))
        abort();
    if (rc && rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM)
        abort();
    return rc;
}

static int same(const dp_buf *a, const dp_buf *b)
{
    return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

static la_ssize_t to_buf(struct archive *a, void *ctx, const void *p, size_t n)
{
    (void)a;
    return dp_buf_append(ctx, p, n) < 0 ? -1 : (la_ssize_t)n;
}

/* Write the entries of a log again with libarchive's pax writer; 0 when libarchive refused one. */
static int rewrite(const dp_buf *log, dp_buf *out)
{
    struct archive *a = archive_write_new();
    int ok = a && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
             archive_write_open(a, out, NULL, to_buf, NULL) == ARCHIVE_OK;
    const char *p = log->data, *end = log->data + log->len;
    while (ok && p < end) {
        if (*p++ != 'B')
            abort();
        const char *path = p;
        p += strlen(path) + 1;
        uint64_t size;
        memcpy(&size, p, sizeof size);
        p += sizeof size;
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)size);
        ok = *path && archive_write_header(a, e) == ARCHIVE_OK &&
             (size == 0 || archive_write_data(a, p, (size_t)size) == (la_ssize_t)size);
        archive_entry_free(e);
        p += size;
        if (*p++ != 'E')
            abort();
    }
    ok = ok && archive_write_close(a) == ARCHIVE_OK;
    archive_write_free(a);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        setlocale(LC_CTYPE, "C.UTF-8"); /* libarchive writes non-ASCII names as UTF-8 (as mongodb.c arranges) */
        once = 1;
    }
    collect whole, odd, bytes;
    int rc = read_tar(data, size, size ? size : 1, &whole);
    size_t step = 1 + (size ? data[size / 3] : 0) % 700;
    if (read_tar(data, size, step, &odd) != rc || !same(&odd.log, &whole.log))
        abort();
    dp_buf_free(&odd.log);
    if (size <= 16384) {
        if (read_tar(data, size, 1, &bytes) != rc || !same(&bytes.log, &whole.log))
            abort();
        dp_buf_free(&bytes.log);
    }
    if (rc == 0 && whole.log.len) {
        dp_buf again = {0};
        if (rewrite(&whole.log, &again)) {
            collect back;
            if (read_tar((const uint8_t *)again.data, again.len, 512, &back) != 0 || !same(&back.log, &whole.log))
                abort();
            dp_buf_free(&back.log);
        }
        dp_buf_free(&again);
    }
    dp_buf_free(&whole.log);
    return 0;
}
