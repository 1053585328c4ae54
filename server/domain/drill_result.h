/*
 * drill_result.h - a restore drill's result as dumperd records it: what `dumper drill --json` prints
 * (docs/drills.md, "Output and exit codes"), reported by an agent, so HOSTILE input. Pure: the limits, the
 * checks of each value and of the whole, and the "no passed drill for too long" rule. The JSON decoding that
 * fills an sd_drill_doc is service/drill_results.c's (sd_drill_doc_parse; domain/ links no JSON library).
 *
 * Limits (a document past any of them is refused with one line naming the member):
 * - the document: at most SD_DRILL_DOC_MAX bytes;
 * - `error`: at most SD_DRILL_TEXT_MAX bytes; `mismatches`: at most SD_DRILL_MISMATCHES_MAX lines of at most
 *   SD_DRILL_TEXT_MAX bytes each (a drill of a 10,000-table database may report two lines per table), of which
 *   dumperd keeps the first SD_DRILL_MISMATCHES_KEPT (and the count);
 * - `checks`: at most SD_DRILL_CHECKS_MAX (dumper's own limit), `name` (the check file's path) at most
 *   SD_DRILL_CHECK_NAME_MAX bytes, `result` at most SD_DRILL_RESULT_MAX;
 * - `source_type`, `target`, `schema_migration`: SD_DRILL_SHORT_MAX; the server versions SD_DRILL_NAME_MAX;
 * - numbers: integers in [0, 2^53] (JSON's exact range).
 * Text members are cleaned (bytes that are not UTF-8 become '?', then domain/names.h sd_text_clean: control
 * characters become spaces, C1 controls and bidirectional overrides go): a table name may hold any character and still be shown in a mismatch line, and the line is
 * kept rather than the drill's failure lost.
 * Unknown members are ignored (a newer dumper may add some).
 */
#ifndef SD_DRILL_RESULT_H
#define SD_DRILL_RESULT_H

#include <stddef.h>
#include <stdint.h>

#define SD_DRILL_DOC_MAX (4 * 1024 * 1024)
#define SD_DRILL_TEXT_MAX 1024
#define SD_DRILL_MISMATCHES_MAX 20000
#define SD_DRILL_MISMATCHES_KEPT 100
#define SD_DRILL_CHECKS_MAX 64
#define SD_DRILL_NAME_MAX 255
#define SD_DRILL_CHECK_NAME_MAX 4096 /* a check's name is its file's path as given */
#define SD_DRILL_RESULT_MAX 199
#define SD_DRILL_SHORT_MAX 95
#define SD_DRILL_NUMBER_MAX 9007199254740992.0 /* 2^53 */

typedef enum { SD_DRILL_PASSED = 0, SD_DRILL_FAILED, SD_DRILL_ERROR } sd_drill_status;

typedef struct sd_drill_check_doc {
    char *name;
    int passed;
    char *result; /* may be NULL */
} sd_drill_check_doc;

/* A decoded document. Strings are owned (sd_drill_doc_free); NULL when the member was absent. */
typedef struct sd_drill_doc {
    sd_drill_status status;
    char *error, *source_type, *target, *scratch_server_version, *source_server_version, *schema_migration;
    int compared;
    int64_t restore_ms, duration_ms, backup_ms; /* backup_ms: 0 when absent */
    int has_figures;                           /* tables and rows were reported (the target was inspected) */
    int64_t tables, rows;
    char **mismatches; /* the first nkept lines */
    int nkept, nmismatches;
    sd_drill_check_doc *checks;
    int nchecks;
} sd_drill_doc;

void sd_drill_doc_free(sd_drill_doc *d);

/* "passed", "failed", "error" -> 0 and *out, else -1. */
int sd_drill_status_parse(const char *s, sd_drill_status *out);
const char *sd_drill_status_name(sd_drill_status s);

/* A text member of at most max bytes: 0 (s cleaned: bytes that are not UTF-8 become '?', then sd_text_clean:
 * control characters become spaces, C1 controls and bidirectional overrides go), or -1 with msg "drill
 * result: <what> is longer than <max> bytes" / "... holds a NUL byte" (len: its length as decoded). */
int sd_drill_text(char *s, size_t len, size_t max, const char *what, char *msg, size_t msglen);
/* A number member: 0 with *out, or -1 with msg when it is not an integer in [0, 2^53]. */
int sd_drill_number(double v, const char *what, int64_t *out, char *msg, size_t msglen);
/* The whole document's consistency: a passed drill has no error, no mismatch and no failed check; an errored
 * one says why (error). 0 or -1 with msg. */
int sd_drill_doc_check(const sd_drill_doc *d, char *msg, size_t msglen);

/*
 * Evidence: a database is overdue when it has had no passed drill for more than max_age_s seconds, counted
 * from its newest passed drill or, never passed, from `since_ms` (its first backup, or when it became known).
 * max_age_s <= 0: the rule is off. Keys of the alert: "v_<database id>:<id of its newest passed drill or 0>"
 * (once per condition, resolved by a newer passed drill, like the stale-backup alert).
 */
int sd_drill_overdue(int has_passed, int64_t last_passed_ms, int64_t since_ms, int64_t now_ms, int64_t max_age_s);
void sd_drill_ref_overdue(char out[64], int64_t db, int64_t newest_passed);
int sd_drill_ref_overdue_parse(const char *ref, int64_t *db, int64_t *newest_passed);
/* "r_<drill result id>": the drill_failed event of one result. */
void sd_drill_ref_failed(char out[32], int64_t result);

#endif
