/* notify.c - `dumperd notify add|list|remove|test` (see cli.h): notification channels over service/notify.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "domain/alert_rules.h"
#include "http/notify.h"
#include "service/notify.h"

int sd_cli_notify(const sd_cli *a, sd_ctx *ctx, sd_status *st)
{
    const char *sub = a->npos ? a->pos[0] : NULL, *name = a->npos == 2 ? a->pos[1] : NULL;
    if (dp_streq(sub, "list") && a->npos == 1) {
        sd_channel_list l;
        if (sd_channels(ctx, &l, st))
            return st->err.code;
        cJSON *arr = sd_view_channels(&l);
        int rc = 0;
        if (!arr) {
            rc = DUMPER_ENOMEM;
        } else if (a->json) {
            char *s = cJSON_Print(arr);
            if (s)
                printf("%s\n", s);
            free(s);
        } else {
            for (int i = 0; i < l.n; i++) {
                char url[256], on[64];
                sd_channel_url_display(l.v[i].url, url);
                sd_event_mask_format((int)l.v[i].events, on);
                printf("%s\t%s\t%s\t%s\tapp=%s\ton=%s\tsent=%lld\tpending=%lld\tdead=%lld\n", l.v[i].name, l.v[i].kind,
                       url, l.v[i].to_addr ? l.v[i].to_addr : "-", l.v[i].app ? l.v[i].app : "*", on,
                       (long long)l.v[i].sent, (long long)l.v[i].pending, (long long)l.v[i].dead);
            }
        }
        cJSON_Delete(arr);
        sd_list_free(&l);
        return rc;
    }
    if (!name || !(dp_streq(sub, "add") || dp_streq(sub, "remove") || dp_streq(sub, "test")))
        return sd_cli_usage_error("expected 'notify add NAME --kind K --url URL', 'notify list', 'notify remove NAME'"
                                  " or 'notify test NAME'%s", "");
    if (!strcmp(sub, "add")) {
        if (!a->kind || !a->url)
            return sd_cli_usage_error("notify add needs --kind and --url%s", "");
        sd_channel_spec s = {.name = name, .kind = a->kind, .url = a->url, .to = a->to, .app = a->app, .on = a->on};
        char secret[68];
        if (sd_channel_add(ctx, &s, secret, st))
            return st->err.code;
        if (!strcmp(a->kind, "webhook")) {
            fprintf(stderr, "notification channel '%s' added; requests carry X-Dumper-Signature, an HMAC-SHA256 with"
                            " this secret, shown only this once (docs/notifications.md):\n", name);
            printf("%s\n", secret);
        } else {
            fprintf(stderr, "notification channel '%s' added; try it: dumperd notify test %s\n", name, name);
        }
        dp_memzero(secret, sizeof secret);
        return 0;
    }
    if (!strcmp(sub, "remove")) {
        if (sd_channel_remove(ctx, name, st))
            return st->err.code;
        fprintf(stderr, "notification channel '%s' removed with its deliveries\n", name);
        return 0;
    }
    if (sd_channel_test(ctx, name, st))
        return st->err.code;
    fprintf(stderr, "test notification delivered to '%s'\n", name);
    return 0;
}
