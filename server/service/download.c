/* download.c - downloads and manifests through the storage driver (see download.h). */
#include "service/download.h"

#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "job/manifest.h"
#include "service/admin.h"

struct sd_download {
    int rfd, wfd; /* the pipe: the response reads rfd, the pump writes wfd */
    pthread_t pump;
    int pump_started;
    const char *storage; /* the configuration's location, for the pump's own handle */
    char key[256];
    uint64_t size, sent;
    EVP_MD_CTX *md;
    char sha[65];
};

/* A good backup's catalog entry. */
static int good_backup(sd_ctx *ctx, int64_t app, int64_t backup, sd_download_info *info, sd_status *st)
{
    sd_backup_list l;
    if (sd_backup_get(ctx, app, backup, &l, st))
        return -1;
    const sd_backup_row *b = &l.v[0];
    int rc = 0;
    if (strcmp(b->status, "good"))
        rc = sd_fail(st, SD_CONFLICT, "backup 'b_%" PRId64 "' is %s, not downloadable", backup, b->status);
    snprintf(info->file_name, sizeof info->file_name, "%s", b->file_name);
    snprintf(info->sha256, sizeof info->sha256, "%s", b->sha256 ? b->sha256 : "");
    info->size = (uint64_t)b->size;
    sd_list_free(&l);
    return rc;
}

static void *pump_main(void *arg)
{
    sd_download *d = arg;
    dp_err err = {0};
    dp_storage *stg = NULL;
    dp_sink *sink = NULL;
    if (!dp_storage_open(d->storage, NULL, 0, &stg, &err) && (sink = dp_sink_fd_new(d->wfd))) {
        if (dp_storage_read(stg, d->key, sink, &err))
            dp_warn("download of '%s': %s", d->key, err.msg);
    } else if (err.code) {
        dp_warn("download of '%s': %s", d->key, err.msg);
    }
    if (sink)
        dp_sink_free(sink);
    dp_storage_close(stg);
    close(d->wfd); /* EOF (early, on error: the response is then cut short) */
    d->wfd = -1;
    return NULL;
}

int sd_download_open(sd_ctx *ctx, int64_t app, int64_t backup, sd_download **out, sd_download_info *info,
                     sd_status *st)
{
    dp_err err = {0};
    dp_object_info oi = {0};
    int pfd[2] = {-1, -1};
    *out = NULL;
    if (good_backup(ctx, app, backup, info, st))
        return -1;
    dp_storage *stg = sd_ctx_storage(ctx, &err);
    sd_download *d = calloc(1, sizeof *d);
    int ok = stg && d && !dp_storage_stat(stg, info->file_name, &oi, &err) && pipe2(pfd, O_CLOEXEC) == 0 &&
             (d->md = EVP_MD_CTX_new()) && EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) == 1;
    free(oi.key);
    if (ok && oi.size != info->size)
        dp_warn("download: '%s' has %" PRIu64 " bytes, the catalog says %" PRIu64, info->file_name, oi.size,
                info->size);
    if (d) {
        d->rfd = pfd[0];
        d->wfd = pfd[1];
        d->storage = ctx->cfg->storage;
        d->size = info->size;
        snprintf(d->key, sizeof d->key, "%s", info->file_name);
        snprintf(d->sha, sizeof d->sha, "%s", info->sha256);
    }
    if (ok && pthread_create(&d->pump, NULL, pump_main, d) == 0)
        d->pump_started = 1;
    else if (ok)
        close(d->wfd); /* no pump: the response ends at once, cut short */
    if (!ok) {
        dp_warn("download: unable to open backup '%s'%s%s", info->file_name, err.code ? ": " : "",
                err.code ? err.msg : "");
        if (d) {
            if (pfd[1] >= 0)
                close(pfd[1]);
            d->wfd = -1;
        }
        sd_download_close(d);
        return sd_fail(st, SD_INTERNAL, "backup file is missing from storage");
    }
    *out = d;
    return 0;
}

ssize_t sd_download_read(sd_download *d, char *buf, size_t max)
{
    if (d->sent >= d->size)
        return 0;
    if (max > d->size - d->sent)
        max = (size_t)(d->size - d->sent);
    ssize_t n = read(d->rfd, buf, max);
    if (n <= 0)
        return -1;
    EVP_DigestUpdate(d->md, buf, (size_t)n);
    d->sent += (uint64_t)n;
    if (d->sent == d->size) {
        /* Last chunk: check before handing it over, so a corrupt file never arrives complete. */
        unsigned char h[32];
        unsigned hl = 0;
        char hex[65];
        EVP_DigestFinal_ex(d->md, h, &hl);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", h[i]);
        if (strcmp(hex, d->sha)) {
            dp_error("download: stored file does not match its sha256 (%s, catalog %s); connection aborted", hex,
                     d->sha);
            return -1;
        }
    }
    return n;
}

void sd_download_close(sd_download *d)
{
    if (!d)
        return;
    if (d->rfd >= 0)
        close(d->rfd); /* a pump blocked on a full pipe now gets EPIPE and stops */
    if (d->pump_started)
        pthread_join(d->pump, NULL);
    EVP_MD_CTX_free(d->md);
    free(d);
}

int sd_backup_manifest(sd_ctx *ctx, int64_t app, int64_t backup, char **json, size_t *len, char key[300],
                       sd_status *st)
{
    sd_download_info info;
    dp_err err = {0};
    dp_manifest m = {0};
    *json = NULL;
    if (good_backup(ctx, app, backup, &info, st))
        return -1;
    snprintf(key, 300, "%s%s", info.file_name, DP_MANIFEST_SUFFIX);
    dp_storage *stg = sd_ctx_storage(ctx, &err);
    int rc = stg ? dp_storage_get(stg, key, DP_MANIFEST_MAX, json, len, &err) : err.code;
    if (!rc)
        rc = dp_manifest_parse(*json, *len, info.file_name, &m, &err);
    if (!rc && (strcmp(m.sha256, info.sha256) || m.size != info.size))
        rc = dp_err_set(&err, DUMPER_ECORRUPT, "manifest of '%s' does not match the catalog", info.file_name);
    dp_manifest_free(&m);
    if (rc) {
        dp_warn("manifest of backup b_%" PRId64 ": %s", backup, err.msg[0] ? err.msg : "out of memory");
        free(*json);
        *json = NULL;
        return sd_fail(st, SD_INTERNAL, "the backup's manifest is missing or invalid in storage");
    }
    return 0;
}
