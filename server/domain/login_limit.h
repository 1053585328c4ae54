/*
 * login_limit.h - the dashboard's login limiter as a pure table: failed logins are counted per (client
 * address, user name) and per client address alone; within SD_LOGIN_WINDOW_MS, SD_LOGIN_MAX failures for one
 * pair, or SD_LOGIN_ADDR_MAX for one address whatever the user names, block that pair or address until the
 * window ends. Throwaway user names cannot push a blocked entry out of the table: a new entry takes an
 * expired slot, else the unblocked entry with the fewest failures, and a blocked one only when every slot is
 * blocked (SD_LOGIN_SLOTS blocked entries within one window: hundreds of addresses at SD_LOGIN_ADDR_MAX
 * each). Nothing resets an entry but its window's end (a successful login does not).
 *
 * Keys are opaque strings of at most 64 characters (http/session.c passes SHA-256 hex digests of the
 * address and of address + user name). Pure: the caller gives the time and holds any lock.
 */
#ifndef SD_LOGIN_LIMIT_H
#define SD_LOGIN_LIMIT_H

#include <stdint.h>

#define SD_LOGIN_SLOTS 1024
#define SD_LOGIN_MAX 10
#define SD_LOGIN_ADDR_MAX 30
#define SD_LOGIN_WINDOW_MS 60000

typedef struct sd_login_limit {
    struct {
        char key[65];
        int64_t since;
        int fails, max;
    } slot[SD_LOGIN_SLOTS];
} sd_login_limit;

/* 1 when neither the pair nor the address is blocked at now_ms. */
int sd_login_allowed(const sd_login_limit *l, const char *pair, const char *addr, int64_t now_ms);
/* Counts a failure for the pair and the address. 1 when a blocked entry had to be reused (worth a warning). */
int sd_login_failed(sd_login_limit *l, const char *pair, const char *addr, int64_t now_ms);

#endif
