/*
 * retention.h - which good backups of a database to keep: keep-last N and grandfather-father-son. Pure;
 * the service marks the others deleted in the catalog and then removes them from storage.
 *
 * Over the database's good backups, newest first (ties in time: the higher id first, as the catalog sorts
 * them): the newest always; the newest N (keep_last); the newest backup of each of the last D distinct UTC
 * days that have backups (daily), W ISO weeks (weekly), M months (monthly). A policy of all zeros keeps
 * everything. Failed backups are never in the list, so a failing streak cannot delete a good backup.
 */
#ifndef SD_RETENTION_H
#define SD_RETENTION_H

#include <stdint.h>

typedef struct sd_retention {
    int64_t keep_last, daily, weekly, monthly;
} sd_retention;

/* 1 when the policy deletes anything at all (some count > 0). */
int sd_retention_active(const sd_retention *p);
/* keep[i] = 1 for each backup to keep, given created_ms[0..n) newest first. Always keeps the first. */
void sd_retention_keep(const sd_retention *p, const int64_t *created_ms, int n, unsigned char *keep);

#endif
