/* test_raft_election.c: leader election rules (Figure 2 "RequestVote RPC",
 * "Rules for Servers", §5.2, §5.4.1, PreVote, CheckQuorum, stickiness) and
 * the durability of term and vote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "raft_harness.h"

static struct raft_entry ent(uint64_t index, uint64_t term)
{
    struct raft_entry e = {.index = index, .term = term,
                           .type = RAFT_ENTRY_NORMAL};
    return e;
}

static void follower_becomes_candidate_after_election_timeout(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 0);
    struct raft_update up;
    rt_tick(r, 1, &up);
    assert_int_equal(up.role, RAFT_FOLLOWER);
    assert_true(up.deadline_ms >= cfg.election_timeout_ms_min);
    assert_true(up.deadline_ms < cfg.election_timeout_ms_max);
    rt_tick(r, up.deadline_ms, &up);
    assert_int_equal(up.role, RAFT_CANDIDATE);
    assert_int_equal(up.term, 1);
    assert_true(up.has_hard_state);
    assert_int_equal(up.hard_state.term, 1);
    assert_int_equal(up.hard_state.vote, 1);
    raft_destroy(r);
}

static void candidate_requests_votes_only_after_term_and_vote_durable(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 0);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    assert_int_equal(up.role, RAFT_CANDIDATE);
    assert_int_equal(rt_count(&up, RAFT_MSG_VOTE, 0), 0);
    rt_persist_all(r, 1000, &up);
    assert_int_equal(rt_count(&up, RAFT_MSG_VOTE, 0), 2);
    const struct raft_msg *m = rt_find(&up, RAFT_MSG_VOTE, 2);
    assert_non_null(m);
    assert_int_equal(m->term, 1);
    raft_destroy(r);
}

static void vote_granted_only_after_vote_durable_and_once_per_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 0);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 1);
    rt_msg(r, 10, &m, &up);
    assert_int_equal(rt_count(&up, RAFT_MSG_VOTE_RESP, 2), 0);
    assert_true(up.has_hard_state);
    assert_int_equal(up.hard_state.vote, 2);
    rt_persist_all(r, 10, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_VOTE_RESP, 2);
    assert_non_null(resp);
    assert_true(resp->vote_resp.granted);
    /* Another candidate in the same term is refused. */
    rt_msg_init(&m, RAFT_MSG_VOTE, 3, 1, 1);
    rt_msg(r, 11, &m, &up);
    resp = rt_find(&up, RAFT_MSG_VOTE_RESP, 3);
    assert_non_null(resp);
    assert_false(resp->vote_resp.granted);
    /* The same candidate asking again gets the same answer. */
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 1);
    rt_msg(r, 12, &m, &up);
    resp = rt_find(&up, RAFT_MSG_VOTE_RESP, 2);
    assert_non_null(resp);
    assert_true(resp->vote_resp.granted);
    raft_destroy(r);
}

static void vote_denied_to_candidate_with_less_up_to_date_log(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_entry log[3] = {ent(1, 1), ent(2, 2), ent(3, 2)};
    struct raft *r = rt_new(&cfg, 3, log, 3, 2);
    struct raft_update up;
    struct raft_msg m;
    /* Older last term, longer log: refused (§5.4.1). */
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 3);
    m.vote.last_log_term = 1;
    m.vote.last_log_index = 9;
    rt_msg(r, 10, &m, &up);
    rt_persist_all(r, 10, &up);
    assert_false(rt_find(&up, RAFT_MSG_VOTE_RESP, 2)->vote_resp.granted);
    /* Same last term, shorter log: refused. */
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 4);
    m.vote.last_log_term = 2;
    m.vote.last_log_index = 2;
    rt_msg(r, 11, &m, &up);
    rt_persist_all(r, 11, &up);
    assert_false(rt_find(&up, RAFT_MSG_VOTE_RESP, 2)->vote_resp.granted);
    /* Same last term, same length: granted. */
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 5);
    m.vote.last_log_term = 2;
    m.vote.last_log_index = 3;
    rt_msg(r, 12, &m, &up);
    rt_persist_all(r, 12, &up);
    assert_true(rt_find(&up, RAFT_MSG_VOTE_RESP, 2)->vote_resp.granted);
    raft_destroy(r);
}

