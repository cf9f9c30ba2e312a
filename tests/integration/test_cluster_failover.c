/*
 * test_cluster_failover.c: kill -9 the leader of a three-node cluster
 * (durability memory, 127.0.0.1) under a write load, then restart it empty.
 *
 * 1. Four client connections in this process write distinct keys in a
 *    bounded loop (one request in flight per connection, replies taken as
 *    poll() reports them).  Every "+OK" is an acknowledged write; a write
 *    that got an error, a timeout or a broken connection is "unknown" (it
 *    may or may not be applied); after an error reply the client pauses
 *    RETRY_PAUSE_MS before its next write (as a real client would), after
 *    a broken connection it moves on to another live node.  After a first
 *    batch of acknowledgements the leader is killed with SIGKILL; the test
 *    measures the time from the kill to the first acknowledgement of a
 *    write sent after it (told apart by sequence number: a millisecond
 *    clock cannot), asserts only a generous liveness bound
 *    (FAILOVER_BOUND_MS), and then checks through a surviving node that
 *    every acknowledged write is there.  A reply nobody asked for (bytes
 *    left after a connection's one reply) fails the test: it would shift
 *    every later acknowledgement.  CAIRN_IT_TRACE=1 prints a timeline.
 * 2. The killed node restarts empty (memory mode; the cluster snapshots
 *    every 64 entries, so it must catch up from an installed snapshot, which
 *    its log must say).  While it rejoins, every
 *    INFO replication sample of it must be consistent with "never a voter
 *    with lost state": whenever it reports voter:1 it holds at least the
 *    log the cluster had committed before it restarted (last_index).  It
 *    must end as a voter, and after the writes stop and every node has the
 *    same applied_index, all three replicas hold the same keys and values
 *    (SCAN + GET over READONLY connections).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <poll.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "core/error.h"
#include "it.h"

#define NODES 3
#define CLIENTS 4
#define SEQ_MAX 4000              /* writes per client, at most */
#define ACKS_BEFORE_KILL 100      /* per client */
#define ACKS_AFTER_FAILOVER 100   /* per client, after the first one */
#define LEADER_WAIT_MS 10000
#define FAILOVER_BOUND_MS 10000   /* liveness only, not a performance goal */
#define LOAD_PHASE_MS 20000       /* hard bound on each load phase */
#define CLIENT_TIMEOUT_MS 3000
#define RETRY_PAUSE_MS 10         /* a client's pause after an error reply */

enum wstate { W_NONE = 0, W_ACKED, W_UNKNOWN };

struct writer {
    struct resp_client c;
    bool open;
    int node;
    int seq;       /* next sequence number */
    bool inflight;
    long long sent_ms;
    long long retry_ms; /* after an error: no new request before this */
    int seq_at_kill;    /* first sequence number sent after the kill */
    unsigned char st[SEQ_MAX];
};

static struct cluster_proc cl;
static struct writer w[CLIENTS];
static int killed = -1;
static int first_node = -1;
static long long first_sent_ms;
static int errs_tryagain, errs_clusterdown, errs_conn;
static char last_err[128];             /* index of the killed leader */
static long long commit_before_restart = -1;

static int setup(void **state)
{
    (void)state;
    /* Frequent snapshots: the leaders' logs are compacted, so the empty
     * restarted node must catch up from an installed snapshot. */
    static const char *const extra[] = {"--election-timeout-ms", "300",
                                        "--snapshot-entries", "64", NULL};
    return cluster_proc_start(&cl, NODES, NODES, false, extra);
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < CLIENTS; i++)
        if (w[i].open)
            resp_client_close(&w[i].c);
    (void)cluster_proc_stop(&cl); /* no-op after every_node_exited_cleanly */
    return 0;
}

/* CAIRN_IT_TRACE=1 prints every request and reply with its time. */
static bool tracing(void)
{
    return getenv("CAIRN_IT_TRACE") != NULL;
}

