/*
 * fuzz_dumperd_api.c - libFuzzer target for the agent API's request bodies as dumperd reads them
 * (server/http/api_decode.c): the body is parsed exactly as http/api.c does (cJSON over the buffered
 * body and its terminating NUL) and, when it is a JSON object, goes through every decoder: register,
 * poll, backups/prepare, commit (S3 parts listed or a count) and fail. The same input is also read
 * as the path pieces of a route (/api/v1/backups/b_<id>/parts/<n>: domain/names.h's id and part
 * number scanners).
 *
 * Beyond "no crash, leak or UB":
 * - a refused body is SD_INVALID, SD_NOT_FOUND (an id that names nothing) or SD_TOO_LARGE (commit
 *   over max_filesize), with one non-empty line without control characters (it goes back to the
 *   agent and into logs);
 * - register: hostname and environment given, every string within its limit and free of control
 *   characters, pid in 1..2^31-1, environment a label, process_start absent or 1..64 characters of
 *   [0-9a-f:-]; one database per array entry, at most 64,
 *   a known type, a label key (given or derived), keys distinct, a port in 0..65535, never a
 *   database object with a "password";
 * - poll and prepare: ids positive, and the id text is "x_<id>" with that value (sd_id_parse);
 *   format a label, compression zstd/gzip/none, extension valid;
 * - commit: size in 0..max_filesize, sha256 64 lowercase hex digits, raw_size and duration in range,
 *   the database URL without a password, parts 0..10000; listed S3 parts: entry i is NULL or a
 *   1..200-byte etag without control characters, given as {"n": i + 1, ...};
 * - fail: a code of 1..64 bytes without control characters, the message at most 1000 bytes;
 * - ids and part numbers: a scanner reads the value of exactly the text it consumed (an id's digits
 *   may have leading zeros, a part number's not), and a formatted id parses back;
 * - names (environments, database keys, app names, extensions): the label and extension rules, and a
 *   backup's file name made of them is one path component of label characters.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/names.h"
#include "domain/secrets.h"
#include "http/api_decode.h"

#define MAX_FILESIZE (INT64_C(1) << 40)

static void check_text(const char *s, size_t max, int required)
{
    if (!s) {
        if (required)
            abort();
        return;
    }
    size_t n = strlen(s);
    if ((required && n == 0) || n > max)
        abort();
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            abort();
}

/* A refusal: the outcomes of a bad body, one line naming what to fix. */
static void check_refusal(const sd_status *st, int too_large_ok)
{
    if (st->outcome != SD_INVALID && st->outcome != SD_NOT_FOUND && !(too_large_ok && st->outcome == SD_TOO_LARGE))
        abort();
    check_text(st->err.msg, sizeof st->err.msg, 1);
}

static void check_id(const cJSON *j, const char *field, char prefix, int64_t id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
    int64_t again;
    if (id <= 0 || !cJSON_IsString(v) || sd_id_parse(v->valuestring, prefix, &again) != 0 || again != id)
        abort();
}

static void fuzz_register(const cJSON *j)
{
    sd_register_body b;
    sd_status st = SD_STATUS_INIT;
    if (sd_decode_register(j, &b, &st)) {
        check_refusal(&st, 0);
        return;
    }
    const sd_agent_info *a = &b.req.agent;
    check_text(a->hostname, 255, 1);
    check_text(a->env, 64, 1);
    check_text(a->version, 64, 0);
    check_text(a->app_name, 255, 0);
    check_text(a->framework, 255, 0);
    check_text(a->dispatcher, 255, 0);
    check_text(a->process_start, SD_PROCESS_START_MAX, 0);
    if (a->process_start && (!*a->process_start || strspn(a->process_start, "0123456789abcdef:-") !=
                                                       strlen(a->process_start)))
        abort();
    if (!sd_label_valid(a->env, 64) || a->pid < 1 || a->pid > INT32_MAX)
        abort();
    const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(j, "databases");
    if (b.req.ndbs != cJSON_GetArraySize(dbs) || b.req.ndbs > SD_MAX_DATABASES || b.req.dbs != b.dbs)
        abort();
    for (int i = 0; i < b.req.ndbs; i++) {
        const sd_dbinfo *d = &b.dbs[i];
        static const char *const types[] = {"postgresql", "mysql", "mariadb", "mongodb", "redis", "sqlite"};
        int known = 0;
        for (size_t t = 0; t < sizeof types / sizeof *types; t++)
            known |= d->type && !strcmp(d->type, types[t]);
        if (!known || !d->key || !sd_label_valid(d->key, 64) || d->port < 0 || d->port > 65535)
            abort();
        check_text(d->host, 255, 0);
        check_text(d->name, 255, 0);
        check_text(d->user, 255, 0);
        if (cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(dbs, i), "password"))
            abort();
        for (int k = 0; k < i; k++)
            if (!strcmp(b.dbs[k].key, d->key))
                abort();
    }
}

static void fuzz_poll(const cJSON *j)
{
    int64_t agent = 0;
    sd_status st = SD_STATUS_INIT;
    if (sd_decode_poll(j, &agent, &st)) {
        check_refusal(&st, 0);
        return;
    }
    check_id(j, "agent_id", 'a', agent);
}

