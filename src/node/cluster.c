/*
 * cluster.c: the Raft group of a replicated node: creation, the step loop
 * (every raft_step goes through cluster_step, which performs the update),
 * peer frames, timers, op bookkeeping and deadlines.
 *
 * Invariants:
 *  - raft_step is never re-entered: cluster_step asserts it (`in_step`);
 *    nothing reachable from an update runs client commands (a session whose
 *    op finishes only writes replies; paused sessions resume from the flush
 *    timer).
 *  - memory durability: every update's writes are reported persisted by a
 *    RAFT_EV_PERSISTED stepped right after it, in order (raft.h contract 1).
 *  - every op on a cluster list has a deadline; the tick sweeps list heads
 *    (each list but `waiting` is in deadline order: deadline = creation +
 *    op_timeout; `waiting` is scanned whole), so no client waits longer
 *    than op_timeout_ms plus one tick.
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "kv/kv.h"
#include "node/cluster_int.h"
#include "node/node_int.h"
#include "raft/codec.h"

static void tick_cb(void *ctx);
static void flush_cb(void *ctx);

/* ---- little-endian encoding ---- */

int put_u8(struct buf *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}

int put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return buf_append(b, x, 4);
}

int put_u64(struct buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return buf_append(b, x, 8);
}

const uint8_t *get_bytes(struct reader *r, size_t n)
{
    if (r->bad || r->len < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->len -= n;
    return p;
}

uint8_t get_u8(struct reader *r)
{
    const uint8_t *p = get_bytes(r, 1);
    return p == NULL ? 0 : p[0];
}

/* One expression per field, which compilers turn into a single load (the
 * byte loops were not merged at -O2). */
static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint32_t get_u32(struct reader *r)
{
    const uint8_t *p = get_bytes(r, 4);
    return p != NULL ? load_le32(p) : 0;
}

uint64_t get_u64(struct reader *r)
{
    const uint8_t *p = get_bytes(r, 8);
    return p != NULL ? load_le32(p) | (uint64_t)load_le32(p + 4) << 32 : 0;
}

/* ---- lists and ops ---- */

void cluster_list_push(struct cluster_list *l, struct cluster_op *op)
{
    ASSERT(!op->on_list);
    op->prev = l->tail;
    op->next = NULL;
    if (l->tail != NULL)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
    l->count++;
    op->on_list = true;
}

void cluster_list_remove(struct cluster_list *l, struct cluster_op *op)
{
    ASSERT(op->on_list);
    ASSERT(l->count > 0);
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
    op->on_list = false;
    l->count--;
}

struct cluster_op *cluster_list_pop(struct cluster_list *l)
{
    struct cluster_op *op = l->head;
    if (op != NULL)
        cluster_list_remove(l, op);
    return op;
}

/* The clock of every Raft event and op deadline: io_now_us, not the
 * loop's cached io_now_ms, because a lease read must not be judged with a
 * time that lags by a whole busy loop iteration (the lease's safety margin
 * is 10% of the election timeout).  Monotonic, the same source as
 * io_now_ms, so timers computed from it stay consistent. */
uint64_t cluster_now(const struct cluster *c)
{
    return io_now_us(c->io) / 1000;
}

bool cluster_is_leader(const struct cluster *c)
{
    return c->raft != NULL && c->role == RAFT_LEADER;
}

struct cluster_op *cluster_op_new(struct cluster *c, struct session *s,
                                  uint8_t kind)
{
    struct cluster_op *op = cairn_calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->kind = kind;
    op->deadline_ms = cluster_now(c) + c->op_timeout_ms;
    buf_init(&op->cmd, 0);
    buf_init(&op->reply, 0);
    op->is_read = kind == OP_READ;
    if (s != NULL) {
        op->s = s;
        op->db = (uint8_t)s->db;
        op->proto = (uint8_t)s->w.proto;
        session_op_append(s, op);
    }
    return op;
}

int cluster_op_set_cmd(struct cluster_op *op, int argc,
                       const char *const *argv, const size_t *argv_len)
{
    ASSERT(argc >= 1);
    size_t total = 4;
    for (int i = 0; i < argc; i++)
        total += 4 + argv_len[i];
    if (buf_reserve(&op->cmd, total) != 0)
        return CAIRN_ENOMEM;
    int rc = put_u32(&op->cmd, (uint32_t)argc);
    for (int i = 0; i < argc && rc == 0; i++) {
        rc = put_u32(&op->cmd, (uint32_t)argv_len[i]);
        if (rc == 0)
            rc = buf_append(&op->cmd, argv[i], argv_len[i]);
    }
    ASSERT(rc == 0); /* reserved above */
    return 0;
}

static int argv_reserve(struct cluster *c, size_t argc)
{
    if (argc <= c->argv_cap)
        return 0;
    size_t cap = c->argv_cap < 16 ? 16 : c->argv_cap;
    while (cap < argc)
        cap *= 2;
    const char **a = cairn_realloc(c->argv, cap * sizeof(*a));
    if (a == NULL)
        return CAIRN_ENOMEM;
    c->argv = a;
    size_t *l = cairn_realloc(c->argv_len, cap * sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    c->argv_len = l;
    c->argv_cap = cap;
    return 0;
}

int cluster_cmd_decode(struct cluster *c, const uint8_t *p, size_t len)
{
    struct reader r = {.p = p, .len = len};
    uint32_t argc = get_u32(&r);
    /* Each argument needs at least its 4-byte length: bounds argc. */
    if (r.bad || argc == 0 || argc > r.len / 4 || argc > INT32_MAX)
        return -1;
    if (argv_reserve(c, argc) != 0)
        return -1;
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t n = get_u32(&r);
        const uint8_t *a = get_bytes(&r, n);
        if (r.bad)
            return -1;
        c->argv[i] = (const char *)a;
        c->argv_len[i] = n;
    }
    return r.len == 0 ? (int)argc : -1;
}

void cluster_op_release(struct cluster_op *op)
{
    if (op->on_list || op->s != NULL)
        return;
    buf_free(&op->cmd);
    buf_free(&op->reply);
    cairn_free(op);
}

void cluster_op_finish(struct cluster *c, struct cluster_op *op)
{
    ASSERT(!op->on_list);
    ASSERT(!op->done);
    op->done = true;
    if (op->s != NULL)
        session_op_settled(op->s, op);
    if (op->remote) {
        cluster_forward_reply(c, op);
        cluster_op_release(op);
        return;
    }
    if (op->s != NULL) {
        session_ops_ready(op->s); /* may release op */
        return;
    }
    cluster_op_release(op);
}

void cluster_op_fail(struct cluster *c, struct cluster_op *op,
                     const char *msg)
{
    buf_clear(&op->reply);
    struct resp_writer w;
    resp_writer_init(&w, &op->reply, op->proto == 3 ? 3 : 2);
    resp_reply_error(&w, msg);
    cluster_op_finish(c, op);
}

/* ---- peers and frames ---- */

struct cluster_peer *cluster_peer_find(struct cluster *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_peers; i++)
        if (c->peers[i].id == id)
            return &c->peers[i];
    return NULL;
}

