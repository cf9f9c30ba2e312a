/* test_sim_node.c: the simulator running the real node (node_adapter.c):
 * three-node runs pass their checks and replay bit for bit, faulty runs
 * show no safety failure, and the cross-node checks fire when a replica is
 * tampered with behind the log's back.  Runs under ASan in make test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kv/kv.h"
#include "node/config.h"
#include "node/node.h"
#include "node_adapter.h"
#include "runner.h"
#include "testlib.h"

static void config_for(uint64_t seed, unsigned nodes,
                       struct sim_node_knobs *k, struct sim_run_config *cfg)
{
    sim_node_knobs_draw(seed, nodes, k);
    sim_run_config_default(cfg);
    cfg->seed = seed;
    cfg->nodes = k->nodes;
    cfg->clients = k->clients;
    cfg->keys = k->keys;
    cfg->ttl_pct = k->ttl_pct;
    cfg->read_pct = k->read_pct;
    cfg->admin_permille = k->admin_permille;
    cfg->admin_transfer_only = true;
    cfg->fault_us = 2000000;
    cfg->liveness_us = 8000000;
    cfg->fault_delay_us = 1000000;
    cfg->dump_on_failure = false;
}

static void run_once(const struct sim_node_knobs *k,
                     const struct sim_run_config *cfg,
                     struct sim_run_result *r, struct sim_node_check_stats *st)
{
    struct sim_node_adapter *a = sim_node_adapter_new(k);
    struct sim_server_ops ops;
    sim_node_adapter_ops(a, &ops);
    sim_run(cfg, &ops, r);
    if (st != NULL)
        sim_node_adapter_stats(a, st);
    sim_node_adapter_free(a);
}

/* config_for a run without faults (the group forms and stays whole). */
static void config_no_faults(uint64_t seed, unsigned nodes,
                             struct sim_node_knobs *k,
                             struct sim_run_config *cfg)
{
    config_for(seed, nodes, k, cfg);
    cfg->no_faults = true;
}

/* Fails the test when the run of seed lost safety (a faulty run may end
 * otherwise, e.g. unavailable, without failing). */
static void assert_safe(uint64_t seed, const struct sim_run_result *r)
{
    if (r->outcome == SIM_RUN_NOT_LINEARIZABLE ||
        r->outcome == SIM_RUN_INVARIANT ||
        r->outcome == SIM_RUN_SETUP_FAILED)
        fail_msg("seed %llu: %s: %s%s", (unsigned long long)seed,
                 sim_run_outcome_name(r->outcome), r->invariant,
                 r->lin.explain);
}

/* ---- wrappers around the adapter's server ops ----
 * A wrapper's context begins with the adapter's own ops (`inner`), so the
 * hooks it does not change pass straight through them. */

/* A new adapter for k whose ops are copied into *inner. */
static struct sim_node_adapter *adapter_wrapped(const struct sim_node_knobs *k,
                                                struct sim_server_ops *inner)
{
    struct sim_node_adapter *a = sim_node_adapter_new(k);
    sim_node_adapter_ops(a, inner);
    return a;
}

/* Runs cfg over the wrapper's ops, then frees the adapter under it. */
static void run_wrapped(struct sim_node_adapter *a,
                        const struct sim_run_config *cfg,
                        const struct sim_server_ops *ops,
                        struct sim_run_result *r)
{
    sim_run(cfg, ops, r);
    sim_node_adapter_free(a);
}

static void *inner_start(void *ctx, struct io *io, unsigned node,
                         uint16_t port, sim_fatal_fn fatal, void *fatal_ctx)
{
    const struct sim_server_ops *in = ctx; /* the wrapper's first member */
    return in->start(in->ctx, io, node, port, fatal, fatal_ctx);
}

static void inner_free(void *ctx, void *server)
{
    const struct sim_server_ops *in = ctx;
    in->free(in->ctx, server);
}

/* ---- tests ---- */

