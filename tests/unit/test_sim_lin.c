/* test_sim_lin.c: the linearizability checker against hand-written histories
 * with known verdicts, plus a model-based property: histories produced by a
 * real sequential execution (with intervals stretched around each
 * operation's instant) always pass, and one corrupted read makes them fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/rng.h"
#include "linearizability.h"
#include "testlib.h"

#define BUDGET 1000000

static struct lin_op base(enum lin_op_kind kind, const char *key,
                          uint64_t call, uint64_t ret)
{
    struct lin_op op;
    memset(&op, 0, sizeof(op));
    op.kind = kind;
    op.key = key;
    op.key_len = strlen(key);
    op.call_us = call;
    op.return_us = ret;
    return op;
}

static struct lin_op set(const char *k, const char *v, uint64_t c, uint64_t r)
{
    struct lin_op op = base(LIN_SET, k, c, r);
    op.arg = v;
    op.arg_len = strlen(v);
    op.res = LIN_RES_OK;
    return op;
}

/* v == NULL: the read returned nil. */
static struct lin_op get(const char *k, const char *v, uint64_t c, uint64_t r)
{
    struct lin_op op = base(LIN_GET, k, c, r);
    op.res = v != NULL ? LIN_RES_BULK : LIN_RES_NIL;
    op.res_bytes = v;
    op.res_len = v != NULL ? strlen(v) : 0;
    return op;
}

static struct lin_op with_int(struct lin_op op, int64_t v)
{
    op.res = LIN_RES_INT;
    op.res_int = v;
    return op;
}

static struct lin_op incr(const char *k, int64_t v, uint64_t c, uint64_t r)
{
    return with_int(base(LIN_INCR, k, c, r), v);
}

static struct lin_op incr_err(const char *k, uint64_t c, uint64_t r)
{
    struct lin_op op = base(LIN_INCR, k, c, r);
    op.res = LIN_RES_ERR;
    return op;
}

static struct lin_op with_arg(struct lin_op op, const char *v)
{
    op.arg = v;
    op.arg_len = strlen(v);
    return op;
}

static struct lin_op unknown(struct lin_op op)
{
    op.res = LIN_RES_UNKNOWN;
    op.return_us = 0;
    return op;
}

static enum lin_verdict verdict_of(const struct lin_op *ops, size_t n,
                                   uint64_t budget, struct lin_report *rep)
{
    struct lin_report local;
    if (rep == NULL)
        rep = &local;
    assert_int_equal(lin_check(ops, n, budget, rep), 0);
    return rep->verdict;
}

#define CHECK(ops, want)                                                      \
    do {                                                                      \
        struct lin_report rep_;                                               \
        enum lin_verdict got_ = verdict_of(ops, ARRAY_LEN(ops), BUDGET, &rep_); \
        if (got_ != (want))                                                   \
            fail_msg("verdict %s, want %s: %s", lin_verdict_name(got_),       \
                     lin_verdict_name(want), rep_.explain);                   \
    } while (0)

#ifndef ARRAY_LEN
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#endif

static void sequential_history_passes(void **state)
{
    (void)state;
    struct lin_op ops[] = {
        get("x", NULL, 0, 1),
        set("x", "1", 2, 3),
        get("x", "1", 4, 5),
        with_int(base(LIN_DEL, "x", 6, 7), 1),
        with_int(base(LIN_DEL, "x", 8, 9), 0),
        get("x", NULL, 10, 11),
    };
    CHECK(ops, LIN_LINEARIZABLE);
}

static void stale_read_after_completed_write_fails(void **state)
{
    (void)state;
    struct lin_op ops[] = {
        set("x", "1", 0, 10),
        set("x", "2", 20, 30),
        get("x", "1", 40, 50),
    };
    struct lin_report rep;
    assert_int_equal(verdict_of(ops, 3, BUDGET, &rep), LIN_NOT_LINEARIZABLE);
    assert_string_equal(rep.key, "x");
    assert_int_equal(rep.op_index, 2);
    assert_non_null(strstr(rep.explain, "GET"));
}

