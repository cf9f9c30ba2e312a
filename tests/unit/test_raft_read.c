/* test_raft_read.c: linearizable reads (thesis §6.4): ReadIndex waits for
 * the no-op of the leader's term and a quorum heartbeat round, batches
 * reads on one round; lease reads need check_quorum and are revoked by
 * TimeoutNow; follower reads get their index from the leader; a
 * partitioned leader never serves a stale value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/assert.h"
#include "core/error.h"
#include "raft_harness.h"

static int read_ev(struct raft *r, uint64_t now, uint64_t id, uint8_t mode,
                   struct raft_update *up)
{
    struct raft_event ev = {.type = RAFT_EV_READ, .now_ms = now};
    ev.read.request_id = id;
    ev.read.mode = mode;
    return raft_step(r, &ev, up);
}

static int hb_ack(struct raft *r, uint64_t now, uint64_t from, uint64_t ctx,
                  struct raft_update *up)
{
    struct raft_status st;
    raft_status_get(r, &st);
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_HEARTBEAT_RESP, from, 1, st.term);
    m.heartbeat_resp.read_ctx = ctx;
    return rt_msg(r, now, &m, up);
}

static const struct raft_read_state *find_read(const struct raft_update *up,
                                               uint64_t id)
{
    for (size_t i = 0; i < up->n_reads; i++)
        if (up->reads[i].request_id == id)
            return &up->reads[i];
    return NULL;
}

static void read_index_waits_for_noop_of_leader_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    assert_int_equal(read_ev(r, now, 7, RAFT_READ_INDEX, &up), 0);
    assert_int_equal(up.n_reads, 0);
    assert_int_equal(rt_count(&up, RAFT_MSG_HEARTBEAT, 0), 0);
    rt_ack(r, now, 2, 1, &up); /* the no-op commits: the round starts */
    const struct raft_msg *hb = rt_find(&up, RAFT_MSG_HEARTBEAT, 2);
    assert_non_null(hb);
    assert_int_equal(up.n_reads, 0);
    hb_ack(r, now, 2, hb->heartbeat.read_ctx, &up);
    const struct raft_read_state *rs = find_read(&up, 7);
    assert_non_null(rs);
    assert_int_equal(rs->status, 0);
    assert_int_equal(rs->index, 1);
    raft_destroy(r);
}

static void read_index_needs_quorum_acks_of_a_round_sent_after_it(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 5, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up);
    rt_ack(r, now, 3, 1, &up);
    rt_tick(r, now + cfg.heartbeat_interval_ms, &up); /* an older round */
    uint64_t old_ctx = rt_find(&up, RAFT_MSG_HEARTBEAT, 2)->heartbeat.read_ctx;
    read_ev(r, now + 21, 9, RAFT_READ_INDEX, &up);
    uint64_t ctx = rt_find(&up, RAFT_MSG_HEARTBEAT, 2)->heartbeat.read_ctx;
    assert_true(ctx > old_ctx);
    hb_ack(r, now + 22, 2, old_ctx, &up);
    hb_ack(r, now + 22, 3, old_ctx, &up);
    assert_int_equal(up.n_reads, 0); /* acks of the older round don't do */
    hb_ack(r, now + 23, 2, ctx, &up);
    assert_int_equal(up.n_reads, 0); /* 2 of 5 */
    hb_ack(r, now + 23, 4, ctx, &up);
    assert_non_null(find_read(&up, 9));
    raft_destroy(r);
}

static void reads_arriving_during_a_round_share_the_next_one(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up);
    read_ev(r, now, 1, RAFT_READ_INDEX, &up);
    uint64_t c1 = rt_find(&up, RAFT_MSG_HEARTBEAT, 2)->heartbeat.read_ctx;
    for (uint64_t id = 2; id <= 50; id++) {
        read_ev(r, now, id, RAFT_READ_INDEX, &up);
        assert_int_equal(rt_count(&up, RAFT_MSG_HEARTBEAT, 0), 0);
    }
    hb_ack(r, now, 2, c1, &up);
    assert_int_equal(up.n_reads, 1);
    assert_non_null(find_read(&up, 1));
    /* One new round for the 49 waiting reads. */
    assert_int_equal(rt_count(&up, RAFT_MSG_HEARTBEAT, 2), 1);
    uint64_t c2 = rt_find(&up, RAFT_MSG_HEARTBEAT, 2)->heartbeat.read_ctx;
    hb_ack(r, now, 3, c2, &up);
    assert_int_equal(up.n_reads, 49);
    raft_destroy(r);
}

