/*
 * cluster.h: the replicated node: one Raft group holding every key, the
 * write path (proposals, apply, replies), linearizable reads, forwarding
 * from followers, membership and the peer-frame protocol.
 *
 * A node with cluster-peers owns one struct cluster (node.c creates it);
 * without peers there is none and the node behaves as a single server.
 * Everything runs on the io's thread.  Peer bytes travel through a struct
 * cluster_net: the daemon's comes from src/node/transport (see
 * cluster_net.c), tests plug in an in-process loopback.  The cluster never
 * calls back into the net from cluster_recv synchronously with the same
 * frame; sends are queued by the net.
 *
 * Design and invariants: docs/design/cluster.md.
 */
#ifndef CAIRN_NODE_CLUSTER_H
#define CAIRN_NODE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct cluster;

/* How the cluster reaches its peers.  send returns 0, or CAIRN_EFULL /
 * CAIRN_ECLOSED when the frame was dropped (Raft retries; forwarded
 * commands time out).  peer_set/peer_remove may be NULL (a static net). */
struct cluster_net {
    void *ctx;
    int (*send)(void *ctx, uint64_t peer_id, const void *frame, size_t len);
    int (*peer_set)(void *ctx, uint64_t peer_id, const char *host,
                    uint16_t peer_port);
    void (*peer_remove)(void *ctx, uint64_t peer_id);
    void (*free)(void *ctx); /* called by cluster_free; may be NULL */
};

/* Creates the cluster of node n from n's configuration.  net NULL: build
 * the real transport (cluster_net.c).  Returns 0, CAIRN_ECONFIG (bad
 * settings, logged), CAIRN_ENOMEM. */
int cluster_new(struct node *n, const struct cluster_net *net,
                struct cluster **out);
void cluster_free(struct cluster *c);

/* A frame from peer from (borrowed for the call).  Malformed frames are
 * logged and dropped. */
void cluster_recv(struct cluster *c, uint64_t from, const void *frame,
                  size_t len);

/* The transport's link to peer_id came up (up) or went down.  A node
 * waiting to be re-admitted asks that peer at once: REJOINs sent only on
 * the timer can keep landing on a link that the leader's silent-peer
 * redial has just cut, when both run at the same period.  Down: the
 * peer's earlier answers no longer count as answering (membership). */
void cluster_peer_link(struct cluster *c, uint64_t peer_id, bool up);

/* Starts a graceful stop: a leader hands leadership to the most
 * up-to-date voter, waiting at most an election timeout; then done_cb
 * runs (from a timer, never inside this call). */
void cluster_shutdown_begin(struct cluster *c, void (*done_cb)(void *ctx),
                            void *ctx);

/* State for INFO, CLUSTER commands and tests. */
struct cluster_status {
    uint64_t self_id;
    uint8_t role;        /* enum raft_role */
    uint64_t term;
    uint64_t leader_id;  /* 0: unknown */
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t last_index;
    bool voter;          /* self is a voter in the latest configuration */
    bool recovering;     /* memory-mode restart, not yet re-admitted */
    uint32_t members;    /* voters + learners */
    uint64_t snapshot_index;      /* last snapshot taken or installed */
    uint64_t snapshots_installed; /* received from a leader */
};
void cluster_status_get(const struct cluster *c, struct cluster_status *out);

/* Runs periodic work (called by node_cron): the leader's expiry DELs,
 * membership tasks, the rejoin request of a recovering node. */
void cluster_cron(struct cluster *c);

#endif