void cluster_frame_begin(struct cluster *c, uint8_t type)
{
    buf_clear(&c->frame);
    (void)put_u8(&c->frame, type);
    (void)put_u64(&c->frame, CLUSTER_GROUP_ID);
}

int cluster_send_frame(struct cluster *c, uint64_t peer, const void *data,
                       size_t len)
{
    ASSERT(peer != c->self_id);
    return c->net.send(c->net.ctx, peer, data, len);
}

static void send_msg(struct cluster *c, const struct raft_msg *m)
{
    size_t need = raft_codec_size(m);
    cluster_frame_begin(c, CLUSTER_FRAME_RAFT);
    if (buf_reserve(&c->frame, need) != 0)
        return; /* dropped; Raft resends */
    int n = raft_codec_encode(m, (uint8_t *)c->frame.data + c->frame.len,
                              c->frame.cap - c->frame.len);
    if (n < 0) {
        LOG_WARNING("cluster: cannot encode %s to %llu: %s",
                    raft_msg_type_name(m->type), (unsigned long long)m->to,
                    cairn_strerror(n));
        return;
    }
    c->frame.len += (size_t)n;
    (void)cluster_send_frame(c, m->to, c->frame.data, c->frame.len);
}

/* ---- the step loop ---- */

static void track_persist(struct cluster *c, const struct raft_update *up)
{
    if (up->snapshot_install != NULL) {
        c->p_last_index = up->snapshot_install->last_index;
        c->p_last_term = up->snapshot_install->last_term;
        c->persist_pending = true;
    }
    if (up->truncate_from != 0) {
        c->p_last_index = up->truncate_from - 1;
        c->p_last_term = raft_term_at(c->raft, c->p_last_index);
        c->persist_pending = true;
    }
    if (up->n_entries > 0) {
        c->p_last_index = up->entries[up->n_entries - 1].index;
        c->p_last_term = up->entries[up->n_entries - 1].term;
        c->persist_pending = true;
    }
    if (up->has_hard_state) {
        c->p_hs = up->hard_state;
        c->persist_pending = true;
    }
}

