/*
 * raft.c: the instance, the step dispatcher, the durability gate and the
 * assembly of updates.
 *
 * raft_step() takes one event, routes it to the file that owns the concern,
 * then assembles the update: new log entries (resolved to pointers only at
 * the end, because the log array may move during a step), the hard state if
 * it changed, the messages, the committed entries and the read answers.
 *
 * The durability gate: every message leaves only when the hard state
 * (term, vote) it was produced under is durable; responses that acknowledge
 * log entries also wait until the log up to that index is durable (held
 * messages).  Messages carrying entries (the leader's appends) are produced
 * only once the leader's term is durable, so they never need holding.
 *
 * Invariants: checked by raft_invariants() after every step under
 * ASSERT_SLOW; listed with where each is enforced in docs/design/raft.md.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "raft/raft_int.h"

void raft_config_default(struct raft_config *cfg, uint64_t id,
                         uint64_t group_id, uint64_t seed)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = id;
    cfg->group_id = group_id;
    cfg->election_timeout_ms_min = 1000;
    cfg->election_timeout_ms_max = 2000;
    cfg->heartbeat_interval_ms = 100;
    cfg->prevote = true;
    cfg->check_quorum = true;
    cfg->lease_reads = true;
    cfg->lease_clock_drift_pct = 10;
    cfg->inflight_msgs_max = CAIRN_RAFT_INFLIGHT_MSGS_MAX;
    cfg->inflight_bytes_max = CAIRN_RAFT_INFLIGHT_BYTES_MAX;
    cfg->append_bytes_max = 1024 * 1024;
    cfg->entry_size_max = CAIRN_RAFT_ENTRY_SIZE_MAX;
    cfg->snapshot_trailing_entries = 1024;
    cfg->snapshot_chunk_size = 1024 * 1024;
    cfg->seed = seed;
}

static int config_validate(const struct raft_config *c)
{
    if (c->id == 0)
        return CAIRN_ECONFIG;
    if (c->election_timeout_ms_min == 0 ||
        c->election_timeout_ms_max < c->election_timeout_ms_min)
        return CAIRN_ECONFIG;
    if (c->heartbeat_interval_ms == 0 ||
        c->heartbeat_interval_ms >= c->election_timeout_ms_min)
        return CAIRN_ECONFIG;
    if (c->inflight_msgs_max == 0 ||
        c->inflight_msgs_max > CAIRN_RAFT_INFLIGHT_MSGS_MAX)
        return CAIRN_ECONFIG;
    if (c->inflight_bytes_max == 0 || c->append_bytes_max == 0)
        return CAIRN_ECONFIG;
    if (c->entry_size_max == 0 || c->entry_size_max > CAIRN_RAFT_ENTRY_SIZE_MAX)
        return CAIRN_ECONFIG;
    if (c->snapshot_chunk_size == 0 || c->lease_clock_drift_pct >= 100)
        return CAIRN_ECONFIG;
    return 0;
}

/* Checks the durable state; *n_keep is how many entries follow the
 * snapshot.  A tail whose first entry has a term below the snapshot's is
 * from a history the snapshot superseded (its truncation was not durable
 * when the snapshot was, e.g. across a crash): it is dropped, and the first
 * update asks the host to truncate it. */
static int restore_validate(const struct raft_restore *rs, size_t *n_keep)
{
    const struct raft_snapshot_meta *s = &rs->snapshot;
    if (!raft_conf_check(&s->conf))
        return CAIRN_EINVAL;
    if ((s->last_index == 0) != (s->last_term == 0))
        return CAIRN_EINVAL;
    if (rs->n_entries > 0 && rs->entries == NULL)
        return CAIRN_EINVAL;
    uint64_t term = s->last_term;
    *n_keep = rs->n_entries;
    for (size_t i = 0; i < rs->n_entries; i++) {
        const struct raft_entry *e = &rs->entries[i];
        struct raft_conf c;
        if (i == 0 && e->term < term) {
            *n_keep = 0;
            break;
        }
        if (e->index != s->last_index + 1 + i || e->term < term)
            return CAIRN_EINVAL;
        if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
            return CAIRN_EINVAL;
        if ((e->len > 0 && e->data == NULL) ||
            (e->type == RAFT_ENTRY_CONFIG &&
             raft_conf_decode(e->data, e->len, &c) != 0))
            return CAIRN_EINVAL;
        term = e->term;
    }
    return 0;
}