static void lost_update_fails(void **state)
{
    (void)state;
    /* Two overlapping INCRs that both saw 0. */
    struct lin_op ops[] = {
        incr("c", 1, 0, 10),
        incr("c", 1, 5, 15),
    };
    CHECK(ops, LIN_NOT_LINEARIZABLE);
    /* The same pair answering 1 and 2 (in either order) is fine. */
    struct lin_op ok[] = {
        incr("c", 2, 0, 10),
        incr("c", 1, 5, 15),
        get("c", "2", 20, 30),
    };
    CHECK(ok, LIN_LINEARIZABLE);
}

static void concurrent_writes_then_read_either_value(void **state)
{
    (void)state;
    struct lin_op a[] = {set("x", "a", 0, 10), set("x", "b", 0, 10),
                         get("x", "a", 20, 30)};
    CHECK(a, LIN_LINEARIZABLE);
    struct lin_op b[] = {set("x", "a", 0, 10), set("x", "b", 0, 10),
                         get("x", "b", 20, 30)};
    CHECK(b, LIN_LINEARIZABLE);
    struct lin_op c[] = {set("x", "a", 0, 10), set("x", "b", 0, 10),
                         get("x", "c", 20, 30)};
    CHECK(c, LIN_NOT_LINEARIZABLE);
    /* Reads after both writes must agree on the last one. */
    struct lin_op d[] = {set("x", "a", 0, 10), set("x", "b", 0, 10),
                         get("x", "a", 20, 30), get("x", "b", 40, 50)};
    CHECK(d, LIN_NOT_LINEARIZABLE);
    /* A read concurrent with the writes may see the first, a later read the
     * second. */
    struct lin_op e[] = {set("x", "a", 0, 10), set("x", "b", 0, 30),
                         get("x", "a", 5, 15), get("x", "b", 40, 50)};
    CHECK(e, LIN_LINEARIZABLE);
}

static void unknown_outcome_write_may_appear_or_not(void **state)
{
    (void)state;
    struct lin_op seen[] = {unknown(set("x", "1", 0, 0)),
                            get("x", "1", 100, 110)};
    CHECK(seen, LIN_LINEARIZABLE);
    struct lin_op never[] = {unknown(set("x", "1", 0, 0)),
                             get("x", NULL, 100, 110)};
    CHECK(never, LIN_LINEARIZABLE);
    /* Once seen, it cannot un-happen. */
    struct lin_op flicker[] = {unknown(set("x", "1", 0, 0)),
                               get("x", "1", 100, 110),
                               get("x", NULL, 200, 210)};
    CHECK(flicker, LIN_NOT_LINEARIZABLE);
    /* It cannot take effect before it was called. */
    struct lin_op early[] = {get("x", "1", 0, 10),
                             unknown(set("x", "1", 20, 0))};
    CHECK(early, LIN_NOT_LINEARIZABLE);
    /* An unknown INCR explains a jump by one, not by two. */
    struct lin_op jump1[] = {incr("n", 1, 0, 5), unknown(incr("n", 0, 6, 0)),
                             incr("n", 3, 50, 60)};
    CHECK(jump1, LIN_LINEARIZABLE);
    struct lin_op jump2[] = {incr("n", 1, 0, 5), unknown(incr("n", 0, 6, 0)),
                             incr("n", 4, 50, 60)};
    CHECK(jump2, LIN_NOT_LINEARIZABLE);
}

static void incr_sequences_follow_redis(void **state)
{
    (void)state;
    struct lin_op seq[] = {incr("n", 1, 0, 1), incr("n", 2, 2, 3),
                           incr("n", 3, 4, 5), get("n", "3", 6, 7)};
    CHECK(seq, LIN_LINEARIZABLE);
    struct lin_op gap[] = {incr("n", 1, 0, 1), incr("n", 3, 2, 3)};
    CHECK(gap, LIN_NOT_LINEARIZABLE);
    struct lin_op nonint[] = {set("n", "abc", 0, 1), incr_err("n", 2, 3),
                              get("n", "abc", 4, 5)};
    CHECK(nonint, LIN_LINEARIZABLE);
    struct lin_op nonint_ok[] = {set("n", "abc", 0, 1), incr("n", 1, 2, 3)};
    CHECK(nonint_ok, LIN_NOT_LINEARIZABLE);
    struct lin_op lead0[] = {set("n", "01", 0, 1), incr_err("n", 2, 3)};
    CHECK(lead0, LIN_LINEARIZABLE);
    struct lin_op max[] = {set("n", "9223372036854775807", 0, 1),
                           incr_err("n", 2, 3)};
    CHECK(max, LIN_LINEARIZABLE);
    struct lin_op neg[] = {set("n", "-2", 0, 1), incr("n", -1, 2, 3),
                           incr("n", 0, 4, 5), get("n", "0", 6, 7)};
    CHECK(neg, LIN_LINEARIZABLE);
    /* An error where the model answers an integer is a mismatch. */
    struct lin_op err[] = {incr_err("n", 0, 1)};
    CHECK(err, LIN_NOT_LINEARIZABLE);
}

