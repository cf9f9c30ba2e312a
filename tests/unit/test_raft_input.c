/* test_raft_input.c: bad input from outside is an error, never a crash.
 * Random and boundary-valued messages (any type, term, index, hint, entry
 * list, snapshot chunk, configuration bytes) are stepped into a leader and
 * a follower; every step must return 0 or a CAIRN_E* code and leave the
 * instance consistent (raft_invariants). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/rng.h"
#include "raft_harness.h"
#include "testlib.h"

static uint64_t pick(struct cairn_rng *rng, uint64_t near)
{
    static const uint64_t edge[] = {0, 1, 2, 3, UINT64_MAX, UINT64_MAX - 1,
                                    RAFT_INDEX_MAX, RAFT_INDEX_MAX + 1};
    switch (cairn_rng_below(rng, 4)) {
    case 0:
        return edge[cairn_rng_below(rng, ARRAY_LEN(edge))];
    case 1:
        return near + cairn_rng_below(rng, 3);
    case 2:
        return near > 2 ? near - cairn_rng_below(rng, 3) : near;
    default:
        return cairn_rng_below(rng, 64);
    }
}

/* Terms mostly near the current one (so messages are not all stale), now
 * and then an edge value. */
static uint64_t pick_term(struct cairn_rng *rng, uint64_t cur)
{
    if (cairn_rng_below(rng, 5000) == 0)
        return pick(rng, cur);
    return cur + 1 > cairn_rng_below(rng, 3) ? cur + 1 - cairn_rng_below(rng, 3)
                                             : cur;
}

struct hostile {
    struct raft_msg m;
    struct raft_entry e[4];
    uint8_t data[64];
};

static void random_entries(struct cairn_rng *rng, struct hostile *h,
                           uint64_t term, uint64_t last)
{
    uint32_t n = (uint32_t)cairn_rng_below(rng, 5);
    uint64_t prev = pick(rng, last);
    h->m.append.prev_index = prev;
    h->m.append.prev_term = pick(rng, term);
    h->m.append.commit_index = pick(rng, last);
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry *e = &h->e[i];
        e->index = cairn_rng_below(rng, 8) ? prev + 1 + i : pick(rng, last);
        e->term = pick(rng, term);
        e->type = (uint8_t)cairn_rng_below(rng, 5);
        e->len = (uint32_t)cairn_rng_below(rng, 40);
        e->data = cairn_rng_below(rng, 10) ? h->data : NULL;
    }
    h->m.append.n_entries = n;
    h->m.append.entries = cairn_rng_below(rng, 10) ? h->e : NULL;
}

