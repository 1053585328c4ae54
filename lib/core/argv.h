/*
 * argv.h - split a string into words the way a POSIX shell would, without running one.
 *
 * Used for `custom_options` ("-Fc --no-acl --no-owner"): the words go straight into a dump tool's
 * argv. Whitespace separates words; single quotes keep everything literally; double quotes keep
 * everything except a backslash before \ " $ ` or newline; outside quotes a backslash escapes the
 * next character. Nothing is expanded: $VAR, `cmd`, ~, globs, ; | & < > are ordinary characters,
 * so no word can start another command. Unbalanced quotes or a trailing backslash are errors.
 */
#ifndef DP_ARGV_H
#define DP_ARGV_H

#include <stddef.h>

#include "core/err.h"

/* Split s into a NULL-terminated array of words (*out, owned by the caller: dp_argv_free) and
 * their count (*n, may be NULL). NULL or blank s gives an empty array. On error fills err
 * (DUMPER_EUSAGE, naming `what`, e.g. "custom options") and sets *out to NULL. */
int dp_argv_split(const char *s, const char *what, char ***out, size_t *n, dp_err *err);
void dp_argv_free(char **v);
/* Number of words in a NULL-terminated array. */
size_t dp_argv_count(char *const *v);

#endif
