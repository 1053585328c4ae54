/*
 * fuzz_agent_proto.c - libFuzzer target for what the agent reads from the control plane and what a
 * job process reads on stdin (lib/agent/proto.c): the register answer (with 0..3 databases
 * expected), the poll answer, the error message of a refused request, and the job spec.
 *
 * Every input goes through every parser. Beyond "no crash, leak or UB":
 * - register: on success the agent id and every database id are valid ids (dp_proto_valid_id), the
 *   role is primary or secondary, the interval lies in [DP_INTERVAL_MIN_MS, DP_INTERVAL_MAX_MS] and
 *   there is one id per database sent; on failure DUMPER_EPROTO/ENOMEM with a message, nothing
 *   left allocated;
 * - poll: the same role and interval rules; a job has valid ids, a reason that is "" or a valid id, and a
 *   policy within bounds (at most DP_JOB_MAX_RECIPIENTS age1 recipients, nice, I/O class, rate);
 * - error message: printable ASCII only, at most 200 characters, always terminated;
 * - job spec: on success the ids are valid and api_base is http(s); serializing and parsing again
 *   gives the same spec (round trip, recipients, limit_rate, drill identities and lease included); on failure DUMPER_EUSAGE/ENOMEM and the struct zeroed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void check_interval(int64_t ms)
{
    if (ms < DP_INTERVAL_MIN_MS || ms > DP_INTERVAL_MAX_MS)
        abort();
}

static void check_role(int role)
{
    if (role != DP_ROLE_PRIMARY && role != DP_ROLE_SECONDARY)
        abort();
}

static void fuzz_register(const char *body, size_t len, size_t expected)
{
    dp_register_resp r;
    dp_err err = {0};
    int rc = dp_proto_parse_register(body, len, expected, &r, &err);
    if (rc) {
        if ((rc != DUMPER_EPROTO && rc != DUMPER_ENOMEM) || !err.msg[0] || r.db_ids || r.ndbs)
            abort();
        return;
    }
    if (!dp_proto_valid_id(r.agent_id) || r.ndbs != expected || (expected && !r.db_ids))
        abort();
    check_role(r.role);
    check_interval(r.interval_ms);
    for (size_t i = 0; i < r.ndbs; i++)
        if (!dp_proto_valid_id(r.db_ids[i]))
            abort();
    dp_register_resp_free(&r);
}

static void fuzz_poll(const char *body, size_t len)
{
    dp_poll_resp p;
    dp_err err = {0};
    int rc = dp_proto_parse_poll(body, len, &p, &err);
    if (rc) {
        if ((rc != DUMPER_EPROTO && rc != DUMPER_ENOMEM) || !err.msg[0])
            abort();
        return;
    }
    check_role(p.role);
    check_interval(p.interval_ms);
    if (p.has_job) {
        if (!dp_proto_valid_id(p.job.job_id) || !dp_proto_valid_id(p.job.database_id))
            abort();
        if (p.job.database_key[0] && !dp_proto_valid_id(p.job.database_key))
            abort();
        if (p.job.reason[0] && !dp_proto_valid_id(p.job.reason))
            abort();
        /* a drill names a plain file and a sha256; any other kind than backup and drill was refused */
        if (p.job.kind != DP_JOB_BACKUP && p.job.kind != DP_JOB_DRILL)
            abort();
        if (p.job.kind == DP_JOB_DRILL && (!dp_proto_valid_id(p.job.backup_id) ||
                                          !dp_proto_valid_file_name(p.job.file_name) ||
                                          !dp_proto_valid_sha256(p.job.sha256)))
            abort();
        /* the job's policy: at most DP_JOB_MAX_RECIPIENTS age1 recipients, nice, I/O class and rate in range */
        const dp_job_policy *q = &p.job.policy;
        if (q->nrecipients < 0 || q->nrecipients > DP_JOB_MAX_RECIPIENTS)
            abort();
        for (int i = 0; i < q->nrecipients; i++)
            if (!dp_proto_valid_recipient(q->recipients[i]))
                abort();
        if (q->nice != DP_PRIO_UNSET && (q->nice < 0 || q->nice > 19))
            abort();
        if (q->ioclass != DP_PRIO_UNSET && q->ioclass != DP_IOPRIO_NONE && q->ioclass != DP_IOPRIO_BE &&
            q->ioclass != DP_IOPRIO_IDLE)
            abort();
        if (q->limit_rate && (q->limit_rate < DP_LIMIT_RATE_MIN || q->limit_rate > DP_JOB_LIMIT_RATE_MAX))
            abort();
    } else if (p.job.job_id[0]) {
        abort();
    }
}

