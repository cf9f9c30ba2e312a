/*
 * cluster_forward.c: a follower forwards writes to the leader and relays
 * the replies.
 *
 * Frames (after the 9-byte header):
 *   FWD      u32 count, count x (u64 req_id | u8 db | u8 proto | u32 len |
 *            len bytes of the encoded command)
 *   FWD_RESP u32 count, count x (u64 req_id | u32 len | len reply bytes)
 * Records of one loop turn share one frame per peer (flushed by the flush
 * timer), at most CAIRN_CLUSTER_FRAME_CMDS_MAX per frame.
 *
 * Invariants:
 *  - at most CAIRN_CLUSTER_FWD_INFLIGHT_MAX forwarded commands per peer are
 *    unanswered (over: -TRYAGAIN at once);
 *  - a forwarded command is answered exactly once: by the leader's reply,
 *    by its deadline, or when the leader changes (unknown outcome); a late
 *    reply finds no op (matched by leader id and request id) and is dropped;
 *  - the leader validates every forwarded command (write flag, arity, db)
 *    before proposing it: bytes from a peer are never trusted.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "kv/kv.h"
#include "node/cluster_int.h"
#include "node/node_int.h"

void cluster_forward_submit(struct cluster *c, struct cluster_op *op)
{
    struct cluster_peer *p = cluster_peer_find(c, c->leader_id);
    if (p == NULL || p->id == c->self_id) {
        cluster_op_fail(c, op, CLUSTER_ERR_DOWN);
        return;
    }
    if (p->fwd_inflight >= CAIRN_CLUSTER_FWD_INFLIGHT_MAX) {
        cluster_op_fail(c, op, "TRYAGAIN too many commands in flight to the "
                               "leader");
        return;
    }
    if (p->fwd_out_count == CAIRN_CLUSTER_FRAME_CMDS_MAX)
        cluster_forward_flush(c);
    if (buf_reserve(&p->fwd_out, 14 + op->cmd.len) != 0) {
        cluster_op_fail(c, op, "OOM out of memory forwarding the command");
        return;
    }
    op->kind = OP_FWD;
    op->peer_id = p->id;
    op->req_id = ++c->next_req_id;
    (void)put_u64(&p->fwd_out, op->req_id);
    (void)put_u8(&p->fwd_out, op->db);
    (void)put_u8(&p->fwd_out, op->proto);
    (void)put_u32(&p->fwd_out, (uint32_t)op->cmd.len);
    (void)buf_append(&p->fwd_out, op->cmd.data, op->cmd.len);
    if (p->fwd_out_count == 0)
        p->fwd_out_first_req = op->req_id;
    p->fwd_out_count++;
    p->fwd_inflight++;
    c->writes_forwarded++;
    cluster_list_push(&c->fwds, op);
    cluster_flush_arm(c);
}

/* The net did not take the frame holding the forwarded ops to p with
 * req_id >= first: they never left, so they wait for a reachable leader
 * again (retried from the tick, failed at their deadline). */
static void requeue_unsent(struct cluster *c, struct cluster_peer *p,
                           uint64_t first)
{
    struct cluster_op *next;
    for (struct cluster_op *op = c->fwds.head; op != NULL; op = next) {
        next = op->next;
        if (op->peer_id != p->id || op->req_id < first)
            continue;
        cluster_list_remove(&c->fwds, op);
        if (p->fwd_inflight > 0)
            p->fwd_inflight--;
        op->kind = OP_WAIT;
        cluster_list_push(&c->waiting, op);
    }
}

static int send_batch(struct cluster *c, struct cluster_peer *p, uint8_t type,
                      struct buf *b, uint32_t *count)
{
    cluster_frame_begin(c, type);
    (void)put_u32(&c->frame, *count);
    int rc = buf_append(&c->frame, b->data, b->len);
    if (rc == 0)
        rc = cluster_send_frame(c, p->id, c->frame.data, c->frame.len);
    buf_clear(b);
    buf_shrink(b, 64 * 1024);
    *count = 0;
    return rc;
}

void cluster_forward_flush(struct cluster *c)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        struct cluster_peer *p = &c->peers[i];
        if (p->fwd_out_count > 0) {
            uint64_t first = p->fwd_out_first_req;
            int rc = send_batch(c, p, CLUSTER_FRAME_FWD, &p->fwd_out,
                                &p->fwd_out_count);
            if (rc != 0)
                requeue_unsent(c, p, first);
        }
        if (p->resp_out_count > 0)
            (void)send_batch(c, p, CLUSTER_FRAME_FWD_RESP, &p->resp_out,
                             &p->resp_out_count);
    }
}

/* Queues an error reply for a forwarded command that cannot be taken. */
static void reply_now(struct cluster *c, uint64_t from, uint64_t req,
                      const char *msg)
{
    struct cluster_op op;
    memset(&op, 0, sizeof(op));
    buf_init(&op.reply, 0);
    struct resp_writer w;
    resp_writer_init(&w, &op.reply, 2);
    resp_reply_error(&w, msg);
    op.peer_id = from;
    op.req_id = req;
    cluster_forward_reply(c, &op);
    buf_free(&op.reply);
}

