/* test_raft_membership.c: configuration changes one server at a time
 * (thesis §4): learners catch up before promotion, one uncommitted change
 * at a time, only after the leader committed an entry of its term, a
 * configuration takes effect when appended and reverts when truncated, a
 * removed leader steps down; plus the configuration encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "raft_harness.h"

static void conf_encoding_round_trips_and_rejects_garbage(void **state)
{
    (void)state;
    struct raft_conf c, d;
    memset(&c, 0, sizeof(c));
    c.n_members = 3;
    c.members[0] = (struct raft_member){.id = 2, .role = RAFT_VOTER};
    c.members[1] = (struct raft_member){.id = 5, .role = RAFT_LEARNER};
    c.members[2] = (struct raft_member){.id = 900, .role = RAFT_VOTER};
    uint8_t buf[RAFT_CONF_ENCODED_SIZE_MAX];
    int len = raft_conf_encode(&c, buf, sizeof(buf));
    assert_int_equal(len, 4 + 3 * 9);
    assert_int_equal(raft_conf_decode(buf, (size_t)len, &d), 0);
    assert_true(raft_conf_equal(&c, &d));
    assert_int_equal(raft_conf_encode(&c, buf, 10), CAIRN_EFULL);
    assert_int_equal(raft_conf_decode(buf, (size_t)len - 1, &d), CAIRN_EPROTO);
    buf[4 + 9 + 8] = 7; /* unknown role */
    assert_int_equal(raft_conf_decode(buf, (size_t)len, &d), CAIRN_EPROTO);
    len = raft_conf_encode(&c, buf, sizeof(buf));
    buf[4 + 9] = 1; /* id 5 -> 1: no longer sorted */
    assert_int_equal(raft_conf_decode(buf, (size_t)len, &d), CAIRN_EPROTO);
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(raft_conf_decode(huge, 4, &d), CAIRN_EPROTO);
}

static void change_refused_before_leader_commits_entry_of_its_term(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    struct raft_event ev = {.type = RAFT_EV_MEMBERSHIP, .now_ms = now};
    ev.change.op = RAFT_CHANGE_ADD_LEARNER;
    ev.change.id = 4;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EBUSY);
    rt_ack(r, now, 2, 1, &up); /* the no-op commits */
    assert_int_equal(raft_step(r, &ev, &up), 0);
    assert_int_equal(up.proposed.count, 0);
    assert_int_equal(up.n_entries, 1);
    assert_int_equal(up.entries[0].type, RAFT_ENTRY_CONFIG);
    /* The configuration is in effect as soon as it is appended. */
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.conf.n_members, 4);
    /* One change at a time: the next waits for this one to commit. */
    ev.change.id = 5;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EBUSY);
    raft_destroy(r);
}

static void promote_refused_until_learner_caught_up(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *r = rt_leader(&cfg, 3, &now);
    struct raft_update up;
    rt_ack(r, now, 2, 1, &up);
    struct raft_event ev = {.type = RAFT_EV_MEMBERSHIP, .now_ms = now};
    ev.change.op = RAFT_CHANGE_ADD_LEARNER;
    ev.change.id = 4;
    assert_int_equal(raft_step(r, &ev, &up), 0);
    rt_persist_all(r, now, &up);
    rt_ack(r, now, 2, 2, &up); /* the config entry commits */
    assert_int_equal(up.commit_index, 2);
    ev.change.op = RAFT_CHANGE_PROMOTE;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EAGAIN);
    rt_ack(r, now, 4, 2, &up); /* the learner holds everything committed */
    assert_int_equal(raft_step(r, &ev, &up), 0);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.conf.members[3].role, RAFT_VOTER);
    /* Promoting a voter or removing a stranger is an error. */
    rt_persist_all(r, now, &up);
    rt_ack(r, now, 2, 3, &up);
    assert_int_equal(up.commit_index, 2); /* 4 voters now: 2 of 4 is short */
    rt_ack(r, now, 4, 3, &up);
    assert_int_equal(up.commit_index, 3);
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EINVAL);
    ev.change.op = RAFT_CHANGE_REMOVE;
    ev.change.id = 9;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_ENOTFOUND);
    raft_destroy(r);
}

