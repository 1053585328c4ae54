/*
 * fuzz_dumperd_drill_result.c - libFuzzer target for a restore drill's result as dumperd reads it
 * (server/service/drill_results.c sd_drill_doc_parse, the rules of server/domain/drill_result.c): the
 * `dumper drill --json` document an agent reports, hostile input. The input is the document, as is (no NUL
 * added: the decoder copies it).
 *
 * Beyond "no crash, leak or UB":
 * - a refusal is one non-empty line starting "drill result: " (or "out of memory") without control
 *   characters, and leaves the document zeroed;
 * - an accepted document: a known status; every text member within its limit and free of control characters;
 *   at most SD_DRILL_MISMATCHES_MAX mismatches counted, at most SD_DRILL_MISMATCHES_KEPT kept (all of them
 *   when fewer), each a non-NULL line within its limit; at most SD_DRILL_CHECKS_MAX checks, each with a name;
 *   numbers in [0, 2^53]; a passed drill has no error, mismatch or failed check; an errored one has an error;
 * - what dumperd would store, written back as a document, decodes to the same values (the cleaning and the
 *   limits are stable).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/drill_results.h"

static void check_text(const char *s, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    if (n > max)
        abort();
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            abort();
}

static void check_num(int64_t v)
{
    if (v < 0 || v > (INT64_C(1) << 53))
        abort();
}

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* Integers as their digits: cJSON prints a double with 15 significant digits when the value compares "equal"
 * within its epsilon, so 2^53 would come back as 9007199254740990. */
static void add_int(cJSON *o, const char *k, int64_t v)
{
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)v);
    cJSON_AddRawToObject(o, k, n);
}

static void add_text(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

/* The document written back (what dumperd keeps of it). */
static char *write_back(const sd_drill_doc *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", sd_drill_status_name(d->status));
    add_text(o, "error", d->error);
    add_text(o, "source_type", d->source_type);
    add_text(o, "target", d->target);
    add_text(o, "scratch_server_version", d->scratch_server_version);
    add_text(o, "source_server_version", d->source_server_version);
    add_text(o, "schema_migration", d->schema_migration);
    cJSON_AddBoolToObject(o, "compared", d->compared);
    add_int(o, "duration_ms", d->duration_ms);
    add_int(o, "restore_ms", d->restore_ms);
    add_int(o, "backup_ms", d->backup_ms);
    if (d->has_figures) {
        add_int(o, "tables", d->tables);
        add_int(o, "rows", d->rows);
    }
    cJSON *m = cJSON_AddArrayToObject(o, "mismatches");
    for (int i = 0; i < d->nkept; i++)
        cJSON_AddItemToArray(m, cJSON_CreateString(d->mismatches[i]));
    cJSON *c = cJSON_AddArrayToObject(o, "checks");
    for (int i = 0; i < d->nchecks; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", d->checks[i].name);
        cJSON_AddBoolToObject(x, "passed", d->checks[i].passed);
        add_text(x, "result", d->checks[i].result);
        cJSON_AddItemToArray(c, x);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sd_drill_doc d, back;
    char msg[512];
    memset(msg, 0x55, sizeof msg);
    if (sd_drill_doc_parse((const char *)data, size, &d, msg, sizeof msg)) {
        size_t n = strnlen(msg, sizeof msg);
        if (n == 0 || n == sizeof msg || (strncmp(msg, "drill result: ", 14) && strcmp(msg, "out of memory")))
            abort();
        check_text(msg, sizeof msg);
        static const sd_drill_doc zero;
        if (memcmp(&d, &zero, sizeof d))
            abort();
        return 0;
    }
    if ((unsigned)d.status > SD_DRILL_ERROR)
        abort();
    check_text(d.error, SD_DRILL_TEXT_MAX);
    check_text(d.source_type, SD_DRILL_SHORT_MAX);
    check_text(d.target, SD_DRILL_SHORT_MAX);
    check_text(d.schema_migration, SD_DRILL_SHORT_MAX);
    check_text(d.scratch_server_version, SD_DRILL_NAME_MAX);
    check_text(d.source_server_version, SD_DRILL_NAME_MAX);
    check_num(d.duration_ms), check_num(d.restore_ms), check_num(d.backup_ms), check_num(d.tables), check_num(d.rows);
    if (d.nmismatches < 0 || d.nmismatches > SD_DRILL_MISMATCHES_MAX || d.nkept < 0 ||
        d.nkept > SD_DRILL_MISMATCHES_KEPT ||
        d.nkept != (d.nmismatches < SD_DRILL_MISMATCHES_KEPT ? d.nmismatches : SD_DRILL_MISMATCHES_KEPT))
        abort();
    for (int i = 0; i < d.nkept; i++) {
        if (!d.mismatches[i])
            abort();
        check_text(d.mismatches[i], SD_DRILL_TEXT_MAX);
    }
    if (d.nchecks < 0 || d.nchecks > SD_DRILL_CHECKS_MAX)
        abort();
    for (int i = 0; i < d.nchecks; i++) {
        if (!d.checks[i].name || !d.checks[i].name[0])
            abort();
        check_text(d.checks[i].name, SD_DRILL_CHECK_NAME_MAX);
        check_text(d.checks[i].result, SD_DRILL_RESULT_MAX);
        if (d.status == SD_DRILL_PASSED && !d.checks[i].passed)
            abort();
    }
    if (d.status == SD_DRILL_PASSED && (d.error || d.nmismatches))
        abort();
    if (d.status == SD_DRILL_ERROR && !(d.error && d.error[0]))
        abort();

    /* written back, it decodes to the same (a passed drill with kept mismatches cannot be: none) */
    char *s = write_back(&d);
    if (!s)
        abort();
    if (sd_drill_doc_parse(s, strlen(s), &back, msg, sizeof msg))
        abort();
    if (back.status != d.status || !streq(back.error, d.error) || !streq(back.source_type, d.source_type) ||
        !streq(back.target, d.target) || !streq(back.schema_migration, d.schema_migration) ||
        !streq(back.scratch_server_version, d.scratch_server_version) ||
        !streq(back.source_server_version, d.source_server_version) || back.compared != d.compared ||
        back.duration_ms != d.duration_ms || back.restore_ms != d.restore_ms || back.backup_ms != d.backup_ms ||
        back.has_figures != d.has_figures || back.tables != d.tables || back.rows != d.rows ||
        back.nkept != d.nkept || back.nchecks != d.nchecks)
        abort();
    for (int i = 0; i < d.nkept; i++)
        if (strcmp(back.mismatches[i], d.mismatches[i]))
            abort();
    for (int i = 0; i < d.nchecks; i++)
        if (strcmp(back.checks[i].name, d.checks[i].name) || back.checks[i].passed != d.checks[i].passed ||
            !streq(back.checks[i].result, d.checks[i].result))
            abort();
    free(s);
    sd_drill_doc_free(&back);
    sd_drill_doc_free(&d);
    return 0;
}
