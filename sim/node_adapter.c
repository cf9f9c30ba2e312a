/*
 * node_adapter.c: the real node as sim_server_ops, and the cross-node Raft
 * and replica checks; see node_adapter.h.
 *
 * Reads (never writes) the cluster's and the Raft core's private layouts
 * (node/cluster_int.h, raft/raft_int.h) to look at log entries: the public
 * status has indexes and terms but not entry bytes.
 *
 * Invariants of this file: a struct server exists exactly while the runner
 * holds its node; the per-index record only ever gains facts (a fact once
 * recorded is compared, never replaced); the leader table holds one leader
 * per term.
 */
#include "node_adapter.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/rng.h"
#include "kv/kv.h"
#include "net.h"
#include "node/cluster.h"
#include "node/cluster_int.h"
#include "node/config.h"
#include "node/node.h"
#include "node/storage_int.h"
#include "raft/raft_int.h"
#include "sim_limits.h"
#include "world.h"

/* Entries compared before the common last index of two logs. */
#define LOG_MATCH_WINDOW 16u
/* Largest index the per-index record covers; beyond it facts are not kept
 * (a run writes far fewer entries; the check says so if reached). */
#define RECORD_INDEX_MAX (1u << 22)

/* Everything check_node's verdict depends on.  Equal to the last look: no
 * check of that node can see anything new (log contents are covered by the
 * last index and term, as the pair checks assume too). */
struct node_seen {
    const struct raft *raft;
    uint64_t term;
    uint64_t durable_term;
    uint64_t commit;
    uint64_t applied;
    uint64_t offset;
    uint64_t last_index;
    uint64_t last_term;
    unsigned role;
};

/* What check_node reads of a node at one look. */
struct node_now {
    uint64_t id;
    uint64_t term;
    uint64_t commit_index;
    enum raft_role role;
};

struct server {
    struct sim_node_adapter *a;
    unsigned slot;
    struct node *n;
    sim_fatal_fn fatal;
    void *fatal_ctx;
    bool fatal_sent;
    uint64_t last_term;
    uint64_t last_commit;
    uint64_t checked_commit; /* committed entries recorded up to here */
    uint64_t led_term;       /* last term fully checked as leader */
    uint64_t digest_applied; /* applied index of the last digest taken */
    struct node_seen seen;   /* what check_node last looked at */
    uint64_t start_corrupt;  /* the slot's corruptions when it started */
    uint64_t moves;          /* looks at which seen moved (node_unchanged) */
};

/* What the runner knows of a slot's disk (fsync durability). */
struct slot_disk {
    bool tainted;      /* bits flipped since its last successful load */
    bool rejoining;    /* wiped, not a voter again yet */
    bool refused;      /* its last incarnation refused to start */
    bool recovering;   /* last seen without its state (empty restart) */
    uint64_t ack_index; /* wiped: where the leader re-admitted it (0: not
                           yet), over its incarnations since the wipe */
    bool lost_state;    /* the wipe took a term > 0 (votes, entries) */
    bool rejoin_stop;   /* stopped once in the middle of this rejoin */
    int refused_status;
    uint64_t corruptions;
    uint64_t remove_asked_until; /* a DELNODE of it may be on its way */
};

struct index_rec {
    uint64_t term;
    uint64_t hash;   /* of type and bytes */
    uint64_t digest; /* kv_digest at this applied index */
    uint64_t commit_term; /* lowest term a node saw it committed in */
    bool has_entry;
    bool has_digest;
};

struct term_leader {
    uint64_t term; /* 0: empty slot */
    uint64_t leader;
};

struct sim_node_adapter {
    struct sim_node_knobs k;
    /* (last index, last term) of each slot's log at the last pair check */
    uint64_t pair_seen[RAFT_MEMBERS_MAX][RAFT_MEMBERS_MAX][4];
    struct index_rec *rec;
    uint64_t rec_cap;
    uint64_t max_committed;
    struct term_leader *tl;
    size_t tl_cap;
    size_t tl_used;
    uint64_t durable_term[SIM_HOSTS_MAX]; /* fsync: term never goes back */
    struct sim_node_check_stats st;
    struct slot_disk disk[SIM_HOSTS_MAX];
    struct cairn_rng wipe_rng;
    char disk_bug[200]; /* found at a restart; the next check reports it */
    bool started;       /* a server started since the last whole check */
};

/* ---- knobs ---- */

/* One seed in eight each runs a profile (sim_node_profile): Raft's Figure 8
 * needs leaders cut off at the right step with appends carrying one entry
 * at a time (mutant 1); a lease without stickiness is only wrong while a
 * partial partition lets a node elsewhere win during a lull in writes
 * (mutant 5).  Both were out of reach of the plain swarm in 400 seeds. */
static void profile_apply(struct cairn_rng *rng, unsigned nodes_fixed,
                          struct sim_node_knobs *out)
{
    static const unsigned profiles[] = {
        SIM_PROFILE_NONE, SIM_PROFILE_NONE,    SIM_PROFILE_NONE,
        SIM_PROFILE_NONE, SIM_PROFILE_NONE,    SIM_PROFILE_NONE,
        SIM_PROFILE_FIGURE8, SIM_PROFILE_LEASE};
    out->profile = profiles[cairn_rng_below(rng, ARRAY_LEN(profiles))];
    if (out->profile == SIM_PROFILE_NONE)
        return;
    if (nodes_fixed == 0)
        out->nodes = 3;
    if (out->profile == SIM_PROFILE_FIGURE8) {
        out->append_max_bytes = 1;
        out->inflight_max_msgs = 1;
        out->fault_focus = SIM_FAULT_DEPOSE + 1;
    } else {
        out->check_quorum = false;
        out->lease_reads = true;
        out->read_pct = 99;
        out->ttl_pct = 0;
        out->fault_focus = SIM_FAULT_BRIDGE + 1;
    }
}

