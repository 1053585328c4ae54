/*
 * dumper.h - the public interface of libdumper: error codes, version, and the embedded agent.
 *
 * Two libraries offer it. libdumper-agent (pkg-config dumper-agent) is what a host process should
 * link: the agent thread, its protocol and HTTP client, URL parsing; it needs only libcurl, cJSON
 * and libc, and backups never run in it: the agent spawns the `dumper` executable, which holds the
 * engine (database sources, compression and checksum filters, storage). libdumper (pkg-config
 * dumper) is the agent and the engine together, for programs that run backups in-process.
 * Everything here carries the dumper_ / DUMPER_ prefix; no other symbol is exported from either
 * shared library.
 *
 * Threading: every function here may be called from any thread unless its comment says otherwise.
 */
#ifndef DUMPER_H
#define DUMPER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DUMPER_BUILDING)
#define DUMPER_EXTERN __attribute__((visibility("default")))
#else
#define DUMPER_EXTERN
#endif

/*
 * Error codes. Stable: never renumbered, only appended. The `dumper` command exits with these
 * numbers, so they are also its documented exit codes.
 */
typedef enum dumper_code {
    DUMPER_OK = 0,
    DUMPER_EINTERNAL = 1,     /* unexpected internal error (a bug) */
    DUMPER_EUSAGE = 2,        /* invalid arguments or options */
    DUMPER_EURL = 3,          /* malformed database or storage URL */
    DUMPER_EUNSUPPORTED = 4,  /* recognised but not supported (yet) */
    DUMPER_ENOENT = 5,        /* database, backup or file not found */
    DUMPER_EEXIST = 6,        /* target exists and is not empty (use --force) */
    DUMPER_EIO = 7,           /* local read/write/fsync error */
    DUMPER_ENOSPC = 8,        /* no space left on the target */
    DUMPER_ECORRUPT = 9,      /* backup corrupt: checksum mismatch, truncated, bad compression */
    DUMPER_ESOURCE = 10,      /* the database or its dump tool failed */
    DUMPER_EAUTH = 11,        /* authentication refused (database, storage or control plane) */
    DUMPER_ECONNECT = 12,     /* could not connect */
    DUMPER_ESTORAGE = 13,     /* storage service error */
    DUMPER_EPROTO = 14,       /* protocol error: unexpected response from a server */
    DUMPER_ETOOLARGE = 15,    /* backup exceeds the allowed size */
    DUMPER_EBUSY = 16,        /* already running / resource busy */
    DUMPER_EINTR = 17,        /* interrupted by a signal */
    DUMPER_ENOMEM = 18,       /* out of memory */
    DUMPER_ETIMEOUT = 19,     /* operation timed out */
    DUMPER_ETOOL = 20,        /* a required external tool is missing or incompatible */
    DUMPER_EDRILL = 21        /* restore drill failed: restored data differs from the manifest or a check is false */
} dumper_code;

/* Short static description of an error code ("checksum mismatch or truncated backup", ...).
 * Never NULL; the string lives for the life of the process. */
DUMPER_EXTERN const char *dumper_strerror(int code);

/* The library version as "MAJOR.MINOR.PATCH". Static string. */
DUMPER_EXTERN const char *dumper_version(void);


/* ---------------------------------------------------------------------------------------------
 * The embedded agent.
 *
 * One agent per process: a background pthread that registers with the control plane (dumperd),
 * polls it at the interval it gives, and, when this process is the app's primary agent and a
 * backup is due, spawns the `dumper` executable as a detached job process that streams the backup
 * and reports the result. The agent never runs a job itself, never forks the host, never installs
 * signal handlers, never calls back into the host and never blocks the calling thread on the
 * network. In a child created by fork() no agent runs (the parent's carries on); the child may
 * start its own. See docs/agent.md.
 * ------------------------------------------------------------------------------------------- */

/* One database the agent may back up. All strings are copied by dumper_agent_start(). */
typedef struct dumper_database {
    const char *url;            /* required: database URL (see `dumper --help`); may hold a password,
                                   which is sent only to the job process's stdin, never to dumperd,
                                   argv or a log */
    const char *key;            /* stable label at dumperd ("primary", "cache"); NULL = derived */
    const char *format;         /* dump format ("sql", "dump", ...); NULL = the driver's default */
    const char *custom_options; /* extra dump tool options; NULL = none */
} dumper_database;

/* Role of the agent of this process, as last told by the control plane. */
typedef enum dumper_agent_role {
    DUMPER_AGENT_NONE = 0,      /* no agent runs in this process */
    DUMPER_AGENT_STARTING = 1,  /* running, not registered yet (or retrying after errors) */
    DUMPER_AGENT_PRIMARY = 2,   /* registered; receives jobs */
    DUMPER_AGENT_SECONDARY = 3, /* registered; standby */
    DUMPER_AGENT_STOPPING = 4   /* dumper_agent_stop() was called and the thread has not exited yet */
} dumper_agent_role;

/* The size the caller compiled dumper_agent_opts with: lets the struct grow without breaking
 * callers built against an older header (fields past `size` are treated as zero). */
#define DUMPER_AGENT_OPTS_INIT {.size = sizeof(dumper_agent_opts)}

/*
 * Agent options. Zero (or NULL) in any field but `size` means the default. Start from
 * `dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;` or memset to zero and set `size`.
 */
