/*
 * server_proc.h: run a real server process (cairn-server, or Debian's
 * redis-server for differential tests) on a free 127.0.0.1 port.
 *
 * Start waits until the server answers PING, polling that condition a
 * bounded number of times (and noticing at once if the process died).  Stop
 * sends SIGTERM, waits for the exit with a bound, then SIGKILLs.  Every
 * process started here is also killed at exit if a failing test left it
 * running, so a test run never leaks daemons.
 *
 * Only 127.0.0.1 is ever used.  Every wait is bounded in count and time.
 */
#ifndef CAIRN_TESTS_SERVER_PROC_H
#define CAIRN_TESTS_SERVER_PROC_H

#include <stdbool.h>
#include <sys/types.h>

enum server_kind {
    SERVER_CAIRN,
    SERVER_REDIS,
};

struct server_proc {
    enum server_kind kind;
    pid_t pid;        /* 0 when not running */
    int port;
    int exit_status;  /* after stop/wait: exit code, or 128+signal */
    char log_path[128];
};

/* Path of the daemon under test: $CAIRN_SERVER, else "build/cairn-server". */
const char *server_proc_cairn_path(void);
/* Path of Debian's redis-server: $REDIS_SERVER, else /usr/bin/redis-server. */
const char *server_proc_redis_path(void);
/* True when $CAIRN_SERVER names a redis-server: the suite then validates
 * itself against Redis (every test must pass there first). */
bool server_proc_target_is_redis(void);

/* Starts the server under test (kind from server_proc_target_is_redis()) or
 * redis-server, with "--port N" and extra_args (NULL-terminated, may be
 * NULL) on its command line.  redis-server always also gets --bind
 * 127.0.0.1 --save "" --appendonly no.  Returns 0, or -1 after printing why
 * (the binary could not start, exited, or never answered PING). */
int server_proc_start(struct server_proc *s, enum server_kind kind,
                      const char *const *extra_args);
int server_proc_start_target(struct server_proc *s,
                             const char *const *extra_args);

/* SIGTERM, wait up to timeout_ms for the exit, then SIGKILL.  Returns the
 * exit status (also kept in s->exit_status). */
int server_proc_stop(struct server_proc *s, int timeout_ms);

/* Waits up to timeout_ms for the process to exit on its own (after
 * SHUTDOWN).  Returns 0 with s->exit_status set, or -1 if still running. */
int server_proc_wait_exit(struct server_proc *s, int timeout_ms);

bool server_proc_alive(struct server_proc *s);

/* Resident set size and its peak (VmRSS, VmHWM) in KiB, or -1. */
long server_proc_rss_kb(const struct server_proc *s);
long server_proc_peak_rss_kb(const struct server_proc *s);

/* Sleeps ms milliseconds: only for pacing a bounded poll of a condition. */
void server_proc_pause_ms(int ms);

/* Starts the cairn daemon on a port the caller chose, with extra_args,
 * WITHOUT waiting for it to answer (the caller polls readiness, e.g. inside
 * a network namespace).  netns_path: NULL, or a file such as
 * /var/run/netns/<name> whose network namespace the child enters before
 * exec.  The log goes to a fresh /tmp/cairn-it-<pid>-<port>-<n>.log, so a
 * restarted node keeps its earlier incarnation's log.  Returns 0 or -1. */
int server_proc_launch(struct server_proc *s, int port, const char *netns_path,
                       const char *const *extra_args);

/* SIGKILL (kill -9) and reap; no grace period.  Returns the exit status. */
int server_proc_kill9(struct server_proc *s);

#endif