static void apply_committed(struct cluster *c, const struct raft_update *up)
{
    for (size_t i = 0; i < up->n_committed; i++) {
        /* A replica that could not apply an entry whole is stopping; its
         * applied index stays below that entry (cluster_write.c). */
        if (c->apply_failed)
            return;
        const struct raft_entry *e = &up->committed[i];
        ASSERT(e->index == c->applied_index + 1);
        if (e->type == RAFT_ENTRY_NORMAL && cluster_apply_entry(c, e) != 0)
            return;
        c->applied_index = e->index;
        if (e->type == RAFT_ENTRY_CONFIG) {
            cluster_snap_conf_applied(c, e);
            cluster_member_applied_conf(c);
        }
    }
}

static void on_role_change(struct cluster *c, uint8_t old_role,
                           uint64_t old_leader)
{
    LOG_NOTICE("cluster: node %llu is %s in term %llu, leader %llu",
               (unsigned long long)c->self_id, raft_role_name(c->role),
               (unsigned long long)c->term,
               (unsigned long long)c->leader_id);
    if (old_role == RAFT_LEADER && c->role != RAFT_LEADER)
        cluster_write_leader_lost(c);
    if (c->role == RAFT_LEADER && old_role != RAFT_LEADER)
        for (size_t i = 0; i < c->n_peers; i++) {
            c->peers[i].match_index = 0;
            c->peers[i].answered_ms = 0;
        }
    if (c->leader_id != old_leader) {
        c->lease_ok_ms = 0;
        cluster_forward_leader_changed(c);
    }
    cluster_waiting_dispatch(c); /* writes that waited for a leader */
}

static void handle_update(struct cluster *c, const struct raft_update *up)
{
    uint8_t old_role = c->role;
    uint64_t old_leader = c->leader_id;
    c->role = up->role;
    c->term = up->term;
    c->leader_id = up->leader_id;
    c->commit_index = up->commit_index;
    if (c->storage != NULL)
        cluster_storage_persist(c, up);
    else
        track_persist(c, up);
    if (up->snapshot_chunk != NULL)
        cluster_snap_chunk(c, up->snapshot_chunk);
    if (up->snapshot_install != NULL)
        cluster_snap_install(c, up->snapshot_install);
    for (size_t i = 0; i < up->n_msgs; i++)
        send_msg(c, &up->msgs[i]);
    apply_committed(c, up);
    if (up->proposed.count > 0) {
        c->proposed.first_index = up->proposed.first_index;
        c->proposed.term = up->proposed.term;
        c->proposed.count = up->proposed.count;
    }
    for (size_t i = 0; i < up->n_reads; i++) {
        const struct raft_read_state *rs = &up->reads[i];
        if (rs->request_id == c->lease_probe_id) {
            c->lease_probe = rs->status == 0 && rs->index <= c->applied_index;
            continue;
        }
        cluster_read_answer(c, rs);
    }
    if (up->role != old_role || up->leader_id != old_leader)
        on_role_change(c, old_role, old_leader);
    cluster_read_serve(c);
    /* Op deadlines are swept at least every 50 ms. */
    uint64_t at = cluster_now(c) + 50;
    cluster_tick_arm(c, up->deadline_ms < at ? up->deadline_ms : at);
}

void cluster_tick_arm(struct cluster *c, uint64_t at_ms)
{
    /* Only ever brought forward: re-arming on every update would push a
     * busy follower's tick (and its sweeps) back forever. */
    if (c->tick_armed && c->tick_at_ms <= at_ms)
        return;
    uint64_t now = cluster_now(c);
    c->tick_armed = true;
    c->tick_at_ms = at_ms;
    io_timer_start(c->tick, at_ms > now ? at_ms - now : 0);
}

