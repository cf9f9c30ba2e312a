/*
 * main.c: cairn-sim, the seed runner.
 *
 *   cairn-sim [--seed N | --seeds A..B | --seed N --seeds K] [--nodes N]
 *             [--clients C] [--seconds S] [--liveness S] [--no-faults]
 *             [--trace FILE] [--replay-every N] [--budget STEPS] [--quiet]
 *             [--standin [--bug NAME]] [--keep-going | --until-safety]
 *             [--transfer-only] [--no-self-add] [--no-alloc-faults]
 *             [--node-log] [--check-every-ms N]
 *
 * Runs the real cairn node (sim/node_adapter.h) on every server host; each
 * seed draws its knobs (cluster size 1..7 unless --nodes pins it,
 * durability, timeouts, snapshot threshold, key space, clients, TTL and
 * admin side ops, allocation-failure rate) and its
 * swarm of faults, both printed before the run.  Stops at the first failure
 * and prints how to replay it, with a full trace file.  Every
 * replay-every-th seed is run twice and must give the same trace hash.
 * --keep-going runs every seed and counts failures; --until-safety goes on
 * past liveness and inconclusive outcomes (listed, exit 0 if nothing else)
 * and stops at the first safety failure (not linearizable, invariant,
 * nondeterminism): the mutant suite's and make test's mode.
 * Every seed may draw membership changes (CLUSTER DELNODE/ADDNODE, also of
 * the receiving node) and allocation failures; --transfer-only limits admin
 * ops to CLUSTER TRANSFER, --no-self-add never sends ADDNODE of the
 * receiving node, --no-alloc-faults fails no allocation (narrowing a replay
 * when hunting a bug; the draws stay the same).  --node-log echoes the nodes' log
 * lines; the cross-node checks run after every event, or every N ms of
 * simulated time with --check-every-ms N.
 * --standin runs the simulator's own stand-in server instead (one node;
 * --bug plants one of its bugs).  Exit codes, distinct per kind:
 *   0 all passed        1 usage             3 not linearizable
 *   4 liveness          5 nondeterminism    6 inconclusive check
 *   7 setup failed      8 invariant broken
 * A crash of the process itself (an ASSERT in the node) ends it by signal:
 * status 128 + signal in a shell, after a signal handler printed the seed,
 * its knobs and the replay command.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/assert.h"
#include "node/config.h"
#include "node_adapter.h"
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
    unsigned nodes_fixed;
    unsigned clients_fixed;
    const char *bug;
    int quiet;
    bool standin;
    bool seconds_set;
    bool node_log;
    bool keep_going;
    bool until_safety;
    bool transfer_only;
    bool no_self_add;
    bool no_alloc_faults;
};

static int usage(void)
{
    fprintf(stderr,
            "usage: cairn-sim [--seed N] [--seeds K | --seeds A..B] [--nodes N]\n"
            "                 [--clients C] [--seconds S] [--liveness S]\n"
            "                 [--no-faults] [--trace FILE] [--replay-every N]\n"
            "                 [--budget STEPS] [--quiet] [--node-log]\n"
            "                 [--keep-going] [--until-safety] [--check-every-ms N]\n"
            "                 [--transfer-only] [--no-self-add] [--no-alloc-faults]\n"
            "                 [--alloc-faults]\n"
            "                 [--standin [--bug ack-before-fsync|no-replay]]\n");
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

/* "--seeds K" (K seeds from --seed) or "--seeds A..B" (inclusive). */
static int parse_seeds(const char *val, struct args *a)
{
    const char *dots = strstr(val, "..");
    uint64_t lo, hi;
    if (dots == NULL)
        return parse_u64(val, &a->seeds) == 0 && a->seeds > 0 ? 0 : -1;
    char first[32];
    size_t n = (size_t)(dots - val);
    if (n == 0 || n >= sizeof(first))
        return -1;
    memcpy(first, val, n);
    first[n] = '\0';
    if (parse_u64(first, &lo) != 0 || parse_u64(dots + 2, &hi) != 0 ||
        hi < lo)
        return -1;
    a->run.seed = lo;
    a->seeds = hi - lo + 1;
    return 0;
}