static int restore_log(struct raft *r, const struct raft_restore *rs,
                       size_t n_keep)
{
    const struct raft_snapshot_meta *s = &rs->snapshot;
    raft_log_init(&r->log, s->last_index, s->last_term);
    r->base_conf = s->conf;
    r->conf = s->conf;
    r->conf_index = s->last_index;
    if (n_keep < rs->n_entries)
        r->restore_truncate_from = s->last_index + 1 + n_keep;
    for (size_t i = 0; i < n_keep; i++) {
        int rc = raft_log_append(&r->log, &rs->entries[i]);
        if (rc != 0)
            return rc;
        (void)raft_conf_on_append(r, raft_log_get(&r->log, i + 1 + s->last_index));
    }
    uint64_t last = raft_log_last_index(&r->log);
    r->snap = *s;
    r->applied = s->last_index;
    r->commit = CAIRN_MAX(s->last_index,
                          CAIRN_MIN(rs->hard_state.commit_index, last));
    r->persisted_index = last;
    return 0;
}

int raft_create(const struct raft_config *cfg, const struct raft_restore *rs,
                struct raft **out)
{
    *out = NULL;
    int rc = config_validate(cfg);
    if (rc != 0)
        return rc;
    size_t n_keep;
    rc = restore_validate(rs, &n_keep);
    if (rc != 0)
        return rc;
    struct raft *r = cairn_calloc(1, sizeof(*r));
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->cfg = *cfg;
    r->infl_pool = cairn_calloc((size_t)RAFT_MEMBERS_MAX * cfg->inflight_msgs_max,
                                sizeof(*r->infl_pool));
    if (r->infl_pool == NULL)
        goto out_free_r;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        r->prs[i].infl = r->infl_pool + (size_t)i * cfg->inflight_msgs_max;
        r->prs[i].infl_cap = cfg->inflight_msgs_max;
    }
    /* Mix the id in so that servers given one seed still draw different
     * election timeouts. */
    cairn_rng_seed(&r->rng, cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ull));
    r->term = rs->hard_state.term;
    r->vote = rs->hard_state.vote;
    r->role = RAFT_FOLLOWER;
    r->prev_role = RAFT_FOLLOWER;
    if (restore_log(r, rs, n_keep) != 0)
        goto out_free_log;
    /* A snapshot of applied entries can be durable before the hard state
     * of their term (they are written on different paths).  Adopting that
     * term without a vote is safe: a vote in it would have been durable
     * before it was sent. */
    uint64_t last_term = raft_log_last_term(&r->log);
    if (last_term > r->term) {
        r->term = last_term;
        r->vote = 0;
    }
    r->hs_durable = rs->hard_state;
    r->hs_emitted = rs->hard_state;
    r->out_first_new = UINT64_MAX;
    *out = r;
    ASSERT_SLOW(raft_invariants(r));
    return 0;
out_free_log:
    raft_log_free(&r->log);
    cairn_free(r->infl_pool);
out_free_r:
    cairn_free(r);
    return CAIRN_ENOMEM;
}

void raft_destroy(struct raft *r)
{
    if (r == NULL)
        return;
    raft_log_free(&r->log);
    raft_read_free(r);
    cairn_free(r->infl_pool);
    cairn_free(r->chunk_buf);
    cairn_free(r->held);
    cairn_free(r->out_msgs);
    cairn_free(r->out_reads);
    cairn_free(r);
}

/* ---- output ---- */

