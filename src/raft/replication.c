/*
 * replication.c: AppendEntries, heartbeats, commitment and proposals.
 *
 * Rules kept here (paper Figure 2, §5.3, §5.4.2, §8):
 *   - a follower accepts entries only after the consistency check on
 *     (prev_index, prev_term); a conflicting entry and everything after it
 *     is deleted; its commit index advances to min(leader commit, index of
 *     the last NEW entry), never past what this message verified;
 *   - the leader's log is append-only; it pipelines appends to a follower
 *     in REPLICATE within the in-flight window (messages and bytes), probes
 *     one at a time in PROBE, and on a rejection backs off a whole term at
 *     once using the follower's (hint_term, hint_index);
 *   - the leader commits N only if a quorum of voters holds N durably and
 *     the entry at N has the leader's current term (§5.4.2); earlier
 *     entries are then committed indirectly;
 *   - proposals are batched: one event appends many entries and they leave
 *     in as few AppendEntries as the window and append_bytes_max allow.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "raft/raft_int.h"

int raft_leader_append(struct raft *r, uint8_t type, const void *data,
                       uint32_t len)
{
    ASSERT(r->role == RAFT_LEADER);
    struct raft_entry e = {
        .term = r->term,
        .index = raft_log_last_index(&r->log) + 1,
        .type = type,
        .len = len,
        .data = len > 0 ? data : NULL,
    };
    int rc = raft_log_append(&r->log, &e);
    if (rc != 0)
        return rc;
    raft_note_new_entries(r, e.index);
    return raft_conf_on_append(r, raft_log_get(&r->log, e.index));
}

/* Builds one AppendEntries to pr starting at pr->next; returns the number
 * of entries it carries (entry pointers are resolved when the update is
 * assembled, because the log array may move during the step). */
static uint32_t append_one(struct raft *r, struct raft_progress *pr,
                           uint64_t *bytes_out)
{
    uint64_t prev = pr->next - 1;
    uint64_t last = raft_log_last_index(&r->log);
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (uint64_t i = pr->next; i <= last && n < RAFT_APPEND_ENTRIES_MAX; i++) {
        uint32_t len = raft_log_get(&r->log, i)->len;
        if (n > 0 && bytes + len > r->cfg.append_bytes_max)
            break;
        bytes += len;
        n++;
    }
    struct raft_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = RAFT_MSG_APPEND;
    msg.to = pr->id;
    msg.append.prev_index = prev;
    msg.append.prev_term = raft_log_term(&r->log, prev);
    msg.append.commit_index = r->commit;
    msg.append.n_entries = n;
    raft_send(r, &msg);
    *bytes_out = bytes;
    return n;
}

void raft_send_append(struct raft *r, struct raft_progress *pr, bool empty_ok)
{
    if (r->role != RAFT_LEADER || pr->id == r->cfg.id || !raft_hs_durable(r))
        return;
    if (pr->state == RAFT_PROGRESS_SNAPSHOT) {
        raft_send_snapshot_chunk(r, pr);
        return;
    }
    if (pr->next - 1 < r->log.offset) {
        /* The entries it needs are compacted: §7, send the snapshot. */
        raft_progress_become_snapshot(pr, r->snap.last_index);
        raft_send_snapshot_chunk(r, pr);
        return;
    }
    uint64_t last = raft_log_last_index(&r->log);
    uint64_t bytes;
    if (pr->state == RAFT_PROGRESS_PROBE) {
        if (pr->probe_sent)
            return;
        (void)append_one(r, pr, &bytes);
        pr->probe_sent = true;
        return;
    }
    if (pr->next > last) {
        if (empty_ok) /* carries only the new commit index */
            (void)append_one(r, pr, &bytes);
        return;
    }
    /* REPLICATE: pipeline while the window has room (bounded by it). */
    while (pr->next <= last && !raft_progress_window_full(r, pr)) {
        uint32_t n = append_one(r, pr, &bytes);
        ASSERT(n > 0);
        raft_progress_infl_add(pr, pr->next + n - 1, bytes);
        pr->next += n;
    }
}

