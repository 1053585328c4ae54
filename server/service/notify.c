/* notify.c - notification channels: events, fan-out, formats, delivery (see notify.h). */
#include "service/notify.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/alert_rules.h"
#include "domain/names.h"
#include "domain/secrets.h"
#include "http/smtp.h"
#include "service/admin.h"
#include "service/auth.h"
#include "service/deliver.h"
#include "store/alerts.h"

#define MAX_TO 10

static const char *or(const char *s, const char *dflt) { return s && *s ? s : dflt; }

/* ---- raising ---- */

typedef struct {
    const sd_event *ev;
    int raised;
} raise_arg;

static char *dashboard_url(const sd_ctx *ctx, int64_t app_id)
{
    const char *base = ctx->cfg->public_url;
    char *own = base ? NULL : dp_asprintf("http://%s", ctx->cfg->listen ? ctx->cfg->listen : "127.0.0.1:8477");
    if (!base)
        base = own;
    if (!base)
        return NULL;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    char *u = app_id > 0 ? dp_asprintf("%.*s/#/app/%" PRId64, (int)n, base, app_id) : dp_asprintf("%.*s/", (int)n, base);
    free(own);
    return u;
}

int sd_event_raise(sd_ctx *ctx, const sd_event *ev, int *raised, sd_status *st)
{
    int yes = 0;
    cJSON *o = ev->fields ? ev->fields : cJSON_CreateObject();
    if (raised)
        *raised = 0;
    int rc = sd_store_alert_exists(ctx->db, ev->kind, ev->ref, &yes, &st->err);
    char *app = rc || yes ? NULL : dp_strdup(or(ev->app, "")); /* ev->app may point into fields */
    if (rc || yes || !app) {
        cJSON_Delete(o);
        return rc || yes ? rc : dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
    }
    int64_t now = sd_ctx_now(ctx), id = 0;
    char t[24], *link = dashboard_url(ctx, ev->app_id);
    dp_stamp_rfc3339(now, t);
    if (!cJSON_GetObjectItemCaseSensitive(o, "app"))
        cJSON_AddStringToObject(o, "app", app);
    if (!cJSON_GetObjectItemCaseSensitive(o, "environment"))
        cJSON_AddStringToObject(o, "environment", or(ev->env, ""));
    if (!cJSON_GetObjectItemCaseSensitive(o, "database"))
        cJSON_AddStringToObject(o, "database", or(ev->database, ""));
    cJSON_AddStringToObject(o, "text", or(ev->text, ev->kind));
    if (!cJSON_GetObjectItemCaseSensitive(o, "dashboard_url"))
        cJSON_AddStringToObject(o, "dashboard_url", or(link, ""));
    cJSON_AddStringToObject(o, "event", ev->kind);
    cJSON_AddStringToObject(o, "time", t);
    free(link);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        free(app);
        return dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
    }
    /* Delivery times are wall-clock (retries happen in real time, also under the test clock). Without a global
     * webhook the alert row has nothing to deliver itself: its channels' deliveries are rows of their own. */
    int64_t wall = dp_now_ms();
    rc = sd_store_alert_insert(ctx->db, ev->kind, ev->ref, s, now, wall, ctx->cfg->alert_webhook ? 0 : wall, &id,
                               &st->err);
    free(s);
    int cat = sd_event_category(ev->kind), n = 0;
    if (!rc && id && cat)
        rc = sd_store_delivery_fanout(ctx->db, id, app, cat, wall, &n, &st->err);
    if (!rc && id && raised)
        *raised = 1;
    free(app);
    return rc;
}

/* ---- the operator's channels ---- */

