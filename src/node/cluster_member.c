/*
 * cluster_member.c: formation, membership changes and the memory-mode
 * restart rule.
 *
 * Formation.  With durability `memory` a node cannot tell a first start
 * from a restart by itself, so before creating its Raft instance it asks
 * every peer (HELLO) whether the group is already formed (the peer has a
 * term > 0 or a log).  If every peer answers "not formed" the node
 * bootstraps: all configured peers are voters in an identical
 * configuration at index 0 (raft_restore.snapshot.conf), so the founding
 * members agree without a log entry.  If any peer answers "formed" the node
 * is a restart (or a late starter) and comes up RECOVERING: its Raft
 * instance has an empty configuration, it drops every Raft message and asks
 * the leader to re-admit it (REJOIN, repeated every 200 ms).  A REJOIN can
 * arrive late (sent before the node was re-admitted, to this leader or to
 * one that has lost office since), and re-admitting starts by removing
 * the member: done for a node that holds state again, that removes a
 * healthy voter (the simulator's bug 6).  So the leader first asks
 * (REJOIN_CHECK with a nonce, kept for its term) and starts only on a
 * REJOIN echoing that nonce, which the node sends only while it holds
 * nothing (recovering, not yet acknowledged).  The answer was made after
 * the question, by the live process, in this leader's term: no other
 * leader can have committed its promotion in between, so the removal
 * drops only a member that has nothing.  An acknowledged learner's REJOIN
 * says so (flag) and can only get it added back as a learner and
 * promoted, never removed.  Re-admitting, the leader
 * removes the old incarnation (if still a member), adds the node as a
 * learner, answers REJOIN_ACK carrying the index of that learner entry
 * (from then on the node accepts Raft traffic: per-connection order means
 * everything after the ACK is addressed to the learner), and promotes it
 * once it holds everything committed (raft refuses earlier with
 * CAIRN_EAGAIN).  The node stays RECOVERING until a configuration after
 * that index makes it a voter (in memory mode once appended after the
 * ACK's entry, else once applied: cluster_member_appended_conf): replaying
 * the log it also meets configurations of its old incarnation that list
 * it as a voter, and those must not count.  A recovering node answers no
 * Raft message before the ACK (cluster_member_accepts), so an empty
 * restart never votes or acknowledges with state it lost; after it, it
 * grants votes by Raft's rules, as every learner does (a learner may have
 * been promoted by an entry it has not received).  With no answer from some peer the node
 * keeps waiting: it never guesses.  In fsync mode an empty directory (a wiped
 * disk) takes the same path; the ACK takes effect once a durable rejoin
 * mark holds its index (cluster_storage.c), so a crash while catching up
 * restarts still recovering.  A recovering node also drops vote responses
 * and TimeoutNow: old-incarnation configurations met while catching up can
 * make raft campaign, and its own vote would count.
 *
 * Membership tasks run on the leader from cron, one raft change at a time
 * (raft: CAIRN_EBUSY while another is uncommitted; retried next tick).
 */
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "node/cluster_int.h"
#include "node/node_int.h"

enum task_stage {
    STAGE_REMOVE_OLD = 1, /* rejoin: drop the old incarnation */
    STAGE_ADD = 2,        /* add as learner, then ACK */
    STAGE_PROMOTE = 3,    /* learner -> voter once caught up */
    STAGE_REMOVE = 4,     /* DELNODE: remove and forget */
};

static void send_small(struct cluster *c, uint64_t to, uint8_t type,
                       int body)
{
    cluster_frame_begin(c, type);
    if (body >= 0)
        (void)put_u8(&c->frame, (uint8_t)body);
    (void)cluster_send_frame(c, to, c->frame.data, c->frame.len);
}

/* REJOIN_ACK: u64 learner index | u64 incarnation it is for (0: any, an
 * admin ADDNODE) | u64 term of the leader's entry at that index (0:
 * unknown).  Index and term name the entry: a log holding it holds the
 * leader's log up to it, where the node is a learner of this life. */
static void send_ack(struct cluster *c, const struct cluster_task *t)
{
    cluster_frame_begin(c, CLUSTER_FRAME_REJOIN_ACK);
    (void)put_u64(&c->frame, t->learner_index);
    (void)put_u64(&c->frame, t->incarnation);
    (void)put_u64(&c->frame, raft_term_at(c->raft, t->learner_index));
    (void)cluster_send_frame(c, t->id, c->frame.data, c->frame.len);
}

