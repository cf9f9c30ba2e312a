/*
 * raft_harness.c: the deterministic in-process cluster; see raft_harness.h.
 *
 * Uses libc malloc (not cairn_malloc) so that allocation fault injection in
 * a test hits only the Raft core, never the harness.  Failures of the
 * harness itself abort: it is test code.
 */
#include "raft_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/hash.h"

struct rh_pending_persist {
    struct rh_pending_persist *next;
    uint64_t due_ms;
    bool has_install;
    struct raft_snapshot_meta install;
    uint8_t *install_data;
    uint64_t truncate_from;
    struct raft_entry *entries; /* own copies */
    size_t n_entries;
    bool has_hs;
    struct raft_hard_state hs;
    uint64_t compact_index;
};

/* Node flags kept outside the public struct. */
#define RH_SNAP_TAKE 1u
#define RH_SNAP_GIVE_BACK 2u

struct rh_wire {
    struct rh_wire *next;
    uint64_t due_ms;
    uint64_t seq;
    uint32_t to;
    struct raft_msg msg; /* entries and data point into own copies */
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

static void trace(struct rh *c, uint64_t a, uint64_t b)
{
    uint64_t v[3] = {c->trace_hash, a, b};
    c->trace_hash = cairn_hash64(v, sizeof(v), 7);
}

static void violate(struct rh *c, const char *fmt, uint64_t a, uint64_t b,
                    uint64_t d)
{
    if (c->violation != NULL)
        return;
    snprintf(c->violation_buf, sizeof(c->violation_buf), fmt,
             (unsigned long long)a, (unsigned long long)b,
             (unsigned long long)d);
    c->violation = c->violation_buf;
}

static uint32_t node_index(const struct rh *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->nodes[i].id == id)
            return i;
    return UINT32_MAX;
}

void rh_opts_default(struct rh_opts *o, uint32_t n_voters, uint64_t seed)
{
    memset(o, 0, sizeof(*o));
    o->n_nodes = n_voters;
    o->n_voters = n_voters;
    o->seed = seed;
    o->net_delay_ms_min = 1;
    o->net_delay_ms_max = 5;
    o->persist_delay_ms = 0;
    raft_config_default(&o->cfg, 1, 77, seed);
    o->cfg.election_timeout_ms_min = 150;
    o->cfg.election_timeout_ms_max = 300;
    o->cfg.heartbeat_interval_ms = 30;
    o->cfg.snapshot_trailing_entries = 16;
    o->cfg.snapshot_chunk_size = 64;
    o->cfg.inflight_msgs_max = 8;
    o->cfg.append_bytes_max = 256;
}

/* ---- entries ---- */

static void entries_copy(struct raft_entry *dst, const struct raft_entry *src,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].data = xdup(src[i].data, src[i].len);
    }
}

static void entries_free(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)e[i].data);
}

/* ---- durable storage ---- */

static uint64_t durable_last_index(const struct rh_node *nd)
{
    return nd->n_log > 0 ? nd->log[nd->n_log - 1].index : nd->snap.last_index;
}

static uint64_t durable_last_term(const struct rh_node *nd)
{
    return nd->n_log > 0 ? nd->log[nd->n_log - 1].term : nd->snap.last_term;
}

static void durable_truncate(struct rh_node *nd, uint64_t from)
{
    while (nd->n_log > 0 && nd->log[nd->n_log - 1].index >= from) {
        nd->n_log--;
        free((void *)nd->log[nd->n_log].data);
    }
}

static void durable_append(struct rh_node *nd, const struct raft_entry *e)
{
    if (nd->n_log > 0 && e->index > durable_last_index(nd) + 1 &&
        e->index <= nd->snap.last_index + 1) {
        /* A gap the snapshot covers: snapshots are taken from applied
         * entries that may not be durable yet, and a crash can drop those
         * writes.  Everything before e is inside the snapshot. */
        entries_free(nd->log, nd->n_log);
        nd->n_log = 0;
    }
    ASSERT(e->index == durable_last_index(nd) + 1 || nd->n_log == 0);
    if (nd->n_log == nd->cap_log) {
        nd->cap_log = nd->cap_log == 0 ? 64 : nd->cap_log * 2;
        nd->log = realloc(nd->log, nd->cap_log * sizeof(*nd->log));
        ASSERT(nd->log != NULL);
    }
    entries_copy(&nd->log[nd->n_log++], e, 1);
}

