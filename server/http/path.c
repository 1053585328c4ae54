/* path.c - route patterns (see path.h). */
#include "http/path.h"

#include <string.h>

#include "domain/names.h"

int sd_path_fits(const char *pattern, const char *url, sd_path_vars *v)
{
    const char *p = pattern, *u = url;
    memset(v, 0, sizeof *v);
    while (*p && *u) {
        const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), ul = ue ? (size_t)(ue - u) : strlen(u);
        char seg[80];
        if (*p == '{') {
            if (!ul || ul >= sizeof seg)
                return 0;
            memcpy(seg, u, ul);
            seg[ul] = 0;
            if (!strncmp(p, "{app}", 5)) {
                if (!sd_label_valid(seg, 64))
                    return 0;
                memcpy(v->app, seg, ul + 1);
            } else if (sd_id_parse(seg, p[1] == 'b' ? 'b' : 'j', &v->id)) {
                return 0;
            }
        } else if (pl != ul || strncmp(p, u, pl)) {
            return 0;
        }
        p += pl;
        u += ul;
        if (*p != *u) /* one ends, the other has a '/' */
            return 0;
        if (*p)
            p++, u++;
    }
    return !*p && !*u;
}