void raft_broadcast_append(struct raft *r)
{
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++)
        if (r->prs[i].used)
            raft_send_append(r, &r->prs[i], false);
}

/* Per-follower upkeep on each heartbeat: re-probe, and fall back to PROBE
 * when a pipeline got no append reply for a minimum election timeout (a
 * lost append would otherwise stall it until the next proposal).  The
 * timeout is much longer than a round trip, so a slow link is not mistaken
 * for a lost message (which would resend the window again and again). */
static void heartbeat_upkeep(struct raft *r, struct raft_progress *pr)
{
    switch (pr->state) {
    case RAFT_PROGRESS_PROBE:
        pr->probe_sent = false;
        break;
    case RAFT_PROGRESS_REPLICATE:
        if (pr->infl_count > 0 &&
            r->now >= pr->last_ack_ms + r->cfg.election_timeout_ms_min)
            raft_progress_become_probe(pr);
        break;
    case RAFT_PROGRESS_SNAPSHOT:
        if (r->now >= pr->snap_sent_ms + r->cfg.heartbeat_interval_ms)
            raft_send_snapshot_chunk(r, pr);
        return;
    default:
        UNREACHABLE();
    }
    if (pr->match < raft_log_last_index(&r->log))
        raft_send_append(r, pr, false);
}

void raft_broadcast_heartbeat(struct raft *r)
{
    ASSERT(r->role == RAFT_LEADER);
    if (!raft_hs_durable(r))
        return;
    r->hb_ctx++;
    struct raft_hb_sent *slot = &r->hb_ring[r->hb_ctx % RAFT_HB_RING];
    slot->ctx = r->hb_ctx;
    slot->sent_ms = r->now;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct raft_progress *pr = &r->prs[i];
        if (!pr->used || pr->id == r->cfg.id)
            continue;
        struct raft_msg msg;
        memset(&msg, 0, sizeof(msg));
        msg.type = RAFT_MSG_HEARTBEAT;
        msg.to = pr->id;
        /* Never tell a follower to commit past what it is known to match:
         * its tail beyond may still conflict with ours. */
        msg.heartbeat.commit_index = CAIRN_MIN(r->commit, pr->match);
        msg.heartbeat.read_ctx = r->hb_ctx;
        raft_send(r, &msg);
        heartbeat_upkeep(r, pr);
    }
}

static void check_quorum(struct raft *r)
{
    uint32_t active = 0;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct raft_progress *pr = &r->prs[i];
        if (!pr->used || !pr->voter)
            continue;
        if (pr->id == r->cfg.id || pr->recent_active)
            active++;
        pr->recent_active = false;
    }
    if (active < raft_voter_count(&r->conf) / 2 + 1) {
        /* CheckQuorum: without a quorum for a whole election timeout this
         * leader may be deposed already; stop serving. */
        raft_become_follower(r, r->term, 0);
    }
}

void raft_leader_tick(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    if (r->transfer_target != 0 && r->now >= r->transfer_deadline)
        raft_transfer_abort(r); /* thesis §3.10: give up, serve again */
    if (r->cfg.check_quorum && r->now >= r->cq_deadline) {
        r->cq_deadline = r->now + r->cfg.election_timeout_ms_min;
        check_quorum(r);
        if (r->role != RAFT_LEADER)
            return;
    }
    if (r->now >= r->heartbeat_deadline) {
        r->heartbeat_deadline = r->now + r->cfg.heartbeat_interval_ms;
        /* Waiting reads ride on this heartbeat if they may start a round. */
        uint64_t before = r->hb_ctx;
        raft_read_kick(r);
        if (r->hb_ctx == before)
            raft_broadcast_heartbeat(r);
        raft_read_advance(r);
    }
}

