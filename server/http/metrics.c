/* metrics.c - Prometheus metrics (see metrics.h). */
#include "http/metrics.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "core/util.h"
#include "http/respond.h"
#include "http/session.h"
#include "service/drill_results.h"
#include "service/stats.h"

static atomic_uint_fast64_t polls_total, registers_total;
void sd_metrics_count_poll(void) { atomic_fetch_add(&polls_total, 1); }
void sd_metrics_count_register(void) { atomic_fetch_add(&registers_total, 1); }

/* Label values: backslash, double quote and newline escaped (text format 0.0.4). */
static void label(dp_buf *b, const char *name, const char *v)
{
    dp_buf_printf(b, "%s=\"", name);
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\')
            dp_buf_puts(b, "\\\\");
        else if (*p == '"')
            dp_buf_puts(b, "\\\"");
        else if (*p == '\n')
            dp_buf_puts(b, "\\n");
        else
            dp_buf_append(b, p, 1);
    }
    dp_buf_puts(b, "\"");
}

/* name{app="..",environment="..",...} with up to three more labels (NULL names end the list). */
static void series(dp_buf *b, const char *name, const sd_stat_row *r, const char *l1, const char *l2, const char *l3)
{
    dp_buf_printf(b, "%s{", name);
    label(b, "app", r->app);
    const char *names[3] = {l1, l2, l3}, *vals[3] = {r->l1, r->l2, r->l3};
    for (int i = 0; i < 3 && names[i]; i++) {
        dp_buf_puts(b, ",");
        label(b, names[i], vals[i]);
    }
    dp_buf_puts(b, "} ");
}

