/*
 * test_cluster_basic.c: a three-node cluster of real daemons (durability
 * memory, 127.0.0.1) forms with exactly one leader, takes writes through
 * every node, and every node's linearizable reads see every write; at the
 * end the three replicas hold the same keys and values.
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
        cmocka_unit_test(every_node_exited_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
