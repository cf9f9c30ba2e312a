/* test_raft_snapshot.c: snapshots (§7): compaction with a trailing window,
 * chunked and resumable InstallSnapshot, configuration carried by the
 * snapshot, durability of the install, restart from snapshot plus log. */
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

static void conf3(struct raft_conf *c)
{
    memset(c, 0, sizeof(*c));
    for (uint32_t i = 0; i < 3; i++) {
        c->members[i].id = i + 1;
        c->members[i].role = RAFT_VOTER;
    }
    c->n_members = 3;
}

static void snapshot_compacts_log_keeping_trailing_window(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.snapshot_trailing_entries = 4;
    struct raft_entry log[20];
    for (uint64_t i = 1; i <= 20; i++)
        log[i - 1] = ent(i, 1);
    struct raft *r = rt_new(&cfg, 3, log, 20, 1);
    struct raft_update up;
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_HEARTBEAT, 2, 1, 1);
    m.heartbeat.commit_index = 20;
    rt_msg(r, 10, &m, &up);
    assert_int_equal(up.n_committed, 20);
    static const uint8_t data[100];
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN, .now_ms = 11};
    ev.snapshot.meta.last_index = 15;
    ev.snapshot.meta.last_term = 1;
    conf3(&ev.snapshot.meta.conf);
    ev.snapshot.meta.size = sizeof(data);
    ev.snapshot.data = data;
    assert_int_equal(raft_step(r, &ev, &up), 0);
    assert_int_equal(up.compact_index, 11);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.first_index, 12);
    assert_int_equal(st.snapshot_index, 15);
    assert_int_equal(raft_term_at(r, 11), 1); /* the offset's term stays */
    assert_int_equal(raft_term_at(r, 10), 0);
    /* A snapshot beyond what was applied is refused. */
    ev.snapshot.meta.last_index = 21;
    assert_int_equal(raft_step(r, &ev, &up), CAIRN_EINVAL);
    raft_destroy(r);
}

static void snapshot_chunk(struct raft_msg *m, uint64_t term, uint64_t offset,
                           uint32_t len, const uint8_t *data, uint64_t size)
{
    rt_msg_init(m, RAFT_MSG_SNAPSHOT, 2, 1, term);
    m->snapshot.meta.last_index = 50;
    m->snapshot.meta.last_term = 2;
    conf3(&m->snapshot.meta.conf);
    m->snapshot.meta.size = size;
    m->snapshot.offset = offset;
    m->snapshot.len = len;
    m->snapshot.data = data + offset;
    m->snapshot.done = offset + len == size;
}

static void install_snapshot_resumes_at_receiver_offset(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 2);
    struct raft_update up;
    uint8_t data[200];
    for (int i = 0; i < 200; i++)
        data[i] = (uint8_t)i;
    struct raft_msg m;
    snapshot_chunk(&m, 2, 0, 64, data, 200);
    rt_msg(r, 10, &m, &up);
    assert_non_null(up.snapshot_chunk);
    assert_int_equal(up.snapshot_chunk->offset, 0);
    assert_memory_equal(up.snapshot_chunk->data, data, 64);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_SNAPSHOT_RESP, 2);
    assert_int_equal(resp->snapshot_resp.next_offset, 64);
    /* A chunk after a gap (one was lost): resume point is repeated. */
    snapshot_chunk(&m, 2, 128, 64, data, 200);
    rt_msg(r, 11, &m, &up);
    assert_null(up.snapshot_chunk);
    resp = rt_find(&up, RAFT_MSG_SNAPSHOT_RESP, 2);
    assert_int_equal(resp->snapshot_resp.next_offset, 64);
    assert_false(resp->snapshot_resp.installed);
    snapshot_chunk(&m, 2, 64, 64, data, 200);
    rt_msg(r, 12, &m, &up);
    snapshot_chunk(&m, 2, 128, 64, data, 200);
    rt_msg(r, 13, &m, &up);
    snapshot_chunk(&m, 2, 192, 8, data, 200);
    rt_msg(r, 14, &m, &up);
    assert_non_null(up.snapshot_install);
    assert_int_equal(up.snapshot_install->last_index, 50);
    assert_int_equal(up.snapshot_install->conf.n_members, 3);
    assert_int_equal(up.commit_index, 50);
    assert_int_equal(up.n_committed, 0);
    /* Installed, but the ack waits for the install to be durable. */
    assert_null(rt_find(&up, RAFT_MSG_SNAPSHOT_RESP, 2));
    struct raft_event ev = {.type = RAFT_EV_PERSISTED, .now_ms = 15};
    ev.persisted.hard_state.term = 2;
    ev.persisted.last_index = 50;
    ev.persisted.last_term = 2;
    raft_step(r, &ev, &up);
    resp = rt_find(&up, RAFT_MSG_SNAPSHOT_RESP, 2);
    assert_non_null(resp);
    assert_true(resp->snapshot_resp.installed);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.first_index, 51);
    assert_int_equal(st.applied_index, 50);
    raft_destroy(r);
}