static void durable_compact(struct rh_node *nd, uint64_t upto)
{
    size_t drop = 0;
    while (drop < nd->n_log && nd->log[drop].index <= upto)
        drop++;
    if (drop == 0)
        return;
    entries_free(nd->log, drop);
    memmove(nd->log, nd->log + drop, (nd->n_log - drop) * sizeof(*nd->log));
    nd->n_log -= drop;
}

static void persist_free(struct rh_pending_persist *p)
{
    entries_free(p->entries, p->n_entries);
    free(p->entries);
    free(p->install_data);
    free(p);
}

static void persist_apply(struct rh_node *nd, struct rh_pending_persist *p)
{
    if (p->has_install) {
        entries_free(nd->log, nd->n_log);
        nd->n_log = 0;
        /* A snapshot taken since (of entries applied after the install)
         * is newer: keep it. */
        if (p->install.last_index > nd->snap.last_index) {
            free(nd->snap_data);
            nd->snap = p->install;
            nd->snap_data = p->install_data;
            p->install_data = NULL;
        }
    }
    if (p->truncate_from != 0)
        durable_truncate(nd, p->truncate_from);
    for (size_t i = 0; i < p->n_entries; i++) {
        if (nd->n_log > 0 || p->entries[i].index > nd->snap.last_index) {
            if (nd->n_log == 0 &&
                p->entries[i].index != nd->snap.last_index + 1)
                continue; /* entries the snapshot already covers */
            durable_append(nd, &p->entries[i]);
        }
    }
    if (p->has_hs)
        nd->hs = p->hs;
    if (p->compact_index != 0)
        durable_compact(nd, p->compact_index);
}

/* ---- state machine ---- */

#define SNAP_HDR 32u

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void hash_at_check(struct rh *c, uint64_t index, uint64_t hash,
                          uint64_t id)
{
    if (index >= c->hash_cap) {
        size_t cap = c->hash_cap == 0 ? 1024 : c->hash_cap;
        while (cap <= index)
            cap *= 2;
        c->hash_at = realloc(c->hash_at, cap * sizeof(*c->hash_at));
        ASSERT(c->hash_at != NULL);
        memset(c->hash_at + c->hash_cap, 0,
               (cap - c->hash_cap) * sizeof(*c->hash_at));
        c->hash_cap = cap;
    }
    if (c->hash_at[index] == 0)
        c->hash_at[index] = hash;
    else if (c->hash_at[index] != hash)
        violate(c, "state machine safety: server %llu applied a different "
                "history at index %llu (%llu)", id, index, 0);
}

static void serve_reads(struct rh *c, struct rh_node *nd)
{
    for (size_t i = 0; i < nd->n_reads; i++) {
        struct rh_read *rd = &nd->reads[i];
        if (rd->answered && !rd->served && rd->status == 0 &&
            nd->applied >= rd->index) {
            rd->served = true;
            rd->value = nd->reg;
            if (c->o.check_stale_reads && rd->value < rd->floor)
                violate(c, "stale read on server %llu: %llu, %llu was "
                        "committed before", nd->id, rd->value, rd->floor);
        }
    }
}

/* The highest value applied anywhere: committed, since only committed
 * entries are applied. */
static uint64_t committed_floor(const struct rh *c)
{
    uint64_t f = 0;
    for (uint32_t i = 0; i < c->n; i++)
        f = CAIRN_MAX(f, c->nodes[i].reg);
    return f;
}

static void sm_apply(struct rh *c, struct rh_node *nd, const struct raft_entry *e)
{
    if (e->index != nd->applied + 1)
        violate(c, "server %llu applied index %llu after %llu", nd->id,
                e->index, nd->applied);
    uint64_t v[4] = {nd->hash, e->index, e->term, e->type};
    uint64_t h = cairn_hash64(v, sizeof(v), 1);
    if (e->len > 0)
        h = cairn_hash64(e->data, e->len, h);
    nd->hash = h;
    nd->applied = e->index;
    nd->applied_term = e->term;
    if (e->type == RAFT_ENTRY_NORMAL && e->len == 8)
        nd->reg = get64(e->data);
    if (e->type == RAFT_ENTRY_CONFIG)
        ASSERT(raft_conf_decode(e->data, e->len, &nd->sm_conf) == 0);
    hash_at_check(c, e->index, h, nd->id);
}

