/*
 * test_cluster.c: three replicated nodes in one process.
 *
 * Each node runs over its own fake io (tests advance all clocks together,
 * one millisecond per step) and reaches its peers through a loopback
 * cluster_net: frames are queued and delivered by the test between steps,
 * in order per (from, to) pair, and dropped across a cut link or to a
 * crashed node.  Clients are fake connections to each node.  Everything is
 * deterministic: same seeds, same run.  No sleeps; every wait is a bounded
 * number of simulated milliseconds and a test fails if the bound passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "kv/kv.h"
#include "node/cluster.h"
#include "node/cluster_int.h"
#include "node/io_fake.h"
#include "node/node.h"
#include "raft/codec.h"
#include "raft/raft.h"
#include "testlib.h"

#define WALL_START_MS 1700000000000LL
#define N 3
#define FRAMES_MAX 200000
#define FRAME_REJOIN 6 /* CLUSTER_FRAME_REJOIN (node/cluster_int.h) */

struct frame {
    uint64_t from, to;
    size_t len;
    uint8_t *data;
};

struct world;

static uint64_t driving; /* the member whose code runs now; 0: none */

struct member {
    struct world *w;
    uint64_t id;
    struct io_fake *f;
    struct node *n;
    struct node_config cfg;
    bool up;
};

struct world {
    struct member m[N + 1]; /* 1-based */
    struct frame *q;
    size_t q_head, q_len;
    bool cut[N + 1][N + 1]; /* link from -> to drops frames */
    uint8_t drop_type;      /* frames of this type (first byte) vanish */
    /* A dead connection: frames from -> to vanish until either side
     * redials the link (peer_remove, as the transport closes both). */
    bool stale[N + 1][N + 1];
    size_t redials;
    uint64_t now_ms;
    uint64_t rejoins_to[N + 1]; /* REJOIN frames delivered, by receiver */
    bool link_events; /* a redial reports the peer's link up to it */
};

/* The first frame of a type sent from -> to, kept to be replayed late. */
struct captured {
    uint8_t type;
    uint64_t from, to;
    bool got;
    size_t len;
    uint8_t data[256];
};
static struct captured captures[2];

static void capture_frame(uint64_t from, uint64_t to, const void *frame,
                          size_t len)
{
    for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
        struct captured *k = &captures[i];
        if (k->got || k->type == 0 || k->from != from || k->to != to ||
            len == 0 || ((const uint8_t *)frame)[0] != k->type ||
            len > sizeof(k->data))
            continue;
        memcpy(k->data, frame, len);
        k->len = len;
        k->got = true;
    }
}

static int net_send(void *ctx, uint64_t peer, const void *frame, size_t len)
{
    struct member *m = ctx;
    struct world *w = m->w;
    capture_frame(m->id, peer, frame, len);
    if (peer < 1 || peer > N)
        return CAIRN_ECLOSED;
    if (w->q_len == FRAMES_MAX)
        return CAIRN_EFULL;
    struct frame *fr = &w->q[(w->q_head + w->q_len) % FRAMES_MAX];
    fr->from = m->id;
    fr->to = peer;
    fr->len = len;
    fr->data = malloc(len);
    assert_non_null(fr->data);
    memcpy(fr->data, frame, len);
    w->q_len++;
    return 0;
}

static void deliver_all(struct world *w)
{
    /* Bounded: frames sent while delivering wait for the next round. */
    size_t n = w->q_len;
    for (size_t i = 0; i < n; i++) {
        struct frame fr = w->q[w->q_head];
        w->q_head = (w->q_head + 1) % FRAMES_MAX;
        w->q_len--;
        struct member *to = &w->m[fr.to];
        if (to->up && w->m[fr.from].up && !w->cut[fr.from][fr.to] &&
            !w->stale[fr.from][fr.to] && fr.data[0] != w->drop_type) {
            w->rejoins_to[fr.to] += fr.data[0] == FRAME_REJOIN;
            driving = fr.to;
            cluster_recv(node_cluster(to->n), fr.from, fr.data, fr.len);
            driving = 0;
        }
        free(fr.data);
    }
}

static int64_t snapshot_entries = 100000; /* per test */
static uint64_t maxmemory_bytes;            /* per test; 0: none */
static int64_t wall_skew_ms[N + 1];         /* per test; added to the wall */

static void net_peer_remove(void *ctx, uint64_t peer)
{
    struct member *m = ctx;
    if (peer < 1 || peer > N)
        return;
    m->w->stale[m->id][peer] = false;
    m->w->stale[peer][m->id] = false;
    m->w->redials++;
    /* The transport dials again: the peer's link to us comes up (ours
     * too, reported when the redial completes; nothing uses it here). */
    struct member *p = &m->w->m[peer];
    if (p->up && m->w->link_events)
        cluster_peer_link(node_cluster(p->n), m->id, true);
}

static int net_peer_set(void *ctx, uint64_t peer, const char *host,
                        uint16_t port)
{
    (void)ctx;
    (void)peer;
    (void)host;
    (void)port;
    return 0;
}

static const char *PEERS =
    "1@10.0.0.1:7001,2@10.0.0.2:7002,3@10.0.0.3:7003";

static void member_start(struct world *w, uint64_t id, uint64_t seed)
{
    struct member *m = &w->m[id];
    m->w = w;
    m->id = id;
    config_init(&m->cfg);
    m->cfg.hash_seed = 1;
    m->cfg.node_id = id;
    snprintf(m->cfg.cluster_peers, sizeof(m->cfg.cluster_peers), "%s", PEERS);
    snprintf(m->cfg.cluster_secret, sizeof(m->cfg.cluster_secret), "s");
    m->cfg.election_timeout_ms = 100;
    m->cfg.heartbeat_ms = 20;
    m->cfg.snapshot_entries = snapshot_entries;
    if (maxmemory_bytes != 0) {
        m->cfg.maxmemory = maxmemory_bytes;
        m->cfg.maxmemory_policy = KV_POLICY_ALLKEYS_LRU;
    }
    m->f = io_fake_new(seed,
                       WALL_START_MS + (int64_t)w->now_ms + wall_skew_ms[id]);
    assert_non_null(m->f);
    if (w->now_ms > 0)
        io_fake_advance(m->f, w->now_ms); /* clocks agree */
    struct cluster_net net = {.ctx = m, .send = net_send,
                              .peer_set = net_peer_set,
                              .peer_remove = net_peer_remove};
    assert_int_equal(node_new_net(&m->n, io_fake_io(m->f), &m->cfg, &net), 0);
    assert_int_equal(node_listen(m->n, "127.0.0.1", (uint16_t)(7000 + id)), 0);
    m->up = true;
}

static void member_crash(struct world *w, uint64_t id)
{
    struct member *m = &w->m[id];
    m->up = false;
    node_free(m->n);
    io_fake_free(m->f);
    m->n = NULL;
    m->f = NULL;
}

static void step(struct world *w)
{
    deliver_all(w);
    w->now_ms++;
    for (int i = 1; i <= N; i++) {
        if (!w->m[i].up)
            continue;
        driving = (uint64_t)i;
        io_fake_advance(w->m[i].f, 1);
        driving = 0;
    }
    deliver_all(w);
}

static void run_ms(struct world *w, uint64_t ms)
{
    for (uint64_t i = 0; i < ms; i++)
        step(w);
}

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    w->q = calloc(FRAMES_MAX, sizeof(*w->q));
    assert_non_null(w->q);
    for (uint64_t i = 1; i <= N; i++)
        member_start(w, i, 100 + i);
}

static void world_fini(struct world *w)
{
    if (getenv("CLUSTER_TEST_DEBUG") != NULL)
        fprintf(stderr, "simulated %llu ms\n", (unsigned long long)w->now_ms);
    for (int i = 1; i <= N; i++)
        if (w->m[i].up)
            member_crash(w, (uint64_t)i);
    while (w->q_len > 0) {
        free(w->q[w->q_head].data);
        w->q_head = (w->q_head + 1) % FRAMES_MAX;
        w->q_len--;
    }
    free(w->q);
}

