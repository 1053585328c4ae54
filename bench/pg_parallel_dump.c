/*
 * pg_parallel_dump.c - MOONSHOT PROTOTYPE (measure, not ship): a snapshot-synchronised parallel dump.
 *
 * A leader connection opens a REPEATABLE READ transaction and exports its snapshot
 * (pg_export_snapshot()); JOBS worker connections adopt it (SET TRANSACTION SNAPSHOT), so every
 * worker sees exactly the leader's data. The tables are cut into units of at most CHUNK_MB of heap
 * pages (TID range scans, PostgreSQL 14+: `WHERE ctid >= '(a,0)' AND ctid < '(b,0)'`; the last unit of
 * a table is open-ended), largest first, handed out to the workers; each runs
 * `COPY (SELECT * FROM ONLY t WHERE <tid range>) TO STDOUT` and cuts the rows into 1 MiB records,
 * optionally zstd-compressed by the worker itself, written to ONE output stream as framed records
 * (unit id, raw length, stored length, bytes) under a mutex: the output stays a single stream
 * (streamable: a restore demultiplexes the records per unit, each unit's rows in order, and COPYs
 * them back, units in parallel). The schema comes from `pg_dump --schema-only --snapshot=ID`, run
 * by the leader on the same snapshot while the workers copy (its output is counted, not kept).
 *
 *   pg_parallel_dump CONNINFO JOBS OUTFILE [ZSTD_LEVEL (0 = none)] [CHUNK_MB (default 64)]
 *
 * Prints one line: jobs, units, raw bytes, stored bytes, seconds. Built by bench/pg_parallel.sh.
 * Not part of dumper: no restore side, no error recovery beyond "fail loudly", no catalog of the
 * units (a real format would put the unit table in a trailer), ordinary tables only.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <zstd.h>

typedef struct {
    char *sql; /* the COPY statement */
    long pages;
} unit;

static const char *conninfo;
static char snapshot[64];
static unit *units;
static int nunits;
static atomic_int next_unit;
static int out_fd, zlevel;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t raw_bytes, stored_bytes;

static void die(const char *what, PGconn *c)
{
    fprintf(stderr, "pg_parallel_dump: %s: %s\n", what, c ? PQerrorMessage(c) : "");
    exit(1);
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(sql, c);
    PQclear(r);
}

static void write_all(const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(out_fd, c, n);
        if (w <= 0)
            die("write", NULL);
        c += w;
        n -= (size_t)w;
    }
}

/* One framed record: u32 unit, u32 raw length, u32 stored length, bytes. */
static void emit(ZSTD_CCtx *z, int u, const char *buf, size_t len, char *zbuf, size_t zcap)
{
    const char *data = buf;
    size_t stored = len;
    if (z) {
        stored = ZSTD_compressCCtx(z, zbuf, zcap, buf, len, zlevel);
        if (ZSTD_isError(stored))
            die("zstd", NULL);
        data = zbuf;
    }
    uint32_t hdr[3] = {(uint32_t)u, (uint32_t)len, (uint32_t)stored};
    pthread_mutex_lock(&out_mu);
    write_all(hdr, sizeof hdr);
    write_all(data, stored);
    pthread_mutex_unlock(&out_mu);
    atomic_fetch_add(&raw_bytes, len);
    atomic_fetch_add(&stored_bytes, stored + sizeof hdr);
}

