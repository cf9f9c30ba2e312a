/*
 * workload.c: simulated Redis clients; see workload.h.
 *
 * Each client is a small state machine driven by one timer and its
 * connection's callbacks:
 *   DISCONNECTED --backoff timer--> CONNECTING --connect ok--> IDLE
 *   IDLE --think timer--> WAITING (request sent, timeout armed)
 *   WAITING --reply--> IDLE;  --timeout / eof--> DISCONNECTED
 * Invariants: a client has an operation pending in the history exactly in
 * WAITING (ASSERT in send and finish); its reply buffer never exceeds
 * REPLY_MAX (a longer reply is a protocol error: the connection is dropped
 * and the operation is unknown).
 */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "sim_io.h"
#include "sim_limits.h"

#define REPLY_MAX (2 * LIN_VALUE_LEN_MAX + 64)
#define KEYS_MAX 64
#define BACKOFF_MS 50

enum cstate { C_DISCONNECTED, C_CONNECTING, C_IDLE, C_WAITING };

struct client {
    struct sim_workload *wl;
    unsigned id;
    struct sim_io *sio;
    struct io *io;
    struct io_conn *conn;
    struct io_timer *timer;
    enum cstate state;
    unsigned server;
    uint16_t port;
    struct sim_bytes in;
    size_t op_id;
    enum lin_op_kind op_kind;
    bool side;     /* the op in flight is a TTL side op (not recorded) */
    uint64_t seq;
};

struct sim_workload {
    struct sim_world *w;
    struct sim_net *net;
    struct sim_history *h;
    struct sim_workload_config cfg;
    struct sim_workload_stats stats;
    struct client *clients;
    size_t appended[KEYS_MAX];
    bool stopped;
};

struct reply {
    char type;
    int64_t i;
    const char *s;
    size_t len;
};

static const struct io_conn_handlers handlers;

/* ---- RESP ---- */

/* Parses one reply at the start of p.  Returns 1 (and *used), 0 when more
 * bytes are needed, -1 on a protocol error. */
static int reply_parse(const char *p, size_t len, struct reply *r,
                       size_t *used)
{
    const char *nl = len > 0 ? memchr(p, '\n', len) : NULL;
    if (nl == NULL)
        return len > REPLY_MAX ? -1 : 0;
    if (nl == p || nl[-1] != '\r')
        return -1;
    size_t line = (size_t)(nl - p) - 1; /* without \r\n, with the type */
    r->type = p[0];
    r->s = p + 1;
    r->len = line - 1;
    *used = line + 2;
    switch (r->type) {
    case '+':
    case '-':
        return 1;
    case '_':
        r->type = '$';
        r->i = -1;
        return 1;
    case ':':
        return cairn_str_to_i64(p + 1, line - 1, &r->i) == 0 ? 1 : -1;
    case '$':
        if (cairn_str_to_i64(p + 1, line - 1, &r->i) != 0 || r->i < -1 ||
            r->i > REPLY_MAX)
            return -1;
        if (r->i == -1)
            return 1;
        if (len < *used + (size_t)r->i + 2)
            return 0;
        r->s = p + *used;
        r->len = (size_t)r->i;
        if (r->s[r->len] != '\r' || r->s[r->len + 1] != '\n')
            return -1;
        *used += r->len + 2;
        return 1;
    default:
        return -1;
    }
}

/* Appends "<type><n>\r\n" at out; returns the bytes written. */
static size_t put_head(char *out, char type, uint64_t n)
{
    out[0] = type;
    size_t o = 1 + cairn_u64_to_str(n, out + 1);
    out[o] = '\r';
    out[o + 1] = '\n';
    return o + 2;
}

/* "<prefix><n>" at out (no terminator); returns its length.  Key and
 * value names are built for every request: no printf on that path. */
static size_t put_name(char *out, char prefix, uint64_t n)
{
    out[0] = prefix;
    return 1 + cairn_u64_to_str(n, out + 1);
}

/* A client's unique value "c<id>.<seq>"; returns its length. */
static size_t put_value(char *out, unsigned id, uint64_t seq)
{
    size_t o = put_name(out, 'c', id);
    out[o++] = '.';
    return o + cairn_u64_to_str(seq, out + o);
}