static int url_ok(const char *u)
{
    if (!u || !*u || strlen(u) > 2048)
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int has_scheme(const char *u, const char *a, const char *b)
{
    return !strncmp(u, a, strlen(a)) || (b && !strncmp(u, b, strlen(b)));
}

/* ntfy: "https://host/topic" into the server's root and the topic (in place of out buffers). */
static int ntfy_split(const char *url, char *base, size_t blen, char *topic, size_t tlen)
{
    const char *host = strstr(url, "://");
    if (!host)
        return -1;
    const char *slash = strrchr(host + 3, '/');
    if (!slash || !slash[1] || strlen(slash + 1) > 64 || strchr(slash, '?') || strchr(slash, '#'))
        return -1; /* ntfy's topics have at most 64 characters */
    for (const char *p = slash + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            return -1;
    snprintf(base, blen, "%.*s/", (int)(slash - url), url);
    snprintf(topic, tlen, "%s", slash + 1);
    return 0;
}

/* "a@x,b@y" into to[] (pointers into buf); the count, or -1. */
static int split_to(const char *list, char *buf, size_t blen, const char *to[MAX_TO + 1])
{
    int n = 0;
    if (!list || strlen(list) >= blen)
        return -1;
    memcpy(buf, list, strlen(list) + 1);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ')
            p++;
        size_t l = strlen(p);
        while (l && p[l - 1] == ' ')
            p[--l] = 0;
        if (n == MAX_TO || l == 0 || l > 254 || !strchr(p, '@'))
            return -1;
        for (const char *c = p; *c; c++)
            if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '<' || *c == '>')
                return -1;
        to[n++] = p;
    }
    to[n] = NULL;
    return n ? n : -1;
}

typedef struct {
    const sd_channel_spec *s;
    int64_t app, events;
    const char *secret;
} add_arg;

static int add_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    add_arg *a = a_;
    sd_channel_list l = {0};
    SD_TRY(sd_store_channel_find(ctx->db, a->s->name, &l, &st->err));
    int exists = l.n > 0;
    sd_list_free(&l);
    if (exists)
        return sd_fail(st, SD_CONFLICT, "a notification channel named '%s' exists", a->s->name);
    int64_t id = 0;
    return sd_store_channel_insert(ctx->db, a->s->name, a->s->kind, a->s->url, a->s->to, a->app, a->events, a->secret,
                                   sd_ctx_now(ctx), &id, &st->err);
}

int sd_channel_add(sd_ctx *ctx, const sd_channel_spec *s, char secret[68], sd_status *st)
{
    int mask = SD_EV_ALL;
    char buf[2600], b1[2100], b2[100];
    const char *to[MAX_TO + 1];
    if (!sd_label_valid(s->name, 64))
        return sd_fail(st, SD_INVALID, "invalid channel name (1-64 characters of A-Z a-z 0-9 _ . -)");
    if (!sd_channel_kind_valid(s->kind))
        return sd_fail(st, SD_INVALID, "invalid --kind '%s' (slack, email, ntfy or webhook)", or(s->kind, ""));
    if (!url_ok(s->url))
        return sd_fail(st, SD_INVALID, "invalid --url (at most 2048 characters, no spaces)");
    int email = !strcmp(s->kind, "email");
    if (email ? !has_scheme(s->url, "smtp://", "smtps://") : !has_scheme(s->url, "https://", "http://"))
        return sd_fail(st, SD_INVALID, "a %s channel's --url starts with %s", s->kind,
                       email ? "smtp:// (STARTTLS) or smtps://" : "https:// or http://");
    if (email && sd_url_has_password(s->url))
        return sd_fail(st, SD_INVALID, "the --url of an email channel holds no password (serve's"
                                       " --smtp-password-file or DUMPERD_SMTP_PASSWORD gives it)");
    if (!strcmp(s->kind, "ntfy") && ntfy_split(s->url, b1, sizeof b1, b2, sizeof b2))
        return sd_fail(st, SD_INVALID, "an ntfy channel's --url is https://SERVER/TOPIC (topic: 1-64 of A-Z a-z 0-9 _ -)");
    if (email && split_to(s->to, buf, sizeof buf, to) < 0)
        return sd_fail(st, SD_INVALID, "an email channel needs --to ADDR[,ADDR] (at most %d addresses)", MAX_TO);
    if (!email && s->to)
        return sd_fail(st, SD_INVALID, "--to is for email channels");
    if (s->on && sd_event_mask_parse(s->on, &mask))
        return sd_fail(st, SD_INVALID, "invalid --on '%s' (a list of failure, stale, size, drill, storage, or all)",
                       s->on);
    add_arg a = {.s = s, .events = mask};
    if (s->app && sd_app_find(ctx, s->app, &a.app, st))
        return -1;
    char key[68], h[65];
    if (sd_key_new(key, h, &st->err))
        return sd_fail(st, SD_INTERNAL, "%s", st->err.msg);
    snprintf(secret, 68, "ws_%s", key + 3);
    dp_memzero(key, sizeof key);
    a.secret = secret;
    return sd_txn(ctx, SD_TXN_WRITE, add_step, &a, st);
}