static void *worker(void *arg)
{
    (void)arg;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect", c);
    exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    char set[128];
    snprintf(set, sizeof set, "SET TRANSACTION SNAPSHOT '%s'", snapshot);
    exec_ok(c, set);
    size_t cap = 1 << 20, zcap = ZSTD_compressBound(cap);
    char *buf = malloc(cap), *zbuf = zlevel ? malloc(zcap) : NULL;
    ZSTD_CCtx *z = zlevel ? ZSTD_createCCtx() : NULL;
    for (;;) {
        int u = atomic_fetch_add(&next_unit, 1);
        if (u >= nunits)
            break;
        PGresult *r = PQexec(c, units[u].sql);
        if (PQresultStatus(r) != PGRES_COPY_OUT)
            die(units[u].sql, c);
        PQclear(r);
        size_t len = 0;
        char *row;
        int n;
        while ((n = PQgetCopyData(c, &row, 0)) > 0) {
            if (len + (size_t)n > cap) {
                emit(z, u, buf, len, zbuf, zcap);
                len = 0;
            }
            memcpy(buf + len, row, (size_t)n); /* rows are far below 1 MiB here */
            len += (size_t)n;
            PQfreemem(row);
        }
        if (n == -2)
            die("copy", c);
        if (len)
            emit(z, u, buf, len, zbuf, zcap);
        r = PQgetResult(c);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die("copy end", c);
        PQclear(r);
    }
    exec_ok(c, "COMMIT");
    PQfinish(c);
    ZSTD_freeCCtx(z);
    free(buf);
    free(zbuf);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pg_parallel_dump CONNINFO JOBS OUTFILE [ZSTD_LEVEL] [CHUNK_MB]\n");
        return 2;
    }
    conninfo = argv[1];
    int jobs = atoi(argv[2]);
    zlevel = argc > 4 ? atoi(argv[4]) : 0;
    long chunk_pages = (argc > 5 ? atol(argv[5]) : 64) * 1024 * 1024 / 8192;
    if ((out_fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        die("open output", NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    PGconn *lead = PQconnectdb(conninfo);
    if (PQstatus(lead) != CONNECTION_OK)
        die("connect", lead);
    exec_ok(lead, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PGresult *r = PQexec(lead, "SELECT pg_export_snapshot()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("pg_export_snapshot", lead);
    snprintf(snapshot, sizeof snapshot, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    /* the plan: ordinary user tables, their size now (>= their size at the snapshot) */
    r = PQexec(lead, "SELECT format('%I.%I', n.nspname, c.relname), pg_relation_size(c.oid) / 8192 "
                     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                     "AND n.nspname !~ '^pg_toast' ORDER BY 2 DESC");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("plan", lead);
    int ntables = PQntuples(r);
    units = calloc(4096, sizeof *units);
    for (int t = 0; t < ntables; t++) {
        const char *name = PQgetvalue(r, t, 0);
        long pages = atol(PQgetvalue(r, t, 1));
        for (long from = 0; nunits < 4096; from += chunk_pages) {
            char sql[512];
            if (from + chunk_pages >= pages) {
                snprintf(sql, sizeof sql, "COPY (SELECT * FROM ONLY %s WHERE ctid >= '(%ld,0)') TO STDOUT", name, from);
                units[nunits].sql = strdup(sql);
                units[nunits++].pages = pages - from;
                break;
            }
            snprintf(sql, sizeof sql, "COPY (SELECT * FROM ONLY %s WHERE ctid >= '(%ld,0)' AND ctid < '(%ld,0)') TO STDOUT",
                     name, from, from + chunk_pages);
            units[nunits].sql = strdup(sql);
            units[nunits++].pages = chunk_pages;
        }
    }
    PQclear(r);

    pthread_t *th = calloc((size_t)jobs, sizeof *th);
    for (int i = 0; i < jobs; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    /* the schema, on the same snapshot, meanwhile */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "pg_dump --schema-only --snapshot=%s -d '%s' | wc -c > /dev/null", snapshot, conninfo);
    if (system(cmd) != 0)
        die("pg_dump --schema-only", NULL);
    for (int i = 0; i < jobs; i++)
        pthread_join(th[i], NULL);
    exec_ok(lead, "COMMIT");
    PQfinish(lead);
    close(out_fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("jobs %d units %d raw %llu stored %llu seconds %.2f\n", jobs, nunits,
           (unsigned long long)atomic_load(&raw_bytes), (unsigned long long)atomic_load(&stored_bytes),
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
