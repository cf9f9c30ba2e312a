/*
 * world.c: the simulated world's clock, event heap, trace and allocation
 * helpers; see world.h.
 *
 * Invariants:
 * - the heap is a binary min-heap on (at_us, seq); heap[i].ev->heap_index == i
 *   for every queued event (ASSERT_SLOW(sim_world_check()) after each
 *   change while the heap is small, and in the tests);
 * - time never goes back: every fired event has at_us >= the previous one
 *   (ASSERT in sim_world_step);
 * - a fired event is idle when its fire function runs, so the function may
 *   reschedule it.
 * Tuned for millions of events per run: no allocation per event, keys kept in
 * the heap array itself so sifting touches only that array.
 */
#include "world.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "sim_limits.h"

struct heap_slot {
    uint64_t at_us;
    uint64_t seq;
    struct sim_event *ev;
};

struct sim_world {
    uint64_t now_us;
    uint64_t seed;
    uint64_t seq_next;
    uint64_t fired;
    struct cairn_rng rng;

    struct heap_slot *heap;
    uint32_t heap_len;
    uint32_t heap_cap;

    uint64_t paused_until_us[SIM_HOSTS_MAX];

    /* trace */
    uint64_t trace_hash;
    struct sim_trace_entry *ring;
    uint32_t ring_len;
    uint64_t ring_written; /* entries ever written */
    struct sim_trace_entry cur;
    bool firing;
    sim_trace_sink_fn sink;
    void *sink_ctx;
    sim_after_event_fn after;
    void *after_ctx;
    bool stop; /* sim_world_stop: run_until returns at once */
};

/* Only for log tagging (sim_world_active); one thread runs worlds. */
static struct sim_world *active_world;

static const char *const kind_names[SIM_EV_KIND_COUNT] = {
    [SIM_EV_NONE] = "none",          [SIM_EV_TIMER] = "timer",
    [SIM_EV_NET_SYN] = "net-syn",    [SIM_EV_NET_CONNECT] = "net-connect",
    [SIM_EV_NET_DATA] = "net-data",  [SIM_EV_NET_FLUSH] = "net-flush",
    [SIM_EV_NET_BREAK] = "net-break", [SIM_EV_DISK] = "disk",
    [SIM_EV_FAULT] = "fault",        [SIM_EV_USER] = "user",
};

const char *sim_event_kind_name(unsigned kind)
{
    return kind < SIM_EV_KIND_COUNT ? kind_names[kind] : "?";
}

/* ---- allocation ---- */

static unsigned internal_depth;

bool sim_alloc_internal(void)
{
    return internal_depth > 0;
}

void *sim_xmalloc(size_t size)
{
    internal_depth++;
    void *p = cairn_malloc(size);
    internal_depth--;
    ASSERT(p != NULL);
    return p;
}

void *sim_xcalloc(size_t count, size_t size)
{
    internal_depth++;
    void *p = cairn_calloc(count, size);
    internal_depth--;
    ASSERT(p != NULL);
    return p;
}

void *sim_xrealloc(void *ptr, size_t size)
{
    internal_depth++;
    void *p = cairn_realloc(ptr, size);
    internal_depth--;
    ASSERT(p != NULL);
    return p;
}

void sim_bytes_reserve(struct sim_bytes *b, size_t cap)
{
    if (cap <= b->cap)
        return;
    size_t n = b->cap < 64 ? 64 : b->cap;
    while (n < cap)
        n *= 2;
    b->data = sim_xrealloc(b->data, n);
    b->cap = n;
}

