/* views.c - JSON shapes of dumperd's objects (see views.h). */
#include "http/views.h"

#include <string.h>

#include "core/util.h"
#include "domain/names.h"

void sd_view_time(cJSON *o, const char *k, int64_t ms)
{
    char b[24];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, k);
        return;
    }
    dp_stamp_rfc3339(ms, b);
    cJSON_AddStringToObject(o, k, b);
}

/* Always a time (the dashboard's created_at and updated_at). */
static void stamp(cJSON *o, const char *k, int64_t ms)
{
    char b[24];
    dp_stamp_rfc3339(ms, b);
    cJSON_AddStringToObject(o, k, b);
}

void sd_view_id(cJSON *o, const char *k, char prefix, int64_t id)
{
    char b[32];
    sd_id_format(b, prefix, id);
    cJSON_AddStringToObject(o, k, b);
}

static void str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void num_or_null(cJSON *o, const char *k, int has, int64_t v)
{
    if (has)
        cJSON_AddNumberToObject(o, k, (double)v);
    else
        cJSON_AddNullToObject(o, k);
}

static void retention(cJSON *o, const sd_retention *r)
{
    cJSON *ret = cJSON_AddObjectToObject(o, "retention");
    cJSON_AddNumberToObject(ret, "keep_last", (double)r->keep_last);
    cJSON_AddNumberToObject(ret, "daily", (double)r->daily);
    cJSON_AddNumberToObject(ret, "weekly", (double)r->weekly);
    cJSON_AddNumberToObject(ret, "monthly", (double)r->monthly);
}

cJSON *sd_view_backup(const sd_backup_row *b)
{
    cJSON *o = cJSON_CreateObject();
    sd_view_id(o, "backup_id", 'b', b->id);
    sd_view_id(o, "database_id", 'd', b->db_id);
    cJSON_AddStringToObject(o, "database_key", b->db_key ? b->db_key : "");
    cJSON_AddStringToObject(o, "environment", b->env);
    cJSON_AddStringToObject(o, "status", b->status);
    cJSON_AddStringToObject(o, "file_name", b->file_name);
    num_or_null(o, "size", b->has_size, b->size);
    str_or_null(o, "sha256", b->sha256);
    num_or_null(o, "duration_ms", b->has_duration, b->duration_ms);
    sd_view_time(o, "created_at", b->created_at);
    sd_view_time(o, "finished_at", b->finished_at);
    str_or_null(o, "error_code", b->error_code);
    str_or_null(o, "error_message", b->error_message);
    str_or_null(o, "encryption", b->encryption);
    cJSON *r = cJSON_AddArrayToObject(o, "recipients");
    for (const char *p = b->recipients ? b->recipients : ""; *p;) {
        size_t n = strcspn(p, " ");
        char key[DP_AGE_RECIPIENT_LEN + 1];
        if (n && n < sizeof key) { /* dumperd validated them when the backup was prepared */
            memcpy(key, p, n);
            key[n] = 0;
            cJSON_AddItemToArray(r, cJSON_CreateString(key));
        }
        p += n + (p[n] == ' ');
    }
    return o;
}

void sd_view_job_policy(cJSON *o, const sd_job_policy *p)
{
    cJSON *r = cJSON_AddArrayToObject(o, "recipients");
    for (int i = 0; i < p->nrecipients; i++)
        cJSON_AddItemToArray(r, cJSON_CreateString(p->recipients[i]));
    num_or_null(o, "nice", p->nice != SD_NICE_UNSET, p->nice);
    str_or_null(o, "ionice", p->ionice[0] ? p->ionice : NULL);
    num_or_null(o, "limit_rate", p->limit_rate > 0, p->limit_rate);
}

cJSON *sd_view_backups(const sd_backup_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++)
        cJSON_AddItemToArray(arr, sd_view_backup(&l->v[i]));
    return arr;
}

