/* drill_json.c - a drill's result as the `dumper drill --json` object (see drill.h): printed by the CLI and
 * reported to dumperd by a drill job (lib/agent/drill_job.c), one shape for both. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "job/drill.h"

char *dp_drill_result_json(const char *backup, const dp_drill_result *r, const dp_err *err)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "backup", backup);
    cJSON_AddStringToObject(o, "status", err ? "error" : r->passed ? "passed" : "failed");
    if (err)
        cJSON_AddStringToObject(o, "error", err->msg[0] ? err->msg : dumper_strerror(err->code));
    if (r->m.source_type)
        cJSON_AddStringToObject(o, "source_type", r->m.source_type);
    if (r->target[0])
        cJSON_AddStringToObject(o, "target", r->target);
    cJSON_AddBoolToObject(o, "compared", r->compared);
    cJSON_AddNumberToObject(o, "restore_ms", (double)r->restore_ms);
    cJSON_AddNumberToObject(o, "duration_ms", (double)r->total_ms);
    if (r->m.duration_ms)
        cJSON_AddNumberToObject(o, "backup_ms", (double)r->m.duration_ms);
    if (r->found.known) {
        uint64_t rows = 0;
        for (size_t i = 0; i < r->found.ntables; i++)
            rows += r->found.tables[i].rows;
        cJSON_AddNumberToObject(o, "tables", (double)r->found.ntables);
        cJSON_AddNumberToObject(o, "rows", (double)rows);
        if (r->found.server_version)
            cJSON_AddStringToObject(o, "scratch_server_version", r->found.server_version);
    }
    if (r->m.contents.server_version)
        cJSON_AddStringToObject(o, "source_server_version", r->m.contents.server_version);
    if (r->m.contents.migration)
        cJSON_AddStringToObject(o, "schema_migration", r->m.contents.migration);
    cJSON *mm = cJSON_AddArrayToObject(o, "mismatches");
    for (size_t i = 0; mm && i < r->nmismatches; i++)
        cJSON_AddItemToArray(mm, cJSON_CreateString(r->mismatches[i]));
    cJSON *cs = cJSON_AddArrayToObject(o, "checks");
    for (size_t i = 0; cs && i < r->nchecks; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", r->checks[i].name);
        cJSON_AddBoolToObject(c, "passed", r->checks[i].ok);
        cJSON_AddStringToObject(c, "result", r->checks[i].detail);
        cJSON_AddItemToArray(cs, c);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
