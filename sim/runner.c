/*
 * runner.c: one seed's run; see runner.h.
 *
 * Invariants: a node slot has a sim_io and a server exactly while it is up;
 * a deferred fatal restart is cancelled when its node crashes for another
 * reason; when the run ends nothing is left on the world's queue
 * (sim_world_free asserts it).
 */
#include "runner.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "disk.h"
#include "history.h"
#include "net.h"
#include "report.h"
#include "sim_io.h"
#include "sim_limits.h"
#include "standin.h"
#include "workload.h"
#include "world.h"

#define CLIENT_PORT 6379
#define EVENTS_MAX_PER_RUN 200000000ull
#define DRAIN_US 1000000ull

struct run;

struct slot {
    struct run *r;
    unsigned id;
    struct sim_io *sio;
    void *server;
    struct sim_disk *disk;
    int32_t drift_ppm;
    struct sim_event fatal_ev;
};

struct run {
    const struct sim_run_config *cfg;
    const struct sim_server_ops *ops;
    struct sim_world *w;
    struct sim_net *net;
    struct slot slot[SIM_HOSTS_MAX];
    uint64_t crashes;
    uint64_t wipes;
    bool setup_failed;
    struct sim_event check_ev;
    struct sim_event faults_ev;
    struct sim_faults *faults;
    struct cairn_rng alloc_rng; /* its own stream: the world's is untouched */
    uint64_t alloc_failed;
    bool invariant_failed;
    char invariant[256];
};

static const char *const outcome_names[] = {
    "ok", "not-linearizable", "liveness", "inconclusive", "setup-failed",
    "invariant",
};

const char *sim_run_outcome_name(enum sim_run_outcome o)
{
    return (unsigned)o < ARRAY_LEN(outcome_names) ? outcome_names[o] : "?";
}

void sim_run_config_default(struct sim_run_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->nodes = 1;
    cfg->clients = 4;
    cfg->keys = 8;
    cfg->fault_us = 10000000;
    cfg->liveness_us = 5000000;
    cfg->check_budget = 20000000;
    cfg->ops_max = 50000;
    cfg->dump_on_failure = true;
    cfg->check_interval_us = 0; /* after every event */
}

/* ---- nodes ---- */

static void on_fatal(void *ctx, int status)
{
    struct slot *s = ctx;
    (void)status;
    /* Never inside the server's own callback: from the loop, at once. */
    if (!sim_event_queued(&s->fatal_ev))
        sim_world_schedule_in(s->r->w, &s->fatal_ev, 0);
}

static void node_start(struct run *r, unsigned i)
{
    struct slot *s = &r->slot[i];
    ASSERT(s->sio == NULL);
    struct cairn_rng *rng = sim_world_rng(r->w);
    struct sim_io_config cfg = {
        .host = i,
        .drift_ppm = s->drift_ppm,
        .mono_base_us = cairn_rng_below(rng, 1000000000000ull),
        .wall_epoch_ms = 1767225600000, /* 2026-01-01 */
    };
    s->sio = sim_io_new(r->w, r->net, s->disk, &cfg);
    s->server = r->ops->start(r->ops->ctx, sim_io_io(s->sio), i, CLIENT_PORT,
                              on_fatal, s);
    if (s->server == NULL)
        r->setup_failed = true;
}

static void node_crash(struct run *r, unsigned i)
{
    struct slot *s = &r->slot[i];
    ASSERT(s->sio != NULL);
    sim_world_cancel(r->w, &s->fatal_ev);
    sim_io_crash(s->sio);
    if (s->server != NULL)
        r->ops->free(r->ops->ctx, s->server);
    sim_io_free(s->sio);
    s->sio = NULL;
    s->server = NULL;
    r->crashes++;
}

static void servers_get(struct run *r, void **servers);

/* Before a restart: the server may ask for its disk to be wiped. */
static void maybe_wipe(struct run *r, unsigned i)
{
    if (r->ops->wipe == NULL)
        return;
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    if (!r->ops->wipe(r->ops->ctx, servers, r->cfg->nodes, i))
        return;
    sim_disk_wipe(r->slot[i].disk);
    r->wipes++;
}