static void append_setnx_getset(void **state)
{
    (void)state;
    struct lin_op app[] = {
        with_int(with_arg(base(LIN_APPEND, "s", 0, 1), "ab"), 2),
        with_int(with_arg(base(LIN_APPEND, "s", 2, 3), "c"), 3),
        get("s", "abc", 4, 5)};
    CHECK(app, LIN_LINEARIZABLE);
    struct lin_op app_bad[] = {
        with_int(with_arg(base(LIN_APPEND, "s", 0, 1), "ab"), 2),
        with_int(with_arg(base(LIN_APPEND, "s", 2, 3), "c"), 3),
        get("s", "cab", 4, 5)};
    CHECK(app_bad, LIN_NOT_LINEARIZABLE);

    struct lin_op nx1 = with_arg(base(LIN_SETNX, "l", 0, 10), "A");
    struct lin_op nx2 = with_arg(base(LIN_SETNX, "l", 0, 10), "B");
    nx1.res = nx2.res = LIN_RES_OK;
    struct lin_op both[] = {nx1, nx2};
    CHECK(both, LIN_NOT_LINEARIZABLE);
    nx2.res = LIN_RES_NIL;
    struct lin_op one[] = {nx1, nx2, get("l", "A", 20, 30)};
    CHECK(one, LIN_LINEARIZABLE);
    struct lin_op wrong_winner[] = {nx1, nx2, get("l", "B", 20, 30)};
    CHECK(wrong_winner, LIN_NOT_LINEARIZABLE);
    struct lin_op int_form[] = {with_int(with_arg(base(LIN_SETNX, "m", 0, 1), "v"), 1),
                                with_int(with_arg(base(LIN_SETNX, "m", 2, 3), "w"), 0),
                                get("m", "v", 4, 5)};
    CHECK(int_form, LIN_LINEARIZABLE);

    struct lin_op gs1 = with_arg(base(LIN_GETSET, "g", 0, 1), "new");
    gs1.res = LIN_RES_NIL;
    struct lin_op gs2 = with_arg(base(LIN_GETSET, "g", 2, 3), "newer");
    gs2.res = LIN_RES_BULK;
    gs2.res_bytes = "new";
    gs2.res_len = 3;
    struct lin_op gs[] = {gs1, gs2, get("g", "newer", 4, 5)};
    CHECK(gs, LIN_LINEARIZABLE);
    gs2.res_bytes = "old";
    struct lin_op gs_bad[] = {gs1, gs2};
    CHECK(gs_bad, LIN_NOT_LINEARIZABLE);
}

static void keys_are_checked_independently(void **state)
{
    (void)state;
    struct lin_op ops[] = {
        set("a", "1", 0, 10), get("a", "1", 20, 30),
        set("b", "1", 0, 10), set("b", "2", 20, 30), get("b", "1", 40, 50),
        set("c", "z", 0, 10),
    };
    struct lin_report rep;
    assert_int_equal(verdict_of(ops, ARRAY_LEN(ops), BUDGET, &rep),
                     LIN_NOT_LINEARIZABLE);
    assert_string_equal(rep.key, "b");
    assert_int_equal(rep.op_index, 4);
}

static void touching_intervals_count_as_concurrent(void **state)
{
    (void)state;
    /* The read is called the instant the write returns: either order. */
    struct lin_op ops[] = {set("x", "1", 0, 10), get("x", NULL, 10, 20)};
    CHECK(ops, LIN_LINEARIZABLE);
    struct lin_op later[] = {set("x", "1", 0, 10), get("x", NULL, 11, 20)};
    CHECK(later, LIN_NOT_LINEARIZABLE);
}

