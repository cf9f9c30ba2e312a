/*
 * raft_core.c: throughput of the Raft core alone (bench_raft_core).
 *
 * Three voters in one process, driven through raft_step() directly: message
 * delivery is instant (FIFO, copied out of the sender's update), every
 * persist completes at once (RAFT_EV_PERSISTED right after the update that
 * asked for it), simulated time stands still after the election, and each
 * server hands the core a tiny snapshot every SNAP_EVERY applied entries so
 * the logs stay bounded.  Entries are 64 bytes.  It measures, with the
 * process's monotonic clock (a benchmark, not logic):
 *
 *   batched     RAFT_PROPOSE_BATCH_MAX proposals per RAFT_EV_PROPOSE, then
 *               the cluster runs until quiet;
 *   pipelined   one proposal per RAFT_EV_PROPOSE step, PIPELINE_STEPS steps
 *               before the cluster runs (the core's own append batching);
 *   unbatched   one proposal per step, and the cluster runs until quiet
 *               after each (one full round trip per entry).
 *
 * and prints committed entries per second on the leader for each.  Usage:
 *   bench_raft_core [batched_entries [unbatched_entries]]
 * Every loop is bounded by the entry counts; a core that stops making
 * progress makes the run fail rather than spin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/assert.h"
#include "core/error.h"
#include "raft/raft.h"

#define NODES 3
#define ENTRY_SIZE 64
#define SNAP_EVERY 65536u
#define PIPELINE_STEPS 64u
/* Steps one server may take on its own for one event (persist, apply
 * batches, snapshots) before we call the core stuck. */
#define FOLLOW_UP_MAX 64
#define ARENA_BLOCK (1u << 20)

/* ---- a bump arena for message copies, reset whenever the network is empty */

struct block {
    struct block *next;
    size_t used, cap;
    unsigned char data[];
};

