/*
 * net.c: the simulated network; see net.h for the model and its invariants.
 *
 * Layout: a struct conn holds both endpoints and both directions.  dir[i]
 * carries bytes from ep[i] to ep[1-i] as a FIFO of segments; only the head
 * segment has an event queued (at its arrival time), so a stalled head holds
 * back the whole stream and one direction costs one heap slot.  A conn is
 * freed when neither end is held by its owner any more and no event of it is
 * firing (busy == 0).
 */
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "sim_limits.h"

enum ep_state {
    EP_UNUSED = 0, /* never created (connect failed) or already released */
    EP_CONNECTING, /* client end before its connect callback */
    EP_OPEN,
    EP_DEAD,       /* its host crashed: inert until released */
};

enum hs_state { HS_SYN, HS_SYNACK, HS_FAIL, HS_DONE };

struct seg {
    struct seg *next;
    uint64_t arrive_us;
    uint32_t len;
    bool fin;   /* end of stream: the sender closed */
    bool reset; /* "lost": the connection resets when this arrives */
    uint8_t data[];
};

struct dir {
    struct sim_event ev; /* queued at the head segment's arrival */
    struct conn *c;
    unsigned index; /* carries ep[index] -> ep[1 - index] */
    struct seg *head;
    struct seg *tail;
    uint64_t last_arrive_us;
    uint64_t inflight;
    uint64_t stall_since_us;
    bool stalled;
    bool fin_sent;
};

struct conn;

struct ep {
    struct io_conn base;
    struct conn *c;
    uint8_t side;
    uint8_t state;
    bool held; /* the owner may still call ops on it */
    bool started;
    bool paused;
    bool eof_pending;
    bool eof_delivered;
    bool drain_wanted;
    bool drain_due;
    int eof_status;
    uint16_t host;
    uint16_t port;
    void *ctx;
    struct io_conn_handlers h;
    struct sim_bytes inbox;
    struct sim_bytes outbox;
    struct sim_event flush_ev;
};

struct conn {
    struct sim_net *net;
    struct conn *prev;
    struct conn *next;
    uint64_t id;
    struct ep ep[2];
    struct dir dir[2];
    struct sim_event hs_ev;
    struct sim_event break_ev;
    uint8_t hs_state;
    int hs_status;
    uint64_t hs_started_us;
    void *connect_ctx;
    io_connect_cb connect_cb;
    bool broken;
    unsigned busy;
};

struct listener {
    struct io_listener base;
    struct sim_net *net;
    struct listener *prev;
    struct listener *next;
    uint16_t host;
    uint16_t port;
    bool dead;
    void *ctx;
    io_accept_cb cb;
};

struct link {
    struct sim_link_config cfg;
    bool blocked;
    uint64_t clog_until_us;
};

struct sim_net {
    struct sim_world *w;
    struct sim_net_config cfg;
    unsigned host_count;
    bool host_up[SIM_HOSTS_MAX];
    uint16_t port_next[SIM_HOSTS_MAX];
    struct link links[SIM_HOSTS_MAX][SIM_HOSTS_MAX];
    struct conn *conns;
    struct listener *listeners;
    uint64_t conn_id_next;
    size_t conns_live;
    struct sim_net_stats stats;
    struct seg *seg_pool; /* free small segments, linked by next */
    unsigned seg_pool_len;
};

static void dir_fire(struct sim_event *ev);
static void flush_fire(struct sim_event *ev);
static void hs_fire(struct sim_event *ev);
static void break_fire(struct sim_event *ev);
static void conn_break(struct conn *c, int status);

void sim_net_config_default(struct sim_net_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->link.latency_min_us = 100;
    cfg->link.latency_tail_us = 400;
    cfg->link.tail = SIM_TAIL_EXP;
    cfg->stall_break_us = 3000000;
    cfg->retry_us = 200000;
    cfg->connect_timeout_us = 1000000;
    cfg->split_ppm = 0;
}

struct sim_net *sim_net_new(struct sim_world *w, unsigned host_count,
                            const struct sim_net_config *cfg)
{
    if (host_count == 0 || host_count > SIM_HOSTS_MAX)
        return NULL;
    struct sim_net *n = sim_xcalloc(1, sizeof(*n));
    n->w = w;
    n->cfg = *cfg;
    if (n->cfg.retry_us == 0)
        n->cfg.retry_us = 1000;
    n->host_count = host_count;
    for (unsigned h = 0; h < host_count; h++) {
        n->host_up[h] = true;
        n->port_next[h] = 40000;
        for (unsigned t = 0; t < host_count; t++)
            n->links[h][t].cfg = cfg->link;
    }
    return n;
}

