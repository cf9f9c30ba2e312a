/*
 * cluster_write.c: the replicated write path: writes collected during one
 * loop turn become log entries (batching), committed entries are applied
 * on every replica, and the leader routes each reply to its waiter.
 *
 * Entry format (all little-endian):
 *   u8 version (1) | i64 timestamp (leader's Unix ms) | u32 count |
 *   count records: u8 kind | u8 db | u32 len | len bytes
 *     kind 1 (command): u32 argc, then per argument u32 len + bytes
 *     kind 2 (expire):  the key; deleted only if expired at the timestamp
 *     kind 3 (peer):    u64 id | u16 client port | host bytes: an address
 *                       book entry (CLUSTER ADDNODE), db is 0
 *     kind 4 (evict):   the key; deleted (maxmemory eviction chosen by the
 *                       leader, see cluster_evict_propose)
 *
 * Invariants:
 *  - apply is a function of the entry bytes alone (timestamp from the
 *    entry; malformed records are skipped identically on every replica);
 *  - timestamps never go back: the leader stamps max(wall, last stamped,
 *    last applied);
 *  - a replica never goes on from an entry it could not apply whole: an
 *    allocation failure while applying stops the node (apply_failed)
 *    before anything later is applied or answered;
 *  - `writes` is ordered by (index, pos): every proposal appends at the log
 *    end, and on leadership loss the whole list is failed; apply pops ops
 *    older than the entry as lost and matches the head by (index, term,
 *    pos), so a reply can never go to a command of another entry.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "kv/kv.h"
#include "node/cluster_int.h"
#include "node/node_int.h"

#define ENTRY_VERSION 1u
#define ENTRY_HEADER 13u
#define REC_CMD 1u
#define REC_EXPIRE 2u
#define REC_PEER 3u
#define REC_EVICT 4u
#define REC_HEADER 6u

void cluster_write_submit(struct cluster *c, struct cluster_op *op)
{
    ASSERT(op->cmd.len > 0);
    if (op->cmd.len + ENTRY_HEADER + REC_HEADER > c->rcfg.entry_size_max) {
        cluster_op_fail(c, op, "ERR command too large to replicate");
        return;
    }
    op->kind = OP_WRITE;
    cluster_list_push(&c->props, op);
    cluster_flush_arm(c);
}

static int64_t stamp(struct cluster *c)
{
    int64_t ts = io_wall_ms(c->io);
    if (ts < c->last_ts_proposed)
        ts = c->last_ts_proposed;
    if (ts < c->last_ts)
        ts = c->last_ts;
    c->last_ts_proposed = ts;
    return ts;
}

/* Appends an entry header (version, timestamp, record count 0) to b and
 * returns where the count is (entry_count_set).  A buffer that cannot grow
 * gets less than ENTRY_HEADER bytes: callers that did not reserve check. */
static size_t entry_begin(struct buf *b, int64_t ts)
{
    (void)put_u8(b, ENTRY_VERSION);
    (void)put_u64(b, (uint64_t)ts);
    size_t count_at = b->len;
    (void)put_u32(b, 0);
    return count_at;
}

static void entry_count_set(struct cluster *c, size_t at, uint32_t n)
{
    for (int i = 0; i < 4; i++)
        c->pbuild.data[at + (size_t)i] = (char)(uint8_t)(n >> (8 * i));
}

/* Builds entries from the head of props into pbuild/pstart; returns the
 * number of entries and sets *n_ops to the ops they hold. */
