/*
 * conffile.h - dumperd's configuration file (`dumperd serve --config /etc/dumperd.conf`): one `key = value`
 * per line, the keys being the long options of the command line without their dashes (`listen = 0.0.0.0:8477`,
 * `store = sqlite:/var/lib/dumperd/dumperd.db`); `#` starts a comment line; a value may be double-quoted (it
 * then keeps its spaces and `#`; no escapes). cli/args.c applies the entries through the same table as the
 * flags, so every serve flag has a key and the flags given on the command line override the file.
 *
 * Pure: bytes in, entries or one error line out (no I/O), so it can be fuzzed (test/fuzz/fuzz_conffile.c). The
 * file is hostile input like any other: limits on its size, its line length and its number of entries, NUL
 * bytes and control characters refused, a duplicate key refused (which one would win is a surprise).
 */
#ifndef SD_CONFFILE_H
#define SD_CONFFILE_H

#include <stddef.h>

#define SD_CONF_MAX_BYTES 65536
#define SD_CONF_MAX_LINE 4096
#define SD_CONF_MAX_ENTRIES 64
#define SD_CONF_MAX_KEY 40

typedef struct sd_conf_entry {
    const char *key, *value; /* point into the parsed text */
    int line;                /* 1-based */
} sd_conf_entry;

typedef struct sd_conf {
    sd_conf_entry v[SD_CONF_MAX_ENTRIES];
    int n;
} sd_conf;

/*
 * Parses text[0..len) in place (it writes NULs into text: entries point into it, so text must outlive out).
 * text needs len + 1 writable bytes (the caller's NUL). 0, or -1 with why: "line N: <what>" (never quoting a
 * value, which may be a secret).
 */
int sd_conf_parse(char *text, size_t len, sd_conf *out, char *why, size_t whylen);

#endif
