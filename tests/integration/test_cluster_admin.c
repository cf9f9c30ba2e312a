/*
 * test_cluster_admin.c: membership changes by admin command on real
 * daemons (127.0.0.1, durability memory).
 *
 * Three founders know only each other.  A fourth node starts with every
 * node (itself included) in its cluster-peers: it finds the group formed
 * and waits to be admitted, holding no vote.  `CLUSTER ADDNODE 4
 * 127.0.0.1:<port>` on the leader adds it as a learner; it must catch up
 * (same applied_index, same keys and values as the others) and be promoted
 * to voter (INFO replication on the leader: role=voter; on the node:
 * voter:1).  `CLUSTER DELNODE 4` then removes it: the leader no longer
 * lists it as a member, and the three founders keep serving writes after
 * it is stopped.  ADDNODE on a follower is refused.
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

#define NODES 4
#define FOUNDERS 3
#define KEYS 200
#define WAIT_MS 10000

static struct cluster_proc cl;

static int setup(void **state)
{
    (void)state;
    return cluster_proc_start_founders(&cl, NODES, FOUNDERS, FOUNDERS, false,
                                       NULL);
}

static int teardown(void **state)
{
    (void)state;
    (void)cluster_proc_stop(&cl); /* no-op after every_node_exited_cleanly */
    return 0;
}

static void write_keys(int via, const char *prefix, int count)
{
    struct resp_client c;
    assert_int_equal(cluster_proc_connect(&cl, via, &c, IT_IO_TIMEOUT_MS), 0);
    for (int k = 0; k < count; k++) {
        char line[64];
        snprintf(line, sizeof(line), "SET %s:%d v%d", prefix, k, k);
        it_expect(&c, line, "+OK\r\n");
    }
    resp_client_close(&c);
}

/* The leader's INFO replication line for peer id 4, copied into out;
 * false if there is none. */
static bool peer4_line(int leader, char *out, size_t out_len)
{
    char info[4096];
    out[0] = '\0';
    if (cluster_proc_call(&cl, leader, "INFO replication", info,
                          sizeof(info)) != 0)
        return false;
    const char *p = strstr(info, ":id=4,");
    if (p == NULL)
        return false;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, out_len, "%.*s", (int)n, p);
    return true;
}

