/* test_sim_net.c: the network model through io.h: ordered streams,
 * refused and timed-out connects, partitions (both ways, one way, with
 * reset), clogging, loss as a reset, close, crash and restart, backpressure,
 * read pausing, and determinism of a random workload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/rng.h"
#include "net.h"
#include "sim_io.h"
#include "testlib.h"
#include "world.h"

#define MAX_ENDS 8

struct end {
    struct io_conn *conn;
    struct sim_bytes got;
    bool eof;
    int eof_status;
    int drains;
    int reads;
    bool close_on_eof;
};

struct host {
    struct sim_io *sio;
    struct io *io;
    struct io_listener *l;
    struct end ends[MAX_ENDS];
    int n_ends;
    int connects_ok;
    int connects_failed;
    int last_connect_status;
};

struct rig {
    struct sim_world *w;
    struct sim_net *net;
    struct host hosts[3];
};

static void on_read(void *ctx, struct io_conn *c, const char *data, size_t len)
{
    struct end *e = ctx;
    (void)c;
    assert_false(e->eof);
    assert_true(len > 0);
    e->reads++;
    sim_bytes_append(&e->got, data, len);
}

static void on_eof(void *ctx, struct io_conn *c, int status)
{
    struct end *e = ctx;
    assert_false(e->eof);
    e->eof = true;
    e->eof_status = status;
    if (e->close_on_eof) {
        io_conn_close(c);
        e->conn = NULL;
    }
}

static void on_drain(void *ctx, struct io_conn *c)
{
    struct end *e = ctx;
    (void)c;
    e->drains++;
}

static const struct io_conn_handlers handlers = {on_read, on_eof, on_drain};

static struct end *end_add(struct host *h, struct io_conn *c)
{
    assert_true(h->n_ends < MAX_ENDS);
    struct end *e = &h->ends[h->n_ends++];
    memset(e, 0, sizeof(*e));
    e->conn = c;
    io_conn_start(c, e, &handlers);
    return e;
}

static void on_accept(void *ctx, struct io_conn *c)
{
    end_add(ctx, c);
}

static void on_connect(void *ctx, struct io_conn *c, int status)
{
    struct host *h = ctx;
    h->last_connect_status = status;
    if (status != 0) {
        assert_null(c);
        h->connects_failed++;
        return;
    }
    h->connects_ok++;
    end_add(h, c);
}

static void host_up(struct rig *r, unsigned i)
{
    struct sim_io_config cfg = {.host = i, .mono_base_us = 1000000 * (i + 1)};
    r->hosts[i].sio = sim_io_new(r->w, r->net, NULL, &cfg);
    r->hosts[i].io = sim_io_io(r->hosts[i].sio);
}

static void rig_init(struct rig *r, uint64_t seed, const struct sim_net_config *cfg)
{
    memset(r, 0, sizeof(*r));
    struct sim_net_config def;
    if (cfg == NULL) {
        sim_net_config_default(&def);
        cfg = &def;
    }
    r->w = sim_world_new(seed, 0);
    r->net = sim_net_new(r->w, 3, cfg);
    assert_non_null(r->net);
    for (unsigned i = 0; i < 3; i++)
        host_up(r, i);
}

static void host_close_all(struct host *h)
{
    for (int i = 0; i < h->n_ends; i++) {
        if (h->ends[i].conn != NULL)
            io_conn_close(h->ends[i].conn);
        h->ends[i].conn = NULL;
        sim_bytes_free(&h->ends[i].got);
    }
    h->n_ends = 0;
    if (h->l != NULL)
        io_listener_close(h->l);
    h->l = NULL;
}

static void rig_free(struct rig *r)
{
    for (unsigned i = 0; i < 3; i++) {
        host_close_all(&r->hosts[i]);
        assert_int_equal(sim_io_handles_open(r->hosts[i].sio), 0);
        sim_io_free(r->hosts[i].sio);
    }
    assert_int_equal(sim_net_conns_live(r->net), 0);
    sim_net_free(r->net);
    /* Stray events (a FIN still in flight) belong to freed conns: none may
     * remain queued. */
    assert_int_equal(sim_world_pending(r->w), 0);
    sim_world_free(r->w);
}

static void run_ms(struct rig *r, uint64_t ms)
{
    assert_int_equal(
        sim_world_run_until(r->w, sim_world_now_us(r->w) + ms * 1000, 1000000), 0);
}