static int parse_opt(struct args *a, const char *opt, const char *val)
{
    uint64_t v = 0;
    if (strcmp(opt, "--bug") == 0)
        a->bug = val;
    else if (strcmp(opt, "--trace") == 0)
        a->run.trace_path = val;
    else if (strcmp(opt, "--seeds") == 0)
        return parse_seeds(val, a);
    else if (parse_u64(val, &v) != 0)
        return -1;
    else if (strcmp(opt, "--seed") == 0)
        a->run.seed = v;
    else if (strcmp(opt, "--nodes") == 0 && v > 0 && v <= 7)
        a->nodes_fixed = (unsigned)v;
    else if (strcmp(opt, "--clients") == 0 && v > 0 && v <= 16)
        a->clients_fixed = (unsigned)v;
    else if (strcmp(opt, "--seconds") == 0 && v > 0 && v <= 3600) {
        a->run.fault_us = v * 1000000;
        a->seconds_set = true;
    } else if (strcmp(opt, "--liveness") == 0 && v > 0 && v <= 3600)
        a->run.liveness_us = v * 1000000;
    else if (strcmp(opt, "--budget") == 0 && v > 0 && v <= 100000000)
        a->run.check_budget = v;
    else if (strcmp(opt, "--replay-every") == 0)
        a->replay_every = v;
    else if (strcmp(opt, "--check-every-ms") == 0 && v > 0 && v <= 1000)
        a->run.check_interval_us = v * 1000;
    else
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    sim_run_config_default(&a->run);
    a->run.fault_us = 4000000;
    a->run.liveness_us = 8000000;
    a->seeds = 1;
    a->replay_every = 4;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--no-faults") == 0)
            a->run.no_faults = true;
        else if (strcmp(opt, "--quiet") == 0)
            a->quiet = 1;
        else if (strcmp(opt, "--standin") == 0)
            a->standin = true;
        else if (strcmp(opt, "--node-log") == 0)
            a->node_log = true;
        else if (strcmp(opt, "--keep-going") == 0)
            a->keep_going = true;
        else if (strcmp(opt, "--until-safety") == 0)
            a->until_safety = true;
        else if (strcmp(opt, "--no-alloc-faults") == 0)
            a->no_alloc_faults = true;
        else if (strcmp(opt, "--transfer-only") == 0)
            a->transfer_only = a->no_self_add = true;
        else if (strcmp(opt, "--no-self-add") == 0)
            a->no_self_add = true;
        else if (val == NULL || parse_opt(a, opt, argv[++i]) != 0)
            return -1;
    }
    if (a->run.trace_path != NULL && a->seeds != 1)
        return -1; /* one trace file per run */
    if (a->bug != NULL && !a->standin)
        return -1;
    if (a->standin && !a->seconds_set)
        a->run.fault_us = 10000000;
    return 0;
}

/* ---- one seed ---- */

struct seed_run {
    struct sim_run_config cfg;
    struct sim_server_ops ops;
    struct sim_node_adapter *adapter;
    char knobs[512];
};

