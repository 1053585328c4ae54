/*
 * drill_job.c - the job process's side of a drill job (docs/drills.md "Drills run by dumperd"): download the
 * backup and its manifest from dumperd into a private temporary directory, run the drill (job/drill.h: the
 * same safe restore and comparison as `dumper drill`), report the `dumper drill --json` object to dumperd,
 * remove the download. A drill that cannot run (no scratch server for a server database, a download that
 * failed, a restore that failed) is reported too, as status "error" with its reason: never a silent skip.
 *
 * Engine code: runs in the `dumper` executable, never in a host process.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"
#include "agent/job.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/age.h"
#include "job/drill.h"
#include "job/manifest.h"
#include "storage/storage.h"

/* The download directory is named like a drill's own ("dumper-drill-<pid>-XXXXXX"): one that a killed job
 * process left is removed by the next SQLite or Redis drill in that directory, as its own leftovers are. */

typedef struct dl_file {
    int fd;
    uint64_t n, max; /* max 0: no limit */
    dp_err err;
} dl_file;

static int dl_write(void *ctx, long status, const void *p, size_t n)
{
    dl_file *f = ctx;
    (void)status;
    if (f->max && f->n + n > f->max) {
        dp_err_set(&f->err, DUMPER_EPROTO, "the answer is larger than %llu bytes", (unsigned long long)f->max);
        return 1;
    }
    if (dp_write_all(f->fd, p, n)) {
        dp_err_sys(&f->err, errno == ENOSPC ? DUMPER_ENOSPC : DUMPER_EIO, errno, "unable to write the download");
        return 1;
    }
    f->n += n;
    return 0;
}

/* GET path (on the API) into a new file `dest` (0600): the whole answer (at most max bytes; 0: no limit), 200
 * only. */
static int download(dp_client *c, dp_http *h, const char *path, const char *dest, uint64_t max, const char *what,
                    dp_err *err)
{
    char *url = dp_client_url(c, path);
    struct curl_slist *hdrs = NULL;
    dl_file f = {.fd = -1, .max = max};
    int rc = 0;
    if (!url || dp_client_headers(c, url, NULL, &hdrs)) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    if ((f.fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to create '%s'", dest);
        goto done;
    }
    dp_http_req r = {.method = "GET", .url = url, .headers = hdrs, .on_data = dl_write, .ctx = &f};
    dp_http_resp resp = {0};
    rc = dp_http_perform(h, &r, &resp, what, err);
    if (f.err.code)
        rc = dp_err_set(err, f.err.code, "%s: %s", what, f.err.msg);
    else if (!rc && resp.status != 200) {
        char msg[256];
        dp_proto_error_message(resp.body.data, resp.body.len, msg, sizeof msg);
        rc = dp_err_set(err, resp.status == 401 ? DUMPER_EAUTH : resp.status == 404 ? DUMPER_ENOENT : DUMPER_EPROTO,
                        "%s refused by the control plane: HTTP %ld%s%s", what, resp.status, msg[0] ? ": " : "", msg);
    }
    dp_http_resp_free(&resp);
    if (!rc && fsync(f.fd) < 0)
        rc = dp_err_sys(err, DUMPER_EIO, errno, "unable to write '%s'", dest);
done:
    if (f.fd >= 0)
        close(f.fd);
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}

/* The drill's types that restore into a scratch server, not into a temporary file. */
static int needs_scratch(const char *type)
{
    return type && (!strcmp(type, "postgresql") || !strcmp(type, "mysql") || !strcmp(type, "mariadb"));
}

/* POST {"agent_id", "result": <json>} to /api/v1/jobs/<job>/drill. */
static int report(dp_client *c, const dp_job_spec *spec, const char *result, dp_err *err)
{
    cJSON *body = cJSON_CreateObject(), *r = cJSON_Parse(result);
    char *path = dp_asprintf(DP_API_PREFIX "/jobs/%s/drill", spec->job_id), *json = NULL;
    int rc = 0;
    if (!body || !r || !path || !cJSON_AddStringToObject(body, "agent_id", spec->agent_id) ||
        !cJSON_AddItemToObject(body, "result", r) || !(json = cJSON_PrintUnformatted(body))) {
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "result")))
            cJSON_Delete(r);
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto done;
    }
    dp_http_resp resp = {0};
    if (!(rc = dp_client_post(c, NULL, path, json, &resp, err)) && resp.status != 200) {
        char msg[256];
        dp_proto_error_message(resp.body.data, resp.body.len, msg, sizeof msg);
        rc = dp_err_set(err, resp.status == 401 ? DUMPER_EAUTH : DUMPER_EPROTO,
                        "drill report refused by the control plane: HTTP %ld%s%s", resp.status, msg[0] ? ": " : "",
                        msg);
    }
    dp_http_resp_free(&resp);
done:
    free(json);
    free(path);
    cJSON_Delete(body);
    return rc;
}