static void snapshot_with_matching_last_entry_keeps_following_log(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_entry log[60];
    for (uint64_t i = 1; i <= 60; i++)
        log[i - 1] = ent(i, i <= 50 ? 2 : 2);
    struct raft *r = rt_new(&cfg, 3, log, 60, 2);
    struct raft_update up;
    uint8_t data[10] = {0};
    struct raft_msg m;
    snapshot_chunk(&m, 2, 0, 10, data, 10);
    rt_msg(r, 10, &m, &up);
    assert_null(up.snapshot_install);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.last_index, 60);
    assert_int_equal(st.commit_index, 50);
    raft_destroy(r);
}

static void malformed_snapshot_chunks_are_refused(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 2);
    struct raft_update up;
    uint8_t data[100] = {0};
    struct raft_msg m;
    snapshot_chunk(&m, 2, 90, 20, data, 100); /* runs past size */
    assert_int_equal(rt_msg(r, 10, &m, &up), CAIRN_EPROTO);
    snapshot_chunk(&m, 2, 0, 10, data, 100);
    m.snapshot.done = true; /* claims done too early */
    assert_int_equal(rt_msg(r, 10, &m, &up), CAIRN_EPROTO);
    snapshot_chunk(&m, 2, 0, 100, data, 100);
    m.snapshot.meta.conf.members[1].id = 1; /* duplicate member */
    assert_int_equal(rt_msg(r, 10, &m, &up), CAIRN_EPROTO);
    raft_destroy(r);
}

static void slow_follower_catches_up_through_chunked_snapshot(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 31);
    o.snapshot_every = 10;
    o.snapshot_pad = 300; /* several 64-byte chunks */
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint32_t slow = (uint32_t)((l + 1) % 3);
    rh_crash(&c, slow);
    uint64_t idx = 0;
    for (uint64_t v = 1; v <= 60; v++) {
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, v, &idx), 0);
        rh_run(&c, 5);
    }
    rh_run(&c, 200);
    struct raft_status st;
    rh_status(&c, (uint32_t)l, &st);
    assert_true(st.first_index > 2); /* its start is compacted away */
    rh_restart(&c, slow);
    assert_true(rh_run_until_applied(&c, idx, 10000));
    assert_int_equal(c.nodes[slow].reg, 60);
    assert_true(c.nodes[slow].installs >= 1);
    assert_true(c.nodes[slow].chunks_received >= 5); /* 332 bytes / 64 */
    assert_null(c.violation);
    rh_free(&c);
}

