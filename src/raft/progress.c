/*
 * progress.c: what the leader knows about each member's log, and quorums.
 *
 * One struct raft_progress per member of the latest configuration (the
 * leader's own slot included; its match is its durable log end), in stable
 * slots: a member keeps its slot (and its part of the in-flight pool) while
 * it stays in the configuration.  A
 * follower's progress is in one of three states (§5.3 with etcd's
 * refinement): PROBE sends one append at a time until the match is found,
 * REPLICATE pipelines appends while the in-flight window (a ring bounded by
 * inflight_msgs_max messages and inflight_bytes_max bytes) has room, and
 * SNAPSHOT streams a snapshot in chunks.
 *
 * Invariants: match < next; infl_count <= infl_cap; the window's last
 * indexes increase; infl_bytes is the sum of the ring.  Quorum maths count
 * voters of the latest configuration only (§4.1 of the thesis: a server
 * uses the newest configuration in its log, committed or not).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "raft/raft_int.h"

bool raft_is_voter(const struct raft_conf *conf, uint64_t id)
{
    const struct raft_member *m = raft_conf_find(conf, id);
    return m != NULL && m->role == RAFT_VOTER;
}

uint32_t raft_voter_count(const struct raft_conf *conf)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < conf->n_members; i++)
        n += conf->members[i].role == RAFT_VOTER;
    return n;
}

struct raft_progress *raft_progress_find(struct raft *r, uint64_t id)
{
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++)
        if (r->prs[i].used && r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

void raft_progress_infl_clear(struct raft_progress *pr)
{
    pr->infl_head = 0;
    pr->infl_count = 0;
    pr->infl_bytes = 0;
}

void raft_progress_become_probe(struct raft_progress *pr)
{
    pr->state = RAFT_PROGRESS_PROBE;
    pr->next = pr->match + 1;
    pr->probe_sent = false;
    raft_progress_infl_clear(pr);
}

void raft_progress_become_replicate(struct raft_progress *pr)
{
    pr->state = RAFT_PROGRESS_REPLICATE;
    pr->next = pr->match + 1;
    pr->probe_sent = false;
    raft_progress_infl_clear(pr);
}

void raft_progress_become_snapshot(struct raft_progress *pr, uint64_t index)
{
    pr->state = RAFT_PROGRESS_SNAPSHOT;
    pr->snap_index = index;
    pr->snap_offset = 0;
    pr->snap_sent_ms = 0;
    raft_progress_infl_clear(pr);
}

static void progress_init(struct raft *r, struct raft_progress *pr,
                          const struct raft_member *m)
{
    struct raft_inflight *infl = pr->infl;
    uint32_t cap = pr->infl_cap;
    memset(pr, 0, sizeof(*pr));
    pr->infl = infl;
    pr->infl_cap = cap;
    pr->used = true;
    pr->id = m->id;
    pr->voter = m->role == RAFT_VOTER;
    pr->match = 0;
    pr->next = raft_log_last_index(&r->log) + 1;
    pr->state = RAFT_PROGRESS_PROBE;
    pr->recent_active = true;
}

int raft_progress_sync(struct raft *r)
{
    /* Slots are stable (each owns a fixed part of the in-flight pool), so a
     * member keeps its state across changes of the configuration. */
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct raft_progress *pr = &r->prs[i];
        if (!pr->used)
            continue;
        const struct raft_member *m = raft_conf_find(&r->conf, pr->id);
        if (m == NULL)
            pr->used = false;
        else
            pr->voter = m->role == RAFT_VOTER;
    }
    for (uint32_t i = 0; i < r->conf.n_members; i++) {
        const struct raft_member *m = &r->conf.members[i];
        if (raft_progress_find(r, m->id) != NULL)
            continue;
        uint32_t slot = 0;
        while (slot < RAFT_MEMBERS_MAX && r->prs[slot].used)
            slot++;
        ASSERT(slot < RAFT_MEMBERS_MAX); /* conf holds at most that many */
        progress_init(r, &r->prs[slot], m);
        if (m->id == r->cfg.id)
            r->prs[slot].match = raft_self_match(r);
    }
    return 0;
}

void raft_progress_reset_all(struct raft *r)
{
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct raft_progress *pr = &r->prs[i];
        if (!pr->used)
            continue;
        const struct raft_member *m = raft_conf_find(&r->conf, pr->id);
        ASSERT(m != NULL);
        progress_init(r, pr, m);
        if (pr->id == r->cfg.id) {
            pr->match = raft_self_match(r);
            pr->next = raft_log_last_index(&r->log) + 1;
        }
    }
}

bool raft_progress_window_full(const struct raft *r,
                               const struct raft_progress *pr)
{
    if (pr->infl_count >= pr->infl_cap)
        return true;
    return pr->infl_bytes >= r->cfg.inflight_bytes_max;
}

void raft_progress_infl_add(struct raft_progress *pr, uint64_t last,
                            uint64_t bytes)
{
    ASSERT(pr->infl_count < pr->infl_cap);
    uint32_t slot = (pr->infl_head + pr->infl_count) % pr->infl_cap;
    if (pr->infl_count > 0) {
        uint32_t prev = (slot + pr->infl_cap - 1) % pr->infl_cap;
        ASSERT(pr->infl[prev].last_index < last);
    }
    pr->infl[slot].last_index = last;
    pr->infl[slot].bytes = bytes;
    pr->infl_count++;
    pr->infl_bytes += bytes;
}

void raft_progress_infl_free_to(struct raft_progress *pr, uint64_t index)
{
    while (pr->infl_count > 0 &&
           pr->infl[pr->infl_head].last_index <= index) {
        pr->infl_bytes -= pr->infl[pr->infl_head].bytes;
        pr->infl_head = (pr->infl_head + 1) % pr->infl_cap;
        pr->infl_count--;
    }
}

uint64_t raft_self_match(const struct raft *r)
{
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 2
    /* MUTANT 2: count our own append before it is durable (ack before
     * fsync): a crash can lose an entry a client saw committed. */
    return raft_log_last_index(&r->log);
#else
    /* The leader counts toward a quorum only what RAFT_EV_PERSISTED said is
     * durable (the durability contract). */
    return CAIRN_MIN(r->persisted_index, raft_log_last_index(&r->log));
#endif
}

/* Sorts v[0..n) descending (n <= RAFT_MEMBERS_MAX: insertion sort). */
static void sort_desc(uint64_t *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        uint32_t j = i;
        while (j > 0 && v[j - 1] < x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static uint64_t quorum_of(const struct raft *r, bool hb)
{
    uint64_t v[RAFT_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        const struct raft_progress *pr = &r->prs[i];
        if (!pr->used || !pr->voter)
            continue;
        if (pr->id == r->cfg.id)
            v[n++] = hb ? r->hb_ctx : raft_self_match(r);
        else
            v[n++] = hb ? pr->hb_acked_ctx : pr->match;
    }
    if (n == 0)
        return 0;
    sort_desc(v, n);
    return v[n / 2]; /* the (n/2+1)-th highest: held by a majority */
}

uint64_t raft_quorum_match(const struct raft *r)
{
    return quorum_of(r, false);
}

uint64_t raft_quorum_hb_ctx(const struct raft *r)
{
    return quorum_of(r, true);
}
