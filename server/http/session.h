/*
 * session.h - the site's logins, sessions and CSRF over HTTP: the session cookie (HttpOnly,
 * SameSite=Strict, Secure with TLS), login rate limits per client address and user name, and the client's
 * address. Users, passwords and the session rows are service/users.h.
 */
#ifndef SD_SESSION_H
#define SD_SESSION_H

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "service/users.h"

/* The client's address as text ("?" if unknown; an IPv4-mapped IPv6 address as plain IPv4); 1 if it is a
 * loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
int sd_http_client_addr(struct MHD_Connection *c, char addr[INET6_ADDRSTRLEN]);
/* 1 with *s filled when the request carries a live session cookie. */
int sd_http_session(struct MHD_Connection *c, sd_ctx *ctx, sd_session *s);
/* 1 when a POST carries the session's CSRF token (X-CSRF-Token). */
int sd_http_csrf_ok(struct MHD_Connection *c, const sd_session *s);
/* POST /ui/login {"user", "password"}: a session cookie, or 400/401/429/503. */
enum MHD_Result sd_http_login(struct MHD_Connection *c, sd_ctx *ctx, const cJSON *j);
/* POST /ui/logout: the session ends, the cookie is cleared. */
enum MHD_Result sd_http_logout(struct MHD_Connection *c, sd_ctx *ctx, const sd_session *s);

#endif