void sim_node_knobs_draw(uint64_t seed, unsigned nodes_fixed,
                         struct sim_node_knobs *out)
{
    struct cairn_rng rng;
    cairn_rng_seed(&rng, seed ^ 0x6b6e6f6273ull); /* "knobs" */
    static const unsigned sizes[] = {1, 2, 3, 3, 3, 4, 5, 5, 6, 7};
    static const uint32_t elections[] = {50, 100, 150, 300};
    static const uint32_t snaps[] = {8, 64, 1000, 100000};
    static const unsigned keyspaces[] = {3, 4, 8, 16};
    memset(out, 0, sizeof(*out));
    out->nodes = nodes_fixed > 0
                     ? nodes_fixed
                     : sizes[cairn_rng_below(&rng, ARRAY_LEN(sizes))];
    out->clients = (unsigned)cairn_rng_range(&rng, 2, 6);
    out->keys = keyspaces[cairn_rng_below(&rng, ARRAY_LEN(keyspaces))];
    out->durability = cairn_rng_chance(&rng, 1, 2) ? CONFIG_DURABILITY_FSYNC
                                                   : CONFIG_DURABILITY_MEMORY;
    out->election_timeout_ms =
        elections[cairn_rng_below(&rng, ARRAY_LEN(elections))];
    out->heartbeat_ms = out->election_timeout_ms /
                        (uint32_t)cairn_rng_range(&rng, 3, 10);
    if (out->heartbeat_ms == 0)
        out->heartbeat_ms = 1;
    out->snapshot_entries = snaps[cairn_rng_below(&rng, ARRAY_LEN(snaps))];
    out->lease_reads = cairn_rng_chance(&rng, 1, 2);
    out->redirect = cairn_rng_chance(&rng, 1, 4);
    static const unsigned ttls[] = {5, 10, 20};
    out->ttl_pct = ttls[cairn_rng_below(&rng, ARRAY_LEN(ttls))];
    static const unsigned admins[] = {0, 2, 10};
    out->admin_permille = admins[cairn_rng_below(&rng, ARRAY_LEN(admins))];
    static const uint32_t allocs[] = {0, 0, 0, 100, 1000};
    out->alloc_fail_ppm = allocs[cairn_rng_below(&rng, ARRAY_LEN(allocs))];
    static const unsigned wipes[] = {0, 0, 10, 30};
    out->wipe_pct = wipes[cairn_rng_below(&rng, ARRAY_LEN(wipes))];
    if (out->durability != CONFIG_DURABILITY_FSYNC)
        out->wipe_pct = 0; /* a memory-mode restart is empty anyway */
    out->wipe_seed = cairn_rng_next(&rng);
    /* Raft tuning: one-entry appends let a new leader's no-op travel apart
     * from the old entries (Figure 8); without CheckQuorum followers are
     * not sticky and the leader never steps down on its own. */
    static const uint32_t appends[] = {1048576, 1048576, 256, 1};
    out->append_max_bytes = appends[cairn_rng_below(&rng, ARRAY_LEN(appends))];
    static const uint32_t inflights[] = {256, 256, 4, 1};
    out->inflight_max_msgs =
        inflights[cairn_rng_below(&rng, ARRAY_LEN(inflights))];
    out->check_quorum = !cairn_rng_chance(&rng, 1, 3);
    /* Read-mostly seeds (a cache's usual load) leave gaps between writes
     * longer than an election timeout: the window in which a lease that
     * lacks stickiness can overlap a newer leader.  No TTL side ops there:
     * they are writes too. */
    static const unsigned reads[] = {0, 0, 0, 99};
    out->read_pct = reads[cairn_rng_below(&rng, ARRAY_LEN(reads))];
    if (out->read_pct > 0)
        out->ttl_pct = 0;
    profile_apply(&rng, nodes_fixed, out);
}

void sim_node_knobs_describe(const struct sim_node_knobs *k, char *out,
                             size_t len)
{
    snprintf(out, len,
             "nodes=%u clients=%u keys=%u durability=%s election=%ums "
             "heartbeat=%ums snapshot-entries=%u lease-reads=%s redirect=%s "
             "ttl-ops=%u%% admin-ops=%u/1000 alloc-fail=%uppm "
             "append-max=%u inflight=%u check-quorum=%s read-pct=%u%s",
             k->nodes, k->clients, k->keys,
             k->durability == CONFIG_DURABILITY_FSYNC ? "fsync" : "memory",
             k->election_timeout_ms, k->heartbeat_ms, k->snapshot_entries,
             k->lease_reads ? "yes" : "no", k->redirect ? "yes" : "no",
             k->ttl_pct, k->admin_permille, k->alloc_fail_ppm,
             k->append_max_bytes, k->inflight_max_msgs,
             k->check_quorum ? "yes" : "no", k->read_pct,
             k->profile == SIM_PROFILE_FIGURE8 ? " profile=figure8"
             : k->profile == SIM_PROFILE_LEASE ? " profile=lease"
                                               : "");
    /* fsync: restarts that wipe the disk first (corruption is in the
     * fault list when the swarm drew it; a node refusing corrupt files is
     * always wiped). */
    size_t o = strlen(out);
    if (k->durability == CONFIG_DURABILITY_FSYNC && o < len)
        snprintf(out + o, len - o, " wipe-on-restart=%u%%", k->wipe_pct);
}

/* ---- the node's log lines ---- */

#define LOG_RING 64
static char log_ring[LOG_RING][160];
static unsigned log_next;
static unsigned log_count;
static bool log_echo;

static void log_sink(void *ctx, enum cairn_log_level level, const char *msg)
{
    (void)ctx;
    struct sim_world *w = sim_world_active();
    double t = w != NULL ? (double)sim_world_now_us(w) / 1e6 : 0;
    unsigned node = w != NULL ? sim_world_firing_node(w) : SIM_NODE_NONE;
    char who[16] = "-";
    if (node != SIM_NODE_NONE)
        snprintf(who, sizeof(who), "n%u", node + 1);
    if (log_echo)
        fprintf(stderr, "node-log t=%.6f %s %s %s\n", t, who,
                cairn_log_level_name(level), msg);
    snprintf(log_ring[log_next], sizeof(log_ring[0]), "t=%.6f %s %s %s", t,
             who, cairn_log_level_name(level), msg);
    log_next = (log_next + 1) % LOG_RING;
    if (log_count < LOG_RING)
        log_count++;
}

void sim_node_log_install(bool echo_verbose)
{
    log_echo = echo_verbose;
    cairn_log_set_sink(log_sink, NULL);
    cairn_log_set_level(echo_verbose ? CAIRN_LOG_VERBOSE : CAIRN_LOG_WARNING);
}

void sim_node_log_clear(void)
{
    log_next = 0;
    log_count = 0;
}

void sim_node_log_dump(FILE *f)
{
    fprintf(f, "--- last %u node log lines (warning and above) ---\n",
            log_count);
    for (unsigned i = 0; i < log_count; i++)
        fprintf(f, "  %s\n",
                log_ring[(log_next + LOG_RING - log_count + i) % LOG_RING]);
}

/* ---- start / free ---- */

