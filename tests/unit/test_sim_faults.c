/* test_sim_faults.c: swarm draws and the fault schedule (crash/restart
 * bookkeeping, quiesce), and the client history recorder feeding the
 * checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/rng.h"
#include "faults.h"
#include "history.h"
#include "testlib.h"

struct hooks_state {
    int crashes[4];
    int restarts[4];
    bool down[4];
    int steps;
    struct sim_disk *disk;
};

static void h_crash(void *ctx, unsigned node)
{
    struct hooks_state *s = ctx;
    assert_false(s->down[node]);
    s->down[node] = true;
    s->crashes[node]++;
}

static void h_restart(void *ctx, unsigned node)
{
    struct hooks_state *s = ctx;
    assert_true(s->down[node]);
    s->down[node] = false;
    s->restarts[node]++;
}

static void h_step(void *ctx, unsigned node, int64_t delta)
{
    struct hooks_state *s = ctx;
    (void)node;
    assert_true(delta >= -10000 && delta <= 10000);
    s->steps++;
}

static struct sim_disk *h_disk(void *ctx, unsigned node)
{
    struct hooks_state *s = ctx;
    (void)node;
    return s->disk;
}

/* Node 1 "leads" while it is up (the depose fault isolates it). */
static int h_leader(void *ctx, uint64_t *term)
{
    struct hooks_state *s = ctx;
    *term = (uint64_t)s->restarts[1] + 1; /* a new term after each restart */
    return s->down[1] ? -1 : 1;
}

static void swarm_draw_is_a_function_of_the_seed(void **state)
{
    (void)state;
    struct cairn_rng a, b;
    cairn_rng_seed(&a, 5);
    cairn_rng_seed(&b, 5);
    struct sim_swarm x, y;
    sim_swarm_draw(&a, 3, &x);
    sim_swarm_draw(&b, 3, &y);
    assert_memory_equal(&x, &y, sizeof(x));
    assert_true(x.crashed_max >= 1 && x.crashed_max <= 3);
    char text[256];
    sim_swarm_describe(&x, text, sizeof(text));
    assert_non_null(strstr(text, "interval="));
    /* Over many seeds every kind is sometimes on and sometimes off. */
    int on[SIM_FAULT_KIND_COUNT] = {0};
    for (int i = 0; i < 64; i++) {
        sim_swarm_draw(&a, 3, &x);
        for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
            on[k] += x.enabled[k];
    }
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        assert_true(on[k] > 0 && on[k] < 64);
}

static void schedule_crashes_restarts_and_quiesces(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(test_seed(3), 0);
    struct sim_net_config ncfg;
    sim_net_config_default(&ncfg);
    struct sim_net *net = sim_net_new(w, 5, &ncfg);
    struct sim_disk_config dcfg;
    sim_disk_config_default(&dcfg);
    struct hooks_state s;
    memset(&s, 0, sizeof(s));
    s.disk = sim_disk_new(sim_world_rng(w), &dcfg);
    struct sim_swarm sw;
    memset(&sw, 0, sizeof(sw));
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        sw.enabled[k] = true;
    sw.fault_interval_us = 10000;
    sw.fault_len_max_us = 200000;
    sw.crashed_max = 1;
    struct sim_fault_hooks hooks = {&s, h_crash, h_restart, h_step, NULL, h_disk,
                                    NULL, NULL, h_leader};
    struct sim_faults *f = sim_faults_new(w, net, 3, &sw, &hooks);
    sim_faults_start(f);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sim_world_run_until(w, sim_world_now_us(w) + 20000, 0), 0);
        int down = s.down[0] + s.down[1] + s.down[2];
        assert_true(down <= 1);
    }
    struct sim_fault_stats st;
    sim_faults_stats_get(f, &st);
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        if (k != SIM_FAULT_CORRUPT) /* needs synced data on the disk */
            assert_true(st.applied[k] > 0);
    assert_true(s.steps > 0);
    sim_faults_quiesce(f);
    for (unsigned i = 0; i < 3; i++) {
        assert_false(s.down[i]);
        assert_true(sim_faults_node_up(f, i));
        assert_int_equal(s.crashes[i], s.restarts[i]);
    }
    for (unsigned a = 0; a < 5; a++)
        for (unsigned b = 0; b < 5; b++)
            if (a != b)
                assert_true(sim_net_link_open(net, a, b));
    assert_int_equal(sim_world_pending(w), 0);
    sim_faults_free(f);
    sim_disk_free(s.disk);
    sim_net_free(net);
    sim_world_free(w);
}

static void history_records_and_checks(void **state)
{
    (void)state;
    struct sim_history *h = sim_history_new(8);
    size_t a, b, c, d;
    assert_int_equal(sim_history_call(h, 1, LIN_SET, "k", 1, "v1", 2, 10, &a), 0);
    assert_int_equal(sim_history_call(h, 2, LIN_GET, "k", 1, NULL, 0, 12, &b), 0);
    assert_int_equal(sim_history_call(h, 3, LIN_SET, "k", 1, "", 0, 13, &c), 0);
    assert_int_equal(sim_history_call(h, 4, LIN_DEL, "k", 1, NULL, 0, 14, &d), 0);
    sim_history_return(h, a, 20, LIN_RES_OK, 0, NULL, 0);
    sim_history_return(h, b, 30, LIN_RES_BULK, 0, "v1", 2);
    sim_history_forget(h, d); /* never sent */
    assert_int_equal(sim_history_pending(h), 1); /* c: unknown */
    struct lin_op op;
    assert_false(sim_history_get(h, d, &op));
    assert_true(sim_history_get(h, c, &op));
    assert_int_equal(op.res, LIN_RES_UNKNOWN);
    assert_non_null(op.arg);
    struct lin_report rep;
    assert_int_equal(sim_history_check(h, 10000, &rep), 0);
    assert_int_equal(rep.verdict, LIN_LINEARIZABLE);
    size_t e;
    assert_int_equal(sim_history_call(h, 2, LIN_GET, "k", 1, NULL, 0, 40, &e), 0);
    sim_history_return(h, e, 50, LIN_RES_BULK, 0, "v2", 2);
    assert_int_equal(sim_history_check(h, 10000, &rep), 0);
    assert_int_equal(rep.verdict, LIN_NOT_LINEARIZABLE);
    assert_int_equal(rep.op_index, e);
    assert_non_null(strstr(rep.explain, "history op id 4"));
    size_t x;
    for (int i = 0; i < 3; i++)
        assert_int_equal(sim_history_call(h, 1, LIN_GET, "z", 1, NULL, 0, 60, &x), 0);
    assert_int_equal(sim_history_call(h, 1, LIN_GET, "z", 1, NULL, 0, 60, &x),
                     CAIRN_EFULL);
    sim_history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(swarm_draw_is_a_function_of_the_seed),
        cmocka_unit_test(schedule_crashes_restarts_and_quiesces),
        cmocka_unit_test(history_records_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
