/*
 * schema.h - the state store's schema, owned here and nowhere else: every table of every aggregate
 * (the modules of store/) and the versioned migrations that build it, one SQL text for SQLite and PostgreSQL.
 *
 * Versions: the table schema_version holds the highest migration applied. Migration 1 is the schema
 * dumperd had before versions existed, written with IF NOT EXISTS so that such a store is adopted as
 * version 1 unchanged. A new table or column is a new migration appended to the list in schema.c (never an
 * edit of an old one); every dumperd command migrates the store it opens, under a lock (PostgreSQL: an
 * advisory lock; SQLite: BEGIN IMMEDIATE), so concurrent starts apply each migration once. A store newer
 * than this dumperd is refused rather than used with a schema it does not know.
 */
#ifndef SD_SCHEMA_H
#define SD_SCHEMA_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* The version this dumperd migrates to. */
int64_t sd_schema_latest(void);
/* Bring the store to sd_schema_latest(). 0, or an error code with err filled (DUMPER_EUNSUPPORTED for a
 * store newer than this dumperd, DUMPER_EBUSY when it stayed locked). */
int sd_schema_migrate(sd_db *db, dp_err *err);
/* The store's version (0: none yet). A store with migration 1's tables and no schema_version table (from
 * before versions) is recorded as version 1 here, so the later migrations (ALTER TABLE ...) apply to it. */
int sd_schema_version(sd_db *db, int64_t *version, dp_err *err);

#endif
