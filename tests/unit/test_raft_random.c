/*
 * test_raft_random.c: randomized safety test of the Raft core over many
 * seeds, on a small deterministic in-process cluster with its own host.
 *
 * The host here is written independently of tests/unit/raft_harness.c on
 * purpose: a second reading of the host contract of raft.h (persist in
 * order, report completions, hand snapshot bytes back, restart from durable
 * state only) catches what one reading would share with the core.  Every
 * message goes through the wire codec (src/raft/codec.c) on its way, so the
 * codec is also checked against everything the real core emits.
 *
 * Each seed draws its own knobs (swarm testing): 3 or 5 founding voters,
 * maybe one server that joins later, prevote and check-quorum on or off,
 * message loss, duplication and delay (reordering), persist delay, crash
 * and restart rate (a crash loses every write not yet completed),
 * partitions (isolation, halves, one-way cuts), proposal, membership-change,
 * transfer, read and snapshot rates, tiny chunk sizes and in-flight
 * windows.  Crashes favour leaders and the worst moments (an install not
 * yet durable, a snapshot written ahead of queued log writes).  Every 25th
 * seed is run twice and must replay step for step.
 *
 * Checked after every step (the first failure is recorded with the time):
 *   - raft_invariants() of the stepped server;
 *   - Election Safety: at most one leader per term;
 *   - Log Matching: two logs with the same term at an index agree on every
 *     term before it (checked whenever a log changes, against every other
 *     running server);
 *   - Leader Completeness: a leader of term T holds every entry that some
 *     server applied while its own term was below T;
 *   - State Machine Safety: every server applies the same entry (term and
 *     a hash chain over all data) at each index, snapshots included;
 *   - Linearizable reads: a read answered with status 0 (ReadIndex or
 *     lease) has an index covering everything applied anywhere before it
 *     was asked;
 *   - commit index and term never go back (durable term: never at all;
 *     the rest: except across a crash), applied <= committed;
 *   - every message the core emits is well-formed for the codec, decodes
 *     back, and is addressed to a known server.
 * Then the faults stop, everything is healed and restarted, and within a
 * bounded simulated time a leader must be elected and a new proposal
 * committed (liveness).
 *
 * Found so far in the core by this test, each fixed by the core's author:
 * a restore refused when the snapshot's term was above the durable hard
 * state's (fixed in 01368e9); a repeated snapshot chunk acknowledged as
 * installed before the install was durable, which let a crashed follower
 * apply its own stale entries (490ba7f); a restore refused when a stale
 * tail of lower term followed the snapshot, left by a snapshot written
 * while a truncation was queued (b6644d0).
 *
 * Environment: CAIRN_RAFT_SEEDS (seeds 1..N, default 200), CAIRN_TEST_SEED
 * (run just that seed, verbosely).  A failure prints the seed, the
 * simulated time, what broke and the replay command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "raft/codec.h"
#include "raft/raft.h"

#define NODES_MAX 6
#define CHAOS_MS 5000
#define LIVENESS_MS 20000
#define STEPS_PER_MS_MAX 2000
#define READS_TRACKED 1024
#define UNCOMMITTED_MAX 64
#define SM_HEADER 16 /* snapshot bytes: applied index, chain hash, padding */

/* ---- the host's view of one server ---- */

struct pending { /* a durable write asked for, not yet complete */
    struct pending *next;
    uint64_t due;
    bool install;
    struct raft_snapshot_meta imeta;
    uint8_t *idata;
    uint64_t truncate_from;
    struct raft_entry *entries; /* own copies */
    size_t n_entries;
    bool has_hs;
    struct raft_hard_state hs;
};

struct wire {
    struct wire *next;
    uint64_t due;
    uint32_t from, to; /* indexes */
    size_t len;
    uint8_t bytes[];
};

struct node {
    uint64_t id;
    struct raft *r;
    bool up;
    uint32_t restarts;
    /* durable storage */
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    struct raft_entry *log;
    size_t n_log, cap_log;
    struct pending *pend;
    bool snap_jumped; /* a snapshot was written while log writes were queued */
    /* volatile */
    uint8_t *recv;
    uint64_t recv_size;
    uint64_t applied, applied_term, chain;
    struct raft_conf sm_conf;
    uint64_t snap_applied; /* applied index of the last snapshot taken */
    uint8_t role;
    uint64_t term, commit, deadline;
};

struct applied_rec {
    bool set;
    uint64_t term;
    uint64_t chain;
    uint64_t known_term; /* lowest term of a server when it applied this */
};

/* A read request and what had been applied anywhere when it was made. */
struct read_rec {
    uint64_t request_id;
    uint64_t watermark;
};

struct sim {
    uint64_t seed;
    bool verbose;
    struct cairn_rng rng;
    uint64_t now;
    struct node nodes[NODES_MAX];
    uint32_t n, n_voters;
    bool link[NODES_MAX][NODES_MAX];
    struct wire *net_head, *net_tail;
    /* knobs */
    uint32_t loss_pct, dup_pct, delay_max, persist_delay_max;
    uint32_t crash_pm, restart_pm, partition_pm, propose_pct, change_pm;
    uint32_t transfer_pm, snap_every, snap_pad;
    struct raft_config cfg;
    /* checker */
    uint64_t *leader_of_term;
    size_t lt_cap;
    struct applied_rec *ap;
    size_t ap_cap;
    uint64_t ap_max;
    char violation[320];
    bool failed;
    uint64_t value;
    /* statistics */
    uint64_t steps, delivered, crashes, proposals_ok, changes_ok, installs;
    uint64_t msg_errors;
    uint64_t trace; /* hash of every step, for the determinism check */
    uint64_t proposed_index, proposed_term; /* last accepted proposal */
    struct read_rec reads[READS_TRACKED];
    uint64_t read_seq, reads_ok;
    struct raft_codec_msg dec;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    ASSERT(p != NULL);
    return p;
}