/* Host 1 listens on 7000; host 0 connects.  Returns with both ends up. */
static void connect_pair(struct rig *r)
{
    struct host *srv = &r->hosts[1], *cli = &r->hosts[0];
    assert_int_equal(io_listen(srv->io, "0.0.0.0", 7000, 16, srv, on_accept,
                               &srv->l), 0);
    assert_int_equal(io_connect(cli->io, "10.0.0.2", 7000, cli, on_connect), 0);
    assert_int_equal(cli->connects_ok, 0); /* never from inside the call */
    run_ms(r, 50);
    assert_int_equal(cli->connects_ok, 1);
    assert_int_equal(srv->n_ends, 1);
}

static void streams_arrive_whole_and_in_order(void **state)
{
    (void)state;
    struct sim_net_config cfg;
    sim_net_config_default(&cfg);
    cfg.split_ppm = 500000;
    cfg.link.latency_tail_us = 5000;
    struct rig r;
    rig_init(&r, test_seed(1), &cfg);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    char name[64];
    assert_int_equal(io_conn_peer_name(c->conn, name, sizeof(name)), 0);
    assert_string_equal(name, "10.0.0.2:7000");
    assert_int_equal(io_conn_peer_name(s->conn, name, sizeof(name)), 0);
    assert_non_null(strstr(name, "10.0.0.1:"));
    uint8_t buf[1000];
    for (int i = 0; i < 200; i++) {
        for (size_t k = 0; k < sizeof(buf); k++)
            buf[k] = (uint8_t)(i * 7 + k);
        assert_int_equal(io_conn_write(c->conn, buf, sizeof(buf)), 0);
        if (i % 10 == 0)
            run_ms(&r, 1);
    }
    run_ms(&r, 500);
    assert_int_equal(s->got.len, 200 * sizeof(buf));
    for (int i = 0; i < 200; i++)
        for (size_t k = 0; k < sizeof(buf); k++)
            assert_int_equal(s->got.data[i * sizeof(buf) + k],
                             (uint8_t)(i * 7 + k));
    assert_true(s->reads > 200); /* splitting cut segments */
    rig_free(&r);
}

static void connect_refused_and_bad_address(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 2, NULL);
    struct host *cli = &r.hosts[0];
    assert_int_equal(io_connect(cli->io, "10.0.0.9", 7000, cli, on_connect),
                     CAIRN_EADDR);
    assert_int_equal(io_connect(cli->io, "nowhere", 7000, cli, on_connect),
                     CAIRN_EADDR);
    assert_int_equal(io_connect(cli->io, "10.0.0.2", 7000, cli, on_connect), 0);
    run_ms(&r, 50);
    assert_int_equal(cli->connects_failed, 1);
    assert_int_equal(cli->last_connect_status, CAIRN_ECLOSED);
    /* Port clash on one host, but not across hosts. */
    struct io_listener *a, *b;
    assert_int_equal(io_listen(cli->io, "10.0.0.1", 80, 1, cli, on_accept, &a), 0);
    assert_int_equal(io_listen(cli->io, "0.0.0.0", 80, 1, cli, on_accept, &b),
                     CAIRN_EADDR);
    assert_int_equal(io_listen(cli->io, "10.0.0.2", 81, 1, cli, on_accept, &b),
                     CAIRN_EADDR);
    assert_int_equal(io_listen(cli->io, "127.0.0.1", 0, 1, cli, on_accept, &b), 0);
    assert_true(sim_io_listener_port(b) >= 1024);
    io_listener_close(a);
    io_listener_close(b);
    rig_free(&r);
}

static void partition_blocks_connects_until_healed(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 3, NULL);
    struct host *srv = &r.hosts[1], *cli = &r.hosts[0];
    assert_int_equal(io_listen(srv->io, "0.0.0.0", 7000, 16, srv, on_accept,
                               &srv->l), 0);
    sim_net_isolate(r.net, 1, false);
    assert_int_equal(io_connect(cli->io, "10.0.0.2", 7000, cli, on_connect), 0);
    run_ms(&r, 900);
    assert_int_equal(cli->connects_failed + cli->connects_ok, 0);
    run_ms(&r, 300); /* connect_timeout is 1 s */
    assert_int_equal(cli->connects_failed, 1);
    assert_int_equal(cli->last_connect_status, CAIRN_EIO);
    assert_int_equal(srv->n_ends, 0);
    sim_net_heal(r.net);
    assert_int_equal(io_connect(cli->io, "10.0.0.2", 7000, cli, on_connect), 0);
    run_ms(&r, 50);
    assert_int_equal(cli->connects_ok, 1);
    rig_free(&r);
}