static void three_nodes_without_faults_pass_and_replay(void **state)
{
    (void)state;
    struct sim_node_knobs k;
    struct sim_run_config cfg;
    config_no_faults(test_seed(7), 3, &k, &cfg);
    /* The throughput floor below is for Raft's default replication window
     * (one-entry stop-and-wait appends over slow links time out clients). */
    k.append_max_bytes = 1048576;
    k.inflight_max_msgs = 256;
    struct sim_run_result a, b;
    struct sim_node_check_stats st;
    run_once(&k, &cfg, &a, &st);
    if (a.outcome != SIM_RUN_OK)
        fail_msg("%s: %s%s", sim_run_outcome_name(a.outcome), a.invariant,
                 a.lin.explain);
    assert_true(a.replied > 100);
    assert_true(st.checks > 1000);
    assert_true(st.committed_seen > 10);
    assert_true(st.digests_compared > 10); /* replicas met at equal indexes */
    assert_true(st.leaders_seen >= 1);
    run_once(&k, &cfg, &b, NULL);
    assert_true(a.trace_hash == b.trace_hash);
    assert_int_equal(a.events, b.events);
}

static void faulty_runs_keep_safety(void **state)
{
    (void)state;
    uint64_t base = test_seed(100);
    for (uint64_t seed = base; seed < base + 6; seed++) {
        struct sim_node_knobs k;
        struct sim_run_config cfg;
        config_for(seed, 3, &k, &cfg);
        struct sim_run_result r;
        run_once(&k, &cfg, &r, NULL);
        assert_safe(seed, &r);
        assert_true(r.replied > 0);
    }
}

/* fsync runs whose restarts wipe disks (30%), with whatever corruption the
 * swarm draws: a wiped node is stopped once in the middle of its rejoin
 * (node_adapter.c), and must come back still rejoining, never a voter with
 * its lost incarnation's configuration, nor may any run lose safety.  At
 * least one run must have stopped a rejoin (else this proves nothing). */
static void wiped_nodes_rejoin_without_voting_lost_state(void **state)
{
    (void)state;
    uint64_t base = test_seed(200);
    uint64_t stops = 0, wipes = 0;
    for (uint64_t seed = base; seed < base + 24; seed++) {
        struct sim_node_knobs k;
        struct sim_run_config cfg;
        config_for(seed, 3, &k, &cfg);
        k.durability = CONFIG_DURABILITY_FSYNC;
        k.wipe_pct = 30;
        k.snapshot_entries = 8; /* catch-up by snapshot */
        cfg.fault_us = 4000000;
        cfg.fault_delay_us = 0;
        struct sim_run_result r;
        struct sim_node_check_stats st;
        run_once(&k, &cfg, &r, &st);
        assert_safe(seed, &r);
        stops += st.rejoin_crashes;
        wipes += r.wipes;
    }
    assert_true(wipes > 0);
    assert_true(stops > 0);
}

/* Server ops around the adapter's that, after a while, write a key into
 * node 2's cache directly (no log entry): its state then differs from the
 * others' at the next applied index, which the digest check must see. */
struct tamper {
    struct sim_server_ops inner; /* first: see inner_start */
    unsigned calls;
};

static int t_check(void *ctx, void *const *servers, unsigned count, char *msg,
                   size_t msg_len)
{
    struct tamper *t = ctx;
    if (++t->calls == 1500 && servers[1] != NULL) {
        struct kv *kv = node_kv(sim_node_adapter_node(servers[1]));
        assert_int_equal(kv_set(kv, 0, "zz", 2, "x", 1, KV_NO_EXPIRE, 0, 0),
                         0);
    }
    return t->inner.check(t->inner.ctx, servers, count, msg, msg_len);
}

static void a_replica_changed_outside_the_log_is_caught(void **state)
{
    (void)state;
    struct sim_node_knobs k;
    struct sim_run_config cfg;
    config_no_faults(test_seed(9), 3, &k, &cfg);
    struct tamper t = {0};
    struct sim_node_adapter *a = adapter_wrapped(&k, &t.inner);
    struct sim_server_ops ops = t.inner;
    ops.ctx = &t;
    ops.start = inner_start;
    ops.free = inner_free;
    ops.check = t_check;
    ops.check_event = NULL; /* every check goes through t_check */
    ops.may_crash = NULL;
    ops.describe = NULL;
    ops.may_corrupt = NULL; /* every hook takes the adapter as ctx */
    ops.corrupted = NULL;
    ops.wipe = NULL;
    ops.restart_at_quiesce = NULL;
    ops.may_change = NULL;
    struct sim_run_result r;
    run_wrapped(a, &cfg, &ops, &r);
    assert_int_equal(r.outcome, SIM_RUN_INVARIANT);
    assert_non_null(strstr(r.invariant, "replica state"));
}

