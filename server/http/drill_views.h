/*
 * drill_views.h - the JSON shapes of drill policies (`dumperd drill list --json`; docs/dumperd.md "Drills").
 */
#ifndef SD_DRILL_VIEWS_H
#define SD_DRILL_VIEWS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "store/drills.h"

/* environment, database_key (null for an environment's), mode ("after-each-backup" or "cron"), cron and tz
 * (null after each backup), next (the next slot after now_ms, RFC 3339; null after each backup). */
cJSON *sd_view_drill_policies(const sd_drill_policy_list *l, int64_t now_ms);

#endif