static struct cluster_status status(struct world *w, uint64_t id)
{
    struct cluster_status st;
    cluster_status_get(node_cluster(w->m[id].n), &st);
    return st;
}

/* Runs until some up node leads and every up node knows it; returns it. */
static uint64_t wait_leader(struct world *w, uint64_t ms_max)
{
    for (uint64_t t = 0; t < ms_max; t++) {
        uint64_t leader = 0;
        bool agreed = true;
        for (uint64_t i = 1; i <= N; i++) {
            if (!w->m[i].up)
                continue;
            struct cluster_status st = status(w, i);
            if (st.role == RAFT_LEADER)
                leader = i;
            if (st.recovering)
                continue;
            if (leader != 0 && st.leader_id != leader)
                agreed = false;
        }
        if (leader != 0 && agreed) {
            for (uint64_t i = 1; i <= N; i++)
                if (w->m[i].up && !status(w, i).recovering &&
                    status(w, i).leader_id != leader)
                    agreed = false;
            if (agreed)
                return leader;
        }
        step(w);
    }
    fail_msg("no leader within %llu ms", (unsigned long long)ms_max);
    return 0;
}

static struct io_fake_conn *client(struct world *w, uint64_t id)
{
    struct io_fake_conn *c = io_fake_connect(w->m[id].f, "10.9.9.9:5000");
    assert_non_null(c);
    return c;
}

/* Sends cmd on c and runs until the output holds `replies` complete
 * top-level replies (simple framing: lines of + - : and $n bulks), or
 * ms_max passes.  Returns the output (cleared on the next call). */
static size_t count_replies(const char *s, size_t len)
{
    size_t n = 0, i = 0;
    while (i < len) {
        const char *eol = memchr(s + i, '\n', len - i);
        if (eol == NULL)
            break;
        char type = s[i];
        size_t next = (size_t)(eol - s) + 1;
        if (type == '$') {
            long bl = atol(s + i + 1);
            if (bl >= 0)
                next += (size_t)bl + 2;
            if (next > len)
                break;
        }
        if (type == '+' || type == '-' || type == ':' || type == '$')
            n++;
        i = next;
    }
    return n;
}

static char out_copy[1 << 16];

static const char *cmd_wait(struct world *w, struct io_fake_conn *c,
                            const char *cmd, size_t replies, uint64_t ms_max)
{
    io_fake_output_clear(c);
    if (cmd != NULL)
        assert_int_equal(io_fake_send_str(c, cmd), 0);
    for (uint64_t t = 0; t <= ms_max; t++) {
        size_t len;
        const char *o = io_fake_output(c, &len);
        if (count_replies(o, len) >= replies) {
            assert_true(len < sizeof(out_copy));
            memcpy(out_copy, o, len + 1);
            return out_copy;
        }
        step(w);
    }
    size_t len;
    const char *o = io_fake_output(c, &len);
    snprintf(out_copy, sizeof(out_copy), "%s", o);
    return out_copy;
}

/* Runs until every up node has applied the same index as the leader. */
static void wait_converged(struct world *w, uint64_t ms_max)
{
    for (uint64_t t = 0; t < ms_max; t++) {
        uint64_t idx = 0;
        bool same = true;
        for (uint64_t i = 1; i <= N; i++) {
            if (!w->m[i].up)
                continue;
            struct cluster_status st = status(w, i);
            if (idx == 0)
                idx = st.applied_index;
            if (st.applied_index != idx || st.commit_index != st.applied_index)
                same = false;
        }
        if (same)
            return;
        step(w);
    }
    fail_msg("replicas did not converge");
}

static void assert_same_digest(struct world *w)
{
    uint64_t d = 0, idx = 0;
    bool first = true;
    for (uint64_t i = 1; i <= N; i++) {
        if (!w->m[i].up)
            continue;
        struct cluster_status st = status(w, i);
        uint64_t di = kv_digest(node_kv(w->m[i].n));
        if (first) {
            d = di;
            idx = st.applied_index;
            first = false;
            continue;
        }
        assert_int_equal(st.applied_index, idx);
        assert_int_equal(di, d);
    }
}

/* Delivers a RequestVote from `from` to `to` for term, with a log that is
 * up to date for anyone, and returns how many granted votes `to` sent. */
static int vote_probe(struct world *w, uint64_t from, uint64_t to,
                      uint64_t term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.group_id = 1;
    m.from = from;
    m.to = to;
    m.term = term;
    m.vote.last_log_index = 1000000;
    m.vote.last_log_term = term - 1;
    m.vote.transfer = true; /* bypasses leader stickiness */
    uint8_t frame[512] = {1, 1, 0, 0, 0, 0, 0, 0, 0}; /* RAFT, group 1 */
    int n = raft_codec_encode(&m, frame + 9, sizeof(frame) - 9);
    assert_true(n > 0);
    size_t before = w->q_len;
    cluster_recv(node_cluster(w->m[to].n), from, frame, 9 + (size_t)n);
    int granted = 0;
    for (size_t i = before; i < w->q_len; i++) {
        struct frame *fr = &w->q[(w->q_head + i) % FRAMES_MAX];
        if (fr->from != to || fr->data[0] != 1)
            continue;
        static struct raft_codec_msg dm;
        if (raft_codec_decode(fr->data + 9, fr->len - 9, &dm) != 0)
            continue;
        if (dm.msg.type == RAFT_MSG_VOTE_RESP && dm.msg.vote_resp.granted)
            granted++;
    }
    return granted;
}

/* ---- scenario steps the tests share ---- */

/* A formed group, where most scenarios begin: `leader` leads and every
 * node knows it, `f` is the member after it and `o` the third one; `c`,
 * once opened, is a client of the leader.  The world must stay where it
 * was initialised (its members point back at it). */
struct scene {
    struct world w;
    uint64_t leader, f, o;
    struct io_fake_conn *c;
};

/* Waits (3 s at most) for the initialised world to elect, names f and o. */
static void scene_lead(struct scene *s)
{
    s->leader = wait_leader(&s->w, 3000);
    s->f = s->leader % N + 1;
    s->o = s->f % N + 1;
    if (s->o == s->leader)
        s->o = s->o % N + 1;
}

/* The scene_init* functions return the scene's world. */
static struct world *scene_init(struct scene *s)
{
    world_init(&s->w);
    s->c = NULL;
    scene_lead(s);
    return &s->w;
}

/* scene_init, then a client of the leader. */
static struct world *scene_init_client(struct scene *s)
{
    scene_init(s);
    s->c = client(&s->w, s->leader);
    return &s->w;
}

/* Opens the leader's client and commits a=1 through it. */
static void scene_write_a(struct scene *s)
{
    s->c = client(&s->w, s->leader);
    assert_string_equal(cmd_wait(&s->w, s->c, "SET a 1\r\n", 1, 2000),
                        "+OK\r\n");
}

static struct world *scene_init_written(struct scene *s)
{
    scene_init(s);
    scene_write_a(s);
    return &s->w;
}

/* Starts a crashed member again with nothing: memory durability, a new
 * life that has to be re-admitted. */
static void start_empty(struct world *w, uint64_t id)
{
    member_start(w, id, 900 + id);
}

/* Crashes id and runs the rest for ms: id is down that long. */
static void crash_for(struct world *w, uint64_t id, uint64_t ms)
{
    member_crash(w, id);
    run_ms(w, ms);
}

/* Crashes id, lets 50 ms pass, starts it again empty. */
static void restart_empty(struct world *w, uint64_t id)
{
    crash_for(w, id, 50);
    start_empty(w, id);
}

/* Steps until id is a voter that is not recovering, or ms_max passes;
 * the caller asserts what its scenario expects. */
