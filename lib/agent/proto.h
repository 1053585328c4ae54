/*
 * proto.h - the agent's side of the dumperd protocol (docs/protocol.md, API version 1), kept pure:
 * JSON in, validated struct or error out; struct in, JSON out. No I/O here, so every parser can be
 * unit-tested and fuzzed, and a change to the protocol is a change to this file pair only.
 *
 * Also the job spec: the JSON the agent writes to a job process's stdin (it carries the database
 * credentials and the app key, so it never goes to argv, a file or a log).
 */
#ifndef DP_AGENT_PROTO_H
#define DP_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define DP_API_PREFIX "/api/v1"
#define DP_API_VERSION "1"
#define DP_API_DEFAULT_BASE "http://127.0.0.1:8477"
#define DP_API_MAX_RESPONSE (64 * 1024) /* larger answers are refused as garbage */
#define DP_API_ID_MAX 64                /* ids are 1..63 chars of [A-Za-z0-9_.-] */
#define DP_AGENT_MAX_DBS 64
#define DP_JOB_SPEC_MAX (64 * 1024)

/* Poll intervals the agent accepts from the server, whatever it says (ms). */
#define DP_INTERVAL_MIN_MS 1000
#define DP_INTERVAL_MAX_MS (24 * 3600 * 1000LL)

enum { DP_ROLE_PRIMARY = 1, DP_ROLE_SECONDARY = 2 };

/* One configured database, as the agent keeps it. */
typedef struct dp_agent_db {
    char *url; /* secret: holds the password, if any */
    char *key, *format, *custom_options; /* NULL when not given */
    char id[DP_API_ID_MAX];              /* from registration; "" before */
} dp_agent_db;

/* The longest process_start the agent sends, with its NUL (dumperd accepts 64 characters). */
#define DP_PROCESS_START_MAX 65

/* What the agent sends on register. */
typedef struct dp_register_req {
    const char *hostname;
    long pid;
    const char *agent_version, *app_name, *environment, *framework, *dispatcher;
    const char *process_start; /* "<boot id>:<start ticks>" (dp_process_start), or NULL: not sent */
    const dp_agent_db *dbs;
    size_t ndbs;
    int drill; /* nonzero: "capabilities": ["drill"] (dumperd hands drill jobs only to such agents) */
} dp_register_req;

typedef struct dp_limits {
    uint64_t max_filesize, max_part_size, max_parts;
} dp_limits;

typedef struct dp_register_resp {
    char agent_id[DP_API_ID_MAX];
    int role;
    int64_t interval_ms; /* clamped */
    dp_limits limits;
    char (*db_ids)[DP_API_ID_MAX]; /* ndbs entries, request order */
    size_t ndbs;
} dp_register_resp;

/* The app's job policy (dumperd app set) as a job offer carries it; docs/protocol.md "Job policy". */
#define DP_JOB_MAX_RECIPIENTS 16 /* age recipients per job; more is a bad answer */
#define DP_JOB_RECIPIENT_LEN 62  /* "age1" + 58 Bech32 characters (the X25519 key and checksum) */
typedef char dp_job_recipient[DP_JOB_RECIPIENT_LEN + 1];
#define DP_PRIO_UNSET (-1) /* nice, ioclass: the agent decides */
/* I/O scheduling classes, the kernel's numbers (ioprio_set(2)); realtime is never asked for. */
enum { DP_IOPRIO_NONE = 0, DP_IOPRIO_BE = 2, DP_IOPRIO_IDLE = 3 };
#define DP_LIMIT_RATE_MIN 1024ULL /* an app's limit rate: 1 KiB/s .. DP_JOB_LIMIT_RATE_MAX (below) */

typedef struct dp_job_policy {
    dp_job_recipient recipients[DP_JOB_MAX_RECIPIENTS];
    int nrecipients;     /* 0: the backup is not encrypted */
    int nice;            /* DP_PRIO_UNSET or 0..19 */
    int ioclass, iolevel; /* DP_PRIO_UNSET, or DP_IOPRIO_* with level 0..7 (best-effort) */
    uint64_t limit_rate; /* bytes per second, 0: unset */
} dp_job_policy;

/* A job process's priority: nice 0 and class DP_IOPRIO_NONE leave the host's own. */
typedef struct dp_job_prio {
    int nice;             /* 0..19 */
    int ioclass, iolevel; /* DP_IOPRIO_* */
} dp_job_prio;
#define DP_JOB_DEFAULT_NICE 10
#define DP_JOB_DEFAULT_IOCLASS DP_IOPRIO_BE /* level 7: below the app's default 4, never starved (agent.md) */
#define DP_JOB_DEFAULT_IOLEVEL 7

/* The priority a job runs at: the agent's own setting (agent_nice, agent_ioclass; DP_PRIO_UNSET when not
 * set) wins over the app's (app: from the poll answer, may be NULL), which wins over the defaults. Pure. */
void dp_job_priority(int agent_nice, int agent_ioclass, int agent_iolevel, const dp_job_policy *app, dp_job_prio *out);

/* A job's kind: "kind" absent or "backup" (every dumperd before drills sends none), or "drill": restore
 * the backup it names into a throwaway target and report the result (docs/protocol.md "Drill jobs"). Any
 * other kind makes the answer invalid: the agent runs nothing it does not know. */
