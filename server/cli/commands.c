/* commands.c - the operator commands (see cli.h): each is one service call, its answer printed as lines or,
 * with --json, as the API's JSON shapes (http/views.h); errors are one line on stderr and the exit code is
 * the error's DUMPER_E* code. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/util.h"
#include "http/views.h"
#include "http/views_drill.h"
#include "service/admin.h"
#include "service/state.h"
#include "service/users.h"

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* One line per item of the listing commands (without --json). */
static void app_line(const cJSON *o)
{
    printf("%s\t%s\tagents=%d\n", jstr(o, "name"), jstr(o, "created_at"), (int)jnum(o, "agents"));
}

#define BACKUP_HEADER "BACKUP\tCREATED\tDATABASE\tSTATUS\tSIZE\tFILE\tERROR\tDRILL"
static void backup_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\n", jstr(o, "backup_id"), jstr(o, "created_at"),
           jstr(o, "database_key"), jstr(o, "status"), jnum(o, "size"), jstr(o, "file_name"), jstr(o, "error_code"),
           jstr(cJSON_GetObjectItemCaseSensitive(o, "drill"), "status"));
}

/* The five next runs the schedule will produce, space-separated. */
#define SCHEDULE_HEADER "ENVIRONMENT\tDATABASE\tCRON\tTZ\tNEXT RUNS"
static void schedule_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\t", jstr(o, "environment"), jstr(o, "database_key"), jstr(o, "cron"), jstr(o, "tz"));
    const cJSON *t;
    int k = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "next")) printf("%s%s", k++ ? " " : "", t->valuestring);
    printf("%s\n", k ? "" : "-");
}

/* alive: seen recently enough for the intervals it is told (domain/election.h), and not stopped. */
#define AGENT_HEADER "AGENT\tENVIRONMENT\tROLE\tALIVE\tHOST\tPID\tDISPATCHER\tLAST SEEN"
static void agent_line(const cJSON *o)
{
    const cJSON *alive = cJSON_GetObjectItemCaseSensitive(o, "alive");
    printf("%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\n", jstr(o, "agent_id"), jstr(o, "environment"), jstr(o, "role"),
           cJSON_IsTrue(alive) ? "yes" : jstr(o, "stopped_at")[0] != '-' ? "stopped" : "no", jstr(o, "hostname"),
           jnum(o, "pid"), jstr(o, "dispatcher"), jstr(o, "last_seen"));
}

/* A listing: the array as JSON with --json, else the header (when not NULL) and one line per item. */
static int print_list(const sd_cli *a, cJSON *arr, const char *header, void (*line)(const cJSON *))
{
    if (!arr)
        return DUMPER_ENOMEM;
    if (a->json) {
        char *s = cJSON_Print(arr);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        const cJSON *o;
        if (header)
            printf("%s\n", header);
        cJSON_ArrayForEach(o, arr) line(o);
    }
    cJSON_Delete(arr);
    return 0;
}

/* For the commands in other files (cli/storage.c, cli/tokens.c): no header. */
int sd_cli_print_list(const sd_cli *a, cJSON *arr, void (*line)(const cJSON *)) { return print_list(a, arr, NULL, line); }

/* A password from stdin (first line) or, on a terminal, typed twice without echo. Never from argv. */
static char *read_password(void)
{
    char buf[1100], again[1100];
    if (!isatty(0)) {
        if (!fgets(buf, sizeof buf, stdin))
            return NULL;
        buf[strcspn(buf, "\r\n")] = 0;
        char *p = dp_strdup(buf);
        dp_memzero(buf, sizeof buf);
        return p;
    }
    struct termios old, quiet;
    if (tcgetattr(0, &old))
        return NULL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    char *p = NULL;
    fprintf(stderr, "password: ");
    tcsetattr(0, TCSAFLUSH, &quiet);
    int ok = fgets(buf, sizeof buf, stdin) != NULL;
    fprintf(stderr, "\nagain: ");
    ok = ok && fgets(again, sizeof again, stdin) != NULL;
    tcsetattr(0, TCSAFLUSH, &old);
    fprintf(stderr, "\n");
    if (ok) {
        buf[strcspn(buf, "\r\n")] = 0;
        again[strcspn(again, "\r\n")] = 0;
        if (strcmp(buf, again))
            fprintf(stderr, "dumperd: the passwords differ\n");
        else
            p = dp_strdup(buf);
    }
    dp_memzero(buf, sizeof buf);
    dp_memzero(again, sizeof again);
    return p;
}