/* The whole command in one write, as a client library sends it; the
 * network's split_ppm cuts it at arbitrary bytes on the way. */
static int send_command(struct client *c, int argc, const char *const *argv,
                        const size_t *lens)
{
    char msg[512];
    size_t o = put_head(msg, '*', (uint64_t)argc);
    for (int i = 0; i < argc; i++) {
        ASSERT(o + 24 + lens[i] + 2 <= sizeof(msg));
        o += put_head(msg + o, '$', lens[i]);
        memcpy(msg + o, argv[i], lens[i]);
        msg[o + lens[i]] = '\r';
        msg[o + lens[i] + 1] = '\n';
        o += lens[i] + 2;
    }
    return io_conn_write(c->conn, msg, o);
}

/* ---- state changes ---- */

static void arm(struct client *c, uint64_t ms)
{
    io_timer_start(c->timer, ms);
}

static void disconnect(struct client *c)
{
    if (c->conn != NULL)
        io_conn_close(c->conn);
    c->conn = NULL;
    c->in.len = 0;
    c->state = C_DISCONNECTED;
    arm(c, BACKOFF_MS);
}

/* The pending operation's outcome stays unknown. */
static void next_server(struct client *c)
{
    c->server = (c->server + 1) % c->wl->cfg.servers;
    c->port = c->wl->cfg.port;
}

static void op_unknown(struct client *c)
{
    ASSERT(c->state == C_WAITING);
    if (c->side)
        c->side = false;
    else
        c->wl->stats.unknown++;
    /* As a real client would: an unresponsive or broken server is left
     * for the next one (a removed or cut-off node may never answer). */
    next_server(c);
    disconnect(c);
}

static void think(struct client *c)
{
    c->state = C_IDLE;
    if (c->wl->stopped)
        return;
    uint64_t us = cairn_rng_below(sim_world_rng(c->wl->w),
                                  c->wl->cfg.think_us_max + 1);
    arm(c, us / 1000);
}

static bool result_fits(enum lin_op_kind k, enum lin_result_kind r)
{
    switch (k) {
    case LIN_GET:
    case LIN_GETSET: return r == LIN_RES_NIL || r == LIN_RES_BULK;
    case LIN_SET: return r == LIN_RES_OK;
    case LIN_DEL:
    case LIN_APPEND: return r == LIN_RES_INT;
    case LIN_INCR: return r == LIN_RES_INT || r == LIN_RES_ERR;
    case LIN_SETNX:
        return r == LIN_RES_OK || r == LIN_RES_NIL || r == LIN_RES_INT;
    }
    return false;
}

static bool is_redirect(const struct reply *r)
{
    static const char *const words[] = {"MOVED", "ASK", "TRYAGAIN",
                                        "CLUSTERDOWN", "LOADING", "NOTLEADER",
                                        "READONLY", "BUSY"};
    for (size_t i = 0; i < ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i]);
        if (r->len >= n && memcmp(r->s, words[i], n) == 0 &&
            (r->len == n || r->s[n] == ' '))
            return true;
    }
    return false;
}

/* Follows "MOVED <slot> <host>:<port>" when it names a known host. */
static void follow_redirect(struct client *c, const struct reply *r)
{
    char text[128], host[64];
    unsigned slot, port;
    size_t n = r->len < sizeof(text) - 1 ? r->len : sizeof(text) - 1;
    memcpy(text, r->s, n);
    text[n] = '\0';
    char *colon = strrchr(text, ':');
    if (strncmp(text, "MOVED ", 6) == 0 && colon != NULL &&
        sscanf(text, "MOVED %u %63[^:]:%u", &slot, host, &port) == 3) {
        int to = sim_net_host_lookup(c->wl->net, c->wl->cfg.first_host + c->id,
                                     host);
        if (to >= 0 && (unsigned)to < c->wl->cfg.servers && port > 0 &&
            port < 65536) {
            c->server = (unsigned)to;
            c->port = (uint16_t)port;
            return;
        }
    }
    next_server(c);
}

static bool contains(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(s + i, word, n) == 0)
            return true;
    return false;
}