static void writer_drop(struct writer *x)
{
    if (x->inflight)
        x->st[x->seq - 1] = W_UNKNOWN;
    x->inflight = false;
    if (x->open)
        resp_client_close(&x->c);
    x->open = false;
    x->node = (x->node + 1) % NODES;
    x->retry_ms = cluster_proc_now_ms() + RETRY_PAUSE_MS;
}

/* Sends the writer's next SET, (re)connecting to a live node first. */
static void writer_send(int id, struct writer *x)
{
    if (!x->open) {
        for (int tries = 0; tries < NODES; tries++) {
            if (cluster_proc_node_up(&cl, x->node))
                break;
            x->node = (x->node + 1) % NODES;
        }
        if (cluster_proc_connect(&cl, x->node, &x->c, CLIENT_TIMEOUT_MS) != 0) {
            resp_client_close(&x->c);
            x->node = (x->node + 1) % NODES;
            return;
        }
        x->open = true;
    }
    if (x->seq >= SEQ_MAX)
        return;
    char line[96];
    snprintf(line, sizeof(line), "SET fo:%d:%d v%d:%d", id, x->seq, id, x->seq);
    x->seq++;
    x->inflight = true;
    x->sent_ms = cluster_proc_now_ms();
    if (tracing())
        fprintf(stderr, "%lld send %s to node %d\n", x->sent_ms, line,
                x->node + 1);
    if (resp_client_send_line(&x->c, line) != 0)
        writer_drop(x);
}

/* Takes one reply of a writer whose socket is readable. */
static void writer_recv(struct writer *x, long long kill_ms,
                        long long *first_after_kill_ms)
{
    struct buf r;
    buf_init(&r, 0);
    int rc = resp_client_read(&x->c, &r);
    if (tracing())
        fprintf(stderr, "%lld recv client %d seq %d rc %d %s\n",
                cluster_proc_now_ms(), (int)(x - w), x->seq - 1, rc,
                r.len ? resp_client_show(r.data, r.len) : "");
    if (rc == 0 && x->c.in.len > 0) {
        /* One request in flight has one reply: more bytes are a reply
         * nobody asked for, which would shift every later acknowledgement. */
        char got[256];
        snprintf(got, sizeof(got), "%s", resp_client_show(r.data, r.len));
        fail_msg("connection to node %d: after the reply %s to SET fo:%d:%d "
                 "there are %zu more bytes: %s", x->node + 1, got, (int)(x - w),
                 x->seq - 1, x->c.in.len,
                 resp_client_show(x->c.in.data, x->c.in.len));
    }
    if (rc == 0 && r.len == 5 && memcmp(r.data, "+OK\r\n", 5) == 0) {
        x->st[x->seq - 1] = W_ACKED;
        x->inflight = false;
        /* sent after the kill (by sequence: the ms clock cannot tell) */
        if (kill_ms > 0 && x->seq - 1 >= x->seq_at_kill &&
            *first_after_kill_ms < 0) {
            *first_after_kill_ms = cluster_proc_now_ms();
            first_node = x->node;
            first_sent_ms = x->sent_ms;
        }
    } else if (rc == 0 && r.len > 0 && r.data[0] == '-') {
        x->st[x->seq - 1] = W_UNKNOWN; /* -TRYAGAIN / -CLUSTERDOWN */
        x->inflight = false;
        x->retry_ms = cluster_proc_now_ms() + RETRY_PAUSE_MS;
        errs_tryagain += memcmp(r.data, "-TRYAGAIN", 9) == 0;
        errs_clusterdown += memcmp(r.data, "-CLUSTERDOWN", 12) == 0;
        snprintf(last_err, sizeof(last_err), "%s",
                 resp_client_show(r.data, r.len));
        if (memcmp(r.data, "-TRYAGAIN", 9) != 0 &&
            memcmp(r.data, "-CLUSTERDOWN", 12) != 0)
            fail_msg("unexpected write error %s",
                     resp_client_show(r.data, r.len));
    } else {
        errs_conn++;
        writer_drop(x); /* closed, timed out or not RESP: unknown */
    }
    buf_free(&r);
}

