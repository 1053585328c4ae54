/*
 * site.c - the Dumper site: dashboard users, sessions and CSRF, the dashboard's JSON endpoints under
 * /ui/, its static files (server/web/, no build step), and Prometheus metrics (/metrics).
 *
 * Sessions live in the state store (so several dumperd instances behind one load balancer share them):
 * the browser holds a random token in an HttpOnly, SameSite=Strict cookie; the store holds only its
 * SHA-256, the user, a CSRF token and an absolute expiry. Every state-changing request (POST) needs the
 * session's CSRF token in X-CSRF-Token and a JSON body; nothing but the login page, its assets,
 * /ui/login and the agent API answers without a session. Passwords are PBKDF2-HMAC-SHA256 (600,000
 * iterations, 16-byte random salt) compared in constant time; an unknown user costs the same work as a
 * wrong password.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/cron.h"
#include "domain/names.h"
#include "domain/schedule.h"
#include "io/filter.h"
#include "site.h"
#include "store.h"

#define PW_ITER 600000u
#define COOKIE "dumper_session"
#define MAX_STATIC (1 << 20)

static atomic_uint_fast64_t polls_total, registers_total;
void sd_count_poll(void) { atomic_fetch_add(&polls_total, 1); }
void sd_count_register(void) { atomic_fetch_add(&registers_total, 1); }

/* ---- passwords ---- */

static int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof raw || getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    dp_memzero(raw, sizeof raw);
    return 0;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int pbkdf2(const char *pw, const unsigned char salt[16], unsigned iter, unsigned char out[32])
{
    return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, 16, (int)iter, EVP_sha256(), 32, out) == 1 ? 0 : -1;
}

char *sd_pw_hash(const char *password, unsigned iterations)
{
    unsigned char salt[16], h[32];
    char salth[33], hh[65];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt || pbkdf2(password, salt, iterations, h))
        return NULL;
    for (int i = 0; i < 16; i++)
        snprintf(salth + 2 * i, 3, "%02x", salt[i]);
    for (int i = 0; i < 32; i++)
        snprintf(hh + 2 * i, 3, "%02x", h[i]);
    dp_memzero(h, sizeof h);
    return dp_asprintf("pbkdf2-sha256$%u$%s$%s", iterations, salth, hh);
}

int sd_pw_verify(const char *password, const char *stored)
{
    unsigned char salt[16], want[32], got[32];
    char salth[33], hh[65];
    unsigned iter = 0;
    int ok = 0;
    if (!stored || sscanf(stored, "pbkdf2-sha256$%u$%32[0-9a-f]$%64[0-9a-f]", &iter, salth, hh) != 3 ||
        iter < 1000 || iter > 100000000 || unhex(salth, salt, 16) || unhex(hh, want, 32)) {
        /* Same work as a real check, so a missing user is not told apart by timing. */
        memset(salt, 0, sizeof salt);
        pbkdf2(password, salt, PW_ITER, got);
        return 0;
    }
    if (!pbkdf2(password, salt, iter, got))
        ok = CRYPTO_memcmp(got, want, 32) == 0;
    dp_memzero(got, sizeof got);
    return ok;
}

static int valid_name(const char *s) { return sd_label_valid(s, 64); }

int sd_user_set(sd_ctx *ctx, const char *name, const char *password, int create, dp_err *err)
{
    sd_db *db = ctx->db;
    if (!valid_name(name))
        return dp_err_set(err, DUMPER_EUSAGE, "user names are 1-64 characters of [A-Za-z0-9_.-]");
    if (strlen(password) < 8)
        return dp_err_set(err, DUMPER_EUSAGE, "the password must have at least 8 characters");
    char *h = sd_pw_hash(password, PW_ITER);
    if (!h)
        return dp_err_set(err, DUMPER_EINTERNAL, "unable to hash the password");
    sd_res r = {0};
    int rc = sd_q(db, &r, err, "SELECT id FROM users WHERE name = ?", "s", name);
    if (!rc && create && r.rows)
        rc = dp_err_set(err, DUMPER_EEXIST, "user '%s' already exists", name);
    else if (!rc && !create && !r.rows)
        rc = dp_err_set(err, DUMPER_ENOENT, "no user named '%s'", name);
    else if (!rc && create)
        rc = sd_q(db, NULL, err, "INSERT INTO users (name, pw_hash, created_at) VALUES (?, ?, ?)", "ssi", name, h,
                  dp_now_ms());
    else if (!rc) {
        /* A new password ends the user's sessions. */
        rc = sd_q(db, NULL, err, "UPDATE users SET pw_hash = ? WHERE name = ?", "ss", h, name);
        if (!rc)
            rc = sd_q(db, NULL, err, "DELETE FROM sessions WHERE user_id = ?", "i", sd_geti(&r, 0, 0));
    }
    sd_res_free(&r);
    free(h);
    return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc;
}