static int list_step(sd_ctx *ctx, void *a, sd_status *st) { return sd_store_channels(ctx->db, a, &st->err); }

int sd_channels(sd_ctx *ctx, sd_channel_list *out, sd_status *st)
{
    *out = (sd_channel_list){0};
    return sd_txn(ctx, SD_TXN_READ, list_step, out, st);
}

typedef struct {
    const char *name;
    sd_channel_list l;
} find_arg;

static int remove_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    find_arg *a = a_;
    sd_list_free(&a->l);
    SD_TRY(sd_store_channel_find(ctx->db, a->name, &a->l, &st->err));
    if (!a->l.n)
        return sd_fail(st, SD_NOT_FOUND, "no notification channel named '%s' (dumperd notify list)", a->name);
    return sd_store_channel_delete(ctx->db, a->l.v[0].id, &st->err);
}

int sd_channel_remove(sd_ctx *ctx, const char *name, sd_status *st)
{
    find_arg a = {.name = name};
    int rc = sd_txn(ctx, SD_TXN_WRITE, remove_step, &a, st);
    sd_list_free(&a.l);
    return rc;
}

void sd_channel_url_display(const char *url, char out[256])
{
    const char *h = url ? strstr(url, "://") : NULL;
    if (!h) {
        snprintf(out, 256, "-");
        return;
    }
    size_t n = strcspn(h + 3, "/?#");
    const char *at = memchr(h + 3, '@', n);
    if (at) { /* keep the user, drop a password */
        const char *colon = memchr(h + 3, ':', (size_t)(at - h - 3));
        if (colon) {
            snprintf(out, 256, "%.*s:***%.*s", (int)(colon - url), url, (int)(h + 3 + n - at), at);
            goto path;
        }
    }
    snprintf(out, 256, "%.*s", (int)(h + 3 + n - url), url);
path:
    if (h[3 + n])
        snprintf(out + strlen(out), 256 - strlen(out), "/...");
}

/* ---- formats and sending ---- */

void sd_notify_sign(const char *secret, int64_t ts, const char *body, char out[72])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *msg = dp_asprintf("%" PRId64 ".%s", ts, body);
    memcpy(out, "sha256=", 8);
    if (!msg || !HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac, &len))
        len = 0;
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    free(msg);
}

static const char *jget(const cJSON *o, const char *k)
{
    return or(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k)), "");
}

/* The subject/title: "Dumper: backup_failed shop/primary (production)". */
static char *title_of(const cJSON *p)
{
    const char *db = jget(p, "database");
    return dp_asprintf("Dumper: %s %s%s%s (%s)", jget(p, "event"), jget(p, "app"), *db ? "/" : "", db,
                       jget(p, "environment"));
}

static int send_json(sd_ctx *ctx, const char *url, cJSON *body, const char *const *hd, dp_stop *stop, char *why,
                     size_t wl)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!s) {
        snprintf(why, wl, "out of memory");
        return -1;
    }
    sd_deliver_opts o = {.timeout_s = 10, .connect_timeout_s = 5, .attempts = 1, .stop = stop, .headers = hd,
                         .ca_file = ctx->cfg->notify_ca_file};
    int rc = sd_deliver_json(url, s, &o, why, wl);
    free(s);
    return rc;
}

