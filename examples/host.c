/*
 * host.c - an example host program embedding the Dumper agent: a tiny HTTP server.
 *
 *   DUMPER_APP_KEY=dk_... dumper-example-host --port 8080 --api http://127.0.0.1:8477 \
 *       --database sqlite:///srv/app.db [--key main] [--database postgres://app@db/app] [--workers N] \
 *       [--log FILE] [--debug] [--no-agent] [--dumper PATH] [--ca-file PEM]
 *
 * It starts the agent once, in the master, then (with --workers N) forks N workers the way unicorn
 * does: every worker accepts on the inherited listening socket, the master only reaps children (with
 * waitpid(-1), like unicorn and puma masters: it logs any child it did not start, so tests can check
 * that the agent's job processes never show up there). Requests:
 *   GET /         -> "ok"
 *   GET /status   -> {"pid":..,"running":..,"role":"primary",...} (this process's agent)
 * It is also the fixture of the agent's end-to-end tests and of bench/agent_cost.sh. It links the
 * agent library alone (libdumper-agent: libcurl, cJSON, libc), as a host should: the engine runs in
 * the `dumper` executable the agent spawns for jobs.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumper.h"

static volatile sig_atomic_t stopping;
static void on_term(int sig) { stopping = sig; }

static void serve(int lfd)
{
    char req[2048], body[512], resp[1024];
    while (!stopping) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        ssize_t n = read(c, req, sizeof req - 1);
        if (n > 0) {
            req[n] = 0;
            if (strncmp(req, "GET /status", 11) == 0) {
                dumper_agent_status st = {.size = sizeof st};
                dumper_agent_status_get(&st);
                snprintf(body, sizeof body,
                         "{\"pid\":%ld,\"running\":%d,\"role\":\"%s\",\"agent_id\":\"%s\",\"last_error\":%d,"
                         "\"disabled\":%d,\"jobs_started\":%u}\n",
                         (long)getpid(), st.running, dumper_agent_role_name(st.role), st.agent_id, st.last_error,
                         st.disabled, st.jobs_started);
            } else {
                snprintf(body, sizeof body, "ok\n");
            }
            int m = snprintf(resp, sizeof resp,
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                             "Connection: close\r\n\r\n%s",
                             strlen(body), body);
            if (write(c, resp, (size_t)m) < 0) {
                /* the client went away: nothing to do */
            }
        }
        close(c);
    }
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"port", required_argument, 0, 'p'},  {"api", required_argument, 0, 'a'},
        {"database", required_argument, 0, 'd'}, {"workers", required_argument, 0, 'w'},
        {"log", required_argument, 0, 'l'},   {"debug", no_argument, 0, 'D'},
        {"no-agent", no_argument, 0, 'N'},    {"dumper", required_argument, 0, 'x'},
        {"environment", required_argument, 0, 'e'}, {"key", required_argument, 0, 'k'},
        {"ca-file", required_argument, 0, 'C'}, {0, 0, 0, 0}};
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    dumper_database dbs[16];
    memset(dbs, 0, sizeof dbs);
    size_t ndbs = 0;
    int port = 0, workers = 0, agent = 1, c;
    o.app_key = getenv("DUMPER_APP_KEY");
    o.app_name = "example-host";
    o.framework = "c";
    o.dispatcher = "example-host";
    while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        switch (c) {
        case 'p': port = (int)strtol(optarg, NULL, 10); break;
        case 'a': o.api_base = optarg; break;
        case 'd':
            if (ndbs < 16)
                dbs[ndbs++].url = optarg;
            break;
        case 'k':
            if (ndbs)
                dbs[ndbs - 1].key = optarg; /* label of the preceding --database */
            break;
        case 'w': workers = (int)strtol(optarg, NULL, 10); break;
        case 'l': o.log_file = optarg; break;
        case 'D': o.debug = 1; break;
        case 'N': agent = 0; break;
        case 'x': o.dumper_path = optarg; break;
        case 'e': o.environment = optarg; break;
        case 'C': o.ca_file = optarg; break;
        default: fprintf(stderr, "usage: see the comment at the top of examples/host.c\n"); return 2;
        }
    }
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "example-host: --port is required\n");
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0); /* deliberately not close-on-exec: the agent must cope */
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 128) < 0) {
        perror("example-host: bind");
        return 1;
    }
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_term;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    o.databases = dbs;
    o.ndatabases = ndbs;
    const char *retry = getenv("DUMPER_AGENT_MAX_RETRY_MS");
    if (retry)
        o.max_retry_ms = (unsigned)strtoul(retry, NULL, 10);
    if (agent) {
        int rc = dumper_agent_start(&o);
        if (rc)
            fprintf(stderr, "example-host: agent not started: %s\n", dumper_strerror(rc));
    }
    fprintf(stderr, "example-host: pid %ld listening on 127.0.0.1:%d\n", (long)getpid(), port);
    if (workers <= 0) {
        serve(lfd);
    } else {
        pid_t *kids = calloc((size_t)workers, sizeof *kids);
        for (int i = 0; i < workers; i++) {
            pid_t master = getpid();
            pid_t p = fork();
            if (p == 0) {
                /* like unicorn workers: die with the master (kill -9 of the master in the tests) */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != master)
                    _exit(0);
                free(kids);
                serve(lfd);
                _exit(0);
            }
            kids[i] = p;
        }
        /* unicorn-style master: reap any child; complain about the ones it did not start */
        while (!stopping) {
            int st;
            pid_t w = waitpid(-1, &st, 0);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == ECHILD) {
                    pause();
                    continue;
                }
                break;
            }
            int known = 0;
            for (int i = 0; i < workers; i++)
                known |= kids[i] == w;
            if (!known)
                fprintf(stderr, "example-host: reaped unknown child %ld\n", (long)w);
        }
        for (int i = 0; i < workers; i++)
            kill(kids[i], SIGTERM);
        while (waitpid(-1, NULL, 0) > 0)
            ;
        free(kids);
    }
    if (agent)
        dumper_agent_stop();
    close(lfd);
    return 0;
}
