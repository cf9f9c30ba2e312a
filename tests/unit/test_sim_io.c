/* test_sim_io.c: struct io over the simulator: node clocks with drift and
 * pauses, timers, asynchronous files with in-order completions, crash and
 * restart over the same disk, allocation faults reaching the node but not
 * the simulator, and a three-node ping workload that must replay bit for bit
 * (its speed against real time is printed, not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "disk.h"
#include "net.h"
#include "sim_io.h"
#include "testlib.h"
#include "world.h"

struct env {
    struct sim_world *w;
    struct sim_net *net;
    struct sim_disk *disk;
    struct sim_io *sio;
    struct io *io;
};

static void env_init(struct env *e, uint64_t seed, int32_t drift_ppm)
{
    e->w = sim_world_new(seed, 0);
    struct sim_net_config ncfg;
    sim_net_config_default(&ncfg);
    e->net = sim_net_new(e->w, 3, &ncfg);
    struct sim_disk_config dcfg;
    sim_disk_config_default(&dcfg);
    e->disk = sim_disk_new(sim_world_rng(e->w), &dcfg);
    struct sim_io_config cfg = {.host = 0, .drift_ppm = drift_ppm,
                                .mono_base_us = 5000000,
                                .wall_epoch_ms = 1700000000000};
    e->sio = sim_io_new(e->w, e->net, e->disk, &cfg);
    e->io = sim_io_io(e->sio);
}

static void env_free(struct env *e)
{
    assert_int_equal(sim_io_handles_open(e->sio), 0);
    sim_io_free(e->sio);
    sim_net_free(e->net);
    sim_disk_free(e->disk);
    assert_int_equal(sim_world_pending(e->w), 0);
    sim_world_free(e->w);
}

static void run_until(struct env *e, uint64_t us)
{
    assert_int_equal(sim_world_run_until(e->w, us, 1000000), 0);
}

/* ---- clock and timers ---- */

struct tick {
    struct io *io;
    struct io_timer *t;
    int fired;
    uint64_t at_us[8];
    int rearm;
    bool free_self;
};

static void tick_cb(void *ctx)
{
    struct tick *k = ctx;
    k->at_us[k->fired++ % 8] = io_now_us(k->io);
    if (k->rearm-- > 0)
        io_timer_start(k->t, 10);
    if (k->free_self) {
        io_timer_free(k->t);
        k->t = NULL;
    }
}

static void timers_follow_the_node_clock(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 1, 100000); /* this node's clock runs 10% fast */
    assert_int_equal(io_now_us(e.io), 5000000);
    struct tick k = {.io = e.io};
    k.t = io_timer_new(e.io, &k, tick_cb);
    assert_non_null(k.t);
    io_timer_start(k.t, 100);
    run_until(&e, 90000);
    assert_int_equal(k.fired, 0);
    run_until(&e, 91000); /* 100 ms of node time = 90.9 ms of world time */
    assert_int_equal(k.fired, 1);
    assert_true(k.at_us[0] >= 5000000 + 100000);
    assert_true(k.at_us[0] < 5000000 + 100000 + 10);
    /* Re-arming from the callback; stop; restart. */
    k.rearm = 2;
    io_timer_start(k.t, 0);
    run_until(&e, 200000);
    assert_int_equal(k.fired, 4);
    io_timer_start(k.t, 50);
    io_timer_stop(k.t);
    run_until(&e, 400000);
    assert_int_equal(k.fired, 4);
    assert_int_equal(io_now_ms(e.io), (5000000 + 440000) / 1000);
    assert_int_equal(io_wall_ms(e.io), 1700000000000 + 440);
    sim_io_wall_step(e.sio, -3000); /* wall clock jumps back */
    assert_int_equal(io_wall_ms(e.io), 1700000000000 + 440 - 3000);
    assert_int_equal(io_now_ms(e.io), (5000000 + 440000) / 1000);
    /* A timer may free itself in its callback. */
    k.free_self = true;
    io_timer_start(k.t, 1);
    run_until(&e, 500000);
    assert_int_equal(k.fired, 5);
    assert_null(k.t);
    env_free(&e);
}

