/*
 * membership.c: group configurations and how they change.
 *
 * A configuration takes effect on every server as soon as its entry is in
 * the log, committed or not (thesis §4.1).  So the core tracks:
 *   conf, conf_index  the latest RAFT_ENTRY_CONFIG in the log (or base_conf
 *                     with conf_index = offset if there is none);
 *   base_conf         the configuration as of the log offset (from the
 *                     snapshot, or folded in when a prefix is compacted).
 * A truncation that removes the entry at conf_index rescans the log backward
 * (bounded by its length) and falls back to base_conf.
 *
 * Changes go one server at a time: add a learner, promote a learner that
 * has caught up, remove a member.  The leader refuses a change while
 * another is uncommitted and before it has committed an entry of its own
 * term (the fix to the single-server change bug in the thesis's errata).
 * A leader that removed itself keeps leading until the change commits,
 * without counting itself, then steps down.
 *
 * Invariants (raft_conf_check): at most RAFT_MEMBERS_MAX members, ids
 * nonzero, sorted strictly increasing, roles known.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "raft/raft_int.h"

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int raft_conf_encode(const struct raft_conf *conf, uint8_t *out, size_t cap)
{
    ASSERT(conf->n_members <= RAFT_MEMBERS_MAX);
    size_t len = 4 + (size_t)conf->n_members * 9;
    if (len > cap)
        return CAIRN_EFULL;
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(conf->n_members >> (8 * i));
    for (uint32_t i = 0; i < conf->n_members; i++) {
        put_u64(out + 4 + i * 9, conf->members[i].id);
        out[4 + i * 9 + 8] = conf->members[i].role;
    }
    return (int)len;
}

bool raft_conf_check(const struct raft_conf *conf)
{
    if (conf->n_members > RAFT_MEMBERS_MAX)
        return false;
    for (uint32_t i = 0; i < conf->n_members; i++) {
        const struct raft_member *m = &conf->members[i];
        if (m->id == 0)
            return false;
        if (m->role != RAFT_VOTER && m->role != RAFT_LEARNER)
            return false;
        if (i > 0 && conf->members[i - 1].id >= m->id)
            return false;
    }
    return true;
}

int raft_conf_decode(const uint8_t *in, size_t len, struct raft_conf *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 4)
        return CAIRN_EPROTO;
    uint32_t n = 0;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)in[i] << (8 * i);
    if (n > RAFT_MEMBERS_MAX || len != 4 + (size_t)n * 9)
        return CAIRN_EPROTO;
    out->n_members = n;
    for (uint32_t i = 0; i < n; i++) {
        out->members[i].id = get_u64(in + 4 + i * 9);
        out->members[i].role = in[4 + i * 9 + 8];
    }
    if (!raft_conf_check(out)) {
        memset(out, 0, sizeof(*out));
        return CAIRN_EPROTO;
    }
    return 0;
}

bool raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n_members != b->n_members)
        return false;
    for (uint32_t i = 0; i < a->n_members; i++)
        if (a->members[i].id != b->members[i].id ||
            a->members[i].role != b->members[i].role)
            return false;
    return true;
}

const struct raft_member *raft_conf_find(const struct raft_conf *conf,
                                         uint64_t id)
{
    for (uint32_t i = 0; i < conf->n_members; i++)
        if (conf->members[i].id == id)
            return &conf->members[i];
    return NULL;
}

int raft_conf_on_append(struct raft *r, const struct raft_entry *e)
{
    if (e->type != RAFT_ENTRY_CONFIG)
        return 0;
    struct raft_conf conf;
    /* Validated before the append (raft_recv_append), so this holds. */
    ASSERT(raft_conf_decode(e->data, e->len, &conf) == 0);
    r->conf = conf;
    r->conf_index = e->index;
    return raft_conf_changed(r);
}

void raft_conf_on_truncate(struct raft *r, uint64_t from)
{
    if (r->conf_index < from)
        return;
    r->conf = r->base_conf;
    r->conf_index = r->log.offset;
    uint64_t i = raft_log_last_index(&r->log);
    for (; i > r->log.offset; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e->type == RAFT_ENTRY_CONFIG) {
            ASSERT(raft_conf_decode(e->data, e->len, &r->conf) == 0);
            r->conf_index = i;
            break;
        }
    }
    (void)raft_conf_changed(r);
}

void raft_conf_on_compact(struct raft *r, uint64_t upto)
{
    for (uint64_t i = r->log.offset + 1; i <= upto; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e != NULL && e->type == RAFT_ENTRY_CONFIG)
            ASSERT(raft_conf_decode(e->data, e->len, &r->base_conf) == 0);
    }
    /* The latest configuration now lives in base_conf if its entry goes. */
    if (r->conf_index < upto)
        r->conf_index = upto;
}

int raft_conf_changed(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return 0;
    int rc = raft_progress_sync(r);
    if (rc != 0)
        return rc;
    /* A transfer to a server that is no longer a voter cannot finish. */
    if (r->transfer_target != 0 && !raft_is_voter(&r->conf, r->transfer_target))
        raft_transfer_abort(r);
    return 0;
}

