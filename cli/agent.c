/*
 * agent.c - `dumper agent` (the embedded agent as a standalone foreground process, for hosts that
 * run no app, e.g. a Redis host) and the hidden `dumper job` (the job process the agent spawns; it
 * reads its spec, credentials included, from stdin).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/job.h"
#include "agent/proto.h"
#include "cli.h"
#include "core/dburl.h"
#include "core/log.h"
#include "core/util.h"
#include "dumper.h"

#ifndef CLOSE_RANGE_CLOEXEC
#include <linux/close_range.h>
#endif
#include <sys/syscall.h>

static const char agent_help[] =
    "usage: dumper agent --api URL --database URL [options]   (the app key in DUMPER_APP_KEY)\n"
    "\n"
    "Runs the Dumper agent in the foreground: registers with dumperd, polls it, and runs the backups\n"
    "it schedules as separate `dumper job` processes. Stops on SIGINT/SIGTERM, releasing its primary\n"
    "lease so that another agent takes over at once.\n"
    "\n"
    "The app key comes from DUMPER_APP_KEY or --app-key-file, never from the command line (every\n"
    "local user can read a process's arguments for as long as it runs).\n"
    "\n"
    "      --app-key-file FILE    read the app key from FILE (one line; e.g. 0600, or /dev/stdin)\n"
    "  -a, --api URL              dumperd base URL (default " DP_API_DEFAULT_BASE ", or DUMPER_API_BASE)\n"
    "  -d, --database URL         a database to back up (repeatable); passwords: prefer the environment\n"
    "      --key KEY              label of the preceding --database at dumperd\n"
    "  -f, --format FORMAT        dump format of the preceding --database\n"
    "  -o, --custom-options STR   dump tool options of the preceding --database\n"
    "  -e, --environment NAME     default production\n"
    "  -n, --app-name NAME        informative\n"
    "      --dumper PATH          executable for job processes (default: this one)\n"
    "  -l, --log FILE             log file (default: stderr)\n"
    "      --debug                verbose log\n"
    "      --ca-file FILE         CA bundle for https\n"
    "      --insecure             do not verify TLS certificates\n"
    "      --proxy URL            HTTP proxy\n"
    "      --nice N               CPU nice of job processes, 1..19, or keep (the agent's own);\n"
    "                             default: the app's setting in dumperd, else 10\n"
    "      --ionice CLASS[:LEVEL] I/O priority of job processes: idle, best-effort[:0-7], or none\n"
    "                             (the agent's own); default: the app's setting, else best-effort:7\n"
    "      --drill-scratch URL    a server where restore drills of PostgreSQL or MySQL backups may\n"
    "                             create and drop databases (postgres://drill@scratch/postgres);\n"
    "                             without a password: use --drill-scratch-password-file or PGPASSWORD\n"
    "      --drill-scratch-password-file FILE   its password (one line)\n"
    "      --drill-identity FILE  an age identity file that opens the app's encrypted backups in a\n"
    "                             drill (repeatable, at most 8); it stays here: only its path goes\n"
    "                             to the drill's job process\n"
    "  -h, --help                 this help\n";

int cmd_agent(int argc, char **argv)
{
    enum { O_KEY = 256, O_DUMPER, O_DEBUG, O_CA, O_INSECURE, O_PROXY, O_KEYFILE, O_NICE, O_IONICE, O_SCRATCH,
           O_SCRATCH_PW, O_DRILL_ID };
    static const struct option opts[] = {
        {"app-key", required_argument, 0, 'k'}, {"app-key-file", required_argument, 0, O_KEYFILE},
        {"api", required_argument, 0, 'a'},
        {"database", required_argument, 0, 'd'}, {"key", required_argument, 0, O_KEY},
        {"format", required_argument, 0, 'f'},  {"custom-options", required_argument, 0, 'o'},
        {"environment", required_argument, 0, 'e'}, {"app-name", required_argument, 0, 'n'},
        {"dumper", required_argument, 0, O_DUMPER}, {"log", required_argument, 0, 'l'},
        {"debug", no_argument, 0, O_DEBUG},     {"ca-file", required_argument, 0, O_CA},
        {"insecure", no_argument, 0, O_INSECURE}, {"proxy", required_argument, 0, O_PROXY},
        {"nice", required_argument, 0, O_NICE}, {"ionice", required_argument, 0, O_IONICE},
        {"drill-scratch", required_argument, 0, O_SCRATCH},
        {"drill-scratch-password-file", required_argument, 0, O_SCRATCH_PW},
        {"drill-identity", required_argument, 0, O_DRILL_ID},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    char *key = NULL;            /* read from --app-key-file */
    const char *keyfile = NULL, *scratch_pwfile = NULL;
    char *scratch_pw = NULL;     /* read from --drill-scratch-password-file */
    const char *drill_ids[DUMPER_DRILL_IDENTITIES_MAX];
    dumper_database dbs[DP_AGENT_MAX_DBS];
    size_t ndbs = 0;
    memset(dbs, 0, sizeof dbs);
    o.app_key = getenv("DUMPER_APP_KEY");
    o.api_base = getenv("DUMPER_API_BASE");
    o.dispatcher = "dumper-agent";
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":k:a:d:f:o:e:n:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            /* Not even masked: the key would sit in /proc/PID/cmdline from exec until dumper could
             * overwrite it, for anyone polling the process table. */
            return cli_usage_error("agent", "--app-key would put the key in the command line, where every local "
                                            "user can read it: pass it in DUMPER_APP_KEY or with --app-key-file FILE");
        case O_KEYFILE: keyfile = optarg; break;
        case O_SCRATCH: {
            dp_dburl u;
            dp_err e = {0};
            if (dp_dburl_parse(optarg, &u, &e))
                return cli_usage_error("agent", "invalid --drill-scratch: %s", e.msg);
            int secret = u.password != NULL;
            dp_dburl_free(&u);
            /* argv is readable by every local user for as long as the agent runs */
            if (secret)
                return cli_usage_error("agent", "--drill-scratch would put the scratch server's password in the "
                                                "command line: give it with --drill-scratch-password-file FILE");
            o.drill_scratch = optarg;
            break;
        }
        case O_SCRATCH_PW: scratch_pwfile = optarg; break;
        case O_DRILL_ID:
            if (o.ndrill_identities == DUMPER_DRILL_IDENTITIES_MAX)
                return cli_usage_error("agent", "at most %d --drill-identity files", DUMPER_DRILL_IDENTITIES_MAX);
            drill_ids[o.ndrill_identities++] = optarg;
            break;
        case 'a': o.api_base = optarg; break;
        case 'd':
            if (ndbs == DP_AGENT_MAX_DBS)
                return cli_usage_error("agent", "at most %d databases", DP_AGENT_MAX_DBS);
            dbs[ndbs++].url = optarg;
            break;
        case O_KEY:
        case 'f':
        case 'o':
            if (!ndbs)
                return cli_usage_error("agent", "'%s' must follow a --database", argv[optind - 1]);
            if (c == O_KEY)
                dbs[ndbs - 1].key = optarg;
            else if (c == 'f')
                dbs[ndbs - 1].format = optarg;
            else
                dbs[ndbs - 1].custom_options = optarg;
            break;
        case 'e': o.environment = optarg; break;
        case 'n': o.app_name = optarg; break;
        case O_DUMPER: o.dumper_path = optarg; break;
        case 'l': o.log_file = optarg; break;
        case O_DEBUG: o.debug = 1; break;
        case O_CA: o.ca_file = optarg; break;
        case O_INSECURE: o.tls_insecure = 1; break;
        case O_PROXY: o.proxy = optarg; break;
        case O_NICE: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (!strcmp(optarg, "keep"))
                o.job_nice = DUMPER_JOB_NICE_KEEP;
            else if (end == optarg || *end || n < 1 || n > 19)
                return cli_usage_error("agent", "invalid --nice '%s' (1 to 19, or keep)", optarg);
            else
                o.job_nice = (int)n;
            break;
        }
        case O_IONICE: {
            int cls, lvl;
            if (dp_proto_parse_ionice(optarg, &cls, &lvl))
                return cli_usage_error("agent", "invalid --ionice '%s' (idle, best-effort[:0-7] or none)", optarg);
            o.job_ionice = optarg;
            break;
        }
        case 'h': fputs(agent_help, stdout); return 0;
        case ':': return cli_usage_error("agent", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("agent", "unknown option '%s'", argv[optind - 1]);
        }
    }
    int rc = 0;
    /* each --drill-identity is read once here, so a wrong file stops the agent now, not every drill later */
    cli_keys ids = {0};
    for (size_t i = 0; i < o.ndrill_identities && !rc; i++)
        rc = cli_keys_add_identity_file(&ids, drill_ids[i]);
    cli_keys_free(&ids);
    if (rc)
        return rc;
    if (keyfile && (rc = cli_read_secret_file("agent", "app key", keyfile, &key)))
        return rc;
    if (scratch_pwfile && !o.drill_scratch) {
        dp_free_secret(key);
        return cli_usage_error("agent", "--drill-scratch-password-file needs --drill-scratch");
    }
    if (scratch_pwfile && (rc = cli_read_secret_file("agent", "drill scratch password", scratch_pwfile, &scratch_pw))) {
        dp_free_secret(key);
        return rc;
    }
    o.drill_scratch_password = scratch_pw;
    o.drill_identities = drill_ids;
    if (key)
        o.app_key = key;
    if (optind != argc)
        rc = cli_usage_error("agent", "unexpected argument '%s'", argv[optind]);
    else if (!o.app_key || !*o.app_key)
        rc = cli_usage_error("agent", "missing the app key (DUMPER_APP_KEY or --app-key-file FILE)");
    else if (!ndbs)
        rc = cli_usage_error("agent", "missing --database");
    if (rc) {
        dp_free_secret(key);
        dp_free_secret(scratch_pw);
        return rc;
    }
    o.databases = dbs;
    o.ndatabases = ndbs;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!o.dumper_path && n > 0) {
        self[n] = 0;
        o.dumper_path = self;
    }
    const char *retry = getenv("DUMPER_AGENT_MAX_RETRY_MS"); /* tests shorten the backoff cap */
    if (retry)
        o.max_retry_ms = (unsigned)strtoul(retry, NULL, 10);
    rc = dumper_agent_start(&o); /* copies the options */
    dp_free_secret(key);
    dp_free_secret(scratch_pw);
    key = scratch_pw = NULL;
    if (rc) {
        fprintf(stderr, "dumper: agent not started: %s (see the log)\n", dumper_strerror(rc));
        return rc;
    }
    dumper_agent_status st = {.size = sizeof st};
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (dp_interrupted)
            break;
        dumper_agent_status_get(&st);
        if (!st.running)
            break;
    }
    if (st.running)
        dumper_agent_stop();
    dumper_agent_status_get(&st);
    if (st.disabled) {
        fprintf(stderr, "dumper: the control plane refused the app key\n");
        return DUMPER_EAUTH;
    }
    return 0;
}

