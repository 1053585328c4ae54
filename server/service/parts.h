/*
 * parts.h - the staging area of uploads to a local storage: an agent PUTs numbered parts, each streamed to
 * DATA/parts/b_<id>/.<n>.tmp-*, fsynced, checked against its optional sha256 and renamed to <n>, so that
 * uploading a part again replaces it. Commit assembles parts 1..n into the storage (service/commit.c); fail,
 * a lost job and app delete remove them.
 */
#ifndef SD_PARTS_H
#define SD_PARTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "service/ctx.h"

typedef struct sd_part_upload sd_part_upload;

/* A part upload of `length` bytes may start: the storage is local, the part fits max_part_size and, with the
 * backup's other parts, max_filesize, and the backup is the app's and uploading (its job lease is renewed).
 * Opens the temporary file. */
int sd_part_begin(sd_ctx *ctx, int64_t app, int64_t backup, int part, uint64_t length, sd_part_upload **out,
                  sd_status *st);
/* Body bytes, in order (from the thread serving the request). A write error or bytes past `length` are
 * remembered for sd_part_finish. */
void sd_part_write(sd_part_upload *u, const void *p, size_t n);
/* The body is complete: its length, fsync, the sha256 (against want_sha when not NULL), then the part is in
 * place. *size and sha (hex) describe it. */
int sd_part_finish(sd_part_upload *u, const char *want_sha, uint64_t *size, char sha[65], sd_status *st);
/* Frees the upload; an unfinished one leaves nothing. NULL is a no-op. */
void sd_part_free(sd_part_upload *u);

/* Part n of a backup, for reading (assembly); NULL when absent. */
FILE *sd_part_open(const sd_ctx *ctx, int64_t backup, int n);
/* 1 when part n is there. */
int sd_part_exists(const sd_ctx *ctx, int64_t backup, int n);
/* Remove a backup's parts (commit, fail, lost, app delete). */
void sd_parts_remove(const sd_ctx *ctx, int64_t backup);

#endif
