/*
 * linearizability.h: a linearizability checker for key-value histories.
 *
 * The history is what clients saw: each operation's call time, return time
 * and result.  The checker decides whether some total order of the
 * operations, consistent with real time (an operation that returned before
 * another was called comes first) and with a single-copy Redis string
 * store, explains every result.  Keys are independent (Herlihy & Wing's
 * locality), so each key's sub-history is checked alone.
 *
 * Search: Wing & Gong's backtracking with Lowe's memo, as Porcupine does:
 * call and return entries in a linked list sorted by time; linearize a
 * pending call when the model accepts it, backtrack at a return whose call
 * is not linearized yet; skip any (set of linearized operations, state)
 * pair seen before.  Iterative (an explicit stack), and bounded: each key
 * gets step_budget search steps; when they run out the verdict is
 * INCONCLUSIVE, which callers must never count as a pass.
 *
 * Unknown outcomes: an operation whose client timed out or lost its
 * connection (result LIN_RES_UNKNOWN) may have taken effect at any point
 * after its call, or never.  It has no return entry; "never" is the same as
 * "after everything else".  Unknown GETs constrain nothing and are dropped.
 * Operations that failed without effect (a redirect, "not leader" before
 * proposing) must not be recorded at all.
 *
 * Redis semantics modelled: GET (bulk or nil), SET (+OK), DEL of one key
 * (integer 0/1), INCR (integer, or an error when the value is not a
 * canonical int64 or would overflow; a missing key counts as 0), APPEND
 * (integer: the new length), SET NX (+OK or nil; SETNX's 1/0 also accepted),
 * GETSET (the old value or nil).  Error results match any error message.
 */
#ifndef CAIRN_SIM_LINEARIZABILITY_H
#define CAIRN_SIM_LINEARIZABILITY_H

#include <stddef.h>
#include <stdint.h>

enum lin_op_kind {
    LIN_GET,
    LIN_SET,
    LIN_DEL,
    LIN_INCR,
    LIN_APPEND,
    LIN_SETNX,
    LIN_GETSET,
};

enum lin_result_kind {
    LIN_RES_UNKNOWN = 0, /* the client never learnt the outcome */
    LIN_RES_OK,
    LIN_RES_NIL,
    LIN_RES_INT,
    LIN_RES_BULK,
    LIN_RES_ERR,
};

/* One operation.  Borrowed pointers must stay valid during lin_check(). */
struct lin_op {
    enum lin_op_kind kind;
    const void *key;
    size_t key_len;
    const void *arg; /* SET, APPEND, SETNX, GETSET value */
    size_t arg_len;
    uint64_t call_us;
    uint64_t return_us; /* ignored for LIN_RES_UNKNOWN */
    enum lin_result_kind res;
    int64_t res_int;         /* LIN_RES_INT */
    const void *res_bytes;   /* LIN_RES_BULK */
    size_t res_len;
    uint32_t client;         /* for explanations only */
};

enum lin_verdict {
    LIN_LINEARIZABLE,
    LIN_NOT_LINEARIZABLE,
    LIN_INCONCLUSIVE,
};

const char *lin_verdict_name(enum lin_verdict v);

struct lin_report {
    enum lin_verdict verdict;
    size_t keys_checked;
    size_t keys_inconclusive;
    uint64_t steps;        /* search steps over all keys */
    size_t op_index;       /* NOT_LINEARIZABLE: the op that cannot be placed */
    char key[64];          /* the key at fault (printable, truncated) */
    char explain[1024];    /* one paragraph a human can act on */
};

/*
 * Checks ops[0..n).  step_budget: search steps allowed per key (at most
 * LIN_STEP_BUDGET_MAX).  Returns 0 with *out filled, or CAIRN_EINVAL for a
 * malformed history (return before call, unknown kind, a result kind that
 * cannot answer that command), CAIRN_ETOOBIG past LIN_OPS_MAX operations or
 * when a key's values could outgrow LIN_VALUE_LEN_MAX.
 */
int lin_check(const struct lin_op *ops, size_t n, uint64_t step_budget,
              struct lin_report *out);

#endif
