/*
 * cluster_storage.c: durability `fsync`: the group's Raft state lives in
 * src/node/storage (segments, hard state, snapshots under `dir`).
 *
 * Start: storage_open loads what was durable; the Raft instance is created
 * from it in the open callback, the cache is loaded from the snapshot, and
 * the committed entries after it are re-applied as raft hands them out.
 * A directory holding nothing is a new member: the HELLO probe decides
 * between bootstrap (recorded with storage_bootstrap, so restarts see the
 * founding voters) and joining as a recovering node, exactly as in memory
 * mode (cluster_member.c).
 *
 * A node restarted without state that the leader re-admits (REJOIN_ACK)
 * first makes a rejoin mark durable (storage_rejoin_set) and only then
 * accepts Raft traffic; a restart with the mark comes up recovering, as if
 * the ACK had just arrived, so configurations of its lost incarnation in
 * the files (a snapshot or entries from before the re-admission) never
 * make it vote.  The mark is cleared once it is a voter again.
 *
 * Every update that asks for writes is queued with storage_persist before
 * the next raft_step (storage copies it); the completion, in order, is
 * stepped as RAFT_EV_PERSISTED.  A storage failure (I/O error, corrupt
 * file at open) stops the node: the on-disk state is unknown.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "kv/snapshot.h"
#include "node/cluster_int.h"
#include "node/node_int.h"
#include "node/storage.h"

static void storage_failed(struct cluster *c, const char *what, int status)
{
    LOG_WARNING("cluster: storage %s failed: %s (%s); stopping", what,
                cairn_strerror(status),
                c->storage != NULL ? storage_error(c->storage) : "");
    c->storage_failed = true;
    node_fatal(c->node);
}

static void persist_cb(void *ctx, int status, const struct storage_persisted *p)
{
    struct cluster *c = ctx;
    if (status != 0) {
        storage_failed(c, "write", status);
        return;
    }
    if (c->raft == NULL)
        return;
    struct raft_event ev = {.type = RAFT_EV_PERSISTED};
    ev.persisted.hard_state = p->hard_state;
    ev.persisted.last_index = p->last_index;
    ev.persisted.last_term = p->last_term;
    int rc = cluster_step(c, &ev);
    if (rc != 0)
        LOG_WARNING("cluster: persisted event refused: %s",
                    cairn_strerror(rc));
}

void cluster_storage_persist(struct cluster *c, const struct raft_update *up)
{
    if (c->storage_failed)
        return;
    bool writes = up->snapshot_chunk != NULL || up->snapshot_install != NULL ||
                  up->truncate_from != 0 || up->n_entries > 0 ||
                  up->has_hard_state || up->compact_index != 0;
    if (!writes)
        return;
    int rc = storage_persist(c->storage, up, c, persist_cb);
    if (rc != 0)
        storage_failed(c, "persist", rc);
}

static void snap_write_cb(void *ctx, int status)
{
    struct cluster *c = ctx;
    cluster_snap_written(c, status);
}

void cluster_storage_snapshot_write(struct cluster *c)
{
    c->snap_writing = true;
    int rc = storage_snapshot_write(c->storage, &c->snap_meta,
                                    c->snap_building.data, c, snap_write_cb);
    if (rc != 0) {
        c->snap_writing = false;
        LOG_WARNING("cluster: cannot write a snapshot: %s",
                    cairn_strerror(rc));
        buf_clear(&c->snap_building);
    }
}

static void bootstrap_cb(void *ctx, int status)
{
    struct cluster *c = ctx;
    if (status != 0)
        storage_failed(c, "bootstrap", status);
}

void cluster_storage_bootstrap(struct cluster *c, const struct raft_conf *conf)
{
    int rc = storage_bootstrap(c->storage, conf, c, bootstrap_cb);
    if (rc != 0)
        storage_failed(c, "bootstrap", rc);
}

static void rejoin_mark_cb(void *ctx, int status)
{
    struct cluster *c = ctx;
    if (status != 0) {
        storage_failed(c, "rejoin mark", status);
        return;
    }
    if (!c->rejoin_marking)
        return; /* a clearing mark */
    c->rejoin_marking = false;
    if (!c->recovering || c->rejoin_acked)
        return;
    /* Durable: a restart from here on is still recovering. */
    c->rejoin_acked = true;
}

