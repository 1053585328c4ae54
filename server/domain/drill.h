/*
 * drill.h - restore drills run by dumperd (issue 15 item 3): when a database's latest good backup is drilled,
 * which policy applies, what an agent can do, and what attempts a drill job gets. Pure.
 *
 * A drill policy belongs to an app's environment (every database of it) or to one database; the database's
 * own policy wins over its environment's. It drills after each committed backup, or on the slots of a cron
 * expression (domain/cron.h, the same rules and validation as backup schedules). A cron pass that finds
 * several slots due (after downtime) queues one drill, not one per slot: a drill proves the latest backup.
 *
 * Attempts: a drill whose job process reports a result (passed, failed or error) is done: a failed drill is
 * the finding, not something a retry should hide. Only a lost attempt (the job lease lapsed: the job process
 * died or never started) runs again, SD_DRILL_MAX_ATTEMPTS in all.
 */
#ifndef SD_DRILL_H
#define SD_DRILL_H

#include <stddef.h>
#include <stdint.h>

enum { SD_DRILL_NONE = 0, SD_DRILL_AFTER_BACKUP = 1, SD_DRILL_CRON = 2 };

/* Agent capabilities, as registered ("capabilities": ["drill"]); stored as a bit mask. */
#define SD_CAP_DRILL 1
#define SD_MAX_CAPABILITIES 16 /* names in a registration, at most */

#define SD_DRILL_MAX_ATTEMPTS 2 /* of a drill job whose lease lapses (domain/retry.h sd_retry_requeue) */

/* "after-each-backup" or "cron" (NULL for anything else) and back (SD_DRILL_NONE for an unknown name). */
const char *sd_drill_mode_name(int mode);
int sd_drill_mode_parse(const char *s);

/* A policy as the operator gives it: exactly one of after_each (nonzero) and cron; tz only with cron (NULL:
 * UTC). 0, or -1 with one lowercase line in msg. *leap_only = 1 when the expression fires only on February
 * 29 (allowed, with a warning). */
int sd_drill_policy_check(int after_each, const char *cron, const char *tz, char *msg, size_t msglen, int *leap_only);

/* Of the policies that may apply to database db_id (their db_id: 0 for the environment's), the one that
 * does: the database's own, else the environment's. The index, or -1 when none applies. */
int sd_drill_policy_pick(const int64_t *policy_db_ids, int n, int64_t db_id);

/* A capability name into its bit (0 for names this dumperd does not know: ignored). */
int64_t sd_capability_bit(const char *name);

/* Of the slots one pass found due (oldest first), the one a drill is queued for: the newest; 0 when none. */
int64_t sd_drill_slot(const int64_t *slots, int n);

#endif
