/* drill_results.c - recording drill results and reading the evidence (see drill_results.h). */
#include "service/drill_results.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "domain/names.h"
#include "service/notify.h"
#include "store/apps.h"
#include "store/backups.h"

/* ---- decoding ---- */

static const cJSON *member(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* An optional text member into *out (owned; NULL when absent). */
static int text(const cJSON *o, const char *k, size_t max, char **out, char *msg, size_t msglen)
{
    const cJSON *v = member(o, k);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v)) {
        snprintf(msg, msglen, "drill result: %s is not a string", k);
        return -1;
    }
    if (sd_drill_text(v->valuestring, strlen(v->valuestring), max, k, msg, msglen))
        return -1;
    if (!(*out = dp_strdup(v->valuestring))) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

static int number(const cJSON *o, const char *k, int required, int64_t *out, int *present, char *msg, size_t msglen)
{
    const cJSON *v = member(o, k);
    *out = 0;
    if (present)
        *present = v != NULL;
    if (!v) {
        if (required)
            snprintf(msg, msglen, "drill result: %s is missing", k);
        return required ? -1 : 0;
    }
    if (!cJSON_IsNumber(v)) {
        snprintf(msg, msglen, "drill result: %s is not a number", k);
        return -1;
    }
    return sd_drill_number(v->valuedouble, k, out, msg, msglen);
}

static int mismatches(const cJSON *o, sd_drill_doc *d, char *msg, size_t msglen)
{
    const cJSON *a = member(o, "mismatches"), *v;
    if (!a)
        return 0;
    if (!cJSON_IsArray(a)) {
        snprintf(msg, msglen, "drill result: mismatches is not an array");
        return -1;
    }
    int n = cJSON_GetArraySize(a);
    if (n > SD_DRILL_MISMATCHES_MAX) {
        snprintf(msg, msglen, "drill result: more than %d mismatches", SD_DRILL_MISMATCHES_MAX);
        return -1;
    }
    int keep = n < SD_DRILL_MISMATCHES_KEPT ? n : SD_DRILL_MISMATCHES_KEPT;
    if (keep && !(d->mismatches = calloc((size_t)keep, sizeof *d->mismatches))) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsString(v)) {
            snprintf(msg, msglen, "drill result: mismatch %d is not a string", d->nmismatches + 1);
            return -1;
        }
        if (sd_drill_text(v->valuestring, strlen(v->valuestring), SD_DRILL_TEXT_MAX, "a mismatch line", msg, msglen))
            return -1;
        if (d->nkept < keep) {
            if (!(d->mismatches[d->nkept] = dp_strdup(v->valuestring))) {
                snprintf(msg, msglen, "out of memory");
                return -1;
            }
            d->nkept++;
        }
        d->nmismatches++;
    }
    return 0;
}

static int checks(const cJSON *o, sd_drill_doc *d, char *msg, size_t msglen)
{
    const cJSON *a = member(o, "checks"), *v;
    if (!a)
        return 0;
    if (!cJSON_IsArray(a)) {
        snprintf(msg, msglen, "drill result: checks is not an array");
        return -1;
    }
    int n = cJSON_GetArraySize(a);
    if (n > SD_DRILL_CHECKS_MAX) {
        snprintf(msg, msglen, "drill result: more than %d checks", SD_DRILL_CHECKS_MAX);
        return -1;
    }
    if (n && !(d->checks = calloc((size_t)n, sizeof *d->checks))) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    cJSON_ArrayForEach(v, a)
    {
        sd_drill_check_doc *c = &d->checks[d->nchecks];
        const cJSON *p = cJSON_IsObject(v) ? member(v, "passed") : NULL;
        if (!cJSON_IsObject(v) || !cJSON_IsBool(p)) {
            snprintf(msg, msglen, "drill result: check %d is not an object with a boolean passed", d->nchecks + 1);
            return -1;
        }
        d->nchecks++;
        c->passed = cJSON_IsTrue(p);
        if (text(v, "name", SD_DRILL_CHECK_NAME_MAX, &c->name, msg, msglen) ||
            text(v, "result", SD_DRILL_RESULT_MAX, &c->result, msg, msglen))
            return -1;
        if (!c->name || !c->name[0]) {
            snprintf(msg, msglen, "drill result: check %d has no name", d->nchecks);
            return -1;
        }
    }
    return 0;
}

