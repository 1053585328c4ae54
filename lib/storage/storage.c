/* storage.c - driver registry and the generic helpers over any storage driver. */
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const dp_storage_driver *const drivers[] = {&dp_storage_s3, &dp_storage_local};

static int driver_valid(const dp_storage_driver *d)
{
    if (!d->name || !d->accepts || !d->open || !d->writer || !d->close)
        return 0;
    if ((d->features & DP_STORAGE_FEAT_READ) && (!d->read || !d->stat))
        return 0;
    if ((d->features & DP_STORAGE_FEAT_LIST) && !d->list)
        return 0;
    if ((d->features & DP_STORAGE_FEAT_REMOVE) && !d->remove)
        return 0;
    return 1;
}

int dp_storage_open(const char *location, const dp_storage_opts *opts, int create, dp_storage **out, dp_err *err)
{
    static const dp_storage_opts defaults = {0};
    *out = NULL;
    if (!location || !*location)
        return dp_err_set(err, DUMPER_EUSAGE, "no storage location given");
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        const dp_storage_driver *d = drivers[i];
        if (!d->accepts(location))
            continue;
        if (!driver_valid(d))
            return dp_err_set(err, DUMPER_EINTERNAL, "storage driver '%s' is incomplete", d->name);
        return d->open(location, opts ? opts : &defaults, create, out, err);
    }
    return dp_err_set(err, DUMPER_EURL, "unsupported storage location '%s'", location);
}

void dp_storage_close(dp_storage *st)
{
    if (st)
        st->drv->close(st);
}

#define NEED(st, feat, what)                                                                                 \
    do {                                                                                                     \
        if (!((st)->drv->features & (feat)))                                                                 \
            return dp_err_set(err, DUMPER_EUNSUPPORTED, "storage '%s' does not support %s", (st)->drv->name, \
                              what);                                                                         \
    } while (0)

static int check_key(const char *key, dp_err *err)
{
    if (!dp_storage_key_valid(key))
        return dp_err_set(err, DUMPER_EUSAGE, "invalid backup name '%s'", key ? key : "");
    return 0;
}

int dp_storage_writer(dp_storage *st, const char *key, dp_sink **out, dp_err *err)
{
    *out = NULL;
    if (check_key(key, err))
        return err->code;
    return st->drv->writer(st, key, out, err);
}

int dp_storage_read(dp_storage *st, const char *key, dp_sink *to, dp_err *err)
{
    NEED(st, DP_STORAGE_FEAT_READ, "reading");
    if (check_key(key, err))
        return err->code;
    return st->drv->read(st, key, to, err);
}

int dp_storage_stat(dp_storage *st, const char *key, dp_object_info *info, dp_err *err)
{
    NEED(st, DP_STORAGE_FEAT_READ, "reading");
    memset(info, 0, sizeof *info);
    if (check_key(key, err))
        return err->code;
    return st->drv->stat(st, key, info, err);
}

int dp_storage_list(dp_storage *st, dp_object_info **items, size_t *n, dp_err *err)
{
    *items = NULL;
    *n = 0;
    NEED(st, DP_STORAGE_FEAT_LIST, "listing");
    return st->drv->list(st, items, n, err);
}

int dp_storage_remove(dp_storage *st, const char *key, dp_err *err)
{
    NEED(st, DP_STORAGE_FEAT_REMOVE, "deleting");
    if (check_key(key, err))
        return err->code;
    return st->drv->remove(st, key, err);
}

void dp_object_info_free(dp_object_info *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].key);
    free(items);
}

int dp_storage_put(dp_storage *st, const char *key, const void *p, size_t n, dp_err *err)
{
    dp_sink *w = NULL;
    int rc = dp_storage_writer(st, key, &w, err);
    if (!rc)
        rc = dp_sink_write(w, p, n, err);
    if (!rc)
        rc = dp_sink_commit(w, err);
    dp_sink_free(w);
    return rc;
}

typedef struct {
    dp_sink base;
    dp_buf *b;
    size_t max;
} cap_sink;

static int cap_write(dp_sink *s, const void *p, size_t n, dp_err *err)
{
    cap_sink *c = (cap_sink *)s;
    if (c->b->len + n > c->max)
        return dp_err_set(err, DUMPER_ETOOLARGE, "object larger than %zu bytes", c->max);
    if (dp_buf_append(c->b, p, n) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    return 0;
}
static int cap_end(dp_sink *s, dp_err *err) { return 0; }
static const dp_sink_ops cap_ops = {.name = "capture", .write = cap_write, .end = cap_end};

int dp_storage_get(dp_storage *st, const char *key, size_t max, char **out, size_t *outlen, dp_err *err)
{
    dp_buf b = {0};
    cap_sink c;
    dp_sink_init(&c.base, &cap_ops, NULL);
    c.b = &b;
    c.max = max;
    *out = NULL;
    *outlen = 0;
    int rc = dp_storage_read(st, key, &c.base, err);
    if (rc) {
        dp_buf_free(&b);
        return rc;
    }
    if (!b.data && dp_buf_append(&b, "", 0) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    *out = b.data;
    *outlen = b.len;
    return 0;
}

int dp_storage_split_path(const char *path, char **location, char **key, dp_err *err)
{
    *location = *key = NULL;
    const char *slash = strrchr(path, '/');
    const char *schemeend = strstr(path, "://");
    if (schemeend && slash < schemeend + 3) {
        /* "s3://bucket": a location without an object name */
    } else if (!slash) {
        *location = strdup(".");
        *key = strdup(path);
    } else if (slash == path) {
        *location = strdup("/");
        *key = strdup(slash + 1);
    } else {
        *location = strndup(path, (size_t)(slash - path));
        *key = strdup(slash + 1);
        /* "s3://bucket/key": the location needs the bucket */
        if (schemeend && !strchr(schemeend + 3, '/')) {
            free(*location);
            free(*key);
            *location = *key = NULL;
        }
    }
    if (!*location || !*key || !**key) {
        free(*location);
        free(*key);
        *location = *key = NULL;
        return dp_err_set(err, DUMPER_EUSAGE, "'%s' does not name a backup file", path);
    }
    return 0;
}

int dp_storage_key_valid(const char *key)
{
    if (!key || !*key || key[0] == '/' || dp_str_has_suffix(key, "/"))
        return 0;
    for (const char *c = key; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
            return 0;
    const char *seg = key;
    for (;;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!seg[len])
            break;
        seg += len + 1;
    }
    return 1;
}
