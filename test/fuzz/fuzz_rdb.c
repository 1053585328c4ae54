/*
 * fuzz_rdb.c - libFuzzer target for the Redis source's parsers (lib/source/rdb.c): the streaming
 * RDB header/trailer checker, and what a backup reads of a server's answer to SYNC (reply lines
 * with keepalives, the "$<len>" bulk line, a refusal, then the snapshot) and of INFO.
 *
 * Input: the bytes a server sends after "SYNC\r\n". Beyond "no crash, leak or UB":
 * - the reply line: read byte by byte as redis.c does, it never exceeds its buffer, holds no CR or
 *   LF, and only "$<digits>" is taken for a snapshot's length;
 * - the snapshot after a "$<len>" line (as far as the input goes), and the whole input as an RDB
 *   file (a restore checks the backup's bytes the same way): the checker's verdict does not depend
 *   on how the bytes are cut (one write, odd sizes, byte by byte), equals a plain reference
 *   computed over the whole buffer (header, EOF opcode, CRC-64 by a bitwise reference of Redis's
 *   crc64 instead of the slice-by-8 tables), and a write is refused exactly when the first 9 bytes
 *   are no RDB header;
 * - the key counter (dp_rdb_keys) over the same bytes: its outcome (done or gave up, why, every
 *   count) does not depend on how the bytes are cut; the counts add up to the total, no database
 *   index reaches DP_RDB_MAX_DB, a walk that gave up stays so; a walk that reached the end of a
 *   version 5+ file ended exactly 8 bytes (the checksum) after an EOF opcode, so the checker never
 *   calls such a file truncated;
 * - INFO fields: -1 exactly when no line starts with "field:".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source/rdb.h"

static uint64_t crc64_bitwise(const uint8_t *p, size_t n)
{
    uint64_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ UINT64_C(0x95ac9329ac4bc9b5) : crc >> 1;
    }
    return crc;
}

static int reference_verdict(const uint8_t *b, size_t n)
{
    if (n < 9)
        return n && memcmp(b, "REDIS", n < 5 ? n : 5) != 0 ? DP_RDB_BAD_HEADER : DP_RDB_TRUNCATED;
    if (memcmp(b, "REDIS", 5) != 0)
        return DP_RDB_BAD_HEADER;
    int version = 0;
    for (int i = 5; i < 9; i++) {
        if (b[i] < '0' || b[i] > '9')
            return DP_RDB_BAD_HEADER;
        version = version * 10 + (b[i] - '0');
    }
    if (n < 18)
        return DP_RDB_TRUNCATED;
    const uint8_t *tail = b + n - 9;
    if (version < 5)
        return tail[8] == 0xff ? DP_RDB_OK_NO_CHECKSUM : DP_RDB_TRUNCATED;
    if (tail[0] != 0xff)
        return DP_RDB_TRUNCATED;
    uint64_t want = 0;
    for (int i = 8; i >= 1; i--)
        want = (want << 8) | tail[i];
    if (want == 0)
        return DP_RDB_OK_NO_CHECKSUM;
    return crc64_bitwise(b, n - 8) == want ? DP_RDB_OK : DP_RDB_BAD_CHECKSUM;
}

/* Feed b in pieces of `step` bytes (the last one shorter), stopping at a refused write like the
 * source and the restore sink do. */
static int verdict_in_steps(const uint8_t *b, size_t n, size_t step)
{
    dp_rdb_check c;
    dp_rdb_check_init(&c);
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        if (dp_rdb_check_feed(&c, b + off, k) < 0) {
            /* refused exactly when the first 9 bytes are known and are no header */
            if (off + k < 9 || dp_rdb_check_finish(&c) != DP_RDB_BAD_HEADER)
                abort();
            return DP_RDB_BAD_HEADER;
        }
    }
    int v = dp_rdb_check_finish(&c);
    if (v < DP_RDB_OK || v > DP_RDB_BAD_CHECKSUM || !dp_rdb_check_strerror(v)[0])
        abort();
    return v;
}

typedef struct {
    int rc, done;
    uint64_t total, *keys;
    size_t ndb;
    char why[96];
} walk_result;