static void big_history_runs_out_of_budget(void **state)
{
    (void)state;
    /* 24 overlapping writes and a read of a value none wrote: proving it
     * wrong means trying every subset, far beyond a small budget. */
    enum { N = 24 };
    struct lin_op ops[N + 1];
    char vals[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof(vals[i]), "v%d", i);
        ops[i] = set("x", vals[i], 0, 100);
    }
    ops[N] = get("x", "nobody", 50, 60);
    struct lin_report rep;
    assert_int_equal(verdict_of(ops, N + 1, 20000, &rep), LIN_INCONCLUSIVE);
    assert_int_equal(rep.keys_inconclusive, 1);
    assert_string_equal(rep.key, "x");
    assert_true(rep.steps >= 20000);
    /* Inconclusive keys do not hide a violation found on another key. */
    struct lin_op mixed[N + 4];
    memcpy(mixed, ops, sizeof(ops));
    mixed[N + 1] = set("y", "1", 0, 10);
    mixed[N + 2] = set("y", "2", 20, 30);
    mixed[N + 3] = get("y", "1", 40, 50);
    assert_int_equal(verdict_of(mixed, N + 4, 20000, &rep),
                     LIN_NOT_LINEARIZABLE);
    assert_string_equal(rep.key, "y");
}

static void malformed_histories_are_rejected(void **state)
{
    (void)state;
    struct lin_report rep;
    struct lin_op backwards[] = {set("x", "1", 10, 5)};
    assert_int_equal(lin_check(backwards, 1, BUDGET, &rep), CAIRN_EINVAL);
    struct lin_op wrong_kind[] = {get("x", NULL, 0, 1)};
    wrong_kind[0].res = LIN_RES_OK;
    assert_int_equal(lin_check(wrong_kind, 1, BUDGET, &rep), CAIRN_EINVAL);
    static char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    struct lin_op huge[] = {set("x", big, 0, 1)};
    assert_int_equal(lin_check(huge, 1, BUDGET, &rep), CAIRN_ETOOBIG);
    assert_int_equal(lin_check(NULL, 0, BUDGET, &rep), 0);
    assert_int_equal(rep.verdict, LIN_LINEARIZABLE);
}

/* ---- model-based property ---- */

struct ref {
    bool present;
    char v[64];
};

/* Runs one random op on the reference model; fills op's result. */
static void ref_apply(struct cairn_rng *rng, struct ref *r, struct lin_op *op,
                      char *arg, char *res)
{
    unsigned pick = (unsigned)cairn_rng_below(rng, 5);
    snprintf(arg, 8, "%u", (unsigned)cairn_rng_below(rng, 4));
    if (pick == 0) {
        op->kind = LIN_GET;
        op->res = r->present ? LIN_RES_BULK : LIN_RES_NIL;
        strcpy(res, r->v);
        op->res_bytes = res;
        op->res_len = r->present ? strlen(res) : 0;
    } else if (pick == 1) {
        op->kind = LIN_SET;
        op->arg = arg;
        op->arg_len = strlen(arg);
        op->res = LIN_RES_OK;
        r->present = true;
        strcpy(r->v, arg);
    } else if (pick == 2) {
        op->kind = LIN_DEL;
        op->res = LIN_RES_INT;
        op->res_int = r->present;
        r->present = false;
        r->v[0] = '\0';
    } else {
        /* values are small integers, so INCR always succeeds */
        op->kind = LIN_INCR;
        long v = r->present ? atol(r->v) + 1 : 1;
        op->res = LIN_RES_INT;
        op->res_int = v;
        r->present = true;
        snprintf(r->v, sizeof(r->v), "%ld", v);
    }
}

