/*
 * agent.c - the embedded agent: one background thread per process (dumper_agent_* in dumper.h).
 *
 * Design. All shared state (the current agent, its status snapshot) sits behind one mutex, g_mu,
 * which is only ever held for a few instructions, never across I/O. The thread is detached; it
 * sleeps in dp_sleep_ms() on a stop request (core/stop.h: a condition variable, no wake-ups in
 * between), so dumper_agent_stop() wakes it at once, and its HTTP client checks the same stop every
 * 100 ms while a request runs, so a request in flight is aborted within about 100 ms. The thread
 * blocks every signal: the host's handlers never run on it and no signal of ours reaches the host.
 *
 * Fork safety. pthread_atfork: the prepare handler takes g_mu and the stop's lock so no other
 * thread holds them across fork(); the parent releases them; the child re-initialises them and
 * forgets the agent (the thread
 * does not exist there). The agent's memory and curl handle are deliberately leaked in the child:
 * freeing curl/OpenSSL state another thread may have been using at the time of fork() is not safe.
 *
 * Life cycle: NONE -> RUNNING (start) -> STOPPING (stop) -> NONE (thread exit). The thread also
 * ends by itself when the app key is refused (401): the status then says disabled.
 *
 * Logging of failures. A host may run for days against a wrong API base or a dead dumperd, so a
 * failing exchange is logged at WARN once per kind of failure (the HTTP status of an answer, or the
 * transport error: see fail_kind) and at DEBUG on every retry of the same kind; a new kind is a new
 * WARN line, and the first success after failures is one INFO line. "agent starting" is the only
 * line before the outcome of the first registration, which is "registered ... as primary/secondary"
 * or the failure.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"
#include "agent/proto.h"
#include "agent/spawn.h"
#include "core/dburl.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/util.h"
#include "dp_version.h"
#include "http/http.h"

enum { ST_NONE = 0, ST_RUNNING, ST_STOPPING };

/* dumper_agent_stop waits this long for the thread: a request in flight aborts within ~100 ms, then the
 * release (at most 1.5 s) runs. */
#define DP_AGENT_STOP_WAIT_MS 2000

typedef struct agent {
    char *app_key, *api_base, *environment, *app_name, *framework, *dispatcher, *dumper_path, *log_file, *ca_file,
        *proxy, *hostname;
    char *drill_scratch, *drill_scratch_password; /* secrets (the URL may hold a password) */
    char **drill_ids;       /* absolute paths of the drill identity files (the keys stay in them) */
    size_t ndrill_ids;
    int drill_id_bad, drill_id_errno; /* 1 + the index of a path realpath() refused, and why */
    int debug, insecure;
    uint64_t max_retry_ms;
    int job_nice, job_ioclass, job_iolevel; /* the agent's own job priority; DP_PRIO_UNSET: not set */
    dp_agent_db *dbs;
    size_t ndbs;
    int log_fd; /* owned when log_file is set, else -1 */
    dp_client *client;
    dp_limits limits;
    char agent_id[DP_API_ID_MAX];
    int role;
    uint64_t rnd;
    long last_status; /* of the last exchange: HTTP status (0: no answer) and CURLcode */
    int last_curl;
} agent;

/* What went wrong in one exchange, coarsely: a retry that fails the same way is not logged again. */
typedef struct fail_kind {
    int rc;
    long status;
    int curl_code;
} fail_kind;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_state = ST_NONE;
static dp_stop g_stop; /* not interruptible: the host's signals are not ours */
static dumper_agent_status g_st; /* snapshot; guarded by g_mu */
static struct agent *g_current;   /* the running agent's state (owned by its thread); guarded by g_mu */
static struct agent *volatile g_forgotten; /* in a forked child: the parent's agent, deliberately kept (see top) */

/* ---- fork handling ---- */

static void init_cv(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&g_mu);
    pthread_mutex_lock(&g_stop.mu);
}
static void atfork_parent(void)
{
    pthread_mutex_unlock(&g_stop.mu);
    pthread_mutex_unlock(&g_mu);
}
static void atfork_child(void)
{
    /* Only the forking thread exists here. Re-create the locks and forget the agent. */
    pthread_mutex_init(&g_mu, NULL);
    init_cv();
    dp_stop_init(&g_stop, 0);
    g_state = ST_NONE;
    memset(&g_st, 0, sizeof g_st);
    if (g_current)
        g_forgotten = g_current;
    g_current = NULL;
}

