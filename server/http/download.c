/* download.c - downloads and manifests as attachments (see download.h). */
#include "http/download.h"

#include <stdlib.h>

#include "http/respond.h"
#include "service/download.h"

static ssize_t dl_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    ssize_t n = sd_download_read(cls, buf, max);
    return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void dl_free(void *cls) { sd_download_close(cls); }

enum MHD_Result sd_http_download(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup)
{
    sd_status st = SD_STATUS_INIT;
    sd_download *d = NULL;
    sd_download_info info;
    if (sd_download_open(ctx, app, backup, &d, &info, &st))
        return sd_reply_status(c, &st);
    struct MHD_Response *resp = MHD_create_response_from_callback(info.size, 256 * 1024, dl_read, d, dl_free);
    if (!resp) {
        sd_download_close(d);
        return MHD_NO;
    }
    return sd_reply_attachment(c, resp, "application/octet-stream", info.file_name, info.sha256);
}

enum MHD_Result sd_http_manifest(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup)
{
    sd_status st = SD_STATUS_INIT;
    char *json = NULL, key[300];
    size_t len = 0;
    if (sd_backup_manifest(ctx, app, backup, &json, &len, key, &st))
        return sd_reply_status(c, &st);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    return sd_reply_attachment(c, resp, "application/json", key, NULL);
}
