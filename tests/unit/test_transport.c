/* test_transport.c: the peer transport between simulated nodes (sim_io over
 * the simulator's network): three nodes form a full mesh and exchange frames
 * that must arrive complete and in order per sender; a node with the wrong
 * secret is refused by both ends; a crashed and restarted peer is redialled;
 * a blocked link fills the send queue until CAIRN_EFULL, and the queued
 * frames arrive after the link heals; a client that never completes the
 * handshake is cut off by the handshake timer.  Everything runs on simulated
 * time, so no test sleeps or measures real time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/rng.h"
#include "net.h"
#include "node/transport.h"
#include "sim_io.h"
#include "testlib.h"
#include "world.h"

#define NODES_MAX 4
#define PORT 17000
#define SEQ_MAX 512

/* ---- log capture ---- */

static char log_lines[64][256];
static size_t log_count;

static void log_sink(void *ctx, enum cairn_log_level level, const char *msg)
{
    (void)ctx;
    if (level < CAIRN_LOG_WARNING)
        return;
    snprintf(log_lines[log_count % 64], sizeof(log_lines[0]), "%s", msg);
    log_count++;
}

/* True if a captured warning contains both a and b. */
static bool logged(const char *a, const char *b)
{
    size_t n = log_count < 64 ? log_count : 64;
    for (size_t i = 0; i < n; i++)
        if (strstr(log_lines[i], a) != NULL &&
            (b == NULL || strstr(log_lines[i], b) != NULL))
            return true;
    return false;
}

/* ---- a simulated cluster ---- */

struct node {
    struct env *env;
    unsigned host;
    uint64_t id;
    struct sim_io *sio;
    struct transport *t;
    uint32_t next_seq[NODES_MAX + 1]; /* per sender: next seq expected */
    uint64_t frames;
    bool bad_order;
    bool up[NODES_MAX + 1];
    unsigned ups;
    unsigned downs;
};

struct env {
    struct sim_world *w;
    struct sim_net *net;
    struct node nodes[NODES_MAX];
    unsigned count;
};

/* Frame: seq (u32) then len-4 bytes derived from sender and seq. */
static size_t frame_make(uint8_t *buf, uint64_t from, uint32_t seq,
                         size_t len)
{
    memcpy(buf, &seq, 4);
    for (size_t i = 4; i < len; i++)
        buf[i] = (uint8_t)(from * 31 + seq * 7 + i);
    return len;
}

static void on_recv(void *ctx, uint64_t from, const uint8_t *frame,
                    size_t len)
{
    struct node *n = ctx;
    uint32_t seq;
    if (len < 4 || from == 0 || from > NODES_MAX) {
        n->bad_order = true;
        return;
    }
    memcpy(&seq, frame, 4);
    if (seq != n->next_seq[from])
        n->bad_order = true;
    for (size_t i = 4; i < len; i++)
        if (frame[i] != (uint8_t)(from * 31 + seq * 7 + i))
            n->bad_order = true;
    n->next_seq[from] = seq + 1;
    n->frames++;
}

static void on_peer(void *ctx, uint64_t peer, bool up)
{
    struct node *n = ctx;
    assert_true(peer >= 1 && peer <= NODES_MAX);
    n->up[peer] = up;
    if (up)
        n->ups++;
    else
        n->downs++;
}

static void node_start(struct env *e, unsigned host, const char *secret,
                       size_t queue_max)
{
    struct node *n = &e->nodes[host];
    n->env = e;
    n->host = host;
    n->id = host + 1;
    struct sim_io_config cfg = {.host = host, .drift_ppm = 0,
                                .mono_base_us = 1000000,
                                .wall_epoch_ms = 1700000000000};
    n->sio = sim_io_new(e->w, e->net, NULL, &cfg);
    struct transport_config tc = {
        .self_id = n->id,
        .secret = (const uint8_t *)secret,
        .secret_len = strlen(secret),
        .send_queue_bytes_max = queue_max,
        .reconnect_min_ms = 20,
        .reconnect_max_ms = 400,
        .handshake_timeout_ms = 500,
    };
    assert_int_equal(transport_new(sim_io_io(n->sio), &tc, n, on_recv,
                                   on_peer, &n->t),
                     0);
    char addr[32];
    sim_net_host_addr(host, addr, sizeof(addr));
    assert_int_equal(transport_listen(n->t, addr, PORT), 0);
}

