/* test_transport_uv.c: the transport over real sockets (io_uv on 127.0.0.1):
 * two nodes listening on ephemeral ports connect both ways and exchange
 * frames in order, including one larger than a socket read; a third node
 * with the wrong secret is refused by both ends.  The loop runs until a
 * condition holds, with a guard timer that fails the test rather than
 * hanging (it bounds the wait, it does not measure speed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/log.h"
#include "io/io_uv.h"
#include "node/transport.h"
#include "testlib.h"

struct unode {
    struct transport *t;
    uint16_t port;
    uint32_t next_seq[4];
    bool bad;
    uint64_t frames;
    bool up[4];
};

static void on_recv(void *ctx, uint64_t from, const uint8_t *frame,
                    size_t len)
{
    struct unode *n = ctx;
    uint32_t seq;
    if (from > 3 || len < 4) {
        n->bad = true;
        return;
    }
    memcpy(&seq, frame, 4);
    if (seq != n->next_seq[from])
        n->bad = true;
    for (size_t i = 4; i < len; i++)
        if (frame[i] != (uint8_t)(seq + i))
            n->bad = true;
    n->next_seq[from] = seq + 1;
    n->frames++;
}

static void on_peer(void *ctx, uint64_t peer, bool up)
{
    struct unode *n = ctx;
    if (peer <= 3)
        n->up[peer] = up;
}

static bool guard_fired;
static void on_guard(uv_timer_t *t)
{
    (void)t;
    guard_fired = true;
}

/* Runs the loop until cond(arg) or the guard fires; returns cond(arg). */
static bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg)
{
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard_fired = false;
    uv_timer_start(&guard, on_guard, 10000, 0);
    while (!cond(arg) && !guard_fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return cond(arg);
}

static void node_open(struct io *io, struct unode *n, uint64_t id,
                      const char *secret)
{
    struct transport_config cfg = {.self_id = id,
                                   .secret = (const uint8_t *)secret,
                                   .secret_len = strlen(secret),
                                   .reconnect_min_ms = 10,
                                   .reconnect_max_ms = 100};
    assert_int_equal(transport_new(io, &cfg, n, on_recv, on_peer, &n->t), 0);
    assert_int_equal(transport_listen(n->t, "127.0.0.1", 0), 0);
    n->port = io_uv_listener_port(transport_listener(n->t));
    assert_true(n->port != 0);
}

struct pair {
    struct unode *a, *b;
};

static bool both_up(void *arg)
{
    struct pair *p = arg;
    return transport_peer_up(p->a->t, 2) && transport_peer_up(p->b->t, 1);
}

static bool all_received(void *arg)
{
    struct pair *p = arg;
    return p->a->frames == 100 && p->b->frames == 100;
}

struct refused {
    struct unode *a, *c;
};

static bool refused_both(void *arg)
{
    struct refused *r = arg;
    struct transport_stats sa, sc;
    transport_stats_get(r->a->t, &sa);
    transport_stats_get(r->c->t, &sc);
    return sa.handshakes_failed >= 2 && sc.handshakes_failed >= 2;
}

static bool no_handles(void *arg)
{
    return io_uv_handles_open(arg) == 0;
}

static void real_sockets_exchange_and_refuse(void **state)
{
    (void)state;
    cairn_log_set_level(CAIRN_LOG_WARNING);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct io_uv *u;
    assert_int_equal(io_uv_init(&u, &loop, 99), 0);
    struct io *io = io_uv_io(u);
    struct unode a = {0}, b = {0}, c = {0};
    node_open(io, &a, 1, "secret");
    node_open(io, &b, 2, "secret");
    assert_int_equal(transport_peer_set(a.t, 2, "127.0.0.1", b.port), 0);
    assert_int_equal(transport_peer_set(b.t, 1, "127.0.0.1", a.port), 0);
    struct pair p = {&a, &b};
    assert_true(run_until(&loop, both_up, &p));
    assert_true(a.up[2]);
    assert_true(b.up[1]);

    static uint8_t buf[300000];
    for (uint32_t seq = 0; seq < 100; seq++) {
        size_t len = seq == 50 ? sizeof(buf) : 4 + seq * 13;
        memcpy(buf, &seq, 4);
        for (size_t i = 4; i < len; i++)
            buf[i] = (uint8_t)(seq + i);
        assert_int_equal(transport_send(a.t, 2, buf, len), 0);
        assert_int_equal(transport_send(b.t, 1, buf, len), 0);
    }
    assert_true(run_until(&loop, all_received, &p));
    assert_false(a.bad);
    assert_false(b.bad);

    /* Node 3 with another secret: a knows it, it knows a; neither opens. */
    node_open(io, &c, 3, "other secret");
    assert_int_equal(transport_peer_set(a.t, 3, "127.0.0.1", c.port), 0);
    assert_int_equal(transport_peer_set(c.t, 1, "127.0.0.1", a.port), 0);
    struct refused r = {&a, &c};
    assert_true(run_until(&loop, refused_both, &r));
    assert_false(transport_peer_up(a.t, 3));
    assert_false(transport_peer_up(c.t, 1));
    assert_false(c.up[1]);

    transport_free(a.t);
    transport_free(b.t);
    transport_free(c.t);
    assert_true(run_until(&loop, no_handles, u));
    io_uv_free(u);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cairn_log_set_level(CAIRN_LOG_NOTICE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_sockets_exchange_and_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
