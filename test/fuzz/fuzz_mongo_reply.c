/*
 * fuzz_mongo_reply.c - libFuzzer target for what a MongoDB backup makes of a server's answers
 * (lib/source/mongodb_archive.c): a collection's listCollections entry and its index specs become
 * the backup's .metadata.json, which a restore parses again.
 *
 * Input: concatenated BSON documents as libmongoc hands them over from a reply (only the outer
 * length is known to fit: libmongoc does not validate what is inside); the first is the
 * listCollections entry, the others are index specs. Beyond "no crash, leak or UB" (also for
 * invalid BSON inside a document):
 * - the metadata is written, and reads back as JSON, unless one of the documents does not go through
 *   JSON and back on its own (libbson 1.23 validates BSON that its JSON writer refuses or writes as
 *   invalid JSON): then DUMPER_ESOURCE and one line, never a metadata entry no restore can read;
 * - round trip: the restore's parser reads it back to the entry's options (byte for byte) and the
 *   index specs without _id_ and without "ns", or refuses it (DUMPER_ECORRUPT) exactly when the
 *   options hold a field a restore refuses ('$...', viewOn, writeConcern, ...).
 * Extended JSON cannot tell a document whose keys look like its own markers ({"$numberInt": "1"},
 * {"$oid": ...}) from the value they mark, nor carry an array's keys other than 0, 1, ..., a NaN's
 * sign and payload or a non-canonical Decimal128 encoding: options and specs holding any of these
 * at any depth are only checked for "no crash" (no server stores them in either).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/mongodb_archive.h"

#define MAX_DOCS 16

/* Keys JSON cannot carry: '$...' anywhere, and array keys other than "0", "1", ... in order. */
static int json_ambiguous(const bson_t *b, int is_array, int depth)
{
    bson_iter_t it;
    if (depth > 100 || !bson_iter_init(&it, b))
        return 1;
    unsigned i = 0;
    while (bson_iter_next(&it)) {
        char want[16];
        snprintf(want, sizeof want, "%u", i++);
        if (bson_iter_key(&it)[0] == '$' || (is_array && strcmp(bson_iter_key(&it), want) != 0))
            return 1;
        /* a NaN's sign and payload bits, and a non-canonical decimal's encoding, do not survive text */
        if (BSON_ITER_HOLDS_DOUBLE(&it) && isnan(bson_iter_double(&it)))
            return 1;
        if (BSON_ITER_HOLDS_DECIMAL128(&it)) {
            bson_decimal128_t d, back;
            char text[BSON_DECIMAL128_STRING];
            bson_iter_decimal128(&it, &d);
            bson_decimal128_to_string(&d, text);
            if (!bson_decimal128_from_string(text, &back) || back.high != d.high || back.low != d.low)
                return 1;
        }
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            uint32_t len;
            const uint8_t *data;
            bson_t sub;
            if (BSON_ITER_HOLDS_DOCUMENT(&it))
                bson_iter_document(&it, &len, &data);
            else
                bson_iter_array(&it, &len, &data);
            if (!bson_init_static(&sub, data, len) || json_ambiguous(&sub, BSON_ITER_HOLDS_ARRAY(&it), depth + 1))
                return 1;
        }
    }
    return 0;
}

/* libbson writes d as JSON that reads back */
static int json_round_trips(const bson_t *d)
{
    size_t len;
    char *j = bson_as_canonical_extended_json(d, &len);
    bson_t *back = j ? bson_new_from_json((const uint8_t *)j, (ssize_t)len, NULL) : NULL;
    bson_free(j);
    if (back)
        bson_destroy(back);
    return back != NULL;
}