void raft_maybe_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    uint64_t n = raft_quorum_match(r);
    if (n <= r->commit)
        return;
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 1
    /* MUTANT 1: commit an earlier term's entry by counting replicas (the
     * Figure 8 bug). */
#else
    /* §5.4.2: only entries of the current term are committed by counting
     * replicas. */
    if (raft_log_term(&r->log, n) != r->term)
        return;
#endif
    ASSERT(n <= raft_log_last_index(&r->log));
    r->commit = n;
    raft_on_commit_advanced(r);
}

void raft_on_commit_advanced(struct raft *r)
{
    raft_conf_check_removed(r);
    if (r->role != RAFT_LEADER)
        return;
    raft_read_kick(r);
    raft_read_advance(r);
    /* Tell up-to-date followers the new commit index now rather than at
     * the next heartbeat. */
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct raft_progress *pr = &r->prs[i];
        if (pr->used && pr->state == RAFT_PROGRESS_REPLICATE)
            raft_send_append(r, pr, true);
    }
}

int raft_propose(struct raft *r, const struct raft_buf *bufs, uint32_t n)
{
    if (r->role != RAFT_LEADER)
        return CAIRN_ENOTLEADER;
    if (r->transfer_target != 0)
        return CAIRN_ETRANSFER;
    if (n == 0 || bufs == NULL)
        return CAIRN_EINVAL;
    if (n > RAFT_PROPOSE_BATCH_MAX)
        return CAIRN_ETOOBIG;
    for (uint32_t i = 0; i < n; i++) {
        if (bufs[i].len > r->cfg.entry_size_max)
            return CAIRN_ETOOBIG;
        if (bufs[i].len > 0 && bufs[i].data == NULL)
            return CAIRN_EINVAL;
    }
    int rc = 0;
    r->out_proposed_first = raft_log_last_index(&r->log) + 1;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = raft_leader_append(r, RAFT_ENTRY_NORMAL, bufs[i].data,
                                bufs[i].len);
        if (rc == 0)
            r->out_proposed_count++;
    }
    raft_broadcast_append(r);
    raft_maybe_commit(r);
    return rc;
}

/* ---- follower side ---- */

/* Accepts the sender as the leader of m->term (already adopted by the
 * dispatcher): resets the election timer and remembers the contact. */
static void follow(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_FOLLOWER || r->leader_id != m->from)
        raft_become_follower(r, r->term, m->from);
    r->last_leader_contact = r->now;
    raft_election_reset_timer(r);
}

static void reply_append(struct raft *r, const struct raft_msg *m,
                         bool success, uint64_t match)
{
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.append_resp.success = success;
    resp.append_resp.last_index = raft_log_last_index(&r->log);
    if (success) {
        resp.append_resp.match_index = match;
        /* Acknowledge only what is durable here (durability contract). */
        raft_send_held(r, &resp, match);
        return;
    }
    uint64_t prev = m->append.prev_index;
    resp.append_resp.reject_index = prev;
    uint64_t last = raft_log_last_index(&r->log);
    if (prev > last) {
        resp.append_resp.hint_term = 0;
        resp.append_resp.hint_index = last + 1;
    } else {
        /* Fast back-off: the conflicting term and where it starts here. */
        uint64_t t = raft_log_term(&r->log, prev);
        uint64_t i = prev;
        while (i > r->log.offset && raft_log_term(&r->log, i - 1) == t)
            i--;
        resp.append_resp.hint_term = t;
        resp.append_resp.hint_index = i;
    }
    raft_send(r, &resp);
}