static int send_email(sd_ctx *ctx, const sd_delivery_row *d, const cJSON *p, dp_stop *stop, char *why, size_t wl)
{
    char buf[2600], host[200] = "localhost", from[300];
    const char *to[MAX_TO + 1];
    if (split_to(d->to_addr, buf, sizeof buf, to) < 0) {
        snprintf(why, wl, "invalid recipient list");
        return -1;
    }
    gethostname(host, sizeof host - 1);
    snprintf(from, sizeof from, "%s", ctx->cfg->smtp_from ? ctx->cfg->smtp_from : "");
    if (!from[0])
        snprintf(from, sizeof from, "dumperd@%s", host);
    char *subject = title_of(p);
    char *body = dp_asprintf("%s\n\nApp: %s\nEnvironment: %s\nDatabase: %s\nEvent: %s\nTime: %s\nDashboard: %s\n\n"
                             "-- \nSent by dumperd to the notification channel '%s'.\n",
                             jget(p, "text"), jget(p, "app"), jget(p, "environment"), or(jget(p, "database"), "-"),
                             jget(p, "event"), jget(p, "time"), jget(p, "dashboard_url"), d->channel);
    dp_err err = {0};
    int rc = -1;
    if (subject && body) {
        dp_smtp_msg m = {.url = d->url, .password = ctx->cfg->smtp_password, .from = from, .to = to,
                         .subject = subject, .body = body, .ca_file = ctx->cfg->notify_ca_file, .stop = stop};
        rc = dp_smtp_send(&m, &err) ? -1 : 0;
        if (rc)
            snprintf(why, wl, "%s", err.msg);
    } else {
        snprintf(why, wl, "out of memory");
    }
    free(subject);
    free(body);
    return rc;
}

/* One attempt of one delivery: 0 or -1 with why. */
static int send_one(sd_ctx *ctx, const sd_delivery_row *d, dp_stop *stop, char *why, size_t wl)
{
    cJSON *p = cJSON_Parse(d->payload);
    int rc = -1;
    if (!cJSON_IsObject(p)) {
        snprintf(why, wl, "unreadable payload");
    } else if (!strcmp(d->kind, "webhook")) {
        int64_t ts = dp_now_ms() / 1000;
        char sig[72], h1[120], h2[120], h3[64], h4[100];
        sd_notify_sign(d->secret, ts, d->payload, sig);
        snprintf(h1, sizeof h1, "X-Dumper-Event: %s", d->alert_kind);
        snprintf(h2, sizeof h2, "X-Dumper-Delivery: %" PRId64, d->id);
        snprintf(h3, sizeof h3, "X-Dumper-Timestamp: %" PRId64, ts);
        snprintf(h4, sizeof h4, "X-Dumper-Signature: %s", sig);
        const char *hd[] = {h1, h2, h3, h4, NULL};
        sd_deliver_opts o = {.timeout_s = 10, .connect_timeout_s = 5, .attempts = 1, .stop = stop, .headers = hd,
                             .ca_file = ctx->cfg->notify_ca_file};
        rc = sd_deliver_json(d->url, d->payload, &o, why, wl);
    } else if (!strcmp(d->kind, "slack")) {
        const char *link = jget(p, "dashboard_url");
        char *text = *link ? dp_asprintf("%s\n<%s|Open in Dumper>", jget(p, "text"), link) : dp_strdup(jget(p, "text"));
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "text", or(text, ""));
        cJSON_AddStringToObject(b, "username", "Dumper");
        free(text);
        rc = send_json(ctx, d->url, b, NULL, stop, why, wl);
    } else if (!strcmp(d->kind, "ntfy")) {
        char base[2100], topic[100];
        char *title = title_of(p);
        if (ntfy_split(d->url, base, sizeof base, topic, sizeof topic)) {
            snprintf(why, wl, "invalid ntfy url");
        } else {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "topic", topic);
            cJSON_AddStringToObject(b, "title", or(title, "Dumper"));
            cJSON_AddStringToObject(b, "message", jget(p, "text"));
            if (*jget(p, "dashboard_url"))
                cJSON_AddStringToObject(b, "click", jget(p, "dashboard_url"));
            cJSON *tags = cJSON_AddArrayToObject(b, "tags");
            cJSON_AddItemToArray(tags, cJSON_CreateString(strstr(d->alert_kind, "resolved") ? "white_check_mark"
                                                                                             : "warning"));
            rc = send_json(ctx, base, b, NULL, stop, why, wl);
        }
        free(title);
    } else if (!strcmp(d->kind, "email")) {
        rc = send_email(ctx, d, p, stop, why, wl);
    } else {
        snprintf(why, wl, "unknown channel kind '%s'", d->kind);
    }
    cJSON_Delete(p);
    return rc;
}