static void *xdup(const void *src, size_t len)
{
    if (len == 0)
        return NULL;
    void *p = xcalloc(1, len);
    memcpy(p, src, len);
    return p;
}

static void violate(struct sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violate(struct sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    int off = snprintf(s->violation, sizeof(s->violation), "t=%llu ms: ",
                       (unsigned long long)s->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->violation + off, sizeof(s->violation) - (size_t)off, fmt, ap);
    va_end(ap);
}

static uint32_t pick(struct sim *s, uint32_t n)
{
    return (uint32_t)cairn_rng_below(&s->rng, n);
}

static bool chance_pct(struct sim *s, uint32_t pct)
{
    return pct > 0 && cairn_rng_below(&s->rng, 100) < pct;
}

static bool chance_pm(struct sim *s, uint32_t pm)
{
    return pm > 0 && cairn_rng_below(&s->rng, 1000) < pm;
}

/* ---- durable storage ---- */

static uint64_t durable_last_index(const struct node *nd)
{
    return nd->n_log > 0 ? nd->log[nd->n_log - 1].index : nd->snap.last_index;
}

static uint64_t durable_last_term(const struct node *nd)
{
    return nd->n_log > 0 ? nd->log[nd->n_log - 1].term : nd->snap.last_term;
}

static void log_drop_from(struct node *nd, size_t k)
{
    for (size_t i = k; i < nd->n_log; i++)
        free((void *)nd->log[i].data);
    nd->n_log = k;
}

static void durable_append(struct sim *s, struct node *nd, const struct raft_entry *e)
{
    if (e->index <= nd->snap.last_index)
        return; /* a snapshot taken meanwhile already covers it */
    if (e->index != durable_last_index(nd) + 1 && nd->n_log == 0 &&
        nd->snap_jumped)
        return; /* queued before a snapshot overtook it: stale, and a queued
                 * truncation will remove what it would have followed */
    if (e->index != durable_last_index(nd) + 1) {
        violate(s, "server %llu asked to persist entry %llu after %llu",
                (unsigned long long)nd->id, (unsigned long long)e->index,
                (unsigned long long)durable_last_index(nd));
        return;
    }
    if (nd->n_log == nd->cap_log) {
        nd->cap_log = nd->cap_log == 0 ? 64 : nd->cap_log * 2;
        nd->log = realloc(nd->log, nd->cap_log * sizeof(*nd->log));
        ASSERT(nd->log != NULL);
    }
    nd->log[nd->n_log] = *e;
    nd->log[nd->n_log].data = xdup(e->data, e->len);
    nd->n_log++;
}

static void durable_compact(struct node *nd, uint64_t upto)
{
    size_t k = 0;
    while (k < nd->n_log && nd->log[k].index <= upto)
        free((void *)nd->log[k++].data);
    if (k == 0)
        return;
    memmove(nd->log, nd->log + k, (nd->n_log - k) * sizeof(*nd->log));
    nd->n_log -= k;
}

static void pending_free(struct pending *p)
{
    for (size_t i = 0; i < p->n_entries; i++)
        free((void *)p->entries[i].data);
    free(p->entries);
    free(p->idata);
    free(p);
}

/* ---- the state machine: a hash chain over everything applied ---- */

static struct applied_rec *rec_at(struct sim *s, uint64_t index)
{
    if (index >= s->ap_cap) {
        size_t cap = s->ap_cap == 0 ? 1024 : s->ap_cap;
        while (cap <= index)
            cap *= 2;
        s->ap = realloc(s->ap, cap * sizeof(*s->ap));
        ASSERT(s->ap != NULL);
        memset(s->ap + s->ap_cap, 0, (cap - s->ap_cap) * sizeof(*s->ap));
        s->ap_cap = cap;
    }
    return &s->ap[index];
}

static void check_leaders_hold(struct sim *s, uint64_t index);

/* State Machine Safety: the first server to reach an index fixes what it
 * holds; every other must reach the same term and chain there. */
static void record_applied(struct sim *s, struct node *nd, uint64_t index,
                           uint64_t term, uint64_t chain)
{
    struct applied_rec *a = rec_at(s, index);
    if (!a->set) {
        *a = (struct applied_rec){true, term, chain, nd->term};
        s->ap_max = CAIRN_MAX(s->ap_max, index);
        check_leaders_hold(s, index);
        return;
    }
    if (a->term != term || a->chain != chain)
        violate(s, "server %llu applied term %llu at index %llu where another "
                "applied term %llu (chains %s)", (unsigned long long)nd->id,
                (unsigned long long)term, (unsigned long long)index,
                (unsigned long long)a->term,
                a->chain == chain ? "equal" : "differ");
    if (nd->term < a->known_term) {
        a->known_term = nd->term;
        check_leaders_hold(s, index);
    }
}

static void sm_apply(struct sim *s, struct node *nd, const struct raft_entry *e)
{
    if (e->index != nd->applied + 1) {
        violate(s, "server %llu got entry %llu to apply after %llu",
                (unsigned long long)nd->id, (unsigned long long)e->index,
                (unsigned long long)nd->applied);
        return;
    }
    uint64_t v[3] = {nd->chain, e->term, e->type};
    uint64_t h = cairn_hash64(v, sizeof(v), e->index);
    nd->chain = cairn_hash64(e->data, e->len, h);
    nd->applied = e->index;
    nd->applied_term = e->term;
    if (e->type == RAFT_ENTRY_CONFIG &&
        raft_conf_decode(e->data, e->len, &nd->sm_conf) != 0)
        violate(s, "server %llu applied an undecodable configuration at %llu",
                (unsigned long long)nd->id, (unsigned long long)e->index);
    record_applied(s, nd, e->index, e->term, nd->chain);
}

static void sm_load(struct sim *s, struct node *nd,
                    const struct raft_snapshot_meta *meta, const uint8_t *data)
{
    uint64_t idx = 0, chain = 0;
    if (meta->size >= SM_HEADER && data != NULL) {
        memcpy(&idx, data, 8);
        memcpy(&chain, data + 8, 8);
    }
    if (idx != meta->last_index)
        violate(s, "server %llu loaded snapshot %llu holding state of %llu",
                (unsigned long long)nd->id,
                (unsigned long long)meta->last_index, (unsigned long long)idx);
    nd->applied = meta->last_index;
    nd->applied_term = meta->last_term;
    nd->chain = chain;
    nd->sm_conf = meta->conf;
    nd->snap_applied = meta->last_index;
    if (meta->last_index > 0)
        record_applied(s, nd, meta->last_index, meta->last_term, chain);
}

static uint8_t *sm_save(struct sim *s, struct node *nd, struct raft_snapshot_meta *meta)
{
    memset(meta, 0, sizeof(*meta));
    meta->last_index = nd->applied;
    meta->last_term = nd->applied_term;
    meta->conf = nd->sm_conf;
    meta->size = SM_HEADER + s->snap_pad;
    uint8_t *data = xcalloc(1, meta->size);
    memcpy(data, &nd->applied, 8);
    memcpy(data + 8, &nd->chain, 8);
    for (uint32_t i = 0; i < s->snap_pad; i++)
        data[SM_HEADER + i] = (uint8_t)(nd->applied + i);
    return data;
}

/* ---- safety checks ---- */

static void note_leader(struct sim *s, struct node *nd)
{
    if (nd->term >= s->lt_cap) {
        size_t cap = s->lt_cap == 0 ? 64 : s->lt_cap;
        while (cap <= nd->term)
            cap *= 2;
        s->leader_of_term = realloc(s->leader_of_term, cap * sizeof(uint64_t));
        ASSERT(s->leader_of_term != NULL);
        memset(s->leader_of_term + s->lt_cap, 0, (cap - s->lt_cap) * sizeof(uint64_t));
        s->lt_cap = cap;
    }
    uint64_t *l = &s->leader_of_term[nd->term];
    if (*l != 0 && *l != nd->id)
        violate(s, "two leaders in term %llu: %llu and %llu",
                (unsigned long long)nd->term, (unsigned long long)*l,
                (unsigned long long)nd->id);
    *l = nd->id;
}

/* Leader Completeness for one applied index against every running leader
 * whose term is above the lowest term at which someone applied it. */
static void check_leaders_hold(struct sim *s, uint64_t index)
{
    const struct applied_rec *a = &s->ap[index];
    for (uint32_t i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        if (!nd->up || nd->role != RAFT_LEADER || nd->term <= a->known_term)
            continue;
        struct raft_status st;
        raft_status_get(nd->r, &st);
        if (index <= st.snapshot_index)
            continue; /* covered by its snapshot */
        uint64_t t = raft_term_at(nd->r, index);
        if (index > st.last_index || (t != 0 && t != a->term))
            violate(s, "leader %llu of term %llu lacks entry %llu (term %llu) "
                    "applied in term %llu: it holds term %llu, last %llu",
                    (unsigned long long)nd->id, (unsigned long long)nd->term,
                    (unsigned long long)index, (unsigned long long)a->term,
                    (unsigned long long)a->known_term, (unsigned long long)t,
                    (unsigned long long)st.last_index);
    }
}

static void check_leader_complete(struct sim *s, struct node *nd)
{
    struct raft_status st;
    raft_status_get(nd->r, &st);
    uint64_t lo = CAIRN_MAX(st.snapshot_index + 1, 1);
    for (uint64_t i = lo; i <= s->ap_max && !s->failed; i++)
        if (s->ap[i].set && s->ap[i].known_term < nd->term)
            check_leaders_hold(s, i);
}

/* Log Matching (§5.3) between the in-memory logs of a and b: below the
 * highest index where they hold the same term, they hold the same terms. */
static void check_log_matching(struct sim *s, struct node *a, struct node *b)
{
    struct raft_status sa, sb;
    raft_status_get(a->r, &sa);
    raft_status_get(b->r, &sb);
    uint64_t lo = CAIRN_MAX(CAIRN_MAX(sa.first_index, sb.first_index), 1);
    uint64_t hi = CAIRN_MIN(sa.last_index, sb.last_index);
    uint64_t top = 0;
    for (uint64_t i = hi; i >= lo && i > 0; i--) {
        uint64_t t = raft_term_at(a->r, i);
        if (t != 0 && t == raft_term_at(b->r, i)) {
            top = i;
            break;
        }
    }
    for (uint64_t i = lo; i < top; i++) {
        uint64_t ta = raft_term_at(a->r, i), tb = raft_term_at(b->r, i);
        if (ta != 0 && tb != 0 && ta != tb) {
            violate(s, "logs of %llu and %llu match at %llu but differ at %llu "
                    "(terms %llu, %llu)", (unsigned long long)a->id,
                    (unsigned long long)b->id, (unsigned long long)top,
                    (unsigned long long)i, (unsigned long long)ta,
                    (unsigned long long)tb);
            return;
        }
    }
}

static void check_step(struct sim *s, struct node *nd, const struct raft_update *up)
{
    if (!raft_invariants(nd->r))
        violate(s, "server %llu broke raft_invariants()", (unsigned long long)nd->id);
    if (up->term < nd->term)
        violate(s, "server %llu term went back %llu -> %llu", (unsigned long long)nd->id,
                (unsigned long long)nd->term, (unsigned long long)up->term);
    if (up->commit_index < nd->commit)
        violate(s, "server %llu commit went back %llu -> %llu",
                (unsigned long long)nd->id, (unsigned long long)nd->commit,
                (unsigned long long)up->commit_index);
    struct raft_status st;
    raft_status_get(nd->r, &st);
    if (st.applied_index > st.commit_index || nd->applied > up->commit_index)
        violate(s, "server %llu applied %llu (host %llu) past commit %llu",
                (unsigned long long)nd->id, (unsigned long long)st.applied_index,
                (unsigned long long)nd->applied, (unsigned long long)up->commit_index);
    nd->term = up->term;
    nd->commit = up->commit_index;
    nd->role = up->role;
    nd->deadline = up->deadline_ms;
    if (nd->role == RAFT_LEADER)
        note_leader(s, nd);
    bool log_changed = up->n_entries > 0 || up->truncate_from != 0 ||
                       up->snapshot_install != NULL;
    if (log_changed)
        for (uint32_t i = 0; i < s->n; i++)
            if (&s->nodes[i] != nd && s->nodes[i].up)
                check_log_matching(s, nd, &s->nodes[i]);
    if (nd->role == RAFT_LEADER && (log_changed || up->role_changed))
        check_leader_complete(s, nd);
}

/* ---- network ---- */

static void net_push(struct sim *s, uint32_t from, uint32_t to,
                     const uint8_t *bytes, size_t len)
{
    struct wire *w = xcalloc(1, sizeof(*w) + len);
    w->due = s->now + 1 + pick(s, s->delay_max);
    w->from = from;
    w->to = to;
    w->len = len;
    memcpy(w->bytes, bytes, len);
    if (s->net_tail != NULL)
        s->net_tail->next = w;
    else
        s->net_head = w;
    s->net_tail = w;
}

static void net_send(struct sim *s, struct node *nd, const struct raft_msg *m)
{
    static uint8_t frame[1u << 20];
    if (m->from != nd->id || m->to == 0 || m->to > s->n || m->to == nd->id) {
        violate(s, "server %llu sent %s from %llu to %llu",
                (unsigned long long)nd->id, raft_msg_type_name(m->type),
                (unsigned long long)m->from, (unsigned long long)m->to);
        return;
    }
    if (!raft_codec_check(m)) {
        violate(s, "server %llu emitted a malformed %s (the codec refuses it)",
                (unsigned long long)nd->id, raft_msg_type_name(m->type));
        return;
    }
    int len = raft_codec_encode(m, frame, sizeof(frame));
    ASSERT(len > 0);
    uint32_t from = (uint32_t)(nd->id - 1), to = (uint32_t)(m->to - 1);
    if (!s->link[from][to] || chance_pct(s, s->loss_pct))
        return;
    net_push(s, from, to, frame, (size_t)len);
    if (chance_pct(s, s->dup_pct))
        net_push(s, from, to, frame, (size_t)len);
}

/* ---- stepping a server and taking in its update ---- */

static void queue_persist(struct sim *s, struct node *nd, const struct raft_update *up)
{
    if (up->snapshot_install == NULL && up->truncate_from == 0 &&
        up->n_entries == 0 && !up->has_hard_state)
        return;
    struct pending *p = xcalloc(1, sizeof(*p));
    p->due = s->now + (s->persist_delay_max ? pick(s, s->persist_delay_max + 1) : 0);
    if (up->snapshot_install != NULL) {
        p->install = true;
        p->imeta = *up->snapshot_install;
        p->idata = xdup(nd->recv, (size_t)nd->recv_size);
    }
    p->truncate_from = up->truncate_from;
    p->n_entries = up->n_entries;
    p->entries = xcalloc(up->n_entries, sizeof(*p->entries));
    for (size_t i = 0; i < up->n_entries; i++) {
        p->entries[i] = up->entries[i];
        p->entries[i].data = xdup(up->entries[i].data, up->entries[i].len);
    }
    p->has_hs = up->has_hard_state;
    p->hs = up->hard_state;
    struct pending **pp = &nd->pend;
    while (*pp != NULL) {
        p->due = CAIRN_MAX(p->due, (*pp)->due); /* completions stay in order */
        pp = &(*pp)->next;
    }
    *pp = p;
}

static void take_chunk(struct sim *s, struct node *nd, const struct raft_snapshot_chunk *ch)
{
    if (nd->recv_size != ch->meta.size || ch->offset == 0) {
        free(nd->recv);
        nd->recv = xcalloc(1, (size_t)ch->meta.size);
        nd->recv_size = ch->meta.size;
    }
    if (ch->offset + ch->len > nd->recv_size) {
        violate(s, "server %llu got a chunk past its snapshot", (unsigned long long)nd->id);
        return;
    }
    if (ch->len > 0)
        memcpy(nd->recv + ch->offset, ch->data, ch->len);
}

/* Linearizable reads: an index handed out with status 0 covers every entry
 * that any server had applied (so committed) when the read was asked. */
static void check_read(struct sim *s, struct node *nd, const struct raft_read_state *rd)
{
    const struct read_rec *rr = &s->reads[rd->request_id % READS_TRACKED];
    if (rd->status != 0 || rr->request_id != rd->request_id)
        return;
    s->reads_ok++;
    if (rd->index < rr->watermark)
        violate(s, "server %llu answered read %llu with index %llu, but %llu "
                "was applied before it was asked", (unsigned long long)nd->id,
                (unsigned long long)rd->request_id, (unsigned long long)rd->index,
                (unsigned long long)rr->watermark);
}

static void absorb(struct sim *s, struct node *nd, const struct raft_update *up)
{
    check_step(s, nd, up);
    if (up->snapshot_chunk != NULL)
        take_chunk(s, nd, up->snapshot_chunk);
    if (up->snapshot_install != NULL) {
        s->installs++;
        if (nd->recv_size != up->snapshot_install->size)
            violate(s, "server %llu installs a snapshot it did not fully receive",
                    (unsigned long long)nd->id);
        else
            sm_load(s, nd, up->snapshot_install, nd->recv);
    }
    queue_persist(s, nd, up);
    if (up->compact_index != 0 && up->compact_index <= nd->snap.last_index)
        durable_compact(nd, up->compact_index);
    for (size_t i = 0; i < up->n_msgs; i++)
        net_send(s, nd, &up->msgs[i]);
    for (size_t i = 0; i < up->n_committed && !s->failed; i++)
        sm_apply(s, nd, &up->committed[i]);
    for (size_t i = 0; i < up->n_reads; i++)
        check_read(s, nd, &up->reads[i]);
    if (up->proposed.count > 0) {
        s->proposals_ok += up->proposed.count;
        s->proposed_index = up->proposed.first_index + up->proposed.count - 1;
        s->proposed_term = up->proposed.term;
    }
}

static int step(struct sim *s, struct node *nd, struct raft_event *ev)
{
    ASSERT(nd->up);
    ev->now_ms = s->now;
    struct raft_update up;
    int rc = raft_step(nd->r, ev, &up);
    s->steps++;
    uint64_t v[4] = {s->trace, nd->id, ev->type, s->now};
    s->trace = cairn_hash64(v, sizeof(v), (uint64_t)rc);
    absorb(s, nd, &up);
    return rc;
}

static void step_must(struct sim *s, struct node *nd, struct raft_event *ev,
                      const char *what)
{
    int rc = step(s, nd, ev);
    if (rc != 0)
        violate(s, "server %llu refused %s: %s", (unsigned long long)nd->id,
                what, cairn_errname(rc));
}

static void take_snapshot(struct sim *s, struct node *nd)
{
    struct raft_snapshot_meta meta;
    uint8_t *data = sm_save(s, nd, &meta);
    uint8_t *old = nd->snap_data;
    nd->snap = meta; /* durable at once in this model */
    nd->snap_jumped = nd->pend != NULL;
    nd->snap_data = data;
    nd->snap_applied = nd->applied;
    durable_compact(nd, meta.last_index);
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    ev.snapshot.meta = meta;
    ev.snapshot.data = data;
    step_must(s, nd, &ev, "a snapshot");
    free(old); /* the core has seen the new bytes: the old may go */
}

static void complete_persist(struct sim *s, struct node *nd)
{
    struct pending *p = nd->pend;
    nd->pend = p->next;
    bool installed = p->install;
    if (p->install) {
        log_drop_from(nd, 0);
        free(nd->snap_data);
        nd->snap = p->imeta;
        nd->snap_data = p->idata;
        p->idata = NULL;
    }
    if (p->truncate_from != 0) {
        size_t k = 0;
        while (k < nd->n_log && nd->log[k].index < p->truncate_from)
            k++;
        log_drop_from(nd, k);
    }
    for (size_t i = 0; i < p->n_entries; i++)
        durable_append(s, nd, &p->entries[i]);
    if (p->has_hs) {
        if (p->hs.term < nd->hs.term)
            violate(s, "server %llu persisted term %llu after %llu",
                    (unsigned long long)nd->id, (unsigned long long)p->hs.term,
                    (unsigned long long)nd->hs.term);
        nd->hs = p->hs;
    }
    pending_free(p);
    if (nd->pend == NULL)
        nd->snap_jumped = false;
    struct raft_event ev = {.type = RAFT_EV_PERSISTED};
    ev.persisted.hard_state = nd->hs;
    ev.persisted.last_index = durable_last_index(nd);
    ev.persisted.last_term = durable_last_term(nd);
    step_must(s, nd, &ev, "a persist completion");
    if (installed && nd->snap.last_index > 0) {
        /* Hand the installed bytes back so this server can serve them. */
        struct raft_event give = {.type = RAFT_EV_SNAPSHOT_TAKEN};
        give.snapshot.meta = nd->snap;
        give.snapshot.data = nd->snap_data;
        step_must(s, nd, &give, "the installed snapshot's bytes");
    }
}

static void deliver(struct sim *s, struct wire *w)
{
    struct node *nd = &s->nodes[w->to];
    if (!nd->up || !s->link[w->from][w->to])
        return;
    int rc = raft_codec_decode(w->bytes, w->len, &s->dec);
    if (rc != 0) {
        violate(s, "a frame the codec encoded does not decode: %s", cairn_errname(rc));
        return;
    }
    struct raft_event ev = {.type = RAFT_EV_MESSAGE};
    ev.message.msg = &s->dec.msg;
    s->delivered++;
    if (step(s, nd, &ev) != 0)
        s->msg_errors++;
}

/* ---- crashes and restarts ---- */

static bool install_pending(const struct node *nd)
{
    for (const struct pending *p = nd->pend; p != NULL; p = p->next)
        if (p->install)
            return true;
    return false;
}

static void crash(struct sim *s, struct node *nd)
{
    raft_destroy(nd->r);
    nd->r = NULL;
    nd->up = false;
    while (nd->pend != NULL) { /* writes not yet complete are lost */
        struct pending *p = nd->pend;
        nd->pend = p->next;
        pending_free(p);
    }
    free(nd->recv);
    nd->recv = NULL;
    nd->recv_size = 0;
    nd->snap_jumped = false;
    s->crashes++;
}

/* Starts server nd from its durable storage only. */
static void start(struct sim *s, struct node *nd)
{
    struct raft_config cfg = s->cfg;
    cfg.id = nd->id;
    cfg.seed = s->seed * 1000003u + nd->id * 101u + nd->restarts++;
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.hard_state = nd->hs;
    rs.snapshot = nd->snap;
    rs.entries = nd->log;
    rs.n_entries = nd->n_log;
    int rc = raft_create(&cfg, &rs, &nd->r);
    if (rc != 0) {
        violate(s, "server %llu cannot restart from its durable state: %s "
                "(term %llu, snapshot %llu/%llu with %u members, entries "
                "%llu/%llu..%llu/%llu)", (unsigned long long)nd->id,
                cairn_errname(rc), (unsigned long long)nd->hs.term,
                (unsigned long long)nd->snap.last_index,
                (unsigned long long)nd->snap.last_term, nd->snap.conf.n_members,
                nd->n_log ? (unsigned long long)nd->log[0].index : 0ull,
                nd->n_log ? (unsigned long long)nd->log[0].term : 0ull,
                nd->n_log ? (unsigned long long)nd->log[nd->n_log - 1].index : 0ull,
                nd->n_log ? (unsigned long long)nd->log[nd->n_log - 1].term : 0ull);
        return;
    }
    nd->up = true;
    nd->role = RAFT_FOLLOWER;
    nd->term = nd->hs.term;
    nd->commit = 0;
    nd->applied = 0;
    nd->chain = 0;
    nd->applied_term = 0;
    nd->sm_conf = nd->snap.conf;
    if (nd->snap.last_index > 0) {
        sm_load(s, nd, &nd->snap, nd->snap_data);
        struct raft_event give = {.type = RAFT_EV_SNAPSHOT_TAKEN};
        give.snapshot.meta = nd->snap;
        give.snapshot.data = nd->snap_data;
        step_must(s, nd, &give, "its durable snapshot");
    }
    nd->snap_applied = nd->applied;
    struct raft_event ev = {.type = RAFT_EV_TICK};
    step_must(s, nd, &ev, "the first tick");
}

/* ---- the cluster ---- */

static void sim_init(struct sim *s, uint64_t seed, bool verbose)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->verbose = verbose;
    cairn_rng_seed(&s->rng, seed);
    s->n_voters = pick(s, 2) ? 5 : 3;
    s->n = s->n_voters + (pick(s, 2) ? 1 : 0);
    static const uint32_t loss[] = {0, 0, 2, 10, 30};
    static const uint32_t delay[] = {1, 3, 10, 40};
    s->loss_pct = loss[pick(s, ARRAY_LEN(loss))];
    s->dup_pct = pick(s, 3) == 0 ? 0 : 1 + pick(s, 10);
    s->delay_max = delay[pick(s, ARRAY_LEN(delay))];
    static const uint32_t persist[] = {0, 5, 30, 80};
    s->persist_delay_max = persist[pick(s, ARRAY_LEN(persist))];
    s->crash_pm = pick(s, 3) == 0 ? 0 : 1 + pick(s, 5);
    s->restart_pm = 5 + pick(s, 50);
    s->partition_pm = pick(s, 3) == 0 ? 0 : 1 + pick(s, 8);
    s->propose_pct = 2 + pick(s, 30);
    s->change_pm = pick(s, 2) == 0 ? 0 : 1 + pick(s, 10);
    s->transfer_pm = pick(s, 2) == 0 ? 0 : 1 + pick(s, 3);
    s->snap_every = pick(s, 4) == 0 ? 0 : 1 + pick(s, 20);
    s->snap_pad = pick(s, 200);

    struct raft_config *c = &s->cfg;
    raft_config_default(c, 1, 42, seed);
    c->election_timeout_ms_min = 150;
    c->election_timeout_ms_max = 300;
    c->heartbeat_interval_ms = 30;
    c->prevote = pick(s, 4) != 0;
    c->check_quorum = pick(s, 4) != 0;
    c->lease_reads = pick(s, 2); /* the core must refuse leases without check_quorum */
    c->inflight_msgs_max = 1 + pick(s, 8);
    c->inflight_bytes_max = 64 + pick(s, 4096);
    /* One-entry appends let a follower hold an old-term entry without the
     * new leader's no-op: the Figure 8 situation. */
    c->append_bytes_max = pick(s, 4) == 0 ? 1 : 16 + pick(s, 256);
    c->snapshot_trailing_entries = pick(s, 10);
    c->snapshot_chunk_size = 8 + pick(s, 64);

    for (uint32_t a = 0; a < s->n; a++)
        for (uint32_t b = 0; b < s->n; b++)
            s->link[a][b] = true;
    for (uint32_t i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        nd->id = i + 1;
        if (i < s->n_voters) { /* founders; a later joiner starts empty */
            nd->snap.conf.n_members = s->n_voters;
            for (uint32_t k = 0; k < s->n_voters; k++)
                nd->snap.conf.members[k] = (struct raft_member){k + 1, RAFT_VOTER};
        }
        start(s, nd);
    }
}