static void restart_from_snapshot_and_log_recovers_state(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 41);
    o.snapshot_every = 7;
    o.persist_delay_ms = 2;
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx = 0;
    for (uint64_t v = 1; v <= 30; v++)
        assert_int_equal(rh_propose_u64(&c, (uint32_t)l, v, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    for (uint32_t i = 0; i < 3; i++) {
        rh_crash(&c, i);
        rh_restart(&c, i);
    }
    l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 31, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(c.nodes[i].reg, 31);
    assert_null(c.violation);
    rh_free(&c);
}

/* A snapshot the follower already holds committed is acknowledged only
 * once those entries are durable: the leader sets its match from the ack,
 * and a match beyond the real log end would stall replication forever. */
static void snapshot_already_committed_acked_only_when_durable(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft *r = rt_new(&cfg, 3, NULL, 0, 2);
    struct raft_update up;
    struct raft_entry in[5];
    for (uint64_t i = 1; i <= 5; i++)
        in[i - 1] = ent(i, 2);
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND, 2, 1, 2);
    m.append.n_entries = 5;
    m.append.entries = in;
    m.append.commit_index = 5;
    rt_msg(r, 10, &m, &up);
    assert_int_equal(up.commit_index, 5);
    uint8_t data[10] = {0};
    rt_msg_init(&m, RAFT_MSG_SNAPSHOT, 2, 1, 2);
    m.snapshot.meta.last_index = 3;
    m.snapshot.meta.last_term = 2;
    conf3(&m.snapshot.meta.conf);
    m.snapshot.meta.size = 10;
    m.snapshot.len = 10;
    m.snapshot.data = data;
    m.snapshot.done = true;
    rt_msg(r, 11, &m, &up);
    assert_null(rt_find(&up, RAFT_MSG_SNAPSHOT_RESP, 2));
    rt_persist_all(r, 12, &up);
    const struct raft_msg *resp = rt_find(&up, RAFT_MSG_SNAPSHOT_RESP, 2);
    assert_non_null(resp);
    assert_true(resp->snapshot_resp.installed);
    raft_destroy(r);
}

/* A snapshot of applied entries may be durable before the hard state of
 * their term: the restored server adopts that term, with no vote. */
static void restore_adopts_term_of_snapshot_newer_than_hard_state(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.hard_state.term = 4;
    rs.hard_state.vote = 2;
    rs.snapshot.last_index = 37;
    rs.snapshot.last_term = 6;
    conf3(&rs.snapshot.conf);
    struct raft *r;
    assert_int_equal(raft_create(&cfg, &rs, &r), 0);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.term, 6);
    assert_int_equal(st.vote, 0);
    assert_int_equal(st.commit_index, 37);
    struct raft_update up;
    rt_tick(r, 0, &up);
    assert_true(up.has_hard_state);
    assert_int_equal(up.hard_state.term, 6);
    raft_destroy(r);
}

/* The durable log can still hold a tail the snapshot superseded (the
 * truncation was not durable when the snapshot was): on restart that tail
 * is dropped and the first update asks the host to delete it. */
static void restore_drops_durable_tail_older_than_snapshot(void **state)
{
    (void)state;
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.hard_state.term = 16;
    rs.snapshot.last_index = 258;
    rs.snapshot.last_term = 16;
    conf3(&rs.snapshot.conf);
    struct raft_entry stale[3] = {ent(259, 15), ent(260, 15), ent(261, 15)};
    rs.entries = stale;
    rs.n_entries = 3;
    struct raft *r;
    assert_int_equal(raft_create(&cfg, &rs, &r), 0);
    struct raft_status st;
    raft_status_get(r, &st);
    assert_int_equal(st.last_index, 258);
    struct raft_update up;
    rt_tick(r, 0, &up);
    assert_int_equal(up.truncate_from, 259);
    rt_tick(r, 1, &up);
    assert_int_equal(up.truncate_from, 0); /* asked once */
    raft_destroy(r);
    /* A term that goes back inside the tail is corruption, not staleness. */
    struct raft_entry bad[2] = {ent(259, 16), ent(260, 15)};
    rs.entries = bad;
    rs.n_entries = 2;
    assert_int_equal(raft_create(&cfg, &rs, &r), CAIRN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_compacts_log_keeping_trailing_window),
        cmocka_unit_test(install_snapshot_resumes_at_receiver_offset),
        cmocka_unit_test(snapshot_with_matching_last_entry_keeps_following_log),
        cmocka_unit_test(malformed_snapshot_chunks_are_refused),
        cmocka_unit_test(slow_follower_catches_up_through_chunked_snapshot),
        cmocka_unit_test(restart_from_snapshot_and_log_recovers_state),
        cmocka_unit_test(restore_adopts_term_of_snapshot_newer_than_hard_state),
        cmocka_unit_test(snapshot_already_committed_acked_only_when_durable),
        cmocka_unit_test(restore_drops_durable_tail_older_than_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
