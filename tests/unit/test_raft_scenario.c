/* test_raft_scenario.c: stories on the in-process cluster: leader crash and
 * re-election, a partitioned leader with proposals on both sides (the
 * Figure 8 shape), crashes that lose unpersisted writes, allocation
 * failure, a short randomized fault run, and replay of a seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "raft_harness.h"
#include "testlib.h"

static void leader_crash_then_reelection_keeps_committed_entries(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 5, 201);
    o.persist_delay_ms = 2;
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx;
    for (uint64_t v = 1; v <= 10; v++)
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, v, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    uint64_t term = c.nodes[l].term;
    rh_crash(&c, (uint32_t)l);
    int l2 = rh_wait_leader(&c, 5000);
    assert_true(l2 >= 0 && l2 != l);
    assert_true(c.nodes[l2].term > term);
    assert_int_equal(c.nodes[l2].reg, 10);
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l2, 11, &idx), 0);
    rh_restart(&c, (uint32_t)l);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(c.nodes[i].reg, 11);
    assert_null(c.violation);
    rh_free(&c);
}

/* The old leader keeps one follower and accepts proposals it can never
 * commit; the majority elects a leader and commits its own.  After the
 * heal, the minority's entries are truncated and everyone converges on
 * the majority's history (State Machine Safety is checked throughout). */
static void partitioned_leader_with_proposals_on_both_sides_then_heal(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 5, 211);
    o.cfg.check_quorum = false; /* keep the old leader proposing */
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx;
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 1, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    uint32_t mate = (uint32_t)((l + 1) % 5);
    rh_partition(&c, (1u << l) | (1u << mate));
    uint64_t minority_idx = 0;
    for (uint64_t v = 100; v < 110; v++)
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, v, &minority_idx), 0);
    int l2 = -1;
    for (int t = 0; t < 500 && l2 < 0; t++) {
        rh_run(&c, 10);
        int x = rh_leader(&c);
        if (x >= 0 && x != l)
            l2 = x;
    }
    assert_true(l2 >= 0);
    uint64_t majority_idx = 0;
    for (uint64_t v = 200; v < 205; v++)
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l2, v, &majority_idx), 0);
    rh_run(&c, 300);
    struct raft_status st;
    rh_status(&c, (uint32_t)l, &st);
    assert_true(st.commit_index < minority_idx); /* never committed */
    assert_int_equal(c.nodes[l].reg, 1);
    rh_heal(&c);
    assert_true(rh_run_until_applied(&c, majority_idx, 5000));
    rh_run(&c, 500);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(c.nodes[i].reg, 204);
    assert_int_not_equal(rh_leader(&c), l);
    assert_null(c.violation);
    rh_free(&c);
}

/* With a slow disk, the leader crashes before its own writes are durable:
 * what it had not acknowledged may vanish, what was committed may not. */
static void crash_loses_only_unacknowledged_writes(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 221);
    o.persist_delay_ms = 20;
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx;
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 7, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 8, &idx), 0);
    rh_run(&c, 5); /* sent, not durable anywhere yet */
    struct raft_status st;
    rh_status(&c, (uint32_t)l, &st);
    assert_true(st.commit_index < idx);
    for (uint32_t i = 0; i < 3; i++)
        rh_crash(&c, i);
    for (uint32_t i = 0; i < 3; i++)
        rh_restart(&c, i);
    l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    rh_run(&c, 300);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(c.nodes[i].reg, 7);
    assert_null(c.violation);
    rh_free(&c);
}

/* A single server on a slow disk: etcd #14370's shape.  Nothing may be
 * committed (and so nothing applied) before the leader's write is durable. */