static void real_executions_pass_and_a_corrupted_read_fails(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, test_seed(7));
    enum { N = 300, KEYS = 3 };
    static struct lin_op ops[N];
    static char args[N][8], results[N][64];
    static const char *keys[KEYS] = {"k0", "k1", "k2"};
    for (int round = 0; round < 5; round++) {
        struct ref refs[KEYS];
        memset(refs, 0, sizeof(refs));
        int last_get = -1;
        for (int i = 0; i < N; i++) {
            /* Instant 100*i; the interval stretches up to 250 either way,
             * so neighbours overlap. */
            unsigned k = (unsigned)cairn_rng_below(&rng, KEYS);
            ops[i] = base(LIN_GET, keys[k], 0, 0);
            uint64_t t = 1000 + 100 * (uint64_t)i;
            ops[i].call_us = t - cairn_rng_below(&rng, 250);
            ops[i].return_us = t + cairn_rng_below(&rng, 250);
            ref_apply(&rng, &refs[k], &ops[i], args[i], results[i]);
            if (ops[i].kind == LIN_GET && ops[i].res == LIN_RES_BULK)
                last_get = i;
            if (cairn_rng_chance(&rng, 1, 20) && ops[i].kind != LIN_GET)
                ops[i] = unknown(ops[i]);
        }
        struct lin_report rep;
        enum lin_verdict v = verdict_of(ops, N, BUDGET, &rep);
        if (v != LIN_LINEARIZABLE)
            fail_msg("round %d: %s: %s", round, lin_verdict_name(v), rep.explain);
        if (last_get < 0)
            continue;
        ops[last_get].res_bytes = "never-written";
        ops[last_get].res_len = strlen("never-written");
        assert_int_equal(verdict_of(ops, N, BUDGET, &rep),
                         LIN_NOT_LINEARIZABLE);
    }
}

/* ---- brute force reference ---- */

/* An independent model of one key for the reference checker. */
struct bstate {
    bool present;
    char v[96];
};

static bool bf_step(const struct lin_op *op, struct bstate *st)
{
    bool any = op->res == LIN_RES_UNKNOWN;
    char arg[64] = "";
    if (op->arg != NULL)
        snprintf(arg, sizeof(arg), "%.*s", (int)op->arg_len, (const char *)op->arg);
    switch (op->kind) {
    case LIN_GET:
        if (!st->present)
            return any || op->res == LIN_RES_NIL;
        return any || (op->res == LIN_RES_BULK && op->res_len == strlen(st->v) &&
                       memcmp(op->res_bytes, st->v, op->res_len) == 0);
    case LIN_SET:
        st->present = true;
        strcpy(st->v, arg);
        return any || op->res == LIN_RES_OK;
    case LIN_DEL: {
        bool was = st->present;
        st->present = false;
        return any || (op->res == LIN_RES_INT && op->res_int == was);
    }
    case LIN_INCR: {
        char *end;
        long v = st->present ? strtol(st->v, &end, 10) : 0;
        if (st->present && (*end != '\0' || st->v[0] == '\0'))
            return any || op->res == LIN_RES_ERR;
        st->present = true;
        snprintf(st->v, sizeof(st->v), "%ld", v + 1);
        return any || (op->res == LIN_RES_INT && op->res_int == v + 1);
    }
    case LIN_APPEND:
        if (!st->present)
            st->v[0] = '\0';
        st->present = true;
        strcat(st->v, arg);
        return any || (op->res == LIN_RES_INT && op->res_int == (int64_t)strlen(st->v));
    default:
        return false;
    }
}

/* Tries every order of every subset (all known ops, any unknown ones). */
static bool bf_search(const struct lin_op *ops, int n, unsigned used,
                      unsigned known_mask, struct bstate st)
{
    if ((used & known_mask) == known_mask)
        return true;
    for (int i = 0; i < n; i++) {
        if (used & (1u << i))
            continue;
        /* real time: nothing still unplaced returned before i was called */
        bool ok = true;
        for (int j = 0; j < n && ok; j++)
            if (j != i && !(used & (1u << j)) && ops[j].res != LIN_RES_UNKNOWN &&
                ops[j].return_us < ops[i].call_us)
                ok = false;
        struct bstate next = st;
        if (ok && bf_step(&ops[i], &next) &&
            bf_search(ops, n, used | (1u << i), known_mask, next))
            return true;
    }
    return false;
}