static uint32_t build_entries(struct cluster *c, size_t *n_ops)
{
    buf_clear(&c->pbuild);
    uint32_t n_entries = 0;
    uint32_t in_entry = 0;
    size_t count_at = 0;
    int64_t ts = stamp(c);
    *n_ops = 0;
    for (struct cluster_op *op = c->props.head; op != NULL; op = op->next) {
        bool full = in_entry == CAIRN_CLUSTER_ENTRY_CMDS_MAX ||
                    (in_entry > 0 &&
                     c->pbuild.len - c->pstart[n_entries - 1] + op->cmd.len >
                         CAIRN_CLUSTER_ENTRY_BYTES_SOFT);
        if (n_entries == 0 || full) {
            if (n_entries > 0)
                entry_count_set(c, count_at, in_entry);
            if (n_entries == RAFT_PROPOSE_BATCH_MAX)
                break;
            if (buf_reserve(&c->pbuild, ENTRY_HEADER) != 0)
                break;
            c->pstart[n_entries++] = c->pbuild.len;
            count_at = entry_begin(&c->pbuild, ts);
            in_entry = 0;
        }
        if (buf_reserve(&c->pbuild, REC_HEADER + op->cmd.len) != 0)
            break;
        (void)put_u8(&c->pbuild, REC_CMD);
        (void)put_u8(&c->pbuild, op->db);
        (void)put_u32(&c->pbuild, (uint32_t)op->cmd.len);
        (void)buf_append(&c->pbuild, op->cmd.data, op->cmd.len);
        op->pos = in_entry++;
        op->index = n_entries - 1; /* entry number until proposed */
        (*n_ops)++;
    }
    if (n_entries > 0)
        entry_count_set(c, count_at, in_entry);
    c->pstart[n_entries] = c->pbuild.len;
    for (uint32_t i = 0; i < n_entries; i++) {
        c->pbufs[i].data = c->pbuild.data + c->pstart[i];
        c->pbufs[i].len = (uint32_t)(c->pstart[i + 1] - c->pstart[i]);
    }
    return n_entries;
}

static const char *propose_error(int rc)
{
    switch (rc) {
    case CAIRN_ETRANSFER:
        return "TRYAGAIN leadership transfer in progress";
    case CAIRN_ENOTLEADER:
        return "TRYAGAIN this node lost leadership";
    case CAIRN_ETOOBIG:
        return "ERR command too large to replicate";
    case CAIRN_ENOMEM:
        return "OOM out of memory replicating the command";
    default:
        return "TRYAGAIN the write could not be proposed";
    }
}

void cluster_write_flush(struct cluster *c)
{
    /* Bounded: each round takes at least one op off props. */
    while (c->props.head != NULL) {
        if (!cluster_is_leader(c)) {
            cluster_write_leader_lost(c);
            return;
        }
        size_t n_ops;
        uint32_t n = build_entries(c, &n_ops);
        if (n == 0 || n_ops == 0) {
            cluster_op_fail(c, cluster_list_pop(&c->props),
                            "OOM out of memory replicating the command");
            continue;
        }
        struct raft_event ev = {.type = RAFT_EV_PROPOSE};
        ev.propose.bufs = c->pbufs;
        ev.propose.n = n;
        c->proposed.count = 0;
        int rc = cluster_step(c, &ev);
        if (rc == 0 && c->proposed.count != n)
            rc = CAIRN_EPROTO;
        for (size_t i = 0; i < n_ops; i++) {
            struct cluster_op *op = cluster_list_pop(&c->props);
            if (rc != 0) {
                cluster_op_fail(c, op, propose_error(rc));
                continue;
            }
            op->index += c->proposed.first_index;
            op->term = c->proposed.term;
            cluster_list_push(&c->writes, op);
        }
        c->proposals += n;
    }
}

/* Fails ops of `writes` that can no longer match an entry at or after
 * (index, pos) of term. */
static struct cluster_op *match_op(struct cluster *c, uint64_t index,
                                   uint64_t term, uint32_t pos)
{
    struct cluster_op *op;
    while ((op = c->writes.head) != NULL) {
        bool older = op->index < index || (op->index == index && op->pos < pos);
        bool replaced = op->index == index && op->term != term;
        if (!older && !replaced)
            break;
        cluster_list_remove(&c->writes, op);
        cluster_op_fail(c, op, CLUSTER_ERR_LOST);
    }
    if (op != NULL && op->index == index && op->pos == pos) {
        cluster_list_remove(&c->writes, op);
        return op;
    }
    return NULL;
}

/* Applies a command record; the reply goes to op's buffer (the caller
 * finishes op) or, without op, to a scratch buffer. */