typedef struct dumper_agent_opts {
    size_t size;              /* required: sizeof(dumper_agent_opts) */
    const char *app_key;      /* required: the app's key ("dk_..."); never logged */
    const char *api_base;     /* control plane base URL; default "http://127.0.0.1:8477" */
    const char *environment;  /* default "production" */
    const char *app_name;     /* informative */
    const char *framework;    /* informative, e.g. "rails 7.1" */
    const char *dispatcher;   /* informative, e.g. "puma" */
    const dumper_database *databases; /* may be NULL when ndatabases is 0 */
    size_t ndatabases;        /* at most 64 */
    const char *dumper_path;  /* the `dumper` executable; default: $DUMPER_PATH, else "dumper" on PATH */
    const char *log_file;     /* agent and job log (appended); default: stderr. The log level and
                                 destination are process-wide in libdumper. */
    int debug;                /* nonzero: verbose log */
    const char *ca_file;      /* PEM bundle for TLS to the control plane; default: system store */
    int tls_insecure;         /* nonzero disables TLS verification (default: verify) */
    const char *proxy;        /* HTTP(S) proxy URL for the control plane; default: libcurl's
                                 environment handling (http_proxy, ...) */
    const char *hostname;     /* reported hostname; default gethostname() */
    unsigned max_retry_ms;    /* cap of the retry backoff while the API is unreachable; default 300000 */
    /* The priority of job processes (Linux; docs/agent.md "Job priority"). Set here, it wins over the app's
     * setting in dumperd; left at 0/NULL, the app's setting applies, else the polite default (nice 10, I/O
     * best-effort level 7). A job never runs at a higher priority than its host. */
    int job_nice;             /* 0: default; 1..19: this nice value; DUMPER_JOB_NICE_KEEP: the host's own */
    const char *job_ionice;   /* NULL: default; "idle", "best-effort" or "best-effort:N" (N 0..7), or "none":
                                 the host's own */
    /* Restore drills dumperd asks for (docs/drills.md "Drills run by dumperd"). PostgreSQL and MySQL/MariaDB
     * backups are drilled on a scratch server: a URL whose user may create and drop databases, e.g.
     * "postgres://drill@scratch:5432/postgres" (its database is the one connected to for CREATE/DROP).
     * SQLite and Redis need none. The URL and password go to the job process on its stdin, never to
     * dumperd, argv or a log. NULL: no scratch server (a drill of such a backup reports an error). */
    const char *drill_scratch;
    const char *drill_scratch_password; /* when the URL has none; NULL: the drivers' environment (PGPASSWORD...) */
    /* age identity files (`dumper keygen`) that open the app's encrypted backups in a drill (at most
     * DUMPER_DRILL_IDENTITIES_MAX). Only their paths go to the job process (made absolute when the agent starts,
     * which refuses one it cannot read); the keys never go to dumperd, argv or a log. None: a drill of an
     * encrypted backup reports an error naming its recipients. */
    const char *const *drill_identities;
    size_t ndrill_identities;
} dumper_agent_opts;

#define DUMPER_DRILL_IDENTITIES_MAX 8

#define DUMPER_JOB_NICE_KEEP (-1)

/*
 * Start the agent of this process. Copies everything in opts (nothing is borrowed after return),
 * opens the log file, and starts one thread with every signal blocked; returns without any network
 * I/O. Sets libdumper's process-wide log destination and level (log_file, debug) until the agent
 * stops. The first call also initialises libcurl and registers a pthread_atfork handler and an
 * atexit handler (stopping the agent at exit). Returns DUMPER_OK, DUMPER_EUSAGE (invalid options: missing app key, bad URL, too many
 * databases; the reason is logged), DUMPER_EBUSY (an agent already runs in this process, or the
 * previous one is still stopping), DUMPER_ENOMEM, DUMPER_EIO (log file) or DUMPER_EINTERNAL
 * (thread creation failed). Any thread may call it.
 */
DUMPER_EXTERN int dumper_agent_start(const dumper_agent_opts *opts);

/*
 * Stop the agent of this process: wakes its thread, aborts any request in flight (within ~100 ms),
 * tells the control plane the agent is gone (which ends its primary lease at once, so another agent
 * takes over at its next poll; at most 1.5 s) and waits for the thread to exit, at most about two
 * seconds (if it has not exited by then it is detached and exits on its own; dumper_agent_start()
 * returns DUMPER_EBUSY until it has). Called at exit() by libdumper itself. Job processes already spawned
 * keep running. Returns DUMPER_OK, or DUMPER_ENOENT when no agent runs. Any thread but the agent's.
 */
DUMPER_EXTERN int dumper_agent_stop(void);

/* A snapshot of the agent's state. */
typedef struct dumper_agent_status {
    size_t size;               /* required on input: sizeof(dumper_agent_status) */
    int running;               /* 1 when an agent thread runs in this process */
    int role;                  /* a dumper_agent_role */
    char agent_id[64];         /* id given by dumperd; "" before registration */
    long long last_contact_ms; /* wall clock of the last good answer from dumperd; 0 = none */
    int last_error;            /* dumper code of the last failed exchange; 0 after a good one */
    int disabled;              /* 1 when the agent stopped itself (the app key was refused) */
    unsigned jobs_started;     /* job processes spawned since start */
} dumper_agent_status;

/*
 * Fill *st (fields within st->size) with the state of this process's agent. A forked child sees
 * running == 0. Returns DUMPER_OK or DUMPER_EUSAGE (st NULL or size 0). Any thread; never blocks
 * on the network.
 */
DUMPER_EXTERN int dumper_agent_status_get(dumper_agent_status *st);

/* "none", "starting", "primary", "secondary", "stopping". Static string. */
DUMPER_EXTERN const char *dumper_agent_role_name(int role);

#ifdef __cplusplus
}
#endif
#endif /* DUMPER_H */