enum { DP_JOB_BACKUP = 0, DP_JOB_DRILL = 1 };
#define DP_JOB_FILE_NAME_MAX 255

typedef struct dp_job_offer {
    char job_id[DP_API_ID_MAX];
    char database_id[DP_API_ID_MAX];
    char database_key[DP_API_ID_MAX]; /* "" when absent */
    char reason[16];
    char type[16]; /* the database's type ("postgresql", ...); "" when absent or unknown */
    dp_job_policy policy;
    int kind;      /* DP_JOB_* */
    /* a drill's backup: its id, file name (a plain name: no '/', not "." or "..") and sha256 (64 hex) */
    char backup_id[DP_API_ID_MAX];
    char file_name[DP_JOB_FILE_NAME_MAX + 1];
    char sha256[65];
    int64_t lease_ms; /* the job's lease ("lease", seconds); 0: absent */
} dp_job_offer;

typedef struct dp_poll_resp {
    int role;
    int64_t interval_ms; /* clamped */
    int has_job;
    dp_job_offer job;
} dp_poll_resp;

/* Register body; caller frees. Never contains a password. NULL on OOM or an unparsable URL. */
char *dp_proto_register_json(const dp_register_req *r);
/* Validate a register answer (200). expected_dbs: number of databases sent (ids must match). */
int dp_proto_parse_register(const char *body, size_t len, size_t expected_dbs, dp_register_resp *out, dp_err *err);
void dp_register_resp_free(dp_register_resp *r);
int dp_proto_parse_poll(const char *body, size_t len, dp_poll_resp *out, dp_err *err);
/* The "message" (or "error") of an error body, sanitised to printable ASCII and at most 200 chars,
 * into out; "" when the body is not a protocol error object. */
void dp_proto_error_message(const char *body, size_t len, char *out, size_t outlen);
/* 1 if s looks like an age X25519 recipient: "age1" and 58 lower-case Bech32 characters (the job process
 * checks the checksum and the key itself before encrypting). */
int dp_proto_valid_recipient(const char *s);
/* An I/O priority: "none", "idle", "best-effort" or "best-effort:N" (also "be", "be:N"): 0 with the class and
 * level (best-effort alone: level 4, the kernel's default), -1 otherwise. */
int dp_proto_parse_ionice(const char *s, int *ioclass, int *iolevel);
/* 1 if s is a file name a drill job may carry: 1..DP_JOB_FILE_NAME_MAX printable ASCII characters of
 * [A-Za-z0-9_.-], not starting with '.' (so never "." or "..", no '/'). */
int dp_proto_valid_file_name(const char *s);
/* 1 if s is 64 lower-case hex digits. */
int dp_proto_valid_sha256(const char *s);
/* 1 if s is a valid id (1..63 chars of [A-Za-z0-9_.-]). */
int dp_proto_valid_id(const char *s);
/* Convert a server interval in seconds to a clamped ms value; -1 if not a finite number >= 0. */
int64_t dp_proto_interval_ms(double secs);
/* The protocol's fail code for a dumper error code ("source_failed", "too_large", ...). */
const char *dp_proto_fail_code(int dumper_code);


/* The largest limit_rate a job spec may carry: the pipeline's DP_RATE_MAX (io/pipeline.h, checked
 * at compile time in job.c), repeated here so the agent's parser needs no engine header. */
#define DP_JOB_LIMIT_RATE_MAX (1ull << 40)

/* The job spec handed to `dumper job` on stdin. */
typedef struct dp_job_spec {
    char *api_base, *app_key, *ca_file, *proxy;
    int insecure, debug;
    char *agent_id, *job_id, *database_id, *database_key, *reason;
    char *db_url, *format, *custom_options;
    uint64_t max_filesize, max_part_size, max_parts;
    dp_job_recipient recipients[DP_JOB_MAX_RECIPIENTS]; /* encrypt to these (age); 0: plaintext */
    int nrecipients;
    uint64_t limit_rate; /* bytes per second written to storage, 1..DP_JOB_LIMIT_RATE_MAX; 0 = no limit */
    /* drill jobs ("kind": "drill"; db_url is then not sent: a drill never touches the source) */
    int kind;                              /* DP_JOB_* */
    char *backup_id, *file_name, *sha256;  /* the backup to drill (required for a drill) */
    char *source_type;                     /* the database's type, from the offer (may be NULL) */
    char *scratch_url, *scratch_password;  /* secrets: the agent's drill scratch server (may be NULL) */
    char **identities;                     /* paths of the agent's drill identity files (the keys stay in them) */
    size_t nidentities;                    /* at most DP_JOB_MAX_IDENTITIES */
    int64_t lease_ms;                      /* the job's lease (the offer's "lease"); 0: unknown */
} dp_job_spec;

#define DP_JOB_MAX_IDENTITIES 8 /* DUMPER_DRILL_IDENTITIES_MAX */

/* Serialize; caller frees with dp_free_secret (it holds secrets). */
char *dp_job_spec_to_json(const dp_job_spec *s);
/* Parse and validate strictly (DUMPER_EUSAGE with the offending field on error). */
int dp_job_spec_parse(const char *json, size_t len, dp_job_spec *out, dp_err *err);
/* Frees and wipes the secrets. */
void dp_job_spec_free(dp_job_spec *s);

#endif