static int refused_key(const bson_t *opts)
{
    static const char *const refused[] = {"create", "viewOn", "pipeline", "lsid", "txnNumber", "autocommit",
                                          "startTransaction", "writeConcern", "readConcern", "apiVersion",
                                          "apiStrict", "apiDeprecationErrors", NULL};
    bson_iter_t it;
    if (!bson_iter_init(&it, opts))
        return 0;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (k[0] == '$')
            return 1;
        for (size_t i = 0; refused[i]; i++)
            if (!strcmp(k, refused[i]))
                return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bson_t docs[MAX_DOCS];
    size_t n = 0, off = 0;
    int all_valid = 1;
    while (n < MAX_DOCS && size - off >= 5) {
        uint32_t len = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 | (uint32_t)data[off + 2] << 16 |
                       (uint32_t)data[off + 3] << 24;
        if (len < 5 || len > size - off || !bson_init_static(&docs[n], data + off, len))
            break;
        all_valid &= bson_validate(&docs[n], BSON_VALIDATE_UTF8, NULL);
        n++;
        off += len;
    }
    if (n == 0)
        return 0;
    /* the index specs as write_metadata() collects them from the listIndexes cursor */
    bson_t indexes = BSON_INITIALIZER, want_ix = BSON_INITIALIZER;
    unsigned nwant = 0;
    for (size_t i = 1; i < n; i++) {
        char key[16];
        const char *k;
        bson_uint32_to_string((uint32_t)(i - 1), &k, key, sizeof key);
        bson_append_document(&indexes, k, -1, &docs[i]);
        if (!json_round_trips(&docs[i]) || !bson_validate(&docs[i], BSON_VALIDATE_UTF8, NULL)) {
            all_valid = 0; /* libbson's copy asserts on what it cannot append; no round trip to check */
            continue;
        }
        bson_iter_t f;
        if (bson_iter_init_find(&f, &docs[i], "name") && BSON_ITER_HOLDS_UTF8(&f) &&
            !strcmp(bson_iter_utf8(&f, NULL), "_id_"))
            continue;
        bson_t clean = BSON_INITIALIZER;
        bson_copy_to_excluding_noinit(&docs[i], &clean, "ns", NULL);
        bson_uint32_to_string(nwant++, &k, key, sizeof key);
        bson_append_document(&want_ix, k, -1, &clean);
        bson_destroy(&clean);
    }
    size_t jlen = 0;
    char *json = NULL;
    dp_err jerr = {0};
    int jrc = dp_mongo_metadata_json(&docs[0], &indexes, "db", "c\xc3\xa4 %2F", &json, &jlen, &jerr);
    if (jrc) {
        if (jrc != DUMPER_ESOURCE || json || strncmp(jerr.msg, "the server's description of collection", 38) != 0)
            abort();
        /* only when one of the documents is invalid or does not go through JSON and back on its own */
        int fine = 1;
        for (size_t i = 0; i < n && fine; i++)
            fine = json_round_trips(&docs[i]) && bson_validate(&docs[i], BSON_VALIDATE_NONE, NULL);
        if (fine)
            abort();
        goto done;
    }
    if (!json || strlen(json) != jlen)
        abort();
    /* the options as the backup took them */
    bson_t want_opts = BSON_INITIALIZER;
    bson_iter_t it;
    if (bson_iter_init_find(&it, &docs[0], "options") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *d;
        bson_t o;
        bson_iter_document(&it, &len, &d);
        if (len > 5 && bson_init_static(&o, d, len))
            bson_concat(&want_opts, &o);
    }
    bson_t opts;
    bson_t *ix = NULL;
    dp_err err = {0};
    int rc = dp_mongo_metadata_parse(json, jlen, "db", "c", &opts, &ix, &err);
    int exact = all_valid && !json_ambiguous(&want_opts, 0, 0) && !json_ambiguous(&want_ix, 1, 0);
    if (rc) {
        /* what a backup writes always reads back as JSON */
        if ((rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM) || !err.msg[0] || ix || strstr(err.msg, "extended json"))
            abort();
        if (exact && rc == DUMPER_ECORRUPT && !refused_key(&want_opts))
            abort();
    } else if (exact) {
        if (refused_key(&want_opts) || !bson_equal(&opts, &want_opts))
            abort();
        if (nwant ? !ix || !bson_equal(ix, &want_ix) : ix != NULL)
            abort();
    }
    bson_destroy(&opts);
    if (ix)
        bson_destroy(ix);
    bson_destroy(&want_opts);
    bson_free(json);
done:
    bson_destroy(&indexes);
    bson_destroy(&want_ix);
    return 0;
}