static int acked(const struct writer *x)
{
    int n = 0;
    for (int s = 0; s < x->seq; s++)
        n += x->st[s] == W_ACKED;
    return n;
}

/* Runs the load until every writer has `want` more acknowledgements than at
 * the start (counting only those after the first post-kill one when
 * kill_ms > 0), or the phase bound passes.  Returns the first post-kill
 * acknowledgement time (or -1). */
static long long load(int want, long long kill_ms)
{
    int base[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        base[i] = acked(&w[i]);
    long long first = -1;
    long long end = cluster_proc_now_ms() + LOAD_PHASE_MS;
    while (cluster_proc_now_ms() < end) {
        bool done = true;
        for (int i = 0; i < CLIENTS; i++) {
            if (first >= 0 || kill_ms == 0) {
                if (acked(&w[i]) < base[i] + want)
                    done = false;
            } else {
                done = false;
                base[i] = acked(&w[i]);
            }
        }
        if (done)
            break;
        struct pollfd pfd[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            if (!w[i].inflight && cluster_proc_now_ms() >= w[i].retry_ms)
                writer_send(i, &w[i]);
            pfd[i].fd = w[i].inflight ? w[i].c.fd : -1;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }
        (void)poll(pfd, CLIENTS, 50);
        long long now = cluster_proc_now_ms();
        for (int i = 0; i < CLIENTS; i++) {
            if (pfd[i].fd < 0)
                continue;
            if (pfd[i].revents != 0 || w[i].c.in.len > 0)
                writer_recv(&w[i], kill_ms, &first);
            else if (now - w[i].sent_ms > CLIENT_TIMEOUT_MS)
                writer_drop(&w[i]);
        }
    }
    return first;
}

static void stop_load(void)
{
    for (int i = 0; i < CLIENTS; i++) {
        if (w[i].inflight) {
            /* Give the last request its reply (bounded by the timeout). */
            long long f = -1;
            writer_recv(&w[i], 0, &f);
        }
        if (w[i].open)
            resp_client_close(&w[i].c);
        w[i].open = false;
        w[i].inflight = false;
    }
}

/* Every acknowledged write has its value on node `via` (linearizable GET). */
static void check_acked_present(int via, int *unknown_present, int *unknown)
{
    struct resp_client c;
    assert_int_equal(cluster_proc_connect(&cl, via, &c, IT_IO_TIMEOUT_MS), 0);
    int missing = 0;
    *unknown_present = 0;
    *unknown = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (int s = 0; s < w[i].seq; s++) {
            if (w[i].st[s] == W_NONE)
                continue;
            char line[64], want[64], v[32];
            snprintf(line, sizeof(line), "GET fo:%d:%d", i, s);
            int vl = snprintf(v, sizeof(v), "v%d:%d", i, s);
            snprintf(want, sizeof(want), "$%d\r\n%s\r\n", vl, v);
            const char *r = resp_client_call(&c, line);
            assert_non_null(r);
            bool present = strcmp(r, want) == 0;
            if (!present && strcmp(r, "$-1\r\n") != 0)
                fail_msg("%s -> %s", line, resp_client_show(r, strlen(r)));
            if (w[i].st[s] == W_ACKED && !present) {
                if (missing++ < 10)
                    fprintf(stderr, "acknowledged write lost: fo:%d:%d\n",
                            i, s);
            } else if (w[i].st[s] == W_UNKNOWN) {
                (*unknown)++;
                *unknown_present += present;
            }
        }
    }
    resp_client_close(&c);
    assert_int_equal(missing, 0);
}