static void single_server_commits_nothing_before_its_fsync(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 1, 231);
    o.persist_delay_ms = 50;
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_int_equal(l, 0);
    rh_run(&c, 100);
    uint64_t idx;
    assert_int_equal(rh_propose_u64(&c, 0, 9, &idx), 0);
    rh_run(&c, 40);
    assert_true(c.nodes[0].applied < idx);
    rh_crash(&c, 0);
    rh_restart(&c, 0);
    rh_run(&c, 1000);
    assert_int_equal(c.nodes[0].reg, 0);
    assert_null(c.violation);
    rh_free(&c);
}

static void create_and_propose_survive_every_allocation_failure(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.snapshot.conf.n_members = 1;
    rs.snapshot.conf.members[0].id = 1;
    rs.snapshot.conf.members[0].role = RAFT_VOTER;
    long n;
    struct raft *r = NULL;
    for (n = 0; n < 100; n++) {
        test_alloc_fail_after(n);
        int rc = raft_create(&cfg, &rs, &r);
        test_alloc_reset();
        if (rc == 0)
            break;
        assert_int_equal(rc, CAIRN_ENOMEM);
    }
    assert_true(n > 0);
    struct raft_update up;
    rt_tick(r, 0, &up);
    rt_tick(r, 1000, &up);
    rt_persist_all(r, 1000, &up);
    assert_int_equal(up.role, RAFT_LEADER);
    /* Proposals under failing allocation: an error or success, and the
     * instance stays consistent (raft_step checks the invariants). */
    uint8_t data[64] = {0};
    struct raft_buf b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (struct raft_buf){.data = data, .len = 64};
    int failures = 0;
    for (n = 0; n < 40; n++) {
        struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = 1000};
        ev.propose.bufs = b;
        ev.propose.n = 4;
        test_alloc_fail_after(n % 5);
        int rc = raft_step(r, &ev, &up);
        test_alloc_reset();
        assert_true(rc == 0 || rc == CAIRN_ENOMEM);
        failures += rc == CAIRN_ENOMEM;
        assert_true(raft_invariants(r));
        rt_persist_all(r, 1000, &up);
    }
    assert_true(failures > 0);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.commit_index, st.last_index);
    raft_destroy(r);
}

/* Draws the run's knobs from the seed (swarm testing). */
static void random_opts(struct rh_opts *o, struct cairn_rng *rng, uint64_t seed)
{
    uint32_t nv = 3 + (uint32_t)cairn_rng_below(rng, 3);
    rh_opts_default(o, nv, seed);
    o->n_nodes = nv + (uint32_t)cairn_rng_below(rng, 3);
    o->persist_delay_ms = (uint32_t)cairn_rng_below(rng, 15);
    o->net_delay_ms_max = 1 + (uint32_t)cairn_rng_below(rng, 40);
    o->snapshot_every = cairn_rng_below(rng, 2) ? 5 + cairn_rng_below(rng, 30) : 0;
    o->snapshot_pad = (uint32_t)cairn_rng_below(rng, 300);
    o->check_stale_reads = true;
    o->cfg.prevote = cairn_rng_below(rng, 2);
    o->cfg.check_quorum = cairn_rng_below(rng, 4) != 0;
    o->cfg.inflight_msgs_max = 1 + (uint32_t)cairn_rng_below(rng, 8);
    o->cfg.snapshot_trailing_entries = cairn_rng_below(rng, 20);
    if (cairn_rng_below(rng, 2))
        o->cfg.append_bytes_max = 1; /* one entry per append */
}

/* One random action: client writes and reads, crashes, restarts,
 * partitions, transfers and membership changes. */