static void higher_term_in_any_message_makes_leader_follower(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND_RESP, 2, 1, 7);
    rt_msg(r, now, &m, &up);
    assert_int_equal(up.role, RAFT_FOLLOWER);
    assert_int_equal(up.term, 7);
    assert_true(up.has_hard_state);
    assert_int_equal(up.hard_state.vote, 0);
    raft_destroy(r);
}

static void stale_term_append_rejected_with_current_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 5);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 4);
    rt_msg(r, 10, &m, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_APPEND_RESP, 2);
    assert_non_null(resp);
    assert_false(resp->append_resp.success);
    assert_int_equal(resp->term, 5);
    assert_int_equal(up.leader_id, 0);
    raft_destroy(r);
}

static void candidate_with_majority_becomes_leader_and_appends_noop(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.role, RAFT_LEADER);
    assert_int_equal(st.last_index, 1);
    const struct raft_entry *e = NULL;
    (void)e;
    assert_int_equal(raft_term_at(r, 1), st.term);
    raft_destroy(r);
}

static void candidate_returns_to_follower_on_append_from_leader_of_same_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 0);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    assert_int_equal(up.role, RAFT_CANDIDATE);
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 1);
    rt_msg(r, 1001, &m, &up);
    assert_int_equal(up.role, RAFT_FOLLOWER);
    assert_int_equal(up.leader_id, 2);
    assert_int_equal(up.term, 1);
    raft_destroy(r);
}

static void election_timeouts_are_randomized_per_seed(void **state)
{
    (void)state;
    uint64_t seen[8];
    size_t distinct = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        struct raft_config cfg;
        rt_config(&cfg, 1, seed);
        struct raft *r = rt_new(&cfg, 3, NULL, 0, 0);
        struct raft_update up;
        rt_tick(r, 0, &up);
        assert_true(up.deadline_ms >= cfg.election_timeout_ms_min);
        assert_true(up.deadline_ms < cfg.election_timeout_ms_max);
        bool dup = false;
        for (size_t k = 0; k < distinct; k++)
            dup |= seen[k] == up.deadline_ms;
        if (!dup)
            seen[distinct++] = up.deadline_ms;
        raft_destroy(r);
    }
    assert_true(distinct >= 4);
}

static void prevote_does_not_change_any_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.prevote = true;
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 3);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    assert_int_equal(up.role, RAFT_PRECANDIDATE);
    assert_int_equal(up.term, 3);
    assert_false(up.has_hard_state);
    const struct raft_msg *m = rt_find(&up, RAFT_MSG_PREVOTE, 2);
    assert_non_null(m);
    assert_int_equal(m->term, 4);
    /* A voter asked for a prevote keeps its own term. */
    struct raft_config cfg2;
    rt_config(&cfg2, 2, 1);
    struct raft *v = rt_new(&cfg2, 3, NULL, 0, 3);
    struct raft_update vu;
    rt_msg(v, 1000, m, &vu);
    assert_int_equal(vu.term, 3);
    const struct raft_msg *resp = rt_find(&vu, RAFT_MSG_PREVOTE_RESP, 1);
    assert_non_null(resp);
    assert_true(resp->vote_resp.granted);
    /* Granted prevotes from a quorum start the real election. */
    rt_msg(r, 1001, resp, &up);
    assert_int_equal(up.role, RAFT_CANDIDATE);
    assert_int_equal(up.term, 4);
    raft_destroy(v);
    raft_destroy(r);
}