int cluster_step(struct cluster *c, struct raft_event *ev)
{
    ASSERT(!c->in_step);
    ASSERT(c->raft != NULL);
    c->in_step = true;
    struct raft_update up;
    ev->now_ms = cluster_now(c);
    int rc = raft_step(c->raft, ev, &up);
    handle_update(c, &up);
    /* Memory mode: each update's writes are complete at once; report them
     * in order.  Bounded: a PERSISTED step asks for no new writes except a
     * leader's pending append, so a few rounds drain it.  Not inside a
     * proposal: a single voter would commit and apply the new entries before
     * the caller has registered their waiters (cluster_write_flush), and the
     * replies would be lost; the tick armed below reports them next turn. */
    int rounds = ev->type == RAFT_EV_PROPOSE ? 0 : 8;
    for (int round = 0; round < rounds && c->persist_pending; round++) {
        c->persist_pending = false;
        struct raft_event pe = {.type = RAFT_EV_PERSISTED,
                                .now_ms = cluster_now(c)};
        pe.persisted.hard_state = c->p_hs;
        pe.persisted.last_index = c->p_last_index;
        pe.persisted.last_term = c->p_last_term;
        int prc = raft_step(c->raft, &pe, &up);
        if (prc != 0)
            LOG_WARNING("cluster: persisted event refused: %s",
                        cairn_strerror(prc));
        handle_update(c, &up);
    }
    if (c->persist_pending)
        cluster_tick_arm(c, cluster_now(c));
    c->in_step = false;
    cluster_snap_handback(c); /* steps again, outside this step */
    return rc;
}

void cluster_flush_arm(struct cluster *c)
{
    if (c->flush_armed)
        return;
    c->flush_armed = true;
    io_timer_start(c->flush, 0);
}

/* ---- frames in ---- */

static void recv_raft(struct cluster *c, uint64_t from, struct reader *r)
{
    struct raft_codec_msg *dm = c->decoded;
    int rc = raft_codec_decode(r->p, r->len, dm);
    if (rc != 0) {
        LOG_WARNING("cluster: bad raft frame from %llu: %s",
                    (unsigned long long)from, cairn_strerror(rc));
        return;
    }
    if (dm->msg.from != from || c->raft == NULL)
        return;
    cluster_member_appended_conf(c);
    if (!cluster_member_accepts(c, &dm->msg))
        return;
    if (dm->msg.type == RAFT_MSG_APPEND_RESP && dm->msg.append_resp.success &&
        c->role == RAFT_LEADER && dm->msg.term == c->term) {
        struct cluster_peer *p = cluster_peer_find(c, from);
        if (p->match_index < dm->msg.append_resp.match_index)
            p->match_index = dm->msg.append_resp.match_index;
    }
    if ((dm->msg.type == RAFT_MSG_APPEND_RESP ||
         dm->msg.type == RAFT_MSG_HEARTBEAT_RESP ||
         dm->msg.type == RAFT_MSG_SNAPSHOT_RESP) &&
        c->role == RAFT_LEADER && dm->msg.term == c->term)
        cluster_peer_find(c, from)->answered_ms = cluster_now(c);
    struct raft_event ev = {.type = RAFT_EV_MESSAGE};
    ev.message.msg = &dm->msg;
    rc = cluster_step(c, &ev);
    if (rc != 0 && rc != CAIRN_EPROTO)
        LOG_VERBOSE("cluster: message from %llu: %s",
                    (unsigned long long)from, cairn_strerror(rc));
}

void cluster_recv(struct cluster *c, uint64_t from, const void *frame,
                  size_t len)
{
    struct reader r = {.p = frame, .len = len};
    uint8_t type = get_u8(&r);
    uint64_t gid = get_u64(&r);
    if (r.bad || gid != CLUSTER_GROUP_ID || cluster_peer_find(c, from) == NULL) {
        LOG_WARNING("cluster: dropped a frame from %llu (bad header, group "
                    "or unknown peer)", (unsigned long long)from);
        return;
    }
    cluster_peer_find(c, from)->heard_ms = cluster_now(c);
    switch (type) {
    case CLUSTER_FRAME_RAFT:
        recv_raft(c, from, &r);
        break;
    case CLUSTER_FRAME_FWD:
        cluster_forward_recv(c, from, &r);
        break;
    case CLUSTER_FRAME_FWD_RESP:
        cluster_forward_resp_recv(c, from, &r);
        break;
    case CLUSTER_FRAME_HELLO:
    case CLUSTER_FRAME_HELLO_RESP:
        cluster_member_hello_recv(c, from, &r,
                                  type == CLUSTER_FRAME_HELLO_RESP);
        break;
    case CLUSTER_FRAME_REJOIN:
    case CLUSTER_FRAME_REJOIN_ACK:
    case CLUSTER_FRAME_REJOIN_CHECK:
        cluster_member_rejoin_recv(c, from, &r, type);
        break;
    default:
        LOG_WARNING("cluster: unknown frame type %u from %llu", type,
                    (unsigned long long)from);
    }
}

