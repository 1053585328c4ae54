/* mongodb_archive.c - the MongoDB source's pure parsers and the metadata writer (see mongodb_archive.h). */
#include "source/mongodb_archive.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode "%2F"/"%25" escapes of a file name back into a collection name. */
static char *unescape_coll(const char *s, size_t n, size_t *len)
{
    char *o = malloc(n + 1);
    size_t w = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char h[3] = {s[i + 1], s[i + 2], 0};
            o[w++] = (char)strtol(h, NULL, 16);
            i += 2;
            continue;
        }
        o[w++] = s[i];
    }
    o[w] = 0;
    *len = w;
    return o;
}

/* Split "a/b/<db>/<file>" into db and collection name (its length: a %00 escape puts a NUL in it)
 * and the kind of file. 0 = skip, -1 = out of memory. */
static int classify(const char *path, char **db, char **coll, size_t *coll_len)
{
    *db = *coll = NULL;
    size_t len = strlen(path);
    if (len && path[len - 1] == '/')
        return 0; /* directory */
    const char *file = strrchr(path, '/');
    if (!file || file == path)
        return 0; /* top-level files (oplog.bson, prelude.json) are not collections */
    const char *dbstart = file - 1;
    while (dbstart > path && dbstart[-1] != '/')
        dbstart--;
    file++;
    size_t flen = strlen(file);
    int kind = 0;
    size_t base = 0;
    if (dp_str_has_suffix(file, ".metadata.json")) {
        kind = DP_MONGO_METADATA;
        base = flen - 14;
    } else if (dp_str_has_suffix(file, ".bson")) {
        kind = DP_MONGO_DOCS;
        base = flen - 5;
    } else {
        /* "<coll>.bson.NNN" */
        const char *dot = strrchr(file, '.');
        if (dot && dot - file >= 5 && !strncmp(dot - 5, ".bson", 5) && strlen(dot + 1) >= 3 &&
            strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
            kind = DP_MONGO_DOCS;
            base = (size_t)(dot - 5 - file);
        }
    }
    if (!kind || base == 0)
        return 0;
    *coll = unescape_coll(file, base, coll_len);
    *db = dp_strndup(dbstart, (size_t)(file - 1 - dbstart));
    if (!*coll || !*db || !strncmp(*coll, "system.", 7)) {
        int oom = !*coll || !*db;
        free(*coll);
        free(*db);
        *db = *coll = NULL;
        return oom ? -1 : 0;
    }
    return kind;
}

/* A name the server would take as a database or collection name is still the backup's word for
 * it: refuse what no dump holds. Databases: MongoDB's rules (no /\. "$*<>:|? or control bytes,
 * under 64 bytes), and never admin, config or local (users and roles, sharding, replication: a
 * backup skips them). Collections: no '$' or control bytes (a %00 escape would cut the name). */
static int check_names(const char *path, const char *db, const char *coll, size_t coll_len, int mapped,
                       dp_err *err)
{
    size_t n = strlen(db);
    int bad_db = n == 0 || n >= 64;
    for (const unsigned char *c = (const unsigned char *)db; *c && !bad_db; c++)
        bad_db = *c < 0x20 || *c == 0x7f || strchr("/\\. \"$*<>:|?", *c) != NULL;
    if (bad_db && !mapped)
        return dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: entry '%s' names an invalid database (refused)", path);
    if (!mapped && (!strcmp(db, "admin") || !strcmp(db, "config") || !strcmp(db, "local")))
        return dp_err_set(err, DUMPER_ECORRUPT,
                          "mongodb backup: entry '%s' would restore into the system database '%s' (refused)", path,
                          db);
    int bad_coll = coll_len == 0 || strlen(coll) != coll_len;
    for (const unsigned char *c = (const unsigned char *)coll; *c && !bad_coll; c++)
        bad_coll = *c < 0x20 || *c == 0x7f || *c == '$';
    if (bad_coll)
        return dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: entry '%s' names an invalid collection (refused)",
                          path);
    return 0;
}

int dp_mongo_entry_parse(const char *path, int mapped, int *kind, char **db, char **coll, size_t *coll_len,
                         dp_err *err)
{
    *kind = DP_MONGO_SKIP;
    *db = *coll = NULL;
    *coll_len = 0;
    /* Names never reach the filesystem, but an archive dumper wrote has neither. */
    int dotdot = !strcmp(path, "..") || !strncmp(path, "../", 3) || strstr(path, "/../") ||
                 dp_str_has_suffix(path, "/..");
    if (path[0] == '/' || dotdot)
        return dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: entry '%s' has an absolute or '..' path (refused)",
                          path);
    int k = classify(path, db, coll, coll_len);
    if (k < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    int rc = k ? check_names(path, *db, *coll, *coll_len, mapped, err) : 0;
    if (rc) {
        free(*db);
        free(*coll);
        *db = *coll = NULL;
        *coll_len = 0;
        return rc;
    }
    *kind = k;
    return 0;
}

/* The stored options go into a "create" command as they are, so they must be options of a
 * collection and nothing else: no '$' fields (a "$db" would send the command to another database),
 * no session, transaction or concern fields, and no view (viewOn/pipeline: a backup skips views). */
