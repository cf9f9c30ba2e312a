/*
 * faults.h: swarm testing: which faults a run has, drawn from its seed, and
 * the schedule that applies them on simulated time.
 *
 * sim_swarm_draw() turns on a random subset of fault kinds with random
 * rates (FoundationDB and TigerBeetle's "swarm testing": a run with only a
 * few kinds of faults, but many of them, finds bugs a uniform mix hides).
 * sim_faults then fires SIM_EV_FAULT events at exponential intervals, each
 * applying one enabled fault: a partition (random split, one-way block,
 * isolation) or a clog that heals later, a node crash with a restart after a
 * random downtime, a pause, a wall-clock step, a corrupted bit or a failing
 * fsync on a node's disk.  Crashes and restarts go through the runner's
 * hooks, which own the nodes.  sim_faults_quiesce() ends the schedule, heals
 * the network and restarts every crashed node: the liveness phase.
 *
 * Hosts 0..nodes-1 are the server nodes; any further hosts (clients) are
 * only ever cut off by partitions, never crashed.
 */
#ifndef CAIRN_SIM_FAULTS_H
#define CAIRN_SIM_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"
#include "net.h"
#include "world.h"

enum sim_fault_kind {
    SIM_FAULT_PARTITION,
    SIM_FAULT_ONE_WAY,
    SIM_FAULT_ISOLATE,
    SIM_FAULT_CLOG,
    SIM_FAULT_CRASH,
    SIM_FAULT_PAUSE,
    SIM_FAULT_CLOCK_STEP,
    SIM_FAULT_CORRUPT,
    SIM_FAULT_FSYNC_FAIL,
    SIM_FAULT_BRIDGE, /* two servers lose each other, both still reach the rest */
    SIM_FAULT_DEPOSE, /* isolate the leader, then the next new leaders */
    SIM_FAULT_KIND_COUNT
};

const char *sim_fault_kind_name(enum sim_fault_kind k);

struct sim_swarm {
    bool enabled[SIM_FAULT_KIND_COUNT];
    uint64_t fault_interval_us;  /* mean time between faults */
    uint64_t fault_len_max_us;   /* longest partition, clog, pause, downtime */
    unsigned crashed_max;        /* nodes down at once */
    bool partition_reset;        /* partitions also reset crossing conns */
    uint32_t break_ppm;          /* per-segment connection resets */
    uint64_t latency_min_us;
    uint64_t latency_tail_us;
    int32_t drift_ppm_max;       /* node clocks differ by up to this */
};

/* Draws a swarm configuration for a cluster of nodes servers. */
void sim_swarm_draw(struct cairn_rng *rng, unsigned nodes,
                    struct sim_swarm *out);
/* Describes sw in one line ("partition,crash interval=...") into out. */
void sim_swarm_describe(const struct sim_swarm *sw, char *out, size_t len);

struct sim_fault_hooks {
    void *ctx;
    /* Crash node now (sim_io_crash and whatever the runner keeps). */
    void (*crash)(void *ctx, unsigned node);
    /* Bring node back (a fresh sim_io on the same disk, the node started). */
    void (*restart)(void *ctx, unsigned node);
    /* Wall-clock step on node's sim_io; may be NULL. */
    void (*wall_step)(void *ctx, unsigned node, int64_t delta_ms);
    /* May node crash now?  NULL: always. */
    bool (*may_crash)(void *ctx, unsigned node);
    /* The node's disk; may be NULL (no disk faults then). */
    struct sim_disk *(*disk)(void *ctx, unsigned node);
    /* May node's disk (up or down) take a flipped bit now?  NULL: only
     * while the node is up (the schedule's older rule). */
    bool (*may_corrupt)(void *ctx, unsigned node);
    /* A bit of node's disk was flipped; may be NULL. */
    void (*corrupted)(void *ctx, unsigned node);
    /* The node that leads the highest term now (*term set), or -1; NULL:
     * never known (SIM_FAULT_DEPOSE does nothing then). */
    int (*leader)(void *ctx, uint64_t *term);
};

struct sim_fault_stats {
    uint64_t applied[SIM_FAULT_KIND_COUNT];
};

struct sim_faults;

struct sim_faults *sim_faults_new(struct sim_world *w, struct sim_net *net,
                                  unsigned nodes, const struct sim_swarm *sw,
                                  const struct sim_fault_hooks *hooks);
/* Cancels its events; does not restart anything. */
void sim_faults_free(struct sim_faults *f);
/* Schedules the first fault. */
void sim_faults_start(struct sim_faults *f);
/* Ends the schedule, heals every link, disarms pending disk failures and
 * restarts every crashed node. */
void sim_faults_quiesce(struct sim_faults *f);
bool sim_faults_node_up(const struct sim_faults *f, unsigned node);
void sim_faults_stats_get(const struct sim_faults *f,
                          struct sim_fault_stats *out);

#endif
