/*
 * cluster_int.h: private layout of the replicated node, shared by
 * cluster.c (group, stepping, peers, frames), cluster_write.c (proposals,
 * entries, apply), cluster_read.c (linearizable reads), cluster_forward.c
 * (follower -> leader forwarding), cluster_member.c (membership, rejoin)
 * and cmd_cluster.c (CLUSTER commands, INFO replication), and by session.c
 * (the per-session queue of ops that keeps replies in order).
 *
 * An op is one client command whose reply is not written at once.  It sits
 * on its session's FIFO (snext) until its reply is ready and every op
 * before it has been written, and on at most one cluster list (prev/next)
 * while the cluster works on it.  It is freed when neither holds it.
 */
#ifndef CAIRN_NODE_CLUSTER_INT_H
#define CAIRN_NODE_CLUSTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rng.h"
#include "node/cluster.h"
#include "node/command.h"
#include "node/config.h"
#include "raft/codec.h"
#include "raft/raft.h"

struct session;
struct storage;
struct kv_snap_writer;

/* Frame types: the first byte of every peer frame, then the group id
 * (u64 LE), then the body. */
enum cluster_frame_type {
    CLUSTER_FRAME_RAFT = 1,     /* body: one raft codec frame */
    CLUSTER_FRAME_FWD = 2,      /* forwarded commands (follower -> leader) */
    CLUSTER_FRAME_FWD_RESP = 3, /* their replies (leader -> follower) */
    CLUSTER_FRAME_HELLO = 4,    /* start-up probe: "are you formed?" */
    CLUSTER_FRAME_HELLO_RESP = 5,
    CLUSTER_FRAME_REJOIN = 6,   /* recovering node -> leader */
    CLUSTER_FRAME_REJOIN_ACK = 7, /* leader: you are a learner now */
    CLUSTER_FRAME_REJOIN_CHECK = 8, /* leader: still empty? echo nonce */
};
#define CLUSTER_FRAME_HEADER 9u
#define CLUSTER_GROUP_ID 1u

enum cluster_op_kind {
    OP_LOCAL = 1,  /* reply computed at once, waits only for its turn */
    OP_WRITE = 2,  /* a write on the leader (local or remote origin) */
    OP_READ = 3,   /* a linearizable read waiting for its read index */
    OP_FWD = 4,    /* a write forwarded to the leader (follower side) */
    OP_WAIT = 5,   /* a write waiting for a leader to be known */
};

struct cluster_op {
    struct cluster_op *snext;  /* session FIFO */
    struct cluster_op *prev;   /* cluster list */
    struct cluster_op *next;
    struct session *s;         /* NULL: remote origin or session gone */
    uint8_t kind;
    bool done;                 /* reply is in `reply` */
    bool on_list;              /* held by a cluster list */
    bool remote;               /* leader side: came from peer_id */
    bool has_index;            /* OP_READ: read_index is known */
    bool is_read;              /* counted in the session's reads_waiting */
    uint8_t proto;
    uint8_t db;
    uint64_t deadline_ms;      /* io_now_ms; fail at or after it */
    /* OP_WRITE: where it went (index, term, position in the entry). */
    uint64_t index;
    uint64_t term;
    uint32_t pos;
    /* OP_READ */
    uint64_t read_id;
    uint64_t read_index;       /* 0 until known */
    /* Remote origin (leader side, OP_WRITE) or where an OP_FWD went. */
    uint64_t peer_id;
    uint64_t req_id;
    struct buf cmd;            /* u32 argc, then (u32 len, bytes) each */
    struct buf reply;
};

struct cluster_list {
    struct cluster_op *head;
    struct cluster_op *tail;
    size_t count;
};

struct cluster_peer {
    uint64_t id;
    char host[64];
    uint16_t port;      /* client port */
    uint16_t peer_port; /* cluster port */
    bool formed_known;  /* answered our HELLO */
    bool formed;
    uint64_t fwd_inflight;
    struct buf fwd_out;  /* batched FWD records to send */
    uint32_t fwd_out_count;
    uint64_t fwd_out_first_req;
    struct buf resp_out; /* batched FWD_RESP records to send */
    uint32_t resp_out_count;
    uint64_t match_index; /* leader: last seen progress (INFO) */
    uint64_t answered_ms; /* leader: last append, heartbeat or snapshot
                             reply in this term (io_now_ms; 0: none) */
    uint64_t heard_ms;    /* last frame received from it (io_now_ms) */
    uint64_t reset_ms;    /* last time its links were redialled */
    /* Leader: the REJOIN_CHECK nonce outstanding for it, and its term
     * (0: none).  A re-admission starts only on a REJOIN echoing it. */
    uint64_t rejoin_nonce;
    uint64_t rejoin_nonce_term;
};