unsigned sim_net_host_count(const struct sim_net *n) { return n->host_count; }
size_t sim_net_conns_live(const struct sim_net *n) { return n->conns_live; }

void sim_net_stats_get(const struct sim_net *n, struct sim_net_stats *out)
{
    *out = n->stats;
}

void sim_net_host_addr(unsigned host, char *out, size_t out_len)
{
    snprintf(out, out_len, "10.0.0.%u", host + 1);
}

int sim_net_host_lookup(const struct sim_net *n, unsigned from,
                        const char *addr)
{
    if (strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "localhost") == 0 ||
        strcmp(addr, "::1") == 0)
        return (int)from;
    unsigned v = 0;
    char tail = 0;
    if (sscanf(addr, "10.0.0.%u%c", &v, &tail) != 1)
        return -1;
    if (v == 0 || v > n->host_count)
        return -1;
    return (int)(v - 1);
}

/* ---- links ---- */

static struct link *link_of(struct sim_net *n, unsigned from, unsigned to)
{
    ASSERT(from < n->host_count);
    ASSERT(to < n->host_count);
    return &n->links[from][to];
}

bool sim_net_link_open(const struct sim_net *n, unsigned from, unsigned to)
{
    ASSERT(from < n->host_count);
    ASSERT(to < n->host_count);
    const struct link *l = &n->links[from][to];
    return !l->blocked && sim_world_now_us(n->w) >= l->clog_until_us;
}

static uint64_t latency_sample(struct sim_net *n, unsigned from, unsigned to)
{
    const struct sim_link_config *cfg = &link_of(n, from, to)->cfg;
    struct cairn_rng *rng = sim_world_rng(n->w);
    uint64_t extra = 0;
    if (cfg->tail == SIM_TAIL_UNIFORM && cfg->latency_tail_us > 0) {
        extra = cairn_rng_below(rng, cfg->latency_tail_us + 1);
    } else if (cfg->tail == SIM_TAIL_EXP && cfg->latency_tail_us > 0) {
        /* Inverse CDF; u in (0, 1] so log() is finite. */
        double u = (double)((cairn_rng_next(rng) >> 11) + 1) * 0x1.0p-53;
        double x = -log(u) * (double)cfg->latency_tail_us;
        double cap = 20.0 * (double)cfg->latency_tail_us;
        extra = (uint64_t)(x < cap ? x : cap);
    }
    return cfg->latency_min_us + extra;
}

void sim_net_link_set(struct sim_net *n, unsigned from, unsigned to,
                      const struct sim_link_config *cfg)
{
    link_of(n, from, to)->cfg = *cfg;
}

void sim_net_block(struct sim_net *n, unsigned from, unsigned to, bool blocked)
{
    link_of(n, from, to)->blocked = blocked;
}

void sim_net_reset_between(struct sim_net *n, unsigned a, unsigned b)
{
    for (struct conn *c = n->conns; c != NULL; c = c->next) {
        unsigned h0 = c->ep[0].host, h1 = c->ep[1].host;
        if (c->broken || c->hs_state != HS_DONE)
            continue;
        if ((h0 == a && h1 == b) || (h0 == b && h1 == a))
            conn_break(c, CAIRN_EIO);
    }
}

void sim_net_partition(struct sim_net *n, const uint8_t *group, bool reset)
{
    for (unsigned a = 0; a < n->host_count; a++) {
        for (unsigned b = 0; b < n->host_count; b++) {
            bool cut = group[a] != group[b];
            n->links[a][b].blocked = cut;
            if (cut && reset && a < b)
                sim_net_reset_between(n, a, b);
        }
    }
}

void sim_net_isolate(struct sim_net *n, unsigned host, bool reset)
{
    for (unsigned h = 0; h < n->host_count; h++) {
        if (h == host)
            continue;
        link_of(n, host, h)->blocked = true;
        link_of(n, h, host)->blocked = true;
        if (reset)
            sim_net_reset_between(n, host, h);
    }
}

