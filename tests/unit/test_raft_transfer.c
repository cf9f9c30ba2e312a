/* test_raft_transfer.c: leadership transfer (thesis §3.10): TimeoutNow only
 * once the target holds the whole log, proposals refused while a transfer
 * is in flight, abort after an election timeout, and the hand-over itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "raft_harness.h"

static int transfer(struct raft *r, uint64_t now, uint64_t target,
                    struct raft_update *up)
{
    struct raft_event ev = {.type = RAFT_EV_TRANSFER, .now_ms = now};
    ev.transfer.target_id = target;
    return raft_step(r, &ev, up);
}

static int propose(struct raft *r, uint64_t now, struct raft_update *up)
{
    struct raft_buf b = {.data = "abcdefgh", .len = 8};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = now};
    ev.propose.bufs = &b;
    ev.propose.n = 1;
    return raft_step(r, &ev, up);
}

static void timeout_now_sent_only_once_target_holds_whole_log(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    assert_int_equal(transfer(r, now, 2, &up), 0);
    assert_null(rt_find(&up, RAFT_MSG_TIMEOUT_NOW, 2));
    rt_ack(r, now, 2, 1, &up);
    assert_non_null(rt_find(&up, RAFT_MSG_TIMEOUT_NOW, 2));
    raft_destroy(r);
}

static void proposals_and_changes_refused_while_transfer_in_flight(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 3, 1, &up);
    assert_int_equal(transfer(r, now, 2, &up), 0);
    assert_int_equal(propose(r, now, &up), CAIRN_ETRANSFER);
    struct raft_event ev = {.type = RAFT_EV_MEMBERSHIP, .now_ms = now};
    ev.change.op = RAFT_CHANGE_ADD_LEARNER;
    ev.change.id = 9;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_ETRANSFER);
    assert_int_equal(transfer(r, now, 3, &up), CAIRN_ETRANSFER);
    raft_destroy(r);
}

static void transfer_aborts_after_election_timeout(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    assert_int_equal(transfer(r, now, 2, &up), 0);
    assert_true(up.deadline_ms <= now + cfg.election_timeout_ms_min);
    rt_tick(r, now + cfg.election_timeout_ms_min, &up);
    assert_int_equal(up.role, RAFT_LEADER);
    assert_int_equal(propose(r, now + cfg.election_timeout_ms_min, &up), 0);
    raft_destroy(r);
}

static void transfer_without_target_picks_most_up_to_date_voter(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 3, 1, &up);
    assert_int_equal(transfer(r, now, 0, &up), 0);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.transfer_target, 3);
    assert_non_null(rt_find(&up, RAFT_MSG_TIMEOUT_NOW, 3));
    raft_destroy(r);
}

static void transfer_refused_to_non_voter_and_on_follower(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    assert_int_equal(transfer(r, now, 7, &up), CAIRN_EINVAL);
    assert_int_equal(transfer(r, now, 1, &up), CAIRN_EINVAL);
    raft_destroy(r);
    r = rt_new(&cfg, 3, NULL, 0, 1);
    assert_int_equal(transfer(r, 1, 2, &up), CAIRN_ENOTLEADER);
    raft_destroy(r);
}

static void transfer_hands_leadership_to_target(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 101);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx;
    for (uint64_t v = 1; v <= 5; v++)
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, v, &idx), 0);
    uint32_t target = (uint32_t)((l + 2) % 3);
    uint64_t term = c.nodes[l].term;
    assert_int_equal(rh_transfer(&c, (uint32_t)l, c.nodes[target].id), 0);
    rh_run(&c, 100); /* well under an election timeout */
    assert_int_equal(rh_leader(&c), (int)target);
    assert_int_equal(c.nodes[target].term, term + 1);
    assert_int_equal(rh_propose_u64(&c, target, 6, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 2000));
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(c.nodes[i].reg, 6);
    assert_null(c.violation);
    rh_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeout_now_sent_only_once_target_holds_whole_log),
        cmocka_unit_test(proposals_and_changes_refused_while_transfer_in_flight),
        cmocka_unit_test(transfer_aborts_after_election_timeout),
        cmocka_unit_test(transfer_without_target_picks_most_up_to_date_voter),
        cmocka_unit_test(transfer_refused_to_non_voter_and_on_follower),
        cmocka_unit_test(transfer_hands_leadership_to_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