static void sim_free(struct sim *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        if (nd->up)
            crash(s, nd);
        log_drop_from(nd, 0);
        free(nd->log);
        free(nd->snap_data);
    }
    while (s->net_head != NULL) {
        struct wire *w = s->net_head;
        s->net_head = w->next;
        free(w);
    }
    free(s->leader_of_term);
    free(s->ap);
}

/* Processes everything due at s->now; returns false on a livelock. */
static bool run_due(struct sim *s)
{
    for (int round = 0; round < STEPS_PER_MS_MAX; round++) {
        bool any = false;
        for (uint32_t i = 0; i < s->n && !s->failed; i++)
            while (s->nodes[i].up && s->nodes[i].pend != NULL &&
                   s->nodes[i].pend->due <= s->now && !s->failed) {
                complete_persist(s, &s->nodes[i]);
                any = true;
            }
        struct wire **pp = &s->net_head, *prev = NULL;
        while (*pp != NULL && !s->failed) {
            struct wire *w = *pp;
            if (w->due > s->now) {
                prev = w;
                pp = &w->next;
                continue;
            }
            *pp = w->next;
            if (s->net_tail == w)
                s->net_tail = prev;
            deliver(s, w); /* may append new wires, all due later */
            free(w);
            any = true;
        }
        for (uint32_t i = 0; i < s->n && !s->failed; i++) {
            struct node *nd = &s->nodes[i];
            if (!nd->up)
                continue;
            if (s->snap_every > 0 && nd->applied > 0 &&
                nd->applied >= nd->snap_applied + s->snap_every) {
                take_snapshot(s, nd);
                any = true;
            }
            if (!nd->up || nd->deadline > s->now || s->failed)
                continue;
            any = true;
            struct raft_event ev = {.type = RAFT_EV_TICK};
            step_must(s, nd, &ev, "a tick");
        }
        if (!any || s->failed)
            return true;
    }
    return false;
}