static void prevote_refused_for_stale_log(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 2, 1);
    struct raft_entry log[2] = {ent(1, 1), ent(2, 2)};
    struct raft *v = rt_new(&cfg, 3, log, 2, 2);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_PREVOTE, 1, 2, 3);
    m.vote.last_log_index = 5;
    m.vote.last_log_term = 1;
    rt_msg(v, 10, &m, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_PREVOTE_RESP, 1);
    assert_non_null(resp);
    assert_false(resp->vote_resp.granted);
    assert_int_equal(up.term, 2);
    raft_destroy(v);
}

static void follower_hearing_live_leader_ignores_vote_requests(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.check_quorum = true;
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 1);
    struct raft_update up;
    struct raft_msg hb;
    rt_msg_init(&hb, RAFT_MSG_HEARTBEAT, 2, 1, 1);
    rt_msg(r, 100, &hb, &up);
    assert_int_equal(up.leader_id, 2);
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_VOTE, 3, 1, 2);
    rt_msg(r, 150, &m, &up);
    assert_int_equal(up.n_msgs, 0);
    assert_int_equal(up.term, 1);
    rt_msg_init(&m, RAFT_MSG_PREVOTE, 3, 1, 2);
    rt_msg(r, 150, &m, &up);
    assert_int_equal(up.n_msgs, 0);
    /* After an election timeout of silence it listens again. */
    rt_msg_init(&m, RAFT_MSG_VOTE, 3, 1, 2);
    rt_msg(r, 100 + cfg.election_timeout_ms_min + 1, &m, &up);
    assert_int_equal(up.term, 2);
    rt_persist_all(r, 300, &up);
    assert_true(rt_find(&up, RAFT_MSG_VOTE_RESP, 3)->vote_resp.granted);
    /* A campaign ordered by TimeoutNow bypasses the stickiness. */
    rt_msg_init(&hb, RAFT_MSG_HEARTBEAT, 3, 1, 2);
    rt_msg(r, 400, &hb, &up);
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 3);
    m.vote.transfer = true;
    rt_msg(r, 401, &m, &up);
    assert_int_equal(up.term, 3);
    raft_destroy(r);
}

static void learner_never_campaigns(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 4, 1);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    for (uint32_t i = 0; i < 4; i++) {
        rs.snapshot.conf.members[i].id = i + 1;
        rs.snapshot.conf.members[i].role = i < 3 ? RAFT_VOTER : RAFT_LEARNER;
    }
    rs.snapshot.conf.n_members = 4;
    struct raft *r;
    assert_int_equal(raft_create(&cfg, &rs, &r), 0);
    struct raft_update up;
    for (uint64_t t = 0; t < 5000; t += 50) {
        rt_tick(r, t, &up);
        assert_int_equal(up.role, RAFT_FOLLOWER);
        assert_int_equal(up.n_msgs, 0);
    }
    raft_destroy(r);
}

static void single_voter_leads_and_commits_only_after_persist(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 1, NULL, 0, 0);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    assert_int_equal(up.role, RAFT_LEADER);
    assert_int_equal(up.n_entries, 1); /* the no-op */
    assert_int_equal(up.commit_index, 0);
    rt_persist_all(r, 1000, &up);
    assert_int_equal(up.commit_index, 1);
    assert_int_equal(up.n_committed, 1);
    assert_int_equal(up.committed[0].type, RAFT_ENTRY_NOOP);
    raft_destroy(r);
}

static void check_quorum_leader_steps_down_without_quorum(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 11);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    rh_isolate(&c, (uint32_t)l);
    rh_run(&c, 2 * o.cfg.election_timeout_ms_min + 2 * o.cfg.heartbeat_interval_ms);
    assert_int_not_equal(c.nodes[l].role, RAFT_LEADER);
    int l2 = rh_wait_leader(&c, 5000);
    assert_true(l2 >= 0 && l2 != l);
    assert_null(c.violation);
    rh_free(&c);
}