/* The lease renewer: while the drill runs, a thread of its own (its own client: a curl handle is one thread's)
 * posts {"agent_id"} to /api/v1/jobs/<job>/renew every third of the job's lease, so a drill longer than the
 * lease is not taken back from a process that is alive. A refusal (the job is gone: 404, 409) ends it; the
 * drill goes on and its report says the rest. A failed request is tried again at the next tick. */
typedef struct renewer {
    const dp_job_spec *spec;
    dp_client_opts co;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, done;
} renewer;

static int renew_once(dp_client *c, const dp_job_spec *spec, const char *path)
{
    char *json = dp_asprintf("{\"agent_id\":\"%s\"}", spec->agent_id); /* a valid id: no escaping needed */
    dp_http_resp resp = {0};
    dp_err err = {0};
    int gone = 0;
    if (!json)
        return 0;
    if (dp_client_post(c, NULL, path, json, &resp, &err))
        dp_warn("job %s: lease renewal failed (tried again): %s", spec->job_id, err.msg);
    else if (resp.status == 200)
        dp_debug("job %s: lease renewed", spec->job_id);
    else {
        char msg[256];
        dp_proto_error_message(resp.body.data, resp.body.len, msg, sizeof msg);
        gone = resp.status == 404 || resp.status == 409 || resp.status == 401;
        dp_warn("job %s: lease renewal refused by the control plane: HTTP %ld%s%s%s", spec->job_id, resp.status,
                msg[0] ? ": " : "", msg, gone ? " (no more renewals)" : "");
    }
    dp_http_resp_free(&resp);
    free(json);
    return gone;
}

static void *renew_main(void *arg)
{
    renewer *r = arg;
    dp_client *c = dp_client_new(&r->co);
    char *path = dp_asprintf(DP_API_PREFIX "/jobs/%s/renew", r->spec->job_id);
    int64_t every = r->spec->lease_ms / 3;
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    pthread_mutex_lock(&r->mu);
    while (c && path && !r->done) {
        due.tv_sec += every / 1000;
        due.tv_nsec += (long)(every % 1000) * 1000000L;
        if (due.tv_nsec >= 1000000000L) {
            due.tv_sec++;
            due.tv_nsec -= 1000000000L;
        }
        while (!r->done && pthread_cond_timedwait(&r->cv, &r->mu, &due) != ETIMEDOUT)
            ;
        if (r->done)
            break;
        pthread_mutex_unlock(&r->mu);
        int gone = renew_once(c, r->spec, path);
        pthread_mutex_lock(&r->mu);
        if (gone)
            break;
    }
    pthread_mutex_unlock(&r->mu);
    free(path);
    dp_client_free(c);
    return NULL;
}