/* REJOIN: u8 flags | u64 nonce (0, or the echo of a REJOIN_CHECK) |
 * u64 incarnation (drawn at start: tells two lives of one id apart). */
#define REJOIN_ACKED 1u /* flags: an acknowledged learner of this life */

static void send_rejoin(struct cluster *c, uint64_t to, uint64_t nonce)
{
    cluster_frame_begin(c, CLUSTER_FRAME_REJOIN);
    (void)put_u8(&c->frame, c->rejoin_acked ? REJOIN_ACKED : 0);
    (void)put_u64(&c->frame, nonce);
    (void)put_u64(&c->frame, c->incarnation);
    (void)cluster_send_frame(c, to, c->frame.data, c->frame.len);
}

static bool self_is_voter(const struct cluster *c)
{
    if (c->raft == NULL)
        return false;
    struct raft_status st;
    raft_status_get(c->raft, &st);
    const struct raft_member *m = raft_conf_find(&st.conf, c->self_id);
    return m != NULL && m->role == RAFT_VOTER;
}

int cluster_member_create(struct cluster *c, bool bootstrap)
{
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    if (bootstrap) {
        /* Peers are kept in configuration order; raft wants ids sorted. */
        uint64_t ids[RAFT_MEMBERS_MAX];
        size_t n = c->n_peers;
        for (size_t i = 0; i < n; i++)
            ids[i] = c->peers[i].id;
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
                uint64_t t = ids[j];
                ids[j] = ids[j - 1];
                ids[j - 1] = t;
            }
        rs.snapshot.conf.n_members = (uint32_t)n;
        for (size_t i = 0; i < n; i++) {
            rs.snapshot.conf.members[i].id = ids[i];
            rs.snapshot.conf.members[i].role = RAFT_VOTER;
        }
        if (c->storage != NULL)
            cluster_storage_bootstrap(c, &rs.snapshot.conf);
    }
    c->applied_conf = rs.snapshot.conf;
    int rc = raft_create(&c->rcfg, &rs, &c->raft);
    if (rc != 0) {
        LOG_WARNING("cluster: cannot create the raft group: %s",
                    cairn_strerror(rc));
        return rc;
    }
    c->starting = false;
    c->recovering = !bootstrap;
    c->role = RAFT_FOLLOWER;
    LOG_NOTICE("cluster: node %llu %s", (unsigned long long)c->self_id,
               bootstrap ? "bootstraps the group with every configured peer "
                           "as a voter"
                         : "restarted without state: recovering, asking the "
                           "leader to re-admit it");
    struct raft_event ev = {.type = RAFT_EV_TICK};
    (void)cluster_step(c, &ev);
    return 0;
}

int cluster_member_start(struct cluster *c)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        struct cluster_peer *p = &c->peers[i];
        if (p->id == c->self_id || c->net.peer_set == NULL)
            continue;
        int rc = c->net.peer_set(c->net.ctx, p->id, p->host, p->peer_port);
        if (rc != 0) {
            LOG_WARNING("cluster: cannot add peer %llu at %s:%u: %s",
                        (unsigned long long)p->id, p->host, p->peer_port,
                        cairn_strerror(rc));
            return rc;
        }
    }
    if (c->cfg->durability == CONFIG_DURABILITY_FSYNC)
        return cluster_storage_start(c); /* the open callback goes on */
    if (c->n_peers == 1)
        return cluster_member_create(c, true);
    c->starting = true;
    cluster_tick_arm(c, cluster_now(c)); /* the probe runs from the tick */
    return 0;
}

void cluster_member_peer_add(struct cluster *c, uint64_t id, const char *host,
                             uint16_t port)
{
    struct cluster_peer *p = cluster_peer_find(c, id);
    if (p != NULL && p->port == port && strcmp(p->host, host) == 0)
        return;
    if (p == NULL) {
        if (c->n_peers == RAFT_MEMBERS_MAX) {
            LOG_WARNING("cluster: address book full; node %llu not added",
                        (unsigned long long)id);
            return;
        }
        p = &c->peers[c->n_peers++];
        memset(p, 0, sizeof(*p));
        p->id = id;
        buf_init(&p->fwd_out, 0);
        buf_init(&p->resp_out, 0);
    }
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = port;
    p->peer_port = (uint16_t)(port + 10000u);
    LOG_NOTICE("cluster: node %llu is at %s:%u (peer port %u)",
               (unsigned long long)id, p->host, p->port, p->peer_port);
    if (id != c->self_id && c->net.peer_set != NULL)
        (void)c->net.peer_set(c->net.ctx, id, p->host, p->peer_port);
}

