/*
 * test_cluster_single.c: a replicated group of one voter (cluster-peers
 * naming only itself, durability memory) acknowledges its writes.  Its
 * commit happens in the same turn as the proposal, which once lost every
 * reply ("-TRYAGAIN no answer from the leader in time") although the write
 * was applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "it.h"

static void single_voter_acknowledges_writes(void **state)
{
    (void)state;
    struct cluster_proc cp;
    assert_int_equal(cluster_proc_start(&cp, 1, 1, false, NULL), 0);
    assert_int_equal(cluster_proc_wait_leader(&cp, 10000), 0);
    struct resp_client c;
    assert_int_equal(cluster_proc_connect(&cp, 0, &c, 5000), 0);
    for (int k = 1; k <= 50; k++) {
        const char *r = resp_client_call(&c, "SET single:key v");
        assert_non_null(r);
        assert_string_equal(r, "+OK\r\n");
        r = resp_client_call(&c, "INCR single:n");
        assert_non_null(r);
        char want[32];
        snprintf(want, sizeof(want), ":%d\r\n", k);
        assert_string_equal(r, want);
    }
    const char *r = resp_client_call(&c, "GET single:key");
    assert_non_null(r);
    assert_string_equal(r, "$1\r\nv\r\n");
    resp_client_close(&c);
    assert_int_equal(cluster_proc_stop(&cp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_voter_acknowledges_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
