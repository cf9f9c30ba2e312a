/* test_raft_replication.c: log replication rules (Figure 2 "AppendEntries
 * RPC", §5.3, §5.4.2), the durability contract for appends, per-follower
 * progress (probe, pipelined window by count and bytes), batching, fast
 * back-off, explicit errors and input validation. */
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

static struct raft *follower_with(struct raft_entry *log, size_t n,
                                  uint64_t term)
{
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    return rt_new(&cfg, 3, log, n, term);
}

static void append_rejected_when_log_lacks_prev_entry(void **state)
{
    (void)state;
    struct raft_entry log[2] = {ent(1, 1), ent(2, 1)};
    struct raft *r = follower_with(log, 2, 1);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 1);
    m.append.prev_index = 5;
    m.append.prev_term = 1;
    rt_msg(r, 10, &m, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_APPEND_RESP, 2);
    assert_non_null(resp);
    assert_false(resp->append_resp.success);
    assert_int_equal(resp->append_resp.reject_index, 5);
    assert_int_equal(resp->append_resp.hint_term, 0);
    assert_int_equal(resp->append_resp.hint_index, 3);
    raft_destroy(r);
}

static void append_rejected_on_prev_term_mismatch_with_conflict_hint(void **state)
{
    (void)state;
    struct raft_entry log[5] = {ent(1, 1), ent(2, 2), ent(3, 2), ent(4, 2),
                                ent(5, 2)};
    struct raft *r = follower_with(log, 5, 3);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 3);
    m.append.prev_index = 4;
    m.append.prev_term = 3;
    rt_msg(r, 10, &m, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_APPEND_RESP, 2);
    assert_false(resp->append_resp.success);
    assert_int_equal(resp->append_resp.hint_term, 2);
    assert_int_equal(resp->append_resp.hint_index, 2);
    raft_destroy(r);
}

static void conflicting_entry_and_all_that_follow_are_deleted(void **state)
{
    (void)state;
    struct raft_entry log[4] = {ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)};
    struct raft *r = follower_with(log, 4, 2);
    struct raft_update up;
    struct raft_msg m;
    struct raft_entry in[1] = {ent(3, 3)};
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 3);
    m.append.prev_index = 2;
    m.append.prev_term = 1;
    m.append.n_entries = 1;
    m.append.entries = in;
    rt_msg(r, 10, &m, &up);
    assert_int_equal(up.truncate_from, 3);
    assert_int_equal(up.n_entries, 1);
    assert_int_equal(up.entries[0].term, 3);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.last_index, 3);
    assert_int_equal(raft_term_at(r, 3), 3);
    raft_destroy(r);
}

static void matching_entries_are_kept_by_a_stale_append(void **state)
{
    (void)state;
    struct raft_entry log[5] = {ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1),
                                ent(5, 1)};
    struct raft *r = follower_with(log, 5, 1);
    struct raft_update up;
    struct raft_msg m;
    struct raft_entry in[2] = {ent(2, 1), ent(3, 1)};
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 1);
    m.append.prev_index = 1;
    m.append.prev_term = 1;
    m.append.n_entries = 2;
    m.append.entries = in;
    rt_msg(r, 10, &m, &up);
    assert_int_equal(up.truncate_from, 0);
    assert_int_equal(up.n_entries, 0);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.last_index, 5);
    raft_destroy(r);
}

static void follower_commit_is_min_of_leader_commit_and_last_new_entry(void **state)
{
    (void)state;
    /* Entries 3..4 are an unverified tail from an older term. */
    struct raft_entry log[4] = {ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)};
    struct raft *r = follower_with(log, 4, 2);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 2);
    m.append.prev_index = 2;
    m.append.prev_term = 1;
    m.append.commit_index = 10;
    rt_msg(r, 10, &m, &up);
    assert_int_equal(up.commit_index, 2);
    assert_int_equal(up.n_committed, 2);
    raft_destroy(r);
}