/* Full mesh among the first count nodes (each knows every other). */
static void mesh(struct env *e, unsigned count)
{
    for (unsigned a = 0; a < count; a++)
        for (unsigned b = 0; b < count; b++) {
            if (a == b)
                continue;
            char addr[32];
            sim_net_host_addr(b, addr, sizeof(addr));
            assert_int_equal(
                transport_peer_set(e->nodes[a].t, b + 1, addr, PORT), 0);
        }
}

static void env_init(struct env *e, unsigned count, uint64_t seed)
{
    memset(e, 0, sizeof(*e));
    log_count = 0;
    cairn_log_set_sink(log_sink, NULL);
    e->w = sim_world_new(seed, 0);
    struct sim_net_config ncfg;
    sim_net_config_default(&ncfg);
    ncfg.split_ppm = 300000; /* cut segments: exercise frame reassembly */
    e->net = sim_net_new(e->w, NODES_MAX, &ncfg);
    e->count = count;
}

static void run_ms(struct env *e, uint64_t ms)
{
    assert_int_equal(sim_world_run_until(e->w, sim_world_now_us(e->w) +
                                                   ms * 1000,
                                         5000000),
                     0);
}

static void node_stop(struct node *n)
{
    transport_free(n->t);
    n->t = NULL;
}

/* Frees transports first, lets dials in flight complete into their orphan
 * records (which free themselves), then the simulated hosts. */
static void env_free(struct env *e)
{
    for (unsigned i = 0; i < NODES_MAX; i++)
        if (e->nodes[i].t != NULL)
            node_stop(&e->nodes[i]);
    run_ms(e, 3000);
    for (unsigned i = 0; i < NODES_MAX; i++) {
        if (e->nodes[i].sio == NULL)
            continue;
        assert_int_equal(sim_io_handles_open(e->nodes[i].sio), 0);
        sim_io_free(e->nodes[i].sio);
    }
    sim_net_free(e->net);
    sim_world_free(e->w);
    cairn_log_set_sink(NULL, NULL);
}

/* ---- tests ---- */

static void three_nodes_exchange_frames_in_order(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 3, test_seed(11));
    for (unsigned i = 0; i < 3; i++)
        node_start(&e, i, "s3cret", 0);
    mesh(&e, 3);
    run_ms(&e, 500);
    for (unsigned a = 0; a < 3; a++)
        for (unsigned b = 0; b < 3; b++)
            if (a != b) {
                assert_true(transport_peer_up(e.nodes[a].t, b + 1));
                assert_true(e.nodes[a].up[b + 1]);
            }
    struct cairn_rng rng;
    cairn_rng_seed(&rng, 5);
    static uint8_t buf[70000];
    uint32_t seq[3][3] = {{0}};
    /* Interleave senders and sizes (some frames span many segments). */
    for (int round = 0; round < 300; round++) {
        unsigned a = (unsigned)cairn_rng_below(&rng, 3);
        unsigned b = (unsigned)cairn_rng_below(&rng, 3);
        if (a == b)
            continue;
        size_t len = 4 + cairn_rng_below(&rng, round % 10 == 0 ? 65000 : 300);
        frame_make(buf, a + 1, seq[a][b], len);
        assert_int_equal(transport_send(e.nodes[a].t, b + 1, buf, len), 0);
        seq[a][b]++;
        if (round % 50 == 0)
            run_ms(&e, 1);
    }
    run_ms(&e, 1000);
    uint64_t total = 0, want = 0;
    for (unsigned b = 0; b < 3; b++) {
        assert_false(e.nodes[b].bad_order);
        for (unsigned a = 0; a < 3; a++)
            if (a != b) {
                assert_int_equal(e.nodes[b].next_seq[a + 1], seq[a][b]);
                want += seq[a][b];
            }
        total += e.nodes[b].frames;
    }
    struct transport_stats st;
    transport_stats_get(e.nodes[0].t, &st);
    assert_int_equal(st.handshakes_failed, 0);
    assert_int_equal(total, want);
    assert_true(total > 150);
    assert_int_equal(log_count, 0);
    env_free(&e);
}

