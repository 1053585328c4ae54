/*
 * mongodb_archive.h - what the MongoDB source parses, kept pure (no connection, no I/O) so that it
 * is unit-tested and fuzzed (test/fuzz/fuzz_mongo_restore.c, fuzz_mongo_reply.c); mongodb.c does
 * the talking to the server.
 *
 * Restore: what a backup's tar entry names (database, collection, metadata or documents), the
 * metadata entry (the options a collection is created with and its index specs) and the documents
 * of a .bson entry, cut and validated with libbson. A backup is hostile input: whatever passes here
 * is only ever sent to the server as data of the named collection.
 * Backup: the metadata entry written from the server's listCollections entry and index specs.
 */
#ifndef DP_MONGODB_ARCHIVE_H
#define DP_MONGODB_ARCHIVE_H

#include <bson/bson.h>
#include <stddef.h>

#include "core/err.h"
#include "core/util.h"

/* The largest document a .bson entry may hold (a server's limit is 16 MiB; room for nesting). */
#define DP_MONGO_DOC_MAX (48u * 1024 * 1024)

enum { DP_MONGO_SKIP = 0, DP_MONGO_METADATA = 1, DP_MONGO_DOCS = 2 };

/* What the tar entry `path` holds: *kind is DP_MONGO_SKIP (directories, top-level files, system.*
 * collections, other files) or the metadata or documents of collection *coll (*coll_len bytes: a
 * %00 escape would put a NUL in it) of database *db; both malloc'd (caller frees), NULL when
 * skipped. mapped: the restore goes into the URL's database, so the backup's database name is not
 * used and not checked. DUMPER_ECORRUPT for a path no dump has (absolute or '..', an invalid or
 * system database, an invalid collection name), DUMPER_ENOMEM. */
int dp_mongo_entry_parse(const char *path, int mapped, int *kind, char **db, char **coll, size_t *coll_len,
                         dp_err *err);

/* The metadata entry of db.coll (canonical extended JSON, as the backup writes it): the options to
 * create the collection with into *options (initialised here; bson_destroy it also on failure) and
 * the index specs to create once its documents are in, as an array, into *indexes (caller
 * bson_destroy()s; NULL when there are none): every spec but the _id_ index, without "ns". Options
 * must be collection options only: no '$' field (a "$db" would send the command elsewhere), no
 * view, session, transaction or concern fields. DUMPER_ECORRUPT otherwise, naming db.coll. */
int dp_mongo_metadata_parse(const char *json, size_t len, const char *db, const char *coll, bson_t *options,
                            bson_t **indexes, dp_err *err);

/* The documents of a .bson entry, fed in pieces of any size: *pending keeps a partial document
 * between calls (an entry that ends with pending->len != 0 ends inside a document). Each whole
 * document that passes bson_validate() goes to doc(ctx, d, err), which owns d (bson_destroy) and
 * may fail. name names the entry in messages. DUMPER_ECORRUPT for a length outside 5..
 * DP_MONGO_DOC_MAX or an invalid document, DUMPER_ENOMEM, or doc's error. */
int dp_mongo_docs_feed(dp_buf *pending, const void *p, size_t n, const char *name,
                       int (*doc)(void *ctx, bson_t *d, dp_err *err), void *ctx, dp_err *err);

/* The metadata entry a backup writes for collection db.coll: the options of its listCollections
 * entry `info`, its index specs (`indexes`, an array document), the uuid of info.uuid,
 * collectionName and type, as canonical extended JSON (mongodump's .metadata.json) into *json
 * (free with bson_free()) and its length into *len. The server's documents are only known to have
 * the right outer length: when libbson cannot write them as JSON, or writes JSON that does not read
 * back (libbson 1.23 does both for BSON its own validator passes), DUMPER_ESOURCE and *json NULL:
 * never a metadata entry no restore can read. */
int dp_mongo_metadata_json(const bson_t *info, const bson_t *indexes, const char *db, const char *coll, char **json,
                           size_t *len, dp_err *err);

#endif
