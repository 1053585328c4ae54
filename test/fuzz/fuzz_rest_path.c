/*
 * fuzz_rest_path.c - libFuzzer target for the REST API's path matcher (server/http/path.c) against every
 * route pattern dumperd registers (http/rest.h).
 *
 * Beyond "no crash, no UB": when a path fits a pattern, the variables are valid (the app a label, the id
 * positive) and writing the pattern back with them gives the path again, byte for byte (but for leading
 * zeros of an id, which sd_id_parse accepts as the agent API does): the matcher never accepts a path it does
 * not fully understand (a trailing slash, an empty or extra segment, "b_1x").
 * Build: cmake -DDUMPER_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: build-fuzz/test/fuzz_rest_path -max_total_time=60
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/names.h"
#include "http/path.h"
#include "http/rest.h"

/* url with the leading zeros of the id dropped in the segment where pattern has {backup} or {job}. */
static void canonical(const char *pattern, const char *url, char *out)
{
    int idseg = -1, k = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p == '/')
            k++;
        else if (!strncmp(p, "{backup}", 8) || !strncmp(p, "{job}", 5))
            idseg = k;
    }
    k = 0;
    for (; *url; url++) {
        *out++ = *url;
        if (*url != '/' || ++k != idseg || !url[1] || !url[2])
            continue;
        *out++ = url[1];
        *out++ = url[2];
        url += 3;
        while (url[0] == '0' && url[1] >= '0' && url[1] <= '9')
            url++;
        url--;
    }
    *out = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char url[512];
    if (size >= sizeof url)
        return 0;
    memcpy(url, data, size);
    url[size] = 0;
    int n;
    const sd_rest_route_info *r = sd_rest_routes(&n);
    for (int i = 0; i < n; i++) {
        sd_path_vars v;
        if (!sd_path_fits(r[i].path, url, &v))
            continue;
        char back[600] = "", id[32];
        size_t len = 0;
        for (const char *p = r[i].path; *p;) {
            const char *piece = NULL;
            size_t skip = 1, plen = 1;
            if (!strncmp(p, "{app}", 5)) {
                if (!sd_label_valid(v.app, 64))
                    abort();
                piece = v.app, skip = 5;
            } else if (!strncmp(p, "{backup}", 8) || !strncmp(p, "{job}", 5)) {
                if (v.id <= 0)
                    abort();
                sd_id_format(id, p[1] == 'b' ? 'b' : 'j', v.id);
                piece = id, skip = p[1] == 'b' ? 8 : 5;
            }
            if (piece)
                plen = strlen(piece);
            else
                piece = p;
            if (len + plen >= sizeof back)
                abort();
            memcpy(back + len, piece, plen);
            len += plen;
            back[len] = 0;
            p += skip;
        }
        char canon[512];
        canonical(r[i].path, url, canon);
        if (strcmp(back, canon))
            abort();
    }
    return 0;
}