struct cluster {
    struct node *node;
    struct io *io;
    const struct node_config *cfg;
    struct cluster_net net;
    uint64_t self_id;
    struct raft *raft;
    struct raft_config rcfg;
    struct io_timer *tick;   /* raft deadline, op deadlines */
    bool tick_armed;
    uint64_t tick_at_ms;     /* when the armed tick fires (io_now_ms) */
    struct io_timer *flush;  /* 0 ms: proposals, reads, forwards batched */
    bool flush_armed;
    uint64_t op_timeout_ms;

    struct cluster_peer peers[RAFT_MEMBERS_MAX];
    size_t n_peers;

    /* Raft state as of the last update. */
    uint8_t role;
    uint64_t term;
    uint64_t leader_id;
    uint64_t commit_index;
    uint64_t applied_index;
    int64_t last_ts; /* highest entry timestamp applied: replicated state,
                      * carried by snapshots (cluster_snap.c) */
    bool apply_failed; /* an entry could not be applied whole: stopping */

    /* Memory-mode persistence: what the next PERSISTED event reports. */
    bool persist_pending;
    struct raft_hard_state p_hs;
    uint64_t p_last_index;
    uint64_t p_last_term;
    struct {
        uint64_t first_index;
        uint64_t term;
        uint32_t count;
    } proposed;

    /* Start-up: waiting for HELLO answers before creating the group. */
    bool starting;
    bool recovering;          /* restarted empty: not re-admitted */
    bool rejoin_acked;        /* leader made us a learner: accept raft */
    uint64_t rejoin_index;    /* ... at this index (REJOIN_ACK) */
    uint64_t rejoin_term;     /* term of the leader's entry there; 0: unknown */
    bool rejoin_marking;      /* fsync: the ACK's mark is being written */
    uint64_t hello_sent_ms;
    struct cairn_rng rng;     /* REJOIN_CHECK nonces, incarnation */
    uint64_t incarnation;     /* this process (random, not 0): REJOIN */

    /* Ops by stage (see cluster_op). */
    struct cluster_list waiting;   /* OP_WAIT: no leader known */
    struct cluster_list props;     /* OP_WRITE not yet proposed */
    struct cluster_list writes;    /* OP_WRITE proposed, by (index, pos) */
    struct cluster_list reads_new; /* OP_READ not yet requested */
    struct cluster_list reads;     /* OP_READ requested or index known */
    struct cluster_list fwds;      /* OP_FWD sent to the leader */
    uint64_t next_read_id;
    uint64_t next_req_id;

    /* Lease fast path: a lease read answered in this ms at this term. */
    uint64_t lease_ok_ms;
    uint64_t lease_ok_term;
    bool lease_probe;         /* set by handle_update when answered */
    uint64_t lease_probe_id;

    /* Expiry: DELs in flight up to this index (skip scanning till then). */
    uint64_t expire_wait_index;
    struct buf expire_entry;
    uint32_t expire_count;
    uint64_t evict_wait_index; /* last eviction entry; none till applied */
    int evict_db;              /* next database to sample */

    /* Membership tasks on the leader (rejoin, add, promote, remove). */
    struct cluster_task {
        uint64_t id;
        uint8_t stage;
        uint64_t learner_index; /* where it was added as a learner */
        uint64_t incarnation;   /* process re-admitted (0: admin task) */
    } tasks[RAFT_MEMBERS_MAX];
    size_t n_tasks;

    /* Graceful stop. */
    void (*stop_cb)(void *ctx);
    void *stop_ctx;
    uint64_t stop_deadline_ms;
    bool stopping;

    /* Proposal building: entries back to back, their buffers. */
    struct buf pbuild;
    size_t pstart[RAFT_PROPOSE_BATCH_MAX + 1];
    struct raft_buf pbufs[RAFT_PROPOSE_BATCH_MAX];
    int64_t last_ts_proposed;
    uint64_t ops_blocked_sessions; /* sessions paused for too many ops */

    /* Snapshots (cluster_snap.c). */
    struct kv_snap_writer *snap_w;      /* one being serialized */
    struct raft_snapshot_meta snap_meta; /* of the one being built */
    struct buf snap_building;
    struct buf snap_data;      /* last one handed to raft (kept alive) */
    struct buf snap_recv;      /* chunks received from a leader */
    struct raft_snapshot_meta install_meta;
    uint64_t snap_index;       /* last snapshot's index */
    uint64_t snap_every;       /* entries applied between snapshots */
    bool snap_handback;        /* pass the installed one back after the step */
    bool snap_writing;         /* storage is writing snap_building */
    struct raft_conf applied_conf; /* configuration as of applied_index */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;