static void apply_cmd_record(struct cluster *c, int db, const uint8_t *p,
                             size_t len, int64_t ts, struct cluster_op *op)
{
    struct buf *out = op != NULL ? &op->reply : &c->scratch_reply;
    buf_clear(out);
    struct resp_writer w;
    resp_writer_init(&w, out, op != NULL && op->proto == 3 ? 3 : 2);
    int argc = cluster_cmd_decode(c, p, len);
    const struct command *cmd =
        argc > 0 ? cmd_lookup(c->argv[0], c->argv_len[0]) : NULL;
    if (cmd == NULL || !(cmd->flags & CMD_WRITE) || !cmd_arity_ok(cmd, argc) ||
        db < 0 || db >= CAIRN_DB_COUNT) {
        LOG_WARNING("cluster: skipped a malformed command in the log");
        resp_reply_error(&w, "ERR malformed replicated command");
    } else {
        node_apply_cmd(c->node, cmd, db, argc, c->argv, c->argv_len, ts, &w);
    }
}

static void apply_peer(struct cluster *c, const uint8_t *p, size_t len)
{
    struct reader r = {.p = p, .len = len};
    uint64_t id = get_u64(&r);
    uint32_t port = get_u8(&r);
    port |= (uint32_t)get_u8(&r) << 8;
    char host[64];
    if (r.bad || id == 0 || port == 0 || r.len == 0 || r.len >= sizeof(host)) {
        LOG_WARNING("cluster: skipped a malformed peer record");
        return;
    }
    memcpy(host, r.p, r.len);
    host[r.len] = '\0';
    cluster_member_peer_add(c, id, host, (uint16_t)port);
}

int cluster_propose_peer(struct cluster *c, uint64_t id, const char *host,
                         uint16_t port)
{
    size_t hlen = strlen(host);
    struct buf *b = &c->pbuild;
    buf_clear(b);
    int rc = buf_reserve(b, ENTRY_HEADER + REC_HEADER + 10 + hlen);
    if (rc != 0)
        return rc;
    (void)put_u8(b, ENTRY_VERSION);
    (void)put_u64(b, (uint64_t)stamp(c));
    (void)put_u32(b, 1);
    (void)put_u8(b, REC_PEER);
    (void)put_u8(b, 0);
    (void)put_u32(b, (uint32_t)(10 + hlen));
    (void)put_u64(b, id);
    (void)put_u8(b, (uint8_t)(port & 0xff));
    (void)put_u8(b, (uint8_t)(port >> 8));
    (void)buf_append(b, host, hlen);
    struct raft_buf rb = {.data = b->data, .len = (uint32_t)b->len};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = &rb;
    ev.propose.n = 1;
    return cluster_step(c, &ev);
}

/* An allocation failed while record k of entry e was applied: its effect
 * here may differ from every other replica's (a command answered -OOM
 * here, applied there; a record skipped as malformed because its
 * arguments could not be decoded).  The entry is committed, so there is no
 * undoing it elsewhere: this replica stops (node_fatal), as Redis aborts
 * on a failed allocation.  Nothing more is applied or answered from this
 * state; the writes waiting here get an unknown-outcome error. */
static void apply_failed(struct cluster *c, const struct raft_entry *e,
                         uint32_t k, struct cluster_op *op)
{
    LOG_WARNING("cluster: out of memory applying record %u of entry %llu; "
                "this replica would diverge: stopping", (unsigned)k,
                (unsigned long long)e->index);
    c->apply_failed = true;
    if (op != NULL)
        cluster_op_fail(c, op, CLUSTER_ERR_APPLY);
    while ((op = cluster_list_pop(&c->writes)) != NULL)
        cluster_op_fail(c, op, CLUSTER_ERR_APPLY);
    node_fatal(c->node);
}

