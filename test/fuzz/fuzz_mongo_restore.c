/*
 * fuzz_mongo_restore.c - libFuzzer target for what a MongoDB restore reads of a backup
 * (lib/source/mongodb_archive.c behind lib/source/mongodb.c): a tar stream of "<db>/<coll>.bson"
 * documents and "<db>/<coll>.metadata.json" entries, driven exactly as the restore sink drives
 * it, minus the server.
 *
 * Input: the backup's tar bytes. Beyond "no crash, leak or UB":
 * - an entry that is restored names a database and collection a dump can hold: the collection
 *   without '$', control bytes or a cut (%00), not system.*; the database (unless the URL names
 *   the target) 1-63 bytes without /\. "$*<>:|? or control bytes, not admin/config/local; the
 *   path neither absolute nor with a '..' component;
 * - documents: each passes libbson's validation as the restore uses it, and the documents handed
 *   on, concatenated, are exactly the entry's bytes (cutting loses, reorders or invents nothing);
 * - metadata: the options are valid BSON holding no '$' field and no view, session, transaction or
 *   concern field; the index specs hold no "ns" and no _id_ index;
 * - the outcome and everything handed on do not depend on how the stream is cut, and are the same
 *   whether or not the URL names the target database (apart from the database checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/mongodb_archive.h"
#include "fuzz_tar.h"

typedef struct {
    int mapped;
    int kind;
    char *db, *coll, *path;
    size_t coll_len;
    dp_buf pending, content, docs;
    dp_buf log; /* everything handed on, to compare runs */
} run_state;

static int bad_db(const char *db)
{
    size_t n = strlen(db);
    if (n == 0 || n >= 64 || !strcmp(db, "admin") || !strcmp(db, "config") || !strcmp(db, "local"))
        return 1;
    for (const unsigned char *c = (const unsigned char *)db; *c; c++)
        if (*c < 0x20 || *c == 0x7f || strchr("/\\. \"$*<>:|?", *c))
            return 1;
    return 0;
}

static int dotdot(const char *path)
{
    for (const char *p = path; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0))
            return 1;
    return 0;
}

static void clear_entry(run_state *s)
{
    free(s->db);
    free(s->coll);
    free(s->path);
    s->db = s->coll = s->path = NULL;
    s->kind = 0;
    dp_buf_reset(&s->pending);
    dp_buf_reset(&s->content);
    dp_buf_reset(&s->docs);
}

static int on_begin(void *ctx, const char *path, uint64_t size, dp_err *err)
{
    run_state *s = ctx;
    clear_entry(s);
    int kind;
    int rc = dp_mongo_entry_parse(path, s->mapped, &kind, &s->db, &s->coll, &s->coll_len, err);
    if (rc) {
        if ((rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM) || s->db || s->coll)
            abort();
        return rc;
    }
    if (kind == DP_MONGO_SKIP) {
        if (s->db || s->coll)
            abort();
        return 0;
    }
    if (kind != DP_MONGO_METADATA && kind != DP_MONGO_DOCS)
        abort();
    if (path[0] == '/' || dotdot(path) || !s->coll_len || strlen(s->coll) != s->coll_len ||
        !strncmp(s->coll, "system.", 7) || (!s->mapped && bad_db(s->db)))
        abort();
    for (const unsigned char *c = (const unsigned char *)s->coll; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '$')
            abort();
    s->kind = kind;
    s->path = dp_strdup(path);
    dp_buf_printf(&s->log, "B%d:%s\n", kind, s->coll);
    return s->path ? 0 : dp_err_set(err, DUMPER_ENOMEM, "out of memory");
}

static int take_doc(void *ctx, bson_t *doc, dp_err *err)
{
    run_state *s = ctx;
    if (!bson_validate(doc, BSON_VALIDATE_NONE, NULL) || doc->len < 5 || doc->len > DP_MONGO_DOC_MAX)
        abort();
    int rc = dp_buf_append(&s->docs, bson_get_data(doc), doc->len) < 0 ||
                     dp_buf_printf(&s->log, "D%u\n", (unsigned)doc->len) < 0
                 ? dp_err_set(err, DUMPER_ENOMEM, "out of memory")
                 : 0;
    bson_destroy(doc);
    return rc;
}

static int on_data(void *ctx, const void *p, size_t n, dp_err *err)
{
    run_state *s = ctx;
    if (!s->kind)
        return 0;
    if (dp_buf_append(&s->content, p, n) < 0)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    if (s->kind != DP_MONGO_DOCS)
        return 0;
    int rc = dp_mongo_docs_feed(&s->pending, p, n, s->path, take_doc, s, err);
    if (rc && rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM)
        abort();
    /* what was handed on is a prefix of the entry */
    if (s->docs.len > s->content.len || (s->docs.len && memcmp(s->docs.data, s->content.data, s->docs.len)))
        abort();
    return rc;
}