static void on_node_stop(void *ctx)
{
    struct server *s = ctx;
    /* The node stopped itself (storage failure): crash and restart it. */
    if (!s->fatal_sent) {
        s->fatal_sent = true;
        s->fatal(s->fatal_ctx, CAIRN_EIO);
    }
}

static void node_cfg(const struct sim_node_knobs *k, unsigned slot,
                     uint16_t port, struct node_config *cfg)
{
    config_init(cfg);
    cfg->port = port;
    cfg->loglevel = log_echo ? CAIRN_LOG_VERBOSE : CAIRN_LOG_WARNING;
    cfg->node_id = slot + 1;
    size_t o = 0;
    for (unsigned i = 0; i < k->nodes; i++) {
        char addr[32];
        sim_net_host_addr(i, addr, sizeof(addr));
        o += (size_t)snprintf(cfg->cluster_peers + o,
                              sizeof(cfg->cluster_peers) - o, "%s%u@%s:%u",
                              i ? "," : "", i + 1, addr, (unsigned)port);
        ASSERT(o < sizeof(cfg->cluster_peers));
    }
    snprintf(cfg->cluster_secret, sizeof(cfg->cluster_secret), "sim");
    snprintf(cfg->dir, sizeof(cfg->dir), ".");
    cfg->durability = k->durability;
    cfg->election_timeout_ms = k->election_timeout_ms;
    cfg->heartbeat_ms = k->heartbeat_ms;
    cfg->snapshot_entries = k->snapshot_entries;
    cfg->lease_reads = k->lease_reads;
    cfg->cluster_redirect = k->redirect;
    cfg->read_mode = CONFIG_READ_LINEARIZABLE;
    cfg->raft_append_max_bytes = k->append_max_bytes;
    cfg->raft_check_quorum = k->check_quorum;
    cfg->raft_inflight_max_msgs = k->inflight_max_msgs;
}

static void *adapter_start(void *ctx, struct io *io, unsigned slot,
                           uint16_t port, sim_fatal_fn fatal, void *fatal_ctx)
{
    struct sim_node_adapter *a = ctx;
    struct node_config cfg;
    node_cfg(&a->k, slot, port, &cfg);
    struct server *s = sim_xcalloc(1, sizeof(*s));
    s->a = a;
    s->slot = slot;
    s->fatal = fatal;
    s->fatal_ctx = fatal_ctx;
    if (node_new(&s->n, io, &cfg) != 0 ||
        node_listen(s->n, "0.0.0.0", port) != 0) {
        node_free(s->n);
        cairn_free(s);
        return NULL;
    }
    node_set_shutdown_cb(s->n, on_node_stop, s);
    s->start_corrupt = a->disk[slot].corruptions;
    a->started = true;
    return s;
}

static void adapter_free(void *ctx, void *server)
{
    struct server *s = server;
    struct sim_node_adapter *a = ctx;
    /* Did this incarnation refuse to start from its disk? */
    struct cluster *c = node_cluster(s->n);
    struct slot_disk *sd = &a->disk[s->slot];
    a->st.rejoin_crashes += sd->rejoining && sd->ack_index != 0;
    sd->refused = c != NULL && c->raft == NULL && node_failed(s->n);
    sd->refused_status = sd->refused && c->storage != NULL
                             ? c->storage->failed
                             : 0;
    node_free(s->n);
    cairn_free(s);
}

/* ---- checker state ---- */

static struct index_rec *rec_at(struct sim_node_adapter *a, uint64_t index)
{
    if (index >= RECORD_INDEX_MAX)
        return NULL;
    if (index >= a->rec_cap) {
        uint64_t cap = a->rec_cap ? a->rec_cap : 1024;
        while (cap <= index)
            cap *= 2;
        a->rec = sim_xrealloc(a->rec, cap * sizeof(*a->rec));
        memset(a->rec + a->rec_cap, 0,
               (cap - a->rec_cap) * sizeof(*a->rec));
        a->rec_cap = cap;
    }
    return &a->rec[index];
}

/* Records (term, leader); returns the other leader of term, or 0. */
static uint64_t leader_note(struct sim_node_adapter *a, uint64_t term,
                            uint64_t leader)
{
    if ((a->tl_used + 1) * 2 > a->tl_cap) {
        size_t cap = a->tl_cap ? a->tl_cap * 2 : 64;
        struct term_leader *t = sim_xcalloc(cap, sizeof(*t));
        for (size_t i = 0; i < a->tl_cap; i++) {
            if (a->tl[i].term == 0)
                continue;
            size_t j = cairn_hash64(&a->tl[i].term, 8, 0) & (cap - 1);
            while (t[j].term != 0)
                j = (j + 1) & (cap - 1);
            t[j] = a->tl[i];
        }
        cairn_free(a->tl);
        a->tl = t;
        a->tl_cap = cap;
    }
    size_t j = cairn_hash64(&term, 8, 0) & (a->tl_cap - 1);
    while (a->tl[j].term != 0 && a->tl[j].term != term)
        j = (j + 1) & (a->tl_cap - 1);
    if (a->tl[j].term == term)
        return a->tl[j].leader == leader ? 0 : a->tl[j].leader;
    a->tl[j].term = term;
    a->tl[j].leader = leader;
    a->tl_used++;
    a->st.leaders_seen++;
    return 0;
}

static uint64_t entry_hash(const struct raft_entry *e)
{
    return cairn_hash64(e->data, e->len, e->type);
}

static struct raft *node_raft(struct server *s)
{
    struct cluster *c = node_cluster(s->n);
    return c != NULL ? c->raft : NULL;
}

/* ---- the checks ---- */

#define FAIL(...)                                                             \
    do {                                                                      \
        snprintf(msg, msg_len, __VA_ARGS__);                                  \
        return 1;                                                             \
    } while (0)

/* Committed entries of s since the last check against the run's record
 * (state machine safety). */
static int check_committed(struct sim_node_adapter *a, struct server *s,
                           const struct raft *r, const struct node_now *st,
                           char *msg, size_t msg_len)
{
    uint64_t from = CAIRN_MAX(s->checked_commit, r->log.offset) + 1;
    for (uint64_t i = from; i <= st->commit_index; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        struct index_rec *rec = rec_at(a, i);
        if (e == NULL || rec == NULL)
            continue;
        uint64_t h = entry_hash(e);
        if (!rec->has_entry) {
            rec->has_entry = true;
            rec->term = e->term;
            rec->hash = h;
            rec->commit_term = st->term;
            a->st.committed_seen++;
        } else if (rec->term != e->term || rec->hash != h) {
            FAIL("state machine safety: node %llu committed index %llu with "
                 "term %llu, another node committed term %llu (or other "
                 "bytes) there",
                 (unsigned long long)st->id, (unsigned long long)i,
                 (unsigned long long)e->term, (unsigned long long)rec->term);
        } else if (st->term < rec->commit_term) {
            rec->commit_term = st->term;
        }
    }
    s->checked_commit = CAIRN_MAX(s->checked_commit, st->commit_index);
    a->max_committed = CAIRN_MAX(a->max_committed, st->commit_index);
    return 0;
}