static void config_entry_reverts_when_truncated(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 1);
    struct raft_update up;
    struct raft_conf c4;
    memset(&c4, 0, sizeof(c4));
    for (uint32_t i = 0; i < 4; i++)
        c4.members[i] = (struct raft_member){.id = i + 1, .role = RAFT_VOTER};
    c4.n_members = 4;
    uint8_t buf[RAFT_CONF_ENCODED_SIZE_MAX];
    int len = raft_conf_encode(&c4, buf, sizeof(buf));
    struct raft_entry in[2] = {
        {.index = 1, .term = 1, .type = RAFT_ENTRY_NOOP},
        {.index = 2, .term = 1, .type = RAFT_ENTRY_CONFIG, .len = (uint32_t)len,
         .data = buf},
    };
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 1);
    m.append.n_entries = 2;
    m.append.entries = in;
    rt_msg(r, 10, &m, &up);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.conf.n_members, 4);
    /* A new leader's log replaces entry 2: the old configuration is back. */
    struct raft_entry in2[1] = {{.index = 2, .term = 2, .type = RAFT_ENTRY_NOOP}};
    rt_msg_init(&m, RAFT_MSG_APPEND, 3, 1, 2);
    m.append.prev_index = 1;
    m.append.prev_term = 1;
    m.append.n_entries = 1;
    m.append.entries = in2;
    rt_msg(r, 20, &m, &up);
    raft_status_get(r, &st);
    assert_int_equal(st.conf.n_members, 3);
    raft_destroy(r);
}

static void learner_receives_log_but_never_counts_for_commit(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 51);
    o.n_nodes = 4; /* server 4 starts outside the group */
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx;
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 1, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    assert_int_equal(rh_change(&c, (uint32_t)l, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    rh_run(&c, 500);
    assert_int_equal(c.nodes[3].reg, 1); /* the learner caught up */
    /* With two voters down the learner cannot make a quorum. */
    uint32_t a = (uint32_t)((l + 1) % 3), b = (uint32_t)((l + 2) % 3);
    rh_crash(&c, a);
    rh_crash(&c, b);
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 2, &idx), 0);
    rh_run(&c, 100);
    struct raft_status st;
    rh_status(&c, (uint32_t)l, &st);
    assert_true(st.commit_index < idx);
    assert_null(c.violation);
    rh_free(&c);
}

static void removed_leader_steps_down_once_removal_commits(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 61);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    rh_run(&c, 100);
    assert_int_equal(rh_change(&c, (uint32_t)l, RAFT_CHANGE_REMOVE,
                               c.nodes[l].id), 0);
    rh_run(&c, 100);
    assert_int_not_equal(c.nodes[l].role, RAFT_LEADER);
    int l2 = rh_wait_leader(&c, 5000);
    assert_true(l2 >= 0 && l2 != l);
    uint64_t idx;
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l2, 5, &idx), 0);
    rh_run(&c, 500);
    assert_int_equal(c.nodes[l2].reg, 5);
    /* The removed server stays quiet: no leader in later terms. */
    assert_int_not_equal(c.nodes[l].role, RAFT_LEADER);
    assert_null(c.violation);
    rh_free(&c);
}

/* Adds servers 4 and 5 as learners, promotes them, then removes two of
 * the original voters, all while a client keeps writing. */
static void members_added_and_removed_under_load(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 71);
    o.n_nodes = 5;
    o.persist_delay_ms = 1;
    rh_init(&c, &o);
    struct { uint8_t op; uint64_t id; } plan[] = {
        {RAFT_CHANGE_ADD_LEARNER, 4}, {RAFT_CHANGE_PROMOTE, 4},
        {RAFT_CHANGE_ADD_LEARNER, 5}, {RAFT_CHANGE_PROMOTE, 5},
        {RAFT_CHANGE_REMOVE, 1},      {RAFT_CHANGE_REMOVE, 2},
    };
    size_t step = 0;
    uint64_t v = 0, idx = 0;
    for (int round = 0; round < 400 && step < 6; round++) {
        int l = rh_leader(&c);
        if (l >= 0 && rh_propose_u64(&c, (uint32_t)l, ++v, &idx) != 0)
            v--;
        if (l >= 0 && rh_change(&c, (uint32_t)l, plan[step].op,
                                plan[step].id) == 0)
            step++;
        rh_run(&c, 10);
    }
    assert_int_equal(step, 6);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, ++v, &idx), 0);
    rh_run(&c, 1000);
    struct raft_status st;
    rh_status(&c, (uint32_t)l, &st);
    assert_int_equal(st.conf.n_members, 3);
    assert_int_equal(st.conf.members[0].id, 3);
    for (uint32_t i = 2; i < 5; i++)
        assert_int_equal(c.nodes[i].reg, v);
    assert_null(c.violation);
    rh_free(&c);
}

