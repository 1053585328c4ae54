/* job_policy.c - an app's job policy: recipients, priority, rate (see job_policy.h). */
#include "domain/job_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"
#include "core/err.h"
#include "io/pipeline.h"

void sd_job_policy_init(sd_job_policy *p)
{
    memset(p, 0, sizeof *p);
    p->nice = SD_NICE_UNSET;
}

void sd_job_policy_merge(sd_job_policy *p, const sd_job_policy *c, unsigned fields)
{
    if (fields & SD_JP_RECIPIENTS) {
        p->nrecipients = c->nrecipients;
        memcpy(p->recipients, c->recipients, sizeof p->recipients);
    }
    if (fields & SD_JP_NICE)
        p->nice = c->nice;
    if (fields & SD_JP_IONICE)
        memcpy(p->ionice, c->ionice, sizeof p->ionice);
    if (fields & SD_JP_RATE)
        p->limit_rate = c->limit_rate;
}

int sd_job_policy_add_recipient(sd_job_policy *p, const char *s, char *msg, size_t msglen)
{
    dp_age_recipient r;
    dp_err err = {0};
    if (dp_age_recipient_parse(s, "recipient", &r, &err)) {
        snprintf(msg, msglen, "%s", err.msg);
        return -1;
    }
    for (int i = 0; i < p->nrecipients; i++)
        if (!strcmp(p->recipients[i], r.str)) {
            snprintf(msg, msglen, "recipient '%s' is given twice", r.str);
            return -1;
        }
    if (p->nrecipients >= SD_MAX_RECIPIENTS) {
        snprintf(msg, msglen, "too many recipients (at most %d)", SD_MAX_RECIPIENTS);
        return -1;
    }
    memcpy(p->recipients[p->nrecipients++], r.str, sizeof r.str);
    return 0;
}

void sd_job_policy_recipients_text(const sd_job_policy *p, char out[SD_RECIPIENTS_TEXT_MAX + 1])
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < p->nrecipients; i++) {
        size_t l = strlen(p->recipients[i]);
        if (n + l + 2 > SD_RECIPIENTS_TEXT_MAX + 1)
            break;
        if (n)
            out[n++] = ' ';
        memcpy(out + n, p->recipients[i], l + 1);
        n += l;
    }
}

int sd_job_policy_recipients_parse(sd_job_policy *p, const char *text, char *msg, size_t msglen)
{
    p->nrecipients = 0;
    if (!text)
        return 0;
    if (strlen(text) > SD_RECIPIENTS_TEXT_MAX) {
        snprintf(msg, msglen, "stored recipients are too long");
        return -1;
    }
    char buf[SD_RECIPIENTS_TEXT_MAX + 1];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        if (sd_job_policy_add_recipient(p, t, msg, msglen)) {
            p->nrecipients = 0;
            return -1;
        }
    return 0;
}

int sd_job_policy_ionice(const char *s, char out[16], char *msg, size_t msglen)
{
    int cls, lvl; /* the agent's own parser: dumperd accepts exactly what agents accept */
    if (dp_proto_parse_ionice(s, &cls, &lvl)) {
        snprintf(msg, msglen, "invalid I/O priority '%.32s' (idle, best-effort[:0-7] or none)", s);
        return -1;
    }
    if (cls == DP_IOPRIO_BE)
        snprintf(out, 16, "best-effort:%d", lvl);
    else
        snprintf(out, 16, "%s", cls == DP_IOPRIO_IDLE ? "idle" : "none");
    return 0;
}

int sd_job_policy_rate(const char *s, int64_t *out, char *msg, size_t msglen)
{
    if (!strcmp(s, "none") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    uint64_t v = 0;
    dp_err err = {0};
    if (dp_parse_rate(s, "rate", &v, &err)) { /* the CLI's parser: curl's syntax, up to 1 TiB/s */
        snprintf(msg, msglen, "%s", err.msg);
        return -1;
    }
    if (v < 1024) { /* a job crawling at a few bytes per second would only hold its lease */
        snprintf(msg, msglen, "invalid rate '%.32s': at least 1K (1024 bytes per second), or none", s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

const char *sd_job_policy_check_prepare(const sd_job_policy *app, const char *encryption, int nclaimed)
{
    if (encryption && strcmp(encryption, "age"))
        return "unknown encryption (only age is known)";
    if (encryption && nclaimed < 1)
        return "an encrypted backup names its recipients";
    if (!encryption && nclaimed > 0)
        return "recipients without encryption";
    if (app->nrecipients > 0 && !encryption)
        return "the app encrypts its backups (dumperd app set --recipient) but this agent sent a plaintext backup:"
               " upgrade the agent";
    return NULL;
}