static void sm_load(struct rh *c, struct rh_node *nd,
                    const struct raft_snapshot_meta *meta, const uint8_t *data)
{
    ASSERT(meta->size >= SNAP_HDR);
    nd->applied = get64(data);
    nd->applied_term = get64(data + 8);
    nd->reg = get64(data + 16);
    nd->hash = get64(data + 24);
    nd->sm_conf = meta->conf;
    if (nd->applied != meta->last_index || nd->applied_term != meta->last_term)
        violate(c, "server %llu: snapshot header %llu != meta %llu", nd->id,
                nd->applied, meta->last_index);
    nd->last_snap_applied = nd->applied;
    if (nd->applied > 0)
        hash_at_check(c, nd->applied, nd->hash, nd->id);
}

static uint8_t *sm_save(const struct rh *c, const struct rh_node *nd,
                        struct raft_snapshot_meta *meta)
{
    size_t size = SNAP_HDR + c->o.snapshot_pad;
    uint8_t *data = xcalloc(1, size);
    put64(data, nd->applied);
    put64(data + 8, nd->applied_term);
    put64(data + 16, nd->reg);
    put64(data + 24, nd->hash);
    for (size_t i = SNAP_HDR; i < size; i++)
        data[i] = (uint8_t)(i * 31 + nd->applied);
    memset(meta, 0, sizeof(*meta));
    meta->last_index = nd->applied;
    meta->last_term = nd->applied_term;
    meta->conf = nd->sm_conf;
    meta->size = size;
    return data;
}

/* ---- network ---- */

static void wire_free(struct rh_wire *w)
{
    if (w->msg.type == RAFT_MSG_APPEND) {
        entries_free((struct raft_entry *)w->msg.append.entries,
                     w->msg.append.n_entries);
        free((void *)w->msg.append.entries);
    }
    if (w->msg.type == RAFT_MSG_SNAPSHOT)
        free((void *)w->msg.snapshot.data);
    free(w);
}

static void net_send(struct rh *c, uint32_t from, const struct raft_msg *m)
{
    uint32_t to = node_index(c, m->to);
    if (to == UINT32_MAX || !c->link[from][to])
        return;
    if (c->o.net_loss_pct > 0 &&
        cairn_rng_chance(&c->rng, c->o.net_loss_pct, 100))
        return;
    struct rh_wire *w = xcalloc(1, sizeof(*w));
    w->msg = *m;
    w->to = to;
    w->seq = c->net_seq++;
    w->due_ms = c->now + cairn_rng_range(&c->rng, c->o.net_delay_ms_min,
                                         c->o.net_delay_ms_max);
    if (m->type == RAFT_MSG_APPEND && m->append.n_entries > 0) {
        struct raft_entry *e = xcalloc(m->append.n_entries, sizeof(*e));
        entries_copy(e, m->append.entries, m->append.n_entries);
        w->msg.append.entries = e;
    }
    if (m->type == RAFT_MSG_SNAPSHOT)
        w->msg.snapshot.data = xdup(m->snapshot.data, m->snapshot.len);
    /* Keep the queue sorted by (due, seq): insert from the tail. */
    struct rh_wire **pp = &c->net_head;
    while (*pp != NULL && ((*pp)->due_ms < w->due_ms ||
                           ((*pp)->due_ms == w->due_ms && (*pp)->seq < w->seq)))
        pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
    c->net_len++;
}

/* ---- handling updates ---- */

/* The record of request id on nd: the one made when it was issued, or a
 * new one (answers to requests the harness did not issue still count). */
static struct rh_read *read_slot(struct rh_node *nd, uint64_t id)
{
    for (size_t k = 0; k < nd->n_reads; k++)
        if (nd->reads[k].request_id == id)
            return &nd->reads[k];
    if (nd->n_reads >= RH_READS_MAX)
        return NULL;
    struct rh_read *rd = &nd->reads[nd->n_reads++];
    memset(rd, 0, sizeof(*rd));
    rd->request_id = id;
    return rd;
}