static void pause_delays_callbacks_not_clocks(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 2, 0);
    struct tick k = {.io = e.io};
    k.t = io_timer_new(e.io, &k, tick_cb);
    io_timer_start(k.t, 10);
    sim_io_pause(e.sio, 500000);
    run_until(&e, 499000);
    assert_int_equal(k.fired, 0);
    run_until(&e, 500000);
    assert_int_equal(k.fired, 1);
    assert_int_equal(k.at_us[0], 5000000 + 500000); /* the clock ran on */
    io_timer_free(k.t);
    env_free(&e);
}

static void random_seed_comes_from_the_world(void **state)
{
    (void)state;
    struct env a, b;
    env_init(&a, 77, 0);
    env_init(&b, 77, 0);
    assert_true(io_random_seed(a.io) == io_random_seed(b.io));
    assert_true(io_random_seed(a.io) != io_random_seed(a.io));
    env_free(&a);
    env_free(&b);
}

/* ---- files ---- */

struct fstate {
    struct io_file *f;
    int open_status;
    int opens;
    int done[16];
    int statuses[16];
    size_t ns[16];
    int count;
};

static void open_cb(void *ctx, struct io_file *f, int status)
{
    struct fstate *s = ctx;
    s->opens++;
    s->open_status = status;
    s->f = f;
}

/* Each completion records its order through a tagged context. */
struct tagged {
    struct fstate *s;
    int tag;
};

static void done_cb(void *ctx, int status, size_t n)
{
    struct tagged *t = ctx;
    struct fstate *s = t->s;
    s->done[s->count] = t->tag;
    s->statuses[s->count] = status;
    s->ns[s->count] = n;
    s->count++;
}

static void files_complete_in_order_after_latency(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 3, 0);
    struct fstate s = {0};
    assert_int_equal(io_file_open(e.io, "log", IO_OPEN_READ | IO_OPEN_WRITE,
                                  &s, open_cb), 0);
    run_until(&e, 10000);
    assert_int_equal(s.open_status, CAIRN_ENOTFOUND);
    assert_null(s.f);
    assert_int_equal(io_file_open(e.io, "log", IO_OPEN_READ | IO_OPEN_WRITE |
                                  IO_OPEN_CREATE, &s, open_cb), 0);
    assert_int_equal(s.opens, 1); /* not from inside the call */
    run_until(&e, 20000);
    assert_int_equal(s.open_status, 0);
    assert_non_null(s.f);
    struct tagged t[4] = {{&s, 0}, {&s, 1}, {&s, 2}, {&s, 3}};
    char buf[16] = {0};
    char data[] = "hello";
    assert_int_equal(io_file_write(s.f, 0, data, 5, &t[0], done_cb), 0);
    data[0] = 'J'; /* the write copied its bytes */
    assert_int_equal(io_file_fsync(s.f, &t[1], done_cb), 0);
    assert_int_equal(io_file_read(s.f, 0, buf, sizeof(buf), &t[2], done_cb), 0);
    assert_int_equal(io_rename(e.io, "log", "log.old", &t[3], done_cb), 0);
    assert_int_equal(s.count, 0);
    run_until(&e, 40000);
    assert_int_equal(s.count, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(s.done[i], i);
        assert_int_equal(s.statuses[i], 0);
    }
    assert_int_equal(s.ns[0], 5);
    assert_int_equal(s.ns[2], 5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(sim_disk_exists(e.disk, "log.old"));
    /* fsync failure reaches the caller. */
    sim_disk_fail_next(e.disk, SIM_DISK_OP_FSYNC, CAIRN_EIO);
    s.count = 0;
    assert_int_equal(io_file_fsync(s.f, &t[0], done_cb), 0);
    run_until(&e, 50000);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.statuses[0], CAIRN_EIO);
    /* Closing with operations pending: they finish, silently. */
    s.count = 0;
    assert_int_equal(io_file_write(s.f, 5, " world", 6, &t[0], done_cb), 0);
    io_file_close(s.f);
    run_until(&e, 60000);
    assert_int_equal(s.count, 0);
    size_t len;
    sim_disk_contents(e.disk, "log.old", &len);
    assert_int_equal(len, 11);
    assert_int_equal(sim_disk_handles_open(e.disk), 0);
    env_free(&e);
}