/* ---- faults and client operations ---- */

static struct node *leader(struct sim *s)
{
    struct node *best = NULL;
    for (uint32_t i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        if (nd->up && nd->role == RAFT_LEADER && (best == NULL || nd->term > best->term))
            best = nd;
    }
    return best;
}

static void partition(struct sim *s)
{
    uint32_t a = pick(s, s->n), b = pick(s, s->n);
    switch (pick(s, 4)) {
    case 0: /* heal */
        for (uint32_t x = 0; x < s->n; x++)
            for (uint32_t y = 0; y < s->n; y++)
                s->link[x][y] = true;
        break;
    case 1: /* isolate a */
        for (uint32_t x = 0; x < s->n; x++)
            s->link[a][x] = s->link[x][a] = false;
        break;
    case 2: { /* split in two random sides */
        uint32_t mask = pick(s, 1u << s->n);
        for (uint32_t x = 0; x < s->n; x++)
            for (uint32_t y = 0; y < s->n; y++)
                s->link[x][y] = ((mask >> x) & 1) == ((mask >> y) & 1);
        break;
    }
    default: /* one way only */
        s->link[a][b] = false;
        break;
    }
}

static void propose(struct sim *s, struct node *nd, uint32_t n)
{
    uint64_t vals[4];
    struct raft_buf bufs[4];
    ASSERT(n <= ARRAY_LEN(bufs));
    for (uint32_t k = 0; k < n; k++) {
        vals[k] = ++s->value;
        bufs[k] = (struct raft_buf){&vals[k], sizeof(vals[k])};
    }
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = bufs;
    ev.propose.n = n;
    step(s, nd, &ev);
}

