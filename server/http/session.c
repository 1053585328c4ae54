/* session.c - logins, session cookies and CSRF (see session.h). */
#include "http/session.h"

#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "domain/login_limit.h"
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

/* The login limiter (domain/login_limit.h), one table for this process. The address is the socket's (no
 * header such as X-Forwarded-For is read); an IPv6 client counts by its /64, since one host has a whole /64
 * to pick addresses from. */
static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static sd_login_limit login_table;

/* The pair's key and the address's key. */
static void login_keys(struct MHD_Connection *c, const char *user, char pair[65], char addr_key[65])
{
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    sd_http_client_addr(c, addr);
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
        memset(a6.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a6, addr, sizeof addr);
    }
    char *k = dp_asprintf("%s\n%s", addr, user);
    dp_sha256_hex(k ? k : user, k ? strlen(k) : strlen(user), pair);
    free(k);
    dp_sha256_hex(addr, strlen(addr), addr_key);
}

static int login_allowed(const char pair[65], const char addr[65])
{
    pthread_mutex_lock(&login_lock);
    int ok = sd_login_allowed(&login_table, pair, addr, dp_mono_ms());
    pthread_mutex_unlock(&login_lock);
    return ok;
}

static void login_failed(const char pair[65], const char addr[65])
{
    pthread_mutex_lock(&login_lock);
    int reused = sd_login_failed(&login_table, pair, addr, dp_mono_ms());
    pthread_mutex_unlock(&login_lock);
    if (reused)
        dp_warn("site: the login limiter is full of blocked clients; the oldest block was reused");
}

enum MHD_Result sd_http_login(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
    if (!cJSON_IsString(u) || !cJSON_IsString(p) || strlen(p->valuestring) > 1024 || strlen(u->valuestring) > 64)
        return sd_site_error(c, 400, "invalid_request", "fields 'user' and 'password' are required");
    const char *shown = sd_label_valid(u->valuestring, 64) ? u->valuestring : "(invalid)";
    char lk[65], ak[65];
    login_keys(c, u->valuestring, lk, ak);
    if (!login_allowed(lk, ak)) {
        dp_warn("site: login for user '%.64s' refused: too many failures", shown);
        return sd_site_error(c, 429, "too_many_requests", "too many failed logins; try again in a minute");
    }
    char tok[65];
    sd_session s;
    sd_status st = SD_STATUS_INIT;
    if (sd_session_login(ctx, u->valuestring, p->valuestring, ctx->cfg->session_ttl_ms, tok, &s, &st)) {
        if (st.outcome != SD_UNAUTHORIZED)
            return sd_site_error(c, sd_http_status(st.outcome), sd_http_error_code(st.outcome), st.err.msg);
        login_failed(lk, ak);
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