static void crash_drops_pending_work_and_restart_sees_synced_data(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 4, 0);
    struct fstate s = {0};
    struct tagged t[3] = {{&s, 0}, {&s, 1}, {&s, 2}};
    io_file_open(e.io, "wal", IO_OPEN_READ | IO_OPEN_WRITE | IO_OPEN_CREATE,
                 &s, open_cb);
    run_until(&e, 10000);
    io_file_write(s.f, 0, "durable", 7, &t[0], done_cb);
    io_file_fsync(s.f, &t[1], done_cb);
    run_until(&e, 20000);
    assert_int_equal(s.count, 2);
    io_file_write(s.f, 7, "+pending", 8, &t[2], done_cb);
    struct tick k = {.io = e.io};
    k.t = io_timer_new(e.io, &k, tick_cb);
    io_timer_start(k.t, 1);
    sim_io_crash(e.sio);
    assert_false(sim_io_alive(e.sio));
    run_until(&e, 100000);
    assert_int_equal(s.count, 2); /* the pending write never completed */
    assert_int_equal(k.fired, 0);
    assert_int_equal(io_file_open(e.io, "x", IO_OPEN_READ, &s, open_cb),
                     CAIRN_ESHUTDOWN);
    /* The node's teardown may close its handles after the crash. */
    io_file_close(s.f);
    io_timer_free(k.t);
    sim_io_free(e.sio);
    struct sim_io_config cfg = {.host = 0, .mono_base_us = 777};
    e.sio = sim_io_new(e.w, e.net, e.disk, &cfg);
    e.io = sim_io_io(e.sio);
    assert_int_equal(io_now_us(e.io), 777); /* a fresh monotonic clock */
    struct fstate s2 = {0};
    io_file_open(e.io, "wal", IO_OPEN_READ, &s2, open_cb);
    run_until(&e, 200000);
    assert_int_equal(s2.open_status, 0);
    char buf[32];
    struct tagged r = {&s2, 9};
    io_file_read(s2.f, 0, buf, sizeof(buf), &r, done_cb);
    run_until(&e, 300000);
    assert_int_equal(s2.ns[0], 7);
    assert_memory_equal(buf, "durable", 7);
    io_file_close(s2.f);
    env_free(&e);
}

static void refused_cb(void *ctx, struct io_conn *c, int status)
{
    assert_null(c);
    *(int *)ctx = status;
}

static bool fail_node_allocs(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    return !sim_alloc_internal();
}

static void allocation_faults_reach_the_node_only(void **state)
{
    (void)state;
    struct env e;
    env_init(&e, 5, 0);
    struct fstate s = {0};
    io_file_open(e.io, "f", IO_OPEN_WRITE | IO_OPEN_CREATE, &s, open_cb);
    run_until(&e, 10000);
    cairn_alloc_set_fail_hook(fail_node_allocs, NULL);
    assert_null(io_timer_new(e.io, NULL, tick_cb));
    struct tagged t = {&s, 0};
    /* The first write may reuse a recycled record; its data copy fails. */
    assert_int_equal(io_file_write(s.f, 0, "x", 1, &t, done_cb), CAIRN_ENOMEM);
    assert_int_equal(io_file_open(e.io, "g", IO_OPEN_CREATE, &s, open_cb),
                     CAIRN_ENOMEM);
    /* The simulator itself keeps working: a connect allocates internally. */
    int status = 1;
    assert_int_equal(io_connect(e.io, "10.0.0.2", 9, &status, refused_cb), 0);
    cairn_alloc_set_fail_hook(NULL, NULL);
    run_until(&e, 20000);
    assert_int_equal(status, CAIRN_ECLOSED);
    io_file_close(s.f);
    env_free(&e);
}

/* ---- a three-node ping workload ---- */

struct pnode {
    struct sim_io *sio;
    struct io *io;
    struct io_listener *l;
    struct io_conn *out;   /* to the next node */
    struct io_conn *in[4]; /* accepted */
    int n_in;
    struct io_timer *t;
    uint64_t pings;
    uint64_t pongs;
    unsigned id;
};

static void p_read(void *ctx, struct io_conn *c, const char *d, size_t len)
{
    struct pnode *p = ctx;
    for (size_t i = 0; i < len; i++) {
        if (d[i] == 'P') {
            p->pings++;
            (void)io_conn_write(c, "o", 1);
        } else {
            p->pongs++;
        }
    }
}