int sd_user_delete(sd_ctx *ctx, const char *name, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r = {0};
    int rc = sd_q(db, &r, err, "SELECT id FROM users WHERE name = ?", "s", name);
    if (!rc && !r.rows)
        rc = dp_err_set(err, DUMPER_ENOENT, "no user named '%s'", name);
    if (!rc)
        rc = sd_q(db, NULL, err, "DELETE FROM sessions WHERE user_id = ?", "i", sd_geti(&r, 0, 0));
    if (!rc)
        rc = sd_q(db, NULL, err, "DELETE FROM users WHERE id = ?", "i", sd_geti(&r, 0, 0));
    sd_res_free(&r);
    return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc;
}

int sd_user_list(sd_ctx *ctx, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r = {0};
    int rc = sd_q(db, &r, err, "SELECT name FROM users ORDER BY name", "");
    for (int i = 0; !rc && i < r.rows; i++)
        printf("%s\n", sd_get(&r, i, 0));
    sd_res_free(&r);
    return rc == SD_RETRY ? dp_err_set(err, DUMPER_EBUSY, "state store is busy") : rc;
}

/* ---- responses ---- */

static void common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none';"
                            " base-uri 'none'; form-action 'self'");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
                             const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    common_headers(r);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result json_reply(struct MHD_Connection *c, unsigned status, cJSON *o, const char *cookie)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        s = dp_strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
        status = 500;
        if (!s)
            return MHD_NO;
    }
    return reply(c, status, "application/json", s, strlen(s), cookie);
}

static enum MHD_Result err_reply(struct MHD_Connection *c, unsigned status, const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    return json_reply(c, status, o, NULL);
}

static enum MHD_Result redirect(struct MHD_Connection *c, const char *to)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    common_headers(r);
    MHD_add_response_header(r, "Location", to);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, 303, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- static files ---- */

static const struct {
    const char *url, *file, *type;
    int public;
} statics[] = {
    {"/login.html", "login.html", "text/html; charset=utf-8", 1},
    {"/login.js", "login.js", "text/javascript; charset=utf-8", 1},
    {"/style.css", "style.css", "text/css; charset=utf-8", 1},
    {"/favicon.svg", "favicon.svg", "image/svg+xml", 1},
    {"/", "index.html", "text/html; charset=utf-8", 0},
    {"/index.html", "index.html", "text/html; charset=utf-8", 0},
    {"/app.js", "app.js", "text/javascript; charset=utf-8", 0},
    {"/chart.js", "chart.js", "text/javascript; charset=utf-8", 0},
};

static enum MHD_Result send_static(struct MHD_Connection *c, const sd_ctx *ctx, const char *file, const char *type)
{
    char *path = dp_asprintf("%s/%s", ctx->cfg->web_dir ? ctx->cfg->web_dir : ".", file);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat sb;
    char *buf = NULL;
    if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size > MAX_STATIC || !(buf = malloc((size_t)sb.st_size + 1)) ||
        dp_read_full(fd, buf, (size_t)sb.st_size) != (ssize_t)sb.st_size) {
        dp_warn("site: unable to read '%s' (--web DIR)", path ? path : file);
        if (fd >= 0)
            close(fd);
        free(buf);
        free(path);
        return err_reply(c, 500, "internal", "dashboard file missing");
    }
    close(fd);
    free(path);
    return reply(c, 200, type, buf, (size_t)sb.st_size, NULL);
}

/* ---- sessions ---- */

typedef struct {
    int64_t user;
    char name[80];
    char csrf[65];
    char token_hash[65];
} session;

/* 1 with *s filled when the request carries a live session. */
static int session_get(struct MHD_Connection *c, sd_ctx *ctx, session *s)
{
    sd_db *db = ctx->db;
    const char *tok = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    if (!tok || strlen(tok) != 64)
        return 0;
    dp_sha256_hex(tok, 64, s->token_hash);
    sd_res r = {0};
    dp_err err = {0};
    if (sd_q(db, &r, &err,
             "SELECT s.user_id, u.name, s.csrf, s.expires_at, s.token_hash FROM sessions s JOIN users u"
             " ON u.id = s.user_id WHERE s.token_hash = ?",
             "s", s->token_hash))
        return 0;
    int ok = r.rows == 1 && CRYPTO_memcmp(sd_get(&r, 0, 4), s->token_hash, 64) == 0 &&
             sd_geti(&r, 0, 3) > dp_now_ms();
    if (ok) {
        s->user = sd_geti(&r, 0, 0);
        snprintf(s->name, sizeof s->name, "%s", sd_get(&r, 0, 1));
        snprintf(s->csrf, sizeof s->csrf, "%s", sd_get(&r, 0, 2));
    } else if (r.rows == 1) {
        sd_q(db, NULL, &err, "DELETE FROM sessions WHERE token_hash = ?", "s", s->token_hash);
    }
    sd_res_free(&r);
    return ok;
}

static char *cookie_value(const sd_ctx *ctx, const char *tok, int64_t max_age_s)
{
    return dp_asprintf(COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%" PRId64 "%s", tok, max_age_s,
                       ctx->cfg->tls_cert ? "; Secure" : "");
}

/* Failed logins per (client address, user name), in this process: after LOGIN_MAX failures within
 * LOGIN_WINDOW_MS that pair gets 429 until the window ends, before any password work (so guessing is
 * slow and cheap to refuse, and one client cannot lock a user out for everybody else). */