bool raft_hs_durable(const struct raft *r)
{
    return r->hs_durable.term == r->term && r->hs_durable.vote == r->vote;
}

static void out_push(struct raft *r, const struct raft_msg *msg)
{
    if (r->n_out_msgs == r->out_msgs_cap) {
        size_t cap = r->out_msgs_cap == 0 ? 16 : r->out_msgs_cap * 2;
        void *p = NULL;
        if (cap <= RAFT_OUT_MSGS_MAX)
            p = cairn_realloc(r->out_msgs, cap * sizeof(*r->out_msgs));
        if (p == NULL) {
            r->dropped_msgs++; /* the peer retries; Raft tolerates loss */
            return;
        }
        r->out_msgs = p;
        r->out_msgs_cap = cap;
    }
    r->out_msgs[r->n_out_msgs++] = *msg;
}

void raft_send_held(struct raft *r, struct raft_msg *msg, uint64_t need_index)
{
    msg->group_id = r->cfg.group_id;
    msg->from = r->cfg.id;
    if (msg->term == 0)
        msg->term = r->term;
    ASSERT(msg->type != RAFT_MSG_APPEND || msg->append.n_entries == 0 ||
           need_index == 0);
    if (r->n_held == r->held_cap) {
        size_t cap = r->held_cap == 0 ? 16 : r->held_cap * 2;
        void *p = NULL;
        if (cap <= RAFT_HELD_MSGS_MAX)
            p = cairn_realloc(r->held, cap * sizeof(*r->held));
        if (p == NULL) {
            r->dropped_msgs++;
            return;
        }
        r->held = p;
        r->held_cap = cap;
    }
    struct raft_held_msg *h = &r->held[r->n_held++];
    h->msg = *msg;
    h->need_term = r->term;
    h->need_vote = r->vote;
    h->need_index = need_index;
    h->need_index_term = raft_log_term(&r->log, need_index);
}

void raft_send(struct raft *r, struct raft_msg *msg)
{
    msg->group_id = r->cfg.group_id;
    msg->from = r->cfg.id;
    if (msg->term == 0)
        msg->term = r->term;
    if (!raft_hs_durable(r)) {
        /* Appends with entries are built only under a durable term. */
        ASSERT(msg->type != RAFT_MSG_APPEND || msg->append.n_entries == 0);
        raft_send_held(r, msg, 0);
        return;
    }
    out_push(r, msg);
}

void raft_read_report(struct raft *r, uint64_t request_id, uint64_t index,
                      int status)
{
    if (r->n_out_reads == r->out_reads_cap) {
        size_t cap = r->out_reads_cap == 0 ? 16 : r->out_reads_cap * 2;
        void *p = cairn_realloc(r->out_reads, cap * sizeof(*r->out_reads));
        if (p == NULL) {
            /* Cannot report: the host's read times out on its side. */
            r->dropped_msgs++;
            return;
        }
        r->out_reads = p;
        r->out_reads_cap = cap;
    }
    struct raft_read_state *s = &r->out_reads[r->n_out_reads++];
    s->request_id = request_id;
    s->index = index;
    s->status = status;
}

void raft_note_new_entries(struct raft *r, uint64_t index)
{
    r->out_first_new = CAIRN_MIN(r->out_first_new, index);
}

void raft_note_truncate(struct raft *r, uint64_t from)
{
    if (r->out_truncate_from == 0 || from < r->out_truncate_from)
        r->out_truncate_from = from;
    if (r->out_first_new != UINT64_MAX && r->out_first_new >= from)
        r->out_first_new = UINT64_MAX;
}

/* Releases held messages whose durability requirement is now met, in the
 * order they were produced; drops those made stale by a term change or a
 * truncation. */
