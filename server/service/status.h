/*
 * status.h - the one error convention of dumperd's services: a typed outcome plus a dp_err (a DUMPER_E*
 * code for the CLI's exit status and one lowercase line naming the object). The HTTP layer maps outcomes
 * to status codes (http/respond.c), the CLI to exit codes (the dp_err code); nothing below the services
 * knows either: the store returns 0, SD_RETRY or a dp_err, and sd_txn (ctx.h) turns those into outcomes.
 */
#ifndef SD_STATUS_H
#define SD_STATUS_H

#include "core/err.h"

typedef enum sd_outcome {
    SD_OK = 0,
    SD_INVALID,        /* the request is malformed or breaks a rule (400) */
    SD_UNAUTHORIZED,   /* no or a wrong credential (401) */
    SD_FORBIDDEN,      /* a credential without the right (403) */
    SD_NOT_FOUND,      /* no such object, or not the caller's (404) */
    SD_CONFLICT,       /* the object's state does not allow it (409) */
    SD_TOO_LARGE,      /* over a size limit (413) */
    SD_VERIFY_FAILED,  /* uploaded bytes do not match what the agent says (422) */
    SD_INTERNAL,       /* a bug or a store error (500) */
    SD_STORAGE_FAILED, /* the storage (S3) failed (502) */
    SD_UNAVAILABLE,    /* the store is busy or unreachable: try again (503) */
} sd_outcome;

typedef struct sd_status {
    sd_outcome outcome;
    dp_err err;
} sd_status;

/* Record a failure unless one is recorded (the first wins); err.code gets the outcome's usual DUMPER_E*
 * code (sd_outcome_code). Returns -1. */
int sd_fail(sd_status *st, sd_outcome o, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with an explicit DUMPER_E* code (a storage error's own, for the CLI's exit status). */
int sd_fail_code(sd_status *st, sd_outcome o, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* DUMPER_EUSAGE for SD_INVALID, DUMPER_ENOENT for SD_NOT_FOUND, DUMPER_EEXIST for SD_CONFLICT, ... */
int sd_outcome_code(sd_outcome o);
/* A fresh status. */
#define SD_STATUS_INIT {SD_OK, {0, ""}}

#endif