static void fuzz_prepare(const cJSON *j)
{
    sd_prepare_req q;
    sd_status st = SD_STATUS_INIT;
    if (sd_decode_prepare(j, &q, &st)) {
        check_refusal(&st, 0);
        return;
    }
    check_id(j, "agent_id", 'a', q.agent);
    check_id(j, "job_id", 'j', q.job);
    if ((q.format && !sd_label_valid(q.format, 16)) || (q.compression && !sd_compression_valid(q.compression)) ||
        (q.ext && !sd_extension_valid(q.ext)))
        abort();
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void fuzz_commit(const cJSON *j)
{
    sd_commit_body b;
    sd_status st = SD_STATUS_INIT;
    if (sd_decode_commit(j, MAX_FILESIZE, &b, &st)) {
        check_refusal(&st, 1);
        sd_commit_body_free(&b);
        return;
    }
    const sd_commit_req *q = &b.req;
    if (q->size < 0 || q->size > MAX_FILESIZE || !is_hex64(q->sha256) || q->duration_ms < 0 ||
        q->duration_ms > (INT64_C(1) << 50) || q->raw_size < 0 || q->raw_size > (INT64_C(1) << 60) ||
        q->nparts < 0 || q->nparts > SD_MAX_PARTS)
        abort();
    check_text(q->database, 1000, 0);
    if (q->database && sd_url_has_password(q->database))
        abort();
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(j, "parts");
    if (q->parts_listed != cJSON_IsArray(parts))
        abort();
    if (q->parts_listed && q->nparts > 0) {
        if (!q->etags)
            abort();
        const cJSON *p = parts ? parts->child : NULL;
        for (int i = 0; i < q->nparts; i++, p = p->next) {
            if (!p)
                abort();
            if (!q->etags[i])
                continue;
            check_text(q->etags[i], 200, 1);
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "n");
            if (!cJSON_IsNumber(n) || n->valuedouble != i + 1)
                abort();
        }
    }
    sd_commit_body_free(&b);
}

static void fuzz_fail(const cJSON *j)
{
    const char *code = NULL, *message = NULL;
    char msg[1001];
    sd_status st = SD_STATUS_INIT;
    if (sd_decode_fail(j, &code, &message, msg, &st)) {
        check_refusal(&st, 0);
        return;
    }
    check_text(code, 64, 1);
    if (message && (message != msg || strlen(message) > 1000))
        abort();
}

static int label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

/* The input as a name: a label is 1..64 label characters, sanitizing makes one, an extension is a
 * label of [a-z0-9.] without an empty dot part, and a backup's file name made from them is one
 * path component of label characters. */
static void fuzz_names(const char *s)
{
    size_t n = strlen(s), bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !label_char(s[i]);
    if (sd_label_valid(s, 64) != (n >= 1 && n <= 64 && !bad))
        abort();
    if (n > 64)
        return;
    char a[65];
    memcpy(a, s, n + 1);
    sd_label_sanitize(a);
    if (n && !sd_label_valid(a, 64))
        abort();
    if (sd_extension_valid(s)) {
        if (s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") || n > 16)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
                abort();
        if (n) {
            char file[256];
            sd_backup_file_name(file, s, "production", "postgresql-app", INT64_C(1795686300123), 42, s);
            if (file[0] == '.' || strlen(file) > 255)
                abort();
            for (const char *c = file; *c; c++)
                if (!label_char(*c))
                    abort();
        }
    }
}

/* The input as route pieces: "b_<id>..." and "<part>...". */
static void fuzz_route(const char *s)
{
    const char *p = s;
    int64_t id = sd_id_scan(&p, 'b'), back;
    char want[32];
    if (id >= 0) {
        /* "b_" and digits only, their value (leading zeros are allowed: "b_06" is b_6) */
        size_t digits = (size_t)(p - s) - 2;
        if (id == 0 || s[0] != 'b' || s[1] != '_' || digits < 1 || strspn(s + 2, "0123456789") != digits)
            abort();
        char num[32];
        size_t skip = strspn(s + 2, "0");
        if (digits - skip >= sizeof num)
            abort();
        memcpy(num, s + 2 + skip, digits - skip);
        num[digits - skip] = 0;
        snprintf(want, sizeof want, "%" PRId64, id);
        if (strcmp(num, want) != 0)
            abort();
        sd_id_format(want, 'b', id);
        if (sd_id_parse(want, 'b', &back) != 0 || back != id)
            abort();
    } else if (p != s) {
        abort();
    }
    int64_t whole;
    if (sd_id_parse(s, 'b', &whole) == 0 && (whole != id || *p))
        abort();
    p = s;
    int n = sd_part_number_scan(&p, SD_MAX_PARTS);
    if (n >= 0) {
        snprintf(want, sizeof want, "%d", n);
        if (n < 1 || n > SD_MAX_PARTS || (size_t)(p - s) != strlen(want) || strncmp(s, want, strlen(want)) != 0)
            abort();
    } else if (p != s) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* http/server.c buffers a body with a NUL after it; api.c parses len + 1 bytes */
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = 0;
    fuzz_route(body);
    fuzz_names(body);
    const char *end = NULL;
    cJSON *j = size ? cJSON_ParseWithLengthOpts(body, size + 1, &end, 1) : NULL;
    if (cJSON_IsObject(j)) {
        fuzz_register(j);
        fuzz_poll(j);
        fuzz_prepare(j);
        fuzz_commit(j);
        fuzz_fail(j);
    }
    cJSON_Delete(j);
    free(body);
    return 0;
}