void sim_bytes_append(struct sim_bytes *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    sim_bytes_reserve(b, b->len + len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void sim_bytes_write_at(struct sim_bytes *b, size_t offset, const void *data,
                        size_t len)
{
    if (offset + len > b->len)
        sim_bytes_resize(b, offset + len);
    if (len > 0)
        memcpy(b->data + offset, data, len);
}

void sim_bytes_resize(struct sim_bytes *b, size_t len)
{
    sim_bytes_reserve(b, len);
    if (len > b->len)
        memset(b->data + b->len, 0, len - b->len);
    b->len = len;
}

void sim_bytes_consume(struct sim_bytes *b, size_t n)
{
    ASSERT(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void sim_bytes_copy(struct sim_bytes *dst, const struct sim_bytes *src)
{
    dst->len = 0;
    sim_bytes_append(dst, src->data, src->len);
}

void sim_bytes_free(struct sim_bytes *b)
{
    cairn_free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- world ---- */

struct sim_world *sim_world_new(uint64_t seed, uint32_t ring_len)
{
    if (ring_len == 0)
        ring_len = SIM_TRACE_RING_DEFAULT;
    ASSERT(ring_len <= SIM_TRACE_RING_MAX);
    struct sim_world *w = sim_xcalloc(1, sizeof(*w));
    w->seed = seed;
    cairn_rng_seed(&w->rng, seed);
    w->heap_cap = 1024;
    w->heap = sim_xmalloc(w->heap_cap * sizeof(*w->heap));
    w->ring_len = ring_len;
    w->ring = sim_xcalloc(ring_len, sizeof(*w->ring));
    /* Not seeded by the seed: two seeds that behave alike hash alike, so a
     * differing hash proves differing behaviour. */
    w->trace_hash = 0x63616972u;
    return w;
}

void sim_world_free(struct sim_world *w)
{
    if (w == NULL)
        return;
    if (active_world == w)
        active_world = NULL;
    ASSERT(w->heap_len == 0);
    cairn_free(w->heap);
    cairn_free(w->ring);
    cairn_free(w);
}

uint64_t sim_world_now_us(const struct sim_world *w) { return w->now_us; }
uint64_t sim_world_seed(const struct sim_world *w) { return w->seed; }
struct cairn_rng *sim_world_rng(struct sim_world *w) { return &w->rng; }
size_t sim_world_pending(const struct sim_world *w) { return w->heap_len; }
uint64_t sim_world_events_fired(const struct sim_world *w) { return w->fired; }

uint64_t sim_world_next_us(const struct sim_world *w)
{
    return w->heap_len > 0 ? w->heap[0].at_us : UINT64_MAX;
}

void sim_event_init(struct sim_event *ev, unsigned kind, unsigned node,
                    sim_event_fn fire)
{
    ASSERT(kind < SIM_EV_KIND_COUNT);
    ASSERT(node == SIM_NODE_NONE || node < SIM_HOSTS_MAX);
    memset(ev, 0, sizeof(*ev));
    ev->heap_index = SIM_EVENT_IDLE;
    ev->kind = (uint16_t)kind;
    ev->node = (uint16_t)node;
    ev->fire = fire;
}

/* ---- heap ---- */

static bool slot_less(const struct heap_slot *a, const struct heap_slot *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

static void heap_set(struct sim_world *w, uint32_t i, struct heap_slot s)
{
    w->heap[i] = s;
    s.ev->heap_index = i;
}

static void sift_up(struct sim_world *w, uint32_t i)
{
    struct heap_slot s = w->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!slot_less(&s, &w->heap[parent]))
            break;
        heap_set(w, i, w->heap[parent]);
        i = parent;
    }
    heap_set(w, i, s);
}

static void sift_down(struct sim_world *w, uint32_t i)
{
    struct heap_slot s = w->heap[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= w->heap_len)
            break;
        if (child + 1 < w->heap_len &&
            slot_less(&w->heap[child + 1], &w->heap[child]))
            child++;
        if (!slot_less(&w->heap[child], &s))
            break;
        heap_set(w, i, w->heap[child]);
        i = child;
    }
    heap_set(w, i, s);
}

bool sim_world_check(const struct sim_world *w)
{
    for (uint32_t i = 0; i < w->heap_len; i++) {
        if (w->heap[i].ev->heap_index != i)
            return false;
        if (i > 0 && slot_less(&w->heap[i], &w->heap[(i - 1) / 2]))
            return false;
    }
    return true;
}

static void heap_remove_at(struct sim_world *w, uint32_t i)
{
    ASSERT(i < w->heap_len);
    w->heap[i].ev->heap_index = SIM_EVENT_IDLE;
    w->heap_len--;
    if (i == w->heap_len)
        return;
    heap_set(w, i, w->heap[w->heap_len]);
    if (i > 0 && slot_less(&w->heap[i], &w->heap[(i - 1) / 2]))
        sift_up(w, i);
    else
        sift_down(w, i);
}

void sim_world_schedule(struct sim_world *w, struct sim_event *ev,
                        uint64_t at_us)
{
    ASSERT(ev->fire != NULL);
    ASSERT(at_us >= w->now_us);
    if (sim_event_queued(ev))
        heap_remove_at(w, ev->heap_index);
    if (w->heap_len == w->heap_cap) {
        ASSERT(w->heap_cap < SIM_EVENTS_MAX);
        w->heap_cap *= 2;
        w->heap = sim_xrealloc(w->heap, w->heap_cap * sizeof(*w->heap));
    }
    ev->at_us = at_us;
    ev->seq = w->seq_next++;
    w->heap[w->heap_len] =
        (struct heap_slot){.at_us = at_us, .seq = ev->seq, .ev = ev};
    ev->heap_index = w->heap_len++;
    sift_up(w, ev->heap_index);
    ASSERT_SLOW(w->heap_len > 4096 || sim_world_check(w));
}

void sim_world_schedule_in(struct sim_world *w, struct sim_event *ev,
                           uint64_t delay_us)
{
    ASSERT(delay_us <= UINT64_MAX - w->now_us);
    sim_world_schedule(w, ev, w->now_us + delay_us);
}

void sim_world_cancel(struct sim_world *w, struct sim_event *ev)
{
    if (!sim_event_queued(ev))
        return;
    ASSERT(ev->heap_index < w->heap_len);
    ASSERT(w->heap[ev->heap_index].ev == ev);
    heap_remove_at(w, ev->heap_index);
    ASSERT_SLOW(w->heap_len > 4096 || sim_world_check(w));
}

/* ---- trace ---- */

/* One word into the chained trace hash: a multiply-xorshift round, so
 * every bit of every word reaches the result (order matters) at a few
 * instructions per word instead of a hash call per event. */
static uint64_t trace_mix(uint64_t h, uint64_t word)
{
    h = (h ^ word) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static void trace_commit(struct sim_world *w, const struct sim_trace_entry *e)
{
    uint64_t h = w->trace_hash;
    h = trace_mix(h, e->at_us);
    h = trace_mix(h, e->seq);
    h = trace_mix(h, e->arg);
    h = trace_mix(h, e->bytes_hash);
    h = trace_mix(h, e->bytes_len);
    h = trace_mix(h, ((uint64_t)e->kind << 16) | e->node);
    w->trace_hash = h;
    w->ring[w->ring_written % w->ring_len] = *e;
    w->ring_written++;
    if (w->sink != NULL)
        w->sink(w->sink_ctx, e);
}

void sim_world_trace_bytes(struct sim_world *w, const void *data, size_t len)
{
    ASSERT(w->firing);
    w->cur.bytes_hash = cairn_hash64(data, len, w->cur.bytes_hash);
    w->cur.bytes_len += (uint32_t)len;
}

void sim_world_trace_arg(struct sim_world *w, uint64_t arg)
{
    ASSERT(w->firing);
    w->cur.arg = arg;
}

void sim_world_trace_note(struct sim_world *w, unsigned kind, unsigned node,
                          uint64_t arg)
{
    struct sim_trace_entry e = {.at_us = w->now_us, .seq = w->seq_next++,
                                .arg = arg, .kind = (uint16_t)kind,
                                .node = (uint16_t)node};
    trace_commit(w, &e);
}

uint64_t sim_world_trace_hash(const struct sim_world *w)
{
    return w->trace_hash;
}

size_t sim_world_trace_count(const struct sim_world *w)
{
    return w->ring_written < w->ring_len ? (size_t)w->ring_written
                                         : w->ring_len;
}

bool sim_world_trace_get(const struct sim_world *w, size_t index,
                         struct sim_trace_entry *out)
{
    size_t count = sim_world_trace_count(w);
    if (index >= count)
        return false;
    uint64_t first = w->ring_written - count;
    *out = w->ring[(first + index) % w->ring_len];
    return true;
}

void sim_world_trace_set_sink(struct sim_world *w, sim_trace_sink_fn sink,
                              void *ctx)
{
    w->sink = sink;
    w->sink_ctx = ctx;
}

/* ---- the loop ---- */

void sim_world_node_pause(struct sim_world *w, unsigned node,
                          uint64_t until_us)
{
    ASSERT(node < SIM_HOSTS_MAX);
    if (until_us > w->paused_until_us[node])
        w->paused_until_us[node] = until_us;
}

uint64_t sim_world_node_paused_until(const struct sim_world *w, unsigned node)
{
    ASSERT(node < SIM_HOSTS_MAX);
    return w->paused_until_us[node];
}

struct sim_world *sim_world_active(void)
{
    return active_world;
}

unsigned sim_world_firing_node(const struct sim_world *w)
{
    return w->firing ? w->cur.node : SIM_NODE_NONE;
}

bool sim_world_step(struct sim_world *w)
{
    if (w->heap_len == 0)
        return false;
    struct heap_slot s = w->heap[0];
    ASSERT(s.at_us >= w->now_us);
    heap_remove_at(w, 0);
    w->now_us = s.at_us;
    struct sim_event *ev = s.ev;
    if (ev->node != SIM_NODE_NONE && w->paused_until_us[ev->node] > s.at_us) {
        /* The node is frozen: the event waits, keeping its relative order
         * with the others moved to the same instant. */
        sim_world_schedule(w, ev, w->paused_until_us[ev->node]);
        return true;
    }
    w->cur = (struct sim_trace_entry){.at_us = s.at_us, .seq = s.seq,
                                      .kind = ev->kind, .node = ev->node};
    w->firing = true;
    active_world = w;
    ev->fire(ev);
    w->firing = false;
    w->fired++;
    trace_commit(w, &w->cur);
    if (w->after != NULL)
        w->after(w->after_ctx, w->cur.node);
    return true;
}

void sim_world_after_event(struct sim_world *w, sim_after_event_fn fn,
                           void *ctx)
{
    w->after = fn;
    w->after_ctx = ctx;
}

int sim_world_run_until(struct sim_world *w, uint64_t until_us,
                        uint64_t max_events)
{
    ASSERT(until_us >= w->now_us);
    uint64_t n = 0;
    while (w->heap_len > 0 && w->heap[0].at_us <= until_us) {
        if (max_events != 0 && n == max_events)
            return CAIRN_EBUSY;
        sim_world_step(w);
        n++;
        if (w->stop)
            return 0; /* the time stays at the event that asked */
    }
    w->now_us = until_us;
    return 0;
}

void sim_world_stop(struct sim_world *w)
{
    w->stop = true;
}