static bool formed(const struct cluster *c)
{
    if (c->starting || c->raft == NULL)
        return false;
    if (c->recovering)
        return true;
    struct raft_status st;
    raft_status_get(c->raft, &st);
    return st.term > 0 || st.last_index > 0;
}

static void start_decide(struct cluster *c)
{
    bool all_fresh = true;
    for (size_t i = 0; i < c->n_peers; i++) {
        struct cluster_peer *p = &c->peers[i];
        if (p->id == c->self_id)
            continue;
        if (p->formed_known && p->formed) {
            (void)cluster_member_create(c, false);
            return;
        }
        if (!p->formed_known)
            all_fresh = false;
    }
    if (all_fresh)
        (void)cluster_member_create(c, true);
}

void cluster_member_hello_recv(struct cluster *c, uint64_t from,
                               struct reader *r, bool resp)
{
    if (!resp) {
        if (c->raft == NULL && !c->starting)
            return; /* still loading its storage: no answer yet */
        send_small(c, from, CLUSTER_FRAME_HELLO_RESP, formed(c) ? 1 : 0);
        return;
    }
    uint8_t f = get_u8(r);
    struct cluster_peer *p = cluster_peer_find(c, from);
    if (r->bad || p == NULL)
        return;
    p->formed_known = true;
    p->formed = f != 0;
    if (c->starting)
        start_decide(c);
}

static struct cluster_task *task_find(struct cluster *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_tasks; i++)
        if (c->tasks[i].id == id)
            return &c->tasks[i];
    return NULL;
}

static int task_add(struct cluster *c, uint64_t id, uint8_t stage,
                    uint64_t incarnation)
{
    struct cluster_task *t = task_find(c, id);
    if (t == NULL) {
        if (c->n_tasks == RAFT_MEMBERS_MAX)
            return CAIRN_EFULL;
        t = &c->tasks[c->n_tasks++];
    }
    t->id = id;
    t->stage = stage;
    t->incarnation = incarnation;
    return 0;
}

static void task_drop(struct cluster *c, struct cluster_task *t)
{
    size_t i = (size_t)(t - c->tasks);
    ASSERT(i < c->n_tasks);
    c->tasks[i] = c->tasks[--c->n_tasks];
}

/* The recovering node's side: an ACK for this life makes it a learner;
 * a CHECK is answered only while it still holds nothing (not yet
 * acknowledged). */
static void rejoin_node_recv(struct cluster *c, uint64_t from,
                             struct reader *r, uint8_t type)
{
    uint64_t v = get_u64(r);
    if (r->bad || !c->recovering || c->rejoin_acked || c->rejoin_marking)
        return;
    if (type == CLUSTER_FRAME_REJOIN_CHECK) {
        send_rejoin(c, from, v);
        return;
    }
    uint64_t inc = get_u64(r);
    if (r->bad || (inc != 0 && inc != c->incarnation))
        return; /* meant for an earlier life of this id */
    uint64_t term = r->len >= 8 ? get_u64(r) : 0; /* older ACKs: none */
    LOG_NOTICE("cluster: re-admitted as a learner by %llu at index %llu; "
               "catching up", (unsigned long long)from,
               (unsigned long long)v);
    c->rejoin_index = v;
    c->rejoin_term = term;
    if (c->storage == NULL) {
        c->rejoin_acked = true;
    } else {
        /* fsync: accept Raft traffic once a restart would know. */
        c->rejoin_marking = true;
        cluster_storage_rejoin_mark(c, v);
    }
}

/* Leader: a REJOIN from a node that says it is an acknowledged learner
 * of this life (it holds state).  It is re-added as a learner if its
 * learner entry was lost, and promoted; never removed. */
