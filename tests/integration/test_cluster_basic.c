/*
 * test_cluster_basic.c: a three-node cluster of real daemons (durability
 * memory, 127.0.0.1) forms with exactly one leader, takes writes through
 * every node, and every node's linearizable reads see every write; the
 * three replicas hold the same keys and values.  Then SIGTERM on the
 * leader hands leadership over before the exit, and with one node of three
 * left, writes and linearizable reads get -CLUSTERDOWN/-TRYAGAIN, not a
 * hang.
 *
 * Every wait is a bounded poll of a condition (cluster_proc); every daemon
 * is stopped by the teardown, or at exit if a test failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "it.h"

#define NODES 3
#define LEADER_WAIT_MS 10000
#define KEYS_PER_NODE 100

static struct cluster_proc cl;

static int setup(void **state)
{
    (void)state;
    return cluster_proc_start(&cl, NODES, NODES, false, NULL);
}

static int teardown(void **state)
{
    (void)state;
    (void)cluster_proc_stop(&cl); /* no-op after every_node_exited_cleanly */
    return 0;
}

static void one_leader_agreed_by_every_node(void **state)
{
    (void)state;
    int leader = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    assert_true(leader >= 0);
    /* Exactly one node calls itself master, in INFO and CLUSTER NODES. */
    int masters = 0;
    char info[4096], nodes[4096];
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(cluster_proc_call(&cl, i, "INFO replication", info,
                                           sizeof(info)), 0);
        bool is_master = strstr(info, "role:master\r\n") != NULL;
        masters += is_master;
        assert_int_equal(is_master, i == leader);
        assert_int_equal(cluster_proc_info_int(info, "leader_id"), leader + 1);
        assert_int_equal(cluster_proc_info_int(info, "recovering"), 0);
        assert_int_equal(cluster_proc_info_int(info, "voter"), 1);
        assert_int_equal(cluster_proc_call(&cl, i, "CLUSTER NODES", nodes,
                                           sizeof(nodes)), 0);
        assert_non_null(strstr(nodes, "myself,"));
        /* the leader owns every slot, in Redis's CLUSTER NODES format */
        char want[128];
        snprintf(want, sizeof(want), "%040d 127.0.0.1:%d@%d %smaster",
                 leader + 1, cl.node[leader].port,
                 cl.node[leader].port + 10000, i == leader ? "myself," : "");
        if (strstr(nodes, want) == NULL)
            fail_msg("node %d CLUSTER NODES lacks \"%s\":\n%s", i + 1, want,
                     nodes);
        if (strstr(nodes, " 0-16383") == NULL)
            fail_msg("no slot range in CLUSTER NODES of node %d", i + 1);
    }
    assert_int_equal(masters, 1);
    assert_int_equal(cluster_proc_call(&cl, leader, "CLUSTER INFO", info,
                                       sizeof(info)), 0);
    assert_non_null(strstr(info, "cluster_state:ok\r\n"));
    assert_non_null(strstr(info, "cluster_known_nodes:3\r\n"));
}

static void writes_through_every_node_are_read_everywhere(void **state)
{
    (void)state;
    assert_true(cluster_proc_wait_leader(&cl, LEADER_WAIT_MS) >= 0);
    struct resp_client c[NODES];
    for (int i = 0; i < NODES; i++)
        assert_int_equal(
            cluster_proc_connect(&cl, i, &c[i], IT_IO_TIMEOUT_MS), 0);
    char line[128], want[128];
    for (int k = 0; k < KEYS_PER_NODE; k++) {
        for (int i = 0; i < NODES; i++) {
            snprintf(line, sizeof(line), "SET basic:%d:%d v%d-%d", i, k, i, k);
            it_expect(&c[i], line, "+OK\r\n");
            /* linearizable by default: the next read on ANY node sees it */
            int j = (i + 1 + k) % NODES;
            snprintf(line, sizeof(line), "GET basic:%d:%d", i, k);
            char v[32];
            int vl = snprintf(v, sizeof(v), "v%d-%d", i, k);
            snprintf(want, sizeof(want), "$%d\r\n%s\r\n", vl, v);
            it_expect(&c[j], line, want);
        }
    }
    /* A write through a follower is also visible to INCR semantics. */
    for (int i = 0; i < NODES; i++)
        it_expect(&c[i], "INCR basic:counter",
                  i == 0 ? ":1\r\n" : i == 1 ? ":2\r\n" : ":3\r\n");
    for (int i = 0; i < NODES; i++) {
        it_expect(&c[i], "GET basic:counter", "$1\r\n3\r\n");
        it_expect(&c[i], "DEL basic:missing", ":0\r\n");
        resp_client_close(&c[i]);
    }
}