/* ---- timers ---- */

static void sweep(struct cluster *c, struct cluster_list *l, uint64_t now,
                  const char *msg)
{
    while (l->head != NULL && l->head->deadline_ms <= now) {
        struct cluster_op *op = cluster_list_pop(l);
        if (op->kind == OP_FWD) {
            struct cluster_peer *p = cluster_peer_find(c, op->peer_id);
            if (p != NULL && p->fwd_inflight > 0)
                p->fwd_inflight--;
        }
        cluster_op_fail(c, op, msg);
    }
}

/* Writes waiting for a leader go to it once one is known (also after a
 * forward the net could not take: the link may be back). */
void cluster_waiting_dispatch(struct cluster *c)
{
    if (c->raft == NULL || c->leader_id == 0 ||
        (c->stopping && cluster_is_leader(c)))
        return;
    /* Bounded: each op leaves the list (a failed forward re-queues it at
     * the next flush, not here). */
    size_t n = c->waiting.count;
    for (size_t i = 0; i < n; i++) {
        struct cluster_op *op = cluster_list_pop(&c->waiting);
        if (op->kind == OP_READ) {
            op->has_index = false;
            cluster_list_push(&c->reads_new, op);
            cluster_flush_arm(c);
        } else if (cluster_is_leader(c))
            cluster_write_submit(c, op);
        else
            cluster_forward_submit(c, op);
    }
}

/* `waiting` also takes ops back (a retried read, an unsent forward), so
 * it is not in deadline order: scan it whole (bounded by its length). */
static void sweep_waiting(struct cluster *c, uint64_t now)
{
    struct cluster_op *next;
    for (struct cluster_op *op = c->waiting.head; op != NULL; op = next) {
        next = op->next;
        if (op->deadline_ms > now)
            continue;
        cluster_list_remove(&c->waiting, op);
        cluster_op_fail(c, op, CLUSTER_ERR_DOWN);
    }
}

static void sweep_all(struct cluster *c)
{
    uint64_t now = cluster_now(c);
    sweep_waiting(c, now);
    cluster_waiting_dispatch(c);
    sweep(c, &c->writes, now, CLUSTER_ERR_TIMEOUT);
    sweep(c, &c->fwds, now, CLUSTER_ERR_TIMEOUT);
    sweep(c, &c->reads, now, "TRYAGAIN the read could not be confirmed in time");
}

/* True if this node should be hearing from peer id now: a leader from
 * every member, a follower from its leader, a node without a leader from
 * every voter (vote answers). */
static bool expect_from(const struct cluster *c, const struct raft_conf *conf,
                        uint64_t id)
{
    const struct raft_member *m = raft_conf_find(conf, id);
    if (c->role == RAFT_LEADER)
        return m != NULL;
    if (c->leader_id != 0)
        return id == c->leader_id;
    return m != NULL && m->role == RAFT_VOTER;
}

/*
 * A peer link can go silent without breaking: after a long partition the
 * kernel's retransmission backoff may keep queued bytes waiting for many
 * seconds after the network healed, and a link that only ever sends (one
 * connection per direction) never notices.  So when a peer this node
 * expects to hear from stays silent for two maximum election timeouts,
 * its links are dropped and redialled (transport_peer_remove + set), at
 * most once per such interval.
 */
static void peer_liveness(struct cluster *c)
{
    if (c->raft == NULL || c->net.peer_set == NULL ||
        c->net.peer_remove == NULL)
        return;
    uint64_t now = cluster_now(c);
    uint64_t silence = 2ull * c->rcfg.election_timeout_ms_max;
    struct raft_status st;
    raft_status_get(c->raft, &st);
    for (size_t i = 0; i < c->n_peers; i++) {
        struct cluster_peer *p = &c->peers[i];
        if (p->id == c->self_id || !expect_from(c, &st.conf, p->id))
            continue;
        if (p->heard_ms == 0)
            p->heard_ms = now; /* start counting */
        if (now - p->heard_ms < silence || now - p->reset_ms < silence)
            continue;
        p->reset_ms = now;
        LOG_VERBOSE("cluster: nothing from peer %llu for %llu ms; "
                    "redialling", (unsigned long long)p->id,
                    (unsigned long long)(now - p->heard_ms));
        c->net.peer_remove(c->net.ctx, p->id);
        (void)c->net.peer_set(c->net.ctx, p->id, p->host, p->peer_port);
    }
}