static void release_held(struct raft *r)
{
    size_t keep = 0;
    for (size_t i = 0; i < r->n_held; i++) {
        struct raft_held_msg *h = &r->held[i];
        if (h->need_term < r->term || (h->need_index != 0 &&
            raft_log_term(&r->log, h->need_index) != h->need_index_term))
            continue; /* stale */
        bool hs_ok = r->hs_durable.term > h->need_term ||
                     (r->hs_durable.term == h->need_term &&
                      (h->need_vote == 0 || r->hs_durable.vote == h->need_vote));
        bool log_ok = h->need_index == 0 || r->persisted_index >= h->need_index;
        if (hs_ok && log_ok)
            out_push(r, &h->msg);
        else
            r->held[keep++] = *h;
    }
    r->n_held = keep;
}

static void resolve_append_entries(struct raft *r)
{
    for (size_t i = 0; i < r->n_out_msgs; i++) {
        struct raft_msg *m = &r->out_msgs[i];
        if (m->type != RAFT_MSG_APPEND || m->append.n_entries == 0)
            continue;
        uint64_t first = m->append.prev_index + 1;
        const struct raft_entry *e = raft_log_get(&r->log, first);
        ASSERT(e != NULL);
        ASSERT(first + m->append.n_entries - 1 <= raft_log_last_index(&r->log));
        m->append.entries = e;
    }
}

static void finalize_log(struct raft *r, struct raft_update *up)
{
    if (r->out_chunk)
        up->snapshot_chunk = &r->out_chunk_v;
    if (r->out_install)
        up->snapshot_install = &r->snap;
    up->truncate_from = r->out_truncate_from;
    if (r->restore_truncate_from != 0) {
        /* Once: the stale durable tail found at restore goes. */
        if (up->truncate_from == 0 || r->restore_truncate_from < up->truncate_from)
            up->truncate_from = r->restore_truncate_from;
        r->restore_truncate_from = 0;
    }
    uint64_t last = raft_log_last_index(&r->log);
    if (r->out_first_new != UINT64_MAX && r->out_first_new <= last) {
        up->entries = raft_log_get(&r->log, r->out_first_new);
        up->n_entries = (size_t)(last - r->out_first_new + 1);
        ASSERT(up->entries != NULL);
    }
    struct raft_hard_state hs = {r->term, r->vote, r->commit};
    if (hs.term != r->hs_emitted.term || hs.vote != r->hs_emitted.vote ||
        hs.commit_index != r->hs_emitted.commit_index) {
        up->has_hard_state = true;
        up->hard_state = hs;
        r->hs_emitted = hs;
    }
    up->compact_index = r->out_compact;
}

static void finalize_apply(struct raft *r, struct raft_update *up)
{
    if (r->commit <= r->applied || r->out_install)
        return;
    uint64_t n = CAIRN_MIN(r->commit - r->applied, (uint64_t)RAFT_APPLY_BATCH_MAX);
    ASSERT(n > 0);
    ASSERT(r->applied + n <= raft_log_last_index(&r->log));
    ASSERT(r->applied + 1 > r->log.offset);
    up->committed = raft_log_get(&r->log, r->applied + 1);
    ASSERT(up->committed != NULL);
    up->n_committed = (size_t)n;
    r->applied += n;
}

static uint64_t next_deadline(const struct raft *r)
{
    if (r->shutdown)
        return UINT64_MAX;
    if (r->commit > r->applied)
        return r->now; /* more committed entries to hand out */
    uint64_t d;
    if (r->role == RAFT_LEADER) {
        d = r->heartbeat_deadline;
        if (r->cfg.check_quorum)
            d = CAIRN_MIN(d, r->cq_deadline);
        if (r->transfer_target != 0)
            d = CAIRN_MIN(d, r->transfer_deadline);
    } else {
        d = r->election_deadline;
    }
    return CAIRN_MIN(d, raft_read_deadline(r));
}