static void replicas_hold_identical_data(void **state)
{
    (void)state;
    assert_true(cluster_proc_wait_leader(&cl, LEADER_WAIT_MS) >= 0);
    long long idx = cluster_proc_wait_applied_equal(&cl, 1, LEADER_WAIT_MS);
    assert_true(idx > 0);
    struct buf d[NODES];
    long keys[NODES];
    for (int i = 0; i < NODES; i++) {
        buf_init(&d[i], 0);
        keys[i] = cluster_proc_dump(&cl, i, &d[i]);
    }
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(keys[i], NODES * KEYS_PER_NODE + 1);
        assert_int_equal(d[i].len, d[0].len);
        assert_memory_equal(d[i].data, d[0].data, d[0].len);
    }
    printf("# replicas match: %ld keys at applied index %lld\n", keys[0], idx);
    for (int i = 0; i < NODES; i++)
        buf_free(&d[i]);
}

/* SIGTERM on the leader: it hands leadership over before exiting (exit
 * status 0, the log says so), and the others have a leader at once. */
static void sigterm_on_the_leader_hands_leadership_over(void **state)
{
    (void)state;
    int leader = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    assert_true(leader >= 0);
    /* server_proc removes the log of a clean exit: keep a link to it. */
    char kept[160];
    snprintf(kept, sizeof(kept), "%s.term", cl.node[leader].proc.log_path);
    assert_int_equal(link(cl.node[leader].proc.log_path, kept), 0);
    long long t0 = cluster_proc_now_ms();
    int st = server_proc_stop(&cl.node[leader].proc, IT_STOP_TIMEOUT_MS);
    long long t1 = cluster_proc_now_ms();
    int next = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    long long t2 = cluster_proc_now_ms();
    bool handed = cluster_proc_log_has(kept, "leadership handed over", 0);
    unlink(kept);
    assert_int_equal(st, 0);
    assert_true(next >= 0 && next != leader);
    assert_true(handed);
    printf("# SIGTERM: node %d exited in %lld ms, node %d leads %lld ms "
           "later\n", leader + 1, t1 - t0, next + 1, t2 - t1);
    struct resp_client c;
    assert_int_equal(cluster_proc_connect(&cl, next, &c, IT_IO_TIMEOUT_MS), 0);
    it_expect(&c, "SET basic:after-term yes", "+OK\r\n");
    it_expect(&c, "GET basic:counter", "$1\r\n3\r\n");
    resp_client_close(&c);
}

/* Without a quorum (one node of three left) a write and a linearizable
 * read get -CLUSTERDOWN or -TRYAGAIN, never a hang (the daemon documents
 * 2 x election-timeout-ms; the client waits IT_IO_TIMEOUT_MS). */
static void no_quorum_answers_errors_not_hangs(void **state)
{
    (void)state;
    int leader = cluster_proc_wait_leader(&cl, LEADER_WAIT_MS);
    assert_true(leader >= 0);
    int survivor = -1;
    for (int i = 0; i < NODES; i++)
        if (i != leader && cluster_proc_node_up(&cl, i))
            survivor = i;
    assert_true(survivor >= 0);
    cluster_proc_node_kill(&cl, leader);
    struct resp_client c;
    assert_int_equal(
        cluster_proc_connect(&cl, survivor, &c, IT_IO_TIMEOUT_MS), 0);
    static const char *const cmds[] = {"SET basic:noquorum x", "GET basic:0:0",
                                       "INCR basic:counter"};
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
        long long t0 = cluster_proc_now_ms();
        const char *r = resp_client_call(&c, cmds[k]);
        long long dt = cluster_proc_now_ms() - t0;
        if (r == NULL)
            fail_msg("%s: no answer within %d ms", cmds[k], IT_IO_TIMEOUT_MS);
        if (strncmp(r, "-CLUSTERDOWN", 12) != 0 &&
            strncmp(r, "-TRYAGAIN", 9) != 0)
            fail_msg("%s without a quorum -> %s", cmds[k],
                     resp_client_show(r, strlen(r)));
        printf("# no quorum: %s answered %.*s in %lld ms\n", cmds[k],
               (int)strcspn(r, " \r"), r, dt);
    }
    resp_client_close(&c);
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
        cmocka_unit_test(one_leader_agreed_by_every_node),
        cmocka_unit_test(writes_through_every_node_are_read_everywhere),
        cmocka_unit_test(replicas_hold_identical_data),
        cmocka_unit_test(sigterm_on_the_leader_hands_leadership_over),
        cmocka_unit_test(no_quorum_answers_errors_not_hangs),
        cmocka_unit_test(every_node_exited_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