static void stop_check(struct cluster *c)
{
    if (!c->stopping || c->stop_cb == NULL)
        return;
    bool handed = c->raft == NULL || c->role != RAFT_LEADER;
    if (!handed && cluster_now(c) < c->stop_deadline_ms)
        return;
    void (*cb)(void *) = c->stop_cb;
    c->stop_cb = NULL;
    LOG_NOTICE("cluster: %s, stopping",
               handed ? "leadership handed over" : "transfer timed out");
    cb(c->stop_ctx);
}

static void tick_cb(void *ctx)
{
    struct cluster *c = ctx;
    c->tick_armed = false;
    if (c->raft == NULL) {
        cluster_member_cron(c); /* start-up probe */
        cluster_tick_arm(c, cluster_now(c) + 50);
        stop_check(c);
        return;
    }
    struct raft_event ev = {.type = RAFT_EV_TICK};
    (void)cluster_step(c, &ev);
    sweep_all(c);
    peer_liveness(c);
    cluster_snap_progress(c);
    stop_check(c);
}

static void flush_cb(void *ctx)
{
    struct cluster *c = ctx;
    c->flush_armed = false;
    if (c->raft != NULL) {
        cluster_write_flush(c);
        cluster_read_flush(c);
    }
    cluster_forward_flush(c);
    if (c->ops_blocked_sessions > 0)
        node_sessions_resume(c->node);
}

/* ---- commands from sessions ---- */

/* Redis Cluster's slot of a key: CRC16 of the key, or of the part inside
 * the first non-empty {hash tag}. */
static unsigned key_slot(const char *k, size_t len)
{
    const char *open = memchr(k, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open - k) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1) {
            k = open + 1;
            len = (size_t)(close - k);
        }
    }
    return cairn_crc16(k, len) & 16383u;
}

static void reply_moved(struct cluster *c, struct session *s,
                        const struct command *cmd, int argc,
                        const char *const *argv, const size_t *argv_len)
{
    unsigned slot = 0;
    if (cmd->key_first > 0 && cmd->key_first < argc)
        slot = key_slot(argv[cmd->key_first], argv_len[cmd->key_first]);
    const struct cluster_peer *p = cluster_peer_find(c, c->leader_id);
    ASSERT(p != NULL);
    resp_reply_errorf(&s->w, "MOVED %u %s:%u", slot, p->host, p->port);
}

void cluster_execute(struct cluster *c, struct session *s,
                     const struct command *cmd, int argc,
                     const char *const *argv, const size_t *argv_len)
{
    if (!(cmd->flags & CMD_WRITE)) {
        cluster_read_submit(c, s, argc, argv, argv_len);
        return;
    }
    bool leader = cluster_is_leader(c) && !c->stopping;
    bool known = c->raft != NULL && c->leader_id != 0 &&
                 c->leader_id != c->self_id &&
                 cluster_peer_find(c, c->leader_id) != NULL;
    if (!leader && c->cfg->cluster_redirect) {
        if (known)
            reply_moved(c, s, cmd, argc, argv, argv_len);
        else
            resp_reply_error(&s->w, CLUSTER_ERR_DOWN);
        return;
    }
    struct cluster_op *op = cluster_op_new(c, s, OP_WAIT);
    if (op == NULL) {
        resp_reply_error(&s->w, "OOM out of memory");
        return;
    }
    if (cluster_op_set_cmd(op, argc, argv, argv_len) != 0) {
        cluster_op_fail(c, op, "OOM out of memory");
        return;
    }
    if (op->cmd.len + 64 > c->rcfg.entry_size_max) {
        /* Checked here too so a follower never forwards what the leader
         * would refuse (and the transport could not carry). */
        cluster_op_fail(c, op, "ERR command too large to replicate");
        return;
    }
    if (c->waiting.head != NULL)
        cluster_list_push(&c->waiting, op); /* behind earlier writes */
    else if (leader)
        cluster_write_submit(c, op);
    else if (known)
        cluster_forward_submit(c, op);
    else
        cluster_list_push(&c->waiting, op); /* until a leader is known */
}