static void check_leader(struct rh *c, struct rh_node *nd,
                         const struct raft_update *up)
{
    if (up->role != RAFT_LEADER)
        return;
    if (up->term >= c->leader_cap) {
        size_t cap = c->leader_cap == 0 ? 64 : c->leader_cap;
        while (cap <= up->term)
            cap *= 2;
        c->leader_of_term = realloc(c->leader_of_term, cap * sizeof(uint64_t));
        ASSERT(c->leader_of_term != NULL);
        memset(c->leader_of_term + c->leader_cap, 0,
               (cap - c->leader_cap) * sizeof(uint64_t));
        c->leader_cap = cap;
    }
    uint64_t *l = &c->leader_of_term[up->term];
    if (*l == 0)
        *l = nd->id;
    else if (*l != nd->id)
        violate(c, "election safety: leaders %llu and %llu in term %llu", *l,
                nd->id, up->term);
}

static void queue_persist(struct rh *c, struct rh_node *nd,
                          const struct raft_update *up)
{
    if (up->snapshot_install == NULL && up->truncate_from == 0 &&
        up->n_entries == 0 && !up->has_hard_state && up->compact_index == 0)
        return;
    struct rh_pending_persist *p = xcalloc(1, sizeof(*p));
    p->due_ms = c->now + c->o.persist_delay_ms;
    if (up->snapshot_install != NULL) {
        p->has_install = true;
        p->install = *up->snapshot_install;
        p->install_data = xdup(nd->recv_buf, p->install.size);
    }
    p->truncate_from = up->truncate_from;
    p->n_entries = up->n_entries;
    p->entries = xcalloc(up->n_entries, sizeof(*p->entries));
    entries_copy(p->entries, up->entries, up->n_entries);
    p->has_hs = up->has_hard_state;
    p->hs = up->hard_state;
    p->compact_index = up->compact_index;
    struct rh_pending_persist **pp = &nd->pending;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = p;
}

static void take_chunk(struct rh_node *nd, const struct raft_snapshot_chunk *ch)
{
    if (nd->recv_size != ch->meta.size) {
        free(nd->recv_buf);
        nd->recv_buf = xcalloc(1, ch->meta.size);
        nd->recv_size = ch->meta.size;
    }
    ASSERT(ch->offset + ch->len <= nd->recv_size);
    if (ch->len > 0)
        memcpy(nd->recv_buf + ch->offset, ch->data, ch->len);
}

static void handle_update(struct rh *c, uint32_t i, const struct raft_update *up)
{
    struct rh_node *nd = &c->nodes[i];
    check_leader(c, nd, up);
    if (up->term < nd->term || (up->term == nd->term && up->commit_index < nd->commit))
        violate(c, "server %llu went back: term %llu commit %llu", nd->id,
                up->term, up->commit_index);
    nd->role = up->role;
    nd->leader_id = up->leader_id;
    nd->term = up->term;
    nd->commit = up->commit_index;
    nd->deadline_ms = up->deadline_ms;
    if (up->proposed.count > 0)
        nd->last_proposed = up->proposed.first_index;
    if (up->snapshot_chunk != NULL) {
        take_chunk(nd, up->snapshot_chunk);
        nd->chunks_received++;
    }
    if (up->snapshot_install != NULL) {
        sm_load(c, nd, up->snapshot_install, nd->recv_buf);
        nd->installs++;
    }
    queue_persist(c, nd, up);
    for (size_t k = 0; k < up->n_msgs; k++)
        net_send(c, i, &up->msgs[k]);
    for (size_t k = 0; k < up->n_committed; k++)
        sm_apply(c, nd, &up->committed[k]);
    for (size_t k = 0; k < up->n_reads; k++) {
        struct rh_read *rd = read_slot(nd, up->reads[k].request_id);
        if (rd == NULL)
            continue;
        rd->status = up->reads[k].status;
        rd->index = up->reads[k].index;
        rd->answered = true;
    }
    serve_reads(c, nd);
    if (c->o.snapshot_every > 0 &&
        nd->applied >= nd->last_snap_applied + c->o.snapshot_every)
        nd->deadline_ms = c->now; /* take it from the loop, not from here */
}