static struct raft *lease_leader(bool check_quorum, uint64_t *now)
{
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.check_quorum = check_quorum;
    cfg.lease_reads = true;
    struct raft *r = rt_leader(&cfg, 3, now);
    struct raft_update up;
    rt_ack(r, *now, 2, 1, &up);
    read_ev(r, *now, 100, RAFT_READ_INDEX, &up);
    uint64_t ctx = rt_find(&up, RAFT_MSG_HEARTBEAT, 2)->heartbeat.read_ctx;
    hb_ack(r, *now, 2, ctx, &up);
    ASSERT(find_read(&up, 100) != NULL);
    return r;
}

static void lease_read_served_at_once_only_while_lease_lasts(void **state)
{
    (void)state;
    uint64_t now;
    struct raft *r = lease_leader(true, &now);
    struct raft_update up;
    read_ev(r, now + 10, 1, RAFT_READ_LEASE, &up);
    assert_non_null(find_read(&up, 1));
    assert_int_equal(rt_count(&up, RAFT_MSG_HEARTBEAT, 0), 0);
    /* Lease = 100 ms * 90%: at +95 it has run out; ReadIndex instead. */
    read_ev(r, now + 95, 2, RAFT_READ_LEASE, &up);
    assert_null(find_read(&up, 2));
    assert_int_equal(rt_count(&up, RAFT_MSG_HEARTBEAT, 2), 1);
    raft_destroy(r);
}

static void lease_read_refused_without_check_quorum(void **state)
{
    (void)state;
    uint64_t now;
    struct raft *r = lease_leader(false, &now);
    struct raft_update up;
    read_ev(r, now + 1, 1, RAFT_READ_LEASE, &up);
    assert_null(find_read(&up, 1));
    raft_destroy(r);
}

static void lease_revoked_once_timeout_now_sent(void **state)
{
    (void)state;
    uint64_t now;
    struct raft *r = lease_leader(true, &now);
    struct raft_update up;
    struct raft_event ev = {.type = RAFT_EV_TRANSFER, .now_ms = now};
    ev.transfer.target_id = 2;
    assert_int_equal(raft_step(r, &ev, &up), 0);
    assert_non_null(rt_find(&up, RAFT_MSG_TIMEOUT_NOW, 2));
    /* Even once the transfer is given up, this term serves no lease. */
    rt_tick(r, now + 150, &up);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.transfer_target, 0);
    read_ev(r, now + 151, 1, RAFT_READ_LEASE, &up);
    assert_null(find_read(&up, 1));
    raft_destroy(r);
}

static void reads_fail_when_leader_steps_down_and_without_leader(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    read_ev(r, now, 5, RAFT_READ_INDEX, &up);
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_HEARTBEAT, 2, 1, 9);
    rt_msg(r, now, &m, &up);
    const struct raft_read_state *rs = find_read(&up, 5);
    assert_non_null(rs);
    assert_int_equal(rs->status, CAIRN_ENOTLEADER);
    raft_destroy(r);
    r = rt_new(&cfg, 3, NULL, 0, 1);
    assert_int_equal(read_ev(r, 1, 6, RAFT_READ_INDEX, &up), CAIRN_ENOTLEADER);
    raft_destroy(r);
}

static void pending_reads_are_bounded(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    for (uint64_t id = 0; id < RAFT_READS_PENDING_MAX; id++)
        assert_int_equal(read_ev(r, now, id, RAFT_READ_INDEX, &up), 0);
    assert_int_equal(read_ev(r, now, 99999, RAFT_READ_INDEX, &up), CAIRN_EFULL);
    raft_destroy(r);
}