/* Once per term a node leads: its log holds every entry seen committed in
 * an earlier term (Leader Completeness). */
static int check_leader(struct sim_node_adapter *a, struct server *s,
                        const struct raft *r, const struct node_now *st,
                        char *msg, size_t msg_len)
{
    uint64_t other = leader_note(a, st->term, st->id);
    if (other != 0)
        FAIL("election safety: nodes %llu and %llu both led term %llu",
             (unsigned long long)other, (unsigned long long)st->id,
             (unsigned long long)st->term);
    if (s->led_term == st->term)
        return 0;
    s->led_term = st->term;
    uint64_t top = CAIRN_MIN(a->max_committed, a->rec_cap - 1);
    for (uint64_t i = r->log.offset + 1; a->rec != NULL && i <= top; i++) {
        const struct index_rec *rec = &a->rec[i];
        if (!rec->has_entry || rec->commit_term >= st->term)
            continue;
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e == NULL || e->term != rec->term || entry_hash(e) != rec->hash)
            FAIL("leader completeness: node %llu leads term %llu without the "
                 "entry committed at index %llu (term %llu)",
                 (unsigned long long)st->id, (unsigned long long)st->term,
                 (unsigned long long)i, (unsigned long long)rec->term);
    }
    return 0;
}

/* True when nothing check_node reads moved since its last look; records
 * the new look otherwise. */
static bool node_unchanged(struct server *s, const struct raft *r)
{
    const struct node_seen now = {
        .raft = r,
        .term = r->term,
        .durable_term = r->hs_durable.term,
        .commit = r->commit,
        .applied = node_cluster(s->n)->applied_index,
        .offset = r->log.offset,
        .last_index = raft_log_last_index(&r->log),
        .last_term = raft_log_last_term(&r->log),
        .role = (unsigned)r->role,
    };
    const struct node_seen *was = &s->seen;
    if (now.raft == was->raft && now.term == was->term &&
        now.durable_term == was->durable_term && now.commit == was->commit &&
        now.applied == was->applied && now.offset == was->offset &&
        now.last_index == was->last_index &&
        now.last_term == was->last_term && now.role == was->role)
        return true;
    s->seen = now;
    s->moves++;
    return false;
}

/* One node alone: monotonic term and commit, applied <= committed, the
 * committed record, leadership, and its state digest.  Runs only when the
 * node's state moved since the last look (node_unchanged). */
static int check_node(struct sim_node_adapter *a, struct server *s,
                      char *msg, size_t msg_len)
{
    const struct raft *r = node_raft(s);
    if (r == NULL || node_unchanged(s, r))
        return 0;
    /* The fields the checks read, straight from the layouts (the status
     * getters copy the whole configuration). */
    struct node_now st = {.id = r->cfg.id, .role = r->role, .term = r->term,
                          .commit_index = r->commit};
    struct cluster_status cs = {.applied_index =
                                    node_cluster(s->n)->applied_index};
    if (st.term < s->last_term || st.term < a->durable_term[s->slot])
        FAIL("node %llu: term went back from %llu to %llu",
             (unsigned long long)st.id,
             (unsigned long long)CAIRN_MAX(s->last_term,
                                           a->durable_term[s->slot]),
             (unsigned long long)st.term);
    s->last_term = st.term;
    if (a->k.durability == CONFIG_DURABILITY_FSYNC)
        a->durable_term[s->slot] =
            CAIRN_MAX(a->durable_term[s->slot], r->hs_durable.term);
    if (st.commit_index < s->last_commit)
        FAIL("node %llu: commit index went back from %llu to %llu",
             (unsigned long long)st.id, (unsigned long long)s->last_commit,
             (unsigned long long)st.commit_index);
    s->last_commit = st.commit_index;
    if (cs.applied_index > st.commit_index)
        FAIL("node %llu: applied %llu > committed %llu",
             (unsigned long long)st.id, (unsigned long long)cs.applied_index,
             (unsigned long long)st.commit_index);
    if (check_committed(a, s, r, &st, msg, msg_len) != 0)
        return 1;
    if (st.role == RAFT_LEADER && check_leader(a, s, r, &st, msg, msg_len))
        return 1;
    /* A node that stopped itself (an entry it could not apply whole) holds
     * a partial state until the runner crashes it; it answers nothing. */
    if (cs.applied_index == s->digest_applied || node_failed(s->n))
        return 0;
    s->digest_applied = cs.applied_index;
    struct index_rec *rec = rec_at(a, cs.applied_index);
    if (rec == NULL)
        return 0;
    uint64_t d = kv_digest(node_kv(s->n));
    if (!rec->has_digest) {
        rec->has_digest = true;
        rec->digest = d;
    } else if (rec->digest != d) {
        FAIL("replica state: node %llu at applied index %llu has digest "
             "%016llx, another node had %016llx there",
             (unsigned long long)st.id, (unsigned long long)cs.applied_index,
             (unsigned long long)d, (unsigned long long)rec->digest);
    } else {
        a->st.digests_compared++;
    }
    return 0;
}

/* Log Matching on the last LOG_MATCH_WINDOW common indexes of two logs:
 * below the highest index where their terms agree, everything agrees. */
static int check_pair(const struct raft *x, const struct raft *y,
                      uint64_t id_x, uint64_t id_y, char *msg, size_t msg_len)
{
    uint64_t hi = CAIRN_MIN(raft_log_last_index(&x->log),
                            raft_log_last_index(&y->log));
    uint64_t lo = CAIRN_MAX(x->log.offset, y->log.offset) + 1;
    if (hi >= LOG_MATCH_WINDOW && hi - LOG_MATCH_WINDOW + 1 > lo)
        lo = hi - LOG_MATCH_WINDOW + 1;
    uint64_t at = 0;
    for (uint64_t i = hi; i >= lo && i > 0; i--) {
        /* offset < lo <= i <= hi <= last index of both logs */
        const struct raft_entry *ex = &x->log.entries[i - x->log.offset - 1];
        const struct raft_entry *ey = &y->log.entries[i - y->log.offset - 1];
        if (at == 0 && ex->term != ey->term)
            continue;
        if (at == 0)
            at = i;
        if (ex->term != ey->term || ex->type != ey->type ||
            ex->len != ey->len ||
            (ex->len > 0 && memcmp(ex->data, ey->data, ex->len) != 0))
            FAIL("log matching: nodes %llu and %llu agree on the term at "
                 "index %llu but differ at index %llu (terms %llu, %llu)",
                 (unsigned long long)id_x, (unsigned long long)id_y,
                 (unsigned long long)at, (unsigned long long)i,
                 (unsigned long long)ex->term, (unsigned long long)ey->term);
    }
    return 0;
}