void sim_net_heal(struct sim_net *n)
{
    for (unsigned a = 0; a < n->host_count; a++) {
        for (unsigned b = 0; b < n->host_count; b++) {
            n->links[a][b].blocked = false;
            n->links[a][b].clog_until_us = 0;
        }
    }
}

void sim_net_clog(struct sim_net *n, unsigned from, unsigned to,
                  uint64_t until_us)
{
    link_of(n, from, to)->clog_until_us = until_us;
}

/* ---- connection lifetime ---- */

static struct conn *conn_new(struct sim_net *n)
{
    struct conn *c = sim_xcalloc(1, sizeof(*c));
    c->net = n;
    c->id = ++n->conn_id_next;
    for (unsigned i = 0; i < 2; i++) {
        c->ep[i].c = c;
        c->ep[i].side = (uint8_t)i;
        c->dir[i].c = c;
        c->dir[i].index = i;
        sim_event_init(&c->ep[i].flush_ev, SIM_EV_NET_FLUSH, SIM_NODE_NONE,
                       flush_fire);
        sim_event_init(&c->dir[i].ev, SIM_EV_NET_DATA, SIM_NODE_NONE,
                       dir_fire);
    }
    sim_event_init(&c->hs_ev, SIM_EV_NET_SYN, SIM_NODE_NONE, hs_fire);
    sim_event_init(&c->break_ev, SIM_EV_NET_BREAK, SIM_NODE_NONE, break_fire);
    c->next = n->conns;
    if (n->conns != NULL)
        n->conns->prev = c;
    n->conns = c;
    n->conns_live++;
    return c;
}

/* Small segments (most are one frame or one reply) are recycled: a
 * simulated run sends millions of them. */
#define SEG_SMALL 512u
#define SEG_POOL_MAX 1024u

static struct seg *seg_new(struct sim_net *n, uint32_t len)
{
    if (len > SEG_SMALL)
        return sim_xmalloc(sizeof(struct seg) + len);
    struct seg *s = n->seg_pool;
    if (s == NULL)
        return sim_xmalloc(sizeof(struct seg) + SEG_SMALL);
    n->seg_pool = s->next;
    n->seg_pool_len--;
    return s;
}

static void seg_free(struct sim_net *n, struct seg *s)
{
    if (s->len > SEG_SMALL || n->seg_pool_len == SEG_POOL_MAX) {
        cairn_free(s);
        return;
    }
    s->next = n->seg_pool;
    n->seg_pool = s;
    n->seg_pool_len++;
}

static void dir_clear(struct sim_net *n, struct dir *d)
{
    sim_world_cancel(n->w, &d->ev);
    struct seg *s = d->head;
    while (s != NULL) {
        struct seg *next = s->next;
        seg_free(n, s);
        s = next;
    }
    d->head = d->tail = NULL;
    d->inflight = 0;
    d->stalled = false;
}

/* Frees c once no owner holds an end and no event of it is firing. */
static void conn_maybe_free(struct conn *c)
{
    if (c->busy > 0 || c->ep[0].held || c->ep[1].held)
        return;
    if (c->hs_state == HS_SYN || c->hs_state == HS_SYNACK ||
        c->hs_state == HS_FAIL) {
        if (c->ep[0].state == EP_CONNECTING)
            return; /* the connect callback is still owed */
    }
    struct sim_net *n = c->net;
    for (unsigned i = 0; i < 2; i++) {
        dir_clear(n, &c->dir[i]);
        sim_world_cancel(n->w, &c->ep[i].flush_ev);
        sim_bytes_free(&c->ep[i].inbox);
        sim_bytes_free(&c->ep[i].outbox);
    }
    sim_world_cancel(n->w, &c->hs_ev);
    sim_world_cancel(n->w, &c->break_ev);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    n->conns_live--;
    cairn_free(c);
}

static struct ep *ep_of(struct io_conn *ioc)
{
    struct ep *e = sim_container_of(ioc, struct ep, base);
    ASSERT(e->held);
    return e;
}

/* Callbacks may reach e only while its owner holds it and its host lives. */
static bool ep_callable(const struct ep *e)
{
    return e->held && e->state == EP_OPEN && e->started;
}

