/*
 * faults.c: swarm configurations and the fault schedule; see faults.h.
 *
 * Invariants: at most crashed_max nodes are down at once, and a down node
 * has exactly one restart event queued while the schedule runs (ASSERT in
 * fault_crash / restart_fire); at most one depose chain runs at a time and
 * it keeps at most one node cut (depose_cut); after sim_faults_quiesce()
 * nothing of this module is queued.
 */
#include "faults.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "sim_limits.h"

struct node_state {
    struct sim_faults *f;
    unsigned id;
    bool up;
    struct sim_event restart_ev;
};

struct sim_faults {
    struct sim_world *w;
    struct sim_net *net;
    unsigned nodes;
    unsigned hosts;
    struct sim_swarm sw;
    struct sim_fault_hooks hooks;
    struct sim_fault_stats stats;
    struct sim_event tick_ev;
    struct sim_event heal_ev;
    struct sim_event depose_ev; /* the running depose chain, if any */
    uint64_t depose_term;       /* leaders of terms above this are new */
    uint64_t depose_until_us;   /* the chain gives up waiting then */
    unsigned depose_left;       /* new leaders still to depose */
    int depose_cut;             /* the node isolated now, or -1 */
    int depose_next;            /* >= 0: isolate it when depose_ev fires */
    struct node_state node[SIM_HOSTS_MAX];
    unsigned crashed;
};

static const char *const fault_names[SIM_FAULT_KIND_COUNT] = {
    "partition", "one-way", "isolate", "clog", "crash",
    "pause", "clock-step", "corrupt", "fsync-fail", "bridge",
    "depose",
};

const char *sim_fault_kind_name(enum sim_fault_kind k)
{
    return (unsigned)k < SIM_FAULT_KIND_COUNT ? fault_names[k] : "?";
}

static uint64_t pick(struct cairn_rng *rng, const uint64_t *v, size_t n)
{
    return v[cairn_rng_below(rng, n)];
}

void sim_swarm_draw(struct cairn_rng *rng, unsigned nodes,
                    struct sim_swarm *out)
{
    ASSERT(nodes > 0);
    memset(out, 0, sizeof(*out));
    for (unsigned k = 0; k < SIM_FAULT_BRIDGE; k++)
        out->enabled[k] = cairn_rng_chance(rng, 1, 2);
    static const uint64_t intervals[] = {20000, 100000, 500000, 2000000};
    static const uint64_t lens[] = {50000, 300000, 1000000, 5000000};
    static const uint64_t ppms[] = {0, 0, 10, 100, 1000};
    static const uint64_t lat_min[] = {50, 200, 1000};
    static const uint64_t lat_tail[] = {100, 1000, 10000};
    static const uint64_t drifts[] = {0, 200, 2000};
    out->fault_interval_us = pick(rng, intervals, ARRAY_LEN(intervals));
    out->fault_len_max_us = pick(rng, lens, ARRAY_LEN(lens));
    out->crashed_max = (unsigned)cairn_rng_range(rng, 1, nodes);
    out->partition_reset = cairn_rng_chance(rng, 1, 2);
    out->break_ppm = (uint32_t)pick(rng, ppms, ARRAY_LEN(ppms));
    out->latency_min_us = pick(rng, lat_min, ARRAY_LEN(lat_min));
    out->latency_tail_us = pick(rng, lat_tail, ARRAY_LEN(lat_tail));
    out->drift_ppm_max = (int32_t)pick(rng, drifts, ARRAY_LEN(drifts));
    /* Kinds added later are drawn last, so a seed keeps its older mix. */
    for (unsigned k = SIM_FAULT_BRIDGE; k < SIM_FAULT_KIND_COUNT; k++)
        out->enabled[k] = cairn_rng_chance(rng, 1, 2);
}

void sim_swarm_describe(const struct sim_swarm *sw, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned k = 0; k < SIM_FAULT_KIND_COUNT && o < len; k++)
        if (sw->enabled[k])
            o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "",
                                  fault_names[k]);
    if (o == 0 && len > 0)
        o = (size_t)snprintf(out, len, "no-faults");
    if (o < len)
        snprintf(out + o, len - o,
                 " interval=%lluus len<=%lluus down<=%u reset=%d break=%uppm "
                 "lat=%llu+%lluus drift<=%dppm",
                 (unsigned long long)sw->fault_interval_us,
                 (unsigned long long)sw->fault_len_max_us, sw->crashed_max,
                 sw->partition_reset, sw->break_ppm,
                 (unsigned long long)sw->latency_min_us,
                 (unsigned long long)sw->latency_tail_us, sw->drift_ppm_max);
}

