/*
 * cluster_snap.c: snapshots of the cache for the Raft log.
 *
 * Taking: once CAIRN_CLUSTER_SNAPSHOT_ENTRIES entries were applied since
 * the last snapshot, kv_snapshot_begin() fixes the state at the applied
 * index (kv/snapshot.h: copy before write, no fork, no pause) and the tick
 * serializes it in chunks of CAIRN_CLUSTER_SNAPSHOT_CHUNK bytes per turn
 * while applies go on.  When done, RAFT_EV_SNAPSHOT_TAKEN (meta: that
 * index, its term, the configuration as of that index) lets raft compact
 * its log; the bytes stay alive (c->snap_data) until the next snapshot was
 * handed over, because InstallSnapshot chunks point into them.
 *
 * Receiving (a follower far behind): chunks are stored in c->snap_recv at
 * their offsets; on install the bytes are loaded into a fresh kv and
 * swapped in (kv_snapshot_load: the live kv is unchanged on error), the
 * applied index jumps to the snapshot's, and the snapshot is handed back
 * to raft after the step (so this node can serve it when it leads).
 *
 * Bytes: a prefix "CAIRNCL2" | i64 timestamp floor | u32 count | count x
 * (u64 id | u16 client port | u8 host length | host), then the kv snapshot
 * (kv/snapshot.h).  The prefix holds the replicated state that lives
 * outside the kv: the address book as of the snapshot's index (CLUSTER
 * ADDNODE records may have been compacted away) and c->last_ts, the
 * highest entry timestamp applied up to that index.  Every replica applies
 * an entry at max(its timestamp, that floor), so a replica that took its
 * state from a snapshot without the floor resolved later relative TTLs to
 * other absolute times (sim seed 640, bug 7).  "CAIRNCL1" (no floor) is
 * still read, with a floor of 0.
 *
 * Invariants: the configuration in a snapshot's meta is the one in force
 * at its index (c->applied_conf, updated as CONFIG entries are applied);
 * the floor in its prefix is c->last_ts at that index (written right after
 * kv_snapshot_begin, before anything else is applied).
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "node/cluster_int.h"
#include "node/node_int.h"

#define SNAP_MAGIC "CAIRNCL2"
#define SNAP_MAGIC_V1 "CAIRNCL1" /* no timestamp floor */

static int prefix_write(struct cluster *c, struct buf *b)
{
    size_t need = 20;
    for (size_t i = 0; i < c->n_peers; i++)
        need += 11 + strlen(c->peers[i].host);
    int rc = buf_reserve(b, need);
    if (rc != 0)
        return rc;
    (void)buf_append(b, SNAP_MAGIC, 8);
    (void)put_u64(b, (uint64_t)c->last_ts);
    (void)put_u32(b, (uint32_t)c->n_peers);
    for (size_t i = 0; i < c->n_peers; i++) {
        const struct cluster_peer *p = &c->peers[i];
        size_t hl = strlen(p->host);
        (void)put_u64(b, p->id);
        (void)put_u8(b, (uint8_t)(p->port & 0xff));
        (void)put_u8(b, (uint8_t)(p->port >> 8));
        (void)put_u8(b, (uint8_t)hl);
        (void)buf_append(b, p->host, hl);
    }
    return 0;
}

int cluster_snap_load(struct cluster *c, const void *data, size_t len)
{
    struct reader r = {.p = data, .len = len};
    const uint8_t *magic = get_bytes(&r, 8);
    if (r.bad)
        return CAIRN_ECORRUPT;
    int64_t floor_ts = 0;
    if (memcmp(magic, SNAP_MAGIC, 8) == 0)
        floor_ts = (int64_t)get_u64(&r);
    else if (memcmp(magic, SNAP_MAGIC_V1, 8) != 0)
        return CAIRN_ECORRUPT;
    uint32_t n = get_u32(&r);
    if (r.bad || n > RAFT_MEMBERS_MAX)
        return CAIRN_ECORRUPT;
    struct config_peer peers[RAFT_MEMBERS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        peers[i].id = get_u64(&r);
        uint32_t port = get_u8(&r);
        port |= (uint32_t)get_u8(&r) << 8; /* two statements: in order */
        peers[i].port = (uint16_t)port;
        uint8_t hl = get_u8(&r);
        const uint8_t *h = get_bytes(&r, hl);
        if (r.bad || hl == 0 || hl >= sizeof(peers[i].host) ||
            peers[i].id == 0 || peers[i].port == 0)
            return CAIRN_ECORRUPT;
        memcpy(peers[i].host, h, hl);
        peers[i].host[hl] = '\0';
    }
    uint64_t tag = 0;
    int rc = kv_snapshot_load(node_kv(c->node), r.p, r.len, io_wall_ms(c->io),
                              &tag);
    if (rc != 0)
        return rc;
    /* Replaced, not raised: the state is the snapshot's, whatever this
     * node applied before. */
    c->last_ts = floor_ts;
    for (uint32_t i = 0; i < n; i++)
        cluster_member_peer_add(c, peers[i].id, peers[i].host, peers[i].port);
    return 0;
}

void cluster_snap_conf_applied(struct cluster *c, const struct raft_entry *e)
{
    struct raft_conf conf;
    if (raft_conf_decode(e->data, e->len, &conf) == 0)
        c->applied_conf = conf;
}