static void leader_without_check_quorum_stays_leader_when_isolated(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 11);
    o.cfg.check_quorum = false;
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    rh_isolate(&c, (uint32_t)l);
    rh_run(&c, 5 * o.cfg.election_timeout_ms_max);
    assert_int_equal(c.nodes[l].role, RAFT_LEADER);
    assert_null(c.violation);
    rh_free(&c);
}

static void partitioned_follower_with_prevote_does_not_disrupt_on_return(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 5);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint32_t f = (uint32_t)((l + 1) % 3);
    uint64_t term = c.nodes[l].term;
    rh_isolate(&c, f);
    rh_run(&c, 20 * o.cfg.election_timeout_ms_max);
    assert_int_equal(c.nodes[f].term, term); /* prevote kept it */
    rh_heal(&c);
    rh_run(&c, 5 * o.cfg.election_timeout_ms_max);
    assert_int_equal(rh_leader(&c), l);
    assert_int_equal(c.nodes[l].term, term);
    assert_null(c.violation);
    rh_free(&c);
}

static void partitioned_follower_without_prevote_bumps_terms(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 5);
    o.cfg.prevote = false;
    o.cfg.check_quorum = false;
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint32_t f = (uint32_t)((l + 1) % 3);
    uint64_t term = c.nodes[l].term;
    rh_isolate(&c, f);
    rh_run(&c, 20 * o.cfg.election_timeout_ms_max);
    assert_true(c.nodes[f].term > term); /* the contrast with PreVote */
    assert_null(c.violation);
    rh_free(&c);
}

static void vote_request_from_older_term_refused_with_current_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 5);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_VOTE, 2, 1, 4);
    rt_msg(r, 10, &m, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_VOTE_RESP, 2);
    assert_non_null(resp);
    assert_false(resp->vote_resp.granted);
    assert_int_equal(resp->term, 5);
    assert_false(up.has_hard_state);
    raft_destroy(r);
}

static void leader_heartbeats_keep_followers_from_campaigning(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 5, 17);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t term = c.nodes[l].term;
    rh_run(&c, 50 * o.cfg.election_timeout_ms_max); /* idle */
    assert_int_equal(rh_leader(&c), l);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(c.nodes[i].term, term);
    assert_null(c.violation);
    rh_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follower_becomes_candidate_after_election_timeout),
        cmocka_unit_test(candidate_requests_votes_only_after_term_and_vote_durable),
        cmocka_unit_test(vote_granted_only_after_vote_durable_and_once_per_term),
        cmocka_unit_test(vote_denied_to_candidate_with_less_up_to_date_log),
        cmocka_unit_test(higher_term_in_any_message_makes_leader_follower),
        cmocka_unit_test(stale_term_append_rejected_with_current_term),
        cmocka_unit_test(candidate_with_majority_becomes_leader_and_appends_noop),
        cmocka_unit_test(candidate_returns_to_follower_on_append_from_leader_of_same_term),
        cmocka_unit_test(election_timeouts_are_randomized_per_seed),
        cmocka_unit_test(prevote_does_not_change_any_term),
        cmocka_unit_test(prevote_refused_for_stale_log),
        cmocka_unit_test(follower_hearing_live_leader_ignores_vote_requests),
        cmocka_unit_test(learner_never_campaigns),
        cmocka_unit_test(single_voter_leads_and_commits_only_after_persist),
        cmocka_unit_test(check_quorum_leader_steps_down_without_quorum),
        cmocka_unit_test(leader_without_check_quorum_stays_leader_when_isolated),
        cmocka_unit_test(partitioned_follower_with_prevote_does_not_disrupt_on_return),
        cmocka_unit_test(partitioned_follower_without_prevote_bumps_terms),
        cmocka_unit_test(vote_request_from_older_term_refused_with_current_term),
        cmocka_unit_test(leader_heartbeats_keep_followers_from_campaigning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
