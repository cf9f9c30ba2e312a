/*
 * read.c: linearizable reads without writing to the log.
 *
 * Three paths (thesis §6.4), each answered with (request id, read index);
 * the host serves the read once its applied index reaches the read index:
 *
 *   ReadIndex (leader): the read index is the commit index, taken only after
 *     this leader committed the no-op of its term (before that its commit
 *     index may be behind what earlier leaders committed).  Leadership is
 *     then confirmed by one heartbeat round acknowledged by a quorum of
 *     voters and sent after the read arrived.  One round is in flight at a
 *     time; reads arriving meanwhile share the next round (batching).
 *   Lease (leader, RAFT_READ_LEASE): with check_quorum on, followers ignore
 *     vote requests for election_timeout_ms_min after hearing from the
 *     leader, so no other leader can exist until that long after the last
 *     heartbeat round a quorum acknowledged.  The leader serves at once
 *     until sent_time + election_timeout_ms_min * (100 - drift) / 100, where
 *     drift (lease_clock_drift_pct) bounds the rate difference between any
 *     two clocks.  Never after sending TimeoutNow in this term (the target's
 *     voters bypass the lease), never during a transfer.  Otherwise it falls
 *     back to ReadIndex.
 *   Follower read: the follower forwards the request to the leader
 *     (RAFT_MSG_READ_INDEX), which runs ReadIndex and replies with the
 *     index; the follower serves once it has applied that far.  A request
 *     not answered within an election timeout fails with CAIRN_EAGAIN.
 *
 * Invariants: pending reads <= RAFT_READS_PENDING_MAX; a read with ctx != 0
 * has index >= the no-op of the leader's term.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "raft/raft_int.h"

static int queue_push(struct raft *r, const struct raft_pending_read *pr)
{
    struct raft_read_queue *q = &r->reads;
    if (q->n >= RAFT_READS_PENDING_MAX)
        return CAIRN_EFULL;
    if (q->n == q->cap) {
        size_t cap = q->cap == 0 ? 16 : q->cap * 2;
        void *p = cairn_realloc(q->items, cap * sizeof(*q->items));
        if (p == NULL)
            return CAIRN_ENOMEM;
        q->items = p;
        q->cap = cap;
    }
    q->items[q->n++] = *pr;
    return 0;
}

void raft_read_free(struct raft *r)
{
    cairn_free(r->reads.items);
    memset(&r->reads, 0, sizeof(r->reads));
}

static bool noop_committed(const struct raft *r)
{
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 3
    /* MUTANT 3: serve reads before this term's no-op commits. */
    (void)r;
    return true;
#else
    return r->noop_index != 0 && r->commit >= r->noop_index;
#endif
}

bool raft_lease_valid(const struct raft *r)
{
    if (r->role != RAFT_LEADER || !r->cfg.lease_reads)
        return false;
#if !(defined(CAIRN_MUTANT) && CAIRN_MUTANT == 5)
    /* The lease rests on followers' stickiness, which check_quorum
     * provides; MUTANT 5 drops this requirement. */
    if (!r->cfg.check_quorum)
        return false;
#endif
    if (!noop_committed(r) || r->lease_revoked || r->transfer_target != 0)
        return false;
    uint64_t q = raft_quorum_hb_ctx(r);
    const struct raft_hb_sent *s = &r->hb_ring[q % RAFT_HB_RING];
    if (q == 0 || s->ctx != q)
        return false;
    uint64_t lease = (uint64_t)r->cfg.election_timeout_ms_min *
                     (100 - r->cfg.lease_clock_drift_pct) / 100;
    return r->now < s->sent_ms + lease;
}

/* Answers one leader-side read (local or forwarded). */
static void answer(struct raft *r, const struct raft_pending_read *p,
                   uint64_t index, int status)
{
    if (p->from == 0) {
        raft_read_report(r, p->request_id, index, status);
        return;
    }
    struct raft_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = RAFT_MSG_READ_INDEX_RESP;
    msg.to = p->from;
    msg.read_index_resp.request_id = p->request_id;
    msg.read_index_resp.index = index;
    msg.read_index_resp.status = status;
    raft_send(r, &msg);
}

static int leader_read(struct raft *r, uint64_t id, uint64_t from,
                       uint8_t mode)
{
    struct raft_pending_read p = {.request_id = id, .from = from};
    if (mode == RAFT_READ_LEASE && raft_lease_valid(r)) {
        answer(r, &p, r->commit, 0);
        return 0;
    }
    int rc = queue_push(r, &p);
    if (rc != 0)
        return rc;
    raft_read_kick(r);
    raft_read_advance(r);
    return 0;
}

