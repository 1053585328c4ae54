/* tokens.c - `dumperd token create|list|revoke` (see cli.h): the token is printed once, alone on stdout (the
 * last word of the command's output, like `app create`'s key); what happened goes to stderr. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "http/rest.h"
#include "http/views.h"
#include "service/tokens.h"

/* A member of a token's JSON: its string, or `none`. */
static const char *member(const cJSON *o, const char *k, const char *none)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : none;
}

static void token_line(const cJSON *o)
{
    printf("%s\t%s\t%s\t%s\tcreated=%s\texpires=%s\tlast_used=%s\n", member(o, "name", "-"),
           member(o, "scope", "-"), member(o, "app", "*"), member(o, "state", "-"), member(o, "created_at", "-"),
           member(o, "expires_at", "never"), member(o, "last_used_at", "never"));
}

static int list(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    sd_token_list l;
    if (sd_tokens(ctx, &l, st))
        return st->err.code;
    cJSON *arr = sd_view_tokens(&l, sd_ctx_now(ctx));
    sd_list_free(&l);
    return sd_cli_print_list(a, arr, token_line);
}

int sd_cli_token(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    const char *sub = a->npos ? a->pos[0] : NULL;
    if (dp_streq(sub, "list") && a->npos == 1)
        return list(a, ctx, st);
    if (a->npos != 2 || !(dp_streq(sub, "create") || dp_streq(sub, "revoke")))
        return sd_cli_usage_error("expected 'token create NAME --scope SCOPE', 'token revoke NAME' or 'token list'%s",
                                  "");
    const char *name = a->pos[1];
    if (!strcmp(sub, "revoke")) {
        if (sd_token_revoke(ctx, name, 0, st))
            return st->err.code;
        fprintf(stderr, "token '%s' revoked; it is refused from now on\n", name);
        return 0;
    }
    if (!a->scope)
        return sd_cli_usage_error("token create needs --scope read, write or admin%s", "");
    sd_token_spec spec = {name, a->scope, a->app, a->expires_days};
    char token[68];
    int64_t id = 0;
    if (sd_token_create(ctx, &spec, token, &id, st))
        return st->err.code;
    char life[48] = "never expires";
    if (a->expires_days)
        snprintf(life, sizeof life, "expires in %lld day(s)", (long long)a->expires_days);
    fprintf(stderr, "token '%s' created (scope %s, %s%s%s, %s); it is shown only this once:\n", name, a->scope,
            a->app ? "app '" : "every app", a->app ? a->app : "", a->app ? "'" : "", life);
    printf("%s\n", token);
    dp_memzero(token, sizeof token);
    return 0;
}

int sd_cli_api_routes(void)
{
    int n;
    const sd_rest_route_info *r = sd_rest_routes(&n);
    for (int i = 0; i < n; i++)
        printf("%s %s %s %s\n", r[i].method, r[i].path, sd_scope_name(r[i].need.scope),
               r[i].need.app_key_ok ? "app-key" : "-");
    return 0;
}