/* Checks the entries of an AppendEntries from a peer. */
static int append_validate(const struct raft *r, const struct raft_msg *m)
{
    const struct raft_msg_append *a = &m->append;
    if (a->n_entries > 0 && a->entries == NULL)
        return CAIRN_EPROTO;
    if (a->n_entries > RAFT_APPEND_ENTRIES_MAX)
        return CAIRN_EPROTO;
    if (a->prev_index > RAFT_INDEX_MAX || a->commit_index > RAFT_INDEX_MAX)
        return CAIRN_EPROTO;
    uint64_t prev_term = a->prev_term;
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *e = &a->entries[i];
        if (e->index != a->prev_index + 1 + i)
            return CAIRN_EPROTO;
        if (e->term < prev_term || e->term > m->term)
            return CAIRN_EPROTO;
        if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
            return CAIRN_EPROTO;
        if (e->len > 0 && e->data == NULL)
            return CAIRN_EPROTO;
        struct raft_conf c;
        if (e->type == RAFT_ENTRY_CONFIG &&
            raft_conf_decode(e->data, e->len, &c) != 0)
            return CAIRN_EPROTO;
        prev_term = e->term;
    }
    (void)r;
    return 0;
}

/* Stores entry e at its index, deleting a conflicting tail first (§5.3
 * step 3).  Returns 0, CAIRN_EPROTO (conflict inside the committed
 * prefix: a broken peer) or CAIRN_ENOMEM. */
static int store_entry(struct raft *r, const struct raft_entry *e)
{
    uint64_t last = raft_log_last_index(&r->log);
    if (e->index <= last) {
        if (raft_log_term(&r->log, e->index) == e->term)
            return 0; /* already have it (Log Matching) */
        if (e->index <= r->commit)
            return CAIRN_EPROTO;
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 6
        /* MUTANT 6: overwrite in place and keep the conflicting tail. */
        int mrc = raft_log_replace(&r->log, e);
        if (mrc == 0) {
            raft_note_new_entries(r, e->index);
            r->persisted_index = CAIRN_MIN(r->persisted_index, e->index - 1);
            raft_conf_on_truncate(r, e->index);
        }
        return mrc;
#else
        raft_log_truncate(&r->log, e->index);
        raft_note_truncate(r, e->index);
        r->persisted_index = CAIRN_MIN(r->persisted_index, e->index - 1);
        raft_conf_on_truncate(r, e->index);
#endif
    }
    int rc = raft_log_append(&r->log, e);
    if (rc != 0)
        return rc;
    raft_note_new_entries(r, e->index);
    return raft_conf_on_append(r, raft_log_get(&r->log, e->index));
}

int raft_recv_append(struct raft *r, const struct raft_msg *m)
{
    int rc = append_validate(r, m);
    if (rc != 0)
        return rc;
    if (m->term == r->term)
        follow(r, m);
    const struct raft_msg_append *a = &m->append;
    uint64_t prev = a->prev_index;
    uint64_t prev_term = a->prev_term;
    uint32_t skip = 0;
    if (prev < r->commit) {
        /* The committed prefix matches every leader's log: start the
         * check at our commit index instead (it may be compacted). */
        uint64_t gap = r->commit - prev;
        skip = gap > a->n_entries ? a->n_entries : (uint32_t)gap;
        prev += skip;
        prev_term = skip > 0 ? a->entries[skip - 1].term : prev_term;
        if (prev < r->commit) { /* nothing new in it */
            reply_append(r, m, true, a->prev_index + a->n_entries);
            return 0;
        }
    }
    if (prev > raft_log_last_index(&r->log) ||
        raft_log_term(&r->log, prev) != prev_term) {
        reply_append(r, m, false, 0);
        return 0;
    }
    for (uint32_t i = skip; i < a->n_entries; i++) {
        rc = store_entry(r, &a->entries[i]);
        if (rc != 0)
            return rc;
    }
    uint64_t last_new = a->prev_index + a->n_entries;
    ASSERT(last_new <= raft_log_last_index(&r->log));
    /* Figure 2: commit = min(leaderCommit, index of last new entry). */
    uint64_t c = CAIRN_MIN(a->commit_index, last_new);
    if (c > r->commit)
        r->commit = c;
    reply_append(r, m, true, last_new);
    return 0;
}