static void fatal_fire(struct sim_event *ev)
{
    struct slot *s = sim_container_of(ev, struct slot, fatal_ev);
    sim_world_trace_arg(s->r->w, s->id);
    if (s->sio == NULL)
        return;
    node_crash(s->r, s->id);
    maybe_wipe(s->r, s->id);
    node_start(s->r, s->id);
}

static void hook_crash(void *ctx, unsigned node) { node_crash(ctx, node); }

/* When the faults stop: restart the up nodes the server asks for. */
static void quiesce_restarts(struct run *r)
{
    for (unsigned i = 0; i < r->cfg->nodes && r->ops->restart_at_quiesce;
         i++) {
        if (r->slot[i].sio == NULL || !r->ops->restart_at_quiesce(r->ops->ctx,
                                                                  i))
            continue;
        node_crash(r, i);
        maybe_wipe(r, i);
        node_start(r, i);
    }
}

static void hook_restart(void *ctx, unsigned node)
{
    maybe_wipe(ctx, node);
    node_start(ctx, node);
}

static void hook_wall_step(void *ctx, unsigned node, int64_t delta_ms)
{
    struct run *r = ctx;
    if (r->slot[node].sio != NULL)
        sim_io_wall_step(r->slot[node].sio, delta_ms);
}

static void servers_get(struct run *r, void **servers)
{
    for (unsigned i = 0; i < r->cfg->nodes; i++)
        servers[i] = r->slot[i].sio != NULL ? r->slot[i].server : NULL;
}

/* A node that asked for its fatal restart is as good as down already. */
static bool hook_may_crash(void *ctx, unsigned node)
{
    struct run *r = ctx;
    if (r->ops->may_crash == NULL)
        return true;
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    for (unsigned i = 0; i < r->cfg->nodes; i++)
        if (sim_event_queued(&r->slot[i].fatal_ev))
            servers[i] = NULL;
    return r->ops->may_crash(r->ops->ctx, servers, r->cfg->nodes, node);
}

static int hook_leader(void *ctx, uint64_t *term)
{
    struct run *r = ctx;
    if (r->ops->leader == NULL)
        return -1;
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    return r->ops->leader(r->ops->ctx, servers, r->cfg->nodes, term);
}

static struct sim_disk *hook_disk(void *ctx, unsigned node)
{
    struct run *r = ctx;
    return r->slot[node].disk;
}

static bool hook_may_corrupt(void *ctx, unsigned node)
{
    struct run *r = ctx;
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    return r->ops->may_corrupt(r->ops->ctx, servers, r->cfg->nodes, node);
}

static bool hook_may_change(void *ctx, unsigned target, bool add)
{
    struct run *r = ctx;
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    return r->ops->may_change(r->ops->ctx, servers, r->cfg->nodes, target,
                              add);
}

static void hook_corrupted(void *ctx, unsigned node)
{
    struct run *r = ctx;
    if (r->ops->corrupted != NULL)
        r->ops->corrupted(r->ops->ctx, node);
}

/* ---- invariants ---- */

static void check_fire(struct sim_event *ev)
{
    struct run *r = sim_container_of(ev, struct run, check_ev);
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    if (r->ops->check(r->ops->ctx, servers, r->cfg->nodes, r->invariant,
                      sizeof(r->invariant)) != 0) {
        r->invariant_failed = true;
        return;
    }
    sim_world_schedule_in(r->w, ev, r->cfg->check_interval_us);
}

/* check_interval_us == 0: the check runs after every event, so a broken
 * invariant is caught at the event that broke it.  Checks that find no
 * node changed since their last look are cheap (node_adapter.c). */
static void check_after_event(void *ctx, unsigned node)
{
    struct run *r = ctx;
    /* Hosts past the servers are clients: their events run only the
     * workload, and what they send reaches a server as an event of its
     * own.  Unowned events (faults, restarts, phases) can touch servers. */
    if (r->invariant_failed ||
        (node != SIM_NODE_NONE && node >= r->cfg->nodes))
        return;
    void *servers[SIM_HOSTS_MAX];
    servers_get(r, servers);
    int rc = r->ops->check_event != NULL
                 ? r->ops->check_event(r->ops->ctx, servers, r->cfg->nodes,
                                       node, r->invariant,
                                       sizeof(r->invariant))
                 : r->ops->check(r->ops->ctx, servers, r->cfg->nodes,
                                 r->invariant, sizeof(r->invariant));
    if (rc != 0) {
        r->invariant_failed = true;
        sim_world_stop(r->w);
    }
}

