/*
 * retention.h - applying the retention policy (domain/retention.h) to a database after each good commit: the
 * backups it does not keep are marked deleted in the catalog first and then removed from storage (data file
 * and manifest), so a crash between the two leaves a catalog entry pointing at nothing, never a file the
 * catalog forgot. Removing a stored backup is shared with app delete.
 */
#ifndef SD_RETENTION_SVC_H
#define SD_RETENTION_SVC_H

#include <stdint.h>

#include "service/ctx.h"

/* Apply the app's policy to one database (failures are warnings: retention runs again at the next commit). */
void sd_retention_apply(sd_ctx *ctx, int64_t app, int64_t db_id);
/* A backup's data file and manifest out of storage. Both are tried; err is the first failure. */
int sd_backup_remove_stored(dp_storage *stg, const char *file_name, dp_err *err);

#endif
