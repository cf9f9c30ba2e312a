/*
 * main.c: cairn-sim, the seed runner.
 *
 *   cairn-sim [--seed N] [--seeds K] [--nodes N] [--clients C]
 *             [--seconds S] [--liveness S] [--bug NAME] [--no-faults]
 *             [--trace FILE] [--replay-every N] [--budget STEPS] [--quiet]
 *
 * Runs seeds N .. N+K-1 (each draws its own swarm of faults), stops at the
 * first failure and prints how to replay it.  Every replay-every-th seed is
 * run twice and must give the same trace hash.  Today the servers are the
 * stand-in (sim/standin.h); --bug plants one of its bugs, which the run must
 * catch.  Exit codes, distinct per kind of failure:
 *   0 all passed        1 usage             3 not linearizable
 *   4 liveness          5 nondeterminism    6 inconclusive check
 *   7 setup failed      8 invariant broken
 * A crash of the process itself (an ASSERT in the node) ends it by signal:
 * status 128 + signal in a shell.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

enum {
    EXIT_USAGE = 1,
    EXIT_NOT_LINEARIZABLE = 3,
    EXIT_LIVENESS = 4,
    EXIT_NONDETERMINISM = 5,
    EXIT_INCONCLUSIVE = 6,
    EXIT_SETUP = 7,
    EXIT_INVARIANT = 8,
};

struct args {
    struct sim_run_config run;
    uint64_t seeds;
    uint64_t replay_every;
    const char *bug;
    int quiet;
};

static int usage(void)
{
    fprintf(stderr,
            "usage: cairn-sim [--seed N] [--seeds K] [--nodes N] [--clients C]\n"
            "                 [--seconds S] [--liveness S] [--bug ack-before-fsync|"
            "no-replay]\n"
            "                 [--no-faults] [--trace FILE] [--replay-every N]\n"
            "                 [--budget STEPS] [--quiet]\n");
    return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s == '\0')
        return -1;
    *out = strtoull(s, &end, 0);
    return *end == '\0' ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    sim_run_config_default(&a->run);
    a->seeds = 1;
    a->replay_every = 4;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t v = 0;
        if (strcmp(opt, "--no-faults") == 0) {
            a->run.no_faults = true;
            continue;
        }
        if (strcmp(opt, "--quiet") == 0) {
            a->quiet = 1;
            continue;
        }
        if (val == NULL)
            return -1;
        i++;
        if (strcmp(opt, "--bug") == 0) {
            a->bug = val;
            continue;
        }
        if (strcmp(opt, "--trace") == 0) {
            a->run.trace_path = val;
            continue;
        }
        if (parse_u64(val, &v) != 0)
            return -1;
        if (strcmp(opt, "--seed") == 0)
            a->run.seed = v;
        else if (strcmp(opt, "--seeds") == 0 && v > 0)
            a->seeds = v;
        else if (strcmp(opt, "--nodes") == 0 && v > 0 && v <= 8)
            a->run.nodes = (unsigned)v;
        else if (strcmp(opt, "--clients") == 0 && v > 0 && v <= 16)
            a->run.clients = (unsigned)v;
        else if (strcmp(opt, "--seconds") == 0)
            a->run.fault_us = v * 1000000;
        else if (strcmp(opt, "--liveness") == 0 && v > 0)
            a->run.liveness_us = v * 1000000;
        else if (strcmp(opt, "--budget") == 0 && v > 0 && v <= 100000000)
            a->run.check_budget = v;
        else if (strcmp(opt, "--replay-every") == 0)
            a->replay_every = v;
        else
            return -1;
    }
    if (a->run.trace_path != NULL && a->seeds != 1)
        return -1; /* one trace file per run */
    return 0;
}

static void print_result(const struct sim_run_result *r, uint64_t seed)
{
    printf("seed=%" PRIu64 " %s ops=%" PRIu64 " replied=%" PRIu64
           " unknown=%" PRIu64 " crashes=%" PRIu64 " events=%" PRIu64
           " sim=%.1fs real=%.3fs (%.0fx) hash=%016" PRIx64 " [%s]\n",
           seed, sim_run_outcome_name(r->outcome), r->ops, r->replied,
           r->unknown, r->crashes, r->events, (double)r->sim_us / 1e6,
           r->real_s, r->real_s > 0 ? (double)r->sim_us / 1e6 / r->real_s : 0,
           r->trace_hash, r->swarm);
}

static int exit_code(enum sim_run_outcome o)
{
    switch (o) {
    case SIM_RUN_OK: return 0;
    case SIM_RUN_NOT_LINEARIZABLE: return EXIT_NOT_LINEARIZABLE;
    case SIM_RUN_LIVENESS: return EXIT_LIVENESS;
    case SIM_RUN_INCONCLUSIVE: return EXIT_INCONCLUSIVE;
    case SIM_RUN_SETUP_FAILED: return EXIT_SETUP;
    case SIM_RUN_INVARIANT: return EXIT_INVARIANT;
    }
    return EXIT_SETUP;
}

int main(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof(a));
    if (parse_args(argc, argv, &a) != 0)
        return usage();
    if (a.run.nodes != 1) {
        /* Each stand-in keeps its own copy: several would not agree. */
        fprintf(stderr, "cairn-sim: the stand-in server runs on one node; "
                        "--nodes needs the real node wired in\n");
        return EXIT_USAGE;
    }
    struct sim_server_ops ops;
    sim_standin_ops(&ops, a.bug);
    uint64_t first = a.run.seed;
    for (uint64_t i = 0; i < a.seeds; i++) {
        struct sim_run_config cfg = a.run;
        cfg.seed = first + i;
        struct sim_run_result r;
        sim_run(&cfg, &ops, &r);
        if (!a.quiet || r.outcome != SIM_RUN_OK)
            print_result(&r, cfg.seed);
        if (r.outcome != SIM_RUN_OK) {
            if (r.outcome == SIM_RUN_INVARIANT)
                printf("  %s\n", r.invariant);
            else if (r.lin.explain[0] != '\0')
                printf("  %s\n", r.lin.explain);
            printf("  replay: %s --seed %" PRIu64 "%s%s%s\n", argv[0],
                   cfg.seed, a.bug ? " --bug " : "", a.bug ? a.bug : "",
                   cfg.no_faults ? " --no-faults" : "");
            printf("  failed after %" PRIu64 " seed(s)\n", i + 1);
            return exit_code(r.outcome);
        }
        if (a.replay_every > 0 && i % a.replay_every == 0) {
            struct sim_run_result again;
            cfg.trace_path = NULL;
            sim_run(&cfg, &ops, &again);
            if (again.trace_hash != r.trace_hash) {
                printf("seed=%" PRIu64 " NONDETERMINISTIC: %016" PRIx64
                       " then %016" PRIx64 "\n",
                       cfg.seed, r.trace_hash, again.trace_hash);
                return EXIT_NONDETERMINISM;
            }
        }
    }
    printf("%" PRIu64 " seed(s) passed\n", a.seeds);
    return 0;
}