/* At exit() the thread is stopped before libcurl/OpenSSL's own exit handlers tear down state it may
 * be using: libcurl (and so OpenSSL) is initialised here, before our handler is registered, and
 * atexit handlers run in reverse order. */
static void at_exit(void)
{
    (void)dumper_agent_stop();
}

static void once_init(void)
{
    init_cv();
    dp_stop_init(&g_stop, 0);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    (void)curl_global_init(CURL_GLOBAL_DEFAULT); /* thread-safe since libcurl 7.84 */
    atexit(at_exit);
}

/* ---- helpers ---- */

static uint32_t next_rand(agent *a)
{
    /* xorshift64*: jitter only, not security */
    uint64_t x = a->rnd;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    a->rnd = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static void set_status(agent *a, int rc)
{
    pthread_mutex_lock(&g_mu);
    if (g_state == ST_RUNNING)
        g_st.role = !a->agent_id[0] ? DUMPER_AGENT_STARTING
                    : a->role == DP_ROLE_PRIMARY ? DUMPER_AGENT_PRIMARY
                                                  : DUMPER_AGENT_SECONDARY;
    memcpy(g_st.agent_id, a->agent_id, sizeof g_st.agent_id);
    g_st.last_error = rc;
    if (!rc)
        g_st.last_contact_ms = dp_now_ms();
    pthread_mutex_unlock(&g_mu);
}

static void agent_free(agent *a)
{
    if (!a)
        return;
    dp_client_free(a->client);
    dp_free_secret(a->app_key);
    dp_free_secret(a->drill_scratch);
    dp_free_secret(a->drill_scratch_password);
    for (size_t i = 0; i < a->ndrill_ids; i++)
        free(a->drill_ids[i]);
    free(a->drill_ids);
    char *plain[] = {a->api_base, a->environment, a->app_name, a->framework, a->dispatcher,
                     a->dumper_path, a->log_file, a->ca_file, a->proxy, a->hostname};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        free(plain[i]);
    for (size_t i = 0; i < a->ndbs; i++) {
        dp_free_secret(a->dbs[i].url);
        free(a->dbs[i].key);
        free(a->dbs[i].format);
        free(a->dbs[i].custom_options);
    }
    free(a->dbs);
    if (a->log_fd >= 0) {
        dp_log_set_fd(2);
        close(a->log_fd);
    }
    free(a);
}

/* Map a non-200 answer to an error code and one log-friendly message. */
static int http_error(const agent *a, const char *what, long status, const dp_buf *body, dp_err *err)
{
    char msg[256];
    dp_proto_error_message(body->data, body->len, msg, sizeof msg);
    int code = status == 401 ? DUMPER_EAUTH : status == 404 ? DUMPER_ENOENT : status >= 500 ? DUMPER_ECONNECT : DUMPER_EPROTO;
    return dp_err_set(err, code, "%s at %s failed: HTTP %ld%s%s", what, a->api_base, status,
                      msg[0] ? ": " : "", msg);
}

/* What to check, for failures dumperd itself never causes: an answer that is not its agent API (a
 * wrong API base, another server on that port) or TLS trouble. "" when none applies. */
static const char *failure_hint(const agent *a, int rc)
{
    long s = a->last_status;
    if (s == 404 || s == 405 || s == 501 || (s >= 200 && s < 300 && rc == DUMPER_EPROTO))
        return " (this is not dumperd's agent API: check the API base URL)";
    if (a->last_curl == CURLE_PEER_FAILED_VERIFICATION)
        return " (the server's TLS certificate is not trusted: check the API base URL or give the agent a CA file)";
    if (a->last_curl == CURLE_SSL_CONNECT_ERROR)
        return " (TLS handshake failed: is the server at the API base URL an https server?)";
    return "";
}

/* ---- register / poll / job ---- */

/* Read up to n - 1 bytes of a small /proc file into buf (NUL-terminated); -1 when it cannot be read. */
static int read_small(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = 0;
    return 0;
}

/* "<boot id>:<start time in clock ticks since boot>" of this process (Linux /proc), which a re-exec in place
 * keeps and another process with the same pid (another container) does not: dumperd hands a live lease to a
 * registration of the primary's host and pid only when this matches too. 0, or -1 without /proc (then
 * nothing is sent and dumperd judges by host and pid alone). */
static int process_start(char out[DP_PROCESS_START_MAX])
{
    char boot[64], stat[1024];
    if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot) ||
        read_small("/proc/self/stat", stat, sizeof stat))
        return -1;
    boot[strcspn(boot, "\n")] = 0;
    if (!boot[0] || strspn(boot, "0123456789abcdef-") != strlen(boot))
        return -1;
    /* the command name (field 2) is in parentheses and may hold anything: count fields after the last ')' */
    const char *p = strrchr(stat, ')');
    if (!p)
        return -1;
    for (int field = 3; field <= 22 && p; field++) /* p: the space before field 3, ..., 22 (starttime) */
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    size_t digits = strspn(p + 1, "0123456789");
    if (!digits || digits > 20)
        return -1;
    int len = snprintf(out, DP_PROCESS_START_MAX, "%s:%.*s", boot, (int)digits, p + 1);
    return len > 0 && len < DP_PROCESS_START_MAX ? 0 : -1;
}

