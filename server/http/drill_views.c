/* drill_views.c - drill policies as JSON (see drill_views.h). */
#include "http/drill_views.h"

#include "domain/cron.h"
#include "domain/drill.h"
#include "domain/schedule.h"
#include "http/views.h"

cJSON *sd_view_drill_policies(const sd_drill_policy_list *l, int64_t now_ms)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < l->n; i++) {
        const sd_drill_policy_row *p = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "environment", p->env);
        if (p->db_key)
            cJSON_AddStringToObject(o, "database_key", p->db_key);
        else
            cJSON_AddNullToObject(o, "database_key");
        const char *mode = sd_drill_mode_name(p->mode);
        cJSON_AddStringToObject(o, "mode", mode ? mode : "unknown");
        sd_cron c;
        char msg[200];
        if (p->mode == SD_DRILL_CRON && !sd_cron_parse(p->cron, &c, msg, sizeof msg)) {
            cJSON_AddStringToObject(o, "cron", p->cron);
            cJSON_AddStringToObject(o, "tz", p->tz);
            int64_t next = sd_cron_next(&c, p->tz, now_ms / 1000, SD_SCHEDULE_HORIZON_S);
            sd_view_time(o, "next", next > 0 ? next * 1000 : 0);
        } else {
            cJSON_AddNullToObject(o, "cron");
            cJSON_AddNullToObject(o, "tz");
            cJSON_AddNullToObject(o, "next");
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