struct arena {
    struct block *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (a->head == NULL || a->head->cap - a->head->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        struct block *b = malloc(sizeof(*b) + cap);
        ASSERT(b != NULL);
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void arena_reset(struct arena *a)
{
    while (a->head != NULL && a->head->next != NULL) {
        struct block *b = a->head;
        a->head = b->next;
        free(b);
    }
    if (a->head != NULL)
        a->head->used = 0;
}

/* ---- the cluster ---- */

struct node {
    uint64_t id;
    struct raft *r;
    struct raft_hard_state hs; /* durable */
    uint64_t last_index, last_term; /* durable log end */
    uint64_t applied;
    uint64_t snap_index;
    uint64_t deadline;
    uint8_t role;
};

struct cluster {
    struct node nodes[NODES];
    uint64_t now;
    struct raft_msg *q; /* FIFO ring */
    size_t q_cap, q_head, q_len;
    struct arena arena;
    uint64_t delivered;
};

static const unsigned char snap_data[8];

static void queue_push(struct cluster *c, const struct raft_msg *m)
{
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap == 0 ? 1024 : c->q_cap * 2;
        struct raft_msg *q = malloc(cap * sizeof(*q));
        ASSERT(q != NULL);
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    struct raft_msg *d = &c->q[(c->q_head + c->q_len++) % c->q_cap];
    *d = *m;
    if (m->type == RAFT_MSG_APPEND && m->append.n_entries > 0) {
        size_t n = m->append.n_entries;
        struct raft_entry *e = arena_alloc(&c->arena, n * sizeof(*e));
        for (size_t i = 0; i < n; i++) {
            e[i] = m->append.entries[i];
            if (e[i].len > 0) {
                void *p = arena_alloc(&c->arena, e[i].len);
                memcpy(p, e[i].data, e[i].len);
                e[i].data = p;
            }
        }
        d->append.entries = e;
    }
    ASSERT(m->type != RAFT_MSG_SNAPSHOT); /* logs keep trailing entries */
}

static bool needs_persist(const struct raft_update *up)
{
    return up->n_entries > 0 || up->truncate_from != 0 ||
           up->has_hard_state || up->snapshot_install != NULL;
}

/* Takes in one update: durable state, messages, applied entries. */
static void absorb(struct cluster *c, struct node *nd, const struct raft_update *up)
{
    ASSERT(up->snapshot_install == NULL);
    if (up->truncate_from != 0) {
        nd->last_index = up->truncate_from - 1;
        nd->last_term = raft_term_at(nd->r, nd->last_index);
    }
    if (up->n_entries > 0) {
        nd->last_index = up->entries[up->n_entries - 1].index;
        nd->last_term = up->entries[up->n_entries - 1].term;
    }
    if (up->has_hard_state)
        nd->hs = up->hard_state;
    for (size_t i = 0; i < up->n_msgs; i++)
        queue_push(c, &up->msgs[i]);
    if (up->n_committed > 0) {
        ASSERT(up->committed[0].index == nd->applied + 1);
        nd->applied += up->n_committed;
    }
    nd->role = up->role;
    nd->deadline = up->deadline_ms;
}

/* Steps server nd with ev, then feeds back what the host would: the
 * persist completion, another step while applying lags, a snapshot. */
static void step(struct cluster *c, struct node *nd, struct raft_event *ev)
{
    struct raft_update up;
    ev->now_ms = c->now;
    int rc = raft_step(nd->r, ev, &up);
    if (rc != 0) {
        fprintf(stderr, "raft_step(event %u) on %llu: %s\n", ev->type,
                (unsigned long long)nd->id, cairn_errname(rc));
        exit(1);
    }
    for (int k = 0;; k++) {
        ASSERT(k < FOLLOW_UP_MAX);
        absorb(c, nd, &up);
        struct raft_event f;
        memset(&f, 0, sizeof(f));
        f.now_ms = c->now;
        if (needs_persist(&up)) {
            f.type = RAFT_EV_PERSISTED;
            f.persisted.hard_state = nd->hs;
            f.persisted.last_index = nd->last_index;
            f.persisted.last_term = nd->last_term;
        } else if (nd->applied >= nd->snap_index + SNAP_EVERY) {
            f.type = RAFT_EV_SNAPSHOT_TAKEN;
            struct raft_status st;
            raft_status_get(nd->r, &st);
            f.snapshot.meta.last_index = nd->applied;
            f.snapshot.meta.last_term = raft_term_at(nd->r, nd->applied);
            f.snapshot.meta.conf = st.conf;
            f.snapshot.meta.size = sizeof(snap_data);
            f.snapshot.data = snap_data;
            nd->snap_index = nd->applied;
        } else if (up.deadline_ms <= c->now) {
            f.type = RAFT_EV_TICK;
        } else {
            return;
        }
        ASSERT(raft_step(nd->r, &f, &up) == 0);
    }
}

static struct node *node_by_id(struct cluster *c, uint64_t id)
{
    ASSERT(id >= 1 && id <= NODES);
    return &c->nodes[id - 1];
}

/* Delivers messages until none is left. */
static void run_quiet(struct cluster *c)
{
    while (c->q_len > 0) {
        struct raft_msg m = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        struct raft_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = RAFT_EV_MESSAGE;
        ev.message.msg = &m;
        c->delivered++;
        step(c, node_by_id(c, m.to), &ev);
    }
    arena_reset(&c->arena);
}

static void cluster_init(struct cluster *c, uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.snapshot.conf.n_members = NODES;
    for (uint32_t i = 0; i < NODES; i++)
        rs.snapshot.conf.members[i] = (struct raft_member){i + 1, RAFT_VOTER};
    for (uint32_t i = 0; i < NODES; i++) {
        struct node *nd = &c->nodes[i];
        nd->id = i + 1;
        struct raft_config cfg;
        raft_config_default(&cfg, nd->id, 1, seed + i);
        ASSERT(raft_create(&cfg, &rs, &nd->r) == 0);
        struct raft_event ev = {.type = RAFT_EV_TICK};
        step(c, nd, &ev);
    }
}

/* Advances simulated time deadline by deadline until a leader is known. */
static struct node *elect(struct cluster *c)
{
    for (int round = 0; round < 1000; round++) {
        for (uint32_t i = 0; i < NODES; i++)
            if (c->nodes[i].role == RAFT_LEADER)
                return &c->nodes[i];
        struct node *next = &c->nodes[0];
        for (uint32_t i = 1; i < NODES; i++)
            if (c->nodes[i].deadline < next->deadline)
                next = &c->nodes[i];
        if (next->deadline > c->now)
            c->now = next->deadline;
        struct raft_event ev = {.type = RAFT_EV_TICK};
        step(c, next, &ev);
        run_quiet(c);
    }
    fprintf(stderr, "no leader after 1000 rounds\n");
    exit(1);
}

static void cluster_free(struct cluster *c)
{
    for (uint32_t i = 0; i < NODES; i++)
        raft_destroy(c->nodes[i].r);
    arena_reset(&c->arena);
    free(c->arena.head);
    free(c->q);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum mode { BATCHED, PIPELINED, UNBATCHED };
static const char *const mode_name[] = {"batched", "pipelined", "unbatched"};

static void propose(struct cluster *c, struct node *l, const struct raft_buf *b,
                    uint32_t n)
{
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = b;
    ev.propose.n = n;
    step(c, l, &ev);
}

/* Proposes total entries in the given mode; returns entries/s committed. */
static double run_mode(enum mode mode, uint64_t total)
{
    static unsigned char payload[RAFT_PROPOSE_BATCH_MAX][ENTRY_SIZE];
    static struct raft_buf bufs[RAFT_PROPOSE_BATCH_MAX];
    for (uint32_t i = 0; i < RAFT_PROPOSE_BATCH_MAX; i++) {
        memset(payload[i], (int)(i & 0xff), ENTRY_SIZE);
        bufs[i] = (struct raft_buf){payload[i], ENTRY_SIZE};
    }
    struct cluster *c = malloc(sizeof(*c));
    ASSERT(c != NULL);
    cluster_init(c, 42);
    struct node *l = elect(c);
    uint64_t start_applied = l->applied;
    uint64_t target = start_applied + total;
    uint64_t proposed = 0;
    double t0 = seconds();
    while (proposed < total) {
        if (mode == BATCHED) {
            uint32_t n = (uint32_t)CAIRN_MIN(total - proposed,
                                             (uint64_t)RAFT_PROPOSE_BATCH_MAX);
            propose(c, l, bufs, n);
            proposed += n;
        } else {
            uint32_t steps = mode == PIPELINED ? PIPELINE_STEPS : 1;
            for (uint32_t k = 0; k < steps && proposed < total; k++, proposed++)
                propose(c, l, &bufs[proposed % RAFT_PROPOSE_BATCH_MAX], 1);
        }
        run_quiet(c);
    }
    double dt = seconds() - t0;
    if (l->applied < target || l->role != RAFT_LEADER) {
        fprintf(stderr, "%s: leader applied %llu of %llu\n", mode_name[mode],
                (unsigned long long)(l->applied - start_applied),
                (unsigned long long)total);
        exit(1);
    }
    uint64_t lag = 0; /* entries the followers have yet to learn committed */
    for (uint32_t i = 0; i < NODES; i++)
        lag = CAIRN_MAX(lag, l->applied - c->nodes[i].applied);
    printf("%-10s %9llu entries in %7.3f s: %10.0f committed entries/s "
           "(%llu messages, follower lag %llu)\n",
           mode_name[mode], (unsigned long long)total, dt, (double)total / dt,
           (unsigned long long)c->delivered, (unsigned long long)lag);
    cluster_free(c);
    free(c);
    return (double)total / dt;
}

int main(int argc, char **argv)
{
    uint64_t batched = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    uint64_t unbatched = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    if (batched == 0 || unbatched == 0) {
        fprintf(stderr, "usage: %s [batched_entries [unbatched_entries]]\n",
                argv[0]);
        return 2;
    }
    printf("raft core, 3 voters in one process, instant delivery and "
           "persistence, %d-byte entries\n", ENTRY_SIZE);
    double b = run_mode(BATCHED, batched);
    run_mode(PIPELINED, unbatched);
    double u = run_mode(UNBATCHED, unbatched);
    printf("batched / unbatched: %.1fx\n", b / u);
    return 0;
}