static void finalize(struct raft *r, struct raft_update *up)
{
    release_held(r);
    memset(up, 0, sizeof(*up));
    up->role = r->role;
    up->role_changed = r->role != r->prev_role || r->leader_id != r->prev_leader;
    up->term = r->term;
    up->leader_id = r->leader_id;
    finalize_log(r, up);
    finalize_apply(r, up);
    up->commit_index = r->commit;
    resolve_append_entries(r);
    up->msgs = r->out_msgs;
    up->n_msgs = r->n_out_msgs;
    up->reads = r->out_reads;
    up->n_reads = r->n_out_reads;
    if (r->out_proposed_count > 0) {
        up->proposed.first_index = r->out_proposed_first;
        up->proposed.term = r->term;
        up->proposed.count = r->out_proposed_count;
    }
    up->deadline_ms = next_deadline(r);
}

static void begin(struct raft *r)
{
    r->n_out_msgs = 0;
    r->n_out_reads = 0;
    r->out_first_new = UINT64_MAX;
    r->out_truncate_from = 0;
    r->out_compact = 0;
    r->out_install = false;
    r->out_chunk = false;
    r->out_proposed_first = 0;
    r->out_proposed_count = 0;
    r->prev_role = r->role;
    r->prev_leader = r->leader_id;
}

/* ---- events ---- */

static int step_persisted(struct raft *r, const struct raft_event *ev)
{
    const struct raft_hard_state *hs = &ev->persisted.hard_state;
    /* Completions come in order and never report a future state. */
    if (hs->term > r->term || hs->term < r->hs_durable.term)
        return CAIRN_EINVAL;
    if (hs->term == r->term && hs->vote != 0 && hs->vote != r->vote)
        return CAIRN_EINVAL;
    bool was_durable = raft_hs_durable(r);
    r->hs_durable = *hs;
    uint64_t idx = ev->persisted.last_index;
    if (idx >= r->log.offset && idx <= raft_log_last_index(&r->log) &&
        raft_log_term(&r->log, idx) == ev->persisted.last_term &&
        idx > r->persisted_index)
        r->persisted_index = idx;
    if (r->role == RAFT_LEADER) {
        if (!was_durable && raft_hs_durable(r))
            raft_broadcast_append(r); /* sends skipped until now */
        raft_maybe_commit(r);
    }
    return 0;
}

/* Replies to a message from an older term so its sender learns ours
 * (Figure 2: "reply false if term < currentTerm"). */
static void reply_stale(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.append_resp.success = false;
    resp.append_resp.last_index = raft_log_last_index(&r->log);
    raft_send(r, &resp);
}

static bool from_leader(uint8_t type)
{
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT ||
           type == RAFT_MSG_SNAPSHOT || type == RAFT_MSG_TIMEOUT_NOW;
}

/* Applies Figure 2's term rules before the message's own handler.
 * Returns true if the message should still be handled. */
static bool step_term(struct raft *r, const struct raft_msg *m)
{
    uint8_t t = m->type;
    if (t == RAFT_MSG_VOTE || t == RAFT_MSG_PREVOTE ||
        t == RAFT_MSG_PREVOTE_RESP)
        return true; /* election.c applies its own rules */
    if (m->term > r->term) {
        raft_become_follower(r, m->term, from_leader(t) ? m->from : 0);
        return true;
    }
    if (m->term < r->term) {
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 4
        /* MUTANT 4: accept AppendEntries from a stale term. */
        if (t == RAFT_MSG_APPEND)
            return true;
#endif
        if (t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT ||
            t == RAFT_MSG_SNAPSHOT)
            reply_stale(r, m);
        return false;
    }
    return true;
}