/* `dumper job [--no-fork]`: spec on stdin. Not for people. --no-fork: the caller detached us already
 * (the agent on Linux), or a test runs the job in the foreground. */
int cmd_job(int argc, char **argv)
{
    /* Belt and braces for systems whose posix_spawn cannot close inherited descriptors. */
    (void)syscall(SYS_close_range, 3U, ~0U, 0U);
    int foreground = argc > 1 && strcmp(argv[1], "--no-fork") == 0;
    if (argc > 1 + foreground)
        return cli_usage_error("job", "takes no arguments (the job spec comes on stdin)");
    dp_buf in = {0};
    char chunk[4096];
    dp_err err = {0};
    for (;;) {
        ssize_t r = read(0, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR && !dp_interrupted)
            continue;
        if (r < 0) {
            dp_err_sys(&err, DUMPER_EIO, errno, "unable to read the job spec from stdin");
            break;
        }
        if (r == 0)
            break;
        if (in.len + (size_t)r > DP_JOB_SPEC_MAX) {
            dp_err_set(&err, DUMPER_EUSAGE, "invalid job spec: too large");
            break;
        }
        if (dp_buf_append(&in, chunk, (size_t)r) < 0) {
            dp_err_set(&err, DUMPER_ENOMEM, "out of memory");
            break;
        }
    }
    dp_job_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!err.code)
        dp_job_spec_parse(in.data, in.len, &spec, &err);
    if (in.data)
        dp_memzero(in.data, in.len);
    dp_buf_free(&in);
    if (err.code) {
        dp_error("job not started: %s", err.msg);
        return err.code;
    }
    dp_log_set_level(spec.debug ? DP_LOG_DEBUG : DP_LOG_INFO);
    if (!foreground) {
        /* Detach: the spawning agent reaps this process at once; the child carries on, reparented
         * to init. Safe: this is a fresh single-threaded process, not the host. */
        pid_t pid = fork();
        if (pid < 0) {
            dp_error("job %s not started: fork: %s", spec.job_id, strerror(errno));
            dp_job_spec_free(&spec);
            return DUMPER_EINTERNAL;
        }
        if (pid > 0)
            _exit(0);
    }
    close(0);
    int rc = dp_job_run(&spec, &err);
    if (rc)
        dp_error("job %s failed: %s", spec.job_id, err.msg);
    dp_job_spec_free(&spec);
    return rc;
}