static void head(dp_buf *b, const char *name, const char *type, const char *help)
{
    dp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The Host header names this machine's loopback (localhost, 127.0.0.0/8, ::1) or the --listen host. A
 * loopback client is trusted without a token, but a browser page of another site can reach 127.0.0.1 by DNS
 * rebinding (its name resolving to 127.0.0.1): its requests then carry that other name as Host. */
static int local_host(struct MHD_Connection *c, const sd_config *cfg)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    char name[256];
    if (!h)
        return 0;
    size_t n;
    if (h[0] == '[') { /* [IPv6]:port */
        const char *e = strchr(h, ']');
        if (!e || (e[1] && e[1] != ':'))
            return 0;
        n = (size_t)(e - h - 1);
        h++;
    } else {
        n = strcspn(h, ":");
    }
    if (!n || n >= sizeof name)
        return 0;
    memcpy(name, h, n);
    name[n] = 0;
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcasecmp(name, "localhost") || (inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
        (inet_pton(AF_INET6, name, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
        return 1;
    const char *lh = cfg->listen, *le = strrchr(lh, ':');
    if (lh[0] == '[') {
        lh++;
        le = strchr(lh, ']');
    }
    return le && (size_t)(le - lh) == n && !strncasecmp(lh, name, n) && strcmp(name, "0.0.0.0") && strcmp(name, "::");
}

static int allowed(struct MHD_Connection *c, sd_ctx *ctx)
{
    const char *token = ctx->cfg->metrics_token;
    if (token) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        size_t n = strlen(token);
        if (a && !strncmp(a, "Bearer ", 7) && strlen(a + 7) == n && CRYPTO_memcmp(a + 7, token, n) == 0)
            return 1;
    } else {
        char addr[INET6_ADDRSTRLEN];
        if (sd_http_client_addr(c, addr) && local_host(c, ctx->cfg))
            return 1;
    }
    sd_session s;
    return sd_http_session(c, ctx, &s);
}

static void render(dp_buf *b, const sd_stats *s)
{
    head(b, "dumper_backups", "gauge", "Backups in the catalog by app, environment, database and status.");
    for (int i = 0; i < s->backups.n; i++) {
        series(b, "dumper_backups", &s->backups.v[i], "environment", "database", "status");
        dp_buf_printf(b, "%" PRId64 "\n", s->backups.v[i].n[0]);
    }
    /* The newest good backup of each database: its time, size and duration. */
    static const struct {
        const char *name, *help;
        int col;
        double scale;
    } last[] = {
        {"dumper_last_good_backup_timestamp_seconds", "Finish time of the newest good backup (Unix seconds).", 0,
         1e-3},
        {"dumper_last_good_backup_size_bytes", "Size of the newest good backup.", 1, 1},
        {"dumper_last_good_backup_duration_seconds", "Duration of the newest good backup.", 2, 1e-3},
    };
    for (size_t m = 0; m < sizeof last / sizeof *last; m++) {
        head(b, last[m].name, "gauge", last[m].help);
        for (int i = 0; i < s->last_good.n; i++) {
            series(b, last[m].name, &s->last_good.v[i], "environment", "database", NULL);
            dp_buf_printf(b, "%.3f\n", (double)s->last_good.v[i].n[last[m].col] * last[m].scale);
        }
    }
    /* Sizes and durations of good backups as summaries (sum and count) per app. */
    head(b, "dumper_backup_size_bytes", "summary", "Sizes of the good backups in the catalog.");
    for (int i = 0; i < s->good_totals.n; i++) {
        const sd_stat_row *r = &s->good_totals.v[i];
        series(b, "dumper_backup_size_bytes_sum", r, NULL, NULL, NULL);
        dp_buf_printf(b, "%" PRId64 "\n", r->n[1]);
        series(b, "dumper_backup_size_bytes_count", r, NULL, NULL, NULL);
        dp_buf_printf(b, "%" PRId64 "\n", r->n[0]);
    }
    head(b, "dumper_backup_duration_seconds", "summary", "Durations of the good backups in the catalog.");
    for (int i = 0; i < s->good_totals.n; i++) {
        const sd_stat_row *r = &s->good_totals.v[i];
        series(b, "dumper_backup_duration_seconds_sum", r, NULL, NULL, NULL);
        dp_buf_printf(b, "%.3f\n", (double)r->n[2] / 1000);
        series(b, "dumper_backup_duration_seconds_count", r, NULL, NULL, NULL);
        dp_buf_printf(b, "%" PRId64 "\n", r->n[0]);
    }
    head(b, "dumper_agents", "gauge", "Live agents (seen within two secondary intervals) by role.");
    for (int i = 0; i < s->agents.n; i++) {
        series(b, "dumper_agents", &s->agents.v[i], "environment", "role", NULL);
        dp_buf_printf(b, "%" PRId64 "\n", s->agents.v[i].n[0]);
    }
    head(b, "dumper_agent_polls_total", "counter", "Agent polls answered by this dumperd process.");
    dp_buf_printf(b, "dumper_agent_polls_total %" PRIuFAST64 "\n", atomic_load(&polls_total));
    head(b, "dumper_agent_registrations_total", "counter", "Agent registrations answered by this process.");
    dp_buf_printf(b, "dumper_agent_registrations_total %" PRIuFAST64 "\n", atomic_load(&registers_total));
    /* Job lag: how long the oldest waiting job has waited (pending: not yet handed out). */
    head(b, "dumper_jobs_pending", "gauge", "Jobs waiting for the primary agent.");
    for (int i = 0; i < s->pending.n; i++) {
        series(b, "dumper_jobs_pending", &s->pending.v[i], NULL, NULL, NULL);
        dp_buf_printf(b, "%" PRId64 "\n", s->pending.v[i].n[0]);
    }
    head(b, "dumper_job_lag_seconds", "gauge", "Age of the oldest pending job (0 when none).");
    for (int i = 0; i < s->pending.n; i++) {
        const sd_stat_row *r = &s->pending.v[i];
        int64_t lag = r->has[1] ? s->now - r->n[1] : 0;
        series(b, "dumper_job_lag_seconds", r, NULL, NULL, NULL);
        dp_buf_printf(b, "%.3f\n", lag > 0 ? (double)lag / 1000 : 0.0);
    }
    head(b, "dumper_alerts_undelivered", "gauge", "Webhook alerts not delivered yet.");
    dp_buf_printf(b, "dumper_alerts_undelivered %" PRId64 "\n", s->alerts_undelivered);
    head(b, "dumper_notifications_pending", "gauge", "Channel deliveries not delivered yet (being retried).");
    dp_buf_printf(b, "dumper_notifications_pending %" PRId64 "\n", s->notify_pending);
    head(b, "dumper_notifications_dead_letters_total", "counter",
         "Channel deliveries given up after their last attempt (dumperd notify list: dead=).");
    dp_buf_printf(b, "dumper_notifications_dead_letters_total %" PRId64 "\n", s->notify_dead);
    head(b, "dumper_notifications_sent_total", "counter", "Channel deliveries delivered.");
    dp_buf_printf(b, "dumper_notifications_sent_total %" PRId64 "\n", s->notify_sent);
}

/* Restore drills' evidence per database (issue 15; docs/drills.md "Evidence"). */
static void render_drills(dp_buf *b, const sd_drill_db_list *l)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"dumper_last_verified_restore_timestamp_seconds", "gauge",
         "Finish time of the newest passed restore drill (Unix seconds); absent when none passed."},
        {"dumper_last_drill_passed", "gauge", "1 when the newest restore drill passed, 0 when it failed or errored."},
        {"dumper_drills_total", "counter", "Restore drills recorded."},
        {"dumper_drill_failures_total", "counter", "Restore drills recorded that did not pass (failed or error)."},
    };
    for (size_t k = 0; k < sizeof m / sizeof *m; k++) {
        head(b, m[k].name, m[k].type, m[k].help);
        for (int i = 0; i < l->n; i++) {
            const sd_drill_db_row *r = &l->v[i];
            if ((k == 0 && !r->has_passed) || (k == 1 && !r->latest_status))
                continue;
            sd_stat_row row = {.app = r->app, .l1 = r->env, .l2 = r->db_key};
            series(b, m[k].name, &row, "environment", "database", NULL);
            if (k == 0)
                dp_buf_printf(b, "%.3f\n", (double)r->last_passed_at / 1000);
            else if (k == 1)
                dp_buf_printf(b, "%d\n", !strcmp(r->latest_status, "passed"));
            else
                dp_buf_printf(b, "%" PRId64 "\n", k == 2 ? r->drills : r->failures);
        }
    }
}

enum MHD_Result sd_metrics_reply(struct MHD_Connection *c, sd_ctx *ctx)
{
    if (!allowed(c, ctx))
        return sd_site_error(c, 401, "unauthorized", "metrics need the metrics token (or a loopback client)");
    sd_stats s;
    sd_status st = SD_STATUS_INIT;
    sd_drill_db_list drills;
    if (sd_stats_collect(ctx, &s, &st))
        return sd_site_error(c, 503, "unavailable", "state store unavailable");
    if (sd_drill_databases(ctx, 0, &drills, &st)) {
        sd_stats_free(&s);
        return sd_site_error(c, 503, "unavailable", "state store unavailable");
    }
    dp_buf b = {0};
    render(&b, &s);
    render_drills(&b, &drills);
    sd_stats_free(&s);
    sd_list_free(&drills);
    if (!b.data)
        return sd_site_error(c, 500, "internal", "out of memory");
    return sd_site_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
}
