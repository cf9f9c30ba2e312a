/*
 * raft_harness.h: a small deterministic in-process cluster for Raft tests.
 *
 * N servers (struct raft instances) share one simulated clock.  The harness
 * plays the host of every server: it delivers messages between them over a
 * network with configurable delay, loss and partitions; it keeps each
 * server's durable storage (hard state, log, snapshot) and completes persist
 * requests after a configurable delay, in order; it applies committed
 * entries to a tiny state machine (a register plus a hash chain of
 * everything applied) and takes snapshots of it; and it serves reads.
 *
 * Crashes lose everything not yet durable: pending persists are dropped and
 * the server restarts from its durable storage only.
 *
 * Everything is driven by one seeded generator, and events are processed in
 * a fixed order (time, then persist completions, then messages in send
 * order, then deadlines by server index), so a seed replays a run exactly;
 * rh->trace_hash summarizes the run for determinism checks.
 *
 * Safety checks run on every step and record the first violation in
 * rh->violation (NULL while all is well):
 *   - Election Safety: at most one leader per term;
 *   - State Machine Safety: no two servers apply different entries (or
 *     reach different states) at the same index;
 *   - the core's own raft_invariants() on every step;
 *   - commit index and term never go back (except across a crash);
 *   - with check_stale_reads, no read is served with a value older than
 *     one committed before the read was issued (linearizable reads).
 *
 * Typical use:
 *     struct rh c;
 *     struct rh_opts o;
 *     rh_opts_default(&o, 3, seed);
 *     rh_init(&c, &o);
 *     int l = rh_wait_leader(&c, 10000);
 *     uint64_t idx;
 *     rh_propose_u64(&c, l, 42, &idx);
 *     rh_run_until_applied(&c, idx, 5000);
 *     ...
 *     rh_free(&c);
 *
 * The harness uses cmocka-free C so that the simulator-style randomized
 * safety test and the benchmark can reuse it.
 */
#ifndef CAIRN_TESTS_RAFT_HARNESS_H
#define CAIRN_TESTS_RAFT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "raft/raft.h"

#define RH_NODES_MAX 9
#define RH_READS_MAX 4096

struct rh_opts {
    uint32_t n_nodes;  /* servers 1..n_nodes (ids are index + 1) */
    uint32_t n_voters; /* the first n_voters found the group; the rest
                        * start with an empty configuration (to be added) */
    uint64_t seed;
    uint32_t net_delay_ms_min; /* per message, uniform in [min, max] */
    uint32_t net_delay_ms_max;
    uint32_t net_loss_pct;     /* independent loss per message */
    uint32_t persist_delay_ms; /* every persist completes after this */
    uint64_t snapshot_every;   /* take a snapshot every so many applied
                                * entries (0: never) */
    uint32_t snapshot_pad;     /* extra bytes in snapshots (for chunking) */
    /* Workloads that only ever write increasing values may set this: a
     * read served below the highest value applied anywhere when it was
     * issued (so committed before it) is a stale read, a violation. */
    bool check_stale_reads;
    struct raft_config cfg;    /* template; id and seed set per server */
};

/* A read answered by the core and then served by the harness. */
struct rh_read {
    uint64_t request_id;
    bool answered;    /* the core answered (status, index valid) */
    int status;       /* from the core */
    uint64_t index;   /* read index */
    bool served;      /* applied index reached index: value is valid */
    uint64_t value;   /* the register when served */
    uint64_t floor;   /* highest value applied anywhere when issued */
};

struct rh_pending_persist; /* a queued durable write */
struct rh_wire;            /* a message in the network */

struct rh_node {
    uint64_t id;
    struct raft *r;
    bool up;
    uint64_t deadline_ms;
    /* durable storage */
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    struct raft_entry *log; /* durable entries, contiguous */
    size_t n_log;
    size_t cap_log;
    struct rh_pending_persist *pending; /* FIFO of writes not yet durable */
    /* snapshot being received */
    uint8_t *recv_buf;
    uint64_t recv_size;
    /* state machine */
    uint64_t applied;
    uint64_t applied_term;
    uint64_t reg;  /* last value written (8-byte NORMAL entries) */
    uint64_t hash; /* chain over everything applied */
    struct raft_conf sm_conf;
    uint64_t last_snap_applied;
    /* observations */
    uint8_t role;
    uint64_t leader_id;
    uint64_t term;
    uint64_t commit;
    struct rh_read reads[RH_READS_MAX];
    size_t n_reads;
    int last_rc;
    uint64_t last_proposed; /* first index of the last proposal */
    uint64_t chunks_received;
    uint64_t installs;
};