static void faults_start_fire(struct sim_event *ev)
{
    struct run *r = sim_container_of(ev, struct run, faults_ev);
    sim_faults_start(r->faults);
}

/* Allocation faults: only allocations made while a server node's own event
 * fires (its timers, connections, disk completions), never the
 * simulator's own (sim_alloc_internal) nor a restart (a fault event).
 * A failed allocation may stop the node (a replicated node that cannot
 * apply a committed entry stops rather than diverge), and a stop is a
 * crash: so a node that may not crash now (memory durability, a majority
 * must keep its state) gets no allocation failure either. */
static bool alloc_fail_hook(void *ctx, size_t size)
{
    struct run *r = ctx;
    (void)size;
    unsigned node = sim_world_firing_node(r->w);
    if (sim_alloc_internal() || node >= r->cfg->nodes)
        return false;
    if (cairn_rng_below(&r->alloc_rng, 1000000) >= r->cfg->alloc_fail_ppm)
        return false;
    if (!hook_may_crash(r, node)) /* reads node state, allocates nothing */
        return false;
    r->alloc_failed++;
    return true;
}

/* Runs the world to until_us in slices, so a broken invariant stops the run
 * within 100 ms of simulated time; bounded by EVENTS_MAX_PER_RUN in all. */
static int run_phase(struct run *r, uint64_t until_us)
{
    while (!r->invariant_failed && sim_world_now_us(r->w) < until_us) {
        uint64_t fired = sim_world_events_fired(r->w);
        if (fired >= EVENTS_MAX_PER_RUN)
            return CAIRN_EBUSY;
        uint64_t slice = CAIRN_MIN(until_us, sim_world_now_us(r->w) + 100000);
        int rc = sim_world_run_until(r->w, slice, EVENTS_MAX_PER_RUN - fired);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The failing key's operations (at most 80, ending just after the one the
 * checker could not place), for the failure report. */
static void dump_key_history(const struct sim_history *h,
                             const struct lin_report *rep, FILE *f)
{
    static const char *const kinds[] = {"GET", "SET", "DEL", "INCR",
                                        "APPEND", "SETNX", "GETSET"};
    size_t n = sim_history_len(h), shown = 0;
    size_t ids[80];
    for (size_t i = CAIRN_MIN(n, rep->op_index + 8); i-- > 0 && shown < 80;) {
        struct lin_op op;
        if (!sim_history_get(h, i, &op))
            continue;
        if ((op.key_len != strlen(rep->key) ||
             memcmp(op.key, rep->key, op.key_len) != 0) &&
            i + 8 < rep->op_index)
            continue; /* other keys only right before the failing op */
        ids[shown++] = i;
    }
    fprintf(f, "--- last %zu ops on key \"%s\" (call..return us) ---\n",
            shown, rep->key);
    while (shown-- > 0) {
        struct lin_op op;
        (void)sim_history_get(h, ids[shown], &op);
        fprintf(f, "  #%zu c%u %s %.*s %.*s [%llu..", ids[shown], op.client,
                kinds[op.kind], (int)op.key_len, (const char *)op.key, (int)CAIRN_MIN(op.arg_len, 40),
                op.arg ? (const char *)op.arg : "",
                (unsigned long long)op.call_us);
        if (op.res == LIN_RES_UNKNOWN)
            fprintf(f, "?] unknown\n");
        else if (op.res == LIN_RES_BULK)
            fprintf(f, "%llu] \"%.*s\"\n", (unsigned long long)op.return_us,
                    (int)CAIRN_MIN(op.res_len, 60),
                    (const char *)op.res_bytes);
        else
            fprintf(f, "%llu] %s %lld\n", (unsigned long long)op.return_us,
                    op.res == LIN_RES_OK    ? "OK"
                    : op.res == LIN_RES_NIL ? "nil"
                    : op.res == LIN_RES_INT ? "int"
                                            : "err",
                    (long long)op.res_int);
    }
}

static void describe_servers(struct run *r, FILE *f)
{
    if (r->ops->describe == NULL)
        return;
    fprintf(f, "--- servers at the end ---\n");
    for (unsigned i = 0; i < r->cfg->nodes; i++) {
        char line[256] = "down";
        if (r->slot[i].sio != NULL && r->slot[i].server != NULL)
            r->ops->describe(r->ops->ctx, r->slot[i].server, line,
                             sizeof(line));
        fprintf(f, "  node %u: %s\n", i + 1, line);
    }
}

/* ---- the run ---- */

static void setup(struct run *r, struct sim_swarm *sw)
{
    const struct sim_run_config *cfg = r->cfg;
    struct cairn_rng *rng = sim_world_rng(r->w);
    sim_swarm_draw(rng, cfg->nodes, sw);
    for (unsigned k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        if (r->ops->unsupported[k] || cfg->no_faults ||
            (cfg->fault_focus > 0 && k + 1 != cfg->fault_focus))
            sw->enabled[k] = false;
        else if (k + 1 == cfg->fault_focus)
            sw->enabled[k] = true;
    struct sim_net_config ncfg;
    sim_net_config_default(&ncfg);
    ncfg.link.latency_min_us = sw->latency_min_us;
    ncfg.link.latency_tail_us = sw->latency_tail_us;
    ncfg.link.break_ppm = cfg->no_faults ? 0 : sw->break_ppm;
    ncfg.split_ppm = 100000;
    r->net = sim_net_new(r->w, cfg->nodes + cfg->clients, &ncfg);
    ASSERT(r->net != NULL);
    struct sim_disk_config dcfg;
    sim_disk_config_default(&dcfg);
    for (unsigned i = 0; i < cfg->nodes; i++) {
        struct slot *s = &r->slot[i];
        s->r = r;
        s->id = i;
        s->disk = sim_disk_new(rng, &dcfg);
        int64_t span = 2 * (int64_t)sw->drift_ppm_max + 1;
        s->drift_ppm = (int32_t)((int64_t)cairn_rng_below(rng, (uint64_t)span) -
                                 sw->drift_ppm_max);
        sim_event_init(&s->fatal_ev, SIM_EV_FAULT, SIM_NODE_NONE, fatal_fire);
        node_start(r, i);
    }
}

static void teardown(struct run *r)
{
    for (unsigned i = 0; i < r->cfg->nodes; i++) {
        struct slot *s = &r->slot[i];
        sim_world_cancel(r->w, &s->fatal_ev);
        if (s->server != NULL)
            r->ops->free(r->ops->ctx, s->server);
        sim_io_free(s->sio);
        sim_disk_free(s->disk);
    }
    sim_net_free(r->net);
}

static enum sim_run_outcome judge(const struct run *r,
                                  const struct sim_run_result *out, int rc)
{
    if (r->invariant_failed)
        return SIM_RUN_INVARIANT;
    if (r->setup_failed || rc != 0)
        return SIM_RUN_SETUP_FAILED;
    if (out->lin.verdict == LIN_NOT_LINEARIZABLE)
        return SIM_RUN_NOT_LINEARIZABLE;
    if (out->ops >= r->cfg->ops_max)
        return SIM_RUN_INCONCLUSIVE; /* the workload stopped early */
    if (out->liveness_replies == 0)
        return SIM_RUN_LIVENESS;
    if (out->lin.verdict == LIN_INCONCLUSIVE)
        return SIM_RUN_INCONCLUSIVE;
    return SIM_RUN_OK;
}

/* Fault phase (with allocation faults if asked), settling of pauses,
 * liveness phase, drain.  Returns 0 or the first run_phase error. */
static int run_phases(struct run *r, struct sim_workload *wl,
                      struct sim_run_result *out)
{
    const struct sim_run_config *cfg = r->cfg;
    cairn_rng_seed(&r->alloc_rng, cfg->seed ^ 0xa110cull);
    if (cfg->alloc_fail_ppm > 0 && !cfg->no_faults)
        cairn_alloc_set_fail_hook(alloc_fail_hook, r);
    int rc = run_phase(r, cfg->fault_us);
    cairn_alloc_set_fail_hook(NULL, NULL);
    sim_world_cancel(r->w, &r->faults_ev);
    sim_faults_quiesce(r->faults);
    quiesce_restarts(r);
    /* Pauses cannot be cut short (their events already moved to the end):
     * liveness is measured once the last one is over. */
    uint64_t settle = sim_world_now_us(r->w);
    for (unsigned i = 0; i < cfg->nodes; i++)
        settle = CAIRN_MAX(settle, sim_world_node_paused_until(r->w, i));
    if (rc == 0)
        rc = run_phase(r, settle);
    struct sim_workload_stats st;
    sim_workload_stats_get(wl, &st);
    uint64_t before = st.replied;
    if (rc == 0)
        rc = run_phase(r, settle + cfg->liveness_us);
    sim_workload_stats_get(wl, &st);
    out->liveness_replies = st.replied - before;
    sim_workload_stop(wl);
    if (rc == 0)
        rc = run_phase(r, sim_world_now_us(r->w) + DRAIN_US);
    return rc;
}

/* Checks the history, judges the run and fills the rest of out; on
 * failure dumps what a report needs to stderr. */
static void judge_and_report(struct run *r, const struct sim_history *h,
                             int rc, struct sim_run_result *out)
{
    out->unknown = sim_history_pending(h);
    if (sim_history_check(h, r->cfg->check_budget, &out->lin) != 0)
        rc = CAIRN_EINVAL;
    out->outcome = judge(r, out, rc);
    if (r->invariant_failed)
        memcpy(out->invariant, r->invariant, sizeof(out->invariant));
    if (out->ops >= r->cfg->ops_max && out->outcome == SIM_RUN_INCONCLUSIVE)
        snprintf(out->lin.explain, sizeof(out->lin.explain),
                 "the history filled up (%u ops) before the run ended, so "
                 "liveness was not judged; lower the load or raise ops_max",
                 r->cfg->ops_max);
    out->trace_hash = sim_world_trace_hash(r->w);
    out->events = sim_world_events_fired(r->w);
    out->sim_us = sim_world_now_us(r->w);
    out->crashes = r->crashes;
    out->wipes = r->wipes;
    struct sim_fault_stats fst;
    sim_faults_stats_get(r->faults, &fst);
    out->corruptions = fst.applied[SIM_FAULT_CORRUPT];
    out->alloc_failed = r->alloc_failed;
    if (out->outcome != SIM_RUN_OK && r->cfg->dump_on_failure) {
        sim_report_dump_ring(r->w, stderr);
        describe_servers(r, stderr);
        if (out->outcome == SIM_RUN_NOT_LINEARIZABLE)
            dump_key_history(h, &out->lin, stderr);
    }
}

void sim_run(const struct sim_run_config *cfg, const struct sim_server_ops *ops,
             struct sim_run_result *out)
{
    ASSERT(cfg->nodes > 0 && cfg->clients > 0);
    ASSERT(cfg->nodes + cfg->clients <= SIM_HOSTS_MAX);
    memset(out, 0, sizeof(*out));
    double t0 = sim_report_real_seconds();
    struct run r = {.cfg = cfg, .ops = ops};
    r.w = sim_world_new(cfg->seed, 0);
    struct sim_report_trace *trace = NULL;
    if (cfg->trace_path != NULL &&
        sim_report_trace_open(r.w, cfg->trace_path, &trace) != 0)
        r.setup_failed = true;
    struct sim_swarm sw;
    setup(&r, &sw);
    sim_swarm_describe(&sw, out->swarm, sizeof(out->swarm));
    struct sim_history *h = sim_history_new(cfg->ops_max);
    struct sim_workload_config wcfg = {
        .clients = cfg->clients, .first_host = cfg->nodes,
        .servers = cfg->nodes, .port = CLIENT_PORT, .keys = cfg->keys,
        .think_us_max = 10000, .timeout_ms = 500, .ttl_pct = cfg->ttl_pct,
        .read_pct = cfg->read_pct,
        .admin_permille = cfg->admin_permille,
        .admin_no_self_add = cfg->admin_no_self_add,
        .admin_transfer_only = cfg->admin_transfer_only};
    if (ops->may_change != NULL) {
        wcfg.may_change = hook_may_change;
        wcfg.change_ctx = &r;
    }
    struct sim_workload *wl = sim_workload_new(r.w, r.net, h, &wcfg);
    struct sim_fault_hooks hooks = {&r, hook_crash, hook_restart,
                                    hook_wall_step, hook_may_crash,
                                    hook_disk, NULL, NULL, hook_leader};
    if (ops->may_corrupt != NULL) {
        hooks.may_corrupt = hook_may_corrupt;
        hooks.corrupted = hook_corrupted;
    }
    struct sim_faults *faults = sim_faults_new(r.w, r.net, cfg->nodes, &sw,
                                               &hooks);
    r.faults = faults;
    sim_event_init(&r.faults_ev, SIM_EV_FAULT, SIM_NODE_NONE,
                   faults_start_fire);
    if (cfg->fault_delay_us > 0)
        sim_world_schedule_in(r.w, &r.faults_ev, cfg->fault_delay_us);
    else
        sim_faults_start(faults);
    sim_workload_start(wl);

    sim_event_init(&r.check_ev, SIM_EV_USER, SIM_NODE_NONE, check_fire);
    if (ops->check != NULL && cfg->check_interval_us > 0)
        sim_world_schedule_in(r.w, &r.check_ev, cfg->check_interval_us);
    else if (ops->check != NULL)
        sim_world_after_event(r.w, check_after_event, &r);
    int rc = run_phases(&r, wl, out);
    struct sim_workload_stats st;
    sim_workload_stats_get(wl, &st);
    out->ops = st.sent;
    out->other_errors = st.other_errors;
    out->redirected = st.redirected;
    memcpy(out->first_error, st.first_error, sizeof(out->first_error));
    memcpy(out->last_redirect, st.last_redirect, sizeof(out->last_redirect));
    out->replied = st.replied;
    judge_and_report(&r, h, rc, out);

    sim_world_cancel(r.w, &r.check_ev);
    sim_world_after_event(r.w, NULL, NULL);
    sim_faults_free(faults);
    sim_workload_free(wl);
    sim_history_free(h);
    teardown(&r);
    if (trace != NULL)
        (void)sim_report_trace_close(r.w, trace);
    sim_world_free(r.w);
    out->real_s = sim_report_real_seconds() - t0;
}

/* ---- the stand-in as server ops ---- */

static void *standin_start(void *ctx, struct io *io, unsigned node,
                           uint16_t port, sim_fatal_fn fatal, void *fatal_ctx)
{
    const struct sim_standin_config *base = ctx;
    (void)node;
    struct sim_standin_config cfg = *base;
    cfg.port = port;
    cfg.fatal_cb = fatal;
    cfg.fatal_ctx = fatal_ctx;
    return sim_standin_start(io, &cfg);
}

static void standin_free(void *ctx, void *server)
{
    (void)ctx;
    sim_standin_free(server);
}

void sim_standin_ops(struct sim_server_ops *out, const char *bug)
{
    static const struct sim_standin_config correct = {0};
    static const struct sim_standin_config early = {.bug_ack_before_fsync = true};
    static const struct sim_standin_config forget = {.bug_no_replay = true};
    memset(out, 0, sizeof(*out));
    out->name = "standin";
    out->ctx = (void *)(uintptr_t)&correct;
    if (bug != NULL && strcmp(bug, "ack-before-fsync") == 0)
        out->ctx = (void *)(uintptr_t)&early;
    else if (bug != NULL && strcmp(bug, "no-replay") == 0)
        out->ctx = (void *)(uintptr_t)&forget;
    out->start = standin_start;
    out->free = standin_free;
    /* One copy of the data: a flipped bit is a lost write by design. */
    out->unsupported[SIM_FAULT_CORRUPT] = true;
}