static void follower_acknowledges_only_durable_entries(void **state)
{
    (void)state;
    struct raft *r = follower_with(NULL, 0, 1);
    struct raft_update up;
    struct raft_msg m;
    struct raft_entry in[2] = {ent(1, 1), ent(2, 1)};
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 1);
    m.append.n_entries = 2;
    m.append.entries = in;
    rt_msg(r, 10, &m, &up);
    assert_int_equal(up.n_entries, 2);
    assert_null(rt_find(&up, RAFT_MSG_APPEND_RESP, 2));
    /* Only the first entry durable: still no ack for index 2. */
    struct raft_event ev = {.type = RAFT_EV_PERSISTED, .now_ms = 11};
    ev.persisted.hard_state.term = 1;
    ev.persisted.last_index = 1;
    ev.persisted.last_term = 1;
    raft_step(r, &ev, &up);
    assert_null(rt_find(&up, RAFT_MSG_APPEND_RESP, 2));
    rt_persist_all(r, 12, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_APPEND_RESP, 2);
    assert_non_null(resp);
    assert_true(resp->append_resp.success);
    assert_int_equal(resp->append_resp.match_index, 2);
    raft_destroy(r);
}

static void persist_completions_out_of_order_are_refused(void **state)
{
    (void)state;
    struct raft *r = follower_with(NULL, 0, 3);
    struct raft_update up;
    struct raft_event ev = {.type = RAFT_EV_PERSISTED, .now_ms = 1};
    ev.persisted.hard_state.term = 3;
    assert_int_equal(raft_step(r, &ev, &up), 0);
    ev.persisted.hard_state.term = 2; /* older than already reported */
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EINVAL);
    ev.persisted.hard_state.term = 4; /* newer than ever asked */
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EINVAL);
    raft_destroy(r);
}

static void leader_counts_itself_only_after_its_append_is_durable(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up); /* no-op at index 1 */
    assert_int_equal(up.commit_index, 1);
    uint8_t data[8] = {1};
    struct raft_buf b = {.data = data, .len = 8};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = now};
    ev.propose.bufs = &b;
    ev.propose.n = 1;
    assert_int_equal(raft_step(r, &ev, &up), 0);
    assert_int_equal(up.proposed.first_index, 2);
    /* Follower 2 acked, but our own copy is not durable: 1 of 3. */
    rt_ack(r, now, 2, 2, &up);
    assert_int_equal(up.commit_index, 1);
    rt_persist_all(r, now, &up);
    assert_int_equal(up.commit_index, 2);
    raft_destroy(r);
}

static void leader_commits_earlier_term_entries_only_with_current_term_entry(void **state)
{
    (void)state;
    /* Figure 8: entry 2 of term 2 on a majority is not committed by a
     * leader of term 4 until an entry of term 4 is. */
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_entry log[2] = {ent(1, 1), ent(2, 2)};
    struct raft *r = rt_new(&cfg, 3, log, 2, 3);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    rt_persist_all(r, 1000, &up);
    struct raft_msg v;
    rt_msg_init(&v, RAFT_MSG_VOTE_RESP, 2, 1, 4);
    v.vote_resp.granted = true;
    rt_msg(r, 1000, &v, &up);
    assert_int_equal(up.role, RAFT_LEADER);
    rt_persist_all(r, 1000, &up);
    rt_ack(r, 1000, 2, 2, &up);
    assert_int_equal(up.commit_index, 0);
    rt_ack(r, 1000, 2, 3, &up); /* the no-op of term 4 */
    assert_int_equal(up.commit_index, 3);
    raft_destroy(r);
}

static void proposals_in_one_event_leave_in_one_append(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up); /* follower 2 now replicating */
    uint8_t data[5][8] = {{1}, {2}, {3}, {4}, {5}};
    struct raft_buf b[5];
    for (int i = 0; i < 5; i++)
        b[i] = (struct raft_buf){.data = data[i], .len = 8};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = now};
    ev.propose.bufs = b;
    ev.propose.n = 5;
    assert_int_equal(raft_step(r, &ev, &up), 0);
    assert_int_equal(up.proposed.count, 5);
    assert_int_equal(up.n_entries, 5);
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 2), 1);
    const struct raft_msg *m = rt_find(&up, RAFT_MSG_APPEND, 2);
    assert_int_equal(m->append.n_entries, 5);
    assert_int_equal(m->append.prev_index, 1);
    assert_int_equal(m->append.entries[4].index, 6);
    raft_destroy(r);
}

static int propose_n(struct raft *r, uint64_t now, uint32_t n, uint32_t len,
                     struct raft_update *up)
{
    static uint8_t data[4096];
    struct raft_buf b[64];
    for (uint32_t i = 0; i < n; i++)
        b[i] = (struct raft_buf){.data = data, .len = len};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = now};
    ev.propose.bufs = b;
    ev.propose.n = n;
    return raft_step(r, &ev, up);
}

