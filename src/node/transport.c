/*
 * transport.c: authenticated, framed peer links over io.h (see transport.h
 * for the wire format and docs/design/transport.md for the design).
 *
 * Objects:
 *   struct tpeer  one configured peer: its address, its outgoing connection
 *                 (the only one we send on), its accepted connection (one we
 *                 receive on), a dial in flight, and a timer that dials with
 *                 backoff and reports "down" from the event loop.
 *   struct tconn  one connection in either direction: handshake state, a
 *                 handshake timer, and the frame being assembled.
 *   struct dial   one io_connect in flight; it outlives its peer (or the
 *                 whole transport) as an orphan when they go first, because
 *                 io.h cannot cancel a connect.
 *
 * Invariants (checked where named):
 *   - a conn carries application frames only in state CONN_OPEN, reached
 *     only after the peer's AUTH verified (frame_dispatch, transport_send);
 *   - bytes buffered for a frame never exceed the frame limit of the state:
 *     TRANSPORT_HS_FRAME_MAX before CONN_OPEN, frame_size_max after
 *     (rx_header_check, ASSERTed in rx_step);
 *   - a peer has at most one outgoing conn and at most one open accepted
 *     conn; pending accepted conns <= TRANSPORT_PENDING_CONNS_MAX
 *     (on_accept, hs_open_accepted);
 *   - a conn marked dead is freed exactly once, when no read callback for
 *     it is on the stack (conn_release);
 *   - io bytes queued on a peer's outgoing conn stay within
 *     send_queue_bytes_max plus one frame (transport_send).
 */
#include "node/transport.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/sha256.h"

/* A receive (or send) buffer above this is released after its frame is
 * delivered (written), so one huge snapshot frame does not pin its size. */
#define RX_BUF_KEEP (64u * 1024)
#define ADDR_LEN 300

enum conn_state { CONN_HELLO = 1, CONN_AUTH = 2, CONN_OPEN = 3 };

struct tpeer;

struct tconn {
    struct transport *t;
    struct io_conn *io_conn;
    struct io_timer *hs_timer;
    struct tpeer *peer; /* outgoing: set at creation; accepted: once open */
    struct tconn *next; /* accepted conns list */
    struct tconn *prev;
    uint64_t peer_id; /* from the peer's HELLO; 0 before */
    uint8_t role;     /* our role on this conn */
    uint8_t state;
    bool dead;
    unsigned in_read; /* read callbacks on the stack */
    uint8_t nonce_self[TRANSPORT_NONCE_SIZE];
    uint8_t nonce_peer[TRANSPORT_NONCE_SIZE];
    uint8_t hdr[TRANSPORT_FRAME_HEADER_SIZE];
    size_t hdr_len;
    uint32_t frame_len;
    uint8_t *rx;
    size_t rx_len;
    size_t rx_cap;
    char addr[ADDR_LEN];
};

struct dial {
    struct tpeer *peer; /* NULL: orphan, close whatever arrives */
};

struct tpeer {
    struct transport *t;
    uint64_t id;
    char host[TRANSPORT_HOST_LEN_MAX + 1];
    uint16_t port;
    struct tconn *out;
    struct tconn *in;
    struct dial *dial;
    struct io_timer *timer;
    uint64_t backoff_ms;
    bool up;          /* last state reported to peer_cb */
    bool down_report; /* a "down" waits for the timer to report it */
    bool addr_warned; /* the address was refused by io (logged once) */
};

struct transport {
    struct io *io;
    struct transport_config cfg;
    uint8_t *secret;
    void *ctx;
    transport_recv_cb recv_cb;
    transport_peer_cb peer_cb;
    struct io_listener *listener;
    struct cairn_rng rng;
    struct tpeer *peers[TRANSPORT_PEERS_MAX]; /* in insertion order */
    size_t peers_count;
    struct tconn *accepted; /* accepted conns, pending and open */
    size_t pending_count;   /* accepted conns not yet open */
    struct transport_stats stats;
    struct buf tx; /* one frame, header and payload, for a single write */
};

static void conn_close(struct tconn *c, bool notify);
static void peer_schedule(struct tpeer *p, bool now);