struct rh {
    struct rh_opts o;
    struct cairn_rng rng;
    uint64_t now;
    struct rh_node nodes[RH_NODES_MAX];
    uint32_t n;
    bool link[RH_NODES_MAX][RH_NODES_MAX]; /* link[a][b]: a can send to b */
    struct rh_wire *net_head; /* sorted by (due, send order) */
    uint64_t net_seq;
    size_t net_len;
    /* safety bookkeeping */
    uint64_t *leader_of_term; /* index = term */
    size_t leader_cap;
    uint64_t *hash_at;        /* chain hash after applying index i */
    size_t hash_cap;
    const char *violation;
    char violation_buf[256];
    uint64_t trace_hash;
    uint64_t steps;
    uint64_t msgs_delivered;
};

void rh_opts_default(struct rh_opts *o, uint32_t n_voters, uint64_t seed);
/* Builds the cluster (ASSERTs on allocation failure: test-only code). */
void rh_init(struct rh *c, const struct rh_opts *o);
void rh_free(struct rh *c);

/* Steps server i (index, not id) with ev and handles the update.  Returns
 * raft_step's code. */
int rh_step(struct rh *c, uint32_t i, struct raft_event *ev);
/* Processes the next due thing (persist completion, message, deadline) if
 * it is due no later than until; returns false if nothing was due. */
bool rh_tick_once(struct rh *c, uint64_t until);
/* Runs the cluster for ms of simulated time. */
void rh_run(struct rh *c, uint64_t ms);

/* Index of the leader with the highest term among up servers, or -1. */
int rh_leader(const struct rh *c);
/* Runs until some server leads and every up member of its configuration
 * that it can reach follows it; returns its index or -1 after max_ms. */
int rh_wait_leader(struct rh *c, uint64_t max_ms);
/* Runs until every up member of the group has applied index (or max_ms
 * passed); returns true on success. */
bool rh_run_until_applied(struct rh *c, uint64_t index, uint64_t max_ms);

/* Client operations on server i. */
int rh_propose_u64(struct rh *c, uint32_t i, uint64_t value, uint64_t *index);
int rh_read(struct rh *c, uint32_t i, uint64_t request_id, uint8_t mode);
/* The read with that id on server i, or NULL. */
const struct rh_read *rh_read_find(const struct rh *c, uint32_t i,
                                   uint64_t request_id);
int rh_change(struct rh *c, uint32_t i, uint8_t op, uint64_t id);
int rh_transfer(struct rh *c, uint32_t i, uint64_t target_id);

/* Faults. */
void rh_isolate(struct rh *c, uint32_t i);        /* cut i off both ways */
void rh_partition(struct rh *c, uint32_t mask);   /* mask vs the rest */
void rh_cut(struct rh *c, uint32_t a, uint32_t b); /* a -> b only */
void rh_heal(struct rh *c);
void rh_crash(struct rh *c, uint32_t i);   /* loses unpersisted state */
void rh_restart(struct rh *c, uint32_t i);

void rh_status(const struct rh *c, uint32_t i, struct raft_status *st);

#endif

/* ---------------------------------------------------------------------------
 * Single-instance helpers for unit tests that craft messages by hand.
 * ------------------------------------------------------------------------- */

/* Test configuration: elections 100..200 ms, heartbeats 20 ms, prevote and
 * check_quorum off unless the test turns them on. */
void rt_config(struct raft_config *cfg, uint64_t id, uint64_t seed);
/* Creates server id of a group whose voters are 1..n_voters, with the
 * given log (entries, may be NULL) and hard state term, and steps it once
 * at time 0 (its election timer starts then). */
struct raft *rt_new(const struct raft_config *cfg, uint32_t n_voters,
                    const struct raft_entry *entries, size_t n_entries,
                    uint64_t term);
void rt_msg_init(struct raft_msg *m, uint8_t type, uint64_t from,
                 uint64_t to, uint64_t term);
int rt_msg(struct raft *r, uint64_t now, const struct raft_msg *m,
           struct raft_update *up);
int rt_tick(struct raft *r, uint64_t now, struct raft_update *up);
/* Reports everything in memory durable (as an instant disk would). */
int rt_persist_all(struct raft *r, uint64_t now, struct raft_update *up);
/* First message of that type to that server in up (to 0: any), or NULL. */
const struct raft_msg *rt_find(const struct raft_update *up, uint8_t type,
                               uint64_t to);
size_t rt_count(const struct raft_update *up, uint8_t type, uint64_t to);
/* Makes r (server 1 of n voters, prevote off) leader of term 1: elects it,
 * persists, and answers as if every follower granted its vote.  Followers'
 * progress starts in PROBE at last+1. */
struct raft *rt_leader(const struct raft_config *cfg, uint32_t n_voters,
                       uint64_t *now);
/* Acknowledges an append from follower to leader r up to match. */
int rt_ack(struct raft *r, uint64_t now, uint64_t follower, uint64_t match,
           struct raft_update *up);