int raft_recv_heartbeat(struct raft *r, const struct raft_msg *m)
{
    if (m->term != r->term)
        return 0;
    follow(r, m);
    uint64_t c = CAIRN_MIN(m->heartbeat.commit_index,
                           raft_log_last_index(&r->log));
    if (c > r->commit)
        r->commit = c;
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_HEARTBEAT_RESP;
    resp.to = m->from;
    resp.heartbeat_resp.read_ctx = m->heartbeat.read_ctx;
    raft_send(r, &resp);
    return 0;
}

/* ---- leader side ---- */

/* Where to probe next after a rejection, from the follower's hint. */
static uint64_t backoff_next(const struct raft *r,
                             const struct raft_msg_append_resp *ar)
{
    if (ar->hint_term == 0)
        return ar->hint_index;
    uint64_t i = CAIRN_MIN(ar->reject_index, raft_log_last_index(&r->log));
    while (i > r->log.offset && raft_log_term(&r->log, i) > ar->hint_term)
        i--;
    if (raft_log_term(&r->log, i) == ar->hint_term)
        return i + 1; /* we have that term: resume after our last of it */
    return ar->hint_index; /* we never had it: skip the follower's run */
}

static void append_rejected(struct raft *r, struct raft_progress *pr,
                            const struct raft_msg_append_resp *ar)
{
    if (pr->state == RAFT_PROGRESS_SNAPSHOT)
        return;
    if (ar->reject_index <= pr->match)
        return; /* stale: we already know it matches there */
    if (pr->state == RAFT_PROGRESS_PROBE && ar->reject_index != pr->next - 1)
        return; /* answer to an older probe */
    uint64_t next = backoff_next(r, ar);
    next = CAIRN_MIN(next, ar->reject_index);
    /* A confused or hostile peer must not move next outside our log. */
    next = CAIRN_MIN(next, raft_log_last_index(&r->log) + 1);
    next = CAIRN_MAX(next, pr->match + 1);
    raft_progress_become_probe(pr);
    pr->next = next;
    raft_send_append(r, pr, false);
}

int raft_recv_append_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || m->term != r->term)
        return 0;
    struct raft_progress *pr = raft_progress_find(r, m->from);
    if (pr == NULL)
        return 0;
    const struct raft_msg_append_resp *ar = &m->append_resp;
    pr->recent_active = true;
    pr->last_ack_ms = r->now;
    if (!ar->success) {
        append_rejected(r, pr, ar);
        return 0;
    }
    if (ar->match_index > raft_log_last_index(&r->log))
        return CAIRN_EPROTO;
    if (ar->match_index > pr->match)
        pr->match = ar->match_index;
    raft_progress_infl_free_to(pr, pr->match);
    if (pr->state == RAFT_PROGRESS_SNAPSHOT && pr->match >= r->log.offset)
        raft_progress_become_probe(pr); /* the log can serve it again */
    if (pr->state == RAFT_PROGRESS_PROBE)
        raft_progress_become_replicate(pr);
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    raft_maybe_commit(r);
    if (r->role != RAFT_LEADER)
        return 0;
    raft_transfer_check(r, pr);
    raft_send_append(r, pr, false);
    return 0;
}

int raft_recv_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || m->term != r->term)
        return 0;
    struct raft_progress *pr = raft_progress_find(r, m->from);
    if (pr == NULL)
        return 0;
    pr->recent_active = true;
    if (m->heartbeat_resp.read_ctx <= r->hb_ctx &&
        m->heartbeat_resp.read_ctx > pr->hb_acked_ctx)
        pr->hb_acked_ctx = m->heartbeat_resp.read_ctx;
    raft_read_advance(r);
    if (pr->state == RAFT_PROGRESS_PROBE &&
        pr->match < raft_log_last_index(&r->log))
        raft_send_append(r, pr, false);
    return 0;
}