static void seed_setup(const struct args *a, uint64_t seed, struct seed_run *s)
{
    memset(s, 0, sizeof(*s));
    s->cfg = a->run;
    s->cfg.seed = seed;
    if (a->standin) {
        sim_standin_ops(&s->ops, a->bug);
        s->cfg.nodes = 1;
        s->cfg.clients = a->clients_fixed ? a->clients_fixed : 4;
        snprintf(s->knobs, sizeof(s->knobs), "standin%s%s clients=%u keys=%u",
                 a->bug ? " bug=" : "", a->bug ? a->bug : "",
                 s->cfg.clients, s->cfg.keys);
        return;
    }
    struct sim_node_knobs k;
    sim_node_knobs_draw(seed, a->nodes_fixed, &k);
    if (a->clients_fixed)
        k.clients = a->clients_fixed;
    /* No open node bug is quarantined (docs/design/sim.md, "bugs found"):
     * the flags below only narrow a replay. */
    s->cfg.admin_transfer_only = a->transfer_only;
    s->cfg.admin_no_self_add = a->no_self_add;
    s->cfg.nodes = k.nodes;
    s->cfg.ttl_pct = k.ttl_pct;
    s->cfg.read_pct = k.read_pct;
    s->cfg.fault_focus = k.fault_focus;
    s->cfg.admin_permille = k.admin_permille;
    s->cfg.alloc_fail_ppm = a->no_alloc_faults ? 0 : k.alloc_fail_ppm;
    s->cfg.clients = k.clients;
    s->cfg.keys = k.keys;
    sim_node_knobs_describe(&k, s->knobs, sizeof(s->knobs));
    s->adapter = sim_node_adapter_new(&k);
    sim_node_adapter_ops(s->adapter, &s->ops);
    sim_node_log_clear();
}

static void seed_done(struct seed_run *s)
{
    sim_node_adapter_free(s->adapter);
    s->adapter = NULL;
}

/* The command line that replays seed alone, writing a full trace. */
static void replay_command(const struct args *a, const char *argv0,
                           uint64_t seed, char *out, size_t len)
{
    int o = snprintf(out, len, "%s --seed %" PRIu64, argv0, seed);
    if (a->nodes_fixed)
        o += snprintf(out + o, len - (size_t)o, " --nodes %u", a->nodes_fixed);
    if (a->clients_fixed)
        o += snprintf(out + o, len - (size_t)o, " --clients %u",
                      a->clients_fixed);
    o += snprintf(out + o, len - (size_t)o,
                  " --seconds %" PRIu64 " --liveness %" PRIu64,
                  a->run.fault_us / 1000000, a->run.liveness_us / 1000000);
    if (a->run.no_faults)
        o += snprintf(out + o, len - (size_t)o, " --no-faults");
    if (a->no_alloc_faults)
        o += snprintf(out + o, len - (size_t)o, " --no-alloc-faults");
    if (a->transfer_only)
        o += snprintf(out + o, len - (size_t)o, " --transfer-only");
    else if (a->no_self_add)
        o += snprintf(out + o, len - (size_t)o, " --no-self-add");
    if (a->standin)
        o += snprintf(out + o, len - (size_t)o, " --standin%s%s",
                      a->bug ? " --bug " : "", a->bug ? a->bug : "");
    snprintf(out + o, len - (size_t)o, " --trace sim-trace-%" PRIu64 ".txt",
             seed);
}

