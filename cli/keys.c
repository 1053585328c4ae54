/*
 * keys.c - `dumper keygen`, and the age recipients and identities the other commands take
 * (--recipient, --recipients-file, --identity, DUMPER_IDENTITY).
 *
 * A key that cannot be used (malformed, another kind, a file of the wrong format) is one line and
 * exit 2; a missing file is exit 5. A secret key is never printed, not even in part.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/util.h"
#include "job/manifest.h"

int cli_keys_add_recipient(cli_keys *k, const char *s)
{
    dp_age_recipient r;
    dp_err err = {0};
    char what[120];
    /* a secret key given by mistake is not repeated back */
    snprintf(what, sizeof what, "--recipient '%.70s'", strncmp(s, "AGE-", 4) == 0 ? "AGE-..." : s);
    if (dp_age_recipient_parse(s, what, &r, &err))
        return cli_fail(&err);
    for (size_t i = 0; i < k->nrecipients; i++)
        if (!memcmp(k->recipients[i].pk, r.pk, 32))
            return 0; /* the same recipient twice: once is enough */
    if (k->nrecipients >= DP_MANIFEST_MAX_RECIPIENTS) {
        dp_err_set(&err, DUMPER_EUSAGE, "too many recipients (at most %d)", DP_MANIFEST_MAX_RECIPIENTS);
        return cli_fail(&err);
    }
    dp_age_recipient *n = realloc(k->recipients, (k->nrecipients + 1) * sizeof *n);
    if (!n) {
        dp_err_set(&err, DUMPER_ENOMEM, "out of memory");
        return cli_fail(&err);
    }
    k->recipients = n;
    k->recipients[k->nrecipients++] = r;
    return 0;
}

int cli_keys_add_recipients_file(cli_keys *k, const char *path)
{
    dp_age_recipient *list = NULL;
    size_t n = 0;
    dp_err err = {0};
    int rc = dp_age_recipients_read(path, &list, &n, &err);
    if (rc) {
        free(list);
        return cli_fail(&err);
    }
    for (size_t i = 0; i < n && !rc; i++)
        rc = cli_keys_add_recipient(k, list[i].str);
    free(list);
    return rc;
}

int cli_keys_add_identity_file(cli_keys *k, const char *path)
{
    dp_err err = {0};
    if (dp_age_identities_read(path, &k->identities, &k->nidentities, &err))
        return cli_fail(&err);
    return 0;
}

int cli_keys_identity_env(cli_keys *k)
{
    const char *p = getenv("DUMPER_IDENTITY");
    if (k->nidentities || !p || !*p)
        return 0;
    dp_err err = {0};
    if (dp_age_identities_read(p, &k->identities, &k->nidentities, &err)) {
        dp_err_prefix(&err, "DUMPER_IDENTITY");
        return cli_fail(&err);
    }
    return 0;
}

void cli_keys_free(cli_keys *k)
{
    free(k->recipients);
    dp_age_identities_free(k->identities, k->nidentities);
    memset(k, 0, sizeof *k);
}

static const char keygen_help[] =
    "usage: dumper keygen --out FILE\n"
    "\n"
    "Generates an age X25519 identity (a private key) for encrypted backups and writes it to FILE in\n"
    "age-keygen's format (mode 0600; an existing FILE is never overwritten). Prints its recipient\n"
    "(the public key, age1...) on stdout: pass it to 'dumper backup --recipient'. Keep FILE secret\n"
    "and keep a copy offline: without it the backups encrypted to its recipient cannot be restored.\n"
    "The file works with the age tool too (age -d -i FILE).\n"
    "\n"
    "  -o, --out FILE  where to write the identity\n"
    "  -h, --help      this help\n";

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(keygen_help, stdout); return 0;
        case ':': return cli_usage_error("keygen", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("keygen", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("keygen", "too many arguments");
    if (!out || !*out)
        return cli_usage_error("keygen", "missing --out FILE");
    dp_age_recipient r;
    dp_err err = {0};
    if (dp_age_keygen_file(out, &r, &err))
        return cli_fail(&err);
    puts(r.str);
    return 0;
}