int cluster_apply_entry(struct cluster *c, const struct raft_entry *e)
{
    ASSERT(!c->apply_failed);
    struct reader r = {.p = e->data, .len = e->len};
    uint8_t version = get_u8(&r);
    int64_t ts = (int64_t)get_u64(&r);
    uint32_t count = get_u32(&r);
    if (r.bad || version != ENTRY_VERSION) {
        LOG_WARNING("cluster: skipped a malformed entry at index %llu",
                    (unsigned long long)e->index);
        return 0;
    }
    if (ts > c->last_ts)
        c->last_ts = ts;
    ts = c->last_ts;
    for (uint32_t k = 0; k < count && !r.bad; k++) {
        uint8_t kind = get_u8(&r);
        uint8_t db = get_u8(&r);
        uint32_t len = get_u32(&r);
        const uint8_t *p = get_bytes(&r, len);
        if (r.bad)
            break;
        struct cluster_op *op = NULL;
        if (kind == REC_CMD)
            op = match_op(c, e->index, e->term, k);
        /* Every allocation failure counts, even one the kv tolerates (a
         * table that cannot grow): telling them apart would need every
         * command path audited, and stopping is always safe. */
        uint64_t fails = cairn_alloc_fails();
        if (kind == REC_CMD) {
            apply_cmd_record(c, db, p, len, ts, op);
        } else if (kind == REC_EXPIRE && db < CAIRN_DB_COUNT) {
            node_apply_expire(c->node, db, (const char *)p, len, ts);
        } else if (kind == REC_EVICT && db < CAIRN_DB_COUNT) {
            node_apply_evict(c->node, db, (const char *)p, len, ts);
        } else if (kind == REC_PEER) {
            apply_peer(c, p, len);
        }
        if (cairn_alloc_fails() != fails) {
            apply_failed(c, e, k, op);
            return CAIRN_ENOMEM;
        }
        if (op != NULL)
            cluster_op_finish(c, op);
    }
    if (r.bad)
        LOG_WARNING("cluster: entry at index %llu is truncated",
                    (unsigned long long)e->index);
    c->entries_applied++;
    return 0;
}

void cluster_write_leader_lost(struct cluster *c)
{
    struct cluster_op *op;
    while ((op = cluster_list_pop(&c->writes)) != NULL)
        cluster_op_fail(c, op, CLUSTER_ERR_LOST);
    /* Never proposed: safe to send to the next leader. */
    while ((op = cluster_list_pop(&c->props)) != NULL) {
        if (op->remote) {
            cluster_op_fail(c, op, "TRYAGAIN this node lost leadership");
            continue;
        }
        op->kind = OP_WAIT;
        cluster_list_push(&c->waiting, op);
    }
}

/* ---- expiry under consensus ---- */

static void expire_visit(void *ctx, int db, const char *key, size_t klen)
{
    struct cluster *c = ctx;
    struct buf *b = &c->expire_entry;
    if (buf_reserve(b, REC_HEADER + klen) != 0)
        return;
    (void)put_u8(b, REC_EXPIRE);
    (void)put_u8(b, (uint8_t)db);
    (void)put_u32(b, (uint32_t)klen);
    (void)buf_append(b, key, klen);
    c->expire_count++;
}

void cluster_expire_propose(struct cluster *c)
{
    if (c->applied_index < c->expire_wait_index)
        return; /* the last batch of DELs is not applied yet */
    struct buf *b = &c->expire_entry;
    buf_clear(b);
    int64_t ts = stamp(c);
    (void)entry_begin(b, ts);
    if (b->len != ENTRY_HEADER)
        return;
    c->expire_count = 0;
    (void)kv_expire_scan(node_kv(c->node), ts, CAIRN_CLUSTER_EXPIRE_KEYS_MAX,
                         expire_visit, c);
    if (c->expire_count == 0)
        return;
    for (int i = 0; i < 4; i++)
        b->data[9 + i] = (char)(uint8_t)(c->expire_count >> (8 * i));
    struct raft_buf rb = {.data = b->data, .len = (uint32_t)b->len};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = &rb;
    ev.propose.n = 1;
    c->proposed.count = 0;
    if (cluster_step(c, &ev) == 0 && c->proposed.count == 1)
        c->expire_wait_index = c->proposed.first_index;
}

/* ---- eviction under consensus ---- */

static bool policy_volatile(enum kv_policy p)
{
    return p == KV_POLICY_VOLATILE_LRU || p == KV_POLICY_VOLATILE_LFU ||
           p == KV_POLICY_VOLATILE_RANDOM || p == KV_POLICY_VOLATILE_TTL;
}