static void wrong_secret_is_refused_on_both_ends(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 2, test_seed(12));
    node_start(&e, 0, "right secret", 0);
    node_start(&e, 1, "wrong secret", 0);
    mesh(&e, 2);
    run_ms(&e, 1000);
    for (unsigned i = 0; i < 2; i++) {
        struct transport_stats st;
        transport_stats_get(e.nodes[i].t, &st);
        assert_int_equal(st.handshakes_ok, 0);
        assert_true(st.handshakes_failed >= 2); /* as dialer and acceptor */
        assert_int_equal(e.nodes[i].ups, 0);
        assert_false(transport_peer_up(e.nodes[i].t, 2 - i));
        assert_int_equal(transport_send(e.nodes[i].t, 2 - i, "x", 1),
                         CAIRN_ECLOSED);
    }
    assert_true(logged("authentication failed", "10.0.0.2"));
    assert_true(logged("authentication failed", "10.0.0.1"));
    env_free(&e);
}

static void unknown_and_own_ids_are_refused(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 3, test_seed(13));
    node_start(&e, 0, "k", 0);
    node_start(&e, 1, "k", 0);
    /* Node 1 dials node 2 (id 2) but node 2 does not know node 1. */
    char addr[32];
    sim_net_host_addr(1, addr, sizeof(addr));
    assert_int_equal(transport_peer_set(e.nodes[0].t, 2, addr, PORT), 0);
    run_ms(&e, 300);
    assert_false(transport_peer_up(e.nodes[0].t, 2));
    assert_true(logged("not configured", "10.0.0.1"));
    /* Node 1 configured with its own address under another id: it hears
     * its own id and refuses. */
    sim_net_host_addr(0, addr, sizeof(addr));
    assert_int_equal(transport_peer_set(e.nodes[0].t, 3, addr, PORT), 0);
    run_ms(&e, 300);
    assert_false(transport_peer_up(e.nodes[0].t, 3));
    assert_true(logged("own node id", NULL));
    assert_true(logged("unexpected node id", NULL) ||
                logged("own node id", NULL));
    assert_int_equal(e.nodes[0].ups, 0);
    env_free(&e);
}

static void restarted_peer_is_redialled(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 2, test_seed(14));
    node_start(&e, 0, "k", 0);
    node_start(&e, 1, "k", 0);
    mesh(&e, 2);
    run_ms(&e, 300);
    assert_true(transport_peer_up(e.nodes[0].t, 2));
    assert_true(transport_peer_up(e.nodes[1].t, 1));
    uint8_t buf[64];
    frame_make(buf, 1, 0, 64);
    assert_int_equal(transport_send(e.nodes[0].t, 2, buf, 64), 0);
    run_ms(&e, 50);
    assert_int_equal(e.nodes[1].frames, 1);

    /* Crash node 2: node 1 notices when the stream breaks (keepalive). */
    sim_io_crash(e.nodes[1].sio);
    node_stop(&e.nodes[1]);
    sim_io_free(e.nodes[1].sio);
    e.nodes[1].sio = NULL;
    run_ms(&e, 5000);
    assert_false(transport_peer_up(e.nodes[0].t, 2));
    assert_int_equal(e.nodes[0].downs, 1);
    assert_false(e.nodes[0].up[2]);
    assert_int_equal(transport_send(e.nodes[0].t, 2, buf, 64), CAIRN_ECLOSED);

    /* Restart it empty: both directions come back, frames flow again. */
    memset(&e.nodes[1], 0, sizeof(e.nodes[1]));
    node_start(&e, 1, "k", 0);
    char addr[32];
    sim_net_host_addr(0, addr, sizeof(addr));
    assert_int_equal(transport_peer_set(e.nodes[1].t, 1, addr, PORT), 0);
    run_ms(&e, 1000);
    assert_true(transport_peer_up(e.nodes[0].t, 2));
    assert_true(transport_peer_up(e.nodes[1].t, 1));
    assert_int_equal(e.nodes[0].ups, 2);
    frame_make(buf, 1, 1, 64);
    e.nodes[1].next_seq[1] = 1;
    assert_int_equal(transport_send(e.nodes[0].t, 2, buf, 64), 0);
    frame_make(buf, 2, 0, 64);
    assert_int_equal(transport_send(e.nodes[1].t, 1, buf, 64), 0);
    run_ms(&e, 50);
    assert_int_equal(e.nodes[1].frames, 1);
    assert_false(e.nodes[1].bad_order);
    assert_int_equal(e.nodes[0].next_seq[2], 1);
    assert_false(e.nodes[0].bad_order);
    env_free(&e);
}