int rh_step(struct rh *c, uint32_t i, struct raft_event *ev)
{
    struct rh_node *nd = &c->nodes[i];
    ASSERT(nd->up);
    ev->now_ms = c->now;
    struct raft_update up;
    int rc = raft_step(nd->r, ev, &up);
    nd->last_rc = rc;
    c->steps++;
    trace(c, ((uint64_t)i << 32) | ev->type, c->now);
    if (!raft_invariants(nd->r))
        violate(c, "server %llu broke an invariant at %llu ms%llu", nd->id,
                c->now, 0);
    handle_update(c, i, &up);
    return rc;
}

static void take_snapshot(struct rh *c, uint32_t i)
{
    struct rh_node *nd = &c->nodes[i];
    struct raft_snapshot_meta meta;
    uint8_t *data = sm_save(c, nd, &meta);
    uint8_t *old = nd->snap_data;
    /* Durable at once in this model; the old bytes stay valid until the
     * core has seen the new ones. */
    nd->snap = meta;
    nd->snap_data = data;
    nd->last_snap_applied = nd->applied;
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    ev.snapshot.meta = meta;
    ev.snapshot.data = data;
    rh_step(c, i, &ev);
    free(old);
}

static void complete_persist(struct rh *c, uint32_t i)
{
    struct rh_node *nd = &c->nodes[i];
    struct rh_pending_persist *p = nd->pending;
    nd->pending = p->next;
    bool installed = p->has_install;
    persist_apply(nd, p);
    persist_free(p);
    struct raft_event ev = {.type = RAFT_EV_PERSISTED};
    ev.persisted.hard_state = nd->hs;
    ev.persisted.last_index = durable_last_index(nd);
    ev.persisted.last_term = durable_last_term(nd);
    rh_step(c, i, &ev);
    if (installed && nd->up) {
        /* Hand the installed bytes back so this server can serve them. */
        struct raft_event give = {.type = RAFT_EV_SNAPSHOT_TAKEN};
        give.snapshot.meta = nd->snap;
        give.snapshot.data = nd->snap_data;
        rh_step(c, i, &give);
    }
}

static void deliver(struct rh *c)
{
    struct rh_wire *w = c->net_head;
    c->net_head = w->next;
    c->net_len--;
    uint32_t from = node_index(c, w->msg.from);
    struct rh_node *nd = &c->nodes[w->to];
    if (nd->up && from != UINT32_MAX && c->link[from][w->to]) {
        struct raft_event ev = {.type = RAFT_EV_MESSAGE};
        ev.message.msg = &w->msg;
        c->msgs_delivered++;
        trace(c, w->msg.type, w->msg.from);
        rh_step(c, w->to, &ev);
    }
    wire_free(w);
}

/* ---- the loop ---- */

static bool snapshot_due(const struct rh *c, const struct rh_node *nd)
{
    return c->o.snapshot_every > 0 &&
           nd->applied >= nd->last_snap_applied + c->o.snapshot_every;
}

bool rh_tick_once(struct rh *c, uint64_t until)
{
    uint64_t best = UINT64_MAX;
    int kind = -1; /* 0 persist, 1 message, 2 deadline */
    uint32_t who = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct rh_node *nd = &c->nodes[i];
        if (nd->up && nd->pending != NULL && nd->pending->due_ms < best) {
            best = nd->pending->due_ms;
            kind = 0;
            who = i;
        }
    }
    if (c->net_head != NULL && c->net_head->due_ms < best) {
        best = c->net_head->due_ms;
        kind = 1;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        const struct rh_node *nd = &c->nodes[i];
        if (nd->up && nd->deadline_ms < best) {
            best = nd->deadline_ms;
            kind = 2;
            who = i;
        }
    }
    if (kind < 0 || best > until)
        return false;
    if (best > c->now)
        c->now = best;
    if (kind == 0) {
        complete_persist(c, who);
    } else if (kind == 1) {
        deliver(c);
    } else if (snapshot_due(c, &c->nodes[who])) {
        take_snapshot(c, who);
    } else {
        struct raft_event ev = {.type = RAFT_EV_TICK};
        rh_step(c, who, &ev);
    }
    return true;
}

void rh_run(struct rh *c, uint64_t ms)
{
    uint64_t until = c->now + ms;
    uint64_t budget = 2000000; /* a livelock would spin here forever */
    while (budget-- > 0 && rh_tick_once(c, until))
        ;
    if (budget == UINT64_MAX)
        violate(c, "livelock at %llu ms%llu%llu", c->now, 0, 0);
    if (c->now < until)
        c->now = until;
}