/* ---- small helpers ---- */

static void store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}

static uint32_t frame_crc(const uint8_t len_bytes[4], const uint8_t *payload,
                          size_t len)
{
    return cairn_crc32c(cairn_crc32c(0, len_bytes, 4), payload, len);
}

static struct tpeer *peer_find(const struct transport *t, uint64_t id)
{
    for (size_t i = 0; i < t->peers_count; i++)
        if (t->peers[i]->id == id)
            return t->peers[i];
    return NULL;
}

/* Logs why a connection is being dropped and drops it.  Used for anything a
 * peer did wrong: the operator needs the address to find the culprit. */
static void conn_fail(struct tconn *c, const char *why)
{
    LOG_WARNING("transport: closing %s connection %s (peer id %llu): %s",
                c->role == TRANSPORT_ROLE_DIALER ? "outgoing" : "incoming",
                c->addr, (unsigned long long)c->peer_id, why);
    conn_close(c, true);
}

/* ---- writing ---- */

/* Writes one frame (header then payload) to c.  Returns 0 or the io error;
 * on error the stream may hold half a frame, so the caller must close c. */
/* Header and payload go to io as one write: one syscall per frame in the
 * daemon, and a failed write never leaves half a frame on the stream. */
static int conn_write_frame(struct tconn *c, const void *payload, size_t len)
{
    ASSERT(len <= UINT32_MAX);
    struct buf *tx = &c->t->tx;
    uint8_t hdr[TRANSPORT_FRAME_HEADER_SIZE];
    store_le32(hdr, (uint32_t)len);
    store_le32(hdr + 4, frame_crc(hdr, payload, len));
    buf_clear(tx);
    int rc = buf_append(tx, hdr, sizeof(hdr));
    if (rc == 0)
        rc = buf_append(tx, payload, len);
    if (rc == 0)
        rc = io_conn_write(c->io_conn, tx->data, tx->len);
    if (tx->cap > RX_BUF_KEEP)
        buf_free(tx); /* one huge snapshot frame does not pin its size */
    if (rc == 0) {
        c->t->stats.bytes_sent += sizeof(hdr) + len;
    }
    return rc;
}

static int hs_send_hello(struct tconn *c)
{
    struct transport *t = c->t;
    for (size_t i = 0; i < TRANSPORT_NONCE_SIZE; i += 8) {
        uint64_t r = cairn_rng_next(&t->rng);
        store_le64(c->nonce_self + i, r);
    }
    uint8_t m[TRANSPORT_HELLO_SIZE];
    memcpy(m, TRANSPORT_MAGIC, 4);
    m[4] = (uint8_t)TRANSPORT_VERSION;
    m[5] = (uint8_t)(TRANSPORT_VERSION >> 8);
    m[6] = c->role;
    m[7] = 0;
    store_le64(m + 8, t->cfg.self_id);
    memcpy(m + 16, c->nonce_self, TRANSPORT_NONCE_SIZE);
    return conn_write_frame(c, m, sizeof(m));
}

/* The proof a sender of role `role` gives on conn c: it binds the secret, the
 * direction, both fresh nonces and both ids, so it cannot be replayed on
 * another connection nor reflected back to its sender. */
static void hs_proof(const struct tconn *c, uint8_t role,
                     uint8_t out[CAIRN_SHA256_SIZE])
{
    const struct transport *t = c->t;
    bool we_dial = c->role == TRANSPORT_ROLE_DIALER;
    const uint8_t *dn = we_dial ? c->nonce_self : c->nonce_peer;
    const uint8_t *an = we_dial ? c->nonce_peer : c->nonce_self;
    uint8_t ids[16];
    store_le64(ids, we_dial ? t->cfg.self_id : c->peer_id);
    store_le64(ids + 8, we_dial ? c->peer_id : t->cfg.self_id);
    struct cairn_hmac_sha256 h;
    cairn_hmac_sha256_init(&h, t->secret, t->cfg.secret_len);
    cairn_hmac_sha256_update(&h, TRANSPORT_AUTH_LABEL,
                             strlen(TRANSPORT_AUTH_LABEL));
    cairn_hmac_sha256_update(&h, &role, 1);
    cairn_hmac_sha256_update(&h, dn, TRANSPORT_NONCE_SIZE);
    cairn_hmac_sha256_update(&h, an, TRANSPORT_NONCE_SIZE);
    cairn_hmac_sha256_update(&h, ids, sizeof(ids));
    cairn_hmac_sha256_final(&h, out);
}