void raft_read_kick(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->read_round_ctx != 0)
        return;
    if (!noop_committed(r))
        return; /* §6.4 step 1: wait for the no-op of this term */
    bool waiting = false;
    for (size_t i = 0; i < r->reads.n && !waiting; i++)
        waiting = r->reads.items[i].ctx == 0;
    if (!waiting)
        return;
    /* The heartbeat below takes the next context; everything waiting now
     * arrived before it is sent, so one round confirms them all. */
    uint64_t ctx = r->hb_ctx + 1;
    for (size_t i = 0; i < r->reads.n; i++) {
        struct raft_pending_read *p = &r->reads.items[i];
        if (p->ctx == 0) {
            p->ctx = ctx;
            p->index = r->commit;
        }
    }
    r->read_round_ctx = ctx;
    raft_broadcast_heartbeat(r);
}

void raft_read_advance(struct raft *r)
{
    /* Two passes: a round completed here may let waiting reads start the
     * next one, which a single-voter group confirms at once. */
    for (int pass = 0; pass < 2; pass++) {
        if (r->role != RAFT_LEADER || r->read_round_ctx == 0)
            return;
        uint64_t q = raft_quorum_hb_ctx(r);
        if (q < r->read_round_ctx)
            return;
        size_t keep = 0;
        for (size_t i = 0; i < r->reads.n; i++) {
            struct raft_pending_read *p = &r->reads.items[i];
            if (p->ctx != 0 && p->ctx <= q)
                answer(r, p, p->index, 0);
            else
                r->reads.items[keep++] = *p;
        }
        r->reads.n = keep;
        r->read_round_ctx = 0;
        raft_read_kick(r);
    }
}

void raft_read_fail_all(struct raft *r, int status)
{
    for (size_t i = 0; i < r->reads.n; i++) {
        const struct raft_pending_read *p = &r->reads.items[i];
        if (r->role == RAFT_LEADER)
            answer(r, p, 0, status);
        else
            raft_read_report(r, p->request_id, 0, status);
    }
    r->reads.n = 0;
    r->read_round_ctx = 0;
}

int raft_read_request(struct raft *r, uint64_t request_id, uint8_t mode)
{
    if (mode != RAFT_READ_INDEX && mode != RAFT_READ_LEASE)
        return CAIRN_EINVAL;
    if (r->role == RAFT_LEADER)
        return leader_read(r, request_id, 0, mode);
    if (r->leader_id == 0)
        return CAIRN_ENOTLEADER;
    struct raft_pending_read p = {
        .request_id = request_id,
        .deadline_ms = r->now + r->cfg.election_timeout_ms_min,
    };
    int rc = queue_push(r, &p);
    if (rc != 0)
        return rc;
    struct raft_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = RAFT_MSG_READ_INDEX;
    msg.to = r->leader_id;
    msg.read_index.request_id = request_id;
    raft_send(r, &msg);
    return 0;
}

int raft_recv_read_index(struct raft *r, const struct raft_msg *m)
{
    struct raft_pending_read p = {.request_id = m->read_index.request_id,
                                  .from = m->from};
    if (r->role != RAFT_LEADER) {
        answer(r, &p, 0, CAIRN_ENOTLEADER);
        return 0;
    }
    int rc = leader_read(r, p.request_id, m->from, RAFT_READ_INDEX);
    if (rc != 0)
        answer(r, &p, 0, rc);
    return 0;
}

int raft_recv_read_index_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role == RAFT_LEADER)
        return 0;
    const struct raft_msg_read_index_resp *rr = &m->read_index_resp;
    for (size_t i = 0; i < r->reads.n; i++) {
        if (r->reads.items[i].request_id != rr->request_id)
            continue;
        raft_read_report(r, rr->request_id, rr->index,
                         rr->status > 0 ? CAIRN_EPROTO : rr->status);
        r->reads.items[i] = r->reads.items[--r->reads.n];
        return 0;
    }
    return 0; /* unknown or already timed out */
}

void raft_read_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER)
        return;
    size_t keep = 0;
    for (size_t i = 0; i < r->reads.n; i++) {
        struct raft_pending_read *p = &r->reads.items[i];
        if (r->now >= p->deadline_ms)
            raft_read_report(r, p->request_id, 0, CAIRN_EAGAIN);
        else
            r->reads.items[keep++] = *p;
    }
    r->reads.n = keep;
}

uint64_t raft_read_deadline(const struct raft *r)
{
    uint64_t d = UINT64_MAX;
    if (r->role == RAFT_LEADER)
        return d;
    for (size_t i = 0; i < r->reads.n; i++)
        d = CAIRN_MIN(d, r->reads.items[i].deadline_ms);
    return d;
}