static int user_command(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    const char *sub = a->npos ? a->pos[0] : NULL;
    if (dp_streq(sub, "list") && a->npos == 1) {
        sd_name_list l;
        if (sd_user_names(ctx, &l, st))
            return st->err.code;
        for (int i = 0; i < l.n; i++)
            printf("%s\n", l.v[i]);
        sd_list_free(&l);
        return 0;
    }
    if (a->npos != 2 || !(dp_streq(sub, "create") || dp_streq(sub, "passwd") || dp_streq(sub, "delete")))
        return sd_cli_usage_error("expected 'user create NAME', 'user passwd NAME' or 'user delete NAME'%s", "");
    const char *name = a->pos[1];
    if (!strcmp(sub, "delete")) {
        if (sd_user_delete(ctx, name, st))
            return st->err.code;
        fprintf(stderr, "user '%s' deleted\n", name);
        return 0;
    }
    char *pw = read_password();
    int rc = 0;
    if (!pw)
        rc = sd_cli_usage_error("no password given (on stdin, or typed at the prompt)%s", "");
    else if (sd_user_set(ctx, name, pw, !strcmp(sub, "create"), st))
        rc = st->err.code;
    else
        fprintf(stderr, "user '%s' %s\n", name, !strcmp(sub, "create") ? "created" : "updated");
    dp_free_secret(pw);
    return rc;
}

static int app_command(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    const char *sub = a->npos ? a->pos[0] : NULL, *name = a->npos == 2 ? a->pos[1] : NULL;
    char key[68];
    int64_t app = 0;
    if (dp_streq(sub, "list")) {
        sd_app_list l;
        if (sd_apps(ctx, &l, st))
            return st->err.code;
        int rc = print_list(a, sd_view_apps(&l), NULL, app_line);
        sd_list_free(&l);
        return rc;
    }
    if (name && dp_streq(sub, "set"))
        return sd_cli_app_set(a, ctx, name, st);
    if (!name || !(dp_streq(sub, "create") || dp_streq(sub, "rotate-key") || dp_streq(sub, "delete")))
        return sd_cli_usage_error("expected 'app create NAME', 'app rotate-key NAME', 'app set NAME', 'app delete NAME'"
                                  " or 'app list'%s", "");
    if (!strcmp(sub, "create")) {
        if (sd_app_create(ctx, name, key, &app, st))
            return st->err.code;
        printf("%s\n", key);
        fprintf(stderr, "app '%s' created; its key is shown only this once\n", name);
        dp_memzero(key, sizeof key);
        return 0;
    }
    if (sd_app_find(ctx, name, &app, st))
        return st->err.code;
    if (!strcmp(sub, "rotate-key")) {
        if (sd_app_rotate_key(ctx, app, key, st))
            return st->err.code;
        printf("%s\n", key);
        fprintf(stderr, "app '%s' has a new key, shown only this once; the old key is refused from now on"
                        " (its agents stop at their next poll)\n", name);
        dp_memzero(key, sizeof key);
        return 0;
    }
    int removed = 0, left = 0;
    if (sd_app_delete(ctx, app, a->delete_backups, &removed, &left, st)) {
        if (st->outcome != SD_CONFLICT)
            return st->err.code;
        fprintf(stderr, "dumperd: app '%s' not deleted: %s; to delete them with it: dumperd app delete %s"
                        " --delete-backups\n", name, st->err.msg, name);
        *st = (sd_status)SD_STATUS_INIT; /* told */
        return DUMPER_EEXIST;
    }
    fprintf(stderr, "app '%s' deleted with its agents, databases, schedules, jobs and catalog", name);
    if (removed || left)
        fprintf(stderr, "; %d backup(s) removed from storage", removed);
    if (left)
        fprintf(stderr, ", %d could not be (see the warnings above)", left);
    fprintf(stderr, "\n");
    return left ? DUMPER_ESTORAGE : 0;
}