static int disk_watch(struct sim_node_adapter *a, struct server *s,
                      char *msg, size_t msg_len);
/* Lease safety: while a leader's lease holds by its own clock, no leader
 * of a later term has committed anything (the lease rests on that).  Judged
 * only when the leader stepped during this millisecond of its clock, so its
 * view of the lease is current (a stale raft->now would extend it). */
static int check_leases(void *const *servers, unsigned count, unsigned only,
                        char *msg, size_t msg_len)
{
    /* Limited to the pairs with node `only` (when below count): both
     * sides are leaders, so a follower's event has nothing to judge. */
    if (only < count) {
        struct server *k = servers[only];
        const struct raft *rk = k != NULL ? node_raft(k) : NULL;
        if (rk == NULL || rk->role != RAFT_LEADER)
            return 0;
    }
    for (unsigned i = 0; i < count; i++) {
        struct server *s = servers[i];
        const struct raft *x = s != NULL ? node_raft(s) : NULL;
        if (x == NULL || x->role != RAFT_LEADER ||
            x->now != cluster_now(node_cluster(s->n)) || !raft_lease_valid(x))
            continue;
        for (unsigned j = 0; j < count; j++) {
            if (only < count && i != only && j != only)
                continue;
            struct server *o = servers[j];
            const struct raft *y = o != NULL ? node_raft(o) : NULL;
            if (y == NULL || y->role != RAFT_LEADER || y->term <= x->term ||
                y->noop_index == 0 || y->commit < y->noop_index)
                continue;
            FAIL("lease safety: node %u (leader, term %llu) holds a valid "
                 "lease at %llu ms while node %u leads term %llu and has "
                 "committed through index %llu",
                 s->slot + 1, (unsigned long long)x->term,
                 (unsigned long long)x->now, o->slot + 1,
                 (unsigned long long)y->term, (unsigned long long)y->commit);
        }
    }
    return 0;
}

/* Log Matching for slots i and j (j < i) when either log's end moved
 * since the pair's last look (check_node records each log's end in seen). */
static int check_pair_moved(struct sim_node_adapter *a, struct server *s,
                            struct server *o, unsigned i, unsigned j,
                            char *msg, size_t msg_len)
{
    const struct raft *ri = node_raft(s);
    const struct raft *rj = o != NULL ? node_raft(o) : NULL;
    if (ri == NULL || rj == NULL)
        return 0;
    uint64_t *seen = a->pair_seen[i][j];
    uint64_t now[4] = {s->seen.last_index, s->seen.last_term,
                       o->seen.last_index, o->seen.last_term};
    if (memcmp(seen, now, sizeof(now)) == 0)
        return 0;
    memcpy(seen, now, sizeof(now));
    return check_pair(ri, rj, s->slot + 1, o->slot + 1, msg, msg_len);
}

/* True when the pair's last look saw both logs' ends as they are now (or
 * either node has no raft): check_pair_moved would skip it. */
static bool pair_in_sync(const struct sim_node_adapter *a, struct server *s,
                         struct server *o, unsigned i, unsigned j)
{
    if (node_raft(s) == NULL || o == NULL || node_raft(o) == NULL)
        return true;
    const uint64_t now[4] = {s->seen.last_index, s->seen.last_term,
                             o->seen.last_index, o->seen.last_term};
    return memcmp(a->pair_seen[i][j], now, sizeof(now)) == 0;
}

/* The checks of every node, or only of what node `only` (below count) can
 * have moved: the others then keep only their per-check disk draws
 * (disk_watch of a rejoining node), in the same order as a whole check. */
static int check_servers(struct sim_node_adapter *a, void *const *servers,
                         unsigned count, unsigned only, char *msg,
                         size_t msg_len)
{
    a->st.checks++;
    if (a->disk_bug[0] != '\0') {
        snprintf(msg, msg_len, "%s", a->disk_bug);
        return 1;
    }
    /* Whether the pairs with `only` can have moved: every look at a node
     * whose seen moved compares all its pairs, and a raft, once made, lasts
     * as long as its server, so when `only`'s seen stays, so do they. */
    bool pairs = true;
    for (unsigned i = 0; i < count; i++) {
        struct server *s = servers[i];
        if (s == NULL)
            continue;
        if (only < count && i != only) {
            if (a->disk[s->slot].rejoining &&
                disk_watch(a, s, msg, msg_len) != 0)
                return 1;
            ASSERT_SLOW(node_raft(s) == NULL ||
                        node_unchanged(s, node_raft(s)));
            if (CAIRN_SLOW_ASSERTS_ON && !pairs && only < i)
                ASSERT(pair_in_sync(a, s, servers[only], i, only));
            if (pairs && only < i &&
                check_pair_moved(a, s, servers[only], i, only, msg, msg_len))
                return 1;
            continue;
        }
        if (disk_watch(a, s, msg, msg_len) != 0)
            return 1;
        if (node_failed(s->n) && !s->fatal_sent) {
            s->fatal_sent = true;
            s->fatal(s->fatal_ctx, CAIRN_EIO);
        }
        uint64_t moves = s->moves;
        if (check_node(a, s, msg, msg_len) != 0)
            return 1;
        pairs = only >= count || s->moves != moves;
        const struct raft *ri = node_raft(s);
        if (ri != NULL)
            a->st.max_term = CAIRN_MAX(a->st.max_term, ri->term);
        for (unsigned j = 0; ri != NULL && j < i; j++) {
            if (CAIRN_SLOW_ASSERTS_ON && !pairs)
                ASSERT(pair_in_sync(a, s, servers[j], i, j));
            if (pairs &&
                check_pair_moved(a, s, servers[j], i, j, msg, msg_len))
                return 1;
        }
    }
    return check_leases(servers, count, only, msg, msg_len);
}

static int adapter_check(void *ctx, void *const *servers, unsigned count,
                         char *msg, size_t msg_len)
{
    struct sim_node_adapter *a = ctx;
    a->started = false;
    return check_servers(a, servers, count, SIM_NODE_NONE, msg, msg_len);
}

