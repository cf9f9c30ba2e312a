/* test_sim_runner.c: the whole pipeline on the stand-in server: correct
 * runs pass and replay bit for bit; each planted bug is caught within a
 * bounded number of seeds (printed, as the planted-bug suite will be). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runner.h"
#include "standin.h"
#include "testlib.h"

static void short_config(struct sim_run_config *cfg, uint64_t seed)
{
    sim_run_config_default(cfg);
    cfg->seed = seed;
    cfg->fault_us = 3000000;
    cfg->liveness_us = 2000000;
    cfg->dump_on_failure = false;
}

static void correct_server_passes_and_replays(void **state)
{
    (void)state;
    struct sim_server_ops ops;
    sim_standin_ops(&ops, NULL);
    uint64_t base = test_seed(1000);
    for (uint64_t seed = base; seed < base + 12; seed++) {
        struct sim_run_config cfg;
        short_config(&cfg, seed);
        struct sim_run_result a, b;
        sim_run(&cfg, &ops, &a);
        if (a.outcome != SIM_RUN_OK)
            fail_msg("seed %llu: %s: %s", (unsigned long long)seed,
                     sim_run_outcome_name(a.outcome), a.lin.explain);
        assert_true(a.replied > 0);
        assert_true(a.liveness_replies > 0);
        if (seed == base) {
            sim_run(&cfg, &ops, &b);
            assert_true(a.trace_hash == b.trace_hash);
            assert_int_equal(a.events, b.events);
            assert_int_equal(a.ops, b.ops);
        }
    }
}

static void no_faults_run_has_no_unknowns(void **state)
{
    (void)state;
    struct sim_server_ops ops;
    sim_standin_ops(&ops, NULL);
    struct sim_run_config cfg;
    short_config(&cfg, 5);
    cfg.no_faults = true;
    struct sim_run_result r;
    sim_run(&cfg, &ops, &r);
    assert_int_equal(r.outcome, SIM_RUN_OK);
    assert_int_equal(r.unknown, 0);
    assert_int_equal(r.crashes, 0);
    assert_int_equal(r.replied, r.ops);
}

static unsigned seeds_to_catch(const char *bug)
{
    struct sim_server_ops ops;
    sim_standin_ops(&ops, bug);
    for (unsigned i = 1; i <= 60; i++) {
        struct sim_run_config cfg;
        short_config(&cfg, i);
        struct sim_run_result r;
        sim_run(&cfg, &ops, &r);
        if (r.outcome == SIM_RUN_NOT_LINEARIZABLE)
            return i;
        assert_true(r.outcome == SIM_RUN_OK);
    }
    return 0;
}

static void planted_bugs_are_caught(void **state)
{
    (void)state;
    static const char *const bugs[] = {"ack-before-fsync", "no-replay"};
    for (size_t i = 0; i < sizeof(bugs) / sizeof(bugs[0]); i++) {
        unsigned n = seeds_to_catch(bugs[i]);
        fprintf(stderr, "planted bug %s: caught after %u seed(s)\n", bugs[i], n);
        assert_true(n > 0);
    }
}

static int too_busy(void *ctx, void *const *servers, unsigned count,
                    char *msg, size_t msg_len)
{
    (void)ctx;
    for (unsigned i = 0; i < count; i++) {
        if (servers[i] != NULL && sim_standin_commands(servers[i]) > 100) {
            snprintf(msg, msg_len, "node %u served more than 100 commands", i);
            return 1;
        }
    }
    return 0;
}

static void broken_invariant_stops_the_run(void **state)
{
    (void)state;
    struct sim_server_ops ops;
    sim_standin_ops(&ops, NULL);
    ops.check = too_busy;
    struct sim_run_config cfg;
    short_config(&cfg, 9);
    cfg.no_faults = true;
    struct sim_run_result r;
    sim_run(&cfg, &ops, &r);
    assert_int_equal(r.outcome, SIM_RUN_INVARIANT);
    assert_string_equal(r.invariant, "node 0 served more than 100 commands");
    /* stopped within a slice, long before the planned 6 s */
    assert_true(r.sim_us < 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(correct_server_passes_and_replays),
        cmocka_unit_test(no_faults_run_has_no_unknowns),
        cmocka_unit_test(planted_bugs_are_caught),
        cmocka_unit_test(broken_invariant_stops_the_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