/* ---- the schedule ---- */

static uint64_t duration(struct sim_faults *f)
{
    return cairn_rng_range(sim_world_rng(f->w), 1000, f->sw.fault_len_max_us);
}

static void heal_after(struct sim_faults *f, uint64_t delay_us)
{
    uint64_t at = sim_world_now_us(f->w) + delay_us;
    if (sim_event_queued(&f->heal_ev) && f->heal_ev.at_us > at)
        at = f->heal_ev.at_us;
    sim_world_schedule(f->w, &f->heal_ev, at);
}

static void heal_fire(struct sim_event *ev)
{
    struct sim_faults *f = sim_container_of(ev, struct sim_faults, heal_ev);
    sim_net_heal(f->net);
}

static void restart_fire(struct sim_event *ev)
{
    struct node_state *n = sim_container_of(ev, struct node_state, restart_ev);
    struct sim_faults *f = n->f;
    ASSERT(!n->up);
    ASSERT(f->crashed > 0);
    n->up = true;
    f->crashed--;
    f->hooks.restart(f->hooks.ctx, n->id);
}

/* Two distinct random hosts. */
static void pair(struct sim_faults *f, unsigned *a, unsigned *b)
{
    struct cairn_rng *rng = sim_world_rng(f->w);
    *a = (unsigned)cairn_rng_below(rng, f->hosts);
    *b = (unsigned)cairn_rng_below(rng, f->hosts - 1);
    if (*b >= *a)
        (*b)++;
}

/* ---- depose: Raft's Figure 8 needs leaders cut off right after they win,
 * each leaving entries of its term on a minority, and then an older one
 * winning again.  The chain isolates the current leader, then watches
 * (every ms) for the next DEPOSE_CHAIN new leaders: each is isolated a
 * random 0..4 round trips after it appears (before or while it replicates
 * its no-op and older entries) and the one cut before it rejoins. */

#define DEPOSE_POLL_US 1000
#define DEPOSE_CHAIN 4
#define DEPOSE_WAIT_US 2000000 /* no new leader by then: the chain ends */

static void depose_release(struct sim_faults *f)
{
    if (f->depose_cut < 0)
        return;
    for (unsigned h = 0; h < f->hosts; h++) {
        if (h == (unsigned)f->depose_cut)
            continue;
        sim_net_block(f->net, (unsigned)f->depose_cut, h, false);
        sim_net_block(f->net, h, (unsigned)f->depose_cut, false);
    }
    f->depose_cut = -1;
}

static void depose_cut(struct sim_faults *f, int node)
{
    ASSERT(node >= 0 && (unsigned)node < f->nodes);
    depose_release(f);
    sim_net_isolate(f->net, (unsigned)node, f->sw.partition_reset);
    f->depose_cut = node;
    f->depose_until_us = sim_world_now_us(f->w) + DEPOSE_WAIT_US;
}

static void depose_fire(struct sim_event *ev)
{
    struct sim_faults *f = sim_container_of(ev, struct sim_faults, depose_ev);
    if (f->depose_next >= 0) {
        depose_cut(f, f->depose_next);
        f->depose_next = -1;
        f->depose_left--;
    } else {
        uint64_t term = 0;
        int leader = f->hooks.leader(f->hooks.ctx, &term);
        if (leader >= 0 && term > f->depose_term) {
            uint64_t rtt = 2 * (f->sw.latency_min_us + f->sw.latency_tail_us);
            f->depose_term = term;
            f->depose_next = leader;
            sim_world_schedule_in(
                f->w, &f->depose_ev,
                cairn_rng_below(sim_world_rng(f->w), 4 * rtt + 1));
            return;
        }
    }
    if (f->depose_left == 0 || sim_world_now_us(f->w) >= f->depose_until_us) {
        depose_release(f); /* the chain is over */
        return;
    }
    sim_world_schedule_in(f->w, &f->depose_ev, DEPOSE_POLL_US);
}

static bool depose_start(struct sim_faults *f)
{
    if (f->hooks.leader == NULL || sim_event_queued(&f->depose_ev))
        return false;
    uint64_t term = 0;
    int leader = f->hooks.leader(f->hooks.ctx, &term);
    f->depose_cut = -1;
    f->depose_next = -1;
    f->depose_term = term;
    f->depose_left = DEPOSE_CHAIN;
    f->depose_until_us = sim_world_now_us(f->w) + DEPOSE_WAIT_US;
    if (leader >= 0)
        depose_cut(f, leader);
    sim_world_schedule_in(f->w, &f->depose_ev, DEPOSE_POLL_US);
    return true;
}