/* One server at a time: add a learner, promote it, or remove a member,
 * keeping at least two voters. */
static void change(struct sim *s, struct node *l)
{
    struct raft_status st;
    raft_status_get(l->r, &st);
    uint32_t voters = 0;
    for (uint32_t k = 0; k < st.conf.n_members; k++)
        voters += st.conf.members[k].role == RAFT_VOTER;
    uint64_t id = 1 + pick(s, s->n);
    const struct raft_member *m = raft_conf_find(&st.conf, id);
    struct raft_event ev = {.type = RAFT_EV_MEMBERSHIP};
    ev.change.id = id;
    if (m == NULL)
        ev.change.op = RAFT_CHANGE_ADD_LEARNER;
    else if (m->role == RAFT_LEARNER)
        ev.change.op = pick(s, 3) ? RAFT_CHANGE_PROMOTE : RAFT_CHANGE_REMOVE;
    else if (voters > 2)
        ev.change.op = RAFT_CHANGE_REMOVE;
    else
        return;
    if (step(s, l, &ev) == 0)
        s->changes_ok++;
}

/* Clients wait for answers: once a server holds UNCOMMITTED_MAX entries
 * it has not committed, no more are proposed to it.  (The core itself
 * does not bound its uncommitted tail; with one-entry appends and slow
 * disks an unbounded backlog takes longer to replicate than the liveness
 * bound allows.) */
