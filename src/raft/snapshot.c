/*
 * snapshot.c: snapshots taken by the state machine, log compaction, and
 * InstallSnapshot in resumable chunks (§7).
 *
 * A snapshot covers everything up to meta.last_index and carries its term
 * and the configuration as of that index.  When the host reports one
 * (RAFT_EV_SNAPSHOT_TAKEN), the log is compacted up to last_index minus
 * snapshot_trailing_entries, so a follower that is only a little behind is
 * still served from the log.  The bytes stay with the host (borrowed); the
 * leader's chunks point into them.
 *
 * Sending is stop-and-wait, one chunk of snapshot_chunk_size bytes at a
 * time; the receiver answers with the next offset it expects, so a transfer
 * interrupted by a lost message or a leader change resumes where it
 * stopped.  A chunk is resent after a heartbeat interval without answer.
 *
 * Receiving: chunks must come in order for one (last_index, last_term); a
 * chunk of a different snapshot at offset 0 restarts the transfer.  When the
 * last chunk arrives the log is reset to start after the snapshot, the
 * update carries snapshot_install, and the acknowledgement is held until
 * the host reports the install durable.
 *
 * Invariants: log offset <= snapshot last_index (compaction never passes
 * the snapshot) and log offset <= applied index.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "raft/raft_int.h"

static void compact(struct raft *r)
{
    uint64_t keep = r->cfg.snapshot_trailing_entries;
    uint64_t idx = r->snap.last_index;
    uint64_t upto = idx > keep ? idx - keep : 0;
    upto = CAIRN_MIN(upto, r->applied);
    if (upto <= r->log.offset)
        return;
    ASSERT(upto <= r->applied);
    raft_conf_on_compact(r, upto);
    raft_log_compact(&r->log, upto);
    ASSERT(r->log.offset <= r->snap.last_index);
    r->out_compact = upto;
}

int raft_snapshot_taken(struct raft *r, const struct raft_snapshot_meta *meta,
                        const void *data)
{
    if (meta->last_index > r->applied || meta->last_index == 0)
        return CAIRN_EINVAL;
    if (meta->size > 0 && data == NULL)
        return CAIRN_EINVAL;
    if (!raft_conf_check(&meta->conf))
        return CAIRN_EINVAL;
    if (meta->last_index < r->snap.last_index)
        return 0; /* older than what we have: nothing to do */
    uint64_t t = raft_log_term(&r->log, meta->last_index);
    if (t != 0 && t != meta->last_term)
        return CAIRN_EINVAL;
    r->snap = *meta;
    r->snap_data = data;
    compact(r);
    /* The previous bytes go away once this step returns: transfers in
     * progress restart on the new snapshot. */
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct raft_progress *pr = &r->prs[i];
        if (pr->used && pr->state == RAFT_PROGRESS_SNAPSHOT) {
            raft_progress_become_snapshot(pr, r->snap.last_index);
            raft_send_snapshot_chunk(r, pr);
        }
    }
    return 0;
}

void raft_send_snapshot_chunk(struct raft *r, struct raft_progress *pr)
{
    ASSERT(pr->state == RAFT_PROGRESS_SNAPSHOT);
    if (r->role != RAFT_LEADER || !raft_hs_durable(r))
        return;
    if (r->snap.last_index < r->log.offset ||
        (r->snap_data == NULL && r->snap.size > 0) || r->snap.last_index == 0)
        return; /* no usable bytes yet: the host must pass them back */
    if (pr->snap_index != r->snap.last_index) {
        pr->snap_index = r->snap.last_index;
        pr->snap_offset = 0;
    }
    uint64_t off = CAIRN_MIN(pr->snap_offset, r->snap.size);
    uint64_t left = r->snap.size - off;
    uint32_t len = (uint32_t)CAIRN_MIN(left, (uint64_t)r->cfg.snapshot_chunk_size);
    struct raft_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = RAFT_MSG_SNAPSHOT;
    msg.to = pr->id;
    msg.snapshot.meta = r->snap;
    msg.snapshot.offset = off;
    msg.snapshot.len = len;
    msg.snapshot.data = len > 0 ? (const uint8_t *)r->snap_data + off : NULL;
    msg.snapshot.done = off + len == r->snap.size;
    raft_send(r, &msg);
    pr->snap_sent_ms = r->now;
}

int raft_recv_snapshot_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || m->term != r->term)
        return 0;
    struct raft_progress *pr = raft_progress_find(r, m->from);
    if (pr == NULL)
        return 0;
    const struct raft_msg_snapshot_resp *sr = &m->snapshot_resp;
    pr->recent_active = true;
    if (sr->installed) {
        if (sr->last_index > raft_log_last_index(&r->log))
            return CAIRN_EPROTO;
        pr->match = CAIRN_MAX(pr->match, sr->last_index);
        raft_progress_become_probe(pr);
        raft_maybe_commit(r);
        if (r->role == RAFT_LEADER)
            raft_send_append(r, pr, false);
        return 0;
    }
    if (pr->state != RAFT_PROGRESS_SNAPSHOT ||
        sr->last_index != pr->snap_index)
        return 0;
    if (sr->rejected) {
        raft_progress_become_probe(pr);
        raft_send_append(r, pr, false);
        return 0;
    }
    if (sr->next_offset > r->snap.size)
        return CAIRN_EPROTO;
    pr->snap_offset = sr->next_offset;
    raft_send_snapshot_chunk(r, pr);
    return 0;
}