static void rejoin_acked_recv(struct cluster *c, uint64_t from,
                              uint64_t inc)
{
    struct cluster_task *t = task_find(c, from);
    if (t != NULL) {
        if (t->stage == STAGE_PROMOTE && t->incarnation == inc)
            send_ack(c, t);
        return;
    }
    struct raft_status st;
    raft_status_get(c->raft, &st);
    const struct raft_member *m = raft_conf_find(&st.conf, from);
    if (m != NULL && m->role == RAFT_VOTER)
        return; /* promoted already; it will apply that */
    (void)task_add(c, from, STAGE_ADD, inc);
}

void cluster_member_rejoin_recv(struct cluster *c, uint64_t from,
                                struct reader *r, uint8_t type)
{
    if (type != CLUSTER_FRAME_REJOIN) {
        rejoin_node_recv(c, from, r, type);
        return;
    }
    uint8_t flags = get_u8(r);
    uint64_t nonce = get_u64(r);
    uint64_t inc = get_u64(r);
    struct cluster_peer *p = cluster_peer_find(c, from);
    if (r->bad || p == NULL || inc == 0 || !cluster_is_leader(c))
        return;
    if (flags & REJOIN_ACKED) {
        rejoin_acked_recv(c, from, inc);
        return;
    }
    struct cluster_task *t = task_find(c, from);
    if (t != NULL && t->incarnation == inc) {
        /* Re-admitting this very life.  At PROMOTE it is a learner: the
         * ACK may have been lost or come before the node was ready. */
        if (t->stage == STAGE_PROMOTE)
            send_ack(c, t);
        return;
    }
    /* No task for this life: a DELNODE, or a task for an earlier life
     * (dead now: its slot is replaced, progress and all). */
    if (nonce == 0 || nonce != p->rejoin_nonce ||
        p->rejoin_nonce_term != c->term) {
        /* Possibly late (sent before this node was re-admitted, even by
         * another leader): ask it now whether it still holds nothing.
         * The same nonce while this term lasts, so a slow answer counts. */
        if (p->rejoin_nonce == 0 || p->rejoin_nonce_term != c->term) {
            p->rejoin_nonce = cairn_rng_next(&c->rng) | 1u;
            p->rejoin_nonce_term = c->term;
        }
        cluster_frame_begin(c, CLUSTER_FRAME_REJOIN_CHECK);
        (void)put_u64(&c->frame, p->rejoin_nonce);
        (void)cluster_send_frame(c, from, c->frame.data, c->frame.len);
        return;
    }
    p->rejoin_nonce = 0;
    LOG_NOTICE("cluster: node %llu restarted without state; re-admitting "
               "it", (unsigned long long)from);
    (void)task_add(c, from, STAGE_REMOVE_OLD, inc);
}

static int change(struct cluster *c, uint8_t op, uint64_t id)
{
    struct raft_event ev = {.type = RAFT_EV_MEMBERSHIP};
    ev.change.op = op;
    ev.change.id = id;
    c->proposed.count = 0;
    return cluster_step(c, &ev);
}

/* A removal or a promotion takes effect in the leader's log as soon as it
 * is appended: the voters of the new configuration must hold a majority
 * that answers (this node, or a peer that answered an append, heartbeat or
 * snapshot of this term within three heartbeat intervals, at most the
 * longest election timeout, over a link that has not broken since: a live
 * follower answers every heartbeat, and a longer window let a member dead
 * for half a second count, sim seed 2774), else the change can never commit and no
 * leader can be elected in that configuration (a member down or restarted
 * empty counts in it but never answers).  Promoting a learner that just
 * died into a group whose majority is thin would stall it for good.
 * Removing a learner changes no quorum. */
static bool change_keeps_quorum(struct cluster *c,
                                const struct raft_conf *conf, uint64_t id,
                                bool promote)
{
    uint64_t now = cluster_now(c);
    uint64_t window = CAIRN_MIN((uint64_t)c->rcfg.election_timeout_ms_max,
                                3 * (uint64_t)c->rcfg.heartbeat_interval_ms);
    uint32_t voters = 0, live = 0;
    for (uint32_t i = 0; i < conf->n_members; i++) {
        const struct raft_member *m = &conf->members[i];
        bool voter = m->role == RAFT_VOTER;
        if (m->id == id)
            voter = promote;
        if (!voter)
            continue;
        voters++;
        const struct cluster_peer *p = cluster_peer_find(c, m->id);
        if (m->id == c->self_id ||
            (p != NULL && p->answered_ms != 0 &&
             now - p->answered_ms <= window))
            live++;
    }
    return voters == 0 || live >= voters / 2 + 1;
}