static void follower_read_fails_when_leader_does_not_answer(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 1);
    struct raft_update up;
    struct raft_msg hb;
    rt_msg_init(&hb, RAFT_MSG_HEARTBEAT, 2, 1, 1);
    rt_msg(r, 10, &hb, &up);
    assert_int_equal(read_ev(r, 11, 4, RAFT_READ_INDEX, &up), 0);
    const struct raft_msg *fwd = rt_find(&up, RAFT_MSG_READ_INDEX, 2);
    assert_non_null(fwd);
    assert_int_equal(fwd->read_index.request_id, 4);
    assert_true(up.deadline_ms <= 11 + cfg.election_timeout_ms_min);
    rt_tick(r, 11 + cfg.election_timeout_ms_min, &up);
    const struct raft_read_state *rs = find_read(&up, 4);
    assert_non_null(rs);
    assert_int_equal(rs->status, CAIRN_EAGAIN);
    raft_destroy(r);
}

static void follower_read_obtains_index_from_leader(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 81);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx;
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 33, &idx), 0);
    rh_run(&c, 3); /* committed on the leader, maybe not yet applied here */
    uint32_t f = (uint32_t)((l + 1) % 3);
    assert_int_equal(rh_read(&c, f, 1, RAFT_READ_INDEX), 0);
    rh_run(&c, 200);
    const struct rh_read *rd = rh_read_find(&c, f, 1);
    assert_non_null(rd);
    assert_int_equal(rd->status, 0);
    assert_true(rd->index >= idx);
    assert_true(rd->served);
    assert_int_equal(rd->value, 33);
    assert_null(c.violation);
    rh_free(&c);
}

/* Old leader partitioned with one follower; the majority elects a new
 * leader and overwrites the register.  Reads at the old leader issued
 * after that write must never be served with the old value. */
static void partitioned_leader_never_serves_stale_reads(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        /* ReadIndex and lease with check_quorum; ReadIndex without it (the
         * old leader then stays leader and keeps trying). */
        uint8_t mode = variant == 1 ? RAFT_READ_LEASE : RAFT_READ_INDEX;
        struct rh c;
        struct rh_opts o;
        rh_opts_default(&o, 5, 91 + (uint64_t)variant);
        o.cfg.check_quorum = variant != 2;
        rh_init(&c, &o);
        int l = rh_wait_leader(&c, 5000);
        assert_true(l >= 0);
        uint64_t idx;
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 1, &idx), 0);
        assert_true(rh_run_until_applied(&c, idx, 5000));
        uint32_t mate = (uint32_t)((l + 1) % 5);
        rh_partition(&c, (1u << l) | (1u << mate));
        uint64_t id = 1;
        int l2 = -1;
        for (int t = 0; t < 300 && l2 < 0; t++) {
            rh_read(&c, (uint32_t)l, id++, mode); /* may fail: fine */
            rh_run(&c, 10);
            int x = rh_leader(&c);
            if (x >= 0 && x != l && x != (int)mate)
                l2 = x;
        }
        assert_true(l2 >= 0);
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l2, 2, &idx), 0);
        rh_run(&c, 100);
        assert_int_equal(c.nodes[l2].reg, 2);
        uint64_t first_after = id;
        for (int t = 0; t < 50; t++) {
            if (c.nodes[l].up)
                rh_read(&c, (uint32_t)l, id++, mode);
            rh_run(&c, 10);
        }
        for (uint64_t k = first_after; k < id; k++) {
            const struct rh_read *rd = rh_read_find(&c, (uint32_t)l, k);
            if (rd != NULL && rd->served)
                assert_int_equal(rd->value, 2);
        }
        rh_heal(&c);
        rh_run(&c, 1000);
        assert_int_equal(c.nodes[l].reg, 2);
        assert_null(c.violation);
        rh_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_index_waits_for_noop_of_leader_term),
        cmocka_unit_test(read_index_needs_quorum_acks_of_a_round_sent_after_it),
        cmocka_unit_test(reads_arriving_during_a_round_share_the_next_one),
        cmocka_unit_test(lease_read_served_at_once_only_while_lease_lasts),
        cmocka_unit_test(lease_read_refused_without_check_quorum),
        cmocka_unit_test(lease_revoked_once_timeout_now_sent),
        cmocka_unit_test(reads_fail_when_leader_steps_down_and_without_leader),
        cmocka_unit_test(pending_reads_are_bounded),
        cmocka_unit_test(follower_read_fails_when_leader_does_not_answer),
        cmocka_unit_test(follower_read_obtains_index_from_leader),
        cmocka_unit_test(partitioned_leader_never_serves_stale_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
