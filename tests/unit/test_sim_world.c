/* test_sim_world.c: the simulator's world: event order (ties by insertion),
 * cancel and reschedule, node pauses, the trace ring and hash, and the
 * simulator-internal allocation marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/rng.h"
#include "report.h"
#include "testlib.h"
#include "world.h"

struct rec_ev {
    struct sim_event ev;
    int id;
    int *log;
    int *log_len;
    struct sim_world *w;
};

static void rec_fire(struct sim_event *ev)
{
    struct rec_ev *r = sim_container_of(ev, struct rec_ev, ev);
    r->log[(*r->log_len)++] = r->id;
    sim_world_trace_arg(r->w, (uint64_t)r->id);
}

static void init_recs(struct sim_world *w, struct rec_ev *r, int n, int *log,
                      int *log_len)
{
    for (int i = 0; i < n; i++) {
        sim_event_init(&r[i].ev, SIM_EV_USER, SIM_NODE_NONE, rec_fire);
        r[i].id = i;
        r[i].log = log;
        r[i].log_len = log_len;
        r[i].w = w;
    }
}

static void events_fire_by_time_then_insertion(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(1, 0);
    struct rec_ev r[6];
    int log[16], n = 0;
    init_recs(w, r, 6, log, &n);
    /* Times 30, 10, 10, 20, 10, 30: ties must fire in scheduling order. */
    uint64_t at[6] = {30, 10, 10, 20, 10, 30};
    for (int i = 0; i < 6; i++)
        sim_world_schedule(w, &r[i].ev, at[i]);
    assert_int_equal(sim_world_pending(w), 6);
    assert_int_equal(sim_world_run_until(w, 1000, 0), 0);
    int want[6] = {1, 2, 4, 3, 0, 5};
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(log[i], want[i]);
    assert_int_equal(sim_world_now_us(w), 1000);
    sim_world_free(w);
}

static void cancel_and_reschedule(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(1, 0);
    struct rec_ev r[4];
    int log[16], n = 0;
    init_recs(w, r, 4, log, &n);
    for (int i = 0; i < 4; i++)
        sim_world_schedule(w, &r[i].ev, 100);
    sim_world_cancel(w, &r[1].ev);
    sim_world_cancel(w, &r[1].ev); /* idempotent */
    assert_true(sim_world_check(w));
    /* Rescheduling at the same time moves it behind the others. */
    sim_world_schedule(w, &r[0].ev, 100);
    assert_false(sim_event_queued(&r[1].ev));
    while (sim_world_step(w))
        ;
    assert_int_equal(n, 3);
    assert_int_equal(log[0], 2);
    assert_int_equal(log[1], 3);
    assert_int_equal(log[2], 0);
    sim_world_free(w);
}

/* Model-based: random schedules and cancels against a reference that knows
 * the rule (time, then scheduling order). */
static void heap_matches_a_reference_order(void **state)
{
    (void)state;
    enum { N = 300 };
    struct sim_world *w = sim_world_new(5, 0);
    static struct rec_ev r[N];
    static int log[N];
    int n = 0;
    init_recs(w, r, N, log, &n);
    uint64_t at[N], seq[N], next_seq = 0;
    bool queued[N] = {false};
    struct cairn_rng rng;
    cairn_rng_seed(&rng, test_seed(11));
    for (int step = 0; step < 3000; step++) {
        int i = (int)cairn_rng_below(&rng, N);
        if (cairn_rng_chance(&rng, 1, 4)) {
            sim_world_cancel(w, &r[i].ev);
            queued[i] = false;
        } else {
            at[i] = cairn_rng_below(&rng, 50);
            seq[i] = next_seq++;
            sim_world_schedule(w, &r[i].ev, at[i]);
            queued[i] = true;
        }
        if (step % 100 == 0)
            assert_true(sim_world_check(w));
    }
    int expect[N], m = 0;
    for (int i = 0; i < N; i++)
        if (queued[i])
            expect[m++] = i;
    for (int a = 1; a < m; a++) { /* insertion sort by (at, seq) */
        int x = expect[a], b = a - 1;
        while (b >= 0 && (at[expect[b]] > at[x] ||
                          (at[expect[b]] == at[x] && seq[expect[b]] > seq[x]))) {
            expect[b + 1] = expect[b];
            b--;
        }
        expect[b + 1] = x;
    }
    assert_int_equal(sim_world_pending(w), m);
    while (sim_world_step(w))
        ;
    assert_int_equal(n, m);
    for (int i = 0; i < m; i++)
        assert_int_equal(log[i], expect[i]);
    sim_world_free(w);
}

static void paused_node_events_wait_for_the_end_of_the_pause(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(1, 0);
    struct rec_ev r[3];
    int log[8], n = 0;
    init_recs(w, r, 3, log, &n);
    r[0].ev.node = 2; /* addressed to node 2, due at 10 and 20 */
    r[1].ev.node = 2;
    r[2].ev.node = 1; /* another node, due at 15 */
    sim_world_schedule(w, &r[0].ev, 10);
    sim_world_schedule(w, &r[1].ev, 20);
    sim_world_schedule(w, &r[2].ev, 15);
    sim_world_node_pause(w, 2, 50);
    assert_int_equal(sim_world_run_until(w, 49, 0), 0);
    assert_int_equal(n, 1);
    assert_int_equal(log[0], 2);
    assert_int_equal(sim_world_run_until(w, 50, 0), 0);
    assert_int_equal(n, 3);
    assert_int_equal(log[1], 0); /* order kept */
    assert_int_equal(log[2], 1);
    sim_world_free(w);
}

