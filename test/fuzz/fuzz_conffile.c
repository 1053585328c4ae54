/*
 * fuzz_conffile.c - libFuzzer target for dumperd's configuration file parser (server/config/conffile.c).
 *
 * Beyond "no crash, no leak, no UB": on success every entry's key is non-empty lowercase [a-z0-9-] and at
 * most SD_CONF_MAX_KEY long, its value non-empty, keys are unique, and every key and value lies inside the
 * input buffer; on failure the error line is set.
 * Build: cmake -DDUMPER_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: build-fuzz/test/fuzz_conffile -max_total_time=60
 * test/fuzz/corpus/fuzz_conffile
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/conffile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), why[200] = "";
    static sd_conf c;
    if (!text)
        return 0;
    memcpy(text, data, size);
    if (sd_conf_parse(text, size, &c, why, sizeof why)) {
        if (!why[0])
            abort();
    } else {
        for (int i = 0; i < c.n; i++) {
            size_t kl = strlen(c.v[i].key);
            if (!kl || kl > SD_CONF_MAX_KEY || !c.v[i].value[0] || strspn(c.v[i].key, "abcdefghijklmnopqrstuvwxyz0123456789-") != kl)
                abort();
            if (c.v[i].key < text || c.v[i].value < text || c.v[i].value + strlen(c.v[i].value) > text + size)
                abort();
            for (int k = 0; k < i; k++)
                if (!strcmp(c.v[k].key, c.v[i].key))
                    abort();
        }
    }
    free(text);
    return 0;
}