int rh_leader(const struct rh *c)
{
    int best = -1;
    uint64_t term = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct rh_node *nd = &c->nodes[i];
        if (nd->up && nd->role == RAFT_LEADER && nd->term >= term) {
            best = (int)i;
            term = nd->term;
        }
    }
    return best;
}

/* Whether server i belongs to the group as the current leader sees it (or,
 * without a leader, as its own applied configuration says).  Removed
 * servers keep stale configurations and must not count. */
static bool in_group(const struct rh *c, uint32_t i)
{
    int l = rh_leader(c);
    if (l >= 0) {
        struct raft_status st;
        raft_status_get(c->nodes[l].r, &st);
        return raft_conf_find(&st.conf, c->nodes[i].id) != NULL;
    }
    return raft_conf_find(&c->nodes[i].sm_conf, c->nodes[i].id) != NULL;
}

int rh_wait_leader(struct rh *c, uint64_t max_ms)
{
    for (uint64_t t = 0; t < max_ms; t += 10) {
        rh_run(c, 10);
        int l = rh_leader(c);
        if (l < 0)
            continue;
        /* Settled: every up member that can hear it follows it. */
        bool agreed = true;
        for (uint32_t i = 0; i < c->n; i++) {
            const struct rh_node *nd = &c->nodes[i];
            if (nd->up && c->link[l][i] && c->link[i][l] && in_group(c, i) &&
                nd->leader_id != c->nodes[l].id)
                agreed = false;
        }
        if (agreed)
            return l;
    }
    return -1;
}

bool rh_run_until_applied(struct rh *c, uint64_t index, uint64_t max_ms)
{
    for (uint64_t t = 0; t <= max_ms; t += 10) {
        bool all = true;
        for (uint32_t i = 0; i < c->n; i++)
            if (c->nodes[i].up && c->nodes[i].applied < index &&
                in_group(c, i))
                all = false;
        if (all)
            return true;
        rh_run(c, 10);
    }
    return false;
}

/* ---- set-up ---- */

static void node_start(struct rh *c, uint32_t i)
{
    struct rh_node *nd = &c->nodes[i];
    struct raft_config cfg = c->o.cfg;
    cfg.id = nd->id;
    cfg.seed = c->o.seed * 1000003u + nd->id + c->steps;
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.hard_state = nd->hs;
    rs.snapshot = nd->snap;
    size_t skip = 0;
    while (skip < nd->n_log && nd->log[skip].index <= nd->snap.last_index)
        skip++;
    rs.entries = nd->n_log > skip ? nd->log + skip : NULL;
    rs.n_entries = nd->n_log - skip;
    ASSERT(raft_create(&cfg, &rs, &nd->r) == 0);
    nd->up = true;
    if (nd->snap.last_index > 0 && nd->snap_data != NULL)
        sm_load(c, nd, &nd->snap, nd->snap_data);
    else {
        nd->applied = 0;
        nd->applied_term = 0;
        nd->reg = 0;
        nd->hash = 0;
        nd->sm_conf = nd->snap.conf;
        nd->last_snap_applied = 0;
    }
    struct raft_status st;
    raft_status_get(nd->r, &st);
    nd->term = st.term;
    nd->commit = st.commit_index;
    nd->role = st.role;
    nd->leader_id = 0;
    nd->deadline_ms = c->now;
    if (nd->snap.last_index > 0 && nd->snap_data != NULL) {
        struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
        ev.snapshot.meta = nd->snap;
        ev.snapshot.data = nd->snap_data;
        rh_step(c, i, &ev);
    }
}

void rh_init(struct rh *c, const struct rh_opts *o)
{
    ASSERT(o->n_nodes <= RH_NODES_MAX && o->n_voters <= o->n_nodes);
    memset(c, 0, sizeof(*c));
    c->o = *o;
    c->n = o->n_nodes;
    cairn_rng_seed(&c->rng, o->seed);
    struct raft_conf boot;
    memset(&boot, 0, sizeof(boot));
    for (uint32_t i = 0; i < o->n_voters; i++) {
        boot.members[i].id = i + 1;
        boot.members[i].role = RAFT_VOTER;
    }
    boot.n_members = o->n_voters;
    rh_heal(c);
    for (uint32_t i = 0; i < c->n; i++) {
        struct rh_node *nd = &c->nodes[i];
        nd->id = i + 1;
        if (i < o->n_voters)
            nd->snap.conf = boot;
        node_start(c, i);
    }
}

