/* session.c - logins, session cookies and CSRF (see session.h). */
#include "http/session.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/names.h"
#include "http/respond.h"
#include "io/filter.h"

#define COOKIE "dumper_session"

int sd_http_client_addr(struct MHD_Connection *c, char addr[INET6_ADDRSTRLEN])
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

int sd_http_session(struct MHD_Connection *c, sd_ctx *ctx, sd_session *s)
{
    return sd_session_find(ctx, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE), s);
}

int sd_http_csrf_ok(struct MHD_Connection *c, const sd_session *s)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    return t && strlen(t) == 64 && CRYPTO_memcmp(t, s->csrf, 64) == 0;
}

static char *cookie(const sd_ctx *ctx, const char *tok, int64_t max_age_s)
{
    return dp_asprintf(COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%" PRId64 "%s", tok, max_age_s,
                       ctx->cfg->tls_cert ? "; Secure" : "");
}

/* Failed logins per (client address, user name), in this process: after LOGIN_MAX failures within
 * LOGIN_WINDOW_MS that pair gets 429 until the window ends, before any password work (so guessing is slow
 * and cheap to refuse, and one client cannot lock a user out for everybody else). */
#define LOGIN_SLOTS 256
#define LOGIN_MAX 10
#define LOGIN_WINDOW_MS 60000
static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char key[65];
    int64_t since;
    int fails;
} login_fails[LOGIN_SLOTS];

static void login_key(struct MHD_Connection *c, const char *user, char out[65])
{
    char addr[INET6_ADDRSTRLEN];
    sd_http_client_addr(c, addr);
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

enum MHD_Result sd_http_login(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
    if (!cJSON_IsString(u) || !cJSON_IsString(p) || strlen(p->valuestring) > 1024 || strlen(u->valuestring) > 64)
        return sd_site_error(c, 400, "invalid_request", "fields 'user' and 'password' are required");
    const char *shown = sd_label_valid(u->valuestring, 64) ? u->valuestring : "(invalid)";
    char lk[65];
    login_key(c, u->valuestring, lk);
    if (!login_allowed(lk)) {
        dp_warn("site: login for user '%.64s' refused: too many failures", shown);
        return sd_site_error(c, 429, "too_many_requests", "too many failed logins; try again in a minute");
    }
    char tok[65];
    sd_session s;
    sd_status st = SD_STATUS_INIT;
    if (sd_session_login(ctx, u->valuestring, p->valuestring, ctx->cfg->session_ttl_ms, tok, &s, &st)) {
        if (st.outcome != SD_UNAUTHORIZED)
            return sd_site_error(c, sd_http_status(st.outcome), sd_http_error_code(st.outcome), st.err.msg);
        login_failed(lk);
        dp_warn("site: failed login for user '%.64s'", shown);
        return sd_site_error(c, 401, "unauthorized", "wrong user name or password");
    }
    dp_info("site: user '%s' logged in", u->valuestring);
    char *ck = cookie(ctx, tok, ctx->cfg->session_ttl_ms / 1000);
    dp_memzero(tok, sizeof tok);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", u->valuestring);
    cJSON_AddStringToObject(o, "csrf", s.csrf);
    enum MHD_Result ret = sd_site_json(c, 200, o, ck);
    free(ck);
    return ret;
}

enum MHD_Result sd_http_logout(struct MHD_Connection *c, sd_ctx *ctx, const sd_session *s)
{
    sd_session_logout(ctx, s);
    char *ck = dp_asprintf(COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s", ctx->cfg->tls_cert ? "; Secure" : "");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    enum MHD_Result ret = sd_site_json(c, 200, o, ck);
    free(ck);
    return ret;
}
