/*
 * history.h: the record of what simulated clients saw, for the
 * linearizability checker.
 *
 * A client records an operation when it sends it (sim_history_call, at the
 * world's time) and its result when the reply arrives (sim_history_return).
 * An operation whose outcome the client never learnt (timeout, broken
 * connection, the run ended) stays pending and is checked as "unknown": it
 * may have taken effect or not.  An operation that certainly had no effect
 * (the request was never sent, a redirect) is withdrawn with
 * sim_history_forget.  Keys, arguments and results are copied.
 *
 * Bounded: at most ops_max operations (<= LIN_OPS_MAX); past it calls fail
 * with CAIRN_EFULL and the workload should stop issuing operations.
 */
#ifndef CAIRN_SIM_HISTORY_H
#define CAIRN_SIM_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linearizability.h"

struct sim_history;

struct sim_history *sim_history_new(size_t ops_max);
void sim_history_free(struct sim_history *h);

/* Records a call.  Returns 0 and the op's id, CAIRN_EFULL, or CAIRN_ETOOBIG
 * for a key or argument longer than LIN_VALUE_LEN_MAX. */
int sim_history_call(struct sim_history *h, uint32_t client,
                     enum lin_op_kind kind, const void *key, size_t key_len,
                     const void *arg, size_t arg_len, uint64_t now_us,
                     size_t *id);
/* Records the reply to op id (pending until now).  i is used for
 * LIN_RES_INT, bytes/len for LIN_RES_BULK. */
void sim_history_return(struct sim_history *h, size_t id, uint64_t now_us,
                        enum lin_result_kind res, int64_t i,
                        const void *bytes, size_t len);
/* Withdraws op id: it certainly had no effect. */
void sim_history_forget(struct sim_history *h, size_t id);

/* Operations recorded (including pending and forgotten ones). */
size_t sim_history_len(const struct sim_history *h);
/* Operations still pending (unknown outcome). */
size_t sim_history_pending(const struct sim_history *h);
/* Op id as the checker will see it (pointers valid until the next call
 * into h).  Returns false for a forgotten op. */
bool sim_history_get(const struct sim_history *h, size_t id,
                     struct lin_op *out);

/* Runs lin_check over the recorded operations; report.op_index is the op
 * id.  Returns lin_check's code. */
int sim_history_check(const struct sim_history *h, uint64_t step_budget,
                      struct lin_report *out);

#endif