static bool backlogged(const struct node *nd)
{
    struct raft_status st;
    raft_status_get(nd->r, &st);
    return st.last_index > st.commit_index + UNCOMMITTED_MAX;
}

static void chaos(struct sim *s)
{
    if (chance_pm(s, s->crash_pm)) {
        /* Leaders crash more often than others: that is where the
         * durability rules matter most. */
        struct node *nd = leader(s);
        if (nd == NULL || pick(s, 2))
            nd = &s->nodes[pick(s, s->n)];
        if (nd->up)
            crash(s, nd);
    }
    for (uint32_t i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        if (!nd->up && chance_pm(s, s->restart_pm))
            start(s, nd);
        else if (nd->up && s->crash_pm > 0 &&
                 (install_pending(nd) || nd->snap_jumped) && chance_pm(s, 100))
            crash(s, nd); /* the worst moments: an install not yet durable,
                           * a snapshot written ahead of queued log writes */
    }
    if (chance_pm(s, s->partition_pm))
        partition(s);
    struct node *nd = &s->nodes[pick(s, s->n)];
    if (nd->up && chance_pct(s, s->propose_pct) && !backlogged(nd))
        propose(s, nd, 1 + pick(s, 3));
    struct node *l = leader(s);
    if (l != NULL && chance_pm(s, s->change_pm))
        change(s, l);
    if (l != NULL && l->up && chance_pm(s, s->transfer_pm)) {
        struct raft_event ev = {.type = RAFT_EV_TRANSFER};
        ev.transfer.target_id = pick(s, 2) ? 0 : 1 + pick(s, s->n);
        step(s, l, &ev);
    }
    nd = &s->nodes[pick(s, s->n)];
    if (nd->up && chance_pm(s, 100)) {
        struct raft_event ev = {.type = RAFT_EV_READ};
        ev.read.request_id = ++s->read_seq;
        s->reads[s->read_seq % READS_TRACKED] =
            (struct read_rec){s->read_seq, s->ap_max};
        ev.read.mode = pick(s, 2) ? RAFT_READ_INDEX : RAFT_READ_LEASE;
        step(s, nd, &ev);
    }
}