static void ep_schedule_flush(struct ep *e)
{
    struct sim_net *n = e->c->net;
    if (!ep_callable(e) || e->paused)
        return;
    if (e->inbox.len == 0 && !(e->eof_pending && !e->eof_delivered) &&
        !e->drain_due)
        return;
    if (!sim_event_queued(&e->flush_ev))
        sim_world_schedule(n->w, &e->flush_ev, sim_world_now_us(n->w));
}

/* ---- segments ---- */

static void dir_arm(struct sim_net *n, struct conn *c, unsigned i)
{
    struct dir *d = &c->dir[i];
    if (d->head == NULL || sim_event_queued(&d->ev))
        return;
    uint64_t now = sim_world_now_us(n->w);
    d->ev.node = c->ep[1 - i].host;
    sim_world_schedule(n->w, &d->ev,
                       d->head->arrive_us > now ? d->head->arrive_us : now);
}

static void dir_push(struct sim_net *n, struct conn *c, unsigned i,
                     const void *data, uint32_t len, bool fin)
{
    struct dir *d = &c->dir[i];
    struct seg *s = seg_new(n, len);
    s->next = NULL;
    s->len = len;
    s->fin = fin;
    if (len > 0)
        memcpy(s->data, data, len);
    unsigned from = c->ep[i].host, to = c->ep[1 - i].host;
    uint32_t ppm = link_of(n, from, to)->cfg.break_ppm;
    s->reset = ppm > 0 && cairn_rng_chance(sim_world_rng(n->w), ppm, 1000000);
    uint64_t arrive = sim_world_now_us(n->w) + latency_sample(n, from, to);
    if (arrive < d->last_arrive_us)
        arrive = d->last_arrive_us;
    ASSERT(arrive >= d->last_arrive_us);
    s->arrive_us = d->last_arrive_us = arrive;
    if (d->tail != NULL)
        d->tail->next = s;
    else
        d->head = s;
    d->tail = s;
    d->inflight += len;
    dir_arm(n, c, i);
}

/* Moves bytes from ep[i]'s outbox into flight while the window allows. */
static void pump(struct sim_net *n, struct conn *c, unsigned i)
{
    struct ep *e = &c->ep[i];
    struct dir *d = &c->dir[i];
    while (e->outbox.len > 0 && d->inflight < SIM_NET_WINDOW_BYTES) {
        size_t len = e->outbox.len;
        if (len > SIM_NET_SEGMENT_MAX)
            len = SIM_NET_SEGMENT_MAX;
        if (len > SIM_NET_WINDOW_BYTES - d->inflight)
            len = SIM_NET_WINDOW_BYTES - d->inflight;
        if (len > 1 && n->cfg.split_ppm > 0 &&
            cairn_rng_chance(sim_world_rng(n->w), n->cfg.split_ppm, 1000000))
            len = 1 + cairn_rng_below(sim_world_rng(n->w), len - 1);
        dir_push(n, c, i, e->outbox.data, (uint32_t)len, false);
        sim_bytes_consume(&e->outbox, len);
    }
    ASSERT(d->inflight <= SIM_NET_WINDOW_BYTES);
    if (e->outbox.len == 0 && e->drain_wanted) {
        e->drain_wanted = false;
        e->drain_due = true;
        ep_schedule_flush(e);
    }
}

/* Hands bytes that arrived to e: straight to its reader when it is reading
 * and nothing is buffered, else into its inbox. */
static void ep_receive(struct ep *e, const uint8_t *data, size_t len)
{
    if (e->state != EP_OPEN && e->state != EP_CONNECTING)
        return;
    if (e->eof_pending)
        return; /* a reset already ended the stream */
    if (ep_callable(e) && !e->paused && e->inbox.len == 0) {
        e->h.read_cb(e->ctx, &e->base, (const char *)data, len);
        return;
    }
    sim_bytes_append(&e->inbox, data, len);
    ep_schedule_flush(e);
}

static void ep_set_eof(struct ep *e, int status)
{
    if (e->eof_pending || e->state == EP_UNUSED || e->state == EP_DEAD)
        return;
    e->eof_pending = true;
    e->eof_status = status;
    ep_schedule_flush(e);
}

