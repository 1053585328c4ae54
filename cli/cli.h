/* cli.h - shared pieces of the `dumper` command's subcommands. */
#ifndef DUMPER_CLI_H
#define DUMPER_CLI_H

#include <stdint.h>

#include "core/err.h"

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

#endif