/* The commands about one app: schedule set, retention set, backup now, backups, schedules, agents. */
static int app_scoped(const char *cmd, const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    int two = !strcmp(cmd, "schedule") || !strcmp(cmd, "retention") || !strcmp(cmd, "backup");
    const char *sub = a->pos[0], *env = a->env ? a->env : "production", *tz = a->tz ? a->tz : "UTC";
    int64_t app = 0;
    if (a->npos < 1 || a->npos != (two ? 2 : 1))
        return sd_cli_usage_error("wrong arguments for '%s'", cmd);
    if (sd_app_find(ctx, a->pos[a->npos - 1], &app, st))
        return st->err.code;
    if (!strcmp(cmd, "schedule") && !strcmp(sub, "set")) {
        if (!a->cron)
            return sd_cli_usage_error("schedule set needs --cron EXPR%s", "");
        const char *warning = NULL;
        if (sd_schedule_set(ctx, app, env, a->dbkey, a->cron, tz, &warning, st))
            return st->err.code;
        if (warning)
            fprintf(stderr, "dumperd: warning: %s\n", warning);
        fprintf(stderr, "schedule set: '%s' (%s) for %s%s%s\n", a->cron, tz, env, a->dbkey ? ", database " : "",
                a->dbkey ? a->dbkey : "");
        return 0;
    }
    if (!strcmp(cmd, "retention") && !strcmp(sub, "set"))
        return sd_retention_set(ctx, app, &a->ret, st) ? st->err.code : 0;
    if (!strcmp(cmd, "backup") && !strcmp(sub, "now")) {
        int n = 0;
        if (sd_backup_now(ctx, app, env, a->dbkey, &n, st))
            return st->err.code;
        fprintf(stderr, "%d backup job(s) queued; the primary agent takes them on its next poll\n", n);
        return 0;
    }
    int rc;
    if (!strcmp(cmd, "backups")) {
        sd_backup_list l;
        if (sd_backups(ctx, app, 0, 0, &l, st))
            return st->err.code;
        cJSON *arr = sd_view_backups(&l);
        sd_list_free(&l);
        if (arr && sd_view_backups_drills(ctx, app, arr, st)) {
            cJSON_Delete(arr);
            return st->err.code;
        }
        rc = print_list(a, arr, BACKUP_HEADER, backup_line);
    } else if (!strcmp(cmd, "schedules")) {
        sd_schedule_views v;
        if (sd_schedules(ctx, app, &v, st))
            return st->err.code;
        rc = print_list(a, sd_view_schedules(&v), SCHEDULE_HEADER, schedule_line);
        sd_schedule_views_free(&v);
    } else if (!strcmp(cmd, "agents")) {
        sd_agent_list l;
        if (sd_agents(ctx, app, &l, st))
            return st->err.code;
        rc = print_list(a, sd_view_agents(&l), AGENT_HEADER, agent_line);
        sd_list_free(&l);
    } else {
        rc = sd_cli_usage_error("unknown command '%s'", cmd);
    }
    return rc;
}

static int backup_state(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    if (a->npos != 1)
        return sd_cli_usage_error("expected 'backup-state OUT'%s", "");
    if (sd_state_backup(ctx, a->pos[0], st))
        return st->err.code;
    fprintf(stderr, "state store copied to '%s'\n", a->pos[0]);
    return 0;
}

int sd_cli_command(const char *cmd, const sd_cli *a, sd_ctx *ctx)
{
    sd_status st = SD_STATUS_INIT;
    int rc;
    if (!strcmp(cmd, "user"))
        rc = user_command(a, ctx, &st);
    else if (!strcmp(cmd, "app"))
        rc = app_command(a, ctx, &st);
    else if (!strcmp(cmd, "notify"))
        rc = sd_cli_notify(a, ctx, &st);
    else if (!strcmp(cmd, "backup-state"))
        rc = backup_state(a, ctx, &st);
    else if (!strcmp(cmd, "storage") || !strcmp(cmd, "copies"))
        rc = sd_cli_storage(cmd, a, ctx, &st);
    else if (!strcmp(cmd, "token"))
        rc = sd_cli_token(a, ctx, &st);
    else if (!strcmp(cmd, "drill"))
        rc = sd_cli_drill(a, ctx, &st);
    else if (!strcmp(cmd, "drill-record"))
        rc = sd_cli_drill_record(a, ctx, &st);
    else if (!strcmp(cmd, "api-routes") && !a->npos)
        rc = sd_cli_api_routes();
    else
        rc = app_scoped(cmd, a, ctx, &st);
    if (rc && st.outcome != SD_OK)
        fprintf(stderr, "dumperd: %s\n", st.err.msg);
    return rc;
}

/* For the commands in other files (cli/storage.c). */
const char *sd_cli_jstr(const cJSON *o, const char *k) { return jstr(o, k); }
