/*
 * names.h - the names and identifiers dumperd accepts and makes, written once: labels (environments,
 * database keys, formats, user and app names on the dashboard), the "x_<id>" ids of the protocol (a_ agents,
 * b_ backups, d_ databases, j_ jobs), part numbers, file extensions and compression names, and backup file
 * names. Pure: strings in, verdicts or strings out.
 */
#ifndef SD_NAMES_H
#define SD_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Parts of one backup, at most: S3's limit, and the protocol's for local uploads too. */
#define SD_MAX_PARTS 10000
/* The smallest part but the last that an S3 upload accepts (the agent's minimum on S3 storage). */
#define SD_S3_MIN_PART (5 * 1024 * 1024)

/* 1..max characters of [A-Za-z0-9_.-]. */
int sd_label_valid(const char *s, size_t max);
/* The one rule for app names (the dashboard and `dumperd app create` alike), and for the environment and
 * database key an operator names (key NULL: none), with the messages that state them. */
#define SD_APP_NAME_RULE "an app name is 1-64 characters of [A-Za-z0-9_.-]"
#define SD_SCOPE_RULE "an environment or database key is 1-64 characters of [A-Za-z0-9_.-]"
int sd_app_name_valid(const char *s);
int sd_scope_valid(const char *env, const char *key);
/* Every character outside the label alphabet becomes '_' (in place). */
void sd_label_sanitize(char *s);
/* The key of a database registered without one: "<type>-<name or default>" sanitized, the name cut so
 * that the key is a label of at most 64 characters (type: one of the protocol's; at most 32 are used). */
void sd_db_key_derive(char out[65], const char *type, const char *name);

/* Free text an agent sends (host names, database names, fail messages) is shown on terminals and in the
 * dashboard. sd_text_problem: NULL when s holds no control character (C0, DEL, C1 U+0080-U+009F) and no
 * bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069), else what it holds ("control
 * characters", "bidirectional override characters"). sd_shell_problem: the same, and "shell metacharacters"
 * for any of `$;&|<>()\"'*?[]{}!#~ and (unless allow_space) a space. */
const char *sd_text_problem(const char *s);
const char *sd_shell_problem(const char *s, int allow_space);
/* In place: control characters become spaces, C1 controls and bidirectional overrides are removed, and a
 * UTF-8 sequence cut short at the end is dropped. */
void sd_text_clean(char *s);

/* "x_<id>" with x = prefix: a positive decimal id (digits only, at most INT64_MAX). sd_id_scan reads one at
 * *p (prefix 0: digits alone) and advances *p past it, leaving what follows ("b_12/download"); -1 (and *p
 * unchanged) when there is none. sd_id_parse needs the whole string to be the id: 0, or -1. */
int64_t sd_id_scan(const char **p, char prefix);
int sd_id_parse(const char *s, char prefix, int64_t *id);
/* "x_<id>" into out. */
void sd_id_format(char out[32], char prefix, int64_t id);

/* A part number: 1..max_parts in decimal without sign or leading zero, at *p; advances *p. -1 if none. */
int sd_part_number_scan(const char **p, int max_parts);

/* A compression name the protocol accepts: "zstd", "gzip" or "none" (lib/io/filter.h's names). */
int sd_compression_valid(const char *name);
/* A file extension an agent may ask for: 1-16 characters of [a-z0-9.], no dot first or last, no "..". */
int sd_extension_valid(const char *ext);
/* The extension of a backup without one: "<format or dump>[.zst|.gz]". */
void sd_extension_default(char out[40], const char *format, const char *compression);
/* A backup's file name: "<app>-<env>-<key>-<UTC stamp>-b<id>.<ext>", the app name sanitized to the label
 * alphabet and cut at 64 characters (env and key are labels already). The id makes it unique even for two
 * backups of one database in the same millisecond. */
void sd_backup_file_name(char out[256], const char *app, const char *env, const char *key, int64_t created_ms,
                         int64_t id, const char *ext);

#endif