static int do_register(agent *a, int64_t *interval_ms, dp_err *err)
{
    char start[DP_PROCESS_START_MAX];
    dp_register_req req = {.hostname = a->hostname, .pid = (long)getpid(), .agent_version = DP_VERSION_STRING,
                           .app_name = a->app_name, .environment = a->environment, .framework = a->framework,
                           .dispatcher = a->dispatcher, .dbs = a->dbs, .ndbs = a->ndbs, .drill = 1,
                           .process_start = process_start(start) ? NULL : start};
    char *json = dp_proto_register_json(&req);
    if (!json)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_http_resp ans = {0};
    int rc = dp_client_post(a->client, NULL, DP_API_PREFIX "/agents/register", json, &ans, err);
    free(json);
    a->last_status = ans.status;
    a->last_curl = ans.curl_code;
    if (!rc && ans.status != 200)
        rc = http_error(a, "registration", ans.status, &ans.body, err);
    dp_register_resp resp;
    if (!rc && !(rc = dp_proto_parse_register(ans.body.data, ans.body.len, a->ndbs, &resp, err))) {
        memcpy(a->agent_id, resp.agent_id, sizeof a->agent_id);
        a->role = resp.role;
        a->limits = resp.limits;
        for (size_t i = 0; i < a->ndbs; i++)
            memcpy(a->dbs[i].id, resp.db_ids[i], sizeof a->dbs[i].id);
        *interval_ms = resp.interval_ms;
        dp_register_resp_free(&resp);
    }
    dp_http_resp_free(&ans);
    return rc;
}

static void run_job(agent *a, const dp_job_offer *j)
{
    dp_agent_db *db = NULL;
    for (size_t i = 0; i < a->ndbs && !db; i++)
        if (strcmp(a->dbs[i].id, j->database_id) == 0)
            db = &a->dbs[i];
    for (size_t i = 0; i < a->ndbs && !db && j->database_key[0]; i++)
        if (a->dbs[i].key && strcmp(a->dbs[i].key, j->database_key) == 0)
            db = &a->dbs[i];
    if (!db) {
        dp_error("job %s names database %s, which this agent does not have; the job is left to expire", j->job_id,
                 j->database_id);
        return;
    }
    int drill = j->kind == DP_JOB_DRILL;
    dp_job_spec s = {.api_base = a->api_base, .app_key = a->app_key, .ca_file = a->ca_file, .proxy = a->proxy,
                     .insecure = a->insecure, .debug = a->debug, .agent_id = a->agent_id, .job_id = (char *)j->job_id,
                     .database_id = (char *)j->database_id, .database_key = db->key, .reason = (char *)j->reason,
                     .db_url = db->url, .format = db->format, .custom_options = db->custom_options,
                     .max_filesize = a->limits.max_filesize, .max_part_size = a->limits.max_part_size,
                     .max_parts = a->limits.max_parts};
    if (drill) { /* a drill reads the backup, never the source: its credentials stay here */
        s.kind = DP_JOB_DRILL;
        s.db_url = s.format = s.custom_options = NULL;
        s.backup_id = (char *)j->backup_id;
        s.file_name = (char *)j->file_name;
        s.sha256 = (char *)j->sha256;
        s.source_type = j->type[0] ? (char *)j->type : NULL;
        s.scratch_url = a->drill_scratch;
        s.scratch_password = a->drill_scratch_password;
        s.identities = a->drill_ids;
        s.nidentities = a->ndrill_ids;
        s.lease_ms = j->lease_ms;
    }
    if (!s.reason[0])
        s.reason = NULL;
    s.nrecipients = drill ? 0 : j->policy.nrecipients;
    memcpy(s.recipients, j->policy.recipients, sizeof s.recipients);
    s.limit_rate = drill ? 0 : j->policy.limit_rate; /* the app's (dumperd app set --limit-rate); 0: none */
    char *json = dp_job_spec_to_json(&s);
    if (!json) {
        dp_error("job %s: out of memory", j->job_id);
        return;
    }
    dp_err err = {0};
    pid_t pid = 0;
    dp_job_prio prio;
    dp_job_priority(a->job_nice, a->job_ioclass, a->job_iolevel, &j->policy, &prio);
    int prio_err = 0;
    int rc = dp_spawn_job(a->dumper_path, json, a->log_fd >= 0 ? a->log_fd : 2, &prio, &g_stop, &pid, &prio_err, &err);
    dp_free_secret(json);
    if (rc) {
        dp_error("job %s: %s", j->job_id, err.msg);
        return;
    }
    char io[24];
    if (prio.ioclass == DP_IOPRIO_BE)
        snprintf(io, sizeof io, "best-effort:%d", prio.iolevel);
    else
        snprintf(io, sizeof io, "%s", prio.ioclass == DP_IOPRIO_IDLE ? "idle" : "host's");
    if (drill)
        dp_info("drill job %s (%s) of backup %s of database %s: started job process %ld (nice %d, I/O %s)",
                j->job_id, j->reason[0] ? j->reason : "job", j->backup_id, db->key ? db->key : j->database_id,
                (long)pid, prio.nice, io);
    else
        dp_info("job %s (%s) for database %s: started job process %ld (nice %d, I/O %s%s)", j->job_id,
                j->reason[0] ? j->reason : "job", db->key ? db->key : j->database_id, (long)pid, prio.nice, io,
                s.nrecipients ? ", encrypted" : "");
    if (prio_err)
        dp_warn("job %s: its priority could not be lowered as asked: %s (it runs anyway)", j->job_id,
                strerror(prio_err));
    pthread_mutex_lock(&g_mu);
    g_st.jobs_started++;
    pthread_mutex_unlock(&g_mu);
}