/* ---- connection lifetime ---- */

static void conn_release(struct tconn *c)
{
    ASSERT(c->dead);
    ASSERT(c->in_read == 0);
    cairn_free(c->rx);
    cairn_free(c);
}

static void accepted_unlink(struct tconn *c)
{
    struct transport *t = c->t;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->accepted = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/*
 * Closes c at once and detaches it from its peer and lists.  notify: we are
 * in an io callback, so peer_cb may run now; otherwise a lost outgoing link
 * is reported from the peer's timer.  The memory goes when no read callback
 * of c is on the stack.
 */
static void conn_close(struct tconn *c, bool notify)
{
    if (c->dead)
        return;
    struct transport *t = c->t;
    c->dead = true;
    io_conn_close(c->io_conn);
    if (c->hs_timer != NULL) {
        io_timer_free(c->hs_timer);
        c->hs_timer = NULL;
    }
    struct tpeer *p = c->peer;
    c->peer = NULL;
    if (c->role == TRANSPORT_ROLE_ACCEPTOR) {
        if (c->state != CONN_OPEN) {
            ASSERT(t->pending_count > 0);
            t->pending_count--;
        }
        accepted_unlink(c);
        if (p != NULL && p->in == c)
            p->in = NULL;
    } else if (p != NULL) {
        ASSERT(p->out == c);
        p->out = NULL;
        bool was_up = p->up;
        p->up = false;
        if (was_up && notify && t->peer_cb != NULL) {
            peer_schedule(p, false);
            t->peer_cb(t->ctx, p->id, false);
        } else {
            p->down_report = was_up && t->peer_cb != NULL;
            peer_schedule(p, p->down_report);
        }
    }
    if (c->in_read == 0)
        conn_release(c);
}

static void on_hs_timeout(void *ctx)
{
    struct tconn *c = ctx;
    c->t->stats.handshakes_failed++;
    conn_fail(c, "handshake timed out");
}

static void on_read(void *ctx, struct io_conn *ioc, const char *data,
                    size_t len);

static void on_eof(void *ctx, struct io_conn *ioc, int status)
{
    struct tconn *c = ctx;
    (void)ioc;
    if (c->state != CONN_OPEN)
        c->t->stats.handshakes_failed++;
    LOG_NOTICE("transport: %s connection %s (peer id %llu) closed: %s",
               c->role == TRANSPORT_ROLE_DIALER ? "outgoing" : "incoming",
               c->addr, (unsigned long long)c->peer_id,
               cairn_strerror(status));
    conn_close(c, true);
}

/*
 * Wraps a fresh io conn: starts reading, sends HELLO, arms the handshake
 * timer.  Returns the conn, or NULL after closing ioc (no memory, write
 * failed).  Takes ownership of ioc either way.
 */
static struct tconn *conn_new(struct transport *t, struct io_conn *ioc,
                              uint8_t role, const char *addr)
{
    struct tconn *c = cairn_calloc(1, sizeof(*c));
    if (c == NULL)
        goto out_close;
    c->hs_timer = io_timer_new(t->io, c, on_hs_timeout);
    if (c->hs_timer == NULL)
        goto out_free;
    c->t = t;
    c->io_conn = ioc;
    c->role = role;
    c->state = CONN_HELLO;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    static const struct io_conn_handlers handlers = {
        .read_cb = on_read, .eof_cb = on_eof, .drain_cb = NULL};
    io_conn_start(ioc, c, &handlers);
    if (hs_send_hello(c) != 0) {
        io_timer_free(c->hs_timer);
        goto out_free;
    }
    io_timer_start(c->hs_timer, t->cfg.handshake_timeout_ms);
    return c;
out_free:
    cairn_free(c);
out_close:
    LOG_WARNING("transport: dropping connection %s: cannot set it up "
                "(out of memory or write failed)", addr);
    io_conn_close(ioc);
    return NULL;
}

/* ---- handshake ---- */

/* Checks the peer's HELLO and answers with our AUTH.  Returns NULL or the
 * reason to drop the connection. */
static const char *hs_on_hello(struct tconn *c, const uint8_t *m, size_t len)
{
    struct transport *t = c->t;
    if (len != TRANSPORT_HELLO_SIZE || memcmp(m, TRANSPORT_MAGIC, 4) != 0)
        return "not a cairn peer (bad HELLO)";
    unsigned version = (unsigned)m[4] | ((unsigned)m[5] << 8);
    if (version != TRANSPORT_VERSION)
        return "unsupported protocol version";
    if (m[6] == c->role || m[6] > TRANSPORT_ROLE_ACCEPTOR)
        return "peer claims the wrong role";
    uint64_t id = load_le64(m + 8);
    if (id == 0 || id == t->cfg.self_id)
        return "peer claims our own node id (or 0)";
    if (c->role == TRANSPORT_ROLE_DIALER) {
        ASSERT(c->peer != NULL);
        if (id != c->peer->id)
            return "peer answered with an unexpected node id";
    } else if (peer_find(t, id) == NULL) {
        return "peer claims a node id that is not configured";
    }
    c->peer_id = id;
    memcpy(c->nonce_peer, m + 16, TRANSPORT_NONCE_SIZE);
    uint8_t proof[CAIRN_SHA256_SIZE];
    hs_proof(c, c->role, proof);
    if (conn_write_frame(c, proof, sizeof(proof)) != 0)
        return "cannot write AUTH";
    c->state = CONN_AUTH;
    return NULL;
}

/* An accepted conn finished its handshake: it replaces any older open conn
 * from the same peer (the peer restarted or redialled; the old one is dead
 * or about to be).  Returns false if c was closed. */
static bool hs_open_accepted(struct tconn *c)
{
    struct transport *t = c->t;
    struct tpeer *p = peer_find(t, c->peer_id);
    if (p == NULL) {
        conn_fail(c, "peer was removed during the handshake");
        return false;
    }
    if (p->in != NULL) {
        LOG_NOTICE("transport: peer %llu reconnected from %s; dropping its "
                   "older connection %s", (unsigned long long)p->id, c->addr,
                   p->in->addr);
        conn_close(p->in, true);
    }
    ASSERT(t->pending_count > 0);
    t->pending_count--;
    c->state = CONN_OPEN;
    c->peer = p;
    p->in = c;
    return true;
}

/* Verifies the peer's AUTH; on success the conn opens.  Returns NULL or the
 * reason to drop it. */
static const char *hs_on_auth(struct tconn *c, const uint8_t *m, size_t len)
{
    struct transport *t = c->t;
    if (len != TRANSPORT_AUTH_SIZE)
        return "bad AUTH frame";
    uint8_t want[CAIRN_SHA256_SIZE];
    uint8_t peer_role = c->role == TRANSPORT_ROLE_DIALER
                            ? TRANSPORT_ROLE_ACCEPTOR
                            : TRANSPORT_ROLE_DIALER;
    hs_proof(c, peer_role, want);
    if (!cairn_mem_equal_ct(want, m, sizeof(want)))
        return "authentication failed (wrong cluster secret?)";
    io_timer_free(c->hs_timer);
    c->hs_timer = NULL;
    t->stats.handshakes_ok++;
    if (c->role == TRANSPORT_ROLE_ACCEPTOR) {
        (void)hs_open_accepted(c);
        return NULL;
    }
    struct tpeer *p = c->peer;
    ASSERT(p != NULL && p->out == c);
    c->state = CONN_OPEN;
    p->backoff_ms = t->cfg.reconnect_min_ms;
    p->down_report = false;
    p->up = true;
    LOG_VERBOSE("transport: link to peer %llu (%s) is up",
                (unsigned long long)p->id, c->addr);
    if (t->peer_cb != NULL)
        t->peer_cb(t->ctx, p->id, true);
    return NULL;
}

/* ---- receiving ---- */

/* One complete frame: checksum, then by state.  May close c. */
static void frame_dispatch(struct tconn *c, const uint8_t *hdr,
                           const uint8_t *payload, size_t len)
{
    struct transport *t = c->t;
    static const uint8_t empty[1];
    if (payload == NULL)
        payload = empty; /* a zero-length frame with no buffer yet */
    if (frame_crc(hdr, payload, len) != load_le32(hdr + 4)) {
        t->stats.conns_closed_bad_frame++;
        if (c->state != CONN_OPEN)
            t->stats.handshakes_failed++;
        conn_fail(c, "frame checksum mismatch");
        return;
    }
    t->stats.bytes_received += TRANSPORT_FRAME_HEADER_SIZE + len;
    const char *why = NULL;
    switch (c->state) {
    case CONN_HELLO:
        why = hs_on_hello(c, payload, len);
        break;
    case CONN_AUTH:
        why = hs_on_auth(c, payload, len);
        break;
    case CONN_OPEN:
        ASSERT(c->peer_id != 0);
        t->stats.frames_received++;
        t->recv_cb(t->ctx, c->peer_id, payload, len);
        return;
    default:
        UNREACHABLE();
    }
    if (why != NULL) {
        t->stats.handshakes_failed++;
        conn_fail(c, why);
    }
}

/* Checks a frame length against the limit of c's state.  Returns false after
 * closing c. */
static bool rx_header_check(struct tconn *c, uint32_t len)
{
    size_t max = c->state == CONN_OPEN ? c->t->cfg.frame_size_max
                                       : TRANSPORT_HS_FRAME_MAX;
    if (len <= max)
        return true;
    char why[96];
    snprintf(why, sizeof(why), "frame of %lu bytes exceeds the limit of %zu",
             (unsigned long)len, max);
    c->t->stats.conns_closed_bad_frame++;
    if (c->state != CONN_OPEN)
        c->t->stats.handshakes_failed++;
    conn_fail(c, why);
    return false;
}

static void rx_frame_done(struct tconn *c)
{
    c->hdr_len = 0;
    c->rx_len = 0;
    size_t len = c->frame_len;
    c->frame_len = 0;
    frame_dispatch(c, c->hdr, c->rx, len);
    if (!c->dead && c->rx_cap > RX_BUF_KEEP) {
        cairn_free(c->rx);
        c->rx = NULL;
        c->rx_cap = 0;
    }
}

/*
 * Consumes a prefix of p[0..len) into the frame being assembled, delivering
 * the frame when complete.  Returns the bytes consumed (all of them when c
 * was closed).  A frame wholly inside p is delivered from p without a copy.
 */
static size_t rx_step(struct tconn *c, const uint8_t *p, size_t len)
{
    const size_t H = TRANSPORT_FRAME_HEADER_SIZE;
    if (c->hdr_len == 0 && len >= H) {
        uint32_t flen = load_le32(p);
        if (!rx_header_check(c, flen))
            return len;
        if (len - H >= flen) {
            frame_dispatch(c, p, p + H, flen);
            return H + flen;
        }
    }
    if (c->hdr_len < H) {
        size_t take = CAIRN_MIN(H - c->hdr_len, len);
        memcpy(c->hdr + c->hdr_len, p, take);
        c->hdr_len += take;
        if (c->hdr_len < H)
            return take;
        uint32_t flen = load_le32(c->hdr);
        if (!rx_header_check(c, flen))
            return len;
        if (flen > c->rx_cap) {
            uint8_t *nb = cairn_realloc(c->rx, flen);
            if (nb == NULL) {
                conn_fail(c, "out of memory for an incoming frame");
                return len;
            }
            c->rx = nb;
            c->rx_cap = flen;
        }
        c->frame_len = flen;
        c->rx_len = 0;
        if (flen == 0)
            rx_frame_done(c);
        return take;
    }
    ASSERT(c->frame_len <= c->rx_cap);
    ASSERT(c->rx_len < c->frame_len);
    size_t take = CAIRN_MIN(c->frame_len - c->rx_len, len);
    memcpy(c->rx + c->rx_len, p, take);
    c->rx_len += take;
    if (c->rx_len == c->frame_len)
        rx_frame_done(c);
    return take;
}

static void on_read(void *ctx, struct io_conn *ioc, const char *data,
                    size_t len)
{
    struct tconn *c = ctx;
    (void)ioc;
    const uint8_t *p = (const uint8_t *)data;
    c->in_read++;
    /* Each step consumes at least one byte, so this ends within len steps. */
    while (len > 0 && !c->dead) {
        size_t used = rx_step(c, p, len);
        ASSERT(used > 0 && used <= len);
        p += used;
        len -= used;
    }
    c->in_read--;
    if (c->dead && c->in_read == 0)
        conn_release(c);
}

/* ---- accepting and dialling ---- */

static void on_accept(void *ctx, struct io_conn *ioc)
{
    struct transport *t = ctx;
    char addr[ADDR_LEN];
    if (io_conn_peer_name(ioc, addr, sizeof(addr)) != 0)
        snprintf(addr, sizeof(addr), "(unknown address)");
    if (t->pending_count >= TRANSPORT_PENDING_CONNS_MAX) {
        LOG_WARNING("transport: refusing connection from %s: %d handshakes "
                    "already pending", addr, TRANSPORT_PENDING_CONNS_MAX);
        io_conn_close(ioc);
        return;
    }
    struct tconn *c = conn_new(t, ioc, TRANSPORT_ROLE_ACCEPTOR, addr);
    if (c == NULL)
        return;
    t->pending_count++;
    c->next = t->accepted;
    if (t->accepted != NULL)
        t->accepted->prev = c;
    t->accepted = c;
}

static void on_connect(void *ctx, struct io_conn *ioc, int status)
{
    struct dial *d = ctx;
    struct tpeer *p = d->peer;
    cairn_free(d);
    if (p == NULL) { /* the peer or the transport went away meanwhile */
        if (ioc != NULL)
            io_conn_close(ioc);
        return;
    }
    ASSERT(p->dial == d);
    p->dial = NULL;
    char addr[ADDR_LEN];
    snprintf(addr, sizeof(addr), "%s:%u", p->host, (unsigned)p->port);
    if (status != 0 || ioc == NULL) {
        LOG_VERBOSE("transport: cannot connect to peer %llu at %s: %s",
                    (unsigned long long)p->id, addr, cairn_strerror(status));
        peer_schedule(p, false);
        return;
    }
    struct tconn *c = conn_new(p->t, ioc, TRANSPORT_ROLE_DIALER, addr);
    if (c == NULL) {
        peer_schedule(p, false);
        return;
    }
    c->peer = p;
    p->out = c;
}

/* Arms p's timer: at once (now) or after the next backoff delay, jittered
 * in [backoff/2, backoff] so that peers restarted together do not redial in
 * lockstep.  Doubles the backoff up to reconnect_max_ms. */
static void peer_schedule(struct tpeer *p, bool now)
{
    struct transport *t = p->t;
    if (now) {
        io_timer_start(p->timer, 0);
        return;
    }
    uint64_t b = p->backoff_ms;
    uint64_t delay = b / 2 + cairn_rng_below(&t->rng, b / 2 + 1);
    p->backoff_ms = CAIRN_MIN(b * 2, t->cfg.reconnect_max_ms);
    io_timer_start(p->timer, delay);
}

static void on_peer_timer(void *ctx)
{
    struct tpeer *p = ctx;
    struct transport *t = p->t;
    if (p->down_report) {
        p->down_report = false;
        peer_schedule(p, false); /* the dial waits for the backoff */
        t->peer_cb(t->ctx, p->id, false);
        return;
    }
    if (p->out != NULL || p->dial != NULL)
        return;
    struct dial *d = cairn_malloc(sizeof(*d));
    if (d == NULL) {
        peer_schedule(p, false);
        return;
    }
    d->peer = p;
    t->stats.dials++;
    int rc = io_connect(t->io, p->host, p->port, d, on_connect);
    if (rc != 0) {
        cairn_free(d);
        /* A bad address is a configuration problem the operator must see,
         * but once per address is enough: the dial repeats forever. */
        if (rc == CAIRN_EADDR && !p->addr_warned)
            LOG_WARNING("transport: cannot dial peer %llu at %s:%u: %s",
                        (unsigned long long)p->id, p->host,
                        (unsigned)p->port, cairn_strerror(rc));
        else
            LOG_VERBOSE("transport: cannot dial peer %llu at %s:%u: %s",
                        (unsigned long long)p->id, p->host,
                        (unsigned)p->port, cairn_strerror(rc));
        p->addr_warned |= rc == CAIRN_EADDR;
        peer_schedule(p, false);
        return;
    }
    p->dial = d;
}

/* ---- public API ---- */

static int config_check(struct transport_config *c)
{
    if (c->self_id == 0 || c->secret == NULL || c->secret_len == 0 ||
        c->secret_len > TRANSPORT_SECRET_LEN_MAX)
        return CAIRN_EINVAL;
    if (c->send_queue_bytes_max == 0)
        c->send_queue_bytes_max = TRANSPORT_SEND_QUEUE_BYTES_DEFAULT;
    if (c->frame_size_max == 0)
        c->frame_size_max = CAIRN_RAFT_MSG_SIZE_MAX;
    if (c->reconnect_min_ms == 0)
        c->reconnect_min_ms = TRANSPORT_RECONNECT_MIN_MS_DEFAULT;
    if (c->reconnect_max_ms == 0)
        c->reconnect_max_ms =
            CAIRN_MAX(TRANSPORT_RECONNECT_MAX_MS_DEFAULT, c->reconnect_min_ms);
    if (c->handshake_timeout_ms == 0)
        c->handshake_timeout_ms = TRANSPORT_HANDSHAKE_TIMEOUT_MS_DEFAULT;
    if (c->reconnect_min_ms > c->reconnect_max_ms ||
        c->frame_size_max > UINT32_MAX)
        return CAIRN_EINVAL;
    return 0;
}

int transport_new(struct io *io, const struct transport_config *cfg,
                  void *ctx, transport_recv_cb recv_cb,
                  transport_peer_cb peer_cb, struct transport **out)
{
    ASSERT(io != NULL && cfg != NULL && out != NULL);
    ASSERT(recv_cb != NULL);
    struct transport_config c = *cfg;
    int rc = config_check(&c);
    if (rc != 0)
        return rc;
    struct transport *t = cairn_calloc(1, sizeof(*t));
    if (t == NULL)
        return CAIRN_ENOMEM;
    t->secret = cairn_malloc(c.secret_len);
    if (t->secret == NULL) {
        cairn_free(t);
        return CAIRN_ENOMEM;
    }
    memcpy(t->secret, c.secret, c.secret_len);
    c.secret = NULL; /* only our copy is used */
    t->io = io;
    t->cfg = c;
    t->ctx = ctx;
    t->recv_cb = recv_cb;
    t->peer_cb = peer_cb;
    buf_init(&t->tx, 0); /* a frame is bounded by the frame limits */
    cairn_rng_seed(&t->rng, io_random_seed(io) ^ (c.self_id * 0x9e3779b97f4a7c15ull));
    *out = t;
    return 0;
}

int transport_listen(struct transport *t, const char *host, uint16_t port)
{
    if (t->listener != NULL)
        return CAIRN_EEXIST;
    return io_listen(t->io, host, port, 128, t, on_accept, &t->listener);
}

struct io_listener *transport_listener(struct transport *t)
{
    return t->listener;
}

/* Drops p's outgoing link (and its dial) without calling peer_cb. */
static void peer_disconnect_out(struct tpeer *p)
{
    if (p->dial != NULL) {
        p->dial->peer = NULL;
        p->dial = NULL;
    }
    if (p->out != NULL) {
        struct tconn *c = p->out;
        c->peer = NULL;
        p->out = NULL;
        conn_close(c, false);
    }
    p->up = false;
    p->down_report = false;
}

int transport_peer_set(struct transport *t, uint64_t peer_id,
                       const char *host, uint16_t port)
{
    if (peer_id == 0 || peer_id == t->cfg.self_id || host == NULL ||
        strlen(host) > TRANSPORT_HOST_LEN_MAX)
        return CAIRN_EINVAL;
    struct tpeer *p = peer_find(t, peer_id);
    if (p != NULL) {
        if (strcmp(p->host, host) == 0 && p->port == port)
            return 0;
        peer_disconnect_out(p);
    } else {
        if (t->peers_count == TRANSPORT_PEERS_MAX)
            return CAIRN_EFULL;
        p = cairn_calloc(1, sizeof(*p));
        if (p == NULL)
            return CAIRN_ENOMEM;
        p->timer = io_timer_new(t->io, p, on_peer_timer);
        if (p->timer == NULL) {
            cairn_free(p);
            return CAIRN_ENOMEM;
        }
        p->t = t;
        p->id = peer_id;
        t->peers[t->peers_count++] = p;
    }
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = port;
    p->addr_warned = false;
    p->backoff_ms = t->cfg.reconnect_min_ms;
    peer_schedule(p, true);
    return 0;
}

static void peer_free(struct tpeer *p)
{
    peer_disconnect_out(p);
    if (p->in != NULL) {
        struct tconn *c = p->in;
        c->peer = NULL;
        p->in = NULL;
        conn_close(c, false);
    }
    io_timer_free(p->timer);
    cairn_free(p);
}

void transport_peer_remove(struct transport *t, uint64_t peer_id)
{
    for (size_t i = 0; i < t->peers_count; i++) {
        struct tpeer *p = t->peers[i];
        if (p->id != peer_id)
            continue;
        /* Keep insertion order: iteration order must not depend on
         * removal history beyond what the caller did. */
        memmove(&t->peers[i], &t->peers[i + 1],
                (t->peers_count - i - 1) * sizeof(t->peers[0]));
        t->peers_count--;
        peer_free(p);
        return;
    }
}

int transport_send(struct transport *t, uint64_t peer_id, const void *frame,
                   size_t len)
{
    struct tpeer *p = peer_find(t, peer_id);
    if (p == NULL || p->out == NULL || p->out->state != CONN_OPEN)
        return CAIRN_ECLOSED;
    if (len > t->cfg.frame_size_max)
        return CAIRN_ETOOBIG;
    struct tconn *c = p->out;
    /* An empty queue takes any frame up to frame_size_max (a snapshot
     * chunk may be larger than the queue bound); otherwise the frame must
     * fit under send_queue_bytes_max. */
    size_t pending = io_conn_write_pending(c->io_conn);
    if (pending > 0 &&
        (pending > t->cfg.send_queue_bytes_max ||
         len + TRANSPORT_FRAME_HEADER_SIZE >
             t->cfg.send_queue_bytes_max - pending)) {
        t->stats.sends_full++;
        return CAIRN_EFULL;
    }
    int rc = conn_write_frame(c, frame, len);
    if (rc != 0) {
        LOG_WARNING("transport: write to peer %llu (%s) failed: %s",
                    (unsigned long long)peer_id, c->addr, cairn_strerror(rc));
        conn_close(c, false);
        return CAIRN_ECLOSED;
    }
    t->stats.frames_sent++;
    return 0;
}

bool transport_peer_up(const struct transport *t, uint64_t peer_id)
{
    const struct tpeer *p = peer_find(t, peer_id);
    return p != NULL && p->out != NULL && p->out->state == CONN_OPEN;
}

void transport_stats_get(const struct transport *t,
                         struct transport_stats *out)
{
    *out = t->stats;
}

void transport_free(struct transport *t)
{
    if (t == NULL)
        return;
    while (t->peers_count > 0)
        peer_free(t->peers[--t->peers_count]);
    while (t->accepted != NULL)
        conn_close(t->accepted, false);
    ASSERT(t->pending_count == 0);
    if (t->listener != NULL)
        io_listener_close(t->listener);
    buf_free(&t->tx);
    cairn_free(t->secret);
    cairn_free(t);
}