static void pipeline_bounded_by_inflight_message_count(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.inflight_msgs_max = 3;
    cfg.append_bytes_max = 10; /* one 8-byte entry per append */
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up);
    assert_int_equal(propose_n(r, now, 10, 8, &up), 0);
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 2), 3);
    /* An ack for the first frees one slot: exactly one more append. */
    rt_ack(r, now, 2, 2, &up);
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 2), 1);
    raft_destroy(r);
}

static void pipeline_bounded_by_inflight_bytes(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.inflight_msgs_max = 100;
    cfg.inflight_bytes_max = 1000;
    cfg.append_bytes_max = 400;
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up);
    assert_int_equal(propose_n(r, now, 10, 400, &up), 0);
    /* 400 + 400 < 1000, then 1200 >= 1000: three appends, then full. */
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 2), 3);
    raft_destroy(r);
}

static void probing_follower_gets_one_append_at_a_time(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    /* Follower 3 has not answered yet: it is probed. */
    assert_int_equal(propose_n(r, now, 1, 8, &up), 0);
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 3), 0);
    assert_int_equal(propose_n(r, now, 1, 8, &up), 0);
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 3), 0);
    /* The heartbeat tick re-arms the probe. */
    rt_tick(r, now + cfg.heartbeat_interval_ms, &up);
    assert_int_equal(rt_count(&up, RAFT_MSG_APPEND, 3), 1);
    assert_int_equal(rt_count(&up, RAFT_MSG_HEARTBEAT, 3), 1);
    raft_destroy(r);
}

static void rejection_backs_off_a_whole_term_at_once(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    /* Leader log: 1..3 term 1, 4..10 term 3; it leads term 5. */
    struct raft_entry log[10];
    for (uint64_t i = 1; i <= 10; i++)
        log[i - 1] = ent(i, i <= 3 ? 1 : 3);
    struct raft *r = rt_new(&cfg, 3, log, 10, 4);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    rt_persist_all(r, 1000, &up);
    struct raft_msg v;
    rt_msg_init(&v, RAFT_MSG_VOTE_RESP, 2, 1, 5);
    v.vote_resp.granted = true;
    rt_msg(r, 1000, &v, &up);
    rt_persist_all(r, 1000, &up);
    /* Follower 2 has 1..3 term 1 and 4..9 term 2: it rejects prev 11
     * with hint (term 2, first index 4). */
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND_RESP, 2, 1, 5);
    m.append_resp.reject_index = 10;
    m.append_resp.hint_term = 2;
    m.append_resp.hint_index = 4;
    rt_tick(r, 1020, &up); /* re-arm the probe after the first */
    m.append_resp.reject_index = 10;
    rt_msg(r, 1021, &m, &up);
    const struct raft_msg *a = rt_find(&up, RAFT_MSG_APPEND, 2);
    assert_non_null(a);
    /* We have no term 2: next probe skips straight to prev index 3. */
    assert_int_equal(a->append.prev_index, 3);
    assert_int_equal(a->append.prev_term, 1);
    raft_destroy(r);
}

static void propose_errors_are_explicit(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.entry_size_max = 100;
    struct raft *f = follower_with(NULL, 0, 1);
    struct raft_update up;
    struct raft_msg hb;
    rt_msg_init(&hb, RAFT_MSG_HEARTBEAT, 3, 1, 1);
    rt_msg(f, 10, &hb, &up);
    assert_int_equal(propose_n(f, 11, 1, 8, &up), CAIRN_ENOTLEADER);
    assert_int_equal(up.leader_id, 3); /* the hint */
    raft_destroy(f);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    assert_int_equal(propose_n(r, now, 1, 101, &up), CAIRN_ETOOBIG);
    struct raft_buf b = {.data = "x", .len = 1};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = now};
    ev.propose.bufs = &b;
    ev.propose.n = RAFT_PROPOSE_BATCH_MAX + 1;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_ETOOBIG);
    struct raft_event sd = {.type = RAFT_EV_SHUTDOWN, .now_ms = now};
    assert_int_equal(raft_step(r, &sd, &up), 0);
    assert_int_equal(up.role, RAFT_FOLLOWER);
    assert_int_equal(up.deadline_ms, UINT64_MAX);
    assert_int_equal(propose_n(r, now, 1, 8, &up), CAIRN_ESHUTDOWN);
    raft_destroy(r);
}