static void fuzz_error_message(const char *body, size_t len)
{
    char out[300];
    memset(out, 'X', sizeof out);
    dp_proto_error_message(body, len, out, sizeof out);
    size_t n = strnlen(out, sizeof out);
    if (n == sizeof out || n > 200)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
            abort();
    /* a small buffer is filled and terminated, never overrun */
    char small[5] = {'X', 'X', 'X', 'X', 'X'};
    dp_proto_error_message(body, len, small, 4);
    if (small[4] != 'X' || strnlen(small, 4) == 4)
        abort();
}

static void fuzz_job_spec(const char *json, size_t len)
{
    dp_job_spec s, back;
    dp_err err = {0};
    int rc = dp_job_spec_parse(json, len, &s, &err);
    if (rc) {
        static const dp_job_spec zero;
        if ((rc != DUMPER_EUSAGE && rc != DUMPER_ENOMEM) || !err.msg[0] || memcmp(&s, &zero, sizeof s) != 0)
            abort();
        return;
    }
    if (!s.api_base || !s.app_key || !s.agent_id || !s.job_id || (!s.db_url && s.kind != DP_JOB_DRILL))
        abort();
    if (s.kind == DP_JOB_DRILL && (!dp_proto_valid_id(s.backup_id) || !dp_proto_valid_file_name(s.file_name) ||
                                   !dp_proto_valid_sha256(s.sha256)))
        abort();
    if (strncmp(s.api_base, "http://", 7) != 0 && strncmp(s.api_base, "https://", 8) != 0)
        abort();
    if (!dp_proto_valid_id(s.agent_id) || !dp_proto_valid_id(s.job_id) ||
        (s.database_id && !dp_proto_valid_id(s.database_id)))
        abort();
    char *again = dp_job_spec_to_json(&s);
    if (!again)
        abort();
    dp_err e2 = {0};
    if (dp_job_spec_parse(again, strlen(again), &back, &e2) != 0)
        abort();
    if (!same(s.api_base, back.api_base) || !same(s.app_key, back.app_key) || !same(s.ca_file, back.ca_file) ||
        !same(s.proxy, back.proxy) || s.insecure != back.insecure || s.debug != back.debug ||
        !same(s.agent_id, back.agent_id) || !same(s.job_id, back.job_id) || !same(s.database_id, back.database_id) ||
        !same(s.database_key, back.database_key) || !same(s.reason, back.reason) || !same(s.db_url, back.db_url) ||
        !same(s.format, back.format) || !same(s.custom_options, back.custom_options) ||
        s.max_filesize != back.max_filesize || s.max_part_size != back.max_part_size || s.max_parts != back.max_parts ||
        s.limit_rate != back.limit_rate || s.nrecipients != back.nrecipients || s.kind != back.kind ||
        !same(s.backup_id, back.backup_id) || !same(s.file_name, back.file_name) || !same(s.sha256, back.sha256) ||
        !same(s.source_type, back.source_type) || !same(s.scratch_url, back.scratch_url) ||
        !same(s.scratch_password, back.scratch_password) || s.lease_ms != back.lease_ms ||
        s.nidentities != back.nidentities || s.nidentities > DP_JOB_MAX_IDENTITIES)
        abort();
    for (size_t i = 0; i < s.nidentities; i++) /* absolute paths, the same after the round trip */
        if (s.identities[i][0] != '/' || strcmp(s.identities[i], back.identities[i]) != 0)
            abort();
    for (int i = 0; i < s.nrecipients; i++)
        if (strcmp(s.recipients[i], back.recipients[i]) != 0)
            abort();
    free(again);
    dp_job_spec_free(&back);
    dp_job_spec_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    for (size_t expected = 0; expected < 4; expected++)
        fuzz_register(body, size, expected);
    fuzz_poll(body, size);
    fuzz_error_message(body, size);
    fuzz_job_spec(body, size);
    return 0;
}