static void p_eof(void *ctx, struct io_conn *c, int status)
{
    struct pnode *p = ctx;
    (void)status;
    if (c == p->out)
        p->out = NULL;
    for (int i = 0; i < p->n_in; i++)
        if (p->in[i] == c)
            p->in[i] = NULL;
    io_conn_close(c);
}

static const struct io_conn_handlers p_handlers = {p_read, p_eof, NULL};

static void p_accept(void *ctx, struct io_conn *c)
{
    struct pnode *p = ctx;
    if (p->n_in == 4) {
        io_conn_close(c);
        return;
    }
    p->in[p->n_in++] = c;
    io_conn_start(c, p, &p_handlers);
}

static void p_connected(void *ctx, struct io_conn *c, int status)
{
    struct pnode *p = ctx;
    if (status != 0)
        return;
    p->out = c;
    io_conn_start(c, p, &p_handlers);
}

static void p_tick(void *ctx)
{
    struct pnode *p = ctx;
    if (p->out != NULL)
        (void)io_conn_write(p->out, "P", 1);
    io_timer_start(p->t, 1);
}

static uint64_t ping_run(uint64_t seed, uint64_t sim_seconds, uint64_t *events,
                         uint64_t *pongs)
{
    struct sim_world *w = sim_world_new(seed, 0);
    struct sim_net_config ncfg;
    sim_net_config_default(&ncfg);
    struct sim_net *net = sim_net_new(w, 3, &ncfg);
    struct pnode nodes[3];
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < 3; i++) {
        struct sim_io_config cfg = {.host = i, .drift_ppm = (int32_t)i * 100};
        nodes[i].sio = sim_io_new(w, net, NULL, &cfg);
        nodes[i].io = sim_io_io(nodes[i].sio);
        nodes[i].id = i;
        assert_int_equal(io_listen(nodes[i].io, "0.0.0.0", 6000, 8, &nodes[i],
                                   p_accept, &nodes[i].l), 0);
        nodes[i].t = io_timer_new(nodes[i].io, &nodes[i], p_tick);
        io_timer_start(nodes[i].t, 1);
    }
    for (unsigned i = 0; i < 3; i++) {
        char addr[32];
        sim_net_host_addr((i + 1) % 3, addr, sizeof(addr));
        assert_int_equal(io_connect(nodes[i].io, addr, 6000, &nodes[i],
                                    p_connected), 0);
    }
    assert_int_equal(sim_world_run_until(w, sim_seconds * 1000000, 0), 0);
    *events = sim_world_events_fired(w);
    *pongs = nodes[0].pongs + nodes[1].pongs + nodes[2].pongs;
    uint64_t h = sim_world_trace_hash(w);
    for (unsigned i = 0; i < 3; i++)
        sim_io_free(nodes[i].sio);
    sim_net_free(net);
    sim_world_free(w);
    return h;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void three_node_ping_replays_bit_for_bit(void **state)
{
    (void)state;
    uint64_t seed = test_seed(2024);
    uint64_t ev1, ev2, ev3, p1, p2, p3;
    double t0 = seconds_now();
    uint64_t a = ping_run(seed, 20, &ev1, &p1);
    double t1 = seconds_now();
    uint64_t b = ping_run(seed, 20, &ev2, &p2);
    uint64_t c = ping_run(seed + 1, 20, &ev3, &p3);
    assert_true(a == b);
    assert_int_equal(ev1, ev2);
    assert_int_equal(p1, p2);
    assert_true(a != c);
    /* 3 nodes x 1 ping per ms x 20 s, minus the connect time. */
    assert_true(p1 > 3 * 19000);
    double real = t1 - t0;
    fprintf(stderr,
            "ping: 20 simulated s, %llu events, %.3f real s: %.0fx real time, "
            "%.0f events/s\n",
            (unsigned long long)ev1, real, real > 0 ? 20.0 / real : 0.0,
            real > 0 ? (double)ev1 / real : 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_follow_the_node_clock),
        cmocka_unit_test(pause_delays_callbacks_not_clocks),
        cmocka_unit_test(random_seed_comes_from_the_world),
        cmocka_unit_test(files_complete_in_order_after_latency),
        cmocka_unit_test(crash_drops_pending_work_and_restart_sees_synced_data),
        cmocka_unit_test(allocation_faults_reach_the_node_only),
        cmocka_unit_test(three_node_ping_replays_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