void cluster_snap_maybe_begin(struct cluster *c)
{
    /* After a failed apply the kv holds part of an entry beyond the
     * applied index: never a snapshot of that. */
    if (c->snap_w != NULL || c->raft == NULL || c->snap_writing ||
        c->apply_failed)
        return;
    if (c->applied_index - c->snap_index < c->snap_every)
        return;
    uint64_t term = raft_term_at(c->raft, c->applied_index);
    if (term == 0)
        return;
    int rc = kv_snapshot_begin(node_kv(c->node), c->applied_index, &c->snap_w);
    if (rc != 0) {
        LOG_WARNING("cluster: cannot start a snapshot: %s",
                    cairn_strerror(rc));
        return;
    }
    memset(&c->snap_meta, 0, sizeof(c->snap_meta));
    c->snap_meta.last_index = c->applied_index;
    c->snap_meta.last_term = term;
    c->snap_meta.conf = c->applied_conf;
    buf_clear(&c->snap_building);
    if (prefix_write(c, &c->snap_building) != 0) {
        kv_snapshot_end(c->snap_w);
        c->snap_w = NULL;
        return;
    }
    LOG_VERBOSE("cluster: snapshot at index %llu started",
                (unsigned long long)c->applied_index);
}

/* Hands a snapshot (meta, bytes) to raft; on success the bytes become
 * c->snap_data (kept while raft may point into them) and *bytes is left
 * empty. */
static void snap_taken(struct cluster *c, const struct raft_snapshot_meta *m,
                       struct buf *bytes)
{
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    ev.snapshot.meta = *m;
    ev.snapshot.data = bytes->data;
    int rc = cluster_step(c, &ev);
    if (rc != 0) {
        LOG_WARNING("cluster: snapshot at %llu refused: %s",
                    (unsigned long long)m->last_index, cairn_strerror(rc));
        buf_clear(bytes);
        return;
    }
    /* raft now points at the new bytes: the old ones may go. */
    struct buf old = c->snap_data;
    c->snap_data = *bytes;
    *bytes = old;
    buf_clear(bytes);
    buf_shrink(bytes, 0);
    if (m->last_index > c->snap_index)
        c->snap_index = m->last_index;
    c->snapshots_taken++;
    LOG_VERBOSE("cluster: snapshot at index %llu handed to raft (%zu bytes)",
                (unsigned long long)m->last_index, c->snap_data.len);
}

void cluster_snap_progress(struct cluster *c)
{
    if (c->snap_w == NULL)
        return;
    int rc = kv_snapshot_next(c->snap_w, &c->snap_building,
                              CAIRN_CLUSTER_SNAPSHOT_CHUNK);
    if (rc == 1)
        return;
    kv_snapshot_end(c->snap_w);
    c->snap_w = NULL;
    if (rc < 0) {
        if (rc != CAIRN_ESTALE)
            LOG_WARNING("cluster: snapshot failed: %s", cairn_strerror(rc));
        buf_clear(&c->snap_building);
        return;
    }
    c->snap_meta.size = c->snap_building.len;
    if (c->storage != NULL) {
        cluster_storage_snapshot_write(c);
        return;
    }
    snap_taken(c, &c->snap_meta, &c->snap_building);
}

void cluster_snap_written(struct cluster *c, int status)
{
    c->snap_writing = false;
    if (status != 0) {
        LOG_WARNING("cluster: snapshot write failed: %s",
                    cairn_strerror(status));
        buf_clear(&c->snap_building);
        return;
    }
    snap_taken(c, &c->snap_meta, &c->snap_building);
}

void cluster_snap_chunk(struct cluster *c, const struct raft_snapshot_chunk *ch)
{
    if (ch->offset == 0 || ch->offset < c->snap_recv.len)
        c->snap_recv.len = (size_t)ch->offset;
    if (ch->offset != c->snap_recv.len) {
        LOG_WARNING("cluster: snapshot chunk at %llu with a gap; dropped",
                    (unsigned long long)ch->offset);
        return;
    }
    if (buf_append(&c->snap_recv, ch->data, ch->len) != 0)
        LOG_WARNING("cluster: no memory for a snapshot chunk");
}

void cluster_snap_install(struct cluster *c, const struct raft_snapshot_meta *m)
{
    if (c->snap_w != NULL) {
        kv_snapshot_end(c->snap_w); /* voided by the install anyway */
        c->snap_w = NULL;
        if (!c->snap_writing)
            buf_clear(&c->snap_building);
    }
    int rc = CAIRN_ECORRUPT;
    if (c->snap_recv.len == m->size)
        rc = cluster_snap_load(c, c->snap_recv.data, c->snap_recv.len);
    if (rc != 0) {
        /* raft considers it installed: this replica would diverge. */
        LOG_WARNING("cluster: cannot load the leader's snapshot at %llu: %s; "
                    "stopping", (unsigned long long)m->last_index,
                    cairn_strerror(rc));
        node_fatal(c->node);
        return;
    }
    c->applied_index = m->last_index;
    c->applied_conf = m->conf;
    c->snap_index = m->last_index;
    c->install_meta = *m;
    c->snap_handback = true;
    c->snapshots_installed++;
    cluster_member_applied_conf(c); /* may end recovering */
    LOG_NOTICE("cluster: installed the leader's snapshot at index %llu "
               "(%zu bytes)", (unsigned long long)m->last_index,
               c->snap_recv.len);
}

void cluster_snap_handback(struct cluster *c)
{
    if (!c->snap_handback)
        return;
    c->snap_handback = false;
    /* The received bytes become the snapshot this node serves. */
    snap_taken(c, &c->install_meta, &c->snap_recv);
}

void cluster_snap_free(struct cluster *c)
{
    if (c->snap_w != NULL)
        kv_snapshot_end(c->snap_w);
    buf_free(&c->snap_building);
    buf_free(&c->snap_data);
    buf_free(&c->snap_recv);
}