/* After an event addressed to server `node`: only that node's state can
 * have moved.  A node's code runs only in events addressed to it (io
 * callbacks: timers, its disk's completions, bytes and eofs arriving at
 * its end, each scheduled as an event of its host; sim_io never calls
 * back from inside a call), so the other nodes are as the last check
 * left them, and a check of them would find what it found then.  Unowned
 * events (faults, restarts, phases) and the first check after a server
 * started get the whole check. */
static int adapter_check_event(void *ctx, void *const *servers,
                               unsigned count, unsigned node, char *msg,
                               size_t msg_len)
{
    struct sim_node_adapter *a = ctx;
    if (node >= count || a->started)
        return adapter_check(ctx, servers, count, msg, msg_len);
    return check_servers(a, servers, count, node, msg, msg_len);
}

/* A node that holds a log it acknowledges entries with: up, formed, and
 * not a memory restart still waiting to be re-admitted.  A re-admitted
 * learner counts: once promoted in the leader's log its acknowledgements
 * count for commits, before it applies the promotion itself. */
static bool server_has_state(const struct server *s)
{
    if (s == NULL || node_cluster(s->n) == NULL)
        return false;
    const struct cluster *c = node_cluster(s->n);
    return c->raft != NULL && !c->starting &&
           (!c->recovering || c->rejoin_acked);
}

/* True when a majority of conf's voters other than slot `node` hold their
 * state (a configuration without voters asks for nothing). */
static bool conf_keeps_majority(const struct raft_conf *conf,
                                void *const *servers, unsigned count,
                                unsigned node)
{
    unsigned voters = 0, kept = 0;
    for (uint32_t i = 0; i < conf->n_members; i++) {
        if (conf->members[i].role != RAFT_VOTER)
            continue;
        voters++;
        uint64_t slot = conf->members[i].id - 1; /* node id = slot + 1 */
        if (slot < count && slot != node && server_has_state(servers[slot]))
            kept++;
    }
    return voters == 0 || kept >= voters / 2 + 1;
}

/* Memory durability keeps data only while a majority of the voters stays
 * up with its state, and during a membership change "the voters" is every
 * configuration that is or may become in force: so a crash is allowed only
 * if, after it, a majority of each configuration any live node holds (the
 * latest in its log, committed or not, and its committed one) keeps its
 * state.  Crashing a node without state loses nothing. */
static bool adapter_may_crash(void *ctx, void *const *servers,
                              unsigned count, unsigned node)
{
    struct sim_node_adapter *a = ctx;
    if (a->k.durability == CONFIG_DURABILITY_FSYNC)
        return true;
    if (!server_has_state(servers[node]))
        return true;
    for (unsigned i = 0; i < count; i++) {
        struct server *s = servers[i];
        if (s == NULL || node_cluster(s->n) == NULL ||
            node_cluster(s->n)->raft == NULL)
            continue;
        const struct raft *r = node_cluster(s->n)->raft;
        struct raft_conf committed;
        raft_conf_committed(r, &committed);
        if (!conf_keeps_majority(&r->conf, servers, count, node) ||
            !conf_keeps_majority(&committed, servers, count, node))
            return false;
    }
    return true;
}

/* ---- disk faults (fsync durability) ---- */

static bool slot_intact(const struct sim_node_adapter *a, unsigned slot)
{
    return !a->disk[slot].tainted && !a->disk[slot].rejoining &&
           !a->disk[slot].recovering;
}

/* Do the voters of conf other than node, with intact data, make a
 * majority of its voters? */
static bool conf_keeps(const struct sim_node_adapter *a,
                       const struct raft_conf *conf, unsigned count,
                       unsigned node)
{
    unsigned voters = 0, intact = 0;
    for (uint32_t i = 0; i < conf->n_members; i++) {
        if (conf->members[i].role != RAFT_VOTER)
            continue;
        voters++;
        uint64_t slot = conf->members[i].id - 1;
        if (slot < count && slot != node && slot_intact(a, (unsigned)slot))
            intact++;
    }
    return voters == 0 || intact >= voters / 2 + 1;
}

/* How long a DELNODE the workload sent may still reach a leader and be
 * queued there: longer than the longest fault (a clog or pause of 5 s)
 * plus delivery.  Once queued it is seen in the leader's tasks. */
#define REMOVAL_ASKED_US (6 * 1000 * 1000)

/* Slots whose removal may be in flight: a DELNODE sent lately, or an
 * admin task naming it queued on a live node (tasks of a leader). */
static uint32_t removals_pending(const struct sim_node_adapter *a,
                                 void *const *servers, unsigned count)
{
    struct sim_world *w = sim_world_active();
    uint64_t now = w != NULL ? sim_world_now_us(w) : 0;
    uint32_t mask = 0;
    for (unsigned i = 0; i < count; i++) {
        if (now < a->disk[i].remove_asked_until)
            mask |= 1u << i;
        const struct server *s = servers[i];
        const struct cluster *c = s != NULL ? node_cluster(s->n) : NULL;
        for (size_t t = 0; c != NULL && t < c->n_tasks; t++)
            if (c->tasks[t].incarnation == 0 && c->tasks[t].id >= 1 &&
                c->tasks[t].id <= count)
                mask |= 1u << (c->tasks[t].id - 1);
    }
    return mask;
}

/* conf_keeps for the configuration that conf becomes if the voters in
 * `gone` (a bit per slot) are removed and node, if a learner, promoted;
 * a tainted learner counts as a voter too (its promotion may be in
 * flight, and nothing shows its damage to the leader). */
static bool conf_keeps_without(const struct sim_node_adapter *a,
                               const struct raft_conf *conf, unsigned count,
                               unsigned node, uint32_t gone)
{
    unsigned voters = 0, intact = 0;
    for (uint32_t i = 0; i < conf->n_members; i++) {
        uint64_t slot = conf->members[i].id - 1;
        bool voter = conf->members[i].role == RAFT_VOTER ||
                     (slot < count && (slot == node || a->disk[slot].tainted));
        if (!voter || (slot < count && (gone >> slot) & 1u))
            continue;
        voters++;
        if (slot < count && slot != node && slot_intact(a, (unsigned)slot))
            intact++;
    }
    return voters == 0 || intact >= voters / 2 + 1;
}

/* Every configuration r holds (the latest, appended or not, and the
 * committed one) keeps a majority of intact voters without node, even
 * once every removal in flight of an intact voter is done (removing more
 * intact voters never helps, so all of them at once is the worst case;
 * removing one that is not intact only helps). */
