/*
 * fuzz_manifest.c - libFuzzer target for the manifest parser (dp_manifest_parse).
 *
 * Any input: no crash, no leak, no UB; on failure DUMPER_ECORRUPT and nothing allocated left in the
 * struct. On success: the fields obey the documented rules, and serializing and parsing again gives
 * the same manifest (round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job/manifest.h"

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_manifest m, back;
    dp_err err = {0};
    int rc = dp_manifest_parse((const char *)data, size, "fuzz", &m, &err);
    if (rc) {
        if (rc != DUMPER_ECORRUPT && rc != DUMPER_ENOMEM)
            abort();
        if (m.name || m.source_type || m.format || m.compression || m.dumper_version || m.database || m.encryption ||
            m.recipients || m.nrecipients || m.contents.known || m.contents.tables || m.contents.server_version ||
            m.contents.migration)
            abort();
        return 0;
    }
    if (!m.name || !*m.name || !m.source_type || !*m.source_type || !m.format || !*m.format || !m.compression)
        abort();
    if (strlen(m.sha256) != 64 || m.created_ms < 0)
        abort();
    /* encrypted: "age" and 1..64 canonical age1 recipients; otherwise none */
    if (m.encryption ? strcmp(m.encryption, "age") != 0 || m.nrecipients < 1 || m.nrecipients > 64
                     : m.nrecipients != 0 || m.recipients != NULL)
        abort();
    for (size_t i = 0; i < m.nrecipients; i++)
        if (strlen(m.recipients[i]) != 62 || strncmp(m.recipients[i], "age1", 4) != 0)
            abort();
    char *json = dp_manifest_to_json(&m);
    if (!json)
        abort();
    dp_err e2 = {0};
    if (dp_manifest_parse(json, strlen(json), "again", &back, &e2) != 0)
        abort();
    /* created_ms survives exactly; created_at is derived from it */
    if (!same(m.name, back.name) || !same(m.source_type, back.source_type) || !same(m.format, back.format) ||
        !same(m.compression, back.compression) || m.size != back.size || m.raw_size != back.raw_size ||
        strcmp(m.sha256, back.sha256) != 0 || m.created_ms != back.created_ms || m.duration_ms != back.duration_ms ||
        !same(m.database, back.database) || !same(m.encryption, back.encryption) || m.nrecipients != back.nrecipients)
        abort();
    for (size_t i = 0; i < m.nrecipients; i++)
        if (!same(m.recipients[i], back.recipients[i]))
            abort();
    /* contents: tables strictly sorted, each field back as it was */
    const dp_contents *a = &m.contents, *b = &back.contents;
    if (a->known != b->known || a->ntables != b->ntables || strcmp(a->fingerprint, b->fingerprint) != 0 ||
        !same(a->server_version, b->server_version) || !same(a->migration, b->migration))
        abort();
    for (size_t i = 0; i < a->ntables; i++)
        if (strcmp(a->tables[i].name, b->tables[i].name) != 0 || a->tables[i].rows != b->tables[i].rows ||
            (i && strcmp(a->tables[i - 1].name, a->tables[i].name) >= 0))
            abort();
    free(json);
    dp_manifest_free(&back);
    dp_manifest_free(&m);
    return 0;
}