static bool tick_ms(struct sim *s)
{
    s->now++;
    if (!run_due(s)) {
        violate(s, "livelock: more than %d rounds of work in one ms", STEPS_PER_MS_MAX);
        return false;
    }
    return !s->failed;
}

/* Heals everything and demands a leader and a newly committed entry
 * within LIVENESS_MS of simulated time. */
static void liveness(struct sim *s)
{
    s->loss_pct = 0;
    s->dup_pct = 0;
    for (uint32_t a = 0; a < s->n; a++)
        for (uint32_t b = 0; b < s->n; b++)
            s->link[a][b] = true;
    for (uint32_t i = 0; i < s->n; i++)
        if (!s->nodes[i].up)
            start(s, &s->nodes[i]);
    uint64_t want_index = 0, want_term = 0, deadline = s->now + LIVENESS_MS;
    while (s->now < deadline && tick_ms(s)) {
        if (want_index != 0 && s->ap_max >= want_index && s->ap[want_index].set) {
            if (s->ap[want_index].term == want_term)
                return; /* our entry was committed and applied */
            want_index = 0; /* overwritten: propose again */
        }
        struct node *l = leader(s);
        if (l == NULL || (want_index != 0 && l->term == want_term))
            continue;
        s->proposed_index = 0;
        propose(s, l, 1);
        if (s->proposed_index != 0) {
            want_index = s->proposed_index;
            want_term = s->proposed_term;
        }
    }
    if (!s->failed) {
        struct node *l = leader(s);
        violate(s, "no progress %d ms after healing: leader %llu, proposal %llu "
                "in term %llu", LIVENESS_MS, l ? (unsigned long long)l->id : 0ull,
                (unsigned long long)want_index, (unsigned long long)want_term);
    }
}

