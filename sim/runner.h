/*
 * runner.h: one simulated run of a cluster under a seed: the world, the
 * network, one disk per node, swarm faults, the client workload, then the
 * checks.  The servers are pluggable (struct sim_server_ops), so the same
 * runner drives the stand-in today and the real node once it is wired in.
 *
 * Phases of a run:
 *   1. fault phase (fault_us): the workload runs while faults fire;
 *   2. liveness phase (liveness_us): faults stop, the network heals, every
 *      node restarts, pauses run out; then the workload must make progress
 *      (some definite replies), else the run is a liveness failure;
 *   3. drain (1 s): no new requests; then the history is checked.
 * A server reporting a fatal error (a failed fsync, say) is crashed and
 * restarted at once, from a world event (never inside its own callback).
 * Throughout, the servers' own invariant check (if any) runs after every
 * event (or every check_interval_us); a violation ends the run at once.
 */
#ifndef CAIRN_SIM_RUNNER_H
#define CAIRN_SIM_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "faults.h"
#include "io/io.h"
#include "linearizability.h"

typedef void (*sim_fatal_fn)(void *ctx, int status);

/* How the runner starts and stops one server node. */
struct sim_server_ops {
    const char *name;
    void *ctx;
    /* Starts server node on io; it listens for clients on port.  Returns
     * NULL on failure (the run aborts).  fatal(fatal_ctx, status) asks for a
     * crash and restart. */
    void *(*start)(void *ctx, struct io *io, unsigned node, uint16_t port,
                   sim_fatal_fn fatal, void *fatal_ctx);
    /* Frees a server; its io may have crashed. */
    void (*free)(void *ctx, void *server);
    /* Optional whole-cluster invariant check (Raft's: one leader per term,
     * log matching, commit never goes back...), called after every event
     * (or every check_interval_us) with each node's server, NULL
     * while it is down.  Returns 0, or non-zero with a message in msg: the
     * run stops at once as SIM_RUN_INVARIANT. */
    int (*check)(void *ctx, void *const *servers, unsigned count, char *msg,
                 size_t msg_len);
    /* Optional, with check: the check after an event addressed to server
     * node (SIM_NODE_NONE: an unowned event), which may limit itself to
     * what that event can have changed; the runner calls it instead of
     * check after each event.  Ops that wrap another server's must replace
     * or clear it along with check. */
    int (*check_event)(void *ctx, void *const *servers, unsigned count,
                       unsigned node, char *msg, size_t msg_len);
    /* Optional: one line about a server's state for failure reports. */
    void (*describe)(void *ctx, void *server, char *out, size_t len);
    /* Optional: may node crash now (servers as for check)?  A server whose
     * promise needs a majority up (memory durability) says no past it. */
    bool (*may_crash)(void *ctx, void *const *servers, unsigned count,
                      unsigned node);
    /* Optional: the node that leads the highest term now (*term set), or
     * -1 (servers as for check); lets the fault schedule depose leaders. */
    int (*leader)(void *ctx, void *const *servers, unsigned count,
                  uint64_t *term);
    /* Fault kinds this server cannot survive by design (e.g. corruption on a
     * single copy); never drawn. */
    bool unsupported[SIM_FAULT_KIND_COUNT];
    /* Optional: may a bit of node's disk (node up or down) be flipped now?
     * NULL: only while it is up, no limit.  corrupted: it was. */
    bool (*may_corrupt)(void *ctx, void *const *servers, unsigned count,
                        unsigned node);
    void (*corrupted)(void *ctx, unsigned node);
    /* Optional: called before node restarts (after a fault crash or a fatal
     * error, never at the first start); true: the runner wipes its disk
     * first (sim_disk_wipe: an operator replaced it), so it starts empty. */
    bool (*wipe)(void *ctx, void *const *servers, unsigned count,
                 unsigned node);
    /* Optional: when the faults stop, should node (up) be restarted, e.g.
     * so that a disk that took flipped bits is read back at least once? */
    bool (*restart_at_quiesce)(void *ctx, unsigned node);
    /* Optional: may the workload ask for a membership change of target
     * now (add: ADDNODE, else DELNODE)?  The operator's side of the disk
     * fault limit: the server says no where the change would leave a
     * configuration without a majority of intact copies. */
    bool (*may_change)(void *ctx, void *const *servers, unsigned count,
                       unsigned target, bool add);
};

struct sim_run_config {
    uint64_t seed;
    unsigned nodes;          /* server hosts 0..nodes-1 */
    unsigned clients;        /* client hosts after them */
    unsigned keys;
    uint64_t fault_us;
    uint64_t liveness_us;
    uint64_t check_budget;   /* linearizability steps per key */
    uint32_t ops_max;        /* history bound */
    const char *trace_path;  /* full trace file, or NULL */
    bool no_faults;
    bool dump_on_failure;    /* the trace ring to stderr (default on) */
    uint64_t check_interval_us; /* how often ops->check runs; 0 (the
                                   default): after every event */
    uint64_t fault_delay_us; /* faults start this long after the start */
    unsigned ttl_pct;        /* workload side ops on TTL keys, percent */
    unsigned read_pct;       /* workload GET share (0: the usual mix) */
    unsigned fault_focus;    /* 0: the swarm's mix; k + 1: only fault kind k */
    unsigned admin_permille; /* workload admin ops (transfer, membership) */
    bool admin_no_self_add;  /* narrows a replay: no ADDNODE of oneself */
    bool admin_transfer_only; /* narrows a replay: only transfers */
    uint32_t alloc_fail_ppm; /* node allocations failing in the fault phase */
};

void sim_run_config_default(struct sim_run_config *cfg);

enum sim_run_outcome {
    SIM_RUN_OK = 0,
    SIM_RUN_NOT_LINEARIZABLE,
    SIM_RUN_LIVENESS,
    SIM_RUN_INCONCLUSIVE,
    SIM_RUN_SETUP_FAILED,
    SIM_RUN_INVARIANT,
};

const char *sim_run_outcome_name(enum sim_run_outcome o);

struct sim_run_result {
    enum sim_run_outcome outcome;
    uint64_t trace_hash;
    uint64_t events;
    uint64_t sim_us;
    double real_s;
    uint64_t ops;
    uint64_t replied;
    uint64_t unknown;
    uint64_t liveness_replies;
    uint64_t crashes;       /* fault crashes plus fatal restarts */
    uint64_t corruptions;   /* bits flipped on node disks */
    uint64_t wipes;         /* disks wiped before a restart */
    uint64_t alloc_failed;  /* node allocations made to fail */
    char swarm[256];
    char invariant[256];    /* SIM_RUN_INVARIANT: the check's message */
    uint64_t other_errors;  /* error replies left unknown */
    uint64_t redirected;
    char first_error[96];   /* the first of them */
    char last_redirect[96];
    struct lin_report lin;
};

/* Runs one seed.  Prints nothing, except that on failure the last events
 * are dumped to stderr through report.c when dump_on_failure is set. */
void sim_run(const struct sim_run_config *cfg, const struct sim_server_ops *ops,
             struct sim_run_result *out);

/* The stand-in server (standin.h) as server ops; bugs select its planted
 * bugs ("ack-before-fsync", "no-replay", or NULL). */
void sim_standin_ops(struct sim_server_ops *out, const char *bug);

#endif