static void finish(struct client *c, const struct reply *r)
{
    struct sim_workload *wl = c->wl;
    ASSERT(c->state == C_WAITING);
    uint64_t now = sim_world_now_us(wl->w);
    if (c->side) {
        /* TTL side ops only feed the replicas' state; nothing to check. */
        c->side = false;
        wl->stats.side_ops++;
        think(c);
        return;
    }
    enum lin_result_kind res;
    switch (r->type) {
    case '+': res = LIN_RES_OK; break;
    case ':': res = LIN_RES_INT; break;
    case '$': res = r->i == -1 ? LIN_RES_NIL : LIN_RES_BULK; break;
    default: res = LIN_RES_ERR; break;
    }
    /* A redirect word says "not applied", unless the server says it may
     * have been (cairn's "-TRYAGAIN ... may or may not have been
     * applied"): that outcome is unknown. */
    if (res == LIN_RES_ERR && is_redirect(r) &&
        !contains(r->s, r->len, "may or may not")) {
        sim_history_forget(wl->h, c->op_id);
        wl->stats.redirected++;
        snprintf(wl->stats.last_redirect, sizeof(wl->stats.last_redirect),
                 "%.*s", (int)CAIRN_MIN(r->len, 95), r->s);
        follow_redirect(c, r);
        disconnect(c);
        return;
    }
    /* Only INCR's own errors are results; any other error leaves the
     * outcome unknown. */
    if (res == LIN_RES_ERR &&
        (c->op_kind != LIN_INCR ||
         !(contains(r->s, r->len, "integer") || contains(r->s, r->len, "overflow"))))
        res = LIN_RES_UNKNOWN;
    if (res == LIN_RES_UNKNOWN || !result_fits(c->op_kind, res)) {
        wl->stats.other_errors++; /* left pending: unknown */
        if (wl->stats.first_error[0] == '\0' && r->type == '-')
            snprintf(wl->stats.first_error, sizeof(wl->stats.first_error),
                     "%.*s", (int)CAIRN_MIN(r->len, 95), r->s);
        think(c);
        return;
    }
    sim_history_return(wl->h, c->op_id, now, res, r->i, r->s, r->len);
    wl->stats.replied++;
    think(c);
}

/* ---- requests ---- */

static enum lin_op_kind pick_kind(struct cairn_rng *rng)
{
    uint64_t x = cairn_rng_below(rng, 100);
    /* APPENDs of unknown outcome are the checker's costliest case (each
     * subset and order is a distinct value), so they stay rare. */
    if (x < 38) return LIN_GET;
    if (x < 58) return LIN_SET;
    if (x < 73) return LIN_INCR;
    if (x < 77) return LIN_APPEND;
    if (x < 85) return LIN_DEL;
    if (x < 93) return LIN_SETNX;
    return LIN_GETSET;
}

/* A side op on the TTL keys "t0".."t3", outside the checked history: SET
 * with a short PX, or GET (which meets keys just expired).  They exist so
 * that expiry runs under replication; the replica digest check sees a
 * node that expires on its own. */
static void send_side(struct client *c)
{
    struct sim_workload *wl = c->wl;
    struct cairn_rng *rng = sim_world_rng(wl->w);
    char key[24], val[40], px[24];
    size_t klen = put_name(key, 't', cairn_rng_below(rng, 4));
    size_t vlen = put_value(val, c->id, ++c->seq);
    size_t plen = cairn_u64_to_str(cairn_rng_range(rng, 1, 300), px);
    bool set = cairn_rng_chance(rng, 1, 2);
    const char *argv[5] = {set ? "SET" : "GET", key, val, "PX", px};
    size_t lens[5] = {3, klen, vlen, 2, plen};
    c->side = true;
    c->state = C_WAITING;
    if (send_command(c, set ? 5 : 2, argv, lens) != 0) {
        op_unknown(c);
        return;
    }
    arm(c, wl->cfg.timeout_ms);
}

/* An admin side op while everything else goes on: CLUSTER TRANSFER (to
 * any voter), or CLUSTER DELNODE / ADDNODE of a random server (ADDNODE
 * makes it a learner that the leader promotes once caught up).  The reply
 * is not checked: refusals (not the leader, a change in progress) are
 * normal. */