static int decode(const cJSON *o, sd_drill_doc *d, char *msg, size_t msglen)
{
    const cJSON *s = member(o, "status"), *c = member(o, "compared");
    if (!cJSON_IsString(s) || sd_drill_status_parse(s->valuestring, &d->status)) {
        snprintf(msg, msglen, "drill result: status is not passed, failed or error");
        return -1;
    }
    if (c && !cJSON_IsBool(c)) {
        snprintf(msg, msglen, "drill result: compared is not a boolean");
        return -1;
    }
    d->compared = cJSON_IsTrue(c);
    int has_tables = 0, has_rows = 0;
    if (text(o, "error", SD_DRILL_TEXT_MAX, &d->error, msg, msglen) ||
        text(o, "source_type", SD_DRILL_SHORT_MAX, &d->source_type, msg, msglen) ||
        text(o, "target", SD_DRILL_SHORT_MAX, &d->target, msg, msglen) ||
        text(o, "scratch_server_version", SD_DRILL_NAME_MAX, &d->scratch_server_version, msg, msglen) ||
        text(o, "source_server_version", SD_DRILL_NAME_MAX, &d->source_server_version, msg, msglen) ||
        text(o, "schema_migration", SD_DRILL_SHORT_MAX, &d->schema_migration, msg, msglen) ||
        number(o, "duration_ms", 1, &d->duration_ms, NULL, msg, msglen) ||
        number(o, "restore_ms", 0, &d->restore_ms, NULL, msg, msglen) ||
        number(o, "backup_ms", 0, &d->backup_ms, NULL, msg, msglen) ||
        number(o, "tables", 0, &d->tables, &has_tables, msg, msglen) ||
        number(o, "rows", 0, &d->rows, &has_rows, msg, msglen) || mismatches(o, d, msg, msglen) ||
        checks(o, d, msg, msglen))
        return -1;
    if (has_tables != has_rows) {
        snprintf(msg, msglen, "drill result: tables and rows go together");
        return -1;
    }
    d->has_figures = has_tables;
    return sd_drill_doc_check(d, msg, msglen);
}

int sd_drill_doc_parse(const char *json, size_t len, sd_drill_doc *d, char *msg, size_t msglen)
{
    memset(d, 0, sizeof *d);
    if (len > SD_DRILL_DOC_MAX) {
        snprintf(msg, msglen, "drill result: longer than %d bytes", SD_DRILL_DOC_MAX);
        return -1;
    }
    if (!json || !len || memchr(json, 0, len)) {
        snprintf(msg, msglen, "drill result: %s", !json || !len ? "empty" : "holds a NUL byte");
        return -1;
    }
    char *buf = malloc(len + 1);
    if (!buf) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    memcpy(buf, json, len);
    buf[len] = 0;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
    int rc = -1;
    if (!cJSON_IsObject(o))
        snprintf(msg, msglen, "drill result: not a JSON object");
    else
        rc = decode(o, d, msg, msglen);
    cJSON_Delete(o);
    free(buf);
    if (rc)
        sd_drill_doc_free(d);
    return rc;
}

/* ---- recording ---- */

typedef struct {
    int64_t app, backup, agent, job, id;
    const sd_drill_doc *d;
    const char *mismatches, *checks; /* JSON */
} record_arg;

static int record_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    record_arg *a = a_;
    sd_backup_list b = {0};
    sd_app_list app = {0};
    int rc = sd_store_backup_get(ctx->db, a->app, a->backup, &b, &st->err);
    if (!rc && b.n)
        rc = sd_store_app_get(ctx->db, a->app, &app, &st->err);
    if (!rc && (!b.n || !app.n)) {
        sd_list_free(&b);
        sd_list_free(&app);
        return sd_fail(st, SD_NOT_FOUND, "unknown backup 'b_%" PRId64 "'", a->backup);
    }
    const sd_drill_doc *d = a->d;
    int64_t now = sd_ctx_now(ctx);
    sd_drill_new r = {.app = a->app,
                      .db_id = b.n ? b.v[0].db_id : 0,
                      .backup = a->backup,
                      .job = a->job,
                      .agent = a->agent,
                      .env = b.n ? b.v[0].env : "",
                      .status = sd_drill_status_name(d->status),
                      .error = d->error,
                      .started_at = now - d->duration_ms,
                      .finished_at = now,
                      .duration_ms = d->duration_ms,
                      .restore_ms = d->restore_ms,
                      .backup_ms = d->backup_ms,
                      .compared = d->compared,
                      .has_figures = d->has_figures,
                      .tables = d->tables,
                      .rows = d->rows,
                      .mismatch_count = d->nmismatches,
                      .mismatches = a->mismatches,
                      .checks = a->checks,
                      .source_type = d->source_type,
                      .target = d->target,
                      .scratch_server_version = d->scratch_server_version,
                      .source_server_version = d->source_server_version,
                      .schema_migration = d->schema_migration};
    if (!rc)
        rc = sd_store_drill_insert(ctx->db, &r, &a->id, &st->err);
    if (!rc && d->status != SD_DRILL_PASSED) {
        char ref[32], bref[32], t[24];
        sd_drill_ref_failed(ref, a->id);
        sd_id_format(bref, 'b', a->backup);
        dp_stamp_rfc3339(now, t);
        const char *db = b.v[0].db_key ? b.v[0].db_key : "";
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", app.v[0].name);
        cJSON_AddStringToObject(o, "environment", b.v[0].env);
        cJSON_AddStringToObject(o, "database", db);
        cJSON_AddStringToObject(o, "backup_id", bref);
        cJSON_AddStringToObject(o, "drill_id", ref);
        cJSON_AddStringToObject(o, "status", r.status);
        cJSON_AddStringToObject(o, "error", d->error ? d->error : "");
        cJSON_AddNumberToObject(o, "mismatch_count", d->nmismatches);
        cJSON *mm = cJSON_AddArrayToObject(o, "mismatches");
        for (int i = 0; mm && i < d->nkept && i < 10; i++)
            cJSON_AddItemToArray(mm, cJSON_CreateString(d->mismatches[i]));
        cJSON_AddStringToObject(o, "finished_at", t);
        const char *why = d->error ? d->error : d->nkept ? d->mismatches[0] : "a check failed";
        char *line = dp_asprintf("Dumper: restore drill of backup %s of %s/%s (%s) %s: %s", bref, app.v[0].name, db,
                                 b.v[0].env, d->status == SD_DRILL_FAILED ? "failed" : "could not run", why);
        sd_event ev = {.kind = "drill_failed",
                       .ref = ref,
                       .app_id = a->app,
                       .app = app.v[0].name,
                       .env = b.v[0].env,
                       .database = db,
                       .text = line ? line : "Dumper: a restore drill failed",
                       .fields = o};
        rc = sd_event_raise(ctx, &ev, NULL, st);
        free(line);
    }
    sd_list_free(&b);
    sd_list_free(&app);
    return rc;
}