static int step_message(struct raft *r, const struct raft_msg *m)
{
    if (m == NULL)
        return CAIRN_EINVAL;
    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX)
        return CAIRN_EPROTO;
    if (m->group_id != r->cfg.group_id || m->to != r->cfg.id ||
        m->from == 0 || m->from == r->cfg.id || m->term == 0 ||
        m->term > RAFT_TERM_MAX)
        return CAIRN_EPROTO;
    if (!step_term(r, m))
        return 0;
    switch (m->type) {
    case RAFT_MSG_APPEND: return raft_recv_append(r, m);
    case RAFT_MSG_APPEND_RESP: return raft_recv_append_resp(r, m);
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE: return raft_recv_vote(r, m);
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP: return raft_recv_vote_resp(r, m);
    case RAFT_MSG_SNAPSHOT: return raft_recv_snapshot(r, m);
    case RAFT_MSG_SNAPSHOT_RESP: return raft_recv_snapshot_resp(r, m);
    case RAFT_MSG_HEARTBEAT: return raft_recv_heartbeat(r, m);
    case RAFT_MSG_HEARTBEAT_RESP: return raft_recv_heartbeat_resp(r, m);
    case RAFT_MSG_TIMEOUT_NOW: return raft_recv_timeout_now(r, m);
    case RAFT_MSG_READ_INDEX: return raft_recv_read_index(r, m);
    case RAFT_MSG_READ_INDEX_RESP: return raft_recv_read_index_resp(r, m);
    default: UNREACHABLE();
    }
}

static int step_event(struct raft *r, const struct raft_event *ev)
{
    switch (ev->type) {
    case RAFT_EV_MESSAGE:
        return step_message(r, ev->message.msg);
    case RAFT_EV_PERSISTED:
        return step_persisted(r, ev);
    case RAFT_EV_TICK:
        raft_election_tick(r);
        raft_leader_tick(r);
        raft_read_tick(r);
        return 0;
    case RAFT_EV_PROPOSE:
        return raft_propose(r, ev->propose.bufs, ev->propose.n);
    case RAFT_EV_READ:
        return raft_read_request(r, ev->read.request_id, ev->read.mode);
    case RAFT_EV_SNAPSHOT_TAKEN:
        return raft_snapshot_taken(r, &ev->snapshot.meta, ev->snapshot.data);
    case RAFT_EV_MEMBERSHIP:
        return raft_membership_change(r, ev->change.op, ev->change.id);
    case RAFT_EV_TRANSFER:
        return raft_transfer_start(r, ev->transfer.target_id);
    case RAFT_EV_SHUTDOWN:
        /* Pending reads learn why; a leader stops leading so the host
         * does not route work to it. */
        raft_read_fail_all(r, CAIRN_ESHUTDOWN);
        if (r->role != RAFT_FOLLOWER)
            raft_become_follower(r, r->term, 0);
        r->shutdown = true;
        return 0;
    default:
        return CAIRN_EINVAL;
    }
}

int raft_step(struct raft *r, const struct raft_event *ev,
              struct raft_update *up)
{
    ASSERT(r != NULL);
    ASSERT(ev != NULL);
    begin(r);
    int rc;
    if (r->shutdown) {
        rc = CAIRN_ESHUTDOWN;
        goto out;
    }
    if (ev->now_ms > r->now || r->election_deadline == 0) {
        bool first = r->election_deadline == 0;
        r->now = CAIRN_MAX(r->now, ev->now_ms);
        if (first)
            raft_election_reset_timer(r);
    }
    rc = step_event(r, ev);
out:
    finalize(r, up);
    ASSERT_SLOW(raft_invariants(r));
    return rc;
}

/* ---- introspection ---- */

void raft_status_get(const struct raft *r, struct raft_status *out)
{
    memset(out, 0, sizeof(*out));
    out->id = r->cfg.id;
    out->role = r->role;
    out->term = r->term;
    out->vote = r->vote;
    out->leader_id = r->leader_id;
    out->commit_index = r->commit;
    out->applied_index = r->applied;
    out->first_index = r->log.offset + 1;
    out->last_index = raft_log_last_index(&r->log);
    out->last_term = raft_log_last_term(&r->log);
    out->persisted_index = r->persisted_index;
    out->snapshot_index = r->snap.last_index;
    out->conf = r->conf;
    out->transfer_target = r->transfer_target;
    out->shutdown = r->shutdown;
}

uint64_t raft_term_at(const struct raft *r, uint64_t index)
{
    return raft_log_term(&r->log, index);
}

