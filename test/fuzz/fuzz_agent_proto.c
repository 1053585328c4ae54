/*
 * fuzz_agent_proto.c - libFuzzer target for the agent's answer parsers: the poll answer (with a job and its
 * policy: recipients, nice, ionice, limit_rate) and the job spec.
 *
 * Beyond "no crash, no leak, no UB" (ASan/UBSan), it checks the bounds the rest of the agent relies on: a
 * parsed job has at most DP_JOB_MAX_RECIPIENTS recipients, each of the age1 form; nice and I/O class inside
 * their ranges; a rate within its bounds; and a parsed job spec survives serialising and parsing again.
 * Build: cmake -DDUMPER_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: build-fuzz/test/fuzz_agent_proto -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_poll_resp p;
    dp_err e = {0};
    if (!dp_proto_parse_poll((const char *)data, size, &p, &e) && p.has_job) {
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
    }
    dp_job_spec s, t;
    dp_err e2 = {0};
    if (!dp_job_spec_parse((const char *)data, size, &s, &e2)) {
        char *j = dp_job_spec_to_json(&s);
        dp_err e3 = {0};
        if (j && dp_job_spec_parse(j, strlen(j), &t, &e3))
            abort();
        if (j) {
            if (t.nrecipients != s.nrecipients)
                abort();
            dp_job_spec_free(&t);
        }
        dp_free_secret(j);
        dp_job_spec_free(&s);
    }
    return 0;
}