static void wait_rejoined(struct world *w, uint64_t id, int ms_max)
{
    for (int t = 0; t < ms_max && (status(w, id).recovering ||
                                   !status(w, id).voter); t++)
        step(w);
}

/* wait_rejoined, and id must have got there. */
static void rejoin_until_voter(struct world *w, uint64_t id, int ms_max)
{
    wait_rejoined(w, id, ms_max);
    assert_false(status(w, id).recovering);
    assert_true(status(w, id).voter);
}

/* The usual ending: the replicas converge (2 s) and hold the same data. */
static void finish_converged(struct world *w)
{
    wait_converged(w, 2000);
    assert_same_digest(w);
    world_fini(w);
}

/* Sends "CLUSTER <verb> <id>" on c; it must answer +OK within ms_max. */
static void cluster_cmd_ok(struct world *w, struct io_fake_conn *c,
                           const char *verb, uint64_t id, uint64_t ms_max)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "CLUSTER %s %llu\r\n", verb,
             (unsigned long long)id);
    assert_string_equal(cmd_wait(w, c, cmd, 1, ms_max), "+OK\r\n");
}

/* CLUSTER TRANSFER to id on the leader's client c (+OK within reply_ms);
 * id must lead within 3 s. */
static void transfer_leadership(struct world *w, struct io_fake_conn *c,
                                uint64_t id, uint64_t reply_ms)
{
    cluster_cmd_ok(w, c, "TRANSFER", id, reply_ms);
    for (int t = 0; t < 3000 && status(w, id).role != RAFT_LEADER; t++)
        step(w);
    assert_int_equal(status(w, id).role, RAFT_LEADER);
}

/* Through a new client of id: b=2 commits within set_ms and a=1 from the
 * scene's first write is still there. */
static void assert_keeps_a_and_writes_b(struct world *w, uint64_t id,
                                        uint64_t set_ms)
{
    struct io_fake_conn *c = client(w, id);
    assert_string_equal(cmd_wait(w, c, "SET b 2\r\n", 1, set_ms), "+OK\r\n");
    assert_string_equal(cmd_wait(w, c, "GET a\r\n", 1, 2000), "$1\r\n1\r\n");
}

/* Through a new client of id, a=1 reads back; returns the client. */
static struct io_fake_conn *assert_reads_a(struct world *w, uint64_t id)
{
    struct io_fake_conn *c = client(w, id);
    assert_string_equal(cmd_wait(w, c, "GET a\r\n", 1, 2000), "$1\r\n1\r\n");
    return c;
}

/* DELNODE of `victim` is accepted on the leader's client, yet the leader
 * keeps all three members for the next 500 ms: the removal waits. */
static void delnode_is_deferred(struct scene *s, uint64_t victim)
{
    cluster_cmd_ok(&s->w, s->c, "DELNODE", victim, 10);
    for (int t = 0; t < 500; t++) {
        step(&s->w);
        assert_int_equal(status(&s->w, s->leader).members, 3);
    }
}

/* Pipelines "INCR n; SET k<i> <i>" for i in first..last on c (the counter
 * must read i), 5 ms apart. */
static void write_counted_keys(struct world *w, struct io_fake_conn *c,
                               int first, int last)
{
    char cmd[64], want[32];
    for (int i = first; i <= last; i++) {
        snprintf(cmd, sizeof(cmd), "INCR n\r\nSET k%d %d\r\n", i, i);
        snprintf(want, sizeof(want), ":%d\r\n+OK\r\n", i);
        assert_string_equal(cmd_wait(w, c, cmd, 2, 2000), want);
        run_ms(w, 5);
    }
}

/* ---- tests ---- */

static void three_nodes_form_and_write_through_every_node(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init(&s);
    for (uint64_t i = 1; i <= N; i++) {
        struct cluster_status st = status(w, i);
        assert_true(st.voter);
        assert_false(st.recovering);
        assert_int_equal(st.members, 3);
    }
    struct io_fake_conn *c[N + 1];
    for (uint64_t i = 1; i <= N; i++)
        c[i] = client(w, i);
    char cmd[64];
    for (uint64_t i = 1; i <= N; i++) {
        snprintf(cmd, sizeof(cmd), "SET k%llu v%llu\r\n",
                 (unsigned long long)i, (unsigned long long)i);
        assert_string_equal(cmd_wait(w, c[i], cmd, 1, 2000), "+OK\r\n");
    }
    /* Every node answers reads with every write (linearizable reads). */
    for (uint64_t i = 1; i <= N; i++)
        assert_string_equal(cmd_wait(w, c[i], "MGET k1 k2 k3\r\n", 3, 2000),
                            "*3\r\n$2\r\nv1\r\n$2\r\nv2\r\n$2\r\nv3\r\n");
    /* Pipelines keep their order through forwarding: reads see the
     * session's own earlier writes. */
    assert_string_equal(cmd_wait(w, c[s.f],
                                 "SET p 1\r\nGET p\r\nINCR p\r\nPING\r\n"
                                 "INCR p\r\nGET p\r\n",
                                 6, 2000),
                        "+OK\r\n$1\r\n1\r\n:2\r\n+PONG\r\n:3\r\n$1\r\n3\r\n");
    /* QUIT behind replicated writes: their replies first, then +OK. */
    struct io_fake_conn *q = client(w, s.f);
    assert_string_equal(cmd_wait(w, q, "SET q 1\r\nINCR q\r\nQUIT\r\n", 3,
                                 2000),
                        "+OK\r\n:2\r\n+OK\r\n");
    assert_true(io_fake_closed(q));
    finish_converged(w);
}

static void write_is_answered_only_after_commit(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    /* Cut the leader off: it cannot commit, so it must not answer +OK. */
    for (int i = 1; i <= N; i++) {
        w->cut[s.leader][i] = true;
        w->cut[i][s.leader] = true;
    }
    const char *r = cmd_wait(w, s.c, "SET a 2\r\n", 1, 60);
    assert_string_equal(r, ""); /* nothing yet: not committed */
    r = cmd_wait(w, s.c, NULL, 1, 2000);
    assert_true(r[0] == '-'); /* lost leadership / timeout, never +OK */
    assert_non_null(strstr(r, "TRYAGAIN"));
    /* The other two elect a leader; the old one's write never applied. */
    memset(w->cut, 0, sizeof(w->cut));
    assert_reads_a(w, wait_leader(w, 3000));
    finish_converged(w);
}

static void leader_crash_elects_a_new_leader_that_has_every_write(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init(&s);
    struct io_fake_conn *c = client(w, s.f);
    char cmd[64];
    for (int i = 0; i < 20; i++) {
        snprintf(cmd, sizeof(cmd), "INCR n\r\n");
        const char *r = cmd_wait(w, c, cmd, 1, 2000);
        char want[16];
        snprintf(want, sizeof(want), ":%d\r\n", i + 1);
        assert_string_equal(r, want);
    }
    member_crash(w, s.leader);
    uint64_t t0 = w->now_ms;
    uint64_t l2 = wait_leader(w, 3000);
    assert_int_not_equal(l2, s.leader);
    /* Within a few election timeouts (100..200 ms here). */
    assert_true(w->now_ms - t0 < 1000);
    const char *r = cmd_wait(w, c, "INCR n\r\n", 1, 2000);
    assert_string_equal(r, ":21\r\n");
    finish_converged(w);
}

static void no_leader_gives_an_error_in_bounded_time(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init(&s);
    member_crash(w, s.leader);
    member_crash(w, s.o);
    /* f alone: no quorum, no leader.  Writes and reads fail in bounded
     * time (2 x the maximum election timeout), never hang. */
    struct io_fake_conn *c = client(w, s.f);
    run_ms(w, 300);
    const char *r = cmd_wait(w, c, "SET x 1\r\n", 1, 1000);
    assert_true(r[0] == '-');
    r = cmd_wait(w, c, "GET x\r\n", 1, 1000);
    assert_true(r[0] == '-');
    assert_non_null(strstr(r, "CLUSTERDOWN"));
    r = cmd_wait(w, c, "CLUSTER INFO\r\n", 1, 10);
    assert_non_null(strstr(r, "cluster_state:fail"));
    world_fini(w);
}

