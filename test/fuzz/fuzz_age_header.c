/*
 * fuzz_age_header.c - libFuzzer target for the age header parser (dp_age_header_parse) and the
 * decrypt filter's state machine behind it.
 *
 * Any input: no crash, no leak, no UB. The parser answers 0, DP_AGE_NEED_MORE, DUMPER_ECORRUPT or
 * DUMPER_ENOMEM. On success: the header fits the input and 64 KiB, marshalling it gives back exactly
 * the bytes parsed (the property the header MAC relies on), the MAC line is where it must be, and
 * the last byte short asks for more. NEED_MORE only below 64 KiB. Then the same bytes go through the
 * decrypt filter, key-less and with the testkit's identity (seeds from test/vectors/age decrypt with
 * it, so mutations reach the payload; keyed in two write sizes: same outcome and plaintext either way).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/age.h"

#define TESTKIT_IDENTITY "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"

static int run_filter(const dp_age_identity *id, size_t nids, const uint8_t *data, size_t size, size_t chunk,
                      uint64_t *released)
{
    dp_sink *null = dp_sink_null_new();
    dp_sink *d = null ? dp_age_decrypt_new(id, nids, null) : NULL;
    if (!d)
        abort();
    dp_err err = {0};
    int rc = 0;
    for (size_t off = 0; off < size && !rc; off += chunk)
        rc = dp_sink_write(d, data + off, size - off < chunk ? size - off : chunk, &err);
    if (!rc)
        rc = dp_sink_end(d, &err);
    if (rc && rc != DUMPER_ECORRUPT && rc != DUMPER_EAUTH && rc != DUMPER_EUNSUPPORTED && rc != DUMPER_ENOMEM)
        abort();
    if (rc && !err.msg[0])
        abort();
    *released = null->bytes;
    if (nids == 0 && null->bytes != 0)
        abort();
    dp_sink_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dp_age_identity id;
    static int have_id;
    if (!have_id) {
        dp_err e = {0};
        if (dp_age_identity_parse(TESTKIT_IDENTITY, "fuzz", &id, &e))
            abort();
        have_id = 1;
    }
    dp_age_header h;
    dp_err err = {0};
    int rc = dp_age_header_parse(data, size, &h, &err);
    if (rc == 0) {
        if (h.len > size || h.len > DP_AGE_HEADER_MAX || h.len - h.mac_input_len != 45)
            abort();
        if (memcmp(data + h.mac_input_len - 3, "--- ", 4) != 0 || data[h.len - 1] != '\n')
            abort();
        dp_buf m = {0};
        if (dp_age_header_marshal(&h, 1, &m) || m.len != h.len || memcmp(m.data, data, h.len) != 0)
            abort();
        dp_buf_reset(&m);
        if (dp_age_header_marshal(&h, 0, &m) || m.len != h.mac_input_len || memcmp(m.data, data, m.len) != 0)
            abort();
        dp_buf_free(&m);
        dp_age_header h2;
        dp_err e2 = {0};
        if (dp_age_header_parse(data, h.len - 1, &h2, &e2) != DP_AGE_NEED_MORE)
            abort();
        for (size_t i = 0; i < h.nstanzas; i++)
            if (!h.stanzas[i].type || !*h.stanzas[i].type || (h.stanzas[i].body_len && !h.stanzas[i].body))
                abort();
        dp_age_header_free(&h);
    } else if (rc == DP_AGE_NEED_MORE) {
        if (size >= DP_AGE_HEADER_MAX)
            abort();
    } else if (rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM) {
        abort();
    } else if (!err.msg[0]) {
        abort();
    }
    /* the filter: key-less and keyed, in one write and in small writes, agree */
    uint64_t r1, r3, r4;
    int k1 = run_filter(NULL, 0, data, size, 7, &r1);
    int d1 = run_filter(&id, 1, data, size, size ? size : 1, &r3);
    int d2 = run_filter(&id, 1, data, size, 13, &r4);
    if (d1 != d2 || r3 != r4)
        abort();
    /* a header the parser refuses fails the filters too */
    if (rc == DUMPER_ECORRUPT && (!k1 || !d1))
        abort();
    return 0;
}