/* Starts renewing when the offer gave a lease (an older dumperd gives none: no renewal, as before). */
static void renewer_start(renewer *r, const dp_job_spec *spec, const dp_client_opts *co)
{
    memset(r, 0, sizeof *r);
    r->spec = spec;
    r->co = *co;
    r->co.stop = NULL; /* stopped by renewer_stop, never mid-way by a signal handler's flag of another thread */
    r->co.timeout_ms = 10000;
    r->co.max_attempts = 1;
    if (spec->lease_ms < 1000)
        return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t all, old; /* signals stay with the drill's thread (dp_stop), never the renewer */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int perr = pthread_create(&r->thread, NULL, renew_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (perr) {
        dp_warn("job %s: unable to start the lease renewal: the drill runs without it", spec->job_id);
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        return;
    }
    r->started = 1;
}

static void renewer_stop(renewer *r)
{
    if (!r->started)
        return;
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    r->started = 0;
}

/* An encrypted backup, and the agent holds no drill identity: say so, with the recipients that would open it. */
static void no_identity(const dp_manifest *m, dp_err *err)
{
    char to[DP_ERR_MSG_MAX] = "";
    size_t n = 0;
    for (size_t i = 0; i < m->nrecipients && n < sizeof to; i++) {
        int k = snprintf(to + n, sizeof to - n, "%s%s", i ? ", " : "", m->recipients[i]);
        n += k > 0 ? (size_t)k : 0;
    }
    dp_err_clear(err);
    dp_err_set(err, DUMPER_EAUTH,
               "the backup is encrypted (age) to %s and the agent has no drill identity (dumper agent --drill-identity"
               " FILE, the agent option drill_identities, the gem's drill_identity:)",
               to);
}

int dp_drill_job_run(const dp_job_spec *spec, dp_err *err)
{
    dp_stop stop; /* SIGINT/SIGTERM (dp_interrupted) abort a request in flight; the drill drops its target */
    dp_stop_init(&stop, 1);
    dp_client_opts co = {.api_base = spec->api_base, .app_key = spec->app_key, .ca_file = spec->ca_file,
                         .proxy = spec->proxy, .insecure = spec->insecure, .timeout_ms = 60000, .stop = &stop,
                         .max_attempts = DP_JOB_ATTEMPTS, .retry_log_level = DP_LOG_WARN};
    dp_client *c = dp_client_new(&co);
    dp_http *h = NULL;
    dp_drill_result res;
    memset(&res, 0, sizeof res);
    dp_err derr = {0}; /* what stopped the drill: reported as status "error" */
    char *dir = NULL, *file = NULL, *mfile = NULL, *path = NULL;
    dp_storage *st = NULL;
    renewer rn;
    renewer_start(&rn, spec, &co);
    dp_age_identity *ids = NULL; /* the agent's drill identities, read here from their files */
    size_t nids = 0;
    int rc = 0;
    dp_info("job %s: drill of backup %s (%s)", spec->job_id, spec->backup_id, spec->reason ? spec->reason : "job");
    if (!c) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "unable to initialise libcurl");
        goto cleanup;
    }
    if (needs_scratch(spec->source_type) && !spec->scratch_url) {
        dp_err_set(&derr, DUMPER_EUSAGE,
                   "no drill scratch server is configured on the agent: a %s drill restores into a scratch database"
                   " (dumper agent --drill-scratch URL, the agent option drill_scratch, the gem's drill_scratch:)",
                   spec->source_type);
        goto reported;
    }
    for (size_t i = 0; i < spec->nidentities; i++)
        if (dp_age_identities_read(spec->identities[i], &ids, &nids, &derr))
            goto reported;
    dp_http_opts ho = *dp_client_http_opts(c);
    ho.timeout_ms = 0; /* a large backup takes its time; a stalled transfer is still cut */
    ho.max_body = DP_MANIFEST_MAX;
    ho.big_buffers = 1;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (!(h = dp_http_new(&ho)) || !(dir = dp_asprintf("%s/" DP_DRILL_DIR_PREFIX "%ld-XXXXXX", tmp, (long)getpid()))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!mkdtemp(dir)) {
        dp_err_sys(&derr, DUMPER_EIO, errno, "unable to create a download directory in '%s'", tmp);
        free(dir);
        dir = NULL;
        goto reported;
    }
    file = dp_asprintf("%s/%s", dir, spec->file_name); /* a plain name (dp_proto_valid_file_name) */
    mfile = dp_asprintf("%s/%s" DP_MANIFEST_SUFFIX, dir, spec->file_name);
    if (!file || !mfile || !(path = dp_asprintf(DP_API_PREFIX "/backups/%s/manifest", spec->backup_id))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (download(c, h, path, mfile, DP_MANIFEST_MAX, "download of the manifest", &derr))
        goto reported;
    free(path);
    if (!(path = dp_asprintf(DP_API_PREFIX "/backups/%s/download", spec->backup_id))) {
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (download(c, h, path, file, spec->max_filesize, "download of the backup", &derr))
        goto reported;
    dp_drill_req req = {.scratch = spec->scratch_url, .scratch_password = spec->scratch_password,
                        .sha256 = spec->sha256, .identities = ids, .nidentities = nids};
    if (!dp_storage_open(dir, NULL, 0, &st, &derr) && !dp_drill_run(st, spec->file_name, &req, &res, &derr))
        dp_info("job %s: drill of backup %s %s (%zu mismatch%s)", spec->job_id, spec->backup_id,
                res.passed ? "passed" : "FAILED", res.nmismatches, res.nmismatches == 1 ? "" : "es");
reported:
    renewer_stop(&rn); /* the report ends the job (a renewal racing it would be refused, harmlessly) */
    if (derr.code == DUMPER_EAUTH && !nids && res.m.encryption) /* the CLI's "--identity" advice does not apply */
        no_identity(&res.m, &derr);
    if (derr.code) {
        dp_err_prefix(&derr, "drill of backup %s", spec->backup_id);
        dp_warn("job %s: %s", spec->job_id, derr.msg);
    }
    char *json = dp_drill_result_json(spec->file_name, &res, derr.code ? &derr : NULL);
    if (!json)
        rc = dp_err_set(err, DUMPER_ENOMEM, "out of memory");
    else if ((rc = report(c, spec, json, err)))
        dp_err_prefix(err, "job %s", spec->job_id);
    else
        dp_info("job %s: drill result reported (%s)", spec->job_id,
                derr.code ? "error" : res.passed ? "passed" : "failed");
    free(json);
cleanup:
    renewer_stop(&rn);
    dp_storage_close(st);
    if (file)
        unlink(file);
    if (mfile)
        unlink(mfile);
    if (dir && rmdir(dir) < 0)
        dp_warn("job %s: unable to remove '%s': %s", spec->job_id, dir, strerror(errno));
    dp_drill_result_free(&res);
    dp_age_identities_free(ids, nids);
    free(dir);
    free(file);
    free(mfile);
    free(path);
    dp_http_free(h);
    dp_client_free(c);
    dp_stop_destroy(&stop);
    return rc;
}