static void forwarded_write_times_out_on_a_busy_follower(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_client(&s);
    struct io_fake_conn *cf = client(w, s.f);
    w->drop_type = 2; /* forwarded commands are lost on the way */
    assert_int_equal(io_fake_send_str(cf, "SET x 1\r\n"), 0);
    /* Meanwhile the leader replicates every millisecond, so the follower
     * hears from it all the time: its deadlines must still be swept. */
    uint64_t t0 = w->now_ms;
    size_t len = 0;
    while (w->now_ms - t0 < 2000) {
        (void)io_fake_send_str(s.c, "INCR busy\r\n");
        step(w);
        io_fake_output(cf, &len);
        if (len > 0)
            break;
    }
    const char *r = io_fake_output(cf, &len);
    if (getenv("CLUSTER_TEST_DEBUG") != NULL)
        fprintf(stderr, "busy follower: after %llu ms: %s",
                (unsigned long long)(w->now_ms - t0), r);
    assert_non_null(strstr(r, "-TRYAGAIN"));
    assert_true(w->now_ms - t0 < 2 * 400 + 100);
    w->drop_type = 0;
    world_fini(w);
}

static void removed_leader_steps_down_and_can_be_added_back(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_client(&s);
    cluster_cmd_ok(w, s.c, "DELNODE", s.leader, 10);
    /* The removal commits, the old leader steps down, the other two elect
     * a leader among themselves. */
    uint64_t l2 = 0;
    for (int t = 0; t < 3000 && l2 == 0; t++) {
        step(w);
        for (uint64_t i = 1; i <= N; i++)
            if (i != s.leader && status(w, i).role == RAFT_LEADER &&
                status(w, i).members == 2)
                l2 = i;
    }
    assert_int_not_equal(l2, 0);
    assert_int_not_equal(status(w, s.leader).role, RAFT_LEADER);
    struct io_fake_conn *c2 = client(w, l2);
    assert_string_equal(cmd_wait(w, c2, "SET r 1\r\n", 1, 2000), "+OK\r\n");
    const char *r = cmd_wait(w, c2, "CLUSTER NODES\r\n", 1, 10);
    assert_null(strstr(r, s.leader == 1 ? "10.0.0.1:" : s.leader == 2
                                                        ? "10.0.0.2:"
                                                        : "10.0.0.3:"));
    /* Added back as a learner, it catches up and is promoted. */
    cluster_cmd_ok(w, c2, "ADDNODE", s.leader, 10);
    for (int t = 0; t < 5000 && !(status(w, l2).members == 3 &&
                                  status(w, s.leader).voter); t++)
        step(w);
    assert_int_equal(status(w, l2).members, 3);
    assert_true(status(w, s.leader).voter);
    finish_converged(w);
}

static void silent_links_are_redialled(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    /* Both links between the leader and f die without breaking (a long
     * partition's retransmission backoff): frames just vanish. */
    w->stale[s.leader][s.f] = w->stale[s.f][s.leader] = true;
    w->redials = 0;
    assert_string_equal(cmd_wait(w, s.c, "SET a 2\r\n", 1, 2000), "+OK\r\n");
    /* Someone expecting to hear from the other redials; f catches up. */
    for (int t = 0; t < 3000 && status(w, s.f).applied_index <
                                    status(w, s.leader).applied_index; t++)
        step(w);
    assert_true(w->redials > 0);
    finish_converged(w);
}

static void expiry_happens_only_through_the_leaders_log(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_client(&s);
    struct io_fake_conn *cf = client(w, s.f);
    assert_string_equal(cmd_wait(w, s.c, "SET t v PX 50\r\n", 1, 2000),
                        "+OK\r\n");
    assert_string_equal(cmd_wait(w, s.c, "SET keep v\r\n", 1, 2000),
                        "+OK\r\n");
    wait_converged(w, 1000);
    /* Isolate the follower: its clock passes the expiry but it never
     * deletes on its own, yet it reads the key as absent. */
    for (int i = 1; i <= N; i++) {
        w->cut[s.f][i] = true;
        w->cut[i][s.f] = true;
    }
    run_ms(w, 300);
    assert_int_equal(kv_dbsize(node_kv(w->m[s.f].n), 0), 2);
    assert_string_equal(cmd_wait(w, cf, "READONLY\r\n", 1, 10), "+OK\r\n");
    assert_string_equal(cmd_wait(w, cf, "GET t\r\n", 1, 10), "$-1\r\n");
    assert_int_equal(kv_dbsize(node_kv(w->m[s.f].n), 0), 2);
    /* The leader's cron proposed a DEL, applied by the majority. */
    assert_int_equal(kv_dbsize(node_kv(w->m[s.leader].n), 0), 1);
    memset(w->cut, 0, sizeof(w->cut));
    wait_leader(w, 3000);
    wait_converged(w, 3000);
    assert_int_equal(kv_dbsize(node_kv(w->m[s.f].n), 0), 1);
    assert_same_digest(w);
    world_fini(w);
}

static void eviction_happens_through_the_leaders_log(void **state)
{
    (void)state;
    maxmemory_bytes = 64 * 1024;
    struct scene s;
    struct world *w = scene_init(&s);
    struct io_fake_conn *c = client(w, s.f);
    char cmd[128];
    for (int i = 0; i < 3000; i++) {
        snprintf(cmd, sizeof(cmd), "SET key:%06d xxxxxxxxxxxxxxxxxxxxxxxx\r\n",
                 i);
        assert_string_equal(cmd_wait(w, c, cmd, 1, 2000), "+OK\r\n");
    }
    run_ms(w, 500); /* a few leader crons */
    wait_converged(w, 2000);
    struct kv *kv = node_kv(w->m[s.leader].n);
    /* The leader evicted through the log, every replica the same keys. */
    assert_true(kv_dbsize(kv, 0) < 3000);
    assert_true(kv_memory_used(kv) <= maxmemory_bytes);
    assert_same_digest(w);
    world_fini(w);
    maxmemory_bytes = 0;
}

static void memory_restart_rejoins_without_voting_old_state(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    restart_empty(w, s.f);
    run_ms(w, 30);
    /* It asked its peers, learned the group exists: recovering, not a
     * voter; it grants no votes and acknowledges nothing meanwhile. */
    struct cluster_status st = status(w, s.f);
    assert_true(st.recovering);
    assert_false(st.voter);
    assert_int_equal(st.applied_index, 0);
    uint64_t other = s.f % N + 1;
    assert_int_equal(vote_probe(w, other, s.f, st.term + 50), 0);
    /* The leader removes the old incarnation, adds it as a learner, it
     * catches up and is promoted. */
    rejoin_until_voter(w, s.f, 5000);
    assert_int_equal(status(w, s.f).members, 3);
    struct io_fake_conn *cf = assert_reads_a(w, s.f);
    assert_string_equal(cmd_wait(w, cf, "SET b 2\r\n", 1, 2000), "+OK\r\n");
    finish_converged(w);
}

static bool leader_sees_voter(struct world *w, uint64_t leader, uint64_t id)
{
    struct raft_status st;
    raft_status_get(node_cluster(w->m[leader].n)->raft, &st);
    const struct raft_member *m = raft_conf_find(&st.conf, id);
    return m != NULL && m->role == RAFT_VOTER;
}

/* Sim seed 42: the leader appends the promotion of a re-admitted learner,
 * the others get it, the learner does not, and the leader dies.  The
 * survivor's configuration needs the learner's vote; a learner that
 * grants votes only once it knows itself a voter would stall the group
 * for good (etcd-io/etcd#10998). */