static void send_admin(struct client *c)
{
    struct sim_workload *wl = c->wl;
    struct cairn_rng *rng = sim_world_rng(wl->w);
    unsigned target = (unsigned)cairn_rng_below(rng, wl->cfg.servers);
    char id[8], addr[48];
    size_t ilen = (size_t)snprintf(id, sizeof(id), "%u", target + 1);
    sim_net_host_addr(target, addr, sizeof(addr));
    size_t alen = strlen(addr);
    alen += (size_t)snprintf(addr + alen, sizeof(addr) - alen, ":%u",
                             (unsigned)wl->cfg.port);
    uint64_t x = cairn_rng_below(rng, 4);
    if (x == 3 && wl->cfg.admin_no_self_add && target == c->server)
        x = 0; /* quarantine: ADDNODE of the receiving node itself */
    if (wl->cfg.admin_transfer_only)
        x = 0;
    if (x >= 2 && wl->cfg.may_change != NULL &&
        !wl->cfg.may_change(wl->cfg.change_ctx, target, x == 3))
        x = 0; /* beyond the servers' promise with the faults drawn */
    const char *sub = x < 2 ? "TRANSFER" : x == 2 ? "DELNODE" : "ADDNODE";
    const char *argv[4] = {"CLUSTER", sub, id, addr};
    size_t lens[4] = {7, strlen(sub), ilen, alen};
    int argc = x == 0 ? 2 : x == 3 ? 4 : 3;
    c->side = true;
    c->state = C_WAITING;
    wl->stats.admin_ops++;
    if (send_command(c, argc, argv, lens) != 0) {
        op_unknown(c);
        return;
    }
    arm(c, wl->cfg.timeout_ms);
}

static void send_request(struct client *c)
{
    struct sim_workload *wl = c->wl;
    struct cairn_rng *rng = sim_world_rng(wl->w);
    if (wl->cfg.admin_permille > 0 &&
        cairn_rng_below(rng, 1000) < wl->cfg.admin_permille) {
        send_admin(c);
        return;
    }
    if (wl->cfg.ttl_pct > 0 && cairn_rng_below(rng, 100) < wl->cfg.ttl_pct) {
        send_side(c);
        return;
    }
    unsigned k = (unsigned)cairn_rng_below(rng, wl->cfg.keys);
    enum lin_op_kind kind =
        wl->cfg.read_pct > 0 && cairn_rng_below(rng, 100) < wl->cfg.read_pct
            ? LIN_GET
            : pick_kind(rng);
    if (kind == LIN_APPEND && wl->appended[k] > LIN_VALUE_LEN_MAX / 2)
        kind = LIN_SET;
    char key[24], val[40];
    size_t klen = put_name(key, 'k', k);
    size_t vlen = put_value(val, c->id, ++c->seq);
    static const char *const names[] = {"GET", "SET", "DEL", "INCR",
                                        "APPEND", "SET", "GETSET"};
    const char *argv[4] = {names[kind], key, val, "NX"};
    size_t lens[4] = {strlen(names[kind]), klen, vlen, 2};
    int argc = kind == LIN_GET || kind == LIN_DEL || kind == LIN_INCR ? 2
               : kind == LIN_SETNX                                  ? 4
                                                                    : 3;
    bool has_arg = argc > 2;
    int rc = sim_history_call(wl->h, c->id, kind, key, klen,
                              has_arg ? val : NULL, has_arg ? vlen : 0,
                              sim_world_now_us(wl->w), &c->op_id);
    if (rc != 0) {
        wl->stopped = true; /* the history is full */
        c->state = C_IDLE;
        return;
    }
    if (kind == LIN_APPEND)
        wl->appended[k] += vlen;
    c->op_kind = kind;
    c->state = C_WAITING;
    wl->stats.sent++;
    if (send_command(c, argc, argv, lens) != 0) {
        op_unknown(c);
        return;
    }
    arm(c, wl->cfg.timeout_ms);
}

/* ---- callbacks ---- */