void raft_conf_committed(const struct raft *r, struct raft_conf *out)
{
    *out = r->base_conf;
    if (r->conf_index <= r->commit) {
        *out = r->conf;
        return;
    }
    /* The latest configuration is not committed yet: find the one before
     * it (bounded by the log length; a change in flight is rare). */
    uint64_t hi = CAIRN_MIN(r->commit, r->conf_index - 1);
    for (uint64_t i = hi; i > r->log.offset; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e->type == RAFT_ENTRY_CONFIG) {
            ASSERT(raft_conf_decode(e->data, e->len, out) == 0);
            return;
        }
    }
}

void raft_conf_check_removed(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->commit < r->conf_index)
        return;
    if (raft_is_voter(&r->conf, r->cfg.id))
        return;
    /* Thesis §4.2.2: a leader not in the committed configuration steps
     * down; it would otherwise keep sending heartbeats (etcd #11038). */
    LOG_VERBOSE("raft %llu: removed from the configuration, stepping down",
                (unsigned long long)r->cfg.id);
    raft_become_follower(r, r->term, 0);
}

static int conf_add(struct raft_conf *c, uint64_t id, uint8_t role)
{
    if (raft_conf_find(c, id) != NULL)
        return CAIRN_EEXIST;
    if (c->n_members >= RAFT_MEMBERS_MAX)
        return CAIRN_EFULL;
    uint32_t pos = 0;
    while (pos < c->n_members && c->members[pos].id < id)
        pos++;
    memmove(&c->members[pos + 1], &c->members[pos],
            (c->n_members - pos) * sizeof(c->members[0]));
    c->members[pos].id = id;
    c->members[pos].role = role;
    c->n_members++;
    return 0;
}

static int conf_remove(struct raft_conf *c, uint64_t id)
{
    uint32_t pos = 0;
    while (pos < c->n_members && c->members[pos].id != id)
        pos++;
    if (pos == c->n_members)
        return CAIRN_ENOTFOUND;
    memmove(&c->members[pos], &c->members[pos + 1],
            (c->n_members - pos - 1) * sizeof(c->members[0]));
    c->n_members--;
    return 0;
}

/* Computes the configuration after op, or returns why it is refused. */
static int conf_apply_op(struct raft *r, uint8_t op, uint64_t id,
                         struct raft_conf *next)
{
    *next = r->conf;
    struct raft_member *m = (struct raft_member *)raft_conf_find(next, id);
    switch (op) {
    case RAFT_CHANGE_ADD_LEARNER:
        return conf_add(next, id, RAFT_LEARNER);
    case RAFT_CHANGE_PROMOTE: {
        if (m == NULL)
            return CAIRN_ENOTFOUND;
        if (m->role != RAFT_LEARNER)
            return CAIRN_EINVAL;
        /* A learner is promoted only once it holds everything committed,
         * so adding it does not stall commits while it catches up. */
        const struct raft_progress *pr = raft_progress_find(r, id);
        if (pr == NULL || pr->match < r->commit)
            return CAIRN_EAGAIN;
        m->role = RAFT_VOTER;
        return 0;
    }
    case RAFT_CHANGE_REMOVE: {
        if (m == NULL)
            return CAIRN_ENOTFOUND;
        bool voter = m->role == RAFT_VOTER;
        int rc = conf_remove(next, id);
        if (rc == 0 && voter && raft_voter_count(next) == 0)
            return CAIRN_EINVAL; /* the last voter cannot leave */
        return rc;
    }
    default:
        return CAIRN_EINVAL;
    }
}

int raft_membership_change(struct raft *r, uint8_t op, uint64_t id)
{
    if (r->role != RAFT_LEADER)
        return CAIRN_ENOTLEADER;
    if (r->transfer_target != 0)
        return CAIRN_ETRANSFER;
    if (id == 0)
        return CAIRN_EINVAL;
    /* One change at a time, and only after this leader committed an entry
     * of its own term (its no-op): otherwise two single-server changes from
     * different leaders can form disjoint majorities. */
    if (r->conf_index > r->commit)
        return CAIRN_EBUSY;
    if (raft_log_term(&r->log, r->commit) != r->term)
        return CAIRN_EBUSY;
    struct raft_conf next;
    int rc = conf_apply_op(r, op, id, &next);
    if (rc != 0)
        return rc;
    uint8_t buf[RAFT_CONF_ENCODED_SIZE_MAX];
    int len = raft_conf_encode(&next, buf, sizeof(buf));
    ASSERT(len > 0);
    rc = raft_leader_append(r, RAFT_ENTRY_CONFIG, buf, (uint32_t)len);
    if (rc != 0)
        return rc;
    ASSERT(r->conf_index == raft_log_last_index(&r->log));
    raft_broadcast_append(r);
    return 0;
}