static void promoted_learner_votes_before_it_knows(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    restart_empty(w, s.f);
    int t = 0;
    for (; t < 5000 && leader_sees_voter(w, s.leader, s.f); t++)
        step(w); /* the old incarnation's removal */
    assert_false(leader_sees_voter(w, s.leader, s.f));
    for (t = 0; t < 5000 && !leader_sees_voter(w, s.leader, s.f); t++)
        step(w);
    assert_true(leader_sees_voter(w, s.leader, s.f));
    w->cut[s.leader][s.f] = true; /* the promotion never reaches f */
    for (t = 0; t < 2000 && !leader_sees_voter(w, s.o, s.f); t++)
        step(w);
    assert_true(leader_sees_voter(w, s.o, s.f));
    assert_true(status(w, s.f).recovering);
    member_crash(w, s.leader);
    for (t = 0; t < 5000 && status(w, s.o).role != RAFT_LEADER &&
                status(w, s.f).role != RAFT_LEADER; t++)
        step(w);
    uint64_t l2 = status(w, s.o).role == RAFT_LEADER ? s.o : s.f;
    assert_int_equal(status(w, l2).role, RAFT_LEADER);
    wait_rejoined(w, s.f, 3000);
    assert_false(status(w, s.f).recovering);
    assert_keeps_a_and_writes_b(w, l2, 3000);
    world_fini(w);
}

/* Bug 6 of the simulator: a REJOIN still in flight when the restarted
 * node has been re-admitted and promoted must not make the leader (the
 * same one, or a later one) re-admit it again, which removes a healthy
 * voter first.  Here the late REJOIN arrives, then another member
 * crashes: the group must still commit with the re-admitted node. */
static void late_rejoin_case(bool new_leader)
{
    struct scene s;
    struct world *w = scene_init_written(&s);
    crash_for(w, s.f, 50);
    memset(captures, 0, sizeof(captures));
    captures[0] = (struct captured){.type = 6, .from = s.f, .to = s.leader};
    captures[1] = (struct captured){.type = 6, .from = s.f, .to = s.o};
    start_empty(w, s.f);
    rejoin_until_voter(w, s.f, 5000);
    assert_true(captures[0].got && captures[1].got);
    uint64_t to = s.leader;
    const struct captured *late = &captures[0];
    if (new_leader) {
        transfer_leadership(w, s.c, s.o, 2000);
        to = s.o;
        late = &captures[1];
    }
    cluster_recv(node_cluster(w->m[to].n), s.f, late->data, late->len);
    for (int t = 0; t < 1000; t++) {
        step(w);
        assert_int_equal(status(w, to).members, 3);
        assert_true(status(w, s.f).voter);
    }
    member_crash(w, to == s.leader ? s.o : s.leader);
    assert_keeps_a_and_writes_b(w, wait_leader(w, 3000), 3000);
    finish_converged(w);
}

static void late_rejoin_to_the_same_leader_removes_nobody(void **state)
{
    (void)state;
    late_rejoin_case(false);
}

static void late_rejoin_to_a_new_leader_removes_nobody(void **state)
{
    (void)state;
    late_rejoin_case(true);
}

/* A removal takes effect once appended: DELNODE of a live follower while
 * the third member is down would leave {leader, down member}, which can
 * never commit the removal nor anything after it.  The leader defers it
 * while it would, lets the down member's rejoin go first, and removes
 * the follower once a majority of the rest answers. */
static void removal_waits_until_the_rest_answers(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    /* Down longer than three heartbeat intervals (60 ms), shorter than
     * the longest election timeout (200 ms): silent that long, f is no
     * longer counted as answering (sim seed 2774). */
    crash_for(w, s.f, 100);
    delnode_is_deferred(&s, s.o);
    /* {leader, o} of {leader, f, o} still commits. */
    assert_string_equal(cmd_wait(w, s.c, "SET b 2\r\n", 1, 2000), "+OK\r\n");
    start_empty(w, s.f);
    for (int t = 0; t < 5000 && (status(w, s.leader).members != 2 ||
                                 status(w, s.f).recovering); t++)
        step(w);
    assert_int_equal(status(w, s.leader).members, 2);
    assert_false(status(w, s.f).recovering);
    assert_true(status(w, s.f).voter);
    assert_string_equal(cmd_wait(w, s.c, "SET c 3\r\n", 1, 2000), "+OK\r\n");
    struct io_fake_conn *cf = client(w, s.f);
    assert_string_equal(cmd_wait(w, cf, "MGET a b c\r\n", 3, 2000),
                        "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
    world_fini(w);
}

/* A voter whose link broke does not count as answering, however recently
 * it answered: a DELNODE of another voter sent right after it died must
 * wait (the removal would leave {leader, dead}, which can never commit).
 * The same rule gates promotions (sim seed 900: a learner promoted just
 * after its link broke left a group of four with two live voters). */
static void removal_waits_when_a_link_just_broke(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    member_crash(w, s.f);
    /* What the transport reports when the connection breaks. */
    cluster_peer_link(node_cluster(w->m[s.leader].n), s.f, false);
    delnode_is_deferred(&s, s.o);
    assert_string_equal(cmd_wait(w, s.c, "SET b 2\r\n", 1, 2000), "+OK\r\n");
    world_fini(w);
}

/* Sim seed 432: a re-admitted node whose promotion is in its log is a
 * voter by Raft's rules (the leader counts its acknowledgements from the
 * append on).  Here the leader dies before the node learns that the
 * promotion committed; the two left need the node's vote, which it
 * refused while it had not applied the promotion. */
static void promoted_node_votes_before_it_applies_its_promotion(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    restart_empty(w, s.f);
    for (int t = 0; t < 5000 && !status(w, s.f).voter; t++)
        step(w);
    /* The promotion is appended, not applied (nothing said it committed). */
    assert_true(status(w, s.f).voter);
    assert_true(status(w, s.f).recovering);
    member_crash(w, s.leader);
    uint64_t l2 = wait_leader(w, 3000);
    assert_int_not_equal(l2, s.leader);
    assert_keeps_a_and_writes_b(w, l2, 2000);
    assert_false(status(w, s.f).recovering);
    finish_converged(w);
}

/* Sim seed 622: CLUSTER ADDNODE of a voter whose node restarted empty
 * acknowledged the empty life as if it were the member: it took the lost
 * life's voter slot without the removal and re-add, and never left
 * recovering.  Its REJOINs are dropped here until the ADDNODE ran, so
 * only the ADDNODE could have admitted it; it must be re-admitted
 * properly afterwards. */
static void addnode_of_a_voter_does_not_admit_its_empty_life(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    crash_for(w, s.f, 50);
    w->drop_type = FRAME_REJOIN;
    start_empty(w, s.f);
    run_ms(w, 30);
    cluster_cmd_ok(w, s.c, "ADDNODE", s.f, 10);
    run_ms(w, 300);
    w->drop_type = 0;
    rejoin_until_voter(w, s.f, 5000);
    assert_int_equal(status(w, s.leader).members, 3);
    assert_reads_a(w, s.f);
    finish_converged(w);
}

/* Steps with one INCR sent to the leader per millisecond (replies
 * ignored), so its commit index keeps moving. */
static void run_writing(struct world *w, struct io_fake_conn *c, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t++) {
        assert_int_equal(io_fake_send_str(c, "INCR n\r\n"), 0);
        io_fake_output_clear(c);
        step(w);
    }
}

/* A restarted node's life X is acknowledged as a learner and answers some
 * appends, then is cut off (not caught up: no promotion) and restarts
 * again as life Z, which the leader must re-admit (its ACKs name the life
 * they are for, so Z gets a learner slot of its own, not X's with X's
 * progress).  Passes without the incarnation too (raft copes with the
 * stale progress here); it guards the second re-admission. */