static void partition_stalls_then_heals_or_breaks(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 4, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    uint8_t group[3] = {0, 1, 0};
    sim_net_partition(r.net, group, false);
    assert_false(sim_net_link_open(r.net, 0, 1));
    assert_int_equal(io_conn_write(c->conn, "hello", 5), 0);
    run_ms(&r, 1000);
    assert_int_equal(s->got.len, 0);
    assert_false(s->eof);
    sim_net_heal(r.net);
    assert_int_equal(io_conn_write(c->conn, " world", 6), 0);
    run_ms(&r, 500);
    assert_int_equal(s->got.len, 11);
    assert_memory_equal(s->got.data, "hello world", 11);
    /* A partition that outlasts stall_break_us (3 s) breaks the stream. */
    sim_net_partition(r.net, group, false);
    assert_int_equal(io_conn_write(s->conn, "x", 1), 0);
    run_ms(&r, 2500);
    assert_false(c->eof);
    run_ms(&r, 1000);
    assert_true(c->eof);
    assert_true(s->eof);
    assert_int_equal(c->eof_status, CAIRN_EIO);
    assert_int_equal(s->eof_status, CAIRN_EIO);
    assert_int_equal(c->got.len, 0);
    assert_int_equal(io_conn_write(c->conn, "late", 4), CAIRN_ECLOSED);
    rig_free(&r);
}

static void one_way_partition_blocks_one_direction(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 5, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    sim_net_block(r.net, 0, 1, true);
    assert_int_equal(io_conn_write(c->conn, "up", 2), 0);
    assert_int_equal(io_conn_write(s->conn, "down", 4), 0);
    run_ms(&r, 500);
    assert_int_equal(s->got.len, 0);
    assert_int_equal(c->got.len, 4);
    sim_net_block(r.net, 0, 1, false);
    run_ms(&r, 500);
    assert_int_equal(s->got.len, 2);
    rig_free(&r);
}

static void partition_with_reset_breaks_at_once(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 6, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    assert_int_equal(io_conn_write(c->conn, "lost", 4), 0);
    sim_net_isolate(r.net, 1, true);
    assert_false(c->eof); /* callbacks wait for the loop */
    run_ms(&r, 1);
    assert_true(c->eof);
    assert_true(s->eof);
    assert_int_equal(s->got.len, 0);
    rig_free(&r);
}

static void clogged_link_delivers_later(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 7, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    uint64_t until = sim_world_now_us(r.w) + 1500000;
    sim_net_clog(r.net, 0, 1, until);
    assert_int_equal(io_conn_write(c->conn, "abc", 3), 0);
    run_ms(&r, 1400);
    assert_int_equal(s->got.len, 0);
    run_ms(&r, 400); /* resumes at the next retry after 1.5 s */
    assert_int_equal(s->got.len, 3);
    assert_false(s->eof);
    rig_free(&r);
}

static void loss_on_a_stream_is_a_reset(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 8, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    struct sim_link_config lossy;
    lossy = (struct sim_link_config){.latency_min_us = 100,
                                     .break_ppm = 1000000};
    sim_net_link_set(r.net, 0, 1, &lossy);
    assert_int_equal(io_conn_write(c->conn, "doomed", 6), 0);
    run_ms(&r, 10);
    assert_true(c->eof);
    assert_true(s->eof);
    assert_int_equal(c->eof_status, CAIRN_EIO);
    assert_int_equal(s->got.len, 0);
    struct sim_net_stats st;
    sim_net_stats_get(r.net, &st);
    assert_int_equal(st.conns_broken, 1);
    rig_free(&r);
}

static void close_sends_data_then_eof(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 9, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    assert_int_equal(io_conn_write(c->conn, "bye", 3), 0);
    io_conn_close(c->conn);
    c->conn = NULL;
    s->close_on_eof = true;
    run_ms(&r, 50);
    assert_int_equal(s->got.len, 3);
    assert_true(s->eof);
    assert_int_equal(s->eof_status, CAIRN_ECLOSED);
    assert_false(c->eof); /* no callback after close */
    assert_int_equal(sim_net_conns_live(r.net), 0);
    rig_free(&r);
}