enum task_result {
    TASK_BUSY = 0,    /* in progress, or raft asked to retry */
    TASK_DONE = 1,
    TASK_BLOCKED = 2, /* would lose the quorum now: let others run */
};

/* Proposes removing member m (TASK_DONE once proposed). */
static enum task_result remove_member(struct cluster *c,
                                      const struct raft_status *st,
                                      const struct raft_member *m,
                                      uint64_t id)
{
    if (m->role == RAFT_VOTER && !change_keeps_quorum(c, &st->conf, id, false))
        return TASK_BLOCKED;
    if (change(c, RAFT_CHANGE_REMOVE, id) != 0)
        return TASK_BUSY;
    LOG_NOTICE("cluster: removing node %llu from the configuration",
               (unsigned long long)id);
    return TASK_DONE;
}

/* Advances one task by at most one raft change. */
static enum task_result task_run(struct cluster *c, struct cluster_task *t)
{
    struct raft_status st;
    raft_status_get(c->raft, &st);
    const struct raft_member *m = raft_conf_find(&st.conf, t->id);
    enum task_result res;
    int rc;
    switch (t->stage) {
    case STAGE_REMOVE_OLD:
        if (m != NULL && (res = remove_member(c, &st, m, t->id)) != TASK_DONE)
            return res;
        t->stage = STAGE_ADD;
        return TASK_BUSY;
    case STAGE_ADD:
        if (m == NULL) {
            if ((rc = change(c, RAFT_CHANGE_ADD_LEARNER, t->id)) != 0)
                return TASK_BUSY;
            LOG_NOTICE("cluster: adding node %llu as a learner",
                       (unsigned long long)t->id);
            t->learner_index = c->proposed.count > 0 ? c->proposed.first_index
                                                     : st.last_index + 1;
        } else if (m->role == RAFT_VOTER) {
            /* An ADDNODE of a voter: nothing to add.  No ACK: a recovering
             * node of that id would take it and sit in the voter slot of
             * its lost life, never removed, never applying a promotion
             * (sim seed 622); its REJOIN re-admits it properly. */
            return TASK_DONE;
        } else {
            t->learner_index = st.last_index; /* conservative */
        }
        send_ack(c, t);
        t->stage = STAGE_PROMOTE;
        return TASK_BUSY;
    case STAGE_PROMOTE:
        if (m == NULL)
            return TASK_DONE; /* removed meanwhile */
        if (m->role == RAFT_VOTER)
            return TASK_DONE;
        if (!change_keeps_quorum(c, &st.conf, t->id, true))
            return TASK_BLOCKED;
        rc = change(c, RAFT_CHANGE_PROMOTE, t->id);
        if (rc == 0)
            LOG_NOTICE("cluster: node %llu caught up; promoted to voter",
                       (unsigned long long)t->id);
        return rc == 0 ? TASK_DONE : TASK_BUSY;
    case STAGE_REMOVE:
        if (m == NULL)
            return TASK_DONE;
        return remove_member(c, &st, m, t->id);
    default:
        UNREACHABLE();
    }
}

void cluster_member_cron(struct cluster *c)
{
    uint64_t now = cluster_now(c);
    if (c->starting) {
        if (now - c->hello_sent_ms < 100)
            return;
        c->hello_sent_ms = now;
        for (size_t i = 0; i < c->n_peers; i++)
            if (c->peers[i].id != c->self_id)
                send_small(c, c->peers[i].id, CLUSTER_FRAME_HELLO, -1);
        return;
    }
    if (c->raft == NULL)
        return;
    if (c->recovering && !self_is_voter(c)) {
        if (now - c->hello_sent_ms < 200)
            return;
        c->hello_sent_ms = now;
        for (size_t i = 0; i < c->n_peers; i++)
            if (c->peers[i].id != c->self_id)
                send_rejoin(c, c->peers[i].id, 0);
        return;
    }
    if (!cluster_is_leader(c)) {
        c->n_tasks = 0;
        return;
    }
    /* One change per tick at most: raft allows one uncommitted change.  A
     * blocked task goes to the back, so that one that restores the quorum
     * (a rejoin) is not stuck behind it. */
    if (c->n_tasks == 0)
        return;
    enum task_result res = task_run(c, &c->tasks[0]);
    if (res == TASK_DONE) {
        task_drop(c, &c->tasks[0]);
    } else if (res == TASK_BLOCKED && c->n_tasks > 1) {
        struct cluster_task t = c->tasks[0];
        memmove(&c->tasks[0], &c->tasks[1],
                (c->n_tasks - 1) * sizeof(c->tasks[0]));
        c->tasks[c->n_tasks - 1] = t;
    }
}