#define LOGIN_SLOTS 256
#define LOGIN_MAX 10
#define LOGIN_WINDOW_MS 60000
static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char key[65];
    int64_t since;
    int fails;
} login_fails[LOGIN_SLOTS];

/* The client's address as text ("?" if unknown; an IPv4-mapped IPv6 address as plain IPv4); 1 if it is
 * a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
static int client_addr(struct MHD_Connection *c, char addr[INET6_ADDRSTRLEN])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(addr, INET6_ADDRSTRLEN, "?");
    if (sa && sa->sa_family == AF_INET) {
        const struct in_addr *a4 = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        inet_ntop(AF_INET, a4, addr, INET6_ADDRSTRLEN);
        return (ntohl(a4->s_addr) >> 24) == 127;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            inet_ntop(AF_INET, a6->s6_addr + 12, addr, INET6_ADDRSTRLEN);
            return a6->s6_addr[12] == 127;
        }
        inet_ntop(AF_INET6, a6, addr, INET6_ADDRSTRLEN);
        return IN6_IS_ADDR_LOOPBACK(a6);
    }
    return 0;
}

static void login_key(struct MHD_Connection *c, const char *user, char out[65])
{
    char addr[INET6_ADDRSTRLEN];
    client_addr(c, addr);
    char *k = dp_asprintf("%s\n%s", addr, user);
    dp_sha256_hex(k ? k : user, k ? strlen(k) : strlen(user), out);
    free(k);
}

/* 1 when this client may try this user now. */
static int login_allowed(const char key[65])
{
    int64_t now = dp_mono_ms();
    int ok = 1;
    pthread_mutex_lock(&login_lock);
    for (int i = 0; i < LOGIN_SLOTS; i++)
        if (!strcmp(login_fails[i].key, key) && now - login_fails[i].since < LOGIN_WINDOW_MS &&
            login_fails[i].fails >= LOGIN_MAX)
            ok = 0;
    pthread_mutex_unlock(&login_lock);
    return ok;
}

static void login_failed(const char key[65])
{
    int64_t now = dp_mono_ms();
    int slot = -1, oldest = 0;
    pthread_mutex_lock(&login_lock);
    for (int i = 0; i < LOGIN_SLOTS && slot < 0; i++)
        if (!strcmp(login_fails[i].key, key))
            slot = i;
    if (slot < 0) {
        for (int i = 1; i < LOGIN_SLOTS; i++)
            if (login_fails[i].since < login_fails[oldest].since)
                oldest = i;
        slot = oldest;
        snprintf(login_fails[slot].key, sizeof login_fails[slot].key, "%s", key);
        login_fails[slot].fails = 0;
        login_fails[slot].since = now;
    }
    if (now - login_fails[slot].since >= LOGIN_WINDOW_MS) {
        login_fails[slot].fails = 0;
        login_fails[slot].since = now;
    }
    login_fails[slot].fails++;
    pthread_mutex_unlock(&login_lock);
}

static enum MHD_Result login(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j)
{
    sd_db *db = ctx->db;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
    if (!cJSON_IsString(u) || !cJSON_IsString(p) || strlen(p->valuestring) > 1024 || strlen(u->valuestring) > 64)
        return err_reply(c, 400, "invalid_request", "fields 'user' and 'password' are required");
    char lk[65];
    login_key(c, u->valuestring, lk);
    if (!login_allowed(lk)) {
        dp_warn("site: login for user '%.64s' refused: too many failures", valid_name(u->valuestring) ? u->valuestring : "(invalid)");
        return err_reply(c, 429, "too_many_requests", "too many failed logins; try again in a minute");
    }
    sd_res r = {0};
    dp_err err = {0};
    if (sd_q(db, &r, &err, "SELECT id, pw_hash FROM users WHERE name = ?", "s", u->valuestring))
        return err_reply(c, 503, "unavailable", "state store unavailable");
    int64_t uid = r.rows ? sd_geti(&r, 0, 0) : 0;
    int ok = sd_pw_verify(p->valuestring, r.rows ? sd_get(&r, 0, 1) : NULL) && uid > 0;
    sd_res_free(&r);
    if (!ok) {
        login_failed(lk);
        dp_warn("site: failed login for user '%.64s'", valid_name(u->valuestring) ? u->valuestring : "(invalid)");
        return err_reply(c, 401, "unauthorized", "wrong user name or password");
    }
    char tok[65], th[65], csrf[65];
    if (random_hex(tok, 32) || random_hex(csrf, 32))
        return err_reply(c, 500, "internal", "no randomness");
    dp_sha256_hex(tok, 64, th);
    int64_t now = dp_now_ms();
    /* Expired sessions are swept at each login. */
    sd_q(db, NULL, &err, "DELETE FROM sessions WHERE expires_at < ?", "i", now);
    dp_err_clear(&err);
    if (sd_q(db, NULL, &err, "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
             "sisii", th, uid, csrf, now, now + ctx->cfg->session_ttl_ms))
        return err_reply(c, 503, "unavailable", "state store unavailable");
    dp_info("site: user '%s' logged in", u->valuestring);
    char *ck = cookie_value(ctx, tok, ctx->cfg->session_ttl_ms / 1000);
    dp_memzero(tok, sizeof tok);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", u->valuestring);
    cJSON_AddStringToObject(o, "csrf", csrf);
    enum MHD_Result ret = json_reply(c, 200, o, ck);
    free(ck);
    return ret;
}