static char *mismatches_json(const sd_drill_doc *d)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < d->nkept; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(d->mismatches[i]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

static char *checks_json(const sd_drill_doc *d)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < d->nchecks; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", d->checks[i].name);
        cJSON_AddBoolToObject(c, "passed", d->checks[i].passed);
        if (d->checks[i].result)
            cJSON_AddStringToObject(c, "result", d->checks[i].result);
        cJSON_AddItemToArray(a, c);
    }
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

int sd_drill_record_id(sd_ctx *ctx, int64_t app, int64_t backup, int64_t agent, int64_t job,
                       const char *result_json, size_t len, int64_t *id, sd_status *st)
{
    sd_drill_doc d;
    char msg[DP_ERR_MSG_MAX];
    if (sd_drill_doc_parse(result_json, len, &d, msg, sizeof msg))
        return sd_fail(st, SD_INVALID, "%s", msg);
    record_arg a = {.app = app, .backup = backup, .agent = agent, .job = job, .d = &d};
    char *mm = mismatches_json(&d), *cs = checks_json(&d);
    int rc;
    if (!mm || !cs) {
        rc = sd_fail(st, SD_INTERNAL, "out of memory");
    } else {
        a.mismatches = mm;
        a.checks = cs;
        rc = sd_txn(ctx, SD_TXN_WRITE, record_step, &a, st);
    }
    free(mm);
    free(cs);
    sd_drill_doc_free(&d);
    if (!rc && id)
        *id = a.id;
    return rc;
}

int sd_drill_record(sd_ctx *ctx, int64_t app, int64_t backup, int64_t agent, int64_t job, const char *result_json,
                    size_t len, sd_status *st)
{
    return sd_drill_record_id(ctx, app, backup, agent, job, result_json, len, NULL, st);
}

/* ---- reading ---- */

typedef struct {
    int64_t app, backup;
    int limit;
    void *out;
} read_arg;

static int latest_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    read_arg *a = a_;
    sd_list_free((sd_drill_list *)a->out);
    return sd_store_drill_latest_of_app(ctx->db, a->app, a->out, &st->err);
}

int sd_drill_latest_of_app(sd_ctx *ctx, int64_t app, sd_drill_list *out, sd_status *st)
{
    read_arg a = {.app = app, .out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_NONE, latest_read, &a, st);
}

static int backup_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    read_arg *a = a_;
    sd_list_free((sd_drill_list *)a->out);
    return sd_store_drill_of_backup(ctx->db, a->app, a->backup, a->limit, a->out, &st->err);
}

int sd_drill_of_backup(sd_ctx *ctx, int64_t app, int64_t backup, int limit, sd_drill_list *out, sd_status *st)
{
    read_arg a = {.app = app, .backup = backup, .limit = limit, .out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_NONE, backup_read, &a, st);
}

static int databases_read(sd_ctx *ctx, void *a_, sd_status *st)
{
    read_arg *a = a_;
    sd_list_free((sd_drill_db_list *)a->out);
    return sd_store_drill_databases(ctx->db, a->app, a->out, &st->err);
}

int sd_drill_databases(sd_ctx *ctx, int64_t app, sd_drill_db_list *out, sd_status *st)
{
    read_arg a = {.app = app, .out = memset(out, 0, sizeof *out)};
    return sd_txn(ctx, SD_TXN_READ, databases_read, &a, st);
}

const sd_drill_row *sd_drill_find(const sd_drill_list *l, int64_t backup)
{
    for (int i = 0; l && i < l->n; i++)
        if (l->v[i].backup_id == backup)
            return &l->v[i];
    return NULL;
}