static int leader_invariants(const struct raft *r)
{
    uint64_t last = raft_log_last_index(&r->log);
    if (r->leader_id != r->cfg.id)
        return __LINE__;
    if (r->noop_index == 0)
        return __LINE__;
    if (r->noop_index >= r->log.offset &&
        raft_log_term(&r->log, r->noop_index) != r->term)
        return __LINE__;
    uint32_t used = 0;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        const struct raft_progress *pr = &r->prs[i];
        if (!pr->used)
            continue;
        used++;
        if (raft_conf_find(&r->conf, pr->id) == NULL)
            return __LINE__;
        if (pr->id == r->cfg.id)
            continue;
        if (pr->match > last || pr->next > last + 1 || pr->next <= pr->match)
            return __LINE__;
        uint64_t bytes = 0;
        for (uint32_t k = 0; k < pr->infl_count; k++)
            bytes += pr->infl[(pr->infl_head + k) % pr->infl_cap].bytes;
        if (pr->infl_count > pr->infl_cap || bytes != pr->infl_bytes)
            return __LINE__;
    }
    return used == r->conf.n_members ? 0 : __LINE__;
}

static int conf_invariants(const struct raft *r)
{
    if (!raft_conf_check(&r->conf) || !raft_conf_check(&r->base_conf))
        return __LINE__;
    if (r->conf_index < r->log.offset ||
        r->conf_index > raft_log_last_index(&r->log))
        return __LINE__;
    if (r->conf_index > r->log.offset) {
        const struct raft_entry *e = raft_log_get(&r->log, r->conf_index);
        struct raft_conf c;
        if (e->type != RAFT_ENTRY_CONFIG ||
            raft_conf_decode(e->data, e->len, &c) != 0 ||
            !raft_conf_equal(&c, &r->conf))
            return __LINE__;
    }
    return 0;
}

/* Returns 0 if every invariant holds, else the line of the first broken
 * one (so a failure names it). */
int raft_invariants_line(const struct raft *r)
{
    uint64_t last = raft_log_last_index(&r->log);
    if (!raft_log_check(&r->log))
        return __LINE__;
    /* Commitment and application never run past the log. */
    if (r->commit > last || r->applied > r->commit)
        return __LINE__;
    /* Compaction never drops what was not applied or not snapshotted. */
    if (r->log.offset > r->applied || r->log.offset > r->snap.last_index)
        return __LINE__;
    if (r->persisted_index > last)
        return __LINE__;
    /* No entry from the future; durable state never ahead of memory. */
    if (raft_log_last_term(&r->log) > r->term || r->hs_durable.term > r->term)
        return __LINE__;
    if (r->role == RAFT_CANDIDATE && r->vote != r->cfg.id)
        return __LINE__;
    int line = conf_invariants(r);
    if (line != 0)
        return line;
    if (r->role == RAFT_LEADER && (line = leader_invariants(r)) != 0)
        return line;
    if (r->reads.n > RAFT_READS_PENDING_MAX || r->n_held > RAFT_HELD_MSGS_MAX)
        return __LINE__;
    return 0;
}

bool raft_invariants(const struct raft *r)
{
    int line = raft_invariants_line(r);
    if (line != 0)
        LOG_WARNING("raft %llu: invariant at raft.c:%d broken",
                    (unsigned long long)r->cfg.id, line);
    return line == 0;
}

const char *raft_role_name(uint8_t role)
{
    switch (role) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    default: return "unknown";
    }
}

const char *raft_msg_type_name(uint8_t type)
{
    static const char *const names[] = {
        "?", "append", "append_resp", "vote", "vote_resp", "prevote",
        "prevote_resp", "snapshot", "snapshot_resp", "heartbeat",
        "heartbeat_resp", "timeout_now", "read_index", "read_index_resp",
    };
    return type <= RAFT_MSG_TYPE_MAX ? names[type] : "unknown";
}
