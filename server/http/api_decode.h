/*
 * api_decode.h - the agent API's request bodies (docs/protocol.md) into the services' structs: JSON types,
 * lengths, ranges and the protocol's naming rules (domain/names.h), checked in a fixed order so that a bad
 * request gets the first error a client would fix. Pure apart from the JSON tree: bodies in, structs or
 * SD_INVALID (400) / SD_NOT_FOUND (404, unparsable ids) / SD_TOO_LARGE (413) out. Strings in the structs are
 * borrowed from the JSON tree.
 */
#ifndef SD_API_DECODE_H
#define SD_API_DECODE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "domain/retention.h"
#include "service/agents.h"
#include "service/commit.h"
#include "service/status.h"
#include "service/uploads.h"

#define SD_MAX_DATABASES 64

typedef struct sd_register_body {
    sd_register_req req;
    sd_dbinfo dbs[SD_MAX_DATABASES];
    char derived[SD_MAX_DATABASES][65]; /* keys derived from type and name (sd_db_key_derive) */
} sd_register_body;

typedef struct sd_commit_body {
    sd_commit_req req;
    const char **etags; /* malloc'd (S3 parts); sd_commit_body_free */
    char *contents;     /* malloc'd: the "contents" object printed (req.contents); sd_commit_body_free */
} sd_commit_body;

int sd_decode_register(const cJSON *j, sd_register_body *out, sd_status *st);
/* The agent id of a poll: SD_INVALID without one, SD_NOT_FOUND "unknown agent (register again)" when it is
 * not an "a_<id>". */
int sd_decode_poll(const cJSON *j, int64_t *agent, sd_status *st);
int sd_decode_prepare(const cJSON *j, sd_prepare_req *out, sd_status *st);
/* max_filesize: a larger size is SD_TOO_LARGE. */
int sd_decode_commit(const cJSON *j, int64_t max_filesize, sd_commit_body *out, sd_status *st);
void sd_commit_body_free(sd_commit_body *b);
/* message: the agent's message cut at 1000 bytes into msg (NULL when none). */
int sd_decode_fail(const cJSON *j, const char **code, const char **message, char msg[1001], sd_status *st);
/* A retention policy (the dashboard's and the REST API's body): keep_last, daily, weekly, monthly, each
 * absent/null (0) or an integer 0..100000. 0 or -1. */
int sd_decode_retention(const cJSON *j, sd_retention *out);

/* A drill job's report: {"agent_id": "a_N", "result": {the `dumper drill --json` object}}. *result points into j
 * (checked by the service, sd_drill_record). SD_INVALID without them; SD_NOT_FOUND for an unparsable agent id. */
int sd_decode_drill_report(const cJSON *j, int64_t *agent, const cJSON **result, sd_status *st);

#endif
