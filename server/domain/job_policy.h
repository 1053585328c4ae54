/*
 * job_policy.h - what an app asks of the jobs its agents run (dumperd app set, the dashboard's settings):
 * the age recipients its backups are encrypted to (public keys only: dumperd never holds an identity), and
 * how politely the job process runs (CPU nice, I/O priority) and how fast it may write (limit rate).
 * Pure: strings in, validated values or one lowercase reason out.
 *
 * "Unset" means the agent decides (its own option, else its polite default); see docs/dumperd.md
 * "Job policy" for which side wins.
 */
#ifndef SD_JOB_POLICY_H
#define SD_JOB_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/age.h"

/* Recipients per app, at most (an ops key, a recovery key, a few people's keys; the agent refuses more). */
#define SD_MAX_RECIPIENTS 16
/* Their stored form: separated by one space. */
#define SD_RECIPIENTS_TEXT_MAX (SD_MAX_RECIPIENTS * (DP_AGE_RECIPIENT_LEN + 1))

#define SD_NICE_UNSET (-1) /* nice: -1 unset, 0..19 (0: the host's own priority, no change) */
#define SD_NICE_MAX 19

typedef struct sd_job_policy {
    int nrecipients;
    char recipients[SD_MAX_RECIPIENTS][DP_AGE_RECIPIENT_LEN + 1];
    int nice;             /* SD_NICE_UNSET or 0..19 */
    char ionice[16];      /* "" unset, "none", "idle", "best-effort:N" (N 0..7) */
    int64_t limit_rate;   /* bytes per second; 0 unset */
} sd_job_policy;

/* Which fields a change sets (sd_job_policy_merge). */
enum { SD_JP_RECIPIENTS = 1, SD_JP_NICE = 2, SD_JP_IONICE = 4, SD_JP_RATE = 8 };

/* An empty policy: no recipients, everything unset. */
void sd_job_policy_init(sd_job_policy *p);

/* Copy the fields of `change` named in `fields` into p. */
void sd_job_policy_merge(sd_job_policy *p, const sd_job_policy *change, unsigned fields);

/* Append one recipient (an "age1..." X25519 public key; anything else, a duplicate or the 17th: a reason in
 * msg and -1). */
int sd_job_policy_add_recipient(sd_job_policy *p, const char *s, char *msg, size_t msglen);
/* The stored form (space-separated) and back. Reading re-validates every key (the store is not trusted
 * more than a request): -1 with a reason when a stored key is bad. */
void sd_job_policy_recipients_text(const sd_job_policy *p, char out[SD_RECIPIENTS_TEXT_MAX + 1]);
int sd_job_policy_recipients_parse(sd_job_policy *p, const char *text, char *msg, size_t msglen);

/* An I/O priority as the operator writes it ("idle", "best-effort", "best-effort:7", "be:7", "none") into
 * its canonical form ("idle", "best-effort:4", "none"); -1 with a reason otherwise. */
int sd_job_policy_ionice(const char *s, char out[16], char *msg, size_t msglen);

/* A rate as `dumper backup --limit-rate` takes it (dp_parse_rate: K/M/G/T suffixes, powers of 1024), at least
 * 1 KiB/s, at most 1 TiB/s, or "0"/"none" to unset: bytes per second; -1 with a reason otherwise. */
int sd_job_policy_rate(const char *s, int64_t *out, char *msg, size_t msglen);

/* Whether a backup the job prepares satisfies the app's policy: encrypted ("age", with claimed recipients,
 * each valid) when the app has recipients. NULL when it does, else the reason. encryption: NULL or "age". */
const char *sd_job_policy_check_prepare(const sd_job_policy *app, const char *encryption, int nclaimed);

#endif