/* ---- dashboard data ---- */

/* The id at *p ("12/..." or "b_12/..."), advancing *p; -1 if none. */
static int64_t path_id(const char **p, char prefix) { return sd_id_scan(p, prefix); }

static cJSON *app_row(sd_ctx *ctx, int64_t app, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r = {0};
    if (sd_q(db, &r, err,
             "SELECT id, name, created_at, keep_last, keep_daily, keep_weekly, keep_monthly FROM apps WHERE id = ?", "i",
             app))
        return NULL;
    cJSON *o = NULL;
    if (r.rows) {
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)sd_geti(&r, 0, 0));
        cJSON_AddStringToObject(o, "name", sd_get(&r, 0, 1));
        char b[24];
        dp_stamp_rfc3339(sd_geti(&r, 0, 2), b);
        cJSON_AddStringToObject(o, "created_at", b);
        cJSON *ret = cJSON_AddObjectToObject(o, "retention");
        cJSON_AddNumberToObject(ret, "keep_last", (double)sd_geti(&r, 0, 3));
        cJSON_AddNumberToObject(ret, "daily", (double)sd_geti(&r, 0, 4));
        cJSON_AddNumberToObject(ret, "weekly", (double)sd_geti(&r, 0, 5));
        cJSON_AddNumberToObject(ret, "monthly", (double)sd_geti(&r, 0, 6));
    }
    sd_res_free(&r);
    return o;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *databases(sd_ctx *ctx, int64_t app, dp_err *err)
{
    sd_db *db = ctx->db;
    sd_res r = {0};
    if (sd_q(db, &r, err,
             "SELECT d.id, d.env, d.dkey, d.type, d.host, d.port, d.name, d.dbuser, d.updated_at,"
             " (SELECT MAX(b.finished_at) FROM backups b WHERE b.db_id = d.id AND b.status = 'good')"
             " FROM dbs d WHERE d.app_id = ? ORDER BY d.env, d.dkey",
             "i", app))
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.rows; i++) {
        cJSON *o = cJSON_CreateObject();
        char b[32];
        snprintf(b, sizeof b, "d_%" PRId64, sd_geti(&r, i, 0));
        cJSON_AddStringToObject(o, "database_id", b);
        cJSON_AddStringToObject(o, "environment", sd_get(&r, i, 1));
        cJSON_AddStringToObject(o, "key", sd_get(&r, i, 2));
        cJSON_AddStringToObject(o, "type", sd_get(&r, i, 3));
        add_str_or_null(o, "host", sd_get(&r, i, 4));
        if (sd_get(&r, i, 5))
            cJSON_AddNumberToObject(o, "port", (double)sd_geti(&r, i, 5));
        else
            cJSON_AddNullToObject(o, "port");
        add_str_or_null(o, "name", sd_get(&r, i, 6));
        add_str_or_null(o, "user", sd_get(&r, i, 7));
        dp_stamp_rfc3339(sd_geti(&r, i, 8), b);
        cJSON_AddStringToObject(o, "updated_at", b);
        if (sd_get(&r, i, 9)) {
            dp_stamp_rfc3339(sd_geti(&r, i, 9), b);
            cJSON_AddStringToObject(o, "last_good_at", b);
        } else {
            cJSON_AddNullToObject(o, "last_good_at");
        }
        cJSON_AddItemToArray(arr, o);
    }
    sd_res_free(&r);
    return arr;
}

static enum MHD_Result app_detail(struct MHD_Connection *c, sd_ctx *ctx, int64_t app)
{
    dp_err err = {0};
    cJSON *a = app_row(ctx, app, &err);
    if (!a)
        return err.code ? err_reply(c, 503, "unavailable", "state store unavailable")
                        : err_reply(c, 404, "not_found", "no such app");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "app", a);
    cJSON *x;
    if ((x = sd_agents(ctx, app, &err)))
        cJSON_AddItemToObject(o, "agents", x);
    if ((x = databases(ctx, app, &err)))
        cJSON_AddItemToObject(o, "databases", x);
    if ((x = sd_schedules(ctx, app, &err)))
        cJSON_AddItemToObject(o, "schedules", x);
    if ((x = sd_backups(ctx, app, 0, 500, &err)))
        cJSON_AddItemToObject(o, "backups", x);
    char b[24];
    dp_stamp_rfc3339(sd_ctx_now(ctx), b);
    cJSON_AddStringToObject(o, "server_time", b);
    cJSON_AddStringToObject(o, "storage", sd_storage_is_s3(ctx) ? "s3" : "local");
    /* Where `dumper restore` finds the files (on the dumperd host; S3 without credentials). */
    char *abs = sd_storage_is_s3(ctx) ? NULL : realpath(ctx->cfg->storage, NULL);
    cJSON_AddStringToObject(o, "storage_location", abs ? abs : ctx->cfg->storage);
    free(abs);
    if (err.code) {
        cJSON_Delete(o);
        return err_reply(c, 503, "unavailable", "state store unavailable");
    }
    return json_reply(c, 200, o, NULL);
}