static void run_until_stops_a_livelock(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(1, 0);
    struct rec_ev r[8];
    int log[16], n = 0;
    init_recs(w, r, 8, log, &n);
    for (int i = 0; i < 8; i++)
        sim_world_schedule(w, &r[i].ev, 5);
    assert_int_equal(sim_world_run_until(w, 10, 3), CAIRN_EBUSY);
    assert_int_equal(n, 3);
    assert_int_equal(sim_world_run_until(w, 10, 0), 0);
    assert_int_equal(n, 8);
    sim_world_free(w);
}

/* A little self-scheduling workload whose times come from the rng. */
struct chain {
    struct sim_event ev;
    struct sim_world *w;
    int left;
};

static void chain_fire(struct sim_event *ev)
{
    struct chain *c = sim_container_of(ev, struct chain, ev);
    uint64_t x = cairn_rng_next(sim_world_rng(c->w));
    sim_world_trace_bytes(c->w, &x, sizeof(x));
    if (c->left-- > 0)
        sim_world_schedule_in(c->w, ev, 1 + x % 1000);
}

static uint64_t run_chain(uint64_t seed)
{
    struct sim_world *w = sim_world_new(seed, 64);
    struct chain c[4];
    for (int i = 0; i < 4; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].w = w;
        c[i].left = 200;
        sim_event_init(&c[i].ev, SIM_EV_USER, (unsigned)i, chain_fire);
        sim_world_schedule(w, &c[i].ev, 0);
    }
    while (sim_world_step(w))
        ;
    uint64_t h = sim_world_trace_hash(w);
    sim_world_free(w);
    return h;
}

static void same_seed_same_trace_different_seed_different(void **state)
{
    (void)state;
    uint64_t seed = test_seed(42);
    uint64_t a = run_chain(seed), b = run_chain(seed), c = run_chain(seed + 1);
    assert_true(a == b);
    assert_true(a != c);
}

static void trace_ring_keeps_the_last_entries(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(9, 4);
    struct rec_ev r[10];
    int log[16], n = 0;
    init_recs(w, r, 10, log, &n);
    for (int i = 0; i < 10; i++)
        sim_world_schedule(w, &r[i].ev, (uint64_t)i);
    while (sim_world_step(w))
        ;
    assert_int_equal(sim_world_trace_count(w), 4);
    for (size_t i = 0; i < 4; i++) {
        struct sim_trace_entry e;
        assert_true(sim_world_trace_get(w, i, &e));
        assert_int_equal(e.arg, 6 + i);
        assert_int_equal(e.at_us, 6 + i);
        assert_int_equal(e.kind, SIM_EV_USER);
    }
    struct sim_trace_entry e;
    assert_false(sim_world_trace_get(w, 4, &e));
    char line[256];
    sim_world_trace_get(w, 0, &e);
    sim_report_format_entry(&e, line, sizeof(line));
    assert_non_null(strstr(line, "user"));
    assert_non_null(strstr(line, "arg=6"));
    sim_world_free(w);
}

static void trace_file_gets_every_event(void **state)
{
    (void)state;
    struct sim_world *w = sim_world_new(3, 2);
    struct rec_ev r[5];
    int log[8], n = 0;
    init_recs(w, r, 5, log, &n);
    char path[] = "/tmp/cairn_sim_trace_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sim_report_trace *t;
    assert_int_equal(sim_report_trace_open(w, path, &t), 0);
    for (int i = 0; i < 5; i++)
        sim_world_schedule(w, &r[i].ev, 7);
    while (sim_world_step(w))
        ;
    assert_int_equal(sim_report_trace_close(w, t), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        lines++;
    fclose(f);
    unlink(path);
    assert_int_equal(lines, 5);
    sim_world_free(w);
}

static void internal_allocations_are_marked(void **state)
{
    (void)state;
    assert_false(sim_alloc_internal());
    struct sim_bytes b = {0};
    sim_bytes_write_at(&b, 10, "xy", 2);
    assert_int_equal(b.len, 12);
    assert_int_equal(b.data[0], 0);
    assert_memory_equal(b.data + 10, "xy", 2);
    sim_bytes_consume(&b, 10);
    assert_int_equal(b.len, 2);
    sim_bytes_free(&b);
    assert_false(sim_alloc_internal());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_fire_by_time_then_insertion),
        cmocka_unit_test(cancel_and_reschedule),
        cmocka_unit_test(heap_matches_a_reference_order),
        cmocka_unit_test(paused_node_events_wait_for_the_end_of_the_pause),
        cmocka_unit_test(run_until_stops_a_livelock),
        cmocka_unit_test(same_seed_same_trace_different_seed_different),
        cmocka_unit_test(trace_ring_keeps_the_last_entries),
        cmocka_unit_test(trace_file_gets_every_event),
        cmocka_unit_test(internal_allocations_are_marked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