    struct storage *storage;   /* durability fsync; NULL: memory */
    bool storage_failed;

    bool in_step;              /* raft_step is on the stack */
    struct raft_codec_msg *decoded; /* incoming message (large) */

    /* Scratch. */
    struct buf frame;          /* one outgoing frame */
    struct buf scratch_reply;  /* replies nobody waits for */
    const char **argv;
    size_t *argv_len;
    size_t argv_cap;

    /* Counters for INFO. */
    uint64_t entries_applied;
    uint64_t writes_forwarded;
    uint64_t proposals;
};

/* ---- cluster_net.c: the daemon's net over src/node/transport ---- */
int cluster_net_default(struct cluster *c, struct cluster_net *out);

/* ---- cluster.c ---- */
/* Runs a CMD_WRITE or CMD_READONLY command of s on the replicated node. */
void cluster_execute(struct cluster *c, struct session *s,
                     const struct command *cmd, int argc,
                     const char *const *argv, const size_t *argv_len);
int cluster_step(struct cluster *c, struct raft_event *ev);
void cluster_waiting_dispatch(struct cluster *c);
void cluster_flush_arm(struct cluster *c);
/* Arms the tick for at_ms (absolute), unless it fires earlier already. */
void cluster_tick_arm(struct cluster *c, uint64_t at_ms);
int cluster_send_frame(struct cluster *c, uint64_t peer, const void *data,
                       size_t len);
void cluster_frame_begin(struct cluster *c, uint8_t type);
struct cluster_peer *cluster_peer_find(struct cluster *c, uint64_t id);
uint64_t cluster_now(const struct cluster *c);
bool cluster_is_leader(const struct cluster *c);

/* list helpers */
void cluster_list_push(struct cluster_list *l, struct cluster_op *op);
void cluster_list_remove(struct cluster_list *l, struct cluster_op *op);
struct cluster_op *cluster_list_pop(struct cluster_list *l);

/* little-endian helpers */
int put_u8(struct buf *b, uint8_t v);
int put_u32(struct buf *b, uint32_t v);
int put_u64(struct buf *b, uint64_t v);
struct reader {
    const uint8_t *p;
    size_t len;
    bool bad;
};
uint8_t get_u8(struct reader *r);
uint32_t get_u32(struct reader *r);
uint64_t get_u64(struct reader *r);
const uint8_t *get_bytes(struct reader *r, size_t n);

/* ---- ops (cluster.c) ---- */
/* Allocates an op of kind for session s (NULL: remote); appends it to s's
 * FIFO.  NULL on no memory. */
struct cluster_op *cluster_op_new(struct cluster *c, struct session *s,
                                  uint8_t kind);
/* Encodes argv into op->cmd.  0 or CAIRN_ENOMEM. */
int cluster_op_set_cmd(struct cluster_op *op, int argc,
                       const char *const *argv, const size_t *argv_len);
/* Decodes cmd (argc, args) into the cluster's scratch argv.  Returns argc
 * (> 0) or -1 when malformed. */
int cluster_cmd_decode(struct cluster *c, const uint8_t *p, size_t len);
/* The reply is final: marks op done (if not already), hands it to its
 * session (which writes it in order) or sends it to its peer. */
void cluster_op_finish(struct cluster *c, struct cluster_op *op);
/* Replies with an error and finishes. */
void cluster_op_fail(struct cluster *c, struct cluster_op *op,
                     const char *msg);
/* Drops a list hold; frees the op when nothing holds it. */
void cluster_op_release(struct cluster_op *op);

#define CLUSTER_ERR_DOWN "CLUSTERDOWN The cluster is down"
#define CLUSTER_ERR_LOST \
    "TRYAGAIN leadership lost; the write may or may not have been applied"
#define CLUSTER_ERR_TIMEOUT \
    "TRYAGAIN no answer from the leader in time; the write may or may " \
    "not have been applied"
#define CLUSTER_ERR_APPLY \
    "TRYAGAIN this node ran out of memory applying the log and is " \
    "stopping; the write may or may not have been applied"

/* ---- cluster_write.c ---- */
void cluster_write_submit(struct cluster *c, struct cluster_op *op);
void cluster_write_flush(struct cluster *c);
/* Applies a committed normal entry.  0, or CAIRN_ENOMEM when an allocation
 * failed on the way: the node is then stopping (node_fatal) and nothing
 * more may be applied (c->apply_failed). */