static void messages_for_another_group_or_server_are_refused(void **state)
{
    (void)state;
    struct raft *r = follower_with(NULL, 0, 1);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_HEARTBEAT, 2, 1, 1);
    m.group_id = 78;
    assert_int_equal(rt_msg(r, 1, &m, &up), CAIRN_EPROTO);
    rt_msg_init(&m, RAFT_MSG_HEARTBEAT, 2, 9, 1);
    assert_int_equal(rt_msg(r, 1, &m, &up), CAIRN_EPROTO);
    rt_msg_init(&m, 99, 2, 1, 1);
    assert_int_equal(rt_msg(r, 1, &m, &up), CAIRN_EPROTO);
    /* Entries that skip an index are a protocol error, not a crash. */
    struct raft_entry in[2] = {ent(1, 1), ent(3, 1)};
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 1);
    m.append.n_entries = 2;
    m.append.entries = in;
    assert_int_equal(rt_msg(r, 1, &m, &up), CAIRN_EPROTO);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.last_index, 0);
    raft_destroy(r);
}

static void heartbeat_never_commits_follower_past_its_known_match(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up);
    assert_int_equal(up.commit_index, 1);
    rt_tick(r, now + cfg.heartbeat_interval_ms, &up);
    const struct raft_msg *h2 = rt_find(&up, RAFT_MSG_HEARTBEAT, 2);
    const struct raft_msg *h3 = rt_find(&up, RAFT_MSG_HEARTBEAT, 3);
    assert_int_equal(h2->heartbeat.commit_index, 1);
    assert_int_equal(h3->heartbeat.commit_index, 0); /* 3 matched nothing */
    raft_destroy(r);
}

static void lost_appends_are_recovered_without_new_proposals(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 21);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    c.o.net_loss_pct = 40;
    uint64_t idx = 0;
    for (uint64_t v = 1; v <= 20; v++)
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, v, &idx), 0);
    rh_run(&c, 200);
    c.o.net_loss_pct = 0;
    assert_true(rh_run_until_applied(&c, idx, 5000));
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(c.nodes[i].reg, 20);
    assert_null(c.violation);
    rh_free(&c);
}

static void create_rejects_bad_config_and_inconsistent_restore(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    struct raft *r;
    cfg.heartbeat_interval_ms = cfg.election_timeout_ms_min;
    assert_int_equal(raft_create(&cfg, &rs, &r), CAIRN_ECONFIG);
    rt_config(&cfg, 0, 1);
    assert_int_equal(raft_create(&cfg, &rs, &r), CAIRN_ECONFIG);
    rt_config(&cfg, 1, 1);
    struct raft_entry log[2] = {ent(1, 2), ent(2, 1)}; /* term goes back */
    rs.entries = log;
    rs.n_entries = 2;
    rs.hard_state.term = 2;
    assert_int_equal(raft_create(&cfg, &rs, &r), CAIRN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_rejected_when_log_lacks_prev_entry),
        cmocka_unit_test(append_rejected_on_prev_term_mismatch_with_conflict_hint),
        cmocka_unit_test(conflicting_entry_and_all_that_follow_are_deleted),
        cmocka_unit_test(matching_entries_are_kept_by_a_stale_append),
        cmocka_unit_test(follower_commit_is_min_of_leader_commit_and_last_new_entry),
        cmocka_unit_test(follower_acknowledges_only_durable_entries),
        cmocka_unit_test(persist_completions_out_of_order_are_refused),
        cmocka_unit_test(leader_counts_itself_only_after_its_append_is_durable),
        cmocka_unit_test(leader_commits_earlier_term_entries_only_with_current_term_entry),
        cmocka_unit_test(proposals_in_one_event_leave_in_one_append),
        cmocka_unit_test(pipeline_bounded_by_inflight_message_count),
        cmocka_unit_test(pipeline_bounded_by_inflight_bytes),
        cmocka_unit_test(probing_follower_gets_one_append_at_a_time),
        cmocka_unit_test(rejection_backs_off_a_whole_term_at_once),
        cmocka_unit_test(propose_errors_are_explicit),
        cmocka_unit_test(messages_for_another_group_or_server_are_refused),
        cmocka_unit_test(heartbeat_never_commits_follower_past_its_known_match),
        cmocka_unit_test(lost_appends_are_recovered_without_new_proposals),
        cmocka_unit_test(create_rejects_bad_config_and_inconsistent_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