static void walk_in_steps(const uint8_t *b, size_t n, size_t step, walk_result *w)
{
    dp_rdb_keys k;
    dp_rdb_keys_init(&k);
    int rc = 0;
    for (size_t off = 0; off < n && !rc; off += step) {
        size_t c = n - off < step ? n - off : step;
        rc = dp_rdb_keys_feed(&k, b + off, c);
    }
    if (rc && dp_rdb_keys_feed(&k, b, n ? 1 : 0) != -1) /* gave up for good */
        abort();
    w->rc = rc ? rc : dp_rdb_keys_finish(&k);
    w->done = k.done;
    w->total = k.total;
    w->keys = k.keys;
    w->ndb = k.ndb;
    memcpy(w->why, k.why, sizeof w->why);
    uint64_t sum = 0;
    for (size_t i = 0; i < k.ndb; i++)
        sum += k.keys[i];
    if (sum != k.total || k.ndb > DP_RDB_MAX_DB || (w->rc == 0) != (k.done && !k.failed) || (w->rc && !w->why[0]))
        abort();
    if (w->rc == 0 && k.version >= 5 && (n < 18 || b[n - 9] != 0xff || reference_verdict(b, n) == DP_RDB_TRUNCATED))
        abort();
}

static void check_walk(const uint8_t *b, size_t n)
{
    walk_result whole, odd;
    walk_in_steps(b, n, n ? n : 1, &whole);
    walk_in_steps(b, n, 1 + (n ? b[n / 3] : 0) % 37, &odd);
    int same = whole.rc == odd.rc && whole.done == odd.done && whole.total == odd.total && whole.ndb == odd.ndb &&
               !strcmp(whole.why, odd.why) &&
               (!whole.ndb || !memcmp(whole.keys, odd.keys, whole.ndb * sizeof *whole.keys));
    free(odd.keys);
    if (same && n <= 4096) {
        walk_result bytes;
        walk_in_steps(b, n, 1, &bytes);
        same = whole.rc == bytes.rc && whole.total == bytes.total && whole.ndb == bytes.ndb &&
               !strcmp(whole.why, bytes.why) &&
               (!whole.ndb || !memcmp(whole.keys, bytes.keys, whole.ndb * sizeof *whole.keys));
        free(bytes.keys);
    }
    free(whole.keys);
    if (!same)
        abort();
}

static void check_stream(const uint8_t *b, size_t n)
{
    check_walk(b, n);
    int want = reference_verdict(b, n);
    if (verdict_in_steps(b, n, n ? n : 1) != want)
        abort();
    size_t odd = 1 + (n ? b[n / 2] : 0) % 61;
    if (verdict_in_steps(b, n, odd) != want)
        abort();
    if (n <= 4096 && verdict_in_steps(b, n, 1) != want)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reply to SYNC: a line (keepalives skipped), then the snapshot */
    char line[256];
    size_t n = 0, i = 0;
    int done = 0;
    while (i < size && !done) {
        done = dp_redis_line_feed(line, sizeof line, &n, (char)data[i++]);
        if (n >= sizeof line)
            abort();
    }
    if (done == 1) {
        if (line[n] != 0 || memchr(line, '\n', n))
            abort();
        unsigned long long len = 0;
        int kind = dp_redis_sync_reply(line, &len);
        if (kind == DP_SYNC_BULK) {
            if (line[0] != '$' || line[1] < '0' || line[1] > '9')
                abort();
            size_t avail = size - i;
            check_stream(data + i, len < avail ? (size_t)len : avail);
        } else if (kind == DP_SYNC_REFUSED ? line[0] != '-' : kind != DP_SYNC_DISKLESS && kind != DP_SYNC_BAD) {
            abort();
        }
    }
    /* the whole input as an RDB file (restore) */
    check_stream(data, size);
    /* INFO persistence */
    char *info = malloc(size + 1);
    if (!info)
        return 0;
    memcpy(info, data, size);
    info[size] = 0;
    static const char *const fields[] = {"rdb_bgsave_in_progress", "rdb_last_bgsave_status", "x"};
    for (size_t f = 0; f < 3; f++) {
        size_t fl = strlen(fields[f]);
        int present = 0;
        for (const char *p = info; p && *p && !present; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            present = !strncmp(p, fields[f], fl) && p[fl] == ':';
        if (!present && dp_redis_info_field(info, fields[f]) != -1)
            abort();
    }
    free(info);
    return 0;
}