static void random_msg(struct cairn_rng *rng, struct hostile *h,
                       const struct raft_status *st)
{
    memset(&h->m, 0, sizeof(h->m));
    for (size_t i = 0; i < sizeof(h->data); i++)
        h->data[i] = (uint8_t)cairn_rng_next(rng);
    if (cairn_rng_below(rng, 3) == 0) { /* a plausible configuration */
        h->data[0] = (uint8_t)cairn_rng_below(rng, 4);
        h->data[1] = h->data[2] = h->data[3] = 0;
    }
    h->m.type = (uint8_t)cairn_rng_below(rng, RAFT_MSG_TYPE_MAX + 3);
    h->m.group_id = cairn_rng_below(rng, 20) ? 77 : 78;
    h->m.from = cairn_rng_below(rng, 6);
    h->m.to = cairn_rng_below(rng, 20) ? st->id : 9;
    h->m.term = pick_term(rng, st->term);
    uint64_t last = st->last_index;
    switch (h->m.type) {
    case RAFT_MSG_APPEND:
        random_entries(rng, h, st->term, last);
        break;
    case RAFT_MSG_APPEND_RESP:
        h->m.append_resp.success = cairn_rng_below(rng, 2);
        h->m.append_resp.match_index = pick(rng, last);
        h->m.append_resp.reject_index = pick(rng, last);
        h->m.append_resp.hint_term = pick(rng, st->term);
        h->m.append_resp.hint_index = pick(rng, last);
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        h->m.vote.last_log_index = pick(rng, last);
        h->m.vote.last_log_term = pick(rng, st->term);
        h->m.vote.transfer = cairn_rng_below(rng, 2);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        h->m.vote_resp.granted = cairn_rng_below(rng, 2);
        break;
    case RAFT_MSG_SNAPSHOT: {
        struct raft_msg_snapshot *s = &h->m.snapshot;
        s->meta.last_index = pick(rng, last);
        s->meta.last_term = pick(rng, st->term);
        s->meta.conf = st->conf;
        if (cairn_rng_below(rng, 5) == 0)
            s->meta.conf.members[0].id = pick(rng, 1);
        s->meta.size = cairn_rng_below(rng, 2) ? pick(rng, 64) : 64;
        s->offset = pick(rng, 0);
        s->len = (uint32_t)cairn_rng_below(rng, 65);
        s->data = cairn_rng_below(rng, 10) ? h->data : NULL;
        s->done = cairn_rng_below(rng, 2);
        break;
    }
    case RAFT_MSG_SNAPSHOT_RESP:
        h->m.snapshot_resp.last_index = pick(rng, last);
        h->m.snapshot_resp.next_offset = pick(rng, 0);
        h->m.snapshot_resp.installed = cairn_rng_below(rng, 2);
        h->m.snapshot_resp.rejected = cairn_rng_below(rng, 2);
        break;
    case RAFT_MSG_HEARTBEAT:
        h->m.heartbeat.commit_index = pick(rng, last);
        h->m.heartbeat.read_ctx = pick(rng, 0);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        h->m.heartbeat_resp.read_ctx = pick(rng, 0);
        break;
    case RAFT_MSG_READ_INDEX:
        h->m.read_index.request_id = pick(rng, 0);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        h->m.read_index_resp.request_id = pick(rng, 0);
        h->m.read_index_resp.index = pick(rng, last);
        h->m.read_index_resp.status = (int32_t)cairn_rng_below(rng, 40) - 20;
        break;
    default:
        break;
    }
}

static bool known_code(int rc)
{
    return rc == 0 || rc == CAIRN_EPROTO || rc == CAIRN_EINVAL ||
           rc == CAIRN_ENOMEM;
}

/* Steps n hostile messages into r, interleaved with ticks, persists and
 * client requests so the instance keeps changing role and state. */
static void pound(struct raft *r, struct cairn_rng *rng, int n)
{
    struct hostile h;
    struct raft_update up;
    uint64_t now = 1;
    for (int i = 0; i < n; i++) {
        struct raft_status st;
        raft_status_get(r, &st);
        random_msg(rng, &h, &st);
        int rc = rt_msg(r, now, &h.m, &up);
        if (!known_code(rc))
            fail_msg("message %d (%s): unexpected %s", i,
                     raft_msg_type_name(h.m.type), cairn_errname(rc));
        assert_true(raft_invariants(r));
        now += cairn_rng_below(rng, 30);
        if (cairn_rng_below(rng, 3) == 0)
            rt_persist_all(r, now, &up);
        if (cairn_rng_below(rng, 5) == 0)
            rt_tick(r, now, &up);
        if (cairn_rng_below(rng, 7) == 0) {
            struct raft_buf b = {.data = h.data, .len = 8};
            struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = now};
            ev.propose.bufs = &b;
            ev.propose.n = 1;
            (void)raft_step(r, &ev, &up);
        }
        assert_true(raft_invariants(r));
    }
}

static void hostile_messages_never_crash_a_follower_or_leader(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, test_seed(4242));
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    cfg.check_quorum = true;
    cfg.prevote = true;
    struct raft *f = rt_new(&cfg, 3, NULL, 0, 1);
    pound(f, &rng, 20000);
    raft_destroy(f);
    uint64_t now;
    cfg.prevote = false;
    struct raft *l = rt_leader(&cfg, 3, &now);
    pound(l, &rng, 20000);
    raft_destroy(l);
}

static void hostile_messages_with_failing_allocation(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, 99);
    struct raft_config cfg;
    rt_config(&cfg, 1, 1);
    uint64_t now;
    struct raft *l = rt_leader(&cfg, 3, &now);
    for (int round = 0; round < 50; round++) {
        test_alloc_fail_after((long)cairn_rng_below(&rng, 6));
        pound(l, &rng, 40);
        test_alloc_reset();
    }
    raft_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostile_messages_never_crash_a_follower_or_leader),
        cmocka_unit_test(hostile_messages_with_failing_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
