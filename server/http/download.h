/*
 * download.h - a good backup's file and its manifest as HTTP attachments (service/download.h streams them
 * out of the storage driver); used by the agent API and the dashboard.
 */
#ifndef SD_HTTP_DOWNLOAD_H
#define SD_HTTP_DOWNLOAD_H

#include <microhttpd.h>
#include <stdint.h>

#include "service/ctx.h"

/* The file, named as in storage, with X-Dumper-Sha256; cut short rather than completed when its bytes do not
 * match the catalog's sha256. */
enum MHD_Result sd_http_download(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup);
/* The manifest stored beside it (<file>.json), when valid and naming the catalog's sha256: with it
 * `dumper restore FILE URL` needs no --sha256. */
enum MHD_Result sd_http_manifest(struct MHD_Connection *c, sd_ctx *ctx, int64_t app, int64_t backup);

#endif