static void node_drop_pending(struct rh_node *nd)
{
    while (nd->pending != NULL) {
        struct rh_pending_persist *p = nd->pending;
        nd->pending = p->next;
        persist_free(p);
    }
}

void rh_free(struct rh *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        struct rh_node *nd = &c->nodes[i];
        raft_destroy(nd->r);
        node_drop_pending(nd);
        entries_free(nd->log, nd->n_log);
        free(nd->log);
        free(nd->snap_data);
        free(nd->recv_buf);
    }
    while (c->net_head != NULL) {
        struct rh_wire *w = c->net_head;
        c->net_head = w->next;
        wire_free(w);
    }
    free(c->leader_of_term);
    free(c->hash_at);
    memset(c, 0, sizeof(*c));
}

/* ---- client operations ---- */

int rh_propose_u64(struct rh *c, uint32_t i, uint64_t value, uint64_t *index)
{
    uint8_t buf[8];
    put64(buf, value);
    struct raft_buf b = {.data = buf, .len = 8};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = &b;
    ev.propose.n = 1;
    c->nodes[i].last_proposed = 0;
    int rc = rh_step(c, i, &ev);
    if (index != NULL)
        *index = c->nodes[i].last_proposed;
    return rc;
}

int rh_read(struct rh *c, uint32_t i, uint64_t request_id, uint8_t mode)
{
    struct rh_read *rd = read_slot(&c->nodes[i], request_id);
    if (rd != NULL)
        rd->floor = committed_floor(c);
    struct raft_event ev = {.type = RAFT_EV_READ};
    ev.read.request_id = request_id;
    ev.read.mode = mode;
    return rh_step(c, i, &ev);
}

const struct rh_read *rh_read_find(const struct rh *c, uint32_t i,
                                   uint64_t request_id)
{
    const struct rh_node *nd = &c->nodes[i];
    for (size_t k = 0; k < nd->n_reads; k++)
        if (nd->reads[k].request_id == request_id)
            return &nd->reads[k];
    return NULL;
}

int rh_change(struct rh *c, uint32_t i, uint8_t op, uint64_t id)
{
    struct raft_event ev = {.type = RAFT_EV_MEMBERSHIP};
    ev.change.op = op;
    ev.change.id = id;
    return rh_step(c, i, &ev);
}

int rh_transfer(struct rh *c, uint32_t i, uint64_t target_id)
{
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.target_id = target_id;
    return rh_step(c, i, &ev);
}

/* ---- faults ---- */

void rh_heal(struct rh *c)
{
    for (uint32_t a = 0; a < RH_NODES_MAX; a++)
        for (uint32_t b = 0; b < RH_NODES_MAX; b++)
            c->link[a][b] = true;
}

void rh_isolate(struct rh *c, uint32_t i)
{
    for (uint32_t k = 0; k < RH_NODES_MAX; k++) {
        c->link[i][k] = k == i;
        c->link[k][i] = k == i;
    }
}

void rh_partition(struct rh *c, uint32_t mask)
{
    for (uint32_t a = 0; a < RH_NODES_MAX; a++)
        for (uint32_t b = 0; b < RH_NODES_MAX; b++)
            c->link[a][b] = ((mask >> a) & 1) == ((mask >> b) & 1);
}

void rh_cut(struct rh *c, uint32_t a, uint32_t b)
{
    c->link[a][b] = false;
}

void rh_crash(struct rh *c, uint32_t i)
{
    struct rh_node *nd = &c->nodes[i];
    ASSERT(nd->up);
    raft_destroy(nd->r);
    nd->r = NULL;
    nd->up = false;
    node_drop_pending(nd);
    nd->n_reads = 0;
}

void rh_restart(struct rh *c, uint32_t i)
{
    ASSERT(!c->nodes[i].up);
    node_start(c, i);
}

void rh_status(const struct rh *c, uint32_t i, struct raft_status *st)
{
    raft_status_get(c->nodes[i].r, st);
}

/* ---- single-instance helpers ---- */