/* ---- lifecycle ---- */

static int peers_load(struct cluster *c)
{
    struct config_peer cp[RAFT_MEMBERS_MAX];
    const char *why = NULL;
    int n = config_peers_parse(c->cfg->cluster_peers, cp, RAFT_MEMBERS_MAX,
                               &why);
    if (n <= 0) {
        LOG_WARNING("cluster: cluster-peers: %s", why ? why : "empty");
        return CAIRN_ECONFIG;
    }
    bool self_found = false;
    for (int i = 0; i < n; i++) {
        if (cp[i].port > 65535 - 10000) {
            LOG_WARNING("cluster: peer %llu: client port %u leaves no room "
                        "for its peer port (client port + 10000)",
                        (unsigned long long)cp[i].id, cp[i].port);
            return CAIRN_ECONFIG;
        }
        struct cluster_peer *p = &c->peers[c->n_peers++];
        p->id = cp[i].id;
        memcpy(p->host, cp[i].host, sizeof(p->host));
        p->port = cp[i].port;
        p->peer_port = (uint16_t)(cp[i].port + 10000u);
        buf_init(&p->fwd_out, 0);
        buf_init(&p->resp_out, 0);
        if (p->id == c->self_id) {
            self_found = true;
            if (c->cfg->cluster_port != 0)
                p->peer_port = (uint16_t)c->cfg->cluster_port;
        }
    }
    if (!self_found) {
        LOG_WARNING("cluster: node-id %llu is not in cluster-peers",
                    (unsigned long long)c->self_id);
        return CAIRN_ECONFIG;
    }
    return 0;
}

static int config_check(const struct node_config *cfg)
{
    if (cfg->node_id == 0) {
        LOG_WARNING("cluster: node-id must be set (> 0) with cluster-peers");
        return CAIRN_ECONFIG;
    }
    if (cfg->cluster_secret[0] == '\0') {
        LOG_WARNING("cluster: cluster-secret is required with cluster-peers");
        return CAIRN_ECONFIG;
    }
    if (cfg->heartbeat_ms >= cfg->election_timeout_ms) {
        LOG_WARNING("cluster: heartbeat-ms must be below "
                    "election-timeout-ms");
        return CAIRN_ECONFIG;
    }
    return 0;
}

static void raft_config_fill(struct cluster *c)
{
    raft_config_default(&c->rcfg, c->self_id, CLUSTER_GROUP_ID,
                        io_random_seed(c->io));
    cairn_rng_seed(&c->rng, c->rcfg.seed ^ 0x5265a01e5265a01eull);
    c->incarnation = cairn_rng_next(&c->rng) | 1u;
    c->rcfg.election_timeout_ms_min = (uint32_t)c->cfg->election_timeout_ms;
    c->rcfg.election_timeout_ms_max = 2u * (uint32_t)c->cfg->election_timeout_ms;
    c->rcfg.heartbeat_interval_ms = (uint32_t)c->cfg->heartbeat_ms;
    c->rcfg.lease_reads = c->cfg->lease_reads;
    c->rcfg.check_quorum = c->cfg->raft_check_quorum;
    c->rcfg.inflight_msgs_max = (uint32_t)c->cfg->raft_inflight_max_msgs;
    c->rcfg.append_bytes_max = (uint32_t)c->cfg->raft_append_max_bytes;
    c->op_timeout_ms = 2ull * c->rcfg.election_timeout_ms_max;
    c->snap_every = (uint64_t)c->cfg->snapshot_entries;
    /* Keep a quarter of a snapshot interval of log (at most raft's default)
     * so a follower slightly behind is still served from the log. */
    if (c->rcfg.snapshot_trailing_entries > c->snap_every / 4)
        c->rcfg.snapshot_trailing_entries = c->snap_every / 4;
}