static bool raft_confs_keep(const struct sim_node_adapter *a,
                            const struct raft *r, unsigned count,
                            unsigned node, uint32_t pending)
{
    uint32_t gone = 0;
    for (unsigned i = 0; i < count; i++)
        if ((pending >> i) & 1u && i != node && slot_intact(a, i))
            gone |= 1u << i;
    struct raft_status st;
    raft_status_get(r, &st);
    struct raft_conf committed;
    raft_conf_committed(r, &committed);
    return conf_keeps_without(a, &st.conf, count, node, gone) &&
           conf_keeps_without(a, &committed, count, node, gone);
}

/* May node's data be damaged (bits flipped, disk wiped) now?  Only while
 * every configuration a live node holds (the founding one if none) keeps
 * a majority of intact voters without it: corrupting a majority's files
 * loses acknowledged writes by definition.  "Holds" includes the
 * committed configuration next to the latest, and removals in flight
 * (see raft_confs_keep and adapter_may_change). */
static bool disk_may_damage(const struct sim_node_adapter *a,
                            void *const *servers, unsigned count,
                            unsigned node)
{
    if (a->k.durability != CONFIG_DURABILITY_FSYNC)
        return false;
    bool seen = false;
    uint32_t pending = removals_pending(a, servers, count);
    for (unsigned i = 0; i < count; i++) {
        struct server *s = servers[i];
        const struct raft *r = s != NULL ? node_raft(s) : NULL;
        if (r == NULL)
            continue;
        struct raft_status st;
        raft_status_get(r, &st);
        if (!raft_confs_keep(a, r, count, node, pending))
            return false;
        seen = seen || st.conf.n_members > 0;
    }
    if (seen)
        return true;
    struct raft_conf founding;
    memset(&founding, 0, sizeof(founding));
    founding.n_members = count;
    for (unsigned i = 0; i < count; i++) {
        founding.members[i].id = i + 1;
        founding.members[i].role = RAFT_VOTER;
    }
    return conf_keeps(a, &founding, count, node);
}

/* The operator's side of the same limit (found by seed 978): damage is
 * latent until the node reads its files at a start, so a node cannot see
 * it, and its own check (change_keeps_quorum: the rest answers) passes.
 * A DELNODE that leaves a configuration whose intact voters are no
 * majority (bits flipped on two of five voters, then two removals:
 * {2,5} with 5 tainted; 5 refuses its files at the next start, is wiped
 * and the group can never elect) goes beyond the fsync promise just as
 * damaging that majority would.  So the workload removes an intact voter
 * only where every configuration a live node holds keeps an intact
 * majority without it (and without the other removals in flight), and
 * adds no node whose disk is tainted (it would become a voter).  Removing
 * a voter that is not intact only helps; the node's own deferral covers
 * what it can see (silent or empty members). */
static bool adapter_may_change(void *ctx, void *const *servers,
                               unsigned count, unsigned target, bool add)
{
    struct sim_node_adapter *a = ctx;
    if (a->k.durability != CONFIG_DURABILITY_FSYNC || target >= count)
        return true;
    if (add)
        return !a->disk[target].tainted;
    if (!slot_intact(a, target))
        return true;
    uint32_t pending = removals_pending(a, servers, count) | 1u << target;
    for (unsigned i = 0; i < count; i++) {
        struct server *s = servers[i];
        const struct raft *r = s != NULL ? node_raft(s) : NULL;
        if (r != NULL && !raft_confs_keep(a, r, count, count, pending))
            return false;
    }
    struct sim_world *w = sim_world_active();
    a->disk[target].remove_asked_until =
        (w != NULL ? sim_world_now_us(w) : 0) + REMOVAL_ASKED_US;
    return true;
}

static bool adapter_may_corrupt(void *ctx, void *const *servers,
                                unsigned count, unsigned node)
{
    return disk_may_damage(ctx, servers, count, node);
}

static void adapter_corrupted(void *ctx, unsigned node)
{
    struct sim_node_adapter *a = ctx;
    a->disk[node].tainted = true;
    a->disk[node].corruptions++;
}

/* Before a restart: the operator wipes a disk whose files the node refused
 * as corrupt; otherwise, at wipe_pct, a disk is replaced anyway (within the
 * same majority rule).  A refusal on a disk never corrupted is a node bug. */
static bool adapter_wipe(void *ctx, void *const *servers, unsigned count,
                         unsigned node)
{
    struct sim_node_adapter *a = ctx;
    struct slot_disk *sd = &a->disk[node];
    bool refused = sd->refused && sd->refused_status == CAIRN_ECORRUPT;
    sd->refused = false;
    if (refused && !sd->tainted && a->disk_bug[0] == '\0')
        snprintf(a->disk_bug, sizeof(a->disk_bug),
                 "storage: node %u refused to start on corrupt files, but "
                 "its disk was never corrupted (only crashes)", node + 1);
    a->st.refusals += refused;
    bool wipe = refused && sd->tainted;
    if (!wipe && a->k.wipe_pct > 0 &&
        cairn_rng_below(&a->wipe_rng, 100) < a->k.wipe_pct)
        wipe = disk_may_damage(a, servers, count, node);
    if (!wipe)
        return false;
    sd->tainted = false;
    sd->rejoining = true;
    sd->ack_index = 0;
    sd->lost_state = a->durable_term[node] > 0;
    sd->rejoin_stop = false;
    a->durable_term[node] = 0; /* the new disk starts from nothing */
    return true;
}

/* When the faults stop, a node whose disk took flipped bits since it last
 * loaded it restarts, so that every corruption is read back once. */
static bool adapter_restart_at_quiesce(void *ctx, unsigned node)
{
    struct sim_node_adapter *a = ctx;
    return a->disk[node].tainted;
}

/* A targeted fault: a wiped node that was re-admitted and made part of
 * the leader's state durable is stopped once, at most, before it is a
 * voter again (the restart must not make it vote with a configuration of
 * its old incarnation).  It is a rejoining node: no intact copy is lost. */
static void rejoin_stop_maybe(struct sim_node_adapter *a, struct server *s,
                              struct slot_disk *sd)
{
    const struct raft *r = node_raft(s);
    if (sd->rejoin_stop || s->fatal_sent || r == NULL ||
        r->persisted_index == 0)
        return;
    if (cairn_rng_below(&a->wipe_rng, 20) != 0)
        return;
    sd->rejoin_stop = true;
    s->fatal_sent = true;
    s->fatal(s->fatal_ctx, CAIRN_EIO);
}