/* ---- delivery ---- */

typedef struct {
    int64_t now;
    sd_delivery_list due;
    const sd_delivery_row *one;
    int won, dead;
    int64_t attempts, next_try;
    const char *why;
} deliver_arg;

static int due_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    deliver_arg *a = a_;
    sd_list_free(&a->due);
    return sd_store_delivery_due(ctx->db, a->now, 20, &a->due, &st->err);
}

static int claim_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    deliver_arg *a = a_;
    return sd_store_delivery_claim(ctx->db, a->one->id, a->one->next_try, a->now + SD_ALERT_CLAIM_MS, &a->won,
                                   &st->err);
}

static int record_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    deliver_arg *a = a_;
    if (!a->why)
        return sd_store_delivery_sent(ctx->db, a->one->id, a->attempts, dp_now_ms(), &st->err);
    return sd_store_delivery_failed(ctx->db, a->one->id, a->attempts, a->next_try, a->dead, dp_now_ms(), a->why,
                                    &st->err);
}

/* Claim, send and record one delivery; max_attempts 1: dead at once on failure. 0 when delivered, 1 when
 * another pass had it, -1 when it failed (why). quiet: no log lines (notify test reports itself). */
static int deliver_one(sd_ctx *ctx, deliver_arg *a, int max_attempts, dp_stop *stop, int quiet, char *why, size_t wl)
{
    sd_status cs = SD_STATUS_INIT;
    /* Claim it for a minute: another instance (or a later pass) leaves it alone meanwhile. */
    if (sd_txn(ctx, SD_TXN_NONE, claim_step, a, &cs) || !a->won)
        return 1;
    a->attempts = a->one->attempts + 1;
    int rc = send_one(ctx, a->one, stop, why, wl);
    if (quiet) {
        a->why = rc ? why : NULL;
        a->dead = 1;
    } else if (!rc) {
        dp_info("notify: %s %s delivered to '%s'", a->one->alert_kind, a->one->alert_ref, a->one->channel);
        a->why = NULL;
    } else {
        a->dead = a->attempts >= max_attempts;
        a->why = why;
        a->next_try = dp_now_ms() + sd_alert_retry_delay_ms(a->one->attempts);
        if (a->dead)
            dp_warn("notify: %s %s to '%s' failed for good after %" PRId64 " attempt(s), counted as a dead letter: %s",
                    a->one->alert_kind, a->one->alert_ref, a->one->channel, a->attempts, why);
        else
            dp_warn("notify: %s %s to '%s' failed (attempt %" PRId64 " of %d): %s", a->one->alert_kind,
                    a->one->alert_ref, a->one->channel, a->attempts, max_attempts, why);
    }
    if (sd_txn(ctx, SD_TXN_NONE, record_step, a, &cs))
        dp_warn("notify: %s", cs.err.msg);
    return rc ? -1 : 0;
}