static void blocked_link_fills_queue_then_drains(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 2, test_seed(15));
    node_start(&e, 0, "k", 64 * 1024);
    node_start(&e, 1, "k", 0);
    mesh(&e, 2);
    run_ms(&e, 300);
    assert_true(transport_peer_up(e.nodes[0].t, 2));
    sim_net_block(e.net, 0, 1, true);
    static uint8_t buf[4096];
    uint32_t sent = 0;
    int rc = 0;
    for (int i = 0; i < 1000; i++) {
        frame_make(buf, 1, sent, sizeof(buf));
        rc = transport_send(e.nodes[0].t, 2, buf, sizeof(buf));
        if (rc != 0)
            break;
        sent++;
        if (i % 8 == 0)
            run_ms(&e, 1); /* let the sender fill the network window */
    }
    assert_int_equal(rc, CAIRN_EFULL);
    assert_true(sent > 16); /* at least the configured queue's worth */
    struct transport_stats st;
    transport_stats_get(e.nodes[0].t, &st);
    assert_int_equal(st.sends_full, 1);
    /* Heal before the stall breaks the stream: everything queued arrives. */
    sim_net_block(e.net, 0, 1, false);
    run_ms(&e, 1000);
    assert_int_equal(e.nodes[1].next_seq[1], sent);
    assert_false(e.nodes[1].bad_order);
    /* With the queue empty, a frame larger than the whole queue bound is
     * still taken (a snapshot chunk must be sendable). */
    static uint8_t huge[100 * 1024];
    frame_make(huge, 1, sent, sizeof(huge));
    assert_int_equal(transport_send(e.nodes[0].t, 2, huge, sizeof(huge)), 0);
    run_ms(&e, 100);
    assert_int_equal(e.nodes[1].next_seq[1], sent + 1);
    assert_false(e.nodes[1].bad_order);
    /* Larger than frame_size_max: refused without touching the link. */
    assert_int_equal(transport_send(e.nodes[0].t, 2, buf,
                                    (size_t)CAIRN_RAFT_MSG_SIZE_MAX + 1),
                     CAIRN_ETOOBIG);
    env_free(&e);
}

/* A raw client on host 4 that connects and then says nothing. */
struct raw {
    struct io_conn *conn;
    bool eof;
    size_t bytes;
};

static void raw_read(void *ctx, struct io_conn *c, const char *d, size_t n)
{
    (void)c;
    (void)d;
    ((struct raw *)ctx)->bytes += n;
}

static void raw_eof(void *ctx, struct io_conn *c, int status)
{
    (void)status;
    struct raw *r = ctx;
    r->eof = true;
    io_conn_close(c);
    r->conn = NULL;
}

static void raw_connected(void *ctx, struct io_conn *c, int status)
{
    struct raw *r = ctx;
    assert_int_equal(status, 0);
    static const struct io_conn_handlers h = {raw_read, raw_eof, NULL};
    r->conn = c;
    io_conn_start(c, r, &h);
}

static void silent_client_hits_handshake_timeout(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 1, test_seed(16));
    node_start(&e, 0, "k", 0);
    struct sim_io_config cfg = {.host = 3, .mono_base_us = 7,
                                .wall_epoch_ms = 1700000000000};
    struct sim_io *client = sim_io_new(e.w, e.net, NULL, &cfg);
    struct raw r = {0};
    assert_int_equal(io_connect(sim_io_io(client), "10.0.0.1", PORT, &r,
                                raw_connected),
                     0);
    run_ms(&e, 100);
    assert_non_null(r.conn);
    assert_true(r.bytes >= TRANSPORT_FRAME_HEADER_SIZE + TRANSPORT_HELLO_SIZE);
    assert_false(r.eof);
    run_ms(&e, 600); /* past the 500 ms handshake timeout */
    assert_true(r.eof);
    struct transport_stats st;
    transport_stats_get(e.nodes[0].t, &st);
    assert_int_equal(st.handshakes_failed, 1);
    assert_true(logged("handshake timed out", "10.0.0.4"));
    assert_int_equal(sim_io_handles_open(client), 0);
    sim_io_free(client);
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_nodes_exchange_frames_in_order),
        cmocka_unit_test(wrong_secret_is_refused_on_both_ends),
        cmocka_unit_test(unknown_and_own_ids_are_refused),
        cmocka_unit_test(restarted_peer_is_redialled),
        cmocka_unit_test(blocked_link_fills_queue_then_drains),
        cmocka_unit_test(silent_client_hits_handshake_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
