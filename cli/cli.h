/* cli.h - shared pieces of the `dumper` command's subcommands. */
#ifndef DUMPER_CLI_H
#define DUMPER_CLI_H

#include <stdint.h>

#include "core/err.h"
#include "crypto/age.h"

/* Print "dumper: <msg>" as one line on stderr and return the code (the exit status). */
int cli_fail(const dp_err *err);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress callback: prints bytes and rate on a terminal, nothing otherwise. ctx unused. */
void cli_progress(void *ctx, uint64_t bytes, int done);
int cli_progress_enabled(void);
/* Read a secret (password, app key) from a file: one line, at most 4096 bytes, the line end
 * dropped. *out: caller frees (dp_free_secret). Returns 0 or the exit code after printing one line
 * naming `what` and path (never the content). */
int cli_read_secret_file(const char *cmd, const char *what, const char *path, char **out);

typedef int (*cli_cmd_fn)(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_job(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

/* age keys from the command line (cli/keys.c). Each add returns 0, or prints one error line and
 * returns the exit code. */
typedef struct cli_keys {
    dp_age_recipient *recipients; /* --recipient, --recipients-file (duplicates dropped) */
    size_t nrecipients;
    dp_age_identity *identities; /* --identity, else DUMPER_IDENTITY */
    size_t nidentities;
} cli_keys;
int cli_keys_add_recipient(cli_keys *k, const char *s);
int cli_keys_add_recipients_file(cli_keys *k, const char *path);
int cli_keys_add_identity_file(cli_keys *k, const char *path);
/* Without --identity: the identity file DUMPER_IDENTITY names, if set. */
int cli_keys_identity_env(cli_keys *k);
void cli_keys_free(cli_keys *k); /* wipes the identities */

/* Shared by restore, verify and drill (cli/commands.c). */
struct dp_storage;
/* Open the storage of a backup path ("dir/key" or "s3://bucket/prefix/key"); *key: caller frees. */
int cli_open_backup(const char *path, struct dp_storage **st, char **key, dp_err *err);
/* --sha256 HEX: 64 hex digits, else a usage error (printed) naming cmd. */
int cli_sha256_opt(const char *cmd, const char *v, const char **out);
/* --identity files (else DUMPER_IDENTITY): 0 or the exit code, the error printed. */
int cli_load_identities(cli_keys *k, const char **files, int n);
int cmd_drill(int argc, char **argv);

#endif
