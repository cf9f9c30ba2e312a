/*
 * cluster_read.c: linearizable reads.
 *
 * A read-only command (CMD_READONLY) on a replicated node is served:
 *  - at once from local state when read-mode is `local` or the connection
 *    sent READONLY (stale by at most what this replica has not applied);
 *  - at once on the leader when its lease holds (raft RAFT_READ_LEASE,
 *    answered in the same step) and everything committed is applied; the
 *    answer is cached for the rest of the same millisecond and term;
 *  - otherwise it waits: all reads of one loop turn share one RAFT_EV_READ
 *    (ReadIndex on a follower or without lease: one heartbeat round; raft
 *    also batches concurrent requests into one round), and each is served
 *    once the applied index reaches the returned read index.
 *
 * Invariant: a waiting read is executed only after applied >= its read
 * index, which raft returned after confirming leadership (or the lease).
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "node/cluster_int.h"
#include "node/node_int.h"

static bool lease_fast(struct cluster *c)
{
    if (!cluster_is_leader(c) || !c->cfg->lease_reads)
        return false;
    if (c->applied_index < c->commit_index)
        return false;
    uint64_t now = cluster_now(c);
    if (c->lease_ok_ms == now && c->lease_ok_term == c->term)
        return true;
    c->lease_probe_id = ++c->next_read_id;
    c->lease_probe = false;
    struct raft_event ev = {.type = RAFT_EV_READ};
    ev.read.request_id = c->lease_probe_id;
    ev.read.mode = RAFT_READ_LEASE;
    int rc = cluster_step(c, &ev);
    c->lease_probe_id = 0;
    if (rc != 0 || !c->lease_probe)
        return false;
    c->lease_ok_ms = now;
    c->lease_ok_term = c->term;
    return true;
}

void cluster_read_submit(struct cluster *c, struct session *s, int argc,
                         const char *const *argv, const size_t *argv_len)
{
    if (c->cfg->read_mode == CONFIG_READ_LOCAL || s->readonly ||
        lease_fast(c)) {
        node_execute_read(c->node, s, s->db, argc, argv, argv_len, &s->w);
        return;
    }
    struct cluster_op *op = cluster_op_new(c, s, OP_READ);
    if (op == NULL || cluster_op_set_cmd(op, argc, argv, argv_len) != 0) {
        if (op == NULL) {
            resp_reply_error(&s->w, "OOM out of memory");
            return;
        }
        cluster_op_fail(c, op, "OOM out of memory");
        return;
    }
    if (c->raft == NULL || c->leader_id == 0) {
        cluster_list_push(&c->waiting, op); /* until a leader is known */
        return;
    }
    cluster_list_push(&c->reads_new, op);
    cluster_flush_arm(c);
}

void cluster_read_flush(struct cluster *c)
{
    if (c->reads_new.head == NULL)
        return;
    uint64_t id = ++c->next_read_id;
    struct cluster_op *op;
    while ((op = cluster_list_pop(&c->reads_new)) != NULL) {
        op->read_id = id;
        cluster_list_push(&c->reads, op);
    }
    struct raft_event ev = {.type = RAFT_EV_READ};
    ev.read.request_id = id;
    ev.read.mode = cluster_is_leader(c) && c->cfg->lease_reads
                       ? RAFT_READ_LEASE
                       : RAFT_READ_INDEX;
    int rc = cluster_step(c, &ev);
    if (rc == 0)
        return;
    struct raft_read_state rs = {.request_id = id, .status = rc};
    cluster_read_answer(c, &rs);
}

void cluster_read_answer(struct cluster *c, const struct raft_read_state *rs)
{
    struct cluster_op *next;
    for (struct cluster_op *op = c->reads.head; op != NULL; op = next) {
        next = op->next;
        if (op->read_id != rs->request_id)
            continue;
        if (rs->status == 0) {
            op->read_index = rs->index;
            op->has_index = true;
            continue;
        }
        cluster_list_remove(&c->reads, op);
        if (cluster_now(c) < op->deadline_ms &&
            rs->status != CAIRN_ESHUTDOWN) {
            /* Reads are safe to retry: ask again once a leader answers
             * (from the tick), until the op's deadline. */
            cluster_list_push(&c->waiting, op);
            continue;
        }
        cluster_op_fail(c, op, c->leader_id == 0
                                   ? CLUSTER_ERR_DOWN
                                   : "TRYAGAIN the read could not be "
                                     "confirmed by the leader");
    }
}

static void serve_one(struct cluster *c, struct cluster_op *op)
{
    if (op->s == NULL) {
        cluster_op_release(op); /* the client left */
        return;
    }
    buf_clear(&op->reply);
    struct resp_writer w;
    resp_writer_init(&w, &op->reply, op->proto == 3 ? 3 : 2);
    int argc = cluster_cmd_decode(c, (const uint8_t *)op->cmd.data,
                                  op->cmd.len);
    if (argc <= 0) {
        /* Encoded by us, so only growing the argument table can fail (sim
         * seeds 3979, 8751 with allocation faults).  A read changes
         * nothing: failing it is safe. */
        cluster_op_fail(c, op, "OOM out of memory");
        return;
    }
    node_execute_read(c->node, op->s, op->db, argc, c->argv, c->argv_len, &w);
    cluster_op_finish(c, op);
}

void cluster_read_serve(struct cluster *c)
{
    /* Bounded by the reads waiting; reads are in request order, indexes
     * need not be, so the whole list is scanned. */
    struct cluster_op *next;
    for (struct cluster_op *op = c->reads.head; op != NULL; op = next) {
        next = op->next;
        if (!op->has_index || op->read_index > c->applied_index)
            continue;
        cluster_list_remove(&c->reads, op);
        serve_one(c, op); /* writes replies only: the list is unchanged */
    }
}