static void kill_leader_under_load_loses_no_acknowledged_write(void **state)
{
    (void)state;
    int leader = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    assert_true(leader >= 0);
    for (int i = 0; i < CLIENTS; i++)
        w[i].node = i % NODES;
    (void)load(ACKS_BEFORE_KILL, 0);
    for (int i = 0; i < CLIENTS; i++)
        assert_true(acked(&w[i]) >= ACKS_BEFORE_KILL);
    /* The load may have moved leadership (a busy machine delays
     * heartbeats): kill whoever leads now. */
    leader = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    assert_true(leader >= 0);
    char info[4096];
    assert_int_equal(cluster_proc_call(&cl, leader, "INFO replication", info,
                                       sizeof(info)), 0);
    long long term_before = cluster_proc_info_int(info, "raft_term");
    long long kill_ms = cluster_proc_now_ms();
    cluster_proc_node_kill(&cl, leader);
    killed = leader;
    for (int i = 0; i < CLIENTS; i++)
        w[i].seq_at_kill = w[i].seq;
    if (tracing())
        fprintf(stderr, "%lld killed node %d\n", cluster_proc_now_ms(),
                leader + 1);
    long long first = load(ACKS_AFTER_FAILOVER, kill_ms);
    stop_load();
    printf("# after the kill: %d -TRYAGAIN, %d -CLUSTERDOWN, %d connection "
           "errors/timeouts; last error %s\n", errs_tryagain, errs_clusterdown,
           errs_conn, last_err);
    for (int i = 0; i < CLIENTS; i++)
        printf("#   client %d: node %d, %d sent, %d acknowledged\n", i,
               w[i].node + 1, w[i].seq, acked(&w[i]));
    int next = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    if (next < 0)
        fail_msg("no leader among the survivors within %d ms", LEADER_WAIT_MS);
    assert_true(next != leader);
    if (first < 0)
        fail_msg("no write was acknowledged within %d ms of killing the leader",
                 LOAD_PHASE_MS);
    long long failover = first - kill_ms;
    int total = 0;
    for (int i = 0; i < CLIENTS; i++)
        total += acked(&w[i]);
    assert_int_equal(cluster_proc_call(&cl, next, "INFO replication", info,
                                       sizeof(info)), 0);
    printf("# failover: killed leader node %d (term %lld), node %d leads "
           "(term %lld); first write acknowledged %lld ms after the kill "
           "(sent %lld ms after it, through node %d); %d writes "
           "acknowledged\n", leader + 1, term_before, next + 1,
           cluster_proc_info_int(info, "raft_term"), failover,
           first_sent_ms - kill_ms, first_node + 1, total);
    assert_true(failover <= FAILOVER_BOUND_MS);
    int unknown_present, unknown;
    check_acked_present(next, &unknown_present, &unknown);
    printf("# every acknowledged write present; %d unknown writes, %d of them "
           "applied\n", unknown, unknown_present);
}

/* One INFO replication sample of node i; false if it did not answer. */
static bool sample(int i, long long *voter, long long *recovering,
                   long long *last, long long *applied)
{
    char info[4096];
    if (cluster_proc_call(&cl, i, "INFO replication", info,
                          sizeof(info)) != 0 ||
        strstr(info, "node_id:") == NULL)
        return false;
    *voter = cluster_proc_info_int(info, "voter");
    *recovering = cluster_proc_info_int(info, "recovering");
    *last = cluster_proc_info_int(info, "last_index");
    *applied = cluster_proc_info_int(info, "applied_index");
    return true;
}