/* 0: ok (interval set); DUMPER_ENOENT: unknown agent (register again); other: error. */
static int do_poll(agent *a, int64_t *interval_ms, dp_err *err)
{
    char *json = dp_asprintf("{\"agent_id\":\"%s\"}", a->agent_id); /* id validated: no escaping needed */
    if (!json)
        return dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    dp_http_resp ans = {0};
    int rc = dp_client_post(a->client, NULL, DP_API_PREFIX "/agents/poll", json, &ans, err);
    free(json);
    a->last_status = ans.status;
    a->last_curl = ans.curl_code;
    if (!rc && ans.status != 200)
        rc = http_error(a, "poll", ans.status, &ans.body, err);
    dp_poll_resp p;
    if (!rc && !(rc = dp_proto_parse_poll(ans.body.data, ans.body.len, &p, err))) {
        if (p.role != a->role)
            dp_info("role changed: now %s", p.role == DP_ROLE_PRIMARY ? "primary" : "secondary");
        a->role = p.role;
        *interval_ms = p.interval_ms;
        dp_debug("poll: %s, next in %lld ms%s", p.role == DP_ROLE_PRIMARY ? "primary" : "secondary",
                 (long long)p.interval_ms, p.has_job ? ", with a job" : "");
        if (p.has_job && p.role == DP_ROLE_PRIMARY) {
            set_status(a, 0);
            run_job(a, &p.job);
        }
    }
    dp_http_resp_free(&ans);
    return rc;
}

/* A graceful stop: tell the control plane this agent is gone, so that when it was primary the next agent to
 * register or poll takes over at once instead of after the lease. Its own client, without the stop (which
 * is requested already) and with short timeouts: dumper_agent_stop waits DP_AGENT_STOP_WAIT_MS for it. */
static void do_release(agent *a)
{
    dp_client_opts co = {.api_base = a->api_base, .app_key = a->app_key, .ca_file = a->ca_file, .proxy = a->proxy,
                         .insecure = a->insecure, .connect_timeout_ms = 1000, .timeout_ms = 1500, .no_keepalive = 1};
    dp_client *c = dp_client_new(&co);
    char *json = c ? dp_asprintf("{\"agent_id\":\"%s\"}", a->agent_id) : NULL;
    dp_http_resp ans = {0};
    dp_err err = {0};
    if (!json)
        dp_warn("agent %s: lease not released: out of memory", a->agent_id);
    else if (dp_client_post(c, NULL, DP_API_PREFIX "/agents/release", json, &ans, &err))
        dp_warn("agent %s: lease not released (%s); it lapses by itself", a->agent_id, err.msg);
    else if (ans.status != 200)
        dp_warn("agent %s: lease not released (HTTP %ld); it lapses by itself", a->agent_id, ans.status);
    else
        dp_info("agent %s released its registration%s", a->agent_id,
                a->role == DP_ROLE_PRIMARY ? " and its primary lease" : "");
    dp_http_resp_free(&ans);
    free(json);
    dp_client_free(c);
}