static void take_one(struct cluster *c, uint64_t from, uint64_t req, int db,
                     int proto, const uint8_t *cmd, size_t len)
{
    if (!cluster_is_leader(c)) {
        reply_now(c, from, req, "TRYAGAIN this node is not the leader");
        return;
    }
    int argc = cluster_cmd_decode(c, cmd, len);
    const struct command *k =
        argc > 0 ? cmd_lookup(c->argv[0], c->argv_len[0]) : NULL;
    if (k == NULL || !(k->flags & CMD_WRITE) || !cmd_arity_ok(k, argc) ||
        db >= CAIRN_DB_COUNT) {
        reply_now(c, from, req, "ERR malformed forwarded command");
        return;
    }
    if ((k->flags & CMD_DENYOOM) && c->cfg->maxmemory != 0 &&
        c->cfg->maxmemory_policy == KV_POLICY_NOEVICTION &&
        kv_over_maxmemory(node_kv(c->node))) {
        reply_now(c, from, req, CMD_ERR_OOM);
        return;
    }
    struct cluster_op *op = cluster_op_new(c, NULL, OP_WRITE);
    if (op == NULL || buf_append(&op->cmd, cmd, len) != 0) {
        if (op != NULL)
            cluster_op_release(op);
        reply_now(c, from, req, "OOM out of memory on the leader");
        return;
    }
    op->remote = true;
    op->peer_id = from;
    op->req_id = req;
    op->db = (uint8_t)db;
    op->proto = (uint8_t)(proto == 3 ? 3 : 2);
    cluster_write_submit(c, op);
}

void cluster_forward_recv(struct cluster *c, uint64_t from, struct reader *r)
{
    uint32_t count = get_u32(r);
    if (count > CAIRN_CLUSTER_FRAME_CMDS_MAX)
        r->bad = true;
    for (uint32_t i = 0; i < count && !r->bad; i++) {
        uint64_t req = get_u64(r);
        uint8_t db = get_u8(r);
        uint8_t proto = get_u8(r);
        uint32_t len = get_u32(r);
        const uint8_t *cmd = get_bytes(r, len);
        if (r->bad)
            break;
        take_one(c, from, req, db, proto, cmd, len);
    }
    if (r->bad)
        LOG_WARNING("cluster: malformed forward frame from %llu",
                    (unsigned long long)from);
}

void cluster_forward_reply(struct cluster *c, struct cluster_op *op)
{
    struct cluster_peer *p = cluster_peer_find(c, op->peer_id);
    if (p == NULL)
        return;
    if (p->resp_out_count == CAIRN_CLUSTER_FRAME_CMDS_MAX)
        (void)send_batch(c, p, CLUSTER_FRAME_FWD_RESP, &p->resp_out,
                         &p->resp_out_count);
    if (buf_reserve(&p->resp_out, 12 + op->reply.len) != 0)
        return; /* the follower times the command out */
    (void)put_u64(&p->resp_out, op->req_id);
    (void)put_u32(&p->resp_out, (uint32_t)op->reply.len);
    (void)buf_append(&p->resp_out, op->reply.data, op->reply.len);
    p->resp_out_count++;
    cluster_flush_arm(c);
}

static struct cluster_op *fwd_find(struct cluster *c, uint64_t from,
                                   uint64_t req)
{
    /* Replies come back mostly in order: the head is the usual hit. */
    for (struct cluster_op *op = c->fwds.head; op != NULL; op = op->next)
        if (op->req_id == req && op->peer_id == from)
            return op;
    return NULL;
}

void cluster_forward_resp_recv(struct cluster *c, uint64_t from,
                               struct reader *r)
{
    struct cluster_peer *p = cluster_peer_find(c, from);
    uint32_t count = get_u32(r);
    if (count > CAIRN_CLUSTER_FRAME_CMDS_MAX)
        r->bad = true;
    for (uint32_t i = 0; i < count && !r->bad; i++) {
        uint64_t req = get_u64(r);
        uint32_t len = get_u32(r);
        const uint8_t *bytes = get_bytes(r, len);
        if (r->bad)
            break;
        struct cluster_op *op = fwd_find(c, from, req);
        if (op == NULL)
            continue; /* timed out or failed already */
        cluster_list_remove(&c->fwds, op);
        if (p->fwd_inflight > 0)
            p->fwd_inflight--;
        buf_clear(&op->reply);
        if (buf_append(&op->reply, bytes, len) != 0) {
            cluster_op_fail(c, op, "OOM out of memory");
            continue;
        }
        cluster_op_finish(c, op);
    }
    if (r->bad)
        LOG_WARNING("cluster: malformed forward reply from %llu",
                    (unsigned long long)from);
}

void cluster_forward_leader_changed(struct cluster *c)
{
    struct cluster_op *op;
    while ((op = cluster_list_pop(&c->fwds)) != NULL)
        cluster_op_fail(c, op, CLUSTER_ERR_LOST);
    for (size_t i = 0; i < c->n_peers; i++) {
        c->peers[i].fwd_inflight = 0;
        buf_clear(&c->peers[i].fwd_out);
        c->peers[i].fwd_out_count = 0;
    }
}