static void addnode_learner_catches_up_is_promoted_then_delnode(void **state)
{
    (void)state;
    int leader = cluster_proc_wait_leader(&cl, WAIT_MS);
    assert_true(leader >= 0);
    write_keys(leader, "before", KEYS);
    assert_int_equal(cluster_proc_node_start(&cl, 3, NULL), 0);
    /* Not admitted yet: no leader known, not a voter. */
    char info[4096], line[160], reply[256];
    assert_int_equal(cluster_proc_call(&cl, 3, "INFO replication", info,
                                       sizeof(info)), 0);
    assert_int_not_equal(cluster_proc_info_int(info, "voter"), 1);
    int follower = (leader + 1) % FOUNDERS;
    snprintf(line, sizeof(line), "CLUSTER ADDNODE 4 127.0.0.1:%d",
             cl.node[3].port);
    assert_int_equal(cluster_proc_call(&cl, follower, line, reply,
                                       sizeof(reply)), 0);
    if (reply[0] != '-')
        fail_msg("ADDNODE on a follower: %s", reply);
    assert_int_equal(cluster_proc_call(&cl, leader, line, reply,
                                       sizeof(reply)), 0);
    if (strcmp(reply, "+OK\r\n") != 0)
        fail_msg("%s -> %s", line, resp_client_show(reply, strlen(reply)));
    /* Promoted once caught up: every node, node 4 included, agrees. */
    long long start = cluster_proc_now_ms();
    bool voter = false;
    bool learner_seen = false;
    char peer[256];
    while (!voter && cluster_proc_now_ms() - start < WAIT_MS) {
        if (peer4_line(leader, peer, sizeof(peer))) {
            learner_seen |= strstr(peer, "role=learner") != NULL;
            voter = strstr(peer, "role=voter") != NULL &&
                    cluster_proc_call(&cl, 3, "INFO replication", info,
                                      sizeof(info)) == 0 &&
                    cluster_proc_info_int(info, "voter") == 1;
        }
        if (!voter)
            server_proc_pause_ms(10);
    }
    if (!voter) {
        cluster_proc_print_state(&cl);
        fail_msg("node 4 not a voter %d ms after ADDNODE", WAIT_MS);
    }
    printf("# node 4 promoted %lld ms after ADDNODE (learner state %s); %s\n",
           cluster_proc_now_ms() - start, learner_seen ? "seen" : "not sampled",
           peer);
    assert_true(cluster_proc_wait_leader(&cl, WAIT_MS) == leader);
    write_keys(3, "after", KEYS / 4); /* through the new node */
    long long idx = cluster_proc_wait_applied_equal(&cl, 1, WAIT_MS);
    assert_true(idx > 0);
    struct buf d[NODES];
    long keys[NODES];
    for (int i = 0; i < NODES; i++) {
        buf_init(&d[i], 0);
        keys[i] = cluster_proc_dump(&cl, i, &d[i]);
    }
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(keys[i], KEYS + KEYS / 4);
        assert_int_equal(d[i].len, d[0].len);
        assert_memory_equal(d[i].data, d[0].data, d[0].len);
    }
    for (int i = 0; i < NODES; i++)
        buf_free(&d[i]);
    printf("# four replicas match: %ld keys at applied index %lld\n", keys[0],
           idx);
    /* DELNODE: no longer a member; the founders go on without it. */
    assert_int_equal(cluster_proc_call(&cl, leader, "CLUSTER DELNODE 4", reply,
                                       sizeof(reply)), 0);
    if (strcmp(reply, "+OK\r\n") != 0)
        fail_msg("CLUSTER DELNODE 4 -> %s",
                 resp_client_show(reply, strlen(reply)));
    start = cluster_proc_now_ms();
    bool gone = false;
    while (!gone && cluster_proc_now_ms() - start < WAIT_MS) {
        gone = !peer4_line(leader, peer, sizeof(peer)) ||
               strstr(peer, "role=none") != NULL;
        if (!gone)
            server_proc_pause_ms(10);
    }
    if (!gone)
        fail_msg("node 4 still a member after DELNODE: %s", peer);
    long long del_ms = cluster_proc_now_ms() - start;
    int st = server_proc_stop(&cl.node[3].proc, IT_STOP_TIMEOUT_MS);
    (void)st;
    leader = cluster_proc_wait_leader(&cl, WAIT_MS);
    assert_true(leader >= 0);
    write_keys((leader + 1) % FOUNDERS, "removed", 20);
    printf("# DELNODE 4 took effect in %lld ms; founders keep serving\n",
           del_ms);
}

/* Last test: every node still running exits 0 on SIGTERM and none died on
 * its own during the tests (an assertion or a sanitizer report in a
 * follower would otherwise go unnoticed: the polls skip dead nodes). */
/* A client naming the leader itself in ADDNODE or PROMOTE gets an error;
 * the leader stays up and keeps serving (it once crashed on an assertion). */
static void addnode_of_the_leader_itself_is_refused(void **state)
{
    (void)state;
    int leader = cluster_proc_wait_leader(&cl, WAIT_MS);
    assert_true(leader >= 0);
    char line[160], reply[256];
    snprintf(line, sizeof(line), "CLUSTER ADDNODE %d 127.0.0.1:%d", leader + 1,
             cl.node[leader].port);
    assert_int_equal(cluster_proc_call(&cl, leader, line, reply,
                                       sizeof(reply)), 0);
    if (reply[0] != '-')
        fail_msg("%s -> %s", line, resp_client_show(reply, strlen(reply)));
    snprintf(line, sizeof(line), "CLUSTER ADDNODE %d", leader + 1);
    assert_int_equal(cluster_proc_call(&cl, leader, line, reply,
                                       sizeof(reply)), 0);
    if (reply[0] != '-')
        fail_msg("%s -> %s", line, resp_client_show(reply, strlen(reply)));
    snprintf(line, sizeof(line), "CLUSTER PROMOTE %d", leader + 1);
    assert_int_equal(cluster_proc_call(&cl, leader, line, reply,
                                       sizeof(reply)), 0);
    if (reply[0] != '-')
        fail_msg("%s -> %s", line, resp_client_show(reply, strlen(reply)));
    assert_true(cluster_proc_node_up(&cl, leader));
    write_keys(leader, "after-self-add", 10);
}

static void every_node_exited_cleanly(void **state)
{
    (void)state;
    assert_int_equal(cluster_proc_stop(&cl), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addnode_learner_catches_up_is_promoted_then_delnode),
        cmocka_unit_test(addnode_of_the_leader_itself_is_refused),
        cmocka_unit_test(every_node_exited_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