void rt_config(struct raft_config *cfg, uint64_t id, uint64_t seed)
{
    raft_config_default(cfg, id, 77, seed);
    cfg->election_timeout_ms_min = 100;
    cfg->election_timeout_ms_max = 200;
    cfg->heartbeat_interval_ms = 20;
    cfg->prevote = false;
    cfg->check_quorum = false;
    cfg->lease_reads = false;
    cfg->snapshot_trailing_entries = 4;
    cfg->snapshot_chunk_size = 64;
    cfg->inflight_msgs_max = 4;
}

struct raft *rt_new(const struct raft_config *cfg, uint32_t n_voters,
                    const struct raft_entry *entries, size_t n_entries,
                    uint64_t term)
{
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    for (uint32_t i = 0; i < n_voters; i++) {
        rs.snapshot.conf.members[i].id = i + 1;
        rs.snapshot.conf.members[i].role = RAFT_VOTER;
    }
    rs.snapshot.conf.n_members = n_voters;
    rs.hard_state.term = term;
    rs.entries = entries;
    rs.n_entries = n_entries;
    struct raft *r = NULL;
    ASSERT(raft_create(cfg, &rs, &r) == 0);
    struct raft_update up;
    rt_tick(r, 0, &up); /* starts the election timer at time 0 */
    return r;
}

void rt_msg_init(struct raft_msg *m, uint8_t type, uint64_t from,
                 uint64_t to, uint64_t term)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->group_id = 77;
    m->from = from;
    m->to = to;
    m->term = term;
}

int rt_msg(struct raft *r, uint64_t now, const struct raft_msg *m,
           struct raft_update *up)
{
    struct raft_event ev = {.type = RAFT_EV_MESSAGE, .now_ms = now};
    ev.message.msg = m;
    return raft_step(r, &ev, up);
}

int rt_tick(struct raft *r, uint64_t now, struct raft_update *up)
{
    struct raft_event ev = {.type = RAFT_EV_TICK, .now_ms = now};
    return raft_step(r, &ev, up);
}

int rt_persist_all(struct raft *r, uint64_t now, struct raft_update *up)
{
    struct raft_status st;
    raft_status_get(r, &st);
    struct raft_event ev = {.type = RAFT_EV_PERSISTED, .now_ms = now};
    ev.persisted.hard_state.term = st.term;
    ev.persisted.hard_state.vote = st.vote;
    ev.persisted.hard_state.commit_index = st.commit_index;
    ev.persisted.last_index = st.last_index;
    ev.persisted.last_term = st.last_term;
    return raft_step(r, &ev, up);
}

const struct raft_msg *rt_find(const struct raft_update *up, uint8_t type,
                               uint64_t to)
{
    for (size_t i = 0; i < up->n_msgs; i++)
        if (up->msgs[i].type == type && (to == 0 || up->msgs[i].to == to))
            return &up->msgs[i];
    return NULL;
}

size_t rt_count(const struct raft_update *up, uint8_t type, uint64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < up->n_msgs; i++)
        if (up->msgs[i].type == type && (to == 0 || up->msgs[i].to == to))
            n++;
    return n;
}

struct raft *rt_leader(const struct raft_config *cfg, uint32_t n_voters,
                       uint64_t *now)
{
    struct raft *r = rt_new(cfg, n_voters, NULL, 0, 0);
    struct raft_update up;
    *now = cfg->election_timeout_ms_max + 1;
    rt_tick(r, *now, &up);
    ASSERT(up.role == RAFT_CANDIDATE || up.role == RAFT_LEADER);
    rt_persist_all(r, *now, &up);
    for (uint64_t id = 2; id <= n_voters; id++) {
        struct raft_msg m;
        rt_msg_init(&m, RAFT_MSG_VOTE_RESP, id, 1, up.term);
        m.vote_resp.granted = true;
        rt_msg(r, *now, &m, &up);
    }
    ASSERT(up.role == RAFT_LEADER);
    rt_persist_all(r, *now, &up);
    return r;
}

int rt_ack(struct raft *r, uint64_t now, uint64_t follower, uint64_t match,
           struct raft_update *up)
{
    struct raft_status st;
    raft_status_get(r, &st);
    struct raft_msg m;
    rt_msg_init(&m, RAFT_MSG_APPEND_RESP, follower, st.id, st.term);
    m.append_resp.success = true;
    m.append_resp.match_index = match;
    m.append_resp.last_index = match;
    return rt_msg(r, now, &m, up);
}