static void dir_deliver_head(struct sim_net *n, struct conn *c, unsigned i)
{
    struct dir *d = &c->dir[i];
    struct seg *s = d->head;
    d->head = s->next;
    if (d->head == NULL)
        d->tail = NULL;
    ASSERT(d->inflight >= s->len);
    d->inflight -= s->len;
    struct ep *to = &c->ep[1 - i];
    n->stats.segments_delivered++;
    n->stats.bytes_delivered += s->len;
    sim_world_trace_arg(n->w, c->id * 2 + i);
    if (s->len > 0) {
        sim_world_trace_bytes(n->w, s->data, s->len);
        ep_receive(to, s->data, s->len);
    }
    if (s->fin)
        ep_set_eof(to, CAIRN_ECLOSED);
    seg_free(n, s);
}

static void conn_break(struct conn *c, int status)
{
    if (c->broken)
        return;
    struct sim_net *n = c->net;
    c->broken = true;
    n->stats.conns_broken++;
    sim_world_cancel(n->w, &c->break_ev);
    for (unsigned i = 0; i < 2; i++) {
        struct ep *e = &c->ep[i];
        dir_clear(n, &c->dir[i]);
        /* A reset discards what was not yet read or sent. */
        e->inbox.len = 0;
        e->outbox.len = 0;
        e->drain_wanted = false;
        ep_set_eof(e, status);
    }
}

static void dir_fire(struct sim_event *ev)
{
    struct dir *d = sim_container_of(ev, struct dir, ev);
    struct conn *c = d->c;
    struct sim_net *n = c->net;
    unsigned i = d->index;
    unsigned from = c->ep[i].host, to = c->ep[1 - i].host;
    uint64_t now = sim_world_now_us(n->w);
    ASSERT(d->head != NULL);
    ASSERT(!c->broken);
    if (!sim_net_link_open(n, from, to) || !n->host_up[to]) {
        /* The head cannot get through: the whole stream waits, and breaks
         * once it has waited as long as TCP would retransmit. */
        if (!d->stalled) {
            d->stalled = true;
            d->stall_since_us = now;
        }
        if (now - d->stall_since_us >= n->cfg.stall_break_us) {
            conn_break(c, CAIRN_EIO);
            return;
        }
        sim_world_schedule(n->w, ev, now + n->cfg.retry_us);
        return;
    }
    d->stalled = false;
    if (d->head->reset || c->ep[1 - i].state == EP_DEAD) {
        /* A lost segment, or a host that rebooted and answers with RST. */
        sim_world_trace_arg(n->w, c->id * 2 + i);
        conn_break(c, CAIRN_EIO);
        return;
    }
    c->busy++;
    dir_deliver_head(n, c, i);
    if (!c->broken) {
        dir_arm(n, c, i);
        pump(n, c, i);
    }
    c->busy--;
    conn_maybe_free(c);
}

static void flush_fire(struct sim_event *ev)
{
    struct ep *e = sim_container_of(ev, struct ep, flush_ev);
    struct conn *c = e->c;
    struct sim_net *n = c->net;
    sim_world_trace_arg(n->w, c->id * 2 + e->side);
    c->busy++;
    if (e->drain_due && ep_callable(e)) {
        e->drain_due = false;
        if (e->h.drain_cb != NULL)
            e->h.drain_cb(e->ctx, &e->base);
    }
    if (ep_callable(e) && !e->paused && e->inbox.len > 0) {
        /* The inbox is not freed before busy drops, so passing it to the
         * reader is safe even if the reader closes the conn. */
        size_t len = e->inbox.len;
        sim_world_trace_bytes(n->w, e->inbox.data, len);
        e->h.read_cb(e->ctx, &e->base, (const char *)e->inbox.data, len);
        sim_bytes_consume(&e->inbox, len);
    }
    if (ep_callable(e) && !e->paused && e->inbox.len == 0 && e->eof_pending &&
        !e->eof_delivered) {
        e->eof_delivered = true;
        e->h.eof_cb(e->ctx, &e->base, e->eof_status);
    }
    c->busy--;
    conn_maybe_free(c);
}

static struct listener *listener_find(struct sim_net *n, unsigned host,
                                      uint16_t port)
{
    for (struct listener *l = n->listeners; l != NULL; l = l->next)
        if (l->host == host && l->port == port && !l->dead)
            return l;
    return NULL;
}

static void hs_to_client(struct sim_net *n, struct conn *c, unsigned state,
                         int status)
{
    c->hs_state = (uint8_t)state;
    c->hs_status = status;
    c->hs_ev.node = c->ep[0].host;
    sim_world_schedule_in(n->w, &c->hs_ev,
                          latency_sample(n, c->ep[1].host, c->ep[0].host));
}

