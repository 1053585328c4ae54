/*
 * download.h - reading a good backup back out of storage through its driver (local directory or S3), for the
 * API's and the dashboard's downloads, and its manifest. The bytes are hashed on the way: if the last chunk
 * does not complete the catalog's sha256 it is withheld (the read fails), so a client never receives a
 * corrupt file as complete.
 *
 * The storage driver pushes bytes (dp_storage_read into a sink); an HTTP response pulls them. A download
 * therefore runs a pump thread with its own storage handle that reads the object into a pipe, from which
 * sd_download_read pulls; closing the download closes the pipe, which stops the pump.
 */
#ifndef SD_DOWNLOAD_H
#define SD_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "service/ctx.h"

typedef struct sd_download sd_download;

typedef struct sd_download_info {
    char file_name[256];
    uint64_t size;
    char sha256[65];
} sd_download_info;

/* A good backup of the app, open for reading. SD_NOT_FOUND for an unknown one, SD_CONFLICT for one that is
 * not good ("backup 'b_N' is STATUS, not downloadable"), SD_INTERNAL when its file is missing from storage. */
int sd_download_open(sd_ctx *ctx, int64_t app, int64_t backup, sd_download **out, sd_download_info *info,
                     sd_status *st);
/* Up to max next bytes: > 0, 0 at the end, -1 on an error or a checksum mismatch at the last chunk. */
ssize_t sd_download_read(sd_download *d, char *buf, size_t max);
/* Stops the pump and frees the download. NULL is a no-op. */
void sd_download_close(sd_download *d);

/* The manifest stored beside a good backup (<file>.json), checked against the catalog (sha256, size):
 * *json (malloc'd, *len bytes) and its key. SD_INTERNAL "the backup's manifest is missing or invalid in
 * storage" when it is absent, unreadable or does not match. */
int sd_backup_manifest(sd_ctx *ctx, int64_t app, int64_t backup, char **json, size_t *len, char key[300],
                       sd_status *st);

#endif