static void check_metadata(run_state *s, const bson_t *opts, const bson_t *ix)
{
    static const char *const refused[] = {"create", "viewOn", "pipeline", "lsid", "txnNumber", "autocommit",
                                          "startTransaction", "writeConcern", "readConcern", "apiVersion",
                                          "apiStrict", "apiDeprecationErrors", NULL};
    bson_iter_t it;
    if (!bson_validate(opts, BSON_VALIDATE_NONE, NULL) || !bson_iter_init(&it, opts))
        abort();
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (k[0] == '$')
            abort();
        for (size_t i = 0; refused[i]; i++)
            if (!strcmp(k, refused[i]))
                abort();
    }
    if (ix) {
        bson_iter_t a, f;
        if (!bson_validate(ix, BSON_VALIDATE_NONE, NULL) || !bson_iter_init(&a, ix))
            abort();
        while (bson_iter_next(&a)) {
            uint32_t len;
            const uint8_t *data;
            bson_t spec;
            if (!BSON_ITER_HOLDS_DOCUMENT(&a))
                abort();
            bson_iter_document(&a, &len, &data);
            if (!bson_init_static(&spec, data, len) || bson_has_field(&spec, "ns"))
                abort();
            if (bson_iter_init_find(&f, &spec, "name") && BSON_ITER_HOLDS_UTF8(&f) &&
                !strcmp(bson_iter_utf8(&f, NULL), "_id_"))
                abort();
        }
    }
    char *o = bson_as_canonical_extended_json(opts, NULL), *i = ix ? bson_as_canonical_extended_json(ix, NULL) : NULL;
    dp_buf_printf(&s->log, "M%s|%s\n", o ? o : "-", i ? i : "-");
    bson_free(o);
    bson_free(i);
}

static int on_end(void *ctx, dp_err *err)
{
    run_state *s = ctx;
    int rc = 0;
    if (s->kind == DP_MONGO_METADATA) {
        bson_t opts;
        bson_t *ix = NULL;
        rc = dp_mongo_metadata_parse(s->content.data ? s->content.data : "", s->content.len, "db", s->coll, &opts, &ix,
                                     err);
        if (rc && rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM)
            abort();
        if (!rc)
            check_metadata(s, &opts, ix);
        if (rc && ix)
            abort();
        bson_destroy(&opts);
        if (ix)
            bson_destroy(ix);
    } else if (s->kind == DP_MONGO_DOCS) {
        if (s->pending.len) {
            rc = dp_err_set(err, DUMPER_ECORRUPT, "mongodb backup: '%s' ends inside a document", s->path);
        } else if (s->docs.len != s->content.len ||
                   (s->docs.len && memcmp(s->docs.data, s->content.data, s->docs.len) != 0)) {
            abort();
        }
    }
    dp_buf_printf(&s->log, "E%d\n", rc);
    clear_entry(s);
    return rc;
}

static const dp_tar_reader_cb cb = {.begin = on_begin, .data = on_data, .end = on_end};

static int restore(const uint8_t *p, size_t n, size_t step, int mapped, dp_buf *log)
{
    run_state s;
    memset(&s, 0, sizeof s);
    s.mapped = mapped;
    dp_err err = {0};
    int rc = fuzz_tar_read(&cb, &s, p, n, step, &err);
    if (rc && !err.msg[0])
        abort();
    clear_entry(&s);
    dp_buf_free(&s.pending);
    dp_buf_free(&s.content);
    dp_buf_free(&s.docs);
    dp_buf_printf(&s.log, "R%d\n", rc);
    *log = s.log;
    return rc;
}

static int same(const dp_buf *a, const dp_buf *b)
{
    return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_buf whole, odd, mapped;
    restore(data, size, size ? size : 1, 0, &whole);
    restore(data, size, 1 + (size ? data[size / 2] : 0) % 1000, 0, &odd);
    if (!same(&whole, &odd))
        abort();
    /* with the target named by the URL only the database checks go: what restores without it
     * restores the same with it */
    restore(data, size, size ? size : 1, 1, &mapped);
    if (whole.len >= 3 && !memcmp(whole.data + whole.len - 3, "R0\n", 3) && !same(&whole, &mapped))
        abort();
    dp_buf_free(&whole);
    dp_buf_free(&odd);
    dp_buf_free(&mapped);
    return 0;
}