/* Runs one seed; returns true if every check held. */
static bool run_seed(uint64_t seed, bool verbose, struct sim *s, uint64_t *trace)
{
    sim_init(s, seed, verbose);
    while (s->now < CHAOS_MS && !s->failed) {
        chaos(s);
        if (!tick_ms(s))
            break;
    }
    if (!s->failed)
        liveness(s);
    if (verbose || s->failed)
        fprintf(stderr, "seed %llu: %u servers (%u voters), loss %u%% dup %u%% "
                "delay<=%u persist<=%u crash %u/1000 partition %u/1000 "
                "snapshot every %u; %llu steps, %llu msgs, %llu crashes, "
                "%llu installs, %llu entries proposed, %llu changes, "
                "%llu refused msgs, %llu reads, applied up to %llu\n",
                (unsigned long long)seed, s->n, s->n_voters, s->loss_pct,
                s->dup_pct, s->delay_max, s->persist_delay_max, s->crash_pm,
                s->partition_pm, s->snap_every, (unsigned long long)s->steps,
                (unsigned long long)s->delivered, (unsigned long long)s->crashes,
                (unsigned long long)s->installs,
                (unsigned long long)s->proposals_ok,
                (unsigned long long)s->changes_ok,
                (unsigned long long)s->msg_errors, (unsigned long long)s->reads_ok,
                (unsigned long long)s->ap_max);
    bool ok = !s->failed;
    if (!ok)
        fprintf(stderr, "RAFT SAFETY/LIVENESS FAILURE, seed %llu: %s\n"
                "  replay: CAIRN_TEST_SEED=%llu ./test_raft_random\n",
                (unsigned long long)seed, s->violation, (unsigned long long)seed);
    *trace = s->trace;
    sim_free(s);
    return ok;
}

static void random_seeds_keep_raft_safe(void **state)
{
    (void)state;
    static struct sim s;
    uint64_t trace, trace2;
    const char *one = getenv("CAIRN_TEST_SEED");
    if (one != NULL) {
        uint64_t seed = strtoull(one, NULL, 0);
        if (!run_seed(seed, true, &s, &trace))
            fail_msg("seed %llu failed", (unsigned long long)seed);
        return;
    }
    const char *n_env = getenv("CAIRN_RAFT_SEEDS");
    uint64_t n = n_env != NULL ? strtoull(n_env, NULL, 0) : 200;
    uint64_t failed = 0, first_failed = 0, steps = 0, applied = 0;
    for (uint64_t seed = 1; seed <= n; seed++) {
        if (!run_seed(seed, false, &s, &trace)) {
            if (failed++ == 0)
                first_failed = seed;
            continue;
        }
        steps += s.steps;
        applied += s.ap_max;
        if (seed % 25 == 0) { /* a seed must replay the same run */
            ASSERT(run_seed(seed, false, &s, &trace2));
            if (trace != trace2)
                fail_msg("seed %llu is not deterministic", (unsigned long long)seed);
        }
    }
    fprintf(stderr, "%llu seeds: %llu failed, %llu steps, %llu entries applied "
            "(highest index per seed, summed)\n", (unsigned long long)n,
            (unsigned long long)failed, (unsigned long long)steps,
            (unsigned long long)applied);
    if (failed > 0)
        fail_msg("%llu of %llu seeds failed; first: CAIRN_TEST_SEED=%llu",
                 (unsigned long long)failed, (unsigned long long)n,
                 (unsigned long long)first_failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_seeds_keep_raft_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