static enum MHD_Result apps_list(struct MHD_Connection *c, sd_ctx *ctx)
{
    sd_db *db = ctx->db;
    sd_res r = {0};
    dp_err err = {0};
    if (sd_q(db, &r, &err,
             "SELECT a.id, a.name, a.created_at, (SELECT COUNT(*) FROM agents g WHERE g.app_id = a.id),"
             " (SELECT COUNT(*) FROM dbs d WHERE d.app_id = a.id),"
             " (SELECT MAX(b.finished_at) FROM backups b WHERE b.app_id = a.id AND b.status = 'good'),"
             " (SELECT COUNT(*) FROM backups b WHERE b.app_id = a.id AND b.status = 'failed')"
             " FROM apps a ORDER BY a.name",
             ""))
        return err_reply(c, 503, "unavailable", "state store unavailable");
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.rows; i++) {
        cJSON *o = cJSON_CreateObject();
        char b[24];
        cJSON_AddNumberToObject(o, "id", (double)sd_geti(&r, i, 0));
        cJSON_AddStringToObject(o, "name", sd_get(&r, i, 1));
        dp_stamp_rfc3339(sd_geti(&r, i, 2), b);
        cJSON_AddStringToObject(o, "created_at", b);
        cJSON_AddNumberToObject(o, "agents", (double)sd_geti(&r, i, 3));
        cJSON_AddNumberToObject(o, "databases", (double)sd_geti(&r, i, 4));
        if (sd_get(&r, i, 5)) {
            dp_stamp_rfc3339(sd_geti(&r, i, 5), b);
            cJSON_AddStringToObject(o, "last_good_at", b);
        } else {
            cJSON_AddNullToObject(o, "last_good_at");
        }
        cJSON_AddNumberToObject(o, "failed", (double)sd_geti(&r, i, 6));
        cJSON_AddItemToArray(arr, o);
    }
    sd_res_free(&r);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "apps", arr);
    return json_reply(c, 200, o, NULL);
}

static enum MHD_Result app_create(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsString(n) || !valid_name(n->valuestring))
        return err_reply(c, 400, "invalid_request", "an app name is 1-64 characters of [A-Za-z0-9_.-]");
    char key[68];
    dp_err err = {0};
    int rc = sd_app_create(ctx, n->valuestring, key, &err);
    if (rc == DUMPER_EEXIST)
        return err_reply(c, 409, "conflict", "an app with this name exists");
    if (rc)
        return err_reply(c, 503, "unavailable", "state store unavailable");
    int64_t id = 0;
    sd_app_id(ctx, n->valuestring, &id, &err);
    dp_info("site: app '%s' created", n->valuestring);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "name", n->valuestring);
    cJSON_AddStringToObject(o, "key", key);
    dp_memzero(key, sizeof key);
    return json_reply(c, 200, o, NULL);
}

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static enum MHD_Result app_post(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, const char *what, const cJSON *j,
                                const char *user)
{
    dp_err err = {0};
    cJSON *a = app_row(ctx, app, &err);
    if (!a)
        return err_reply(c, 404, "not_found", "no such app");
    cJSON_Delete(a);
    if (!strcmp(what, "key")) {
        char key[68];
        int rc = sd_app_rotate_key(ctx, app, key, &err);
        if (rc == DUMPER_ENOENT)
            return err_reply(c, 404, "not_found", "no such app");
        if (rc)
            return err_reply(c, 503, "unavailable", "state store unavailable");
        cJSON *o = app_row(ctx, app, &err); /* the key is answered even if this read fails */
        if (!o && (o = cJSON_CreateObject()))
            cJSON_AddNumberToObject(o, "id", (double)app);
        cJSON_AddStringToObject(o, "key", key);
        dp_memzero(key, sizeof key);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(o, "name"));
        dp_info("site: app '%s' got a new key (user '%s')", name ? name : "?", user);
        return json_reply(c, 200, o, NULL);
    }
    const char *env = jstr(j, "environment");
    const char *dbkey = jstr(j, "database");
    if (!env)
        env = "production";
    if (!valid_name(env) || (dbkey && !valid_name(dbkey)))
        return err_reply(c, 400, "invalid_request", "bad environment or database key");
    int rc;
    if (!strcmp(what, "schedule")) {
        const char *cron = jstr(j, "cron"), *tz = jstr(j, "tz");
        if (!cron || strlen(cron) > 200 || (tz && strlen(tz) > 64))
            return err_reply(c, 400, "invalid_request", "field 'cron' is required");
        rc = sd_schedule_set(ctx, app, env, dbkey, cron, tz ? tz : "UTC", &err);
    } else if (!strcmp(what, "retention")) {
        int64_t v[4];
        static const char *k[] = {"keep_last", "daily", "weekly", "monthly"};
        for (int i = 0; i < 4; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k[i]);
            if (!x || cJSON_IsNull(x)) {
                v[i] = 0;
                continue;
            }
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 100000 ||
                x->valuedouble != (double)(int64_t)x->valuedouble)
                return err_reply(c, 400, "invalid_request", "retention counts are integers from 0 to 100000");
            v[i] = (int64_t)x->valuedouble;
        }
        rc = sd_retention_set(ctx, app, v[0], v[1], v[2], v[3], &err);
    } else if (!strcmp(what, "backup")) {
        int n = 0;
        rc = sd_backup_now(ctx, app, env, dbkey, &n, &err);
        if (!rc) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "queued", n);
            return json_reply(c, 200, o, NULL);
        }
    } else {
        return err_reply(c, 404, "not_found", "no such endpoint");
    }
    if (rc == DUMPER_EUSAGE)
        return err_reply(c, 400, "invalid_request", err.msg);
    if (rc == DUMPER_ENOENT)
        return err_reply(c, 404, "not_found", err.msg);
    if (rc)
        return err_reply(c, 503, "unavailable", "state store unavailable");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    return json_reply(c, 200, o, NULL);
}