static void crash_silences_a_host_and_restart_serves_again(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 10, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    struct host *srv = &r.hosts[1], *cli = &r.hosts[0];
    assert_int_equal(io_conn_write(c->conn, "to the dead", 11), 0);
    sim_io_crash(srv->sio);
    run_ms(&r, 2000);
    assert_false(c->eof); /* no FIN from a dead host: keepalive notices */
    assert_int_equal(s->got.len, 0);
    run_ms(&r, 1500);
    assert_true(c->eof);
    assert_int_equal(c->eof_status, CAIRN_EIO);
    assert_false(s->eof);
    /* The node's teardown may still close its dead handles. */
    io_conn_close(s->conn);
    s->conn = NULL;
    assert_int_equal(io_connect(cli->io, "10.0.0.2", 7000, cli, on_connect), 0);
    run_ms(&r, 1500);
    assert_int_equal(cli->last_connect_status, CAIRN_EIO); /* host down */
    /* Restart: a fresh sim_io on the same host. */
    host_close_all(srv);
    sim_io_free(srv->sio);
    host_up(&r, 1);
    assert_int_equal(io_listen(srv->io, "0.0.0.0", 7000, 16, srv, on_accept,
                               &srv->l), 0);
    assert_int_equal(io_connect(cli->io, "10.0.0.2", 7000, cli, on_connect), 0);
    run_ms(&r, 50);
    assert_int_equal(cli->connects_ok, 2);
    assert_int_equal(srv->n_ends, 1);
    rig_free(&r);
}

static void backpressure_and_drain(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 11, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    static uint8_t big[1024 * 1024];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);
    assert_int_equal(io_conn_write(c->conn, big, sizeof(big)), 0);
    assert_true(io_conn_write_pending(c->conn) > 0);
    assert_int_equal(c->drains, 0);
    run_ms(&r, 100);
    assert_int_equal(io_conn_write_pending(c->conn), 0);
    assert_int_equal(c->drains, 1);
    assert_int_equal(s->got.len, sizeof(big));
    assert_memory_equal(s->got.data, big, sizeof(big));
    rig_free(&r);
}

static void paused_reader_gets_bytes_after_resume(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 12, NULL);
    connect_pair(&r);
    struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
    io_conn_read_pause(s->conn);
    assert_int_equal(io_conn_write(c->conn, "one", 3), 0);
    assert_int_equal(io_conn_write(c->conn, "two", 3), 0);
    io_conn_close(c->conn);
    c->conn = NULL;
    run_ms(&r, 50);
    assert_int_equal(s->got.len, 0);
    assert_false(s->eof);
    io_conn_read_resume(s->conn);
    assert_int_equal(s->got.len, 0);
    run_ms(&r, 1);
    assert_int_equal(s->got.len, 6);
    assert_memory_equal(s->got.data, "onetwo", 6);
    assert_true(s->eof);
    rig_free(&r);
}

/* Random traffic with random faults; returns the trace hash. */
static uint64_t random_run(uint64_t seed)
{
    struct sim_net_config cfg;
    sim_net_config_default(&cfg);
    cfg.split_ppm = 200000;
    struct rig r;
    rig_init(&r, seed, &cfg);
    connect_pair(&r);
    struct cairn_rng *rng = sim_world_rng(r.w);
    for (int round = 0; round < 200; round++) {
        struct end *c = &r.hosts[0].ends[0], *s = &r.hosts[1].ends[0];
        uint8_t msg[64];
        size_t len = 1 + cairn_rng_below(rng, sizeof(msg));
        for (size_t k = 0; k < len; k++)
            msg[k] = (uint8_t)cairn_rng_next(rng);
        struct end *from = cairn_rng_chance(rng, 1, 2) ? c : s;
        if (from->conn != NULL && !from->eof)
            (void)io_conn_write(from->conn, msg, len);
        if (cairn_rng_chance(rng, 1, 50))
            sim_net_clog(r.net, 0, 1, sim_world_now_us(r.w) + 20000);
        run_ms(&r, cairn_rng_below(rng, 5));
    }
    run_ms(&r, 5000);
    uint64_t h = sim_world_trace_hash(r.w);
    rig_free(&r);
    return h;
}

static void random_workload_is_deterministic(void **state)
{
    (void)state;
    uint64_t seed = test_seed(77);
    uint64_t a = random_run(seed), b = random_run(seed);
    uint64_t c = random_run(seed + 1);
    assert_true(a == b);
    assert_true(a != c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(streams_arrive_whole_and_in_order),
        cmocka_unit_test(connect_refused_and_bad_address),
        cmocka_unit_test(partition_blocks_connects_until_healed),
        cmocka_unit_test(partition_stalls_then_heals_or_breaks),
        cmocka_unit_test(one_way_partition_blocks_one_direction),
        cmocka_unit_test(partition_with_reset_breaks_at_once),
        cmocka_unit_test(clogged_link_delivers_later),
        cmocka_unit_test(loss_on_a_stream_is_a_reset),
        cmocka_unit_test(close_sends_data_then_eof),
        cmocka_unit_test(crash_silences_a_host_and_restart_serves_again),
        cmocka_unit_test(backpressure_and_drain),
        cmocka_unit_test(paused_reader_gets_bytes_after_resume),
        cmocka_unit_test(random_workload_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
