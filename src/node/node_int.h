/*
 * node_int.h: the private layout of a node and its sessions, shared by
 * node.c (lifecycle, dispatch, cron), session.c (per-connection protocol
 * handling) and cmd_server.c (commands about the server and connection).
 * Nothing outside src/node/ includes it.
 */
#ifndef CAIRN_NODE_NODE_INT_H
#define CAIRN_NODE_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/limits.h"
#include "core/rng.h"
#include "node/command.h"
#include "node/config.h"
#include "node/node.h"
#include "resp/resp.h"

struct session {
    struct node *node;
    struct io_conn *conn;
    struct session *prev; /* in node's list, in id (= creation) order */
    struct session *next;
    uint64_t id;
    char addr[64];  /* peer "ip:port" */
    char laddr[64]; /* our "ip:port" */
    char *name;     /* CLIENT SETNAME; NULL when unset */
    char *lib_name; /* CLIENT SETINFO */
    char *lib_ver;
    int db;
    int proto; /* 2 or 3 */
    bool authenticated;
    bool in_batch;          /* its read/drain processing is on the stack */
    bool close_after_reply; /* QUIT, protocol error: flush, then close */
    bool closing;           /* close at the end of the current batch */
    bool blocked;           /* backpressure: output too large, not running */
    bool read_paused;       /* io reading paused because of `blocked` */
    struct buf query;       /* unparsed input, bounded by query_buf_max */
    struct buf out;         /* replies not yet handed to the io */
    struct resp_parser parser;
    struct resp_writer w;
    const char **argv; /* of the command being run, into the input */
    size_t *argv_len;
    size_t argv_cap;
    uint64_t created_ms; /* io_now_ms at accept */
    uint64_t last_ms;    /* last read or write, for `timeout` */
    uint64_t soft_since_ms; /* output above the soft limit since; 0: not */
    const struct command *last_cmd;
    const char *last_sub; /* subcommand of last_cmd (static), or NULL */
    /* Replicated node: commands whose replies are not written yet, in
     * order (cluster_int.h); while any is queued, every later reply waits
     * behind it. */
    struct cluster_op *op_head;
    struct cluster_op *op_tail;
    size_t ops_count;
    size_t reads_waiting;  /* OP_READ ops not done */
    size_t writes_waiting; /* write ops (leader, forwarded, waiting) not done */
    bool ops_blocked; /* stopped: too many ops, or a read behind writes (or
                         a write behind reads) must wait for them */
    bool readonly;    /* READONLY: reads served from local state */
    uint8_t wait_for; /* enum session_wait, while ops_blocked */
};

enum session_wait {
    SESSION_WAIT_COUNT = 0,  /* too many ops in flight */
    SESSION_WAIT_READS = 1,  /* a write behind unfinished reads */
    SESSION_WAIT_WRITES = 2, /* a read behind unfinished writes */
};

struct node_stats {
    uint64_t connections_received;
    uint64_t commands_processed;
    uint64_t rejected_connections;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
    uint64_t writes_applied;
    uint64_t error_replies;
    uint64_t qbuf_limit_disconnections;
    uint64_t obuf_limit_disconnections;
    uint64_t timeout_disconnections;
};

struct node {
    struct io *io;
    struct node_config cfg;
    struct kv *kv;
    struct resp_limits resp_limits;
    struct session *head;
    struct session *tail;
    size_t clients;
    uint64_t next_client_id;
    struct io_timer *cron;
    struct io_listener *listeners[CAIRN_BIND_ADDRS_MAX];
    size_t listeners_count;
    uint16_t port; /* of the first listener, for INFO */
    struct node_stats stats;
    struct cairn_rng rng;
    char run_id[41];
    int64_t start_wall_ms;
    uint64_t start_ms;
    uint64_t cron_runs;
    uint64_t ops_sample_ms; /* instantaneous_ops_per_sec sampling */
    uint64_t ops_sample_cmds;
    uint64_t ops_per_sec;
    void (*shutdown_cb)(void *ctx);
    void *shutdown_ctx;
    bool shutdown_requested;
    struct cluster *cluster; /* NULL: single node */
    bool failed;             /* node_fatal: stop, exit status 1 */
};