void cluster_peer_link(struct cluster *c, uint64_t peer_id, bool up)
{
    struct cluster_peer *p = cluster_peer_find(c, peer_id);
    if (p == NULL || peer_id == c->self_id)
        return;
    if (!up) {
        /* What it answered before no longer shows that it answers now
         * (change_keeps_quorum). */
        p->answered_ms = 0;
        return;
    }
    if (c->raft == NULL || !c->recovering || self_is_voter(c))
        return;
    send_rejoin(c, peer_id, 0);
}

static void end_recovering(struct cluster *c)
{
    c->recovering = false;
    LOG_NOTICE("cluster: node %llu is a voter again",
               (unsigned long long)c->self_id);
    if (c->storage != NULL)
        cluster_storage_rejoin_mark(c, 0);
}

void cluster_member_applied_conf(struct cluster *c)
{
    if (!c->recovering || !c->rejoin_acked ||
        c->applied_index <= c->rejoin_index)
        return;
    const struct raft_member *m = raft_conf_find(&c->applied_conf, c->self_id);
    if (m != NULL && m->role == RAFT_VOTER)
        end_recovering(c);
}

/* Raft counts a voter from the moment its promotion is appended: the
 * leader counted this node's acknowledgements for commits from then on,
 * so waiting to apply the promotion can deadlock (sim seed 432: the
 * leader died before telling it the promotion committed; the others
 * needed its vote, which it refused while recovering).  A log holding
 * the ACK's entry (index and term) holds the leader's log up to it, with
 * this life a learner and the old incarnation's configurations behind
 * it, so a later configuration making it a voter is this life's
 * promotion.  Memory mode only: in fsync mode the rejoin mark may be
 * cleared only once that promotion is durable; it keeps the applied
 * rule. */
void cluster_member_appended_conf(struct cluster *c)
{
    if (!c->recovering || !c->rejoin_acked || c->rejoin_term == 0 ||
        c->storage != NULL || c->raft == NULL)
        return;
    if (raft_term_at(c->raft, c->rejoin_index) != c->rejoin_term)
        return;
    struct raft_status st;
    raft_status_get(c->raft, &st);
    if (st.last_index <= c->rejoin_index)
        return;
    const struct raft_member *m = raft_conf_find(&st.conf, c->self_id);
    if (m != NULL && m->role == RAFT_VOTER)
        end_recovering(c);
}

int cluster_member_change(struct cluster *c, uint8_t op, uint64_t id)
{
    if (!cluster_is_leader(c))
        return CAIRN_ENOTLEADER;
    uint8_t stage = op == RAFT_CHANGE_ADD_LEARNER ? STAGE_ADD
                    : op == RAFT_CHANGE_PROMOTE  ? STAGE_PROMOTE
                                                 : STAGE_REMOVE;
    return task_add(c, id, stage, 0);
}

bool cluster_member_accepts(const struct cluster *c, const struct raft_msg *m)
{
    if (c->recovering && !c->rejoin_acked)
        return false;
    /* Votes are granted by Raft's rules whatever our own view of our role:
     * the candidate counts them only where its configuration makes us a
     * voter, and a learner promoted by an entry it has not received yet
     * must vote, or a group that needs it can never elect (etcd-io/etcd
     * #10998; sim seed 42).  A re-admitted node's log from the ACK on is
     * its own, and a candidate whose configuration still lists the old
     * incarnation lacks the removal, which a majority of the new
     * configuration holds committed, so it cannot win. */
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE)
        return true;
    /* While recovering, configurations of the lost incarnation met while
     * catching up can make raft campaign: its own vote would count, so it
     * must never collect the others' (nor take a leadership transfer). */
    if (m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP ||
        m->type == RAFT_MSG_TIMEOUT_NOW)
        return !c->recovering;
    return true;
}