/* GET /ui/cron?expr=...&tz=...: the next run times of a schedule being edited. */
static enum MHD_Result cron_preview(struct MHD_Connection *c, const sd_ctx *ctx)
{
    const char *expr = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "expr");
    const char *tz = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tz");
    if (!tz || !*tz)
        tz = "UTC";
    sd_cron cr;
    char msg[200];
    if (!expr || strlen(expr) > 200 || sd_cron_parse(expr, &cr, msg, sizeof msg))
        return err_reply(c, 400, "invalid_request", expr ? msg : "parameter 'expr' is required");
    if (strlen(tz) > 64 || !sd_tz_valid(tz))
        return err_reply(c, 400, "invalid_request", "unknown time zone");
    cJSON *o = cJSON_CreateObject();
    cJSON *next = cJSON_AddArrayToObject(o, "next");
    int64_t slots[5];
    int n = sd_schedule_next(&cr, tz, sd_ctx_now(ctx) / 1000, 5, slots);
    for (int k = 0; k < n; k++) {
        char b[24];
        dp_stamp_rfc3339(slots[k] * 1000, b);
        cJSON_AddItemToArray(next, cJSON_CreateString(b));
    }
    return json_reply(c, 200, o, NULL);
}

/* ---- metrics ---- */

/* Label values: backslash, double quote and newline escaped (text format 0.0.4). */
static void label(dp_buf *b, const char *v)
{
    dp_buf_puts(b, "\"");
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

static void head(dp_buf *b, const char *name, const char *type, const char *help)
{
    dp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_allowed(struct MHD_Connection *c, sd_ctx *ctx)
{
    if (ctx->cfg->metrics_token) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        size_t n = strlen(ctx->cfg->metrics_token);
        if (a && !strncmp(a, "Bearer ", 7) && strlen(a + 7) == n &&
            CRYPTO_memcmp(a + 7, ctx->cfg->metrics_token, n) == 0)
            return 1;
    } else {
        char addr[INET6_ADDRSTRLEN];
        if (client_addr(c, addr))
            return 1;
    }
    session s;
    return session_get(c, ctx, &s);
}

static enum MHD_Result metrics(struct MHD_Connection *c, sd_ctx *ctx)
{
    sd_db *db = ctx->db;
    if (!metrics_allowed(c, ctx))
        return err_reply(c, 401, "unauthorized", "metrics need the metrics token (or a loopback client)");
    dp_buf b = {0};
    sd_res r = {0};
    dp_err err = {0};
    int64_t now = sd_ctx_now(ctx);
    head(&b, "dumper_backups", "gauge", "Backups in the catalog by app, environment, database and status.");
    if (sd_q(db, &r, &err,
             "SELECT a.name, b.env, d.dkey, b.status, COUNT(*) FROM backups b JOIN apps a ON a.id = b.app_id"
             " JOIN dbs d ON d.id = b.db_id GROUP BY a.name, b.env, d.dkey, b.status ORDER BY 1, 2, 3, 4",
             ""))
        goto fail;
    for (int i = 0; i < r.rows; i++) {
        dp_buf_puts(&b, "dumper_backups{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_puts(&b, ",environment=");
        label(&b, sd_get(&r, i, 1));
        dp_buf_puts(&b, ",database=");
        label(&b, sd_get(&r, i, 2));
        dp_buf_puts(&b, ",status=");
        label(&b, sd_get(&r, i, 3));
        dp_buf_printf(&b, "} %" PRId64 "\n", sd_geti(&r, i, 4));
    }
    sd_res_free(&r);

    /* The newest good backup of each database: its time, size and duration. */
    if (sd_q(db, &r, &err,
             "SELECT a.name, d.env, d.dkey, b.finished_at, b.size, b.duration_ms FROM dbs d JOIN apps a ON a.id = d.app_id"
             " JOIN backups b ON b.id = (SELECT MAX(x.id) FROM backups x WHERE x.db_id = d.id AND x.status = 'good')"
             " ORDER BY 1, 2, 3",
             ""))
        goto fail;
    static const struct {
        const char *name, *help;
        int col;
        double scale;
    } last[] = {
        {"dumper_last_good_backup_timestamp_seconds", "Finish time of the newest good backup (Unix seconds).", 3,
         1e-3},
        {"dumper_last_good_backup_size_bytes", "Size of the newest good backup.", 4, 1},
        {"dumper_last_good_backup_duration_seconds", "Duration of the newest good backup.", 5, 1e-3},
    };
    for (size_t m = 0; m < sizeof last / sizeof *last; m++) {
        head(&b, last[m].name, "gauge", last[m].help);
        for (int i = 0; i < r.rows; i++) {
            dp_buf_printf(&b, "%s{app=", last[m].name);
            label(&b, sd_get(&r, i, 0));
            dp_buf_puts(&b, ",environment=");
            label(&b, sd_get(&r, i, 1));
            dp_buf_puts(&b, ",database=");
            label(&b, sd_get(&r, i, 2));
            dp_buf_printf(&b, "} %.3f\n", (double)sd_geti(&r, i, last[m].col) * last[m].scale);
        }
    }
    sd_res_free(&r);

    /* Sizes and durations of good backups as summaries (sum and count) per app. */
    if (sd_q(db, &r, &err,
             "SELECT a.name, COUNT(*), COALESCE(SUM(b.size), 0), COALESCE(SUM(b.duration_ms), 0) FROM backups b"
             " JOIN apps a ON a.id = b.app_id WHERE b.status = 'good' GROUP BY a.name ORDER BY 1",
             ""))
        goto fail;
    head(&b, "dumper_backup_size_bytes", "summary", "Sizes of the good backups in the catalog.");
    for (int i = 0; i < r.rows; i++) {
        dp_buf_puts(&b, "dumper_backup_size_bytes_sum{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_printf(&b, "} %" PRId64 "\n", sd_geti(&r, i, 2));
        dp_buf_puts(&b, "dumper_backup_size_bytes_count{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_printf(&b, "} %" PRId64 "\n", sd_geti(&r, i, 1));
    }
    head(&b, "dumper_backup_duration_seconds", "summary", "Durations of the good backups in the catalog.");
    for (int i = 0; i < r.rows; i++) {
        dp_buf_puts(&b, "dumper_backup_duration_seconds_sum{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_printf(&b, "} %.3f\n", (double)sd_geti(&r, i, 3) / 1000);
        dp_buf_puts(&b, "dumper_backup_duration_seconds_count{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_printf(&b, "} %" PRId64 "\n", sd_geti(&r, i, 1));
    }
    sd_res_free(&r);

    /* Agents by role: primary = holds a live lease; seen = polled within 2 secondary intervals. */
    if (sd_q(db, &r, &err,
             "SELECT a.name, g.env, CASE WHEN p.lease_until > ? THEN 'primary' ELSE 'secondary' END, COUNT(*)"
             " FROM agents g JOIN apps a ON a.id = g.app_id LEFT JOIN primaries p ON p.app_id = g.app_id"
             " AND p.env = g.env AND p.agent_id = g.id WHERE g.last_seen > ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
             "ii", now, now - (int64_t)(ctx->cfg->secondary_interval * 2000) - 120000))
        goto fail;
    head(&b, "dumper_agents", "gauge", "Live agents (seen within two secondary intervals) by role.");
    for (int i = 0; i < r.rows; i++) {
        dp_buf_puts(&b, "dumper_agents{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_puts(&b, ",environment=");
        label(&b, sd_get(&r, i, 1));
        dp_buf_puts(&b, ",role=");
        label(&b, sd_get(&r, i, 2));
        dp_buf_printf(&b, "} %" PRId64 "\n", sd_geti(&r, i, 3));
    }
    sd_res_free(&r);

    head(&b, "dumper_agent_polls_total", "counter", "Agent polls answered by this dumperd process.");
    dp_buf_printf(&b, "dumper_agent_polls_total %" PRIuFAST64 "\n", atomic_load(&polls_total));
    head(&b, "dumper_agent_registrations_total", "counter", "Agent registrations answered by this process.");
    dp_buf_printf(&b, "dumper_agent_registrations_total %" PRIuFAST64 "\n", atomic_load(&registers_total));

    /* Job lag: how long the oldest waiting job has waited (pending: not yet handed out). */
    if (sd_q(db, &r, &err,
             "SELECT a.name, COUNT(j.id), MIN(j.created_at) FROM apps a LEFT JOIN jobs j ON j.app_id = a.id"
             " AND j.state = 'pending' GROUP BY a.name ORDER BY 1",
             ""))
        goto fail;
    head(&b, "dumper_jobs_pending", "gauge", "Jobs waiting for the primary agent.");
    for (int i = 0; i < r.rows; i++) {
        dp_buf_puts(&b, "dumper_jobs_pending{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_printf(&b, "} %" PRId64 "\n", sd_geti(&r, i, 1));
    }
    head(&b, "dumper_job_lag_seconds", "gauge", "Age of the oldest pending job (0 when none).");
    for (int i = 0; i < r.rows; i++) {
        int64_t lag = sd_get(&r, i, 2) ? now - sd_geti(&r, i, 2) : 0;
        dp_buf_puts(&b, "dumper_job_lag_seconds{app=");
        label(&b, sd_get(&r, i, 0));
        dp_buf_printf(&b, "} %.3f\n", lag > 0 ? (double)lag / 1000 : 0.0);
    }
    sd_res_free(&r);

    if (sd_q(db, &r, &err, "SELECT COUNT(*) FROM alerts WHERE sent_at IS NULL", ""))
        goto fail;
    head(&b, "dumper_alerts_undelivered", "gauge", "Webhook alerts not delivered yet.");
    dp_buf_printf(&b, "dumper_alerts_undelivered %" PRId64 "\n", sd_geti(&r, 0, 0));
    sd_res_free(&r);
    if (!b.data)
        return err_reply(c, 500, "internal", "out of memory");
    return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
fail:
    sd_res_free(&r);
    dp_buf_free(&b);
    return err_reply(c, 503, "unavailable", "state store unavailable");
}

/* ---- routing ---- */

enum MHD_Result sd_site_request(struct MHD_Connection *c, const char *url, const char *method, const char *body,
                                size_t len, sd_ctx *ctx)
{
    sd_db *db = ctx->db;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/metrics"))
        return get ? metrics(c, ctx) : err_reply(c, 405, "method_not_allowed", "use GET");
    for (size_t i = 0; i < sizeof statics / sizeof *statics; i++) {
        if (strcmp(url, statics[i].url))
            continue;
        if (!get)
            return err_reply(c, 405, "method_not_allowed", "use GET");
        if (!statics[i].public) {
            session s;
            if (!session_get(c, ctx, &s))
                return redirect(c, "/login.html");
        }
        return send_static(c, ctx, statics[i].file, statics[i].type);
    }
    if (strncmp(url, "/ui/", 4))
        return err_reply(c, 404, "not_found", "no such page");
    const char *p = url + 4;
    cJSON *j = NULL;
    if (post) {
        /* A JSON body (and its content type) on every POST: a cross-site form cannot send one. */
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16))
            return err_reply(c, 415, "unsupported_media_type", "POST bodies are application/json");
        const char *end = NULL;
        j = len ? cJSON_ParseWithLengthOpts(body, len + 1, &end, 1) : NULL;
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return err_reply(c, 400, "invalid_json", "the request body must be a JSON object");
        }
    } else if (!get) {
        return err_reply(c, 405, "method_not_allowed", "use GET or POST");
    }
    enum MHD_Result ret;
    if (!strcmp(p, "login")) {
        ret = post ? login(c, ctx, j) : err_reply(c, 405, "method_not_allowed", "use POST");
        cJSON_Delete(j);
        return ret;
    }
    session s;
    if (!session_get(c, ctx, &s)) {
        cJSON_Delete(j);
        return err_reply(c, 401, "unauthorized", "log in first");
    }
    if (post) {
        const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
        if (!t || strlen(t) != 64 || CRYPTO_memcmp(t, s.csrf, 64)) {
            cJSON_Delete(j);
            return err_reply(c, 403, "forbidden", "missing or wrong CSRF token");
        }
    }
    if (!strcmp(p, "logout") && post) {
        dp_err err = {0};
        sd_q(db, NULL, &err, "DELETE FROM sessions WHERE token_hash = ?", "s", s.token_hash);
        cJSON_Delete(j);
        char *ck = dp_asprintf(COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s", ctx->cfg->tls_cert ? "; Secure" : "");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "ok", 1);
        ret = json_reply(c, 200, o, ck);
        free(ck);
        return ret;
    }
    if (!strcmp(p, "me") && get) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", s.name);
        cJSON_AddStringToObject(o, "csrf", s.csrf);
        return json_reply(c, 200, o, NULL);
    }
    if (!strcmp(p, "cron") && get)
        return cron_preview(c, ctx);
    if (!strcmp(p, "apps")) {
        ret = post ? app_create(c, ctx, j) : apps_list(c, ctx);
        cJSON_Delete(j);
        return ret;
    }
    if (!strncmp(p, "apps/", 5)) {
        p += 5;
        int64_t app = path_id(&p, 0);
        if (app > 0 && !*p && get)
            return app_detail(c, ctx, app);
        if (app > 0 && *p == '/' && post) {
            ret = app_post(c, ctx, app, p + 1, j, s.name);
            cJSON_Delete(j);
            return ret;
        }
        if (app > 0 && !strncmp(p, "/backups/", 9) && get) {
            p += 9;
            int64_t b = path_id(&p, 'b');
            if (b > 0 && !strcmp(p, "/download"))
                return sd_http_download(c, ctx, app, b);
            if (b > 0 && !strcmp(p, "/manifest"))
                return sd_http_manifest(c, ctx, app, b);
        }
    }
    cJSON_Delete(j);
    return err_reply(c, 404, "not_found", "no such endpoint");
}