static bool fault_net(struct sim_faults *f, enum sim_fault_kind k)
{
    struct cairn_rng *rng = sim_world_rng(f->w);
    unsigned a, b;
    if (f->hosts < 2)
        return false;
    if (k == SIM_FAULT_PARTITION) {
        uint8_t group[SIM_HOSTS_MAX];
        for (unsigned h = 0; h < f->hosts; h++)
            group[h] = (uint8_t)cairn_rng_below(rng, 2);
        group[0] = 0;
        group[1 + cairn_rng_below(rng, f->hosts - 1)] = 1; /* a real cut */
        sim_net_partition(f->net, group, f->sw.partition_reset);
    } else if (k == SIM_FAULT_ONE_WAY) {
        pair(f, &a, &b);
        sim_net_block(f->net, a, b, true);
    } else if (k == SIM_FAULT_BRIDGE) {
        /* A partial partition around the leader (if known): it and one
         * other server cannot talk, the rest still talk to both (the other
         * one can then win an election whose voters would refuse it if
         * they were sticky). */
        if (f->nodes < 2)
            return false;
        uint64_t term;
        int leader = f->hooks.leader != NULL
                         ? f->hooks.leader(f->hooks.ctx, &term)
                         : -1;
        a = leader >= 0 ? (unsigned)leader
                        : (unsigned)cairn_rng_below(rng, f->nodes);
        b = (unsigned)cairn_rng_below(rng, f->nodes - 1);
        if (b >= a)
            b++;
        sim_net_block(f->net, a, b, true);
        sim_net_block(f->net, b, a, true);
        if (f->sw.partition_reset)
            sim_net_reset_between(f->net, a, b);
    } else if (k == SIM_FAULT_DEPOSE) {
        return depose_start(f); /* ends on its own (depose_fire) */
    } else if (k == SIM_FAULT_ISOLATE) {
        sim_net_isolate(f->net, (unsigned)cairn_rng_below(rng, f->nodes),
                        f->sw.partition_reset);
    } else {
        pair(f, &a, &b);
        sim_net_clog(f->net, a, b, sim_world_now_us(f->w) + duration(f));
        return true;
    }
    heal_after(f, duration(f));
    return true;
}

/* A flipped bit on node's disk, up or down, if the runner allows it (a
 * server whose promise needs a majority of intact copies says no past
 * it). */
static bool fault_corrupt(struct sim_faults *f, unsigned node)
{
    struct sim_disk *d = f->hooks.disk ? f->hooks.disk(f->hooks.ctx, node)
                                       : NULL;
    if (d == NULL || !f->hooks.may_corrupt(f->hooks.ctx, node))
        return false;
    if (sim_disk_corrupt_random(d, NULL, 0) != 0)
        return false;
    if (f->hooks.corrupted != NULL)
        f->hooks.corrupted(f->hooks.ctx, node);
    return true;
}

static bool fault_node(struct sim_faults *f, enum sim_fault_kind k)
{
    struct cairn_rng *rng = sim_world_rng(f->w);
    unsigned node = (unsigned)cairn_rng_below(rng, f->nodes);
    struct node_state *n = &f->node[node];
    if (k == SIM_FAULT_CORRUPT && f->hooks.may_corrupt != NULL)
        return fault_corrupt(f, node);
    if (!n->up)
        return false;
    if (k == SIM_FAULT_CRASH) {
        if (f->crashed >= f->sw.crashed_max)
            return false;
        if (f->hooks.may_crash != NULL &&
            !f->hooks.may_crash(f->hooks.ctx, node))
            return false;
        n->up = false;
        f->crashed++;
        f->hooks.crash(f->hooks.ctx, node);
        ASSERT(!sim_event_queued(&n->restart_ev));
        sim_world_schedule_in(f->w, &n->restart_ev, duration(f));
    } else if (k == SIM_FAULT_PAUSE) {
        sim_world_node_pause(f->w, node, sim_world_now_us(f->w) + duration(f));
    } else if (k == SIM_FAULT_CLOCK_STEP) {
        if (f->hooks.wall_step == NULL)
            return false;
        int64_t step = (int64_t)cairn_rng_below(rng, 20001) - 10000;
        f->hooks.wall_step(f->hooks.ctx, node, step);
    } else {
        struct sim_disk *d = f->hooks.disk ? f->hooks.disk(f->hooks.ctx, node)
                                           : NULL;
        if (d == NULL)
            return false;
        if (k == SIM_FAULT_CORRUPT)
            return sim_disk_corrupt_random(d, NULL, 0) == 0;
        sim_disk_fail_next(d, SIM_DISK_OP_FSYNC, CAIRN_EIO);
    }
    return true;
}