static void second_life_after_a_partial_catch_up_is_readmitted(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init_written(&s);
    crash_for(w, s.f, 50);
    memset(captures, 0, sizeof(captures));
    captures[0] = (struct captured){.type = 1, .from = s.f, .to = s.leader};
    start_empty(w, s.f); /* life X */
    for (int t = 0; t < 5000 && !captures[0].got; t++)
        run_writing(w, s.c, 1);
    assert_true(captures[0].got); /* X was acknowledged and answered */
    w->cut[s.leader][s.f] = true;
    run_writing(w, s.c, 300);
    assert_true(status(w, s.f).recovering); /* never caught up */
    member_crash(w, s.f);
    member_start(w, s.f, 950 + s.f); /* life Z */
    w->cut[s.leader][s.f] = false;
    for (int t = 0; t < 5000 && (status(w, s.f).recovering ||
                                 !status(w, s.f).voter); t++)
        run_writing(w, s.c, 1);
    assert_false(status(w, s.f).recovering);
    assert_true(status(w, s.f).voter);
    assert_int_equal(status(w, s.leader).members, 3);
    assert_reads_a(w, s.f);
    finish_converged(w);
}

/* The simulator's livelock (election 50 ms: the leader redials a silent
 * peer every 200 ms, the recovering node sent REJOIN every 200 ms, each
 * right after the redial cut the link): here f's link to the leader dies
 * again right after every redial, so only a REJOIN sent when the link
 * comes back up reaches the leader; then the link heals and f must be
 * re-admitted and promoted. */
static void recovering_node_asks_again_when_its_link_comes_up(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = &s.w;
    world_init(w);
    w->link_events = true;
    scene_lead(&s);
    scene_write_a(&s);
    restart_empty(w, s.f);
    w->stale[s.f][s.leader] = true;
    size_t redials = w->redials;
    uint64_t asked = w->rejoins_to[s.leader];
    for (int t = 0; t < 3000 && w->rejoins_to[s.leader] == asked; t++) {
        step(w);
        if (w->redials != redials) /* dies again at once */
            w->stale[s.f][s.leader] = true;
        redials = w->redials;
    }
    assert_true(w->redials > 0);
    assert_true(w->rejoins_to[s.leader] > asked);
    w->stale[s.f][s.leader] = false;
    rejoin_until_voter(w, s.f, 5000);
    finish_converged(w);
}

static void restarted_node_catches_up_from_a_snapshot(void **state)
{
    (void)state;
    snapshot_entries = 8;
    struct scene s;
    struct world *w = scene_init_client(&s);
    write_counted_keys(w, s.c, 1, 40);
    member_crash(w, s.f);
    write_counted_keys(w, s.c, 41, 80);
    assert_true(status(w, s.leader).snapshot_index > 40);
    /* An address book change through the log (ADDNODE of a known id),
     * then compacted away: the snapshot must carry it. */
    uint64_t g = s.f % N + 1 == s.leader ? s.leader % N + 1 : s.f % N + 1;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "CLUSTER ADDNODE %llu 10.0.0.99:7099\r\n",
             (unsigned long long)g);
    assert_string_equal(cmd_wait(w, s.c, cmd, 1, 10), "+OK\r\n");
    write_counted_keys(w, s.c, 81, 100);
    member_start(w, s.f, 700 + s.f);
    wait_rejoined(w, s.f, 5000);
    assert_true(status(w, s.f).voter);
    /* The leader's log no longer starts at 1: the node got a snapshot. */
    assert_true(status(w, s.f).snapshots_installed >= 1);
    wait_converged(w, 2000);
    assert_same_digest(w);
    struct io_fake_conn *cf = client(w, s.f);
    assert_string_equal(cmd_wait(w, cf, "MGET n k1 k80\r\n", 3, 2000),
                        "*3\r\n$3\r\n100\r\n$1\r\n1\r\n$2\r\n80\r\n");
    const char *r = cmd_wait(w, cf, "CLUSTER NODES\r\n", 1, 10);
    assert_non_null(strstr(r, "10.0.0.99:7099"));
    world_fini(w);
    snapshot_entries = 100000;
}

/* Sim seed 640 (bug 7): each replica applies an entry at max(entry
 * timestamp, highest timestamp applied before), so that floor is part of
 * the replicated state.  A node that got its state from a snapshot must get
 * the floor with it: here it then leads with a wall clock ten minutes slow,
 * and without the floor its SET ... PX resolves to another absolute expiry
 * time than on the replicas that applied the whole log. */
static void snapshot_carries_the_timestamp_floor(void **state)
{
    (void)state;
    snapshot_entries = 8;
    struct scene s;
    struct world *w = scene_init_client(&s);
    member_crash(w, s.f);
    char cmd[64];
    /* Write until the leader's last snapshot covers its last entry, so the
     * restarted node's state comes from the snapshot alone. */
    bool covered = false;
    for (int i = 1; i <= 200 && !covered; i++) {
        snprintf(cmd, sizeof(cmd), "SET k%d %d\r\n", i, i);
        assert_string_equal(cmd_wait(w, s.c, cmd, 1, 2000), "+OK\r\n");
        run_ms(w, 20);
        struct cluster_status st = status(w, s.leader);
        covered = i > 20 && st.snapshot_index == st.applied_index;
    }
    assert_true(covered);
    wall_skew_ms[s.f] = -600000;
    member_start(w, s.f, 700 + s.f);
    wait_rejoined(w, s.f, 5000);
    assert_true(status(w, s.f).voter);
    assert_true(status(w, s.f).snapshots_installed >= 1);
    wait_converged(w, 2000);
    assert_same_digest(w);
    transfer_leadership(w, s.c, s.f, 10);
    struct io_fake_conn *cf = client(w, s.f);
    assert_string_equal(cmd_wait(w, cf, "SET t v PX 100000\r\n", 1, 2000),
                        "+OK\r\n");
    finish_converged(w);
    wall_skew_ms[s.f] = 0;
    snapshot_entries = 100000;
}

/* ---- allocation failures while applying (bug 5) ---- */

/* Fails exactly the skip-th allocation made by member `node` while armed. */
static struct {
    uint64_t node;
    long skip;
    long seen;
    bool fired;
} oom;

static bool oom_hook(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    if (oom.fired || driving == 0 || driving != oom.node)
        return false;
    if (oom.seen++ < oom.skip)
        return false;
    oom.fired = true;
    return true;
}

struct oom_tally {
    int runs;
    int stopped; /* the target stopped itself (node_failed) */
    int oom_replies_running; /* -OOM to the client, the node kept running */
};

/* One run: "SET n new" is sent to the leader (n is absent) and the
 * skip-th allocation of the leader or of a follower after that fails.
 * Whatever it hits, no replica may differ from another (sim seed 6
 * --alloc-faults: a leader answered -ERR out of memory from its apply
 * while its followers applied the SET), a definite error means the write
 * did not happen, and a node that stops is crashed like its host would.
 * Returns false once skip is past every allocation of the window. */
static bool oom_run(long skip, bool on_leader, struct oom_tally *t)
{
    struct scene s;
    struct world *w = scene_init_client(&s);
    uint64_t target = on_leader ? s.leader : s.f;
    assert_string_equal(cmd_wait(w, s.c, "SET k old\r\n", 1, 2000), "+OK\r\n");
    wait_converged(w, 2000);
    uint64_t base = status(w, s.leader).applied_index;
    memset(&oom, 0, sizeof(oom));
    oom.node = target;
    oom.skip = skip;
    cairn_alloc_set_fail_hook(oom_hook, NULL);
    io_fake_output_clear(s.c);
    driving = s.leader;
    assert_int_equal(io_fake_send_str(s.c, "SET n new\r\n"), 0);
    driving = 0;
    char reply[256] = "";
    bool stopped = false;
    for (int ms = 0; ms < 300 && !stopped; ms++) {
        step(w);
        if (w->m[s.leader].up) {
            size_t len;
            const char *o = io_fake_output(s.c, &len);
            snprintf(reply, sizeof(reply), "%s", o);
        }
        if (node_failed(w->m[target].n)) {
            stopped = true;
            member_crash(w, target);
            break;
        }
        bool done = count_replies(reply, strlen(reply)) >= 1;
        for (uint64_t i = 1; i <= N; i++)
            if (status(w, i).applied_index <= base)
                done = false;
        if (done)
            break;
    }
    cairn_alloc_set_fail_hook(NULL, NULL);
    bool fired = oom.fired;
    uint64_t l2 = wait_leader(w, 3000);
    wait_converged(w, 3000);
    assert_same_digest(w);
    const char *v = cmd_wait(w, client(w, l2), "GET n\r\n", 1, 2000);
    if (strcmp(reply, "+OK\r\n") == 0)
        assert_string_equal(v, "$3\r\nnew\r\n");
    if (strstr(reply, "OOM") != NULL || strstr(reply, "out of memory") != NULL) {
        if (strstr(reply, "may or may not") == NULL) {
            /* A definite error: nothing was applied, nothing stopped. */
            assert_string_equal(v, "$-1\r\n");
            assert_false(stopped);
            t->oom_replies_running++;
        }
    }
    t->runs++;
    t->stopped += stopped ? 1 : 0;
    world_fini(w);
    return fired;
}