static void *agent_main(void *arg)
{
    agent *a = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    dp_client_opts co = {.api_base = a->api_base, .app_key = a->app_key, .ca_file = a->ca_file, .proxy = a->proxy,
                         .insecure = a->insecure, .stop = &g_stop,
                         /* no idle connection across sleeps: between polls the host holds no socket
                          * of ours (and every poll pays a full connect, as at production intervals) */
                         .no_keepalive = 1};
    a->client = dp_client_new(&co);
    if (!a->client)
        dp_error("agent: unable to initialise libcurl; agent stopped");
    dp_info("agent starting (dumper %s, api %s, environment %s, %zu database%s)", DP_VERSION_STRING, a->api_base,
            a->environment, a->ndbs, a->ndbs == 1 ? "" : "s");
    unsigned failures = 0;
    fail_kind last = {0};
    int registered = 0, disabled = 0, interrupted = 0;
    while (a->client && !dp_stop_requested(&g_stop)) {
        dp_err err = {0};
        int64_t interval = 0;
        int rc = registered ? do_poll(a, &interval, &err) : do_register(a, &interval, &err);
        if (dp_stop_requested(&g_stop)) {
            interrupted = rc != 0;
            break;
        }
        /* DUMPER_EAUTH is also an untrusted TLS certificate: only the key's refusal stops the agent */
        if (rc == DUMPER_EAUTH && a->last_status == 401) {
            dp_error("the control plane at %s refused the app key (HTTP 401): agent stopped; check the app key",
                     a->api_base);
            disabled = 1;
            break;
        }
        if (rc == DUMPER_ENOENT && registered) {
            dp_warn("the control plane no longer knows agent %s; registering again", a->agent_id);
            registered = 0;
            a->agent_id[0] = 0;
            set_status(a, rc);
            continue;
        }
        if (rc) {
            uint64_t d = dp_backoff_ms(failures, 1000, a->max_retry_ms, next_rand(a));
            fail_kind k = {.rc = rc, .status = a->last_status, .curl_code = a->last_curl};
            if (failures && k.rc == last.rc && k.status == last.status && k.curl_code == last.curl_code)
                dp_debug("%s; retrying in %.1f s (attempt %u)", err.msg, (double)d / 1000.0, failures + 2);
            else
                dp_warn("%s%s; retrying in %.1f s, then with backoff up to %.0f s (logged again when the failure "
                        "changes)",
                        err.msg, failure_hint(a, rc), (double)d / 1000.0, (double)a->max_retry_ms / 1000.0);
            last = k;
            failures++;
            set_status(a, rc);
            if (dp_sleep_ms((int64_t)d, &g_stop))
                break;
            continue;
        }
        if (!registered && failures)
            dp_info("registered with %s as agent %s (%s) after %u failed attempt%s, next poll in %.1f s", a->api_base,
                    a->agent_id, a->role == DP_ROLE_PRIMARY ? "primary" : "secondary", failures,
                    failures == 1 ? "" : "s", (double)interval / 1000.0);
        else if (!registered)
            dp_info("registered with %s as agent %s (%s), next poll in %.1f s", a->api_base, a->agent_id,
                    a->role == DP_ROLE_PRIMARY ? "primary" : "secondary", (double)interval / 1000.0);
        else if (failures)
            dp_info("control plane reachable again after %u failed attempt%s", failures, failures == 1 ? "" : "s");
        registered = 1;
        failures = 0;
        set_status(a, 0);
        if (dp_sleep_ms(interval, &g_stop))
            break;
    }
    /* not after failures, nor when the stop cut a request short: a server that does not answer would only
     * hold the stop up for the release's timeout */
    if (registered && !disabled && !interrupted && !failures)
        do_release(a);
    dp_info("agent stopped");
    pthread_mutex_lock(&g_mu);
    g_current = NULL;
    pthread_mutex_unlock(&g_mu);
    agent_free(a); /* outside the lock: curl may still close a connection */
    pthread_mutex_lock(&g_mu);
    g_state = ST_NONE;
    g_st.running = 0;
    g_st.role = DUMPER_AGENT_NONE;
    g_st.disabled = disabled;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* ---- public API ---- */

static int valid_label(const char *s, size_t max)
{
    return s && dp_proto_valid_id(s) && strlen(s) <= max;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

_Static_assert(DP_JOB_MAX_IDENTITIES == DUMPER_DRILL_IDENTITIES_MAX, "a job spec carries every drill identity");

#define DUP_OR_FAIL(dst, src)                                                                                          \
    do {                                                                                                               \
        if ((src) && !((dst) = strdup(src)))                                                                           \
            goto nomem;                                                                                                \
    } while (0)

static int copy_opts(const dumper_agent_opts *in, agent **out)
{
    agent *a = calloc(1, sizeof *a);
    if (!a)
        return DUMPER_ENOMEM;
    a->log_fd = -1;
    DUP_OR_FAIL(a->app_key, in->app_key);
    DUP_OR_FAIL(a->api_base, in->api_base ? in->api_base : DP_API_DEFAULT_BASE);
    DUP_OR_FAIL(a->environment, in->environment ? in->environment : "production");
    DUP_OR_FAIL(a->app_name, in->app_name);
    DUP_OR_FAIL(a->framework, in->framework);
    DUP_OR_FAIL(a->dispatcher, in->dispatcher);
    const char *exe = in->dumper_path ? in->dumper_path : getenv("DUMPER_PATH");
    DUP_OR_FAIL(a->dumper_path, exe && *exe ? exe : "dumper");
    DUP_OR_FAIL(a->log_file, in->log_file);
    DUP_OR_FAIL(a->ca_file, in->ca_file);
    DUP_OR_FAIL(a->proxy, in->proxy);
    DUP_OR_FAIL(a->drill_scratch, in->drill_scratch);
    DUP_OR_FAIL(a->drill_scratch_password, in->drill_scratch_password);
    char host[256] = "";
    if (!in->hostname && gethostname(host, sizeof host - 1) < 0)
        memcpy(host, "unknown", 8);
    const char *hp = in->hostname ? in->hostname : host;
    DUP_OR_FAIL(a->hostname, hp);
    a->debug = in->debug;
    a->insecure = in->tls_insecure;
    a->max_retry_ms = in->max_retry_ms ? in->max_retry_ms : 300000;
    /* job_nice and job_ionice are checked by validate() */
    a->job_nice = in->job_nice == 0 ? DP_PRIO_UNSET : in->job_nice == DUMPER_JOB_NICE_KEEP ? 0 : in->job_nice;
    a->job_ioclass = DP_PRIO_UNSET;
    if (in->job_ionice && dp_proto_parse_ionice(in->job_ionice, &a->job_ioclass, &a->job_iolevel))
        a->job_ioclass = -2; /* invalid: refused by validate() */
    if (in->ndrill_identities && in->drill_identities) {
        size_t n = in->ndrill_identities > DUMPER_DRILL_IDENTITIES_MAX ? DUMPER_DRILL_IDENTITIES_MAX + 1
                                                                       : in->ndrill_identities;
        if (!(a->drill_ids = calloc(n, sizeof *a->drill_ids)))
            goto nomem;
        for (; a->ndrill_ids < n; a->ndrill_ids++) { /* the job process may run elsewhere than in this cwd */
            const char *p = in->drill_identities[a->ndrill_ids];
            char *r = p ? realpath(p, NULL) : NULL;
            if (!r && !a->drill_id_bad) {
                a->drill_id_bad = (int)a->ndrill_ids + 1;
                a->drill_id_errno = p ? errno : EINVAL;
            }
            if (!r && p && !(r = strdup(p)))
                goto nomem;
            a->drill_ids[a->ndrill_ids] = r;
        }
    }
    if (in->ndatabases && in->databases) {
        if (in->ndatabases > DP_AGENT_MAX_DBS) {
            a->ndbs = 0;
            *out = a;
            return DUMPER_EUSAGE;
        }
        if (!(a->dbs = calloc(in->ndatabases, sizeof *a->dbs)))
            goto nomem;
        a->ndbs = in->ndatabases;
        for (size_t i = 0; i < a->ndbs; i++) {
            const dumper_database *d = &in->databases[i];
            DUP_OR_FAIL(a->dbs[i].url, d->url);
            DUP_OR_FAIL(a->dbs[i].key, d->key);
            DUP_OR_FAIL(a->dbs[i].format, d->format);
            DUP_OR_FAIL(a->dbs[i].custom_options, d->custom_options);
        }
    }
    *out = a;
    return 0;
nomem:
    agent_free(a);
    return DUMPER_ENOMEM;
}

/* Checks the copied options; logs the reason of a refusal (never a secret). */
static int validate(const agent *a, const dumper_agent_opts *in)
{
    if (!a->app_key || !*a->app_key || !printable(a->app_key) || strlen(a->app_key) > 256) {
        dp_error("agent not started: %s", a->app_key && *a->app_key ? "the app key is malformed" : "no app key given");
        return DUMPER_EUSAGE;
    }
    if ((strncmp(a->api_base, "http://", 7) != 0 && strncmp(a->api_base, "https://", 8) != 0) ||
        !printable(a->api_base) || strchr(a->api_base, '@')) {
        dp_error("agent not started: the API base must be an http:// or https:// URL without credentials");
        return DUMPER_EUSAGE;
    }
    if (!valid_label(a->environment, 64)) {
        dp_error("agent not started: invalid environment name (use letters, digits, '_', '.', '-')");
        return DUMPER_EUSAGE;
    }
    if (in->job_nice != DUMPER_JOB_NICE_KEEP && (in->job_nice < 0 || in->job_nice > 19)) {
        dp_error("agent not started: job_nice must be 1 to 19 (0: the default, DUMPER_JOB_NICE_KEEP: the host's)");
        return DUMPER_EUSAGE;
    }
    if (a->job_ioclass == -2) {
        dp_error("agent not started: job_ionice must be idle, best-effort, best-effort:0 to best-effort:7, or none");
        return DUMPER_EUSAGE;
    }
    if (in->ndatabases > DP_AGENT_MAX_DBS || (in->ndatabases && !in->databases)) {
        dp_error("agent not started: at most %d databases", DP_AGENT_MAX_DBS);
        return DUMPER_EUSAGE;
    }
    const char *infos[] = {a->app_name, a->framework, a->dispatcher, a->hostname};
    for (size_t i = 0; i < 4; i++)
        if (infos[i] && (!printable(infos[i]) || strlen(infos[i]) > 200)) {
            dp_error("agent not started: app name, framework, dispatcher and hostname must be printable, 200 chars at most");
            return DUMPER_EUSAGE;
        }
    if (a->drill_scratch) { /* a server drills may create databases on; the message never shows the URL */
        dp_dburl u;
        dp_err e = {0};
        if (dp_dburl_parse(a->drill_scratch, &u, &e)) {
            dp_error("agent not started: the drill scratch URL is not a database URL");
            return DUMPER_EUSAGE;
        }
        int server = u.type == DP_DB_POSTGRES || u.type == DP_DB_MYSQL;
        dp_dburl_free(&u);
        if (!server) {
            dp_error("agent not started: the drill scratch URL must be a postgres:// or mysql:// (mariadb://) server");
            return DUMPER_EUSAGE;
        }
    }
    if (a->ndrill_ids > DUMPER_DRILL_IDENTITIES_MAX) {
        dp_error("agent not started: at most %d drill identity files", DUMPER_DRILL_IDENTITIES_MAX);
        return DUMPER_EUSAGE;
    }
    for (size_t i = 0; i < a->ndrill_ids; i++) { /* its name is no secret; its content is never read here */
        const char *p = a->drill_ids[i];
        int e = a->drill_id_bad == (int)i + 1 ? a->drill_id_errno : access(p, R_OK) < 0 ? errno : 0;
        if (!p || e || !printable(p) || strlen(p) > 4096) {
            dp_error("agent not started: the drill identity file '%s' cannot be read: %s", p && printable(p) ? p : "?",
                     strerror(e ? e : EINVAL));
            return DUMPER_EUSAGE;
        }
    }
    const char *spw = a->drill_scratch_password;
    if (spw && (!printable(spw) || strlen(spw) > 1024)) {
        dp_error("agent not started: the drill scratch password must be printable, 1024 characters at most");
        return DUMPER_EUSAGE;
    }
    for (size_t i = 0; i < a->ndbs; i++) {
        const dp_agent_db *d = &a->dbs[i];
        dp_dburl u;
        dp_err e = {0};
        if (!d->url) {
            dp_error("agent not started: database %zu has no URL", i + 1);
            return DUMPER_EUSAGE;
        }
        if (dp_dburl_parse(d->url, &u, &e)) {
            dp_error("agent not started: database %zu: %s", i + 1, e.msg);
            return DUMPER_EUSAGE;
        }
        /* the scheme table of the URL parser is the list of databases the engine backs up (the
         * `dumper` executable checks its drivers against it: test_agent_proto); no driver is
         * loaded into the host for this check */
        int known = (unsigned)u.type < DP_DB__COUNT;
        dp_dburl_free(&u);
        if (!known) {
            dp_error("agent not started: database %zu: no driver for this type", i + 1);
            return DUMPER_EUSAGE;
        }
        if (d->key && !valid_label(d->key, 64)) {
            dp_error("agent not started: database %zu: invalid key (use letters, digits, '_', '.', '-')", i + 1);
            return DUMPER_EUSAGE;
        }
    }
    return 0;
}

int dumper_agent_start(const dumper_agent_opts *opts)
{
    if (!opts || opts->size < offsetof(dumper_agent_opts, app_key) + sizeof opts->app_key)
        return DUMPER_EUSAGE;
    dumper_agent_opts in;
    memset(&in, 0, sizeof in);
    memcpy(&in, opts, opts->size < sizeof in ? opts->size : sizeof in);
    pthread_once(&g_once, once_init);

    pthread_mutex_lock(&g_mu);
    int busy = g_state != ST_NONE;
    pthread_mutex_unlock(&g_mu);
    if (busy)
        return DUMPER_EBUSY;

    agent *a = NULL;
    int rc = copy_opts(&in, &a);
    if (rc == DUMPER_ENOMEM)
        return rc;
    if (a->log_file) {
        a->log_fd = open(a->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (a->log_fd < 0) {
            dp_error("agent not started: unable to open log file '%s': %s", a->log_file, strerror(errno));
            agent_free(a);
            return DUMPER_EIO;
        }
    }
    int prev_fd = -1;
    if (a->log_fd >= 0) {
        dp_log_set_fd(a->log_fd);
        prev_fd = 2;
    }
    dp_log_set_level(a->debug ? DP_LOG_DEBUG : DP_LOG_INFO);
    if (!rc)
        rc = validate(a, &in);
    else
        dp_error("agent not started: at most %d databases", DP_AGENT_MAX_DBS);
    if (rc) {
        if (prev_fd >= 0)
            dp_log_set_fd(prev_fd);
        agent_free(a);
        return rc;
    }
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)dp_now_ms() ^ ((uint64_t)getpid() << 32);
    a->rnd = seed | 1;

    pthread_mutex_lock(&g_mu);
    if (g_state != ST_NONE) {
        pthread_mutex_unlock(&g_mu);
        agent_free(a);
        return DUMPER_EBUSY;
    }
    dp_stop_clear(&g_stop);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    /* the new thread starts with every signal blocked: no window where a signal lands on it */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int e = pthread_create(&t, &attr, agent_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e) {
        pthread_mutex_unlock(&g_mu);
        dp_error("agent not started: unable to create its thread: %s", strerror(e));
        agent_free(a);
        return DUMPER_EINTERNAL;
    }
    g_state = ST_RUNNING;
    g_current = a;
    memset(&g_st, 0, sizeof g_st);
    g_st.running = 1;
    g_st.role = DUMPER_AGENT_STARTING;
    pthread_mutex_unlock(&g_mu);
    return DUMPER_OK;
}

int dumper_agent_stop(void)
{
    pthread_once(&g_once, once_init);
    pthread_mutex_lock(&g_mu);
    if (g_state == ST_NONE) {
        pthread_mutex_unlock(&g_mu);
        return DUMPER_ENOENT;
    }
    g_state = ST_STOPPING;
    g_st.role = DUMPER_AGENT_STOPPING;
    dp_stop_request(&g_stop);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += DP_AGENT_STOP_WAIT_MS / 1000;
    while (g_state != ST_NONE)
        if (pthread_cond_timedwait(&g_cv, &g_mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&g_mu);
    return DUMPER_OK;
}

int dumper_agent_status_get(dumper_agent_status *st)
{
    if (!st || st->size == 0)
        return DUMPER_EUSAGE;
    pthread_once(&g_once, once_init);
    dumper_agent_status snap;
    pthread_mutex_lock(&g_mu);
    snap = g_st;
    pthread_mutex_unlock(&g_mu);
    size_t n = st->size < sizeof snap ? st->size : sizeof snap;
    snap.size = st->size;
    memcpy(st, &snap, n);
    return DUMPER_OK;
}

const char *dumper_agent_role_name(int role)
{
    switch (role) {
    case DUMPER_AGENT_STARTING: return "starting";
    case DUMPER_AGENT_PRIMARY: return "primary";
    case DUMPER_AGENT_SECONDARY: return "secondary";
    case DUMPER_AGENT_STOPPING: return "stopping";
    default: return "none";
    }
}