/* Lower is a better victim (Redis's approximations: idle time for LRU,
 * the counter for LFU, the expire time for TTL). */
static int64_t victim_score(struct kv *kv, enum kv_policy p,
                            const struct kv_entry *e, int64_t now)
{
    switch (p) {
    case KV_POLICY_ALLKEYS_LRU:
    case KV_POLICY_VOLATILE_LRU:
        return -(int64_t)kv_entry_idle_s(kv, e, now);
    case KV_POLICY_ALLKEYS_LFU:
    case KV_POLICY_VOLATILE_LFU:
        return kv_entry_lfu(kv, e, now);
    case KV_POLICY_VOLATILE_TTL:
        return kv_entry_expire(e);
    default:
        return 0;
    }
}

/* Samples maxmemory-samples random keys of the next non-empty database and
 * returns the best victim for the policy (NULL if none qualifies). */
static const struct kv_entry *pick_victim(struct cluster *c, struct kv *kv,
                                          int64_t now, int *db_out)
{
    enum kv_policy p = c->cfg->maxmemory_policy;
    int db = -1;
    for (int i = 0; i < CAIRN_DB_COUNT && db < 0; i++) {
        int d = (c->evict_db + i) % CAIRN_DB_COUNT;
        if (kv_dbsize(kv, d) > 0)
            db = d;
    }
    if (db < 0)
        return NULL;
    c->evict_db = (db + 1) % CAIRN_DB_COUNT;
    const struct kv_entry *best = NULL;
    int64_t best_score = 0;
    for (int64_t s = 0; s < c->cfg->maxmemory_samples; s++) {
        const struct kv_entry *e = kv_random_key(kv, db, now);
        if (e == NULL)
            break;
        if (policy_volatile(p) && kv_entry_expire(e) == KV_NO_EXPIRE)
            continue;
        int64_t score = victim_score(kv, p, e, now);
        if (best == NULL || score < best_score) {
            best = e;
            best_score = score;
        }
    }
    *db_out = db;
    return best;
}

void cluster_evict_propose(struct cluster *c)
{
    struct kv *kv = node_kv(c->node);
    if (c->cfg->maxmemory_policy == KV_POLICY_NOEVICTION ||
        !kv_over_maxmemory(kv) || c->applied_index < c->evict_wait_index)
        return;
    struct buf *b = &c->expire_entry;
    buf_clear(b);
    int64_t now = stamp(c);
    (void)entry_begin(b, now);
    if (b->len != ENTRY_HEADER)
        return;
    /* Enough keys to get under the limit at the current average key size
     * (estimated from the memory and key counts), bounded per tick. */
    uint64_t keys = 0;
    for (int d = 0; d < CAIRN_DB_COUNT; d++)
        keys += kv_dbsize(kv, d);
    size_t used = kv_memory_used(kv);
    uint64_t over = used - c->cfg->maxmemory;
    uint64_t per_key = keys > 0 ? used / keys + 1 : 1;
    uint64_t want = over / per_key + 1;
    if (want > CAIRN_CLUSTER_EVICT_KEYS_MAX)
        want = CAIRN_CLUSTER_EVICT_KEYS_MAX;
    uint32_t n = 0;
    for (uint64_t i = 0; i < want; i++) {
        int db;
        const struct kv_entry *e = pick_victim(c, kv, now, &db);
        if (e == NULL)
            continue;
        size_t klen;
        const char *key = kv_entry_key(e, &klen);
        if (buf_reserve(b, REC_HEADER + klen) != 0)
            break;
        (void)put_u8(b, REC_EVICT);
        (void)put_u8(b, (uint8_t)db);
        (void)put_u32(b, (uint32_t)klen);
        (void)buf_append(b, key, klen);
        n++;
    }
    if (n == 0)
        return;
    for (int i = 0; i < 4; i++)
        b->data[9 + i] = (char)(uint8_t)(n >> (8 * i));
    struct raft_buf rb = {.data = b->data, .len = (uint32_t)b->len};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = &rb;
    ev.propose.n = 1;
    c->proposed.count = 0;
    if (cluster_step(c, &ev) == 0 && c->proposed.count == 1)
        c->evict_wait_index = c->proposed.first_index;
}