/* ---- session.c ---- */

/* True while s must authenticate first: as Redis, only while a password is
 * configured (clearing requirepass lets everyone in). */
static inline bool session_needs_auth(const struct session *s)
{
    return !s->authenticated && s->node->cfg.requirepass[0] != '\0';
}

/* Creates a session for an accepted conn and starts reading.  On failure
 * (memory) closes the conn.  Returns the session or NULL. */
struct session *session_new(struct node *n, struct io_conn *conn);
/* Closes the conn and frees the session now.  Must not be called on a
 * session whose batch is on the stack; use session_kill. */
void session_free(struct session *s);
/* Closes s now, or at the end of its batch if it is running. */
void session_kill(struct session *s);
/* Hands s->out to the io and applies the output limits. */
void session_flush(struct session *s);
/* Applies the output limits to what the io still holds: marks s `closing`
 * (and logs) when the client does not read its replies.  Called after each
 * flush and by cron (a session held back by backpressure flushes nothing). */
void session_check_output(struct session *s);
/* Formats one CLIENT LIST line (with its trailing newline) into b. */
void session_describe(const struct session *s, uint64_t now_ms,
                      struct buf *b);

/* Appends op to s's reply queue (cluster.c creates ops). */
void session_op_append(struct session *s, struct cluster_op *op);
/* Some op of s finished: writes every ready reply at the head of the
 * queue, in order, and flushes (unless s is running its batch).  May free
 * s if it was closing.  Never runs commands. */
void session_ops_ready(struct session *s);
/* op of s got its reply (before it is written): updates the counts of
 * waiting reads and writes. */
void session_op_settled(struct session *s, const struct cluster_op *op);
/* Removes op from s's queue without writing it (the cluster is going). */
void session_op_detach(struct session *s, struct cluster_op *op);
/* Resumes sessions paused for too many ops in flight (flush timer). */
void node_sessions_resume(struct node *n);

/* ---- node.c ---- */

/* Looks up and runs one command for s (checks arity, auth, memory). */
void node_execute(struct node *n, struct session *s, int argc,
                  const char *const *argv, const size_t *argv_len);
/* Applies settings changed by CONFIG SET to the running node. */
void node_config_changed(struct node *n);
/* Asks the host to stop (SHUTDOWN). */
void node_request_shutdown(struct node *n);
/* node_apply_write with the command already looked up (the replicated
 * apply path validates it first). */
void node_apply_cmd(struct node *n, const struct command *cmd, int db,
                    int argc, const char *const *argv, const size_t *argv_len,
                    int64_t now_ms, struct resp_writer *w);
/* Replicated eviction: deletes key (a committed evict record). */
void node_apply_evict(struct node *n, int db, const char *key, size_t klen,
                      int64_t now_ms);
/* A state that cannot go on (storage failure, a snapshot that does not
 * load, an entry that could not be applied whole): logs, marks the node
 * failed and asks the host to stop.  Until the host stops it, a failed
 * node answers every data command NODE_ERR_STOPPING. */
void node_fatal(struct node *n);
#define NODE_ERR_STOPPING \
    "CLUSTERDOWN this node cannot continue safely and is stopping"
/* Runs a CMD_READONLY command for s (which may be NULL) with reply to w. */
void node_execute_read(struct node *n, struct session *s, int db, int argc,
                       const char *const *argv, const size_t *argv_len,
                       struct resp_writer *w);
/* Replicated expiry: deletes key if it is expired at now_ms (a committed
 * expire record; the same on every replica). */
void node_apply_expire(struct node *n, int db, const char *key, size_t klen,
                       int64_t now_ms);

#endif
