/*
 * node_adapter.h: the real cairn node (src/node + src/raft, the daemon's
 * code) as the runner's struct sim_server_ops, and the cross-node checks
 * that run on it.
 *
 * A node is node_new() over the node's sim_io with a cluster-peers list
 * naming every server host (10.0.0.<i+1>:port, peer port = port + 10000),
 * so peers talk through src/node/transport over the simulated network just
 * as the daemon does over sockets.  Crash: the runner crashes the sim_io
 * (no callbacks), then node_free() releases the dead handles.  Restart: a
 * new node over a fresh sim_io on the same sim disk (fsync durability
 * reloads from it; memory durability comes back empty and rejoins).  Wipe:
 * the disk is emptied before a restart.
 *
 * Knobs (cluster size, durability, election timeout, heartbeat, snapshot
 * threshold, lease reads, redirects, key space, clients, Raft tuning,
 * read-mostly load, scenario profile) are drawn from the seed by
 * sim_node_knobs_draw() with their own generator, so they never shift the
 * world's random stream.
 *
 * The check (sim_server_ops.check), run after every event:
 *   - at most one leader per term over the whole run;
 *   - per node incarnation, term and commit index never go back (with fsync
 *     durability the term also survives restarts);
 *   - applied <= committed;
 *   - state machine safety: an index committed anywhere holds one (term,
 *     type, bytes) everywhere it is committed, over the whole run;
 *   - leader completeness: a leader's log holds every entry known to be
 *     committed (checked fully when a node is first seen leading a term,
 *     then at the highest committed index);
 *   - log matching: where two logs hold the same term at the same index,
 *     the entries there and in a window before it are identical;
 *   - replica state: every node at applied index i has the same kv_digest
 *     as any node ever seen at i;
 *   - lease safety: while a leader's lease is valid by its own current
 *     clock, no leader of a later term has committed its no-op.
 * A node that stopped itself (node_failed: storage failure) is reported to
 * the runner as fatal, which crashes and restarts it.
 *
 * Disk faults (fsync durability only): bits of a node's files may be
 * flipped, up or down, and a restart may wipe the disk first (an operator
 * replacing it; wipe_pct), but only while a majority of the voters of every
 * configuration in force keeps intact data without that node: a node whose
 * disk took a flipped bit since its last successful load, or that was
 * wiped and is not a voter again, does not count.  A node that refuses to
 * start on corrupt files is wiped by the runner before its next start (the
 * operator's answer); one that refuses on a disk never corrupted is a node
 * bug, reported by the check, as is a wiped node (that had a term) acting
 * as a voter with a configuration from before its re-admission.  A wiped,
 * re-admitted node is stopped once in the middle of its rejoin (a targeted
 * fault), and nodes whose disks took flipped bits restart when the faults
 * stop, so every corruption is read back.
 */
#ifndef CAIRN_SIM_NODE_ADAPTER_H
#define CAIRN_SIM_NODE_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runner.h"

struct sim_node_knobs {
    unsigned nodes;            /* 1..7 */
    unsigned clients;          /* 1..8 */
    unsigned keys;             /* key space */
    int durability;            /* enum config_durability */
    uint32_t election_timeout_ms;
    uint32_t heartbeat_ms;
    uint32_t snapshot_entries; /* applied entries between snapshots */
    bool lease_reads;
    bool redirect;             /* followers answer -MOVED */
    unsigned ttl_pct;          /* workload side ops on TTL keys */
    unsigned admin_permille;   /* transfers and membership changes */
    uint32_t alloc_fail_ppm;   /* node allocations failing (fault phase) */
    unsigned wipe_pct;         /* fsync: restarts that wipe the disk first */
    uint64_t wipe_seed;        /* the wipe draws' own generator */
    uint32_t append_max_bytes; /* raft-append-max-bytes (1: one entry) */
    uint32_t inflight_max_msgs; /* raft-inflight-max-msgs (1: stop-and-wait) */
    bool check_quorum;         /* raft-check-quorum */
    unsigned read_pct;         /* read-mostly workload (0: the usual mix) */
    unsigned profile;          /* enum sim_node_profile */
    unsigned fault_focus;      /* sim_run_config.fault_focus */
};

/* A scenario profile overrides a few knobs and focuses the faults on one
 * kind, for safety mechanisms that only a rare combination exercises. */
enum sim_node_profile {
    SIM_PROFILE_NONE = 0,
    SIM_PROFILE_FIGURE8,  /* one-entry stop-and-wait appends, leaders deposed */
    SIM_PROFILE_LEASE,    /* no CheckQuorum, lease reads, read-mostly, bridges */
};

/* Draws every knob from seed.  nodes_fixed > 0 pins the cluster size. */
void sim_node_knobs_draw(uint64_t seed, unsigned nodes_fixed,
                         struct sim_node_knobs *out);
void sim_node_knobs_describe(const struct sim_node_knobs *k, char *out,
                             size_t len);

struct sim_node_adapter;

/* One adapter per run: it keeps the run's checker state. */
struct sim_node_adapter *sim_node_adapter_new(const struct sim_node_knobs *k);
void sim_node_adapter_free(struct sim_node_adapter *a);
void sim_node_adapter_ops(struct sim_node_adapter *a,
                          struct sim_server_ops *out);

/* The node behind a server handle the ops gave out (tests tamper with it
 * to prove the checks fire). */
struct node;
struct node *sim_node_adapter_node(void *server);

/* Counters of what the checks looked at (a check that saw nothing proves
 * nothing). */
struct sim_node_check_stats {
    uint64_t checks;
    uint64_t committed_seen;  /* distinct committed indexes recorded */
    uint64_t digests_compared;
    uint64_t leaders_seen;    /* distinct (term, leader) pairs */
    uint64_t max_term;
    uint64_t refusals;        /* starts refused on corrupt files */
    uint64_t rejoined;        /* wiped nodes that became voters again */
    uint64_t rejoin_crashes;  /* wiped nodes stopped after re-admission,
                                 before they were voters again */
    uint64_t still_rejoining; /* wiped nodes not voters again (so far) */
};
void sim_node_adapter_stats(const struct sim_node_adapter *a,
                            struct sim_node_check_stats *out);

/* The node's log lines go to a ring (the last few per run), printed on
 * failure; nothing is printed otherwise.  echo_verbose: every line from
 * verbose up also goes to stderr as it happens (debugging one seed). */
void sim_node_log_install(bool echo_verbose);
void sim_node_log_dump(FILE *f);
void sim_node_log_clear(void);

#endif