/* ---- receiving ---- */

static void reply_snapshot(struct raft *r, const struct raft_msg *m,
                           bool installed, uint64_t need_index)
{
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_SNAPSHOT_RESP;
    resp.to = m->from;
    resp.snapshot_resp.last_index = m->snapshot.meta.last_index;
    resp.snapshot_resp.next_offset =
        installed ? m->snapshot.meta.size : r->srecv_offset;
    resp.snapshot_resp.installed = installed;
    raft_send_held(r, &resp, need_index);
}

static int snapshot_validate(const struct raft_msg *m)
{
    const struct raft_msg_snapshot *s = &m->snapshot;
    if (s->meta.last_index == 0 || s->meta.last_term == 0 ||
        s->meta.last_term > m->term || s->meta.last_index > RAFT_INDEX_MAX)
        return CAIRN_EPROTO;
    if (!raft_conf_check(&s->meta.conf))
        return CAIRN_EPROTO;
    if (s->offset > s->meta.size || s->len > s->meta.size - s->offset)
        return CAIRN_EPROTO;
    if (s->len > 0 && s->data == NULL)
        return CAIRN_EPROTO;
    if (s->done != (s->offset + s->len == s->meta.size))
        return CAIRN_EPROTO;
    return 0;
}

static void install(struct raft *r, const struct raft_snapshot_meta *meta)
{
    /* Only a snapshot beyond what we know committed replaces the log. */
    ASSERT(meta->last_index > r->commit);
    raft_log_reset(&r->log, meta->last_index, meta->last_term);
    raft_note_truncate(r, meta->last_index + 1);
    r->out_first_new = UINT64_MAX;
    r->commit = meta->last_index;
    r->applied = meta->last_index;
    r->base_conf = meta->conf;
    r->conf = meta->conf;
    r->conf_index = meta->last_index;
    r->snap = *meta;
    r->snap_data = NULL; /* the host passes the bytes back if it keeps them */
    r->persisted_index = 0; /* until the host reports the install durable */
    r->srecv_active = false;
    r->out_install = true;
}

static int store_chunk(struct raft *r, const struct raft_msg_snapshot *s)
{
    if (s->len > r->chunk_cap) {
        void *p = cairn_realloc(r->chunk_buf, s->len);
        if (p == NULL)
            return CAIRN_ENOMEM;
        r->chunk_buf = p;
        r->chunk_cap = s->len;
    }
    if (s->len > 0)
        memcpy(r->chunk_buf, s->data, s->len);
    r->out_chunk = true;
    r->out_chunk_v.meta = s->meta;
    r->out_chunk_v.offset = s->offset;
    r->out_chunk_v.len = s->len;
    r->out_chunk_v.data = s->len > 0 ? r->chunk_buf : NULL;
    r->srecv_offset += s->len;
    return 0;
}

int raft_recv_snapshot(struct raft *r, const struct raft_msg *m)
{
    int rc = snapshot_validate(m);
    if (rc != 0)
        return rc;
    if (m->term != r->term)
        return 0;
    if (r->role != RAFT_FOLLOWER || r->leader_id != m->from)
        raft_become_follower(r, r->term, m->from);
    r->last_leader_contact = r->now;
    raft_election_reset_timer(r);
    const struct raft_msg_snapshot *s = &m->snapshot;
    uint64_t idx = s->meta.last_index;
    if (idx <= r->commit) {
        /* We hold it committed already, but maybe not durably yet: the
         * leader will trust this match, so it waits for the disk like any
         * acknowledgement (a lost one would leave the leader probing past
         * our real log end forever). */
        reply_snapshot(r, m, true, CAIRN_MAX(idx, r->log.offset));
        return 0;
    }
    if (raft_log_term(&r->log, idx) == s->meta.last_term) {
        /* §7: our log already has the last entry; keep what follows. */
        r->commit = idx;
        reply_snapshot(r, m, true, idx);
        return 0;
    }
    bool same = r->srecv_active && r->srecv_meta.last_index == idx &&
                r->srecv_meta.last_term == s->meta.last_term &&
                r->srecv_meta.size == s->meta.size;
    if (!same && s->offset == 0) {
        r->srecv_active = true;
        r->srecv_meta = s->meta;
        r->srecv_offset = 0;
        same = true;
    }
    if (!same || s->offset != r->srecv_offset) {
        /* Out of order: tell the leader where to resume. */
        if (!same)
            r->srecv_offset = 0;
        reply_snapshot(r, m, false, 0);
        return 0;
    }
    rc = store_chunk(r, s);
    if (rc != 0)
        return rc;
    if (!s->done) {
        reply_snapshot(r, m, false, 0);
        return 0;
    }
    install(r, &s->meta);
    reply_snapshot(r, m, true, idx);
    return 0;
}