static void allocation_failure_in_apply_stops_the_node(void **state)
{
    (void)state;
    for (int on_leader = 1; on_leader >= 0; on_leader--) {
        struct oom_tally t = {0};
        long skip = 0;
        while (skip < 2000 && oom_run(skip, on_leader != 0, &t))
            skip++;
        assert_true(skip < 2000);
        /* Some failure landed in the apply path and stopped the node; on
         * the leader some landed before it (parsing, proposing) and the
         * client got -OOM from a node that kept running. */
        assert_true(t.stopped > 0);
        if (on_leader)
            assert_true(t.oom_replies_running > 0);
        if (getenv("CLUSTER_TEST_DEBUG") != NULL)
            fprintf(stderr, "%s: %d runs, %d stopped, %d -OOM\n",
                    on_leader ? "leader" : "follower", t.runs, t.stopped,
                    t.oom_replies_running);
    }
}

/* ---- random faults ---- */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

#define ACKS_MAX 4096

#define PIPE_MAX 4

struct rclient {
    struct io_fake_conn *c;
    bool waiting;
    size_t n_pipe;            /* commands in the outstanding pipeline */
    bool pipe_read[PIPE_MAX]; /* GET (else INCR) */
    int64_t floor;    /* highest INCR acknowledged anywhere when it was sent */
    int64_t last_ack; /* strictly increasing per client */
};

static int64_t max_ack; /* highest INCR value acknowledged so far */
static size_t reads_checked;

/* Parses the reply at o[*off]: returns its type byte and the integer of
 * ':' or the bulk's value (0 for a nil bulk); advances *off. */
static char next_reply(const char *o, size_t *off, int64_t *val)
{
    const char *p = o + *off;
    const char *eol = strchr(p, '\n');
    assert_non_null(eol);
    char type = p[0];
    *val = 0;
    size_t next = (size_t)(eol - o) + 1;
    if (type == ':')
        *val = atoll(p + 1);
    if (type == '$' && p[1] != '-') {
        long bl = atol(p + 1);
        *val = atoll(eol + 1);
        next += (size_t)bl + 2;
    }
    *off = next;
    return type;
}

/* A client keeps one pipeline of 1..PIPE_MAX commands (INCR or GET ctr) in
 * flight and checks, in command order: every acknowledged INCR is above
 * every value seen before it (in this pipeline, or acknowledged anywhere
 * when the pipeline was sent); every GET sees at least that.  So a read
 * sees its own pipeline's earlier writes and never a later one's effect. */