int cluster_new(struct node *n, const struct cluster_net *net,
                struct cluster **out)
{
    const struct node_config *cfg = node_config(n);
    int rc = config_check(cfg);
    if (rc != 0)
        return rc;
    struct cluster *c = cairn_calloc(1, sizeof(*c));
    if (c == NULL)
        return CAIRN_ENOMEM;
    c->node = n;
    c->io = n->io;
    c->cfg = cfg;
    c->self_id = cfg->node_id;
    buf_init(&c->frame, 0);
    buf_init(&c->scratch_reply, 0);
    buf_init(&c->pbuild, 0);
    buf_init(&c->expire_entry, 0);
    buf_init(&c->snap_building, 0);
    buf_init(&c->snap_data, 0);
    buf_init(&c->snap_recv, 0);
    raft_config_fill(c);
    rc = CAIRN_ENOMEM;
    c->decoded = cairn_malloc(sizeof(*c->decoded));
    if (c->decoded == NULL)
        goto out_free;
    rc = peers_load(c);
    if (rc != 0)
        goto out_free;
    if (net != NULL)
        c->net = *net;
    else if ((rc = cluster_net_default(c, &c->net)) != 0)
        goto out_free;
    rc = CAIRN_ENOMEM;
    c->tick = io_timer_new(c->io, c, tick_cb);
    c->flush = io_timer_new(c->io, c, flush_cb);
    if (c->tick == NULL || c->flush == NULL)
        goto out_free;
    rc = cluster_member_start(c);
    if (rc != 0)
        goto out_free;
    *out = c;
    return 0;
out_free:
    cluster_free(c);
    return rc;
}

void cluster_free(struct cluster *c)
{
    if (c == NULL)
        return;
    struct cluster_list *lists[] = {&c->waiting, &c->props, &c->writes,
                                    &c->reads_new, &c->reads, &c->fwds};
    for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
        struct cluster_op *op;
        while ((op = cluster_list_pop(lists[i])) != NULL) {
            if (op->s != NULL)
                session_op_detach(op->s, op);
            cluster_op_release(op);
        }
    }
    cluster_storage_close(c);
    cluster_snap_free(c);
    if (c->tick != NULL)
        io_timer_free(c->tick);
    if (c->flush != NULL)
        io_timer_free(c->flush);
    if (c->raft != NULL)
        raft_destroy(c->raft);
    if (c->net.free != NULL)
        c->net.free(c->net.ctx);
    for (size_t i = 0; i < c->n_peers; i++) {
        buf_free(&c->peers[i].fwd_out);
        buf_free(&c->peers[i].resp_out);
    }
    buf_free(&c->frame);
    buf_free(&c->scratch_reply);
    buf_free(&c->pbuild);
    buf_free(&c->expire_entry);
    cairn_free(c->decoded);
    cairn_free(c->argv);
    cairn_free(c->argv_len);
    cairn_free(c);
}

void cluster_status_get(const struct cluster *c, struct cluster_status *out)
{
    memset(out, 0, sizeof(*out));
    out->self_id = c->self_id;
    out->recovering = c->recovering || c->starting;
    if (c->raft == NULL) {
        out->role = RAFT_FOLLOWER;
        return;
    }
    struct raft_status st;
    raft_status_get(c->raft, &st);
    out->role = st.role;
    out->term = st.term;
    out->leader_id = st.leader_id;
    out->commit_index = st.commit_index;
    out->applied_index = c->applied_index;
    out->last_index = st.last_index;
    const struct raft_member *m = raft_conf_find(&st.conf, c->self_id);
    out->voter = m != NULL && m->role == RAFT_VOTER;
    out->members = st.conf.n_members;
    out->snapshot_index = c->snap_index;
    out->snapshots_installed = c->snapshots_installed;
}

void cluster_shutdown_begin(struct cluster *c, void (*done_cb)(void *ctx),
                            void *ctx)
{
    c->stopping = true;
    c->stop_cb = done_cb;
    c->stop_ctx = ctx;
    c->stop_deadline_ms = cluster_now(c) + c->rcfg.election_timeout_ms_min;
    if (cluster_is_leader(c) && c->n_peers > 1) {
        struct raft_event ev = {.type = RAFT_EV_TRANSFER};
        ev.transfer.target_id = 0;
        int rc = cluster_step(c, &ev);
        LOG_NOTICE("cluster: shutting down: leadership transfer %s",
                   rc == 0 ? "started" : cairn_strerror(rc));
    }
    cluster_tick_arm(c, cluster_now(c));
}

void cluster_cron(struct cluster *c)
{
    cluster_member_cron(c);
    if (cluster_is_leader(c) && !c->stopping) {
        cluster_expire_propose(c);
        cluster_evict_propose(c);
    }
    cluster_snap_maybe_begin(c);
}