cJSON *sd_view_agents(const sd_agent_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) {
        const sd_agent_row *a = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        sd_view_id(o, "agent_id", 'a', a->id);
        cJSON_AddStringToObject(o, "environment", a->env);
        cJSON_AddStringToObject(o, "hostname", a->hostname);
        cJSON_AddNumberToObject(o, "pid", (double)a->pid);
        cJSON_AddStringToObject(o, "agent_version", a->version ? a->version : "");
        cJSON_AddStringToObject(o, "framework", a->framework ? a->framework : "");
        cJSON_AddStringToObject(o, "dispatcher", a->dispatcher ? a->dispatcher : "");
        sd_view_time(o, "registered_at", a->registered_at);
        sd_view_time(o, "last_seen", a->last_seen);
        cJSON_AddStringToObject(o, "role", a->primary ? "primary" : "secondary");
        cJSON_AddBoolToObject(o, "alive", a->alive);
        if (a->stopped)
            sd_view_time(o, "stopped_at", a->stopped_at);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *sd_view_schedules(const sd_schedule_views *v)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < v->n; i++) {
        const sd_schedule_row *s = v->v[i].row;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "environment", s->env);
        if (s->db_id)
            cJSON_AddStringToObject(o, "database_key", s->db_key ? s->db_key : "");
        else
            cJSON_AddNullToObject(o, "database_key");
        cJSON_AddStringToObject(o, "cron", s->cron);
        cJSON_AddStringToObject(o, "tz", s->tz);
        sd_view_time(o, "last_slot", s->last_slot * 1000);
        cJSON *next = cJSON_AddArrayToObject(o, "next");
        for (int k = 0; k < v->v[i].nnext; k++) {
            char b[24];
            dp_stamp_rfc3339(v->v[i].next[k] * 1000, b);
            cJSON_AddItemToArray(next, cJSON_CreateString(b));
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *sd_view_apps(const sd_app_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) {
        const sd_app_row *a = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", a->name);
        sd_view_time(o, "created_at", a->created_at);
        retention(o, &a->retention);
        cJSON_AddNumberToObject(o, "agents", (double)a->agents);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *sd_view_app_summaries(const sd_app_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) {
        const sd_app_row *a = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)a->id);
        cJSON_AddStringToObject(o, "name", a->name);
        stamp(o, "created_at", a->created_at);
        cJSON_AddNumberToObject(o, "agents", (double)a->agents);
        cJSON_AddNumberToObject(o, "databases", (double)a->databases);
        if (a->has_last_good)
            stamp(o, "last_good_at", a->last_good_at);
        else
            cJSON_AddNullToObject(o, "last_good_at");
        cJSON_AddNumberToObject(o, "failed", (double)a->failed);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *sd_view_app(const sd_app_row *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)a->id);
    cJSON_AddStringToObject(o, "name", a->name);
    stamp(o, "created_at", a->created_at);
    retention(o, &a->retention);
    return o;
}

cJSON *sd_view_databases(const sd_database_list *l)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) {
        const sd_database_row *d = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        sd_view_id(o, "database_id", 'd', d->id);
        cJSON_AddStringToObject(o, "environment", d->env);
        cJSON_AddStringToObject(o, "key", d->key);
        cJSON_AddStringToObject(o, "type", d->type);
        str_or_null(o, "host", d->host);
        num_or_null(o, "port", d->has_port, d->port);
        str_or_null(o, "name", d->name);
        str_or_null(o, "user", d->user);
        stamp(o, "updated_at", d->updated_at);
        if (d->has_last_good)
            stamp(o, "last_good_at", d->last_good_at);
        else
            cJSON_AddNullToObject(o, "last_good_at");
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *sd_view_job(const sd_job_view *j, int64_t lease_s)
{
    cJSON *o = cJSON_CreateObject();
    sd_view_id(o, "job_id", 'j', j->id);
    sd_view_id(o, "database_id", 'd', j->db_id);
    cJSON_AddStringToObject(o, "database_key", j->db_key);
    cJSON_AddStringToObject(o, "type", j->type);
    cJSON_AddStringToObject(o, "reason", j->reason);
    sd_view_time(o, "slot", j->slot * 1000);
    cJSON_AddNumberToObject(o, "attempt", (double)j->attempt);
    cJSON_AddNumberToObject(o, "lease", (double)lease_s);
    sd_view_time(o, "lease_until", j->lease_until);
    /* "kind" since drills: an agent that does not know it is never handed a drill (capabilities) */
    cJSON_AddStringToObject(o, "kind", j->kind[0] ? j->kind : "backup");
    if (!strcmp(j->kind, "drill")) {
        cJSON *d = cJSON_AddObjectToObject(o, "drill");
        sd_view_id(d, "backup_id", 'b', j->backup_id);
        cJSON_AddStringToObject(d, "file_name", j->file_name);
        cJSON_AddStringToObject(d, "sha256", j->sha256);
    }
    return o;
}