static void rclient_poll(struct world *w, struct rclient *rc, uint64_t id,
                         int64_t *acks, size_t *n_acks, size_t *sent)
{
    if (!w->m[id].up) {
        rc->c = NULL;
        rc->waiting = false;
        return;
    }
    if (rc->c == NULL) {
        rc->c = client(w, id);
        rc->last_ack = 0;
    }
    if (rc->waiting) {
        size_t len;
        const char *o = io_fake_output(rc->c, &len);
        size_t got = count_replies(o, len);
        if (got < rc->n_pipe)
            return;
        assert_int_equal(got, rc->n_pipe); /* one reply each, no more */
        int64_t seen = rc->floor > rc->last_ack ? rc->floor : rc->last_ack;
        size_t off = 0;
        for (size_t i = 0; i < rc->n_pipe; i++) {
            int64_t v;
            char type = next_reply(o, &off, &v);
            if (type == '-')
                continue; /* unknown outcome */
            if (rc->pipe_read[i]) {
                assert_int_equal(type, '$');
                assert_true(v >= seen);
                seen = v;
                reads_checked++;
                continue;
            }
            assert_int_equal(type, ':');
            assert_true(v > seen);
            seen = v;
            rc->last_ack = v;
            if (v > max_ack)
                max_ack = v;
            assert_true(*n_acks < ACKS_MAX);
            acks[(*n_acks)++] = v;
        }
        io_fake_output_clear(rc->c);
        rc->waiting = false;
    }
    if (*sent + PIPE_MAX < ACKS_MAX && rnd() % 4 == 0) {
        io_fake_output_clear(rc->c);
        rc->n_pipe = 1 + rnd() % PIPE_MAX;
        rc->floor = max_ack;
        char cmds[PIPE_MAX * 16] = "";
        for (size_t i = 0; i < rc->n_pipe; i++) {
            rc->pipe_read[i] = rnd() % 3 == 0;
            strcat(cmds, rc->pipe_read[i] ? "GET ctr\r\n" : "INCR ctr\r\n");
            if (!rc->pipe_read[i])
                (*sent)++;
        }
        assert_int_equal(io_fake_send_str(rc->c, cmds), 0);
        rc->waiting = true;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void log_to_stderr(void *ctx, enum cairn_log_level level,
                          const char *msg)
{
    (void)ctx;
    (void)level;
    fprintf(stderr, "cairn: %s\n", msg);
}

static void one_random_run(uint64_t seed)
{
    rnd_state = seed * 0x9E3779B97F4A7C15ull + 1;
    max_ack = 0;
    reads_checked = 0;
    /* Small snapshot intervals in half the runs: restarted nodes then
     * catch up by InstallSnapshot under the same faults. */
    snapshot_entries = seed % 2 == 0 ? 32 + (int64_t)(seed % 64) : 100000;
    if (getenv("CLUSTER_TEST_LOG") != NULL) {
        cairn_log_set_level(CAIRN_LOG_NOTICE);
        cairn_log_set_sink(log_to_stderr, NULL);
    }
    struct world w;
    world_init(&w);
    static int64_t acks[ACKS_MAX];
    size_t n_acks = 0, sent = 0;
    struct rclient cl[N + 1];
    memset(cl, 0, sizeof(cl));
    uint64_t restart_at[N + 1] = {0};
    uint64_t heal_at = 0;
    for (int t = 0; t < 4000; t++) {
        bool calm = true;
        for (uint64_t i = 1; i <= N; i++)
            if (!w.m[i].up || status(&w, i).recovering)
                calm = false;
        if (calm && heal_at == 0 && rnd() % 1500 == 0) {
            uint64_t v = 1 + rnd() % N;
            member_crash(&w, v);
            restart_at[v] = w.now_ms + 100 + rnd() % 400;
        }
        if (calm && heal_at == 0 && rnd() % 1000 == 0) {
            uint64_t v = 1 + rnd() % N;
            for (int i = 1; i <= N; i++)
                w.cut[v][i] = w.cut[i][v] = true;
            heal_at = w.now_ms + 50 + rnd() % 400;
        }
        if (calm && rnd() % 1500 == 0) {
            /* Hand leadership over, as SIGTERM does. */
            for (uint64_t i = 1; i <= N; i++) /* one may crash above */
                if (w.m[i].up && status(&w, i).role == RAFT_LEADER)
                    (void)io_fake_send_str(client(&w, i),
                                           "CLUSTER TRANSFER\r\n");
        }
        if (rnd() % 50 == 0) {
            /* Keys with short TTLs: expiry only through the leader's log
             * must keep the replicas identical. */
            uint64_t v = 1 + rnd() % N;
            char cmd[64];
            snprintf(cmd, sizeof(cmd), "SET t%llu x PX %llu\r\n",
                     (unsigned long long)(rnd() % 50),
                     (unsigned long long)(1 + rnd() % 300));
            if (w.m[v].up)
                (void)io_fake_send_str(client(&w, v), cmd);
        }
        if (heal_at != 0 && w.now_ms >= heal_at) {
            memset(w.cut, 0, sizeof(w.cut));
            heal_at = 0;
        }
        for (uint64_t i = 1; i <= N; i++) {
            if (!w.m[i].up && restart_at[i] != 0 && w.now_ms >= restart_at[i]) {
                member_start(&w, i, seed * 10 + i + w.now_ms);
                restart_at[i] = 0;
            }
            rclient_poll(&w, &cl[i], i, acks, &n_acks, &sent);
        }
        step(&w);
    }
    /* Heal everything and let it settle. */
    memset(w.cut, 0, sizeof(w.cut));
    for (uint64_t i = 1; i <= N; i++)
        if (!w.m[i].up)
            member_start(&w, i, seed * 10 + i + w.now_ms);
    for (int t = 0; t < 10000; t++) {
        bool ok = true;
        for (uint64_t i = 1; i <= N; i++)
            if (status(&w, i).recovering || !status(&w, i).voter ||
                status(&w, i).members != N)
                ok = false;
        if (ok)
            break;
        step(&w);
    }
    uint64_t leader = wait_leader(&w, 5000);
    struct io_fake_conn *c = client(&w, leader);
    const char *r = cmd_wait(&w, c, "GET ctr\r\n", 1, 3000);
    int64_t final = r[0] == '$' && r[1] != '-' ? atoll(strchr(r, '\n') + 1) : 0;
    /* Every acknowledged INCR is in the final value, each exactly once. */
    qsort(acks, n_acks, sizeof(acks[0]), cmp_i64);
    for (size_t i = 1; i < n_acks; i++)
        assert_true(acks[i] > acks[i - 1]);
    if (n_acks > 0)
        assert_true(final >= acks[n_acks - 1]);
    assert_true(final >= (int64_t)n_acks);
    assert_true(final <= (int64_t)sent);
    wait_converged(&w, 3000);
    for (uint64_t i = 1; i <= N; i++) {
        struct cluster_status st = status(&w, i);
        if (!st.voter)
            fprintf(stderr, "seed %llu node %llu: role %u term %llu leader "
                    "%llu recovering %d members %u applied %llu\n",
                    (unsigned long long)seed, (unsigned long long)i, st.role,
                    (unsigned long long)st.term,
                    (unsigned long long)st.leader_id, st.recovering,
                    st.members, (unsigned long long)st.applied_index);
        assert_true(st.voter);
    }
    assert_same_digest(&w);
    if (getenv("CLUSTER_TEST_DEBUG") != NULL)
        fprintf(stderr, "seed %llu: sent %zu acked %zu final %lld reads %zu\n",
                (unsigned long long)seed, sent, n_acks, (long long)final,
                reads_checked);
    world_fini(&w);
    snapshot_entries = 100000;
}

static void random_faults_keep_every_acknowledged_write(void **state)
{
    (void)state;
    uint64_t seeds = getenv("CLUSTER_SEEDS") != NULL
                         ? (uint64_t)atoll(getenv("CLUSTER_SEEDS"))
                         : 16;
    uint64_t first = getenv("CLUSTER_SEED") != NULL
                         ? (uint64_t)atoll(getenv("CLUSTER_SEED"))
                         : 1;
    for (uint64_t s = first; s < first + seeds; s++)
        one_random_run(s);
}

static void cluster_commands_in_redis_formats(void **state)
{
    (void)state;
    struct scene s;
    struct world *w = scene_init(&s);
    struct io_fake_conn *c = client(w, s.f);
    const char *r = cmd_wait(w, c, "CLUSTER MYID\r\n", 1, 10);
    char want[128];
    snprintf(want, sizeof(want), "$40\r\n%040llx\r\n",
             (unsigned long long)s.f);
    assert_string_equal(r, want);
    r = cmd_wait(w, c, "CLUSTER NODES\r\n", 1, 10);
    assert_non_null(strstr(r, "myself,slave"));
    assert_non_null(strstr(r, "master - 0 0 1 connected 0-16383"));
    r = cmd_wait(w, c, "CLUSTER INFO\r\n", 1, 10);
    assert_non_null(strstr(r, "cluster_state:ok"));
    assert_non_null(strstr(r, "cluster_known_nodes:3"));
    /* Cluster-aware clients: -MOVED with Redis's slot (foo: 12182, the
     * {hash tag} decides) and the leader's client address. */
    assert_string_equal(cmd_wait(w, c, "CONFIG SET cluster-redirect yes\r\n",
                                 1, 10),
                        "+OK\r\n");
    snprintf(want, sizeof(want), "-MOVED 12182 10.0.0.%llu:%llu\r\n",
             (unsigned long long)s.leader,
             (unsigned long long)(7000 + s.leader));
    assert_string_equal(cmd_wait(w, c, "SET foo 1\r\n", 1, 10), want);
    snprintf(want, sizeof(want), "-MOVED 12182 10.0.0.%llu:%llu\r\n",
             (unsigned long long)s.leader,
             (unsigned long long)(7000 + s.leader));
    assert_string_equal(cmd_wait(w, c, "SET {foo}bar 1\r\n", 1, 10), want);
    struct io_fake_conn *cl = client(w, s.leader);
    assert_string_equal(cmd_wait(w, cl, "SET a 1\r\n", 1, 2000), "+OK\r\n");
    r = cmd_wait(w, cl, "INFO replication\r\n", 1, 10);
    assert_non_null(strstr(r, "role:master"));
    assert_non_null(strstr(r, "peer0:id="));
    assert_non_null(strstr(r, "lag="));
    world_fini(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_nodes_form_and_write_through_every_node),
        cmocka_unit_test(write_is_answered_only_after_commit),
        cmocka_unit_test(leader_crash_elects_a_new_leader_that_has_every_write),
        cmocka_unit_test(no_leader_gives_an_error_in_bounded_time),
        cmocka_unit_test(forwarded_write_times_out_on_a_busy_follower),
        cmocka_unit_test(removed_leader_steps_down_and_can_be_added_back),
        cmocka_unit_test(silent_links_are_redialled),
        cmocka_unit_test(expiry_happens_only_through_the_leaders_log),
        cmocka_unit_test(eviction_happens_through_the_leaders_log),
        cmocka_unit_test(memory_restart_rejoins_without_voting_old_state),
        cmocka_unit_test(late_rejoin_to_the_same_leader_removes_nobody),
        cmocka_unit_test(late_rejoin_to_a_new_leader_removes_nobody),
        cmocka_unit_test(removal_waits_until_the_rest_answers),
        cmocka_unit_test(removal_waits_when_a_link_just_broke),
        cmocka_unit_test(promoted_node_votes_before_it_applies_its_promotion),
        cmocka_unit_test(addnode_of_a_voter_does_not_admit_its_empty_life),
        cmocka_unit_test(second_life_after_a_partial_catch_up_is_readmitted),
        cmocka_unit_test(recovering_node_asks_again_when_its_link_comes_up),
        cmocka_unit_test(promoted_learner_votes_before_it_knows),
        cmocka_unit_test(restarted_node_catches_up_from_a_snapshot),
        cmocka_unit_test(snapshot_carries_the_timestamp_floor),
        cmocka_unit_test(allocation_failure_in_apply_stops_the_node),
        cmocka_unit_test(cluster_commands_in_redis_formats),
        cmocka_unit_test(random_faults_keep_every_acknowledged_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