/* Server 3's log holds an uncommitted entry removing it.  If it is the
 * most up-to-date server, the others can only elect it, so it must still
 * campaign (thesis §4.2.2); once the removal commits it stays quiet. */
static void voter_with_uncommitted_removal_still_campaigns(void **state)
{
    (void)state;
    struct raft_conf c2;
    memset(&c2, 0, sizeof(c2));
    c2.members[0] = (struct raft_member){.id = 1, .role = RAFT_VOTER};
    c2.members[1] = (struct raft_member){.id = 2, .role = RAFT_VOTER};
    c2.n_members = 2;
    uint8_t buf[RAFT_CONF_ENCODED_SIZE_MAX];
    int len = raft_conf_encode(&c2, buf, sizeof(buf));
    struct raft_entry log[2] = {
        {.index = 1, .term = 1, .type = RAFT_ENTRY_NOOP},
        {.index = 2, .term = 1, .type = RAFT_ENTRY_CONFIG, .len = (uint32_t)len,
         .data = buf},
    };
    struct raft_config cfg;
    rt_config(&cfg, 3, 1);
    struct raft *r = rt_new(&cfg, 3, log, 2, 1);
    struct raft_update up;
    rt_tick(r, 1000, &up);
    assert_int_equal(up.role, RAFT_CANDIDATE);
    rt_persist_all(r, 1000, &up);
    assert_int_equal(rt_count(&up, RAFT_MSG_VOTE, 0), 2);
    assert_non_null(rt_find(&up, RAFT_MSG_VOTE, 1));
    /* One vote from the new configuration's majority ({1, 2}) is not
     * enough: its own vote does not count there. */
    struct raft_msg v;
    rt_msg_init(&v, RAFT_MSG_VOTE_RESP, 1, 3, 2);
    v.vote_resp.granted = true;
    rt_msg(r, 1001, &v, &up);
    assert_int_equal(up.role, RAFT_CANDIDATE);
    rt_msg_init(&v, RAFT_MSG_VOTE_RESP, 2, 3, 2);
    v.vote_resp.granted = true;
    rt_msg(r, 1001, &v, &up);
    assert_int_equal(up.role, RAFT_LEADER);
    raft_destroy(r);
    /* Committed removal: it never campaigns. */
    r = rt_new(&cfg, 3, log, 2, 1);
    struct raft_msg hb;
    rt_msg_init(&hb, RAFT_MSG_APPEND, 1, 3, 1);
    hb.append.prev_index = 2;
    hb.append.prev_term = 1;
    hb.append.commit_index = 2;
    rt_msg(r, 10, &hb, &up);
    assert_int_equal(up.commit_index, 2);
    for (uint64_t t = 100; t < 3000; t += 50) {
        rt_tick(r, t, &up);
        assert_int_equal(up.role, RAFT_FOLLOWER);
    }
    raft_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_encoding_round_trips_and_rejects_garbage),
        cmocka_unit_test(change_refused_before_leader_commits_entry_of_its_term),
        cmocka_unit_test(promote_refused_until_learner_caught_up),
        cmocka_unit_test(config_entry_reverts_when_truncated),
        cmocka_unit_test(learner_receives_log_but_never_counts_for_commit),
        cmocka_unit_test(removed_leader_steps_down_once_removal_commits),
        cmocka_unit_test(members_added_and_removed_under_load),
        cmocka_unit_test(voter_with_uncommitted_removal_still_campaigns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
