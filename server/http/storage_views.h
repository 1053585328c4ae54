/* storage_views.h - JSON shapes of destinations and copies (issue 16), for the CLI's --json and the API. */
#ifndef SD_STORAGE_VIEWS_H
#define SD_STORAGE_VIEWS_H

#include <cjson/cJSON.h>

#include "store/storages.h"

/* [{name, location, kind, endpoint, region, addressing, credentials ("file"|"environment"), retention,
 *   object_lock: {mode, days}|null, copies: {pending, good, failed}, created_at}] - never a secret. */
cJSON *sd_view_storages(const sd_storage_list *l);
/* [{backup_id, storage, state, attempts, error, updated_at}] */
cJSON *sd_view_copies(const sd_copy_list *l);

#endif