/* The fsync disk-damage limit over time (sim.md bug 11, seed 978): bits
 * flipped on two of five voters were within the limit, then two DELNODEs
 * left {2,5} with 5 tainted, and the group could never elect once 5
 * refused its files.  Asked once the group is formed (no faults), the
 * adapter must refuse a removal that leaves the intact voters no
 * majority, and damage that an intact voter's removal in flight would
 * make fatal; removals of damaged voters always pass. */
struct limit_probe {
    struct sim_server_ops inner; /* first: see inner_start */
    unsigned calls;
    bool asked;
    bool got[10];
};

static int lp_check(void *ctx, void *const *servers, unsigned count,
                    char *msg, size_t msg_len)
{
    struct limit_probe *p = ctx;
    struct sim_server_ops *in = &p->inner;
    void *a = in->ctx;
    if (++p->calls == 1500 && count == 5) {
        bool *g = p->got;
        p->asked = true;
        g[0] = in->may_corrupt(a, servers, count, 1);    /* {1..5}: yes */
        g[1] = in->may_change(a, servers, count, 0, false); /* DELNODE 1 */
        g[2] = in->may_corrupt(a, servers, count, 2);    /* {2,3,4,5}: yes */
        in->corrupted(a, 2);                              /* node 3 */
        g[3] = in->may_corrupt(a, servers, count, 1);    /* 2 of 4 left */
        g[4] = in->may_change(a, servers, count, 1, false); /* {3,4,5} */
        g[5] = in->may_change(a, servers, count, 3, false); /* {3,5} */
        g[6] = in->may_change(a, servers, count, 2, false); /* tainted 3 */
        g[7] = in->may_change(a, servers, count, 2, true);  /* ADD tainted */
        g[8] = in->may_change(a, servers, count, 0, true);  /* ADD intact */
        g[9] = in->may_corrupt(a, servers, count, 4);    /* {3,4,5} */
    }
    return in->check(a, servers, count, msg, msg_len);
}

static void membership_changes_keep_the_disk_fault_limit(void **state)
{
    (void)state;
    struct sim_node_knobs k;
    struct sim_run_config cfg;
    config_no_faults(test_seed(11), 5, &k, &cfg);
    k.durability = CONFIG_DURABILITY_FSYNC;
    k.wipe_pct = 0;
    struct limit_probe p = {0};
    struct sim_node_adapter *a = adapter_wrapped(&k, &p.inner);
    assert_non_null(p.inner.may_change);
    struct sim_server_ops ops = {0};
    ops.name = p.inner.name;
    ops.ctx = &p;
    ops.start = inner_start;
    ops.free = inner_free;
    ops.check = lp_check;
    struct sim_run_result r;
    run_wrapped(a, &cfg, &ops, &r);
    assert_true(p.asked);
    static const bool want[10] = {true,  true,  true, false, true,
                                  false, true,  false, true, false};
    for (unsigned i = 0; i < 10; i++)
        if (p.got[i] != want[i])
            fail_msg("answer %u: %d, expected %d", i, p.got[i], want[i]);
}

/* A simulated crash is process death: callbacks never fire.  Two owners
 * free memory only from callbacks, so a crash strands it: the transport's
 * dial context (on_peer_timer; io.h cannot cancel a connect) and a closed
 * storage with disk operations in flight (storage_close waits for their
 * completions).  Real processes lose both with their memory; LeakSanitizer
 * is told so. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:on_peer_timer\nleak:storage_open\n";
}

int main(void)
{
    sim_node_log_install(false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_nodes_without_faults_pass_and_replay),
        cmocka_unit_test(faulty_runs_keep_safety),
        cmocka_unit_test(wiped_nodes_rejoin_without_voting_lost_state),
        cmocka_unit_test(a_replica_changed_outside_the_log_is_caught),
        cmocka_unit_test(membership_changes_keep_the_disk_fault_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