int cluster_apply_entry(struct cluster *c, const struct raft_entry *e);
void cluster_write_leader_lost(struct cluster *c);
void cluster_expire_propose(struct cluster *c);
/* Over maxmemory (and a policy other than noeviction): proposes one entry
 * of keys to delete, chosen by sampling as Redis does. */
void cluster_evict_propose(struct cluster *c);
/* Proposes an address book entry (CLUSTER ADDNODE); 0 or the step's
 * error. */
int cluster_propose_peer(struct cluster *c, uint64_t id, const char *host,
                         uint16_t port);

/* ---- cluster_read.c ---- */
/* Serves a READONLY-flagged command for s; may reply at once. */
void cluster_read_submit(struct cluster *c, struct session *s, int argc,
                         const char *const *argv, const size_t *argv_len);
void cluster_read_flush(struct cluster *c);
void cluster_read_answer(struct cluster *c, const struct raft_read_state *rs);
void cluster_read_serve(struct cluster *c);

/* ---- cluster_forward.c ---- */
void cluster_forward_submit(struct cluster *c, struct cluster_op *op);
void cluster_forward_flush(struct cluster *c);
void cluster_forward_recv(struct cluster *c, uint64_t from,
                          struct reader *r);
void cluster_forward_resp_recv(struct cluster *c, uint64_t from,
                               struct reader *r);
void cluster_forward_reply(struct cluster *c, struct cluster_op *op);
void cluster_forward_leader_changed(struct cluster *c);

/* ---- cluster_snap.c ---- */
void cluster_snap_conf_applied(struct cluster *c, const struct raft_entry *e);
void cluster_snap_maybe_begin(struct cluster *c);
void cluster_snap_progress(struct cluster *c);
void cluster_snap_written(struct cluster *c, int status);
void cluster_snap_chunk(struct cluster *c,
                        const struct raft_snapshot_chunk *ch);
void cluster_snap_install(struct cluster *c,
                          const struct raft_snapshot_meta *m);
void cluster_snap_handback(struct cluster *c);
void cluster_snap_free(struct cluster *c);
/* Loads snapshot bytes (address book prefix, then the kv): the kv is
 * replaced only if all of it is valid.  0 or CAIRN_ECORRUPT/EVERSION/
 * ENOMEM. */
int cluster_snap_load(struct cluster *c, const void *data, size_t len);

/* ---- cluster_storage.c (durability fsync) ---- */
/* Opens the group's files; the group is created from them in the open
 * callback (or probed for, if the directory holds nothing). */
int cluster_storage_start(struct cluster *c);
/* Queues the durable writes of up (before the next raft_step). */
void cluster_storage_persist(struct cluster *c, const struct raft_update *up);
void cluster_storage_snapshot_write(struct cluster *c);
/* Records the founding configuration of a new group. */
void cluster_storage_bootstrap(struct cluster *c,
                               const struct raft_conf *conf);
void cluster_storage_close(struct cluster *c);
/* fsync: makes the rejoin mark durable (index > 0, then the ACK takes
 * effect) or clears it (0, a voter again); see storage_rejoin_set. */
void cluster_storage_rejoin_mark(struct cluster *c, uint64_t index);

/* ---- cluster_member.c ---- */
void cluster_member_hello_recv(struct cluster *c, uint64_t from,
                               struct reader *r, bool resp);
/* REJOIN, REJOIN_ACK or REJOIN_CHECK (type) from a peer. */
void cluster_member_rejoin_recv(struct cluster *c, uint64_t from,
                                struct reader *r, uint8_t type);
void cluster_member_cron(struct cluster *c);
int cluster_member_start(struct cluster *c);
/* Creates the Raft instance: bootstrap (all peers voters) or recovering
 * (empty configuration). */
int cluster_member_create(struct cluster *c, bool bootstrap);
/* Applies an address book entry: adds or updates the peer (and the net). */
void cluster_member_peer_add(struct cluster *c, uint64_t id, const char *host,
                             uint16_t port);
void cluster_member_applied_conf(struct cluster *c);
/* Memory mode: ends recovering once this life's promotion is in the log
 * (before a Raft message is taken in). */
void cluster_member_appended_conf(struct cluster *c);
int cluster_member_change(struct cluster *c, uint8_t op, uint64_t id);
bool cluster_member_accepts(const struct cluster *c,
                            const struct raft_msg *m);

#endif