static void on_read(void *ctx, struct io_conn *conn, const char *data,
                    size_t len)
{
    struct client *c = ctx;
    (void)conn;
    if (c->state != C_WAITING) {
        disconnect(c); /* bytes nobody asked for */
        return;
    }
    sim_bytes_append(&c->in, data, len);
    struct reply r;
    size_t used = 0;
    int rc = reply_parse((const char *)c->in.data, c->in.len, &r, &used);
    if (rc < 0) {
        op_unknown(c);
        return;
    }
    if (rc == 0)
        return;
    if (used != c->in.len) {
        op_unknown(c); /* more than one reply to one request */
        return;
    }
    finish(c, &r);
    c->in.len = 0;
}

static void on_eof(void *ctx, struct io_conn *conn, int status)
{
    struct client *c = ctx;
    (void)conn;
    (void)status;
    if (c->state == C_WAITING)
        op_unknown(c);
    else
        disconnect(c);
}

static const struct io_conn_handlers handlers = {on_read, on_eof, NULL};

static void on_connect(void *ctx, struct io_conn *conn, int status)
{
    struct client *c = ctx;
    ASSERT(c->state == C_CONNECTING);
    if (status != 0) {
        c->wl->stats.connects_failed++;
        next_server(c);
        c->state = C_DISCONNECTED;
        arm(c, BACKOFF_MS);
        return;
    }
    c->conn = conn;
    io_conn_start(conn, c, &handlers);
    think(c);
}

static void on_timer(void *ctx)
{
    struct client *c = ctx;
    char addr[32];
    switch (c->state) {
    case C_DISCONNECTED:
        sim_net_host_addr(c->server, addr, sizeof(addr));
        c->state = C_CONNECTING;
        if (io_connect(c->io, addr, c->port, c, on_connect) != 0) {
            c->state = C_DISCONNECTED;
            arm(c, BACKOFF_MS);
        }
        break;
    case C_IDLE:
        if (!c->wl->stopped)
            send_request(c);
        break;
    case C_WAITING:
        op_unknown(c); /* timed out */
        break;
    case C_CONNECTING:
        UNREACHABLE();
    }
}

/* ---- lifetime ---- */

struct sim_workload *sim_workload_new(struct sim_world *w, struct sim_net *net,
                                      struct sim_history *history,
                                      const struct sim_workload_config *cfg)
{
    ASSERT(cfg->clients > 0 && cfg->servers > 0);
    ASSERT(cfg->first_host + cfg->clients <= sim_net_host_count(net));
    ASSERT(cfg->keys > 0 && cfg->keys <= KEYS_MAX);
    struct sim_workload *wl = sim_xcalloc(1, sizeof(*wl));
    wl->w = w;
    wl->net = net;
    wl->h = history;
    wl->cfg = *cfg;
    wl->clients = sim_xcalloc(cfg->clients, sizeof(*wl->clients));
    for (unsigned i = 0; i < cfg->clients; i++) {
        struct client *c = &wl->clients[i];
        struct sim_io_config icfg = {.host = cfg->first_host + i,
                                     .mono_base_us = 1000000ull * (i + 1)};
        c->wl = wl;
        c->id = i;
        c->sio = sim_io_new(w, net, NULL, &icfg);
        c->io = sim_io_io(c->sio);
        c->timer = io_timer_new(c->io, c, on_timer);
        ASSERT(c->timer != NULL);
        c->server = i % cfg->servers;
        c->port = cfg->port;
        c->state = C_DISCONNECTED;
    }
    return wl;
}

void sim_workload_start(struct sim_workload *wl)
{
    for (unsigned i = 0; i < wl->cfg.clients; i++)
        arm(&wl->clients[i], 0);
}

void sim_workload_stop(struct sim_workload *wl)
{
    wl->stopped = true;
}

void sim_workload_stats_get(const struct sim_workload *wl,
                            struct sim_workload_stats *out)
{
    *out = wl->stats;
}

void sim_workload_free(struct sim_workload *wl)
{
    if (wl == NULL)
        return;
    for (unsigned i = 0; i < wl->cfg.clients; i++) {
        struct client *c = &wl->clients[i];
        if (c->conn != NULL)
            io_conn_close(c->conn);
        io_timer_free(c->timer);
        sim_bytes_free(&c->in);
        sim_io_free(c->sio);
    }
    cairn_free(wl->clients);
    cairn_free(wl);
}
