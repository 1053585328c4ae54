/*
 * users.h - dashboard users and their sessions. Passwords are PBKDF2-HMAC-SHA256 (600,000 iterations,
 * 16-byte random salt), compared in constant time; an unknown user costs the same work as a wrong password.
 * A session is a random token the browser keeps in a cookie; the store keeps its SHA-256, the user, a CSRF
 * token and an absolute expiry, so several dumperd instances share sessions. Session times are wall-clock
 * (also under the test clock).
 */
#ifndef SD_USERS_H
#define SD_USERS_H

#include <stdint.h>

#include "service/ctx.h"
#include "store/users.h"

typedef sd_session_row sd_session;

/* Create a user (SD_CONFLICT if it exists) or set its password (SD_NOT_FOUND if it does not; its sessions
 * end). SD_INVALID: a name outside 1-64 characters of [A-Za-z0-9_.-], a password under 8 characters. The
 * password is never logged. */
int sd_user_set(sd_ctx *ctx, const char *name, const char *password, int create, sd_status *st);
int sd_user_delete(sd_ctx *ctx, const char *name, sd_status *st);
int sd_user_names(sd_ctx *ctx, sd_name_list *out, sd_status *st);

/* Log in: a new session lasting ttl_ms (the token is for the cookie, shown once). SD_UNAUTHORIZED "wrong
 * user name or password"; SD_UNAVAILABLE when the store fails. Expired sessions are swept at each login. */
int sd_session_login(sd_ctx *ctx, const char *user, const char *password, int64_t ttl_ms, char token[65],
                     sd_session *s, sd_status *st);
/* 1 with *s filled when the token (64 hex) names a live session; an expired one is deleted. */
int sd_session_find(sd_ctx *ctx, const char *token, sd_session *s);
void sd_session_logout(sd_ctx *ctx, const sd_session *s);

#endif