static void random_action(struct rh *c, struct cairn_rng *rng, uint64_t *v,
                          uint64_t *rid)
{
    int l = rh_leader(c);
    uint64_t dice = cairn_rng_below(rng, 1000);
    uint32_t who = (uint32_t)cairn_rng_below(rng, c->n);
    if (l >= 0 && dice < 500)
        for (uint64_t k = 1 + cairn_rng_below(rng, 3); k > 0; k--)
            (void)rh_propose_u64(c, (uint32_t)l, ++*v, NULL);
    if (c->nodes[who].up && dice % 3 == 0)
        (void)rh_read(c, who, (*rid)++,
                      dice % 2 ? RAFT_READ_LEASE : RAFT_READ_INDEX);
    if (dice < 15 && c->nodes[who].up)
        rh_crash(c, who);
    else if (dice < 60 && !c->nodes[who].up)
        rh_restart(c, who);
    else if (dice < 75)
        rh_partition(c, (uint32_t)cairn_rng_below(rng, 1u << c->n));
    else if (dice < 110)
        rh_heal(c);
    else if (dice < 120 && l >= 0)
        (void)rh_transfer(c, (uint32_t)l, 0);
    else if (dice < 140 && l >= 0)
        (void)rh_change(c, (uint32_t)l, 1 + (uint8_t)cairn_rng_below(rng, 3),
                        1 + cairn_rng_below(rng, c->n));
    c->o.net_loss_pct = dice < 700 ? 0 : 10;
    rh_run(c, 1 + cairn_rng_below(rng, 40));
}

/* After healing everything, a write must commit within a few tries. */
static bool heals(struct rh *c, uint64_t *v)
{
    rh_heal(c);
    c->o.net_loss_pct = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (!c->nodes[i].up)
            rh_restart(c, i);
    for (int attempt = 0; attempt < 5; attempt++) {
        int l = rh_wait_leader(c, 20000);
        uint64_t idx = 0;
        if (l >= 0 && rh_propose_u64(c, (uint32_t)l, ++*v, &idx) == 0 &&
            rh_run_until_applied(c, idx, 3000) && c->nodes[l].reg == *v)
            return true;
        rh_run(c, 400); /* e.g. a transfer still in flight */
    }
    return false;
}

/* A random run with the harness checking election safety, state-machine
 * safety, stale reads and the core's invariants after every step. */
static uint64_t random_run(uint64_t seed, uint64_t *applied)
{
    struct cairn_rng rng;
    cairn_rng_seed(&rng, seed * 7919);
    struct rh c;
    struct rh_opts o;
    random_opts(&o, &rng, seed);
    rh_init(&c, &o);
    uint64_t v = 0, rid = 1;
    for (int round = 0; round < 600 && c.violation == NULL; round++)
        random_action(&c, &rng, &v, &rid);
    if (c.violation == NULL && !heals(&c, &v))
        fail_msg("seed %llu: no progress after healing",
                 (unsigned long long)seed);
    if (c.violation != NULL)
        fail_msg("seed %llu: %s", (unsigned long long)seed, c.violation);
    *applied = c.nodes[rh_leader(&c)].applied;
    uint64_t h = c.trace_hash;
    rh_free(&c);
    return h;
}

static void random_faults_never_break_safety(void **state)
{
    (void)state;
    uint64_t base = test_seed(1000);
    for (uint64_t s = 0; s < 100; s++) {
        uint64_t applied;
        (void)random_run(base + s, &applied);
        assert_true(applied > 10);
    }
}

static void same_seed_gives_same_run(void **state)
{
    (void)state;
    uint64_t a1, a2, a3;
    uint64_t h1 = random_run(77, &a1);
    uint64_t h2 = random_run(77, &a2);
    uint64_t h3 = random_run(78, &a3);
    assert_true(h1 == h2);
    assert_int_equal(a1, a2);
    assert_true(h1 != h3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leader_crash_then_reelection_keeps_committed_entries),
        cmocka_unit_test(partitioned_leader_with_proposals_on_both_sides_then_heal),
        cmocka_unit_test(crash_loses_only_unacknowledged_writes),
        cmocka_unit_test(single_server_commits_nothing_before_its_fsync),
        cmocka_unit_test(create_and_propose_survive_every_allocation_failure),
        cmocka_unit_test(random_faults_never_break_safety),
        cmocka_unit_test(same_seed_gives_same_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
