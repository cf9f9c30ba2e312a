/*
 * cluster_proc.h: run an N-node cairn cluster of real daemons for the
 * integration tests.
 *
 * Two network layouts:
 * - loopback: every node listens on 127.0.0.1, client ports picked free in
 *   a range whose peer ports (client port + 10000) are free too;
 * - namespaces (root only): a hub namespace holding a bridge and one
 *   namespace per node, each joined to the bridge by a veth pair, node i
 *   at 10.77.0.i/24.  Every name and address lives in namespaces this
 *   process created (names carry its pid), so nothing on the host changes.
 *   A node also binds its namespace's own 127.0.0.1, and the test's client
 *   sockets for node i are created inside node i's namespace (setns), so a
 *   client always reaches its node even when the node is cut off.
 *   cluster_proc_cut() sets the hub side of the node's veth down (a real
 *   partition: every packet to or from the node is lost), heal sets it up.
 *
 * Invariants: every wait is a bounded poll of a condition; every daemon is
 * killed and every namespace deleted by cluster_proc_stop(), and at exit if
 * a failed test skipped that (server_proc kills daemons at exit, an atexit
 * handler here deletes namespaces afterwards).
 */
#ifndef CAIRN_TESTS_CLUSTER_PROC_H
#define CAIRN_TESTS_CLUSTER_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "resp_client.h"
#include "server_proc.h"

#define CLUSTER_PROC_NODES_MAX 5

struct cluster_node {
    struct server_proc proc; /* pid 0 when not running */
    uint64_t id;             /* index + 1 */
    int port;                /* client port; peer port = port + 10000 */
    char host[32];           /* the address in cluster-peers */
    char netns[48];          /* "" in the loopback layout */
    char netns_path[96];
    bool cut;                /* partitioned by cluster_proc_cut */
    bool started;            /* cluster_proc_node_start ran */
    bool killed;             /* ended by cluster_proc_node_kill */
};

struct cluster_proc {
    int n;       /* nodes in cluster-peers */
    bool netns;  /* namespace layout */
    char hub[48];
    int founders;        /* nodes 0..founders-1 know only each other */
    char peers[512];     /* cluster-peers of the founders */
    char peers_all[512]; /* cluster-peers of the later nodes: everyone */
    char secret[64];
    const char *const *extra; /* extra daemon arguments (NULL-terminated) */
    /* When set (before nodes start): durability fsync, node i keeping its
     * files in <dir_base>/n<i+1> (created on start). */
    char dir_base[128];
    struct cluster_node node[CLUSTER_PROC_NODES_MAX];
};

/* Why namespaces cannot be used here (not root, `ip` missing, creation
 * failed), or NULL if they can. */
const char *cluster_proc_netns_unavailable(void);

/* Configures n nodes (all in cluster-peers) and starts the first `start`
 * of them (start <= n), each with --port, --node-id, --cluster-peers,
 * --cluster-secret, --durability memory and extra (may be NULL; kept by
 * pointer).  Returns 0 once every started node answers PING, or -1 after
 * printing why (everything started is stopped again). */
int cluster_proc_start(struct cluster_proc *cp, int n, int start, bool netns,
                       const char *const *extra);

/* Like cluster_proc_start (loopback or namespaces), but only the first
 * `founders` nodes are in the founders' cluster-peers; nodes from index
 * `founders` on get every node in theirs (they join by CLUSTER ADDNODE). */
int cluster_proc_start_founders(struct cluster_proc *cp, int n, int founders,
                                int start, bool netns,
                                const char *const *extra);

/* (Re)starts node i with its configured arguments; `secret` overrides the
 * cluster secret when not NULL.  Returns 0 once it answers PING, or -1. */
int cluster_proc_node_start(struct cluster_proc *cp, int i, const char *secret);

/* kill -9 node i.  Returns its exit status. */
int cluster_proc_node_kill(struct cluster_proc *cp, int i);

bool cluster_proc_node_up(struct cluster_proc *cp, int i);

/* Stops every node (SIGTERM with a bound, then SIGKILL) and deletes the
 * namespaces.  Safe to call twice.  A node that exits 0 leaves no log
 * (server_proc) unless CAIRN_IT_KEEP_LOGS is set: then <log>.kept stays.
 * Returns how many started nodes did not exit 0 (printing each): one that
 * died on its own (not by cluster_proc_node_kill) or failed its shutdown,
 * e.g. an assertion or a sanitizer report.  Tests fail their teardown on
 * it, so a crashed follower cannot go unnoticed. */
int cluster_proc_stop(struct cluster_proc *cp);

/* Connects a client to node i (inside its namespace if any). */
int cluster_proc_connect(struct cluster_proc *cp, int i, struct resp_client *c,
                         int timeout_ms);

/* One command on a fresh connection to node i; the reply is copied into
 * out (NUL-terminated, truncated to out_len).  Returns 0 or -1. */
int cluster_proc_call(struct cluster_proc *cp, int i, const char *line,
                      char *out, size_t out_len);

/* "field:" of node i's INFO replication as an integer; -1 if unavailable. */
long long cluster_proc_info_int(const char *info, const char *field);

/* Polls until every running, uncut node agrees on one leader that is among
 * them.  Returns its index, or -1 after timeout_ms. */
int cluster_proc_wait_leader(struct cluster_proc *cp, int timeout_ms);

/* Polls until every running, uncut node reports the same applied_index as
 * the leader's commit_index (and that is >= min_index).  Returns that
 * index, or -1 after timeout_ms. */
long long cluster_proc_wait_applied_equal(struct cluster_proc *cp,
                                          long long min_index, int timeout_ms);

/* Partition node i from every other node (namespace layout only), and heal. */
int cluster_proc_cut(struct cluster_proc *cp, int i);
int cluster_proc_heal(struct cluster_proc *cp, int i);

/* Every key of db 0 on node i with its value, read through a READONLY
 * connection (the node's own state): SCAN to the end, then GET of each key,
 * appended to out as sorted "key=value\n" lines.  Keys and values must be
 * printable text without spaces.  Returns the key count, or -1. */
long cluster_proc_dump(struct cluster_proc *cp, int i, struct buf *out);

/* Prints every running node's INFO replication on one line each to
 * stderr (for failure messages). */
void cluster_proc_print_state(struct cluster_proc *cp);

/* A client port p of 127.0.0.1 with p and p + 10000 both free now, or -1. */
int cluster_proc_pick_port(void);

/* True once the file at path contains needle (polled until timeout_ms). */
bool cluster_proc_log_has(const char *path, const char *needle, int timeout_ms);

/* Milliseconds on the monotonic clock. */
long long cluster_proc_now_ms(void);

#endif