void cluster_storage_rejoin_mark(struct cluster *c, uint64_t index)
{
    if (c->storage_failed)
        return;
    int rc = storage_rejoin_set(c->storage, index, c, rejoin_mark_cb);
    if (rc != 0)
        storage_failed(c, "rejoin mark", rc);
}

/* Creates the group from durable state (not a new member). */
static int restore(struct cluster *c, const struct raft_restore *rs,
                   const void *snap, size_t snap_len)
{
    if (snap_len > 0) {
        int rc = cluster_snap_load(c, snap, snap_len);
        if (rc != 0) {
            LOG_WARNING("cluster: the snapshot on disk does not load: %s",
                        cairn_strerror(rc));
            return rc;
        }
        buf_clear(&c->snap_recv);
        if (buf_append(&c->snap_recv, snap, snap_len) != 0)
            return CAIRN_ENOMEM;
        c->install_meta = rs->snapshot;
        c->snap_handback = true; /* raft serves it when this node leads */
    }
    c->applied_index = rs->snapshot.last_index;
    c->applied_conf = rs->snapshot.conf;
    c->snap_index = rs->snapshot.last_index;
    int rc = raft_create(&c->rcfg, rs, &c->raft);
    if (rc != 0)
        return rc;
    c->starting = false;
    c->role = RAFT_FOLLOWER;
    uint64_t mark = storage_rejoin_index(c->storage);
    if (mark != 0) {
        /* Restarted in the middle of a rejoin: the configurations in these
         * files up to the mark can list the lost incarnation as a voter. */
        c->recovering = true;
        c->rejoin_acked = true;
        c->rejoin_index = mark;
        LOG_NOTICE("cluster: still rejoining (re-admitted at index %llu): "
                   "no vote until a voter again", (unsigned long long)mark);
        cluster_member_applied_conf(c);
    }
    LOG_NOTICE("cluster: restored term %llu, snapshot at %llu, %zu log "
               "entries from %s", (unsigned long long)rs->hard_state.term,
               (unsigned long long)rs->snapshot.last_index, rs->n_entries,
               c->cfg->dir);
    struct raft_event ev = {.type = RAFT_EV_TICK};
    (void)cluster_step(c, &ev);
    return 0;
}

static void open_cb(void *ctx, int status, const struct raft_restore *rs,
                    const void *snap, size_t snap_len)
{
    struct cluster *c = ctx;
    if (status != 0) {
        storage_failed(c, "open", status);
        return;
    }
    bool fresh = rs->hard_state.term == 0 && rs->n_entries == 0 &&
                 rs->snapshot.last_index == 0 &&
                 rs->snapshot.conf.n_members == 0;
    if (fresh) {
        storage_restore_release(c->storage);
        c->starting = true; /* HELLO probe, then bootstrap or recover */
        if (c->n_peers == 1)
            (void)cluster_member_create(c, true);
        cluster_tick_arm(c, cluster_now(c));
        return;
    }
    int rc = restore(c, rs, snap, snap_len);
    storage_restore_release(c->storage);
    if (rc != 0)
        storage_failed(c, "restore", rc);
}

int cluster_storage_start(struct cluster *c)
{
    int rc = storage_open(c->io, c->cfg->dir, CLUSTER_GROUP_ID, NULL, c,
                          open_cb, &c->storage);
    if (rc != 0) {
        LOG_WARNING("cluster: cannot open storage in '%s': %s", c->cfg->dir,
                    cairn_strerror(rc));
        c->storage = NULL;
        return rc == CAIRN_EINVAL ? CAIRN_ECONFIG : rc;
    }
    LOG_NOTICE("cluster: durability fsync, loading state from '%s'",
               c->cfg->dir);
    return 0;
}

void cluster_storage_close(struct cluster *c)
{
    if (c->storage != NULL)
        storage_close(c->storage);
    c->storage = NULL;
}
