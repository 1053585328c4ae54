/* tokens.c - scopes, access and token lifetimes (see tokens.h). */
#include "domain/tokens.h"

#include <string.h>

static const char *const names[] = {"", "app-key", "read", "write", "admin"};

sd_scope sd_scope_parse(const char *s)
{
    for (int i = SD_SCOPE_READ; s && i <= SD_SCOPE_ADMIN; i++)
        if (!strcmp(s, names[i]))
            return (sd_scope)i;
    return SD_SCOPE_NONE;
}

const char *sd_scope_name(sd_scope s) { return s >= SD_SCOPE_NONE && s <= SD_SCOPE_ADMIN ? names[s] : ""; }

sd_access sd_access_check(const sd_principal *p, const sd_route_need *need, int64_t app)
{
    if (p->scope == SD_SCOPE_NONE)
        return SD_ACCESS_FORBIDDEN;
    if (p->app && app && app != p->app)
        return SD_ACCESS_NOT_FOUND;
    if (p->scope == SD_SCOPE_APP_KEY)
        return need->app_key_ok && (app || need->global) ? SD_ACCESS_OK : SD_ACCESS_FORBIDDEN;
    if (p->scope < need->scope)
        return SD_ACCESS_FORBIDDEN;
    /* An app-scoped token lists its own app, but creates nothing outside it. */
    if (p->app && need->global && need->scope > SD_SCOPE_READ)
        return SD_ACCESS_FORBIDDEN;
    return SD_ACCESS_OK;
}

int sd_token_well_formed(const char *t)
{
    if (!t || strncmp(t, "dt_", 3) || strlen(t) != 67)
        return 0;
    for (int i = 3; i < 67; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    return 1;
}

int sd_token_live(int64_t expires_at, int64_t revoked_at, int64_t now)
{
    return !revoked_at && (!expires_at || now < expires_at);
}

int64_t sd_token_expiry(int64_t now, int64_t days)
{
    if (days < 0 || days > SD_TOKEN_MAX_DAYS)
        return -1;
    return days ? now + days * 86400000 : 0;
}