static void restarted_empty_node_rejoins_as_learner_and_catches_up(void **state)
{
    (void)state;
    if (killed < 0)
        fail_msg("the failover test did not run or failed before the kill");
    int leader = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    assert_true(leader >= 0);
    char info[4096];
    assert_int_equal(cluster_proc_call(&cl, leader, "INFO replication", info,
                                       sizeof(info)), 0);
    commit_before_restart = cluster_proc_info_int(info, "commit_index");
    long long term_before = cluster_proc_info_int(info, "raft_term");
    assert_true(commit_before_restart > 0);
    assert_int_equal(cluster_proc_node_start(&cl, killed, NULL), 0);
    /* Samples until it is a caught-up voter; each must be safe. */
    int samples = 0, recovering_seen = 0;
    bool done = false;
    long long end = cluster_proc_now_ms() + LEADER_WAIT_MS;
    while (!done && cluster_proc_now_ms() < end) {
        long long voter, rec, last, applied;
        if (sample(killed, &voter, &rec, &last, &applied)) {
            samples++;
            recovering_seen += rec == 1 || voter == 0;
            if (voter == 1 && last < commit_before_restart)
                fail_msg("restarted node is a voter with last_index %lld < "
                         "commit index %lld it lost (recovering:%lld)", last,
                         commit_before_restart, rec);
            done = voter == 1 && rec == 0 && applied >= commit_before_restart;
        }
        server_proc_pause_ms(5);
    }
    if (!done)
        fail_msg("restarted node not a caught-up voter after %d ms",
                 LEADER_WAIT_MS);
    assert_true(cluster_proc_node_up(&cl, leader));
    assert_int_equal(cluster_proc_call(&cl, leader, "INFO replication", info,
                                       sizeof(info)), 0);
    /* Re-admission takes a HELLO probe, a REJOIN round and a catch-up, so
     * the first samples (taken right after it answers PING) must show it. */
    if (recovering_seen == 0)
        fail_msg("no INFO sample showed the restarted node recovering or "
                 "not a voter");
    if (!cluster_proc_log_has(cl.node[killed].proc.log_path,
                              "installed the leader's snapshot", 1000))
        fail_msg("the restarted node did not catch up from a snapshot (log %s)",
                 cl.node[killed].proc.log_path);
    printf("# restart: %d samples, %d showed recovering/non-voter; "
           "term %lld -> %lld\n", samples, recovering_seen, term_before,
           cluster_proc_info_int(info, "raft_term"));
    /* Writes keep flowing to all three; then the replicas must match. */
    struct resp_client c;
    assert_int_equal(
        cluster_proc_connect(&cl, killed, &c, IT_IO_TIMEOUT_MS), 0);
    for (int k = 0; k < 50; k++) {
        char line[64];
        snprintf(line, sizeof(line), "SET after:%d x%d", k, k);
        it_expect(&c, line, "+OK\r\n");
    }
    resp_client_close(&c);
    long long idx = cluster_proc_wait_applied_equal(&cl, commit_before_restart,
                                                    LEADER_WAIT_MS);
    assert_true(idx > 0);
    struct buf d[NODES];
    long keys[NODES];
    for (int i = 0; i < NODES; i++) {
        buf_init(&d[i], 0);
        keys[i] = cluster_proc_dump(&cl, i, &d[i]);
    }
    for (int i = 0; i < NODES; i++) {
        assert_true(keys[i] > 0);
        assert_int_equal(keys[i], keys[0]);
        assert_int_equal(d[i].len, d[0].len);
        assert_memory_equal(d[i].data, d[0].data, d[0].len);
    }
    for (int i = 0; i < NODES; i++)
        buf_free(&d[i]);
    printf("# replicas match after the restart: %ld keys at applied index "
           "%lld\n", keys[0], idx);
}

/* Last test: every node still running exits 0 on SIGTERM and none died on
 * its own during the tests (an assertion or a sanitizer report in a
 * follower would otherwise go unnoticed: the polls skip dead nodes). */
static void every_node_exited_cleanly(void **state)
{
    (void)state;
    assert_int_equal(cluster_proc_stop(&cl), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_leader_under_load_loses_no_acknowledged_write),
        cmocka_unit_test(
            restarted_empty_node_rejoins_as_learner_and_catches_up),
        cmocka_unit_test(every_node_exited_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
