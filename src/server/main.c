/*
 * main.c: the cairn-server daemon: configuration, logging, signals and the
 * libuv wiring around one node.
 *
 *   cairn-server [config-file] [--name value ...]
 *
 * Settings come from the defaults, then the file, then the command line (the
 * last word wins), all through the one table in node/config.c.  A bad
 * setting prints the line and the reason and exits with status 1; it never
 * crashes.  SIGINT and SIGTERM (and the SHUTDOWN command) stop the loop,
 * close every connection and exit with status 0.  A replicated node
 * (cluster-peers, docs/design/cluster.md) first hands leadership to another
 * voter, waiting at most an election timeout; a second signal stops at once.
 *
 * This file and src/io/io_uv.c are the only ones that talk to the OS.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/log.h"
#include "io/io_uv.h"
#include "node/cluster.h"
#include "node/config.h"
#include "node/node.h"

#define CAIRN_SERVER_VERSION "0.1.0"

struct server {
    uv_loop_t loop;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    struct io_uv *uv;
    struct node *node;
    FILE *log_file;
    int exit_code;
    bool stopping;
};

/* ---- logging ---- */

static void log_sink(void *ctx, enum cairn_log_level level, const char *msg)
{
    FILE *out = ctx;
    static const char marks[] = {'.', '-', '*', '#'};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t secs = tv.tv_sec;
    localtime_r(&secs, &tm);
    char when[64];
    size_t n = strftime(when, sizeof(when), "%d %b %Y %H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03d", (int)(tv.tv_usec / 1000));
    fprintf(out, "%d:M %s %c %s\n", (int)getpid(), when, marks[level], msg);
    fflush(out);
}

/* ---- configuration ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: cairn-server [/path/to/cairn.conf] [options]\n"
            "       cairn-server -v or --version\n"
            "       cairn-server -h or --help\n"
            "\n"
            "Options are configuration directives prefixed with --, e.g.\n"
            "       cairn-server --port 7777 --maxmemory 100mb\n"
            "       cairn-server /etc/cairn.conf --loglevel verbose\n"
            "\n"
            "Settings: port, bind, requirepass, maxmemory, maxmemory-policy,\n"
            "maxmemory-samples, maxclients, timeout, loglevel, logfile, hz,\n"
            "databases (16 only), client-output-buffer-limit,\n"
            "client-query-buffer-limit, proto-max-bulk-len, hash-seed,\n"
            "save and appendonly (accepted, no effect yet), daemonize (no),\n"
            "protected-mode.\n"
            "\n"
            "Replication (see docs/design/cluster.md):\n"
            "       cairn-server --port 7001 --node-id 1 \\\n"
            "         --cluster-peers 1@127.0.0.1:7001,2@127.0.0.1:7002,"
            "3@127.0.0.1:7003 \\\n"
            "         --cluster-secret xyz --durability memory\n"
            "Settings: node-id, cluster-peers, cluster-port, cluster-secret,\n"
            "durability (memory|fsync), dir, election-timeout-ms,\n"
            "heartbeat-ms, lease-reads, read-mode (linearizable|local),\n"
            "cluster-redirect, raft-append-max-bytes, raft-inflight-max-msgs,\n"
            "raft-check-quorum.\n");
}

/* Reads a whole config file into a malloc'd buffer.  Returns 0 or -1 with
 * a message on stderr. */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cairn-server: cannot open config file '%s': %s\n",
                path, strerror(errno));
        return -1;
    }
    char *data = malloc(CAIRN_CONFIG_FILE_SIZE_MAX + 1);
    if (data == NULL) {
        fclose(f);
        fprintf(stderr, "cairn-server: out of memory\n");
        return -1;
    }
    size_t n = fread(data, 1, CAIRN_CONFIG_FILE_SIZE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > CAIRN_CONFIG_FILE_SIZE_MAX) {
        fprintf(stderr, "cairn-server: config file '%s' %s\n", path,
                bad ? "cannot be read" : "is larger than 1 MiB");
        free(data);
        return -1;
    }
    *out = data;
    *len = n;
    return 0;
}

static int load_config(int argc, char **argv, struct node_config *cfg)
{
    char err[CONFIG_ERR_MAX];
    config_init(cfg);
    int first_opt = 1;
    if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
        char *text;
        size_t len;
        if (read_file(argv[1], &text, &len) != 0)
            return -1;
        int rc = config_load_text(cfg, text, len, err, sizeof(err));
        free(text);
        if (rc != 0) {
            fprintf(stderr,
                    "\n*** FATAL CONFIG FILE ERROR ***\n"
                    "Reading the configuration file '%s', at %s\n",
                    argv[1], err);
            return -1;
        }
        first_opt = 2;
    }
    if (config_load_args(cfg, argc - first_opt,
                         (const char *const *)argv + first_opt, err,
                         sizeof(err)) != 0) {
        fprintf(stderr, "\n*** FATAL CONFIG ERROR ***\n%s\n", err);
        return -1;
    }
    return 0;
}

/* ---- lifecycle ---- */

