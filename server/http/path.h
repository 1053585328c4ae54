/*
 * path.h - matching a request path against a route pattern of the REST API (http/rest.c): literal segments,
 * {app} (an app name: a label, domain/names.h), {backup} ("b_N") and {job} ("j_N"). Pure (bytes in,
 * verdict out) so it can be fuzzed (test/fuzz/fuzz_rest_path.c).
 */
#ifndef SD_HTTP_PATH_H
#define SD_HTTP_PATH_H

#include <stdint.h>

/* The path's variables. */
typedef struct sd_path_vars {
    char app[65]; /* "" when the pattern has no {app} */
    int64_t id;   /* {backup} or {job}; 0 when none */
} sd_path_vars;

/* 1 when url fits pattern (every segment, nothing left over on either side), with the variables in *v; 0
 * otherwise (*v then holds nothing useful). */
int sd_path_fits(const char *pattern, const char *url, sd_path_vars *v);

#endif