static void pruned_search_agrees_with_brute_force(void **state)
{
    (void)state;
    struct cairn_rng rng;
    cairn_rng_seed(&rng, test_seed(99));
    static const char *vals[] = {"1", "a", "7", "b"};
    int agree_lin = 0, agree_not = 0;
    for (int round = 0; round < 600; round++) {
        enum { N = 7 };
        struct lin_op ops[N];
        char res[N][96];
        struct bstate st = {0};
        int n = 2 + (int)cairn_rng_below(&rng, N - 1);
        for (int i = 0; i < n; i++) {
            struct lin_op *op = &ops[i];
            *op = base((enum lin_op_kind)cairn_rng_below(&rng, 5), "k", 0, 0);
            if (op->kind == LIN_SET || op->kind == LIN_APPEND) {
                op->arg = vals[cairn_rng_below(&rng, 4)];
                op->arg_len = 1;
            }
            /* results from a sequential run, then sometimes perturbed */
            bool present = st.present;
            char before[96];
            strcpy(before, st.v);
            op->res = LIN_RES_UNKNOWN;
            bf_step(op, &st);
            if (op->kind == LIN_GET) {
                op->res = present ? LIN_RES_BULK : LIN_RES_NIL;
                strcpy(res[i], before);
                op->res_bytes = res[i];
                op->res_len = present ? strlen(before) : 0;
            } else if (op->kind == LIN_SET) {
                op->res = LIN_RES_OK;
            } else if (op->kind == LIN_DEL) {
                op->res = LIN_RES_INT;
                op->res_int = present;
            } else if (op->kind == LIN_INCR) {
                char *end;
                long v = present ? strtol(before, &end, 10) : 0;
                bool bad = present && (*end != '\0' || before[0] == '\0');
                op->res = bad ? LIN_RES_ERR : LIN_RES_INT;
                op->res_int = v + 1;
            } else {
                op->res = LIN_RES_INT;
                op->res_int = (int64_t)strlen(st.v);
            }
            if (cairn_rng_chance(&rng, 1, 8) && op->res == LIN_RES_INT)
                op->res_int++;
            if (cairn_rng_chance(&rng, 1, 4) && op->kind != LIN_GET)
                op->res = LIN_RES_UNKNOWN;
            uint64_t t = 100 * (uint64_t)i;
            op->call_us = t - cairn_rng_below(&rng, 2) * 100 + 100;
            op->return_us = t + 100 + cairn_rng_below(&rng, 3) * 100;
        }
        /* shuffle the array order: the checker must not care */
        for (int i = n - 1; i > 0; i--) {
            int j = (int)cairn_rng_below(&rng, (uint64_t)i + 1);
            struct lin_op tmp = ops[i];
            ops[i] = ops[j];
            ops[j] = tmp;
        }
        unsigned known = 0;
        for (int i = 0; i < n; i++)
            if (ops[i].res != LIN_RES_UNKNOWN)
                known |= 1u << i;
        struct bstate empty = {0};
        bool want = bf_search(ops, n, 0, known, empty);
        struct lin_report rep;
        assert_int_equal(lin_check(ops, (size_t)n, BUDGET, &rep), 0);
        if (want != (rep.verdict == LIN_LINEARIZABLE))
            fail_msg("round %d: brute force says %d, checker %s: %s", round,
                     want, lin_verdict_name(rep.verdict), rep.explain);
        agree_lin += want;
        agree_not += !want;
    }
    /* both verdicts were exercised */
    assert_true(agree_lin > 50);
    assert_true(agree_not > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sequential_history_passes),
        cmocka_unit_test(stale_read_after_completed_write_fails),
        cmocka_unit_test(lost_update_fails),
        cmocka_unit_test(concurrent_writes_then_read_either_value),
        cmocka_unit_test(unknown_outcome_write_may_appear_or_not),
        cmocka_unit_test(incr_sequences_follow_redis),
        cmocka_unit_test(append_setnx_getset),
        cmocka_unit_test(keys_are_checked_independently),
        cmocka_unit_test(touching_intervals_count_as_concurrent),
        cmocka_unit_test(big_history_runs_out_of_budget),
        cmocka_unit_test(malformed_histories_are_rejected),
        cmocka_unit_test(real_executions_pass_and_a_corrupted_read_fails),
        cmocka_unit_test(pruned_search_agrees_with_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