/* The SYN reaches the target host: accept, refuse, or retry. */
static void hs_syn(struct sim_net *n, struct conn *c)
{
    unsigned from = c->ep[0].host, to = c->ep[1].host;
    uint64_t now = sim_world_now_us(n->w);
    if (!n->host_up[to] || !sim_net_link_open(n, from, to)) {
        if (now - c->hs_started_us >= n->cfg.connect_timeout_us) {
            n->stats.connects_timed_out++;
            c->hs_state = HS_FAIL;
            c->hs_status = CAIRN_EIO;
            c->hs_ev.node = from;
            sim_world_schedule(n->w, &c->hs_ev, now);
            return;
        }
        sim_world_schedule(n->w, &c->hs_ev, now + n->cfg.retry_us);
        return;
    }
    struct listener *l = listener_find(n, to, c->ep[1].port);
    if (l == NULL) {
        n->stats.connects_refused++;
        hs_to_client(n, c, HS_FAIL, CAIRN_ECLOSED);
        return;
    }
    struct ep *e = &c->ep[1];
    e->base.io = l->base.io;
    e->state = EP_OPEN;
    e->held = true;
    e->flush_ev.node = e->host;
    hs_to_client(n, c, HS_SYNACK, 0);
    l->cb(l->ctx, &e->base);
    ASSERT(e->started || !e->held);
}

static void hs_fire(struct sim_event *ev)
{
    struct conn *c = sim_container_of(ev, struct conn, hs_ev);
    struct sim_net *n = c->net;
    struct ep *e = &c->ep[0];
    sim_world_trace_arg(n->w, c->id * 2);
    c->busy++;
    if (c->hs_state == HS_SYN) {
        hs_syn(n, c);
    } else if (c->hs_state == HS_SYNACK) {
        ASSERT(e->state == EP_CONNECTING);
        e->state = EP_OPEN;
        e->held = true;
        c->hs_state = HS_DONE;
        n->stats.conns_opened++;
        c->connect_cb(c->connect_ctx, &e->base, 0);
        ASSERT(e->started || !e->held);
    } else {
        ASSERT(c->hs_state == HS_FAIL);
        ASSERT(e->state == EP_CONNECTING);
        e->state = EP_UNUSED;
        c->hs_state = HS_DONE;
        c->connect_cb(c->connect_ctx, NULL, c->hs_status);
    }
    c->busy--;
    conn_maybe_free(c);
}

static void break_fire(struct sim_event *ev)
{
    struct conn *c = sim_container_of(ev, struct conn, break_ev);
    sim_world_trace_arg(c->net->w, c->id * 2);
    c->busy++;
    conn_break(c, CAIRN_EIO);
    c->busy--;
    conn_maybe_free(c);
}

/* ---- listeners and connects ---- */

static bool addr_is_host(const struct sim_net *n, unsigned host,
                         const char *addr)
{
    if (strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0)
        return true;
    return sim_net_host_lookup(n, host, addr) == (int)host;
}

static uint16_t port_ephemeral(struct sim_net *n, unsigned host)
{
    for (unsigned tries = 0; tries < 65536; tries++) {
        uint16_t p = n->port_next[host]++;
        if (n->port_next[host] == 0)
            n->port_next[host] = 40000;
        if (p >= 1024 && listener_find(n, host, p) == NULL)
            return p;
    }
    UNREACHABLE();
}