static void print_result(const struct sim_run_result *r, uint64_t seed)
{
    printf("seed=%" PRIu64 " %s ops=%" PRIu64 " replied=%" PRIu64
           " unknown=%" PRIu64 " crashes=%" PRIu64 " enomem=%" PRIu64
           " events=%" PRIu64
           " sim=%.1fs real=%.3fs (%.0fx) hash=%016" PRIx64 "\n",
           seed, sim_run_outcome_name(r->outcome), r->ops, r->replied,
           r->unknown, r->crashes, r->alloc_failed, r->events, (double)r->sim_us / 1e6,
           r->real_s, r->real_s > 0 ? (double)r->sim_us / 1e6 / r->real_s : 0,
           r->trace_hash);
    if (r->other_errors > 0 || r->redirected > 0)
        printf("  %" PRIu64 " redirects/withdrawn, %" PRIu64
               " error replies left unknown%s%s\n",
               r->redirected, r->other_errors,
               r->first_error[0] ? ", first: " : "", r->first_error);
    if (r->last_redirect[0] != '\0')
        printf("  last redirect: %s\n", r->last_redirect);
    if (r->corruptions > 0 || r->wipes > 0)
        printf("  disks: %" PRIu64 " bit(s) flipped, %" PRIu64
               " wiped before a restart\n", r->corruptions, r->wipes);
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

static void print_checked(const struct seed_run *s)
{
    if (s->adapter == NULL)
        return;
    struct sim_node_check_stats cs;
    sim_node_adapter_stats(s->adapter, &cs);
    printf("  checked: %" PRIu64 " checks, %" PRIu64 " committed indexes, %"
           PRIu64 " digest matches, %" PRIu64 " leaders, max term %" PRIu64
           "\n",
           cs.checks, cs.committed_seen, cs.digests_compared, cs.leaders_seen,
           cs.max_term);
    if (cs.refusals > 0 || cs.rejoined > 0 || cs.still_rejoining > 0)
        printf("  disks: %" PRIu64 " start(s) refused on corrupt files, %"
               PRIu64 " wiped node(s) voters again, %" PRIu64
               " stop(s) in the middle of a rejoin, %" PRIu64
               " still rejoining at the end\n", cs.refusals,
               cs.rejoined, cs.rejoin_crashes, cs.still_rejoining);
}

static void report_failure(const struct args *a, const char *argv0,
                           const struct seed_run *s,
                           const struct sim_run_result *r, uint64_t done)
{
    char cmd[512];
    replay_command(a, argv0, s->cfg.seed, cmd, sizeof(cmd));
    print_result(r, s->cfg.seed);
    print_checked(s);
    printf("FAILED seed=%" PRIu64 ": %s\n  knobs: %s\n  faults: %s\n",
           s->cfg.seed, sim_run_outcome_name(r->outcome), s->knobs, r->swarm);
    if (r->outcome == SIM_RUN_INVARIANT)
        printf("  what broke: %s\n", r->invariant);
    else if (r->lin.explain[0] != '\0')
        printf("  what broke: %s\n", r->lin.explain);
    else if (r->outcome == SIM_RUN_LIVENESS)
        printf("  what broke: no definite reply in the liveness phase "
               "(faults stopped, network healed, every node up)\n");
    if (!a->standin)
        sim_node_log_dump(stdout);
    printf("  (last trace events: on stderr above)\n  replay: %s\n", cmd);
    printf("  failed after %" PRIu64 " seed(s)\n", done);
    fflush(stdout);
}

/* ---- a crash of the process names its seed ---- */

static char crash_note[640];
static size_t crash_note_len;

static void on_signal(int sig)
{
    if (crash_note_len > 0)
        (void)!write(2, crash_note, crash_note_len);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void crash_note_set(const struct args *a, const char *argv0,
                           const struct seed_run *s)
{
    char cmd[512];
    replay_command(a, argv0, s->cfg.seed, cmd, sizeof(cmd));
    int n = snprintf(crash_note, sizeof(crash_note),
                     "\ncairn-sim: process crashed during seed %" PRIu64
                     " [%s]\n  replay: %s\n",
                     s->cfg.seed, s->knobs, cmd);
    crash_note_len = n > 0 ? CAIRN_MIN((size_t)n, sizeof(crash_note) - 1) : 0;
}

static int run_seed(const struct args *a, const char *argv0, uint64_t seed,
                    uint64_t index, struct sim_run_result *r)
{
    struct seed_run s;
    seed_setup(a, seed, &s);
    crash_note_set(a, argv0, &s);
    if (!a->quiet)
        printf("seed=%" PRIu64 " knobs: %s\n", seed, s.knobs);
    fflush(stdout);
    sim_run(&s.cfg, &s.ops, r);
    if (!a->quiet)
        printf("  faults: %s\n", r->swarm);
    if (r->outcome != SIM_RUN_OK) {
        report_failure(a, argv0, &s, r, index + 1);
        seed_done(&s);
        return exit_code(r->outcome);
    }
    if (!a->quiet) {
        print_result(r, seed);
        print_checked(&s);
    }
    seed_done(&s);
    if (a->replay_every == 0 || index % a->replay_every != 0)
        return 0;
    struct sim_run_result again;
    seed_setup(a, seed, &s);
    s.cfg.trace_path = NULL;
    s.cfg.dump_on_failure = false;
    sim_run(&s.cfg, &s.ops, &again);
    seed_done(&s);
    if (again.trace_hash != r->trace_hash || again.outcome != r->outcome) {
        printf("seed=%" PRIu64 " NONDETERMINISTIC: %016" PRIx64 " (%s) then "
               "%016" PRIx64 " (%s)\n",
               seed, r->trace_hash, sim_run_outcome_name(r->outcome),
               again.trace_hash, sim_run_outcome_name(again.outcome));
        return EXIT_NONDETERMINISM;
    }
    return 0;
}

/* A simulated crash is process death: callbacks never fire.  Two owners
 * free memory only from callbacks, so a crash strands it: the transport's
 * dial context (on_peer_timer; io.h cannot cancel a connect) and a closed
 * storage with disk operations in flight (storage_close waits for their
 * completions).  Real processes lose both with their memory; LeakSanitizer
 * is told so. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:on_peer_timer\nleak:storage_open\n";
}

int main(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof(a));
    if (parse_args(argc, argv, &a) != 0)
        return usage();
    if (a.standin && a.nodes_fixed > 1) {
        fprintf(stderr, "cairn-sim: the stand-in runs on one node\n");
        return EXIT_USAGE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sim_node_log_install(a.node_log);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    double sim_s = 0, real_s = 0;
    uint64_t first = a.run.seed, failed = 0;
    uint64_t disk_seeds[2] = {0, 0}, disk_total[2] = {0, 0};
    int first_rc = 0;
    for (uint64_t i = 0; i < a.seeds; i++) {
        struct sim_run_result r;
        int rc = run_seed(&a, argv[0], first + i, i, &r);
        disk_seeds[0] += r.corruptions > 0;
        disk_seeds[1] += r.wipes > 0;
        disk_total[0] += r.corruptions;
        disk_total[1] += r.wipes;
        if (i + 1 == a.seeds && (disk_total[0] > 0 || disk_total[1] > 0))
            printf("disk faults: %" PRIu64 " seed(s) flipped %" PRIu64
                   " bit(s), %" PRIu64 " seed(s) wiped %" PRIu64
                   " disk(s)\n", disk_seeds[0], disk_total[0],
                   disk_seeds[1], disk_total[1]);
        sim_s += (double)r.sim_us / 1e6;
        real_s += r.real_s;
        bool safety = rc == EXIT_NOT_LINEARIZABLE || rc == EXIT_INVARIANT ||
                      rc == EXIT_NONDETERMINISM;
        if (rc != 0 && (!(a.keep_going || a.until_safety) ||
                        (a.until_safety && safety))) {
            if (a.until_safety)
                printf("DETECTED at seed %" PRIu64 " (%" PRIu64
                       " seed(s) run)\n", first + i, i + 1);
            return rc;
        }
        if (rc != 0) {
            failed++;
            first_rc = first_rc ? first_rc : rc;
            printf("FAILED-SEED %" PRIu64 " exit=%d\n", first + i, rc);
        }
    }
    if (failed > 0) {
        printf("%" PRIu64 " of %" PRIu64 " seed(s) failed%s\n", failed,
               a.seeds,
               a.until_safety ? " (liveness or inconclusive only: no "
                                "safety failure)"
                              : "");
        return a.until_safety ? 0 : first_rc;
    }
    printf("%" PRIu64 " seed(s) passed (seeds %" PRIu64 "..%" PRIu64
           "): %.0f simulated s in %.1f s of runs, %.0fx real time\n",
           a.seeds, first, first + a.seeds - 1, sim_s, real_s,
           real_s > 0 ? sim_s / real_s : 0);
    return 0;
}