static int check_create_options(const bson_t *opts, const char *db, const char *coll, dp_err *err)
{
    static const char *const refused[] = {"create", "viewOn", "pipeline", "lsid", "txnNumber", "autocommit",
                                          "startTransaction", "writeConcern", "readConcern", "apiVersion",
                                          "apiStrict", "apiDeprecationErrors", NULL};
    bson_iter_t it;
    if (!bson_iter_init(&it, opts))
        return dp_err_set(err, DUMPER_ECORRUPT, "metadata of '%s.%s' has malformed options", db, coll);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        int bad = k[0] == '$';
        for (size_t i = 0; !bad && refused[i]; i++)
            bad = !strcmp(k, refused[i]);
        if (bad)
            return dp_err_set(err, DUMPER_ECORRUPT,
                              "metadata of '%s.%s' holds the option '%.40s', which no collection backup has (refused)",
                              db, coll, k);
    }
    return 0;
}

int dp_mongo_metadata_parse(const char *json, size_t len, const char *db, const char *coll, bson_t *options,
                            bson_t **indexes, dp_err *err)
{
    bson_init(options); /* none stored: {} */
    *indexes = NULL;
    bson_error_t be;
    bson_t *meta = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &be);
    if (!meta)
        return dp_err_set(err, DUMPER_ECORRUPT, "metadata of '%s.%s' is not valid extended json: %s", db, coll,
                          be.message);
    int rc = 0;
    bson_iter_t it;
    if (bson_iter_init_find(&it, meta, "options") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t dlen;
        const uint8_t *data;
        bson_t stored;
        bson_iter_document(&it, &dlen, &data);
        if (!bson_init_static(&stored, data, dlen))
            rc = dp_err_set(err, DUMPER_ECORRUPT, "metadata of '%s.%s' has malformed options", db, coll);
        else if (!bson_concat(options, &stored))
            rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = check_create_options(options, db, coll, err);
    if (!rc && bson_iter_init_find(&it, meta, "indexes") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t ix;
        bson_t *specs = bson_new();
        unsigned n = 0;
        bson_iter_recurse(&it, &ix);
        while (bson_iter_next(&ix)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&ix))
                continue;
            uint32_t dlen;
            const uint8_t *data;
            bson_iter_document(&ix, &dlen, &data);
            bson_t spec, clean = BSON_INITIALIZER;
            bson_init_static(&spec, data, dlen);
            bson_iter_t f;
            if (bson_iter_init_find(&f, &spec, "name") && BSON_ITER_HOLDS_UTF8(&f) &&
                !strcmp(bson_iter_utf8(&f, NULL), "_id_")) {
                bson_destroy(&clean);
                continue;
            }
            bson_copy_to_excluding_noinit(&spec, &clean, "ns", NULL);
            char key[16];
            const char *k;
            bson_uint32_to_string(n++, &k, key, sizeof key);
            bson_append_document(specs, k, -1, &clean);
            bson_destroy(&clean);
        }
        if (n)
            *indexes = specs;
        else
            bson_destroy(specs);
    }
    bson_destroy(meta);
    return rc;
}

int dp_mongo_docs_feed(dp_buf *pending, const void *p, size_t n, const char *name,
                       int (*doc)(void *ctx, bson_t *d, dp_err *err), void *ctx, dp_err *err)
{
    if (dp_buf_append(pending, p, n) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    size_t off = 0;
    int rc = 0;
    while (!rc && pending->len - off >= 4) {
        const unsigned char *d = (const unsigned char *)pending->data + off;
        uint32_t len = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
        if (len < 5 || len > DP_MONGO_DOC_MAX)
            return dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: bad document length in '%s'", name);
        if (pending->len - off < len)
            break;
        bson_t *b = bson_new_from_data(d, len);
        if (!b || !bson_validate(b, BSON_VALIDATE_NONE, NULL)) {
            if (b)
                bson_destroy(b);
            return dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: invalid bson document in '%s'", name);
        }
        off += len;
        rc = doc(ctx, b, err);
    }
    dp_buf_consume(pending, off);
    return rc;
}

int dp_mongo_metadata_json(const bson_t *info, const bson_t *indexes, const char *db, const char *coll, char **json,
                           size_t *len, dp_err *err)
{
    bson_t meta = BSON_INITIALIZER;
    bson_iter_t it, sub;
    if (bson_iter_init_find(&it, info, "options") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t dlen;
        const uint8_t *data;
        bson_iter_document(&it, &dlen, &data);
        bson_t opts;
        if (dlen > 5 && bson_init_static(&opts, data, dlen))
            BSON_APPEND_DOCUMENT(&meta, "options", &opts);
    }
    BSON_APPEND_ARRAY(&meta, "indexes", indexes);
    if (bson_iter_init(&it, info) && bson_iter_find_descendant(&it, "info.uuid", &sub) && BSON_ITER_HOLDS_BINARY(&sub)) {
        bson_subtype_t st;
        uint32_t blen;
        const uint8_t *bin;
        bson_iter_binary(&sub, &st, &blen, &bin);
        char hex[33];
        if (blen == 16) {
            for (int i = 0; i < 16; i++)
                snprintf(hex + 2 * i, 3, "%02x", bin[i]);
            BSON_APPEND_UTF8(&meta, "uuid", hex);
        }
    }
    BSON_APPEND_UTF8(&meta, "collectionName", coll);
    BSON_APPEND_UTF8(&meta, "type", "collection");
    *json = bson_as_canonical_extended_json(&meta, len);
    bson_destroy(&meta);
    bson_t *back = *json ? bson_new_from_json((const uint8_t *)*json, (ssize_t)*len, NULL) : NULL;
    if (!back) {
        bson_free(*json);
        *json = NULL;
        return dp_err_set(err, DUMPER_ESOURCE,
                          "the server's description of collection '%s.%s' (its options or index specs) is not valid "
                          "BSON: no metadata can be written for it",
                          db, coll);
    }
    bson_destroy(back);
    return 0;
}