int sim_net_listen(struct sim_net *n, struct io *io, unsigned host,
                   const char *addr, uint16_t port, void *ctx,
                   io_accept_cb cb, struct io_listener **out)
{
    ASSERT(host < n->host_count);
    if (!addr_is_host(n, host, addr))
        return CAIRN_EADDR;
    if (port != 0 && listener_find(n, host, port) != NULL)
        return CAIRN_EADDR;
    unsigned count = 0;
    for (struct listener *l = n->listeners; l != NULL; l = l->next)
        count += l->host == host && !l->dead;
    if (count >= SIM_NET_LISTENERS_MAX)
        return CAIRN_EFULL;
    struct listener *l = cairn_calloc(1, sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    l->base.io = io;
    l->net = n;
    l->host = (uint16_t)host;
    l->port = port != 0 ? port : port_ephemeral(n, host);
    l->ctx = ctx;
    l->cb = cb;
    l->next = n->listeners;
    if (n->listeners != NULL)
        n->listeners->prev = l;
    n->listeners = l;
    *out = &l->base;
    return 0;
}

uint16_t sim_net_listener_port(const struct io_listener *il)
{
    const struct listener *l =
        sim_container_of(il, const struct listener, base);
    return l->port;
}

static void listener_free(struct sim_net *n, struct listener *l)
{
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        n->listeners = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    cairn_free(l);
}

void sim_net_listener_close(struct io_listener *il)
{
    struct listener *l = sim_container_of(il, struct listener, base);
    listener_free(l->net, l);
}

int sim_net_connect(struct sim_net *n, struct io *io, unsigned host,
                    const char *addr, uint16_t port, void *ctx,
                    io_connect_cb cb)
{
    ASSERT(host < n->host_count);
    ASSERT(n->host_up[host]);
    int to = sim_net_host_lookup(n, host, addr);
    if (to < 0 || port == 0)
        return CAIRN_EADDR;
    struct conn *c = conn_new(n);
    c->ep[0].base.io = io;
    c->ep[0].host = (uint16_t)host;
    c->ep[0].port = port_ephemeral(n, host);
    c->ep[0].state = EP_CONNECTING;
    c->ep[0].flush_ev.node = (uint16_t)host;
    c->ep[1].host = (uint16_t)to;
    c->ep[1].port = port;
    c->connect_ctx = ctx;
    c->connect_cb = cb;
    c->hs_state = HS_SYN;
    c->hs_started_us = sim_world_now_us(n->w);
    c->hs_ev.node = (uint16_t)to;
    sim_world_schedule_in(n->w, &c->hs_ev,
                          latency_sample(n, host, (unsigned)to));
    return 0;
}

/* ---- connection ops ---- */

void sim_net_conn_start(struct io_conn *ioc, void *ctx,
                        const struct io_conn_handlers *h)
{
    struct ep *e = ep_of(ioc);
    ASSERT(h->read_cb != NULL);
    ASSERT(h->eof_cb != NULL);
    e->ctx = ctx;
    e->h = *h;
    e->started = true;
    ep_schedule_flush(e);
}

void sim_net_conn_read_pause(struct io_conn *ioc)
{
    ep_of(ioc)->paused = true;
}

void sim_net_conn_read_resume(struct io_conn *ioc)
{
    struct ep *e = ep_of(ioc);
    e->paused = false;
    ep_schedule_flush(e);
}

int sim_net_conn_write(struct io_conn *ioc, const void *data, size_t len)
{
    struct ep *e = ep_of(ioc);
    struct conn *c = e->c;
    if (e->state == EP_DEAD)
        return CAIRN_ESHUTDOWN;
    if (c->broken)
        return CAIRN_ECLOSED;
    if (len == 0)
        return 0;
    if (e->outbox.len + len > SIM_NET_PENDING_MAX)
        return CAIRN_EFULL;
    sim_bytes_append(&e->outbox, data, len);
    pump(c->net, c, e->side);
    if (e->outbox.len > 0)
        e->drain_wanted = true;
    return 0;
}

size_t sim_net_conn_write_pending(struct io_conn *ioc)
{
    return ep_of(ioc)->outbox.len;
}

static int ep_name(const struct ep *e, char *out, size_t out_len)
{
    char addr[32];
    sim_net_host_addr(e->host, addr, sizeof(addr));
    int r = snprintf(out, out_len, "%s:%u", addr, (unsigned)e->port);
    return r < 0 || (size_t)r >= out_len ? CAIRN_EINVAL : 0;
}

int sim_net_conn_peer_name(struct io_conn *ioc, char *out, size_t out_len)
{
    struct ep *e = ep_of(ioc);
    return ep_name(&e->c->ep[1 - e->side], out, out_len);
}

int sim_net_conn_local_name(struct io_conn *ioc, char *out, size_t out_len)
{
    return ep_name(ep_of(ioc), out, out_len);
}

void sim_net_conn_close(struct io_conn *ioc)
{
    struct ep *e = ep_of(ioc);
    struct conn *c = e->c;
    struct sim_net *n = c->net;
    e->held = false;
    if (e->state == EP_OPEN && !c->broken && !c->dir[e->side].fin_sent) {
        /* Bytes in flight still arrive, then the FIN; the pending queue
         * that never reached the socket is dropped. */
        e->outbox.len = 0;
        c->dir[e->side].fin_sent = true;
        dir_push(n, c, e->side, NULL, 0, true);
    }
    e->state = EP_UNUSED;
    e->drain_wanted = false;
    sim_world_cancel(n->w, &e->flush_ev);
    conn_maybe_free(c);
}

/* ---- host power ---- */

static void schedule_keepalive_break(struct sim_net *n, struct conn *c,
                                     unsigned survivor)
{
    if (c->broken || sim_event_queued(&c->break_ev))
        return;
    c->break_ev.node = c->ep[survivor].host;
    sim_world_schedule_in(n->w, &c->break_ev, n->cfg.stall_break_us);
}

/* The end on a crashed host (or a released io) stops existing for its owner. */
static void ep_kill(struct sim_net *n, struct conn *c, unsigned i, bool dead)
{
    struct ep *e = &c->ep[i];
    struct ep *other = &c->ep[1 - i];
    if (e->state == EP_CONNECTING) {
        sim_world_cancel(n->w, &c->hs_ev);
        c->hs_state = HS_DONE;
        e->state = EP_UNUSED;
        if (other->state == EP_OPEN)
            schedule_keepalive_break(n, c, 1 - i);
        return;
    }
    if (e->state != EP_OPEN)
        return;
    e->state = dead ? EP_DEAD : EP_UNUSED;
    if (!dead)
        e->held = false;
    sim_world_cancel(n->w, &e->flush_ev);
    if (other->state == EP_OPEN || other->state == EP_CONNECTING)
        schedule_keepalive_break(n, c, 1 - i);
}

void sim_net_host_crash(struct sim_net *n, unsigned host)
{
    ASSERT(host < n->host_count);
    n->host_up[host] = false;
    for (struct listener *l = n->listeners; l != NULL; l = l->next)
        if (l->host == host)
            l->dead = true;
    struct conn *next;
    for (struct conn *c = n->conns; c != NULL; c = next) {
        next = c->next;
        for (unsigned i = 0; i < 2; i++)
            if (c->ep[i].host == host)
                ep_kill(n, c, i, true);
        conn_maybe_free(c);
    }
}

void sim_net_host_up(struct sim_net *n, unsigned host)
{
    ASSERT(host < n->host_count);
    n->host_up[host] = true;
}

bool sim_net_host_is_up(const struct sim_net *n, unsigned host)
{
    ASSERT(host < n->host_count);
    return n->host_up[host];
}

void sim_net_io_release(struct sim_net *n, struct io *io)
{
    struct listener *lnext;
    for (struct listener *l = n->listeners; l != NULL; l = lnext) {
        lnext = l->next;
        if (l->base.io == io)
            listener_free(n, l);
    }
    struct conn *next;
    for (struct conn *c = n->conns; c != NULL; c = next) {
        next = c->next;
        for (unsigned i = 0; i < 2; i++) {
            struct ep *e = &c->ep[i];
            if (e->base.io != io)
                continue;
            ep_kill(n, c, i, false);
            e->held = false;
            if (e->state == EP_DEAD)
                e->state = EP_UNUSED;
        }
        conn_maybe_free(c);
    }
}

size_t sim_net_io_handles(const struct sim_net *n, const struct io *io)
{
    size_t count = 0;
    for (const struct listener *l = n->listeners; l != NULL; l = l->next)
        count += l->base.io == io;
    for (const struct conn *c = n->conns; c != NULL; c = c->next)
        for (unsigned i = 0; i < 2; i++)
            count += c->ep[i].held && c->ep[i].base.io == io;
    return count;
}

void sim_net_free(struct sim_net *n)
{
    if (n == NULL)
        return;
    while (n->listeners != NULL)
        listener_free(n, n->listeners);
    while (n->conns != NULL) {
        struct conn *c = n->conns;
        c->ep[0].held = c->ep[1].held = false;
        c->ep[0].state = c->ep[1].state = EP_UNUSED;
        c->hs_state = HS_DONE;
        c->busy = 0;
        conn_maybe_free(c);
    }
    while (n->seg_pool != NULL) {
        struct seg *s = n->seg_pool;
        n->seg_pool = s->next;
        cairn_free(s);
    }
    cairn_free(n);
}