static uint64_t next_interval(struct sim_faults *f)
{
    double u = (double)((cairn_rng_next(sim_world_rng(f->w)) >> 11) + 1) *
               0x1.0p-53;
    double x = -log(u) * (double)f->sw.fault_interval_us;
    double cap = 20.0 * (double)f->sw.fault_interval_us;
    return 1 + (uint64_t)(x < cap ? x : cap);
}

static void tick_fire(struct sim_event *ev)
{
    struct sim_faults *f = sim_container_of(ev, struct sim_faults, tick_ev);
    unsigned enabled[SIM_FAULT_KIND_COUNT], n = 0;
    for (unsigned k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        if (f->sw.enabled[k])
            enabled[n++] = k;
    if (n == 0)
        return;
    enum sim_fault_kind k = (enum sim_fault_kind)
        enabled[cairn_rng_below(sim_world_rng(f->w), n)];
    bool applied = k <= SIM_FAULT_CLOG || k >= SIM_FAULT_BRIDGE
                       ? fault_net(f, k)
                       : fault_node(f, k);
    if (applied) {
        f->stats.applied[k]++;
        sim_world_trace_arg(f->w, k);
    }
    sim_world_schedule_in(f->w, &f->tick_ev, next_interval(f));
}

struct sim_faults *sim_faults_new(struct sim_world *w, struct sim_net *net,
                                  unsigned nodes, const struct sim_swarm *sw,
                                  const struct sim_fault_hooks *hooks)
{
    ASSERT(nodes > 0 && nodes <= sim_net_host_count(net));
    ASSERT(hooks->crash != NULL && hooks->restart != NULL);
    ASSERT(sw->fault_interval_us > 0);
    ASSERT(sw->fault_len_max_us >= 1000);
    struct sim_faults *f = sim_xcalloc(1, sizeof(*f));
    f->w = w;
    f->net = net;
    f->nodes = nodes;
    f->hosts = sim_net_host_count(net);
    f->sw = *sw;
    f->hooks = *hooks;
    sim_event_init(&f->tick_ev, SIM_EV_FAULT, SIM_NODE_NONE, tick_fire);
    sim_event_init(&f->heal_ev, SIM_EV_FAULT, SIM_NODE_NONE, heal_fire);
    sim_event_init(&f->depose_ev, SIM_EV_FAULT, SIM_NODE_NONE, depose_fire);
    f->depose_cut = -1;
    f->depose_next = -1;
    for (unsigned i = 0; i < nodes; i++) {
        f->node[i].f = f;
        f->node[i].id = i;
        f->node[i].up = true;
        sim_event_init(&f->node[i].restart_ev, SIM_EV_FAULT, SIM_NODE_NONE,
                       restart_fire);
    }
    return f;
}

void sim_faults_start(struct sim_faults *f)
{
    sim_world_schedule_in(f->w, &f->tick_ev, next_interval(f));
}

void sim_faults_quiesce(struct sim_faults *f)
{
    sim_world_cancel(f->w, &f->tick_ev);
    sim_world_cancel(f->w, &f->heal_ev);
    sim_world_cancel(f->w, &f->depose_ev);
    f->depose_cut = -1;
    sim_net_heal(f->net);
    /* A failing fsync armed but not yet met would strike after the faults
     * stopped. */
    for (unsigned i = 0; i < f->nodes && f->hooks.disk != NULL; i++) {
        struct sim_disk *d = f->hooks.disk(f->hooks.ctx, i);
        if (d != NULL)
            sim_disk_fail_clear(d);
    }
    for (unsigned i = 0; i < f->nodes; i++) {
        struct node_state *n = &f->node[i];
        if (n->up)
            continue;
        sim_world_cancel(f->w, &n->restart_ev);
        n->up = true;
        f->crashed--;
        f->hooks.restart(f->hooks.ctx, i);
    }
    ASSERT(f->crashed == 0);
}

void sim_faults_free(struct sim_faults *f)
{
    if (f == NULL)
        return;
    sim_world_cancel(f->w, &f->tick_ev);
    sim_world_cancel(f->w, &f->heal_ev);
    sim_world_cancel(f->w, &f->depose_ev);
    for (unsigned i = 0; i < f->nodes; i++)
        sim_world_cancel(f->w, &f->node[i].restart_ev);
    cairn_free(f);
}

bool sim_faults_node_up(const struct sim_faults *f, unsigned node)
{
    ASSERT(node < f->nodes);
    return f->node[node].up;
}

void sim_faults_stats_get(const struct sim_faults *f,
                          struct sim_fault_stats *out)
{
    *out = f->stats;
}
