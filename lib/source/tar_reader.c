/* tar_reader.c - push-mode tar reader (see tar_reader.h). */
#include "source/tar_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dp_tar_reader_init(dp_tar_reader *t, const dp_tar_reader_cb *cb, void *ctx)
{
    memset(t, 0, sizeof *t);
    t->cb = cb;
    t->ctx = ctx;
}

void dp_tar_reader_free(dp_tar_reader *t)
{
    dp_buf_free(&t->meta);
    free(t->next_path);
    free(t->path);
    t->next_path = t->path = NULL;
}

/* Octal (NUL/space padded) or GNU base-256. -1 on garbage. */
static int tar_number(const unsigned char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (p[0] & 0x80) {
        if (p[0] & 0x40)
            return -1; /* negative */
        v = p[0] & 0x3f;
        for (size_t i = 1; i < n; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | p[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < n && p[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (v >> 61)
            return -1;
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != 0)
            return -1;
    *out = v;
    return 0;
}

static int corrupt(dp_err *err, const char *what) { return dp_err_set(err, DUMPER_ECORRUPT, "tar archive: %s", what); }

/* "<len> <key>=<value>\n" records: take path and size. */
static int parse_pax(dp_tar_reader *t, dp_err *err)
{
    const char *p = t->meta.data, *end = p + t->meta.len;
    while (p < end) {
        char *sp;
        /* digits only (strtoull alone would take white space and a sign: "size=-1" is 2^64-1) */
        unsigned long long reclen = *p >= '0' && *p <= '9' ? strtoull(p, &sp, 10) : 0;
        if (!reclen || *sp != ' ' || reclen < 5 || reclen > (unsigned long long)(end - p) || p[reclen - 1] != '\n')
            return corrupt(err, "malformed pax header");
        const char *kv = sp + 1, *recend = p + reclen - 1; /* at the '\n' */
        const char *eq = memchr(kv, '=', (size_t)(recend - kv));
        if (!eq)
            return corrupt(err, "malformed pax header");
        size_t klen = (size_t)(eq - kv);
        if (klen == 4 && !memcmp(kv, "path", 4)) {
            free(t->next_path);
            if (!(t->next_path = dp_strndup(eq + 1, (size_t)(recend - eq - 1))))
                return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        } else if (klen == 4 && !memcmp(kv, "size", 4)) {
            char *e = NULL;
            errno = 0;
            t->next_size = eq[1] >= '0' && eq[1] <= '9' ? strtoull(eq + 1, &e, 10) : 0;
            if (e != recend || errno == ERANGE)
                return corrupt(err, "malformed pax size");
            t->has_next_size = 1;
        }
        p += reclen;
    }
    return 0;
}

static int end_entry(dp_tar_reader *t, dp_err *err)
{
    int rc = 0;
    switch (t->kind) {
    case 1:
        rc = t->cb->end(t->ctx, err);
        free(t->path);
        t->path = NULL;
        break;
    case 2: rc = parse_pax(t, err); break;
    case 3:
        free(t->next_path);
        t->next_path = dp_strndup(t->meta.data ? t->meta.data : "", strnlen(t->meta.data ? t->meta.data : "", t->meta.len));
        if (!t->next_path)
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        break;
    }
    dp_buf_reset(&t->meta);
    t->kind = 0;
    return rc;
}

static int begin_entry(dp_tar_reader *t, dp_err *err)
{
    const unsigned char *h = t->hdr;
    uint64_t sum = 0, want, size;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    if (tar_number(h + 148, 8, &want) < 0 || sum != want)
        return corrupt(err, "bad header checksum");
    if (tar_number(h + 124, 12, &size) < 0)
        return corrupt(err, "bad entry size");
    char type = (char)h[156];
    if (t->has_next_size && type != 'x' && type != 'L' && type != 'g') {
        size = t->next_size;
        t->has_next_size = 0;
    }
    t->data_left = size;
    t->pad_left = (512 - size % 512) % 512;
    dp_buf_reset(&t->meta);
    if (type == 'x' || type == 'L') {
        if (size > DP_TAR_MAX_META)
            return corrupt(err, "oversized extended header");
        t->kind = type == 'x' ? 2 : 3;
        return 0;
    }
    if (type == 'g') {
        t->kind = 0;
        return 0;
    }
    char *path = t->next_path;
    t->next_path = NULL;
    if (!path) {
        char name[101], prefix[156];
        memcpy(name, h, 100);
        name[100] = 0;
        memcpy(prefix, h + 345, 155);
        prefix[155] = 0;
        path = !memcmp(h + 257, "ustar", 5) && prefix[0] ? dp_asprintf("%s/%s", prefix, name) : dp_strdup(name);
        if (!path)
            return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    if (type != '0' && type != 0 && type != '7') {
        free(path);
        t->kind = 0;
        return 0;
    }
    t->kind = 1;
    t->path = path;
    return t->cb->begin(t->ctx, path, size, err);
}

int dp_tar_reader_feed(dp_tar_reader *t, const void *buf, size_t n, dp_err *err)
{
    const unsigned char *p = buf;
    int rc = 0;
    while (n && !rc) {
        if (t->ended) {
            for (size_t i = 0; i < n; i++)
                if (p[i])
                    return corrupt(err, "data after the end of the archive");
            return 0;
        }
        if (t->data_left) {
            size_t k = t->data_left < n ? (size_t)t->data_left : n;
            if (t->kind == 1)
                rc = t->cb->data(t->ctx, p, k, err);
            else if (t->kind && dp_buf_append(&t->meta, p, k) < 0)
                rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
            t->data_left -= k;
            p += k;
            n -= k;
            if (!rc && !t->data_left)
                rc = end_entry(t, err);
            continue;
        }
        if (t->pad_left) {
            size_t k = t->pad_left < n ? (size_t)t->pad_left : n;
            t->pad_left -= k;
            p += k;
            n -= k;
            continue;
        }
        size_t k = 512 - t->hdr_len < n ? 512 - t->hdr_len : n;
        memcpy(t->hdr + t->hdr_len, p, k);
        t->hdr_len += k;
        p += k;
        n -= k;
        if (t->hdr_len < 512)
            continue;
        t->hdr_len = 0;
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++)
            zero = t->hdr[i] == 0;
        if (zero) {
            if (++t->zero_blocks == 2)
                t->ended = 1;
            continue;
        }
        if (t->zero_blocks)
            return corrupt(err, "header after an end-of-archive block");
        if ((rc = begin_entry(t, err)))
            break;
        if (!t->data_left)
            rc = end_entry(t, err);
    }
    return rc;
}

int dp_tar_reader_finish(dp_tar_reader *t, dp_err *err)
{
    if (!t->ended)
        return corrupt(err, t->data_left || t->kind ? "truncated inside an entry" : "truncated (no end-of-archive blocks)");
    return 0;
}