static void on_shutdown(void *ctx)
{
    struct server *s = ctx;
    uv_stop(&s->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    LOG_WARNING("Received %s scheduling shutdown...",
                signum == SIGINT ? "SIGINT" : "SIGTERM");
    struct cluster *c = s->node != NULL ? node_cluster(s->node) : NULL;
    if (c != NULL && !s->stopping) {
        s->stopping = true;
        cluster_shutdown_begin(c, on_shutdown, s);
        return;
    }
    uv_stop(&s->loop);
}

/* Raises the descriptor limit so maxclients connections fit, as Redis. */
static void raise_fd_limit(int64_t maxclients)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)maxclients + 32;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rlim_t target = want < rl.rlim_max ? want : rl.rlim_max;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || target < want)
        LOG_WARNING("You requested maxclients of %lld but the open files "
                    "limit allows about %llu", (long long)maxclients,
                    (unsigned long long)target);
}

/* Listens on every bind address.  Returns 0 or -1 (logged). */
static int listen_all(struct server *s, const struct node_config *cfg)
{
    char addrs[CONFIG_STR_MAX];
    snprintf(addrs, sizeof(addrs), "%s", cfg->bind);
    char *save = NULL;
    for (char *a = strtok_r(addrs, " ", &save); a != NULL;
         a = strtok_r(NULL, " ", &save)) {
        bool optional = a[0] == '-'; /* Redis: "-::1" may fail quietly */
        const char *host = optional ? a + 1 : a;
        int rc = node_listen(s->node, host, (uint16_t)cfg->port);
        if (rc != 0 && optional) {
            LOG_NOTICE("Skipping optional bind address %s", host);
            continue;
        }
        if (rc != 0) {
            LOG_WARNING("Could not create server TCP listening socket %s:%lld: "
                        "%s", host, (long long)cfg->port, cairn_strerror(rc));
            return -1;
        }
        size_t i = node_listener_count(s->node) - 1;
        LOG_NOTICE("Listening on %s:%u", host,
                   io_uv_listener_port(node_listener(s->node, i)));
    }
    if (node_listener_count(s->node) == 0) {
        LOG_WARNING("No bind address could be used");
        return -1;
    }
    return 0;
}

static int server_start(struct server *s, const struct node_config *cfg)
{
    if (uv_loop_init(&s->loop) != 0)
        return -1;
    if (io_uv_init(&s->uv, &s->loop, 0) != 0)
        return -1;
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s;
    s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    int rc = node_new(&s->node, io_uv_io(s->uv), cfg);
    if (rc != 0) {
        LOG_WARNING("cannot start the node: %s", cairn_strerror(rc));
        return -1;
    }
    node_set_shutdown_cb(s->node, on_shutdown, s);
    if (listen_all(s, cfg) != 0)
        return -1;
    LOG_NOTICE("Ready to accept connections");
    return 0;
}

static void drain_timeout_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Closes everything and runs the loop until libuv released every handle,
 * for at most a second: a peer connection attempt into a partitioned
 * network stays pending until the kernel gives up (minutes) and io.h
 * cannot cancel it, so then the process exits without the final frees. */
static void server_stop(struct server *s)
{
    if (s->node != NULL)
        node_free(s->node);
    if (s->uv == NULL)
        return;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_timer_t drain;
    uv_timer_init(&s->loop, &drain);
    uv_timer_start(&drain, drain_timeout_cb, 1000, 0);
    uv_unref((uv_handle_t *)&drain); /* the timer alone keeps nothing up */
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&drain, NULL);
    uv_run(&s->loop, UV_RUN_NOWAIT);
    if (io_uv_handles_open(s->uv) != 0) {
        LOG_NOTICE("exiting with %zu connection attempts still pending",
                   io_uv_handles_open(s->uv));
        return;
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    io_uv_free(s->uv);
    uv_loop_close(&s->loop);
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--version") == 0 ||
                      strcmp(argv[1], "-v") == 0)) {
        printf("cairn-server v=%s (speaks Redis 7.0 protocol) libuv=%s\n",
               CAIRN_SERVER_VERSION, uv_version_string());
        return 0;
    }
    static struct node_config cfg;
    if (load_config(argc, argv, &cfg) != 0)
        return 1;
    static struct server s;
    s.log_file = stdout;
    if (cfg.logfile[0] != '\0') {
        s.log_file = fopen(cfg.logfile, "a");
        if (s.log_file == NULL) {
            fprintf(stderr, "cairn-server: cannot open log file '%s': %s\n",
                    cfg.logfile, strerror(errno));
            return 1;
        }
    }
    cairn_log_set_sink(log_sink, s.log_file);
    cairn_log_set_level((enum cairn_log_level)cfg.loglevel);
    signal(SIGPIPE, SIG_IGN);
    LOG_NOTICE("cairn %s starting, port %lld", CAIRN_SERVER_VERSION,
               (long long)cfg.port);
    raise_fd_limit(cfg.maxclients);
    int code = 0;
    if (server_start(&s, &cfg) != 0)
        code = 1;
    else
        uv_run(&s.loop, UV_RUN_DEFAULT);
    if (s.node != NULL && node_failed(s.node))
        code = 1;
    server_stop(&s);
    LOG_NOTICE("cairn is now ready to exit, bye bye...");
    if (s.log_file != stdout)
        fclose(s.log_file);
    return code;
}
