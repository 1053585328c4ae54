/*
 * notify.h - notification channels in the HTTP layer: their JSON view (shared with `dumperd notify list
 * --json`) and the dashboard's routes under /ui/notify (behind the session and CSRF checks of http/site.c):
 *   GET  /ui/notify              {"channels": [...]}
 *   POST /ui/notify              {"name", "kind", "url", "to"?, "app"?, "on"?} -> 200 {"name", "secret"?}
 *   POST /ui/notify/NAME/test    one test delivery now -> 200, or 502 with the reason
 *   POST /ui/notify/NAME/delete  -> 200
 * A channel's URL is shown as scheme://host/... only (a Slack or ntfy URL is itself a secret); the webhook
 * secret is answered once, on creation.
 */
#ifndef SD_HTTP_NOTIFY_H
#define SD_HTTP_NOTIFY_H

#include <cjson/cJSON.h>

#include "service/ctx.h"
#include "store/channels.h"

struct MHD_Connection;

cJSON *sd_view_channels(const sd_channel_list *l);
/* p: the path after "/ui/notify" ("" or "/NAME/test" ...); j: the POST body or NULL. */
int sd_site_notify(struct MHD_Connection *c, sd_ctx *ctx, const char *p, int get, const cJSON *j);

#endif