/* Per check: whether the node is without its state (an empty start,
 * kept for while it is down); a wiped node that is a voter again, and a
 * tainted one that loaded its whole disk after the last flipped bit, are
 * intact again. */
static int disk_watch(struct sim_node_adapter *a, struct server *s,
                      char *msg, size_t msg_len)
{
    struct slot_disk *sd = &a->disk[s->slot];
    struct cluster *c = node_cluster(s->n);
    if (c == NULL)
        return 0;
    /* cluster_status_get's fields, read in place: it copies the whole
     * configuration, and this runs for every node after every event. */
    sd->recovering = c->recovering || c->starting;
    if (c->raft == NULL || node_failed(s->n))
        return 0;
    if (sd->rejoining && c->recovering && c->rejoin_acked) {
        sd->ack_index = c->rejoin_index;
        rejoin_stop_maybe(a, s, sd);
    }
    /* A wiped node may vote again only with a configuration made after
     * the leader re-admitted it: an older one lists its old incarnation,
     * whose votes and log it lost (a wipe before the group ever had a
     * term lost nothing: bootstrapping again is fine). */
    bool new_conf = sd->ack_index != 0 && c->raft->conf_index > sd->ack_index;
    bool voter = false;
    if (sd->rejoining) {
        const struct raft_member *m =
            raft_conf_find(&c->raft->conf, c->self_id);
        voter = m != NULL && m->role == RAFT_VOTER;
    }
    if (sd->rejoining && sd->lost_state && voter && !sd->recovering &&
        !new_conf)
        FAIL("node %u was wiped and is not re-admitted (re-admission at "
             "index %llu) but acts as a voter with the configuration at "
             "index %llu (its old incarnation's)", s->slot + 1,
             (unsigned long long)sd->ack_index,
             (unsigned long long)c->raft->conf_index);
    if (sd->rejoining && voter && !sd->recovering) {
        sd->rejoining = false;
        sd->ack_index = 0;
        a->st.rejoined++;
    }
    if (sd->tainted && s->start_corrupt == sd->corruptions)
        sd->tainted = false;
    return 0;
}

static void adapter_describe(void *ctx, void *server, char *out, size_t len)
{
    struct server *s = server;
    (void)ctx;
    struct cluster *c = node_cluster(s->n);
    if (c == NULL || c->raft == NULL) {
        snprintf(out, len, "no raft yet (forming or loading)%s",
                 node_failed(s->n) ? ", failed" : "");
        return;
    }
    struct raft_status st;
    raft_status_get(c->raft, &st);
    struct cluster_status cs;
    cluster_status_get(c, &cs);
    char conf[96] = "";
    size_t o = 0;
    for (uint32_t i = 0; i < st.conf.n_members && o + 24 < sizeof(conf); i++)
        o += (size_t)snprintf(conf + o, sizeof(conf) - o, "%s%llu%s",
                              i ? "," : "",
                              (unsigned long long)st.conf.members[i].id,
                              st.conf.members[i].role == RAFT_LEARNER ? "L"
                                                                      : "");
    snprintf(out, len,
             "%s term=%llu vote=%llu leader=%llu commit=%llu applied=%llu "
             "last=%llu/%llu snap=%llu conf=[%s] voter=%d recovering=%d "
             "digest=%016llx%s",
             raft_role_name(st.role), (unsigned long long)st.term,
             (unsigned long long)st.vote, (unsigned long long)st.leader_id,
             (unsigned long long)st.commit_index,
             (unsigned long long)cs.applied_index,
             (unsigned long long)st.last_index,
             (unsigned long long)st.last_term,
             (unsigned long long)st.snapshot_index, conf, cs.voter,
             cs.recovering, (unsigned long long)kv_digest(node_kv(s->n)),
             node_failed(s->n) ? " failed" : "");
}

/* ---- the adapter ---- */

struct sim_node_adapter *sim_node_adapter_new(const struct sim_node_knobs *k)
{
    ASSERT(k->nodes >= 1 && k->nodes <= RAFT_MEMBERS_MAX);
    struct sim_node_adapter *a = sim_xcalloc(1, sizeof(*a));
    a->k = *k;
    cairn_rng_seed(&a->wipe_rng, k->wipe_seed);
    return a;
}

void sim_node_adapter_free(struct sim_node_adapter *a)
{
    if (a == NULL)
        return;
    cairn_free(a->rec);
    cairn_free(a->tl);
    cairn_free(a);
}

/* The leader of the highest term among the running nodes, or -1. */
static int adapter_leader(void *ctx, void *const *servers, unsigned count,
                          uint64_t *term)
{
    (void)ctx;
    int best = -1;
    uint64_t best_term = 0;
    for (unsigned i = 0; i < count; i++) {
        struct server *s = servers[i];
        const struct raft *r = s != NULL ? node_raft(s) : NULL;
        if (r != NULL && r->role == RAFT_LEADER && r->term > best_term) {
            best = (int)i;
            best_term = r->term;
        }
    }
    *term = best_term;
    return best;
}

void sim_node_adapter_ops(struct sim_node_adapter *a,
                          struct sim_server_ops *out)
{
    memset(out, 0, sizeof(*out));
    out->name = "cairn";
    out->ctx = a;
    out->start = adapter_start;
    out->free = adapter_free;
    out->check = adapter_check;
    out->check_event = adapter_check_event;
    out->may_crash = adapter_may_crash;
    out->describe = adapter_describe;
    out->leader = adapter_leader;
    /* Memory durability never touches the disk.  With fsync, corruption is
     * drawn within disk_may_damage's limit; a node that refuses its
     * corrupt files is wiped before its next start and rejoins. */
    if (a->k.durability == CONFIG_DURABILITY_MEMORY) {
        out->unsupported[SIM_FAULT_CORRUPT] = true;
        out->unsupported[SIM_FAULT_FSYNC_FAIL] = true;
    } else {
        out->may_corrupt = adapter_may_corrupt;
        out->corrupted = adapter_corrupted;
        out->wipe = adapter_wipe;
        out->restart_at_quiesce = adapter_restart_at_quiesce;
        out->may_change = adapter_may_change;
    }
}

struct node *sim_node_adapter_node(void *server)
{
    return ((struct server *)server)->n;
}

void sim_node_adapter_stats(const struct sim_node_adapter *a,
                            struct sim_node_check_stats *out)
{
    *out = a->st;
    for (unsigned i = 0; i < a->k.nodes; i++)
        out->still_rejoining += a->disk[i].rejoining;
}