/* Delivery times are wall-clock (retries happen in real time, also under the test clock). */
void sd_notify_deliver_pass(sd_ctx *ctx, dp_stop *stop)
{
    deliver_arg a = {.now = dp_now_ms()};
    sd_status st = SD_STATUS_INIT;
    if (sd_txn(ctx, SD_TXN_NONE, due_step, &a, &st)) {
        dp_warn("notify: %s", st.err.msg);
        return;
    }
    for (int i = 0; i < a.due.n && !dp_stop_requested(stop); i++) {
        char why[600] = "";
        a.one = &a.due.v[i];
        deliver_one(ctx, &a, ctx->cfg->notify_attempts > 0 ? ctx->cfg->notify_attempts : SD_ALERT_MAX_ATTEMPTS, stop,
                    0, why, sizeof why);
    }
    sd_list_free(&a.due);
}

typedef struct {
    const char *name;
    sd_channel_list l;
    sd_delivery_list d;
    int64_t alert_id;
} test_arg;

static int test_step(sd_ctx *ctx, void *a_, sd_status *st)
{
    test_arg *a = a_;
    sd_list_free(&a->l);
    SD_TRY(sd_store_channel_find(ctx->db, a->name, &a->l, &st->err));
    if (!a->l.n)
        return sd_fail(st, SD_NOT_FOUND, "no notification channel named '%s' (dumperd notify list)", a->name);
    const sd_channel_row *c = &a->l.v[0];
    int64_t now = sd_ctx_now(ctx), wall = dp_now_ms();
    char ref[64], t[24], *link = dashboard_url(ctx, c->app_id);
    snprintf(ref, sizeof ref, "t_%" PRId64 "_%" PRId64, c->id, wall);
    dp_stamp_rfc3339(now, t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "app", or(c->app, ""));
    cJSON_AddStringToObject(o, "environment", "");
    cJSON_AddStringToObject(o, "database", "");
    char *text = dp_asprintf("Dumper: a test of the notification channel '%s' (dumperd notify test)", c->name);
    cJSON_AddStringToObject(o, "text", or(text, "Dumper: a test notification"));
    cJSON_AddStringToObject(o, "dashboard_url", or(link, ""));
    cJSON_AddStringToObject(o, "event", "test");
    cJSON_AddStringToObject(o, "time", t);
    free(text);
    free(link);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return dp_err_set(&st->err, DUMPER_ENOMEM, "out of memory");
    int rc = sd_store_alert_insert(ctx->db, "test", ref, s, now, wall, wall, &a->alert_id, &st->err);
    free(s);
    /* Not due for a running serve's delivery pass: this command claims and sends it itself. */
    if (!rc)
        rc = sd_store_delivery_insert(ctx->db, a->alert_id, c->id, wall + SD_ALERT_CLAIM_MS, &st->err);
    int64_t sent = 0, dead = 0;
    sd_list_free(&a->d);
    return rc ? rc : sd_store_delivery_get(ctx->db, a->alert_id, c->id, &a->d, &sent, &dead, &st->err);
}

int sd_channel_test(sd_ctx *ctx, const char *name, sd_status *st)
{
    test_arg t = {.name = name};
    int rc = sd_txn(ctx, SD_TXN_WRITE, test_step, &t, st);
    if (!rc && t.d.n == 1) {
        char why[600] = "";
        deliver_arg a = {.now = dp_now_ms(), .one = &t.d.v[0]};
        if (deliver_one(ctx, &a, 1, NULL, 1, why, sizeof why))
            rc = sd_fail_code(st, SD_STORAGE_FAILED, DUMPER_ECONNECT, "channel '%s': %s", name,
                              why[0] ? why : "claimed by another delivery pass");
    } else if (!rc) {
        rc = sd_fail(st, SD_INTERNAL, "channel '%s': the test delivery was not recorded", name);
    }
    sd_list_free(&t.l);
    sd_list_free(&t.d);
    return rc;
}
