/*
 * server_proc.c: see server_proc.h.
 *
 * Invariants: a started process is in `live` until it has been reaped;
 * every wait is a poll of a condition (process exited, PING answered) with a
 * fixed number of rounds of a few milliseconds each.
 */
#define _GNU_SOURCE /* setns */
#include "server_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "resp_client.h"

#define LIVE_MAX 16
#define ARGS_MAX 64
#define START_ATTEMPTS 3        /* fresh ports tried if one was taken */
#define READY_ROUNDS 400        /* x READY_PAUSE_MS: 8 s to answer PING */
#define READY_PAUSE_MS 20

static pid_t live[LIVE_MAX];
static bool atexit_done;
/* Network namespace the next spawned child enters (server_proc_launch). */
static const char *spawn_netns;
/* Incarnation counter for launch log names. */
static int launch_count;

static void live_kill_all(void)
{
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    }
}

static void live_add(pid_t pid)
{
    if (!atexit_done) {
        atexit(live_kill_all);
        atexit_done = true;
    }
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == 0) {
            live[i] = pid;
            return;
        }
    }
    fprintf(stderr, "server_proc: more than %d live servers\n", LIVE_MAX);
    abort();
}

static void live_remove(pid_t pid)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i] == pid)
            live[i] = 0;
}

void server_proc_pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *server_proc_cairn_path(void)
{
    const char *p = getenv("CAIRN_SERVER");
    return p != NULL && *p != '\0' ? p : "build/cairn-server";
}

const char *server_proc_redis_path(void)
{
    const char *p = getenv("REDIS_SERVER");
    return p != NULL && *p != '\0' ? p : "/usr/bin/redis-server";
}

bool server_proc_target_is_redis(void)
{
    return strstr(server_proc_cairn_path(), "redis-server") != NULL;
}

/* A port that was free a moment ago (the kernel picks it). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Reaps the process if it has exited; true if it is gone. */
static bool reap(struct server_proc *s)
{
    if (s->pid <= 0)
        return true;
    int status = 0;
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    if (r == 0)
        return false;
    s->exit_status = r == s->pid ? decode_status(status) : -1;
    live_remove(s->pid);
    s->pid = 0;
    return true;
}

bool server_proc_alive(struct server_proc *s)
{
    return !reap(s);
}

static pid_t spawn(struct server_proc *s, const char *bin,
                   const char *const *extra)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    const char *argv[ARGS_MAX];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = port;
    if (s->kind == SERVER_REDIS) {
        static const char *const redis_args[] = {
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--protected-mode", "no", NULL};
        for (int i = 0; redis_args[i] != NULL; i++)
            argv[n++] = redis_args[i];
    }
    for (int i = 0; extra != NULL && extra[i] != NULL && n < ARGS_MAX - 1; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* If the test dies without cleaning up (abort, sanitizer), so does the
     * server: atexit handlers do not run on abort. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    if (spawn_netns != NULL) {
        int nfd = open(spawn_netns, O_RDONLY | O_CLOEXEC);
        if (nfd < 0 || setns(nfd, CLONE_NEWNET) != 0)
            _exit(125);
        close(nfd);
    }
    int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
}

/* Polls for a PONG while the process lives; bounded by READY_ROUNDS. */
static int wait_ready(struct server_proc *s)
{
    for (int round = 0; round < READY_ROUNDS; round++) {
        if (reap(s))
            return -1;
        struct resp_client c;
        if (resp_client_connect(&c, s->port, 500) == 0) {
            const char *r = resp_client_call(&c, "PING");
            bool ok = r != NULL && (strcmp(r, "+PONG\r\n") == 0 ||
                                    strncmp(r, "-NOAUTH", 7) == 0);
            resp_client_close(&c);
            if (ok)
                return 0;
        } else {
            resp_client_close(&c);
        }
        server_proc_pause_ms(READY_PAUSE_MS);
    }
    return -1;
}

int server_proc_start(struct server_proc *s, enum server_kind kind,
                      const char *const *extra_args)
{
    const char *bin =
        kind == SERVER_REDIS ? server_proc_redis_path() : server_proc_cairn_path();
    memset(s, 0, sizeof(*s));
    s->kind = strstr(bin, "redis-server") != NULL ? SERVER_REDIS : kind;
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        s->port = free_port();
        if (s->port <= 0)
            continue;
        snprintf(s->log_path, sizeof(s->log_path), "/tmp/cairn-it-%d-%d.log",
                 (int)getpid(), s->port);
        s->pid = spawn(s, bin, extra_args);
        if (s->pid < 0) {
            s->pid = 0;
            return -1;
        }
        live_add(s->pid);
        if (wait_ready(s) == 0)
            return 0;
        if (s->pid > 0)
            server_proc_stop(s, 2000);
        fprintf(stderr, "server_proc: %s on port %d did not start (exit %d); "
                "see %s\n", bin, s->port, s->exit_status, s->log_path);
        if (s->exit_status == 127)
            return -1; /* exec failed: another port will not help */
    }
    return -1;
}

int server_proc_start_target(struct server_proc *s,
                             const char *const *extra_args)
{
    return server_proc_start(
        s, server_proc_target_is_redis() ? SERVER_REDIS : SERVER_CAIRN,
        extra_args);
}

/* A clean exit leaves no log behind; any other keeps it for the reader. */
static int finish(struct server_proc *s)
{
    if (s->exit_status == 0 && s->log_path[0] != '\0')
        unlink(s->log_path);
    return s->exit_status;
}

int server_proc_wait_exit(struct server_proc *s, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (reap(s)) {
            finish(s);
            return 0;
        }
        server_proc_pause_ms(10);
    }
    return -1;
}

int server_proc_stop(struct server_proc *s, int timeout_ms)
{
    if (s->pid <= 0)
        return s->exit_status;
    kill(s->pid, SIGTERM);
    if (server_proc_wait_exit(s, timeout_ms) == 0)
        return finish(s);
    fprintf(stderr, "server_proc: pid %d ignored SIGTERM for %d ms; killing\n",
            (int)s->pid, timeout_ms);
    kill(s->pid, SIGKILL);
    int status = 0;
    waitpid(s->pid, &status, 0);
    live_remove(s->pid);
    s->pid = 0;
    s->exit_status = decode_status(status);
    return s->exit_status;
}

static long status_field_kb(const struct server_proc *s, const char *field)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

long server_proc_rss_kb(const struct server_proc *s)
{
    return s->pid > 0 ? status_field_kb(s, "VmRSS") : -1;
}

long server_proc_peak_rss_kb(const struct server_proc *s)
{
    return s->pid > 0 ? status_field_kb(s, "VmHWM") : -1;
}

int server_proc_launch(struct server_proc *s, int port, const char *netns_path,
                       const char *const *extra_args)
{
    memset(s, 0, sizeof(*s));
    s->kind = SERVER_CAIRN;
    s->port = port;
    snprintf(s->log_path, sizeof(s->log_path), "/tmp/cairn-it-%d-%d-%d.log",
             (int)getpid(), port, ++launch_count);
    spawn_netns = netns_path;
    s->pid = spawn(s, server_proc_cairn_path(), extra_args);
    spawn_netns = NULL;
    if (s->pid < 0) {
        s->pid = 0;
        return -1;
    }
    live_add(s->pid);
    return 0;
}

int server_proc_kill9(struct server_proc *s)
{
    if (s->pid <= 0)
        return s->exit_status;
    kill(s->pid, SIGKILL);
    int status = 0;
    waitpid(s->pid, &status, 0);
    live_remove(s->pid);
    s->pid = 0;
    s->exit_status = decode_status(status);
    return s->exit_status;
}
