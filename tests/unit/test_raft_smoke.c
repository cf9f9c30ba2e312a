/* test_raft_smoke.c: temporary smoke test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "raft_harness.h"

static void smoke(void **state)
{
    (void)state;
    struct rh c;
    struct rh_opts o;
    rh_opts_default(&o, 3, 1);
    rh_init(&c, &o);
    int l = rh_wait_leader(&c, 5000);
    assert_true(l >= 0);
    uint64_t idx = 0;
    assert_int_equal(rh_propose_u64(&c, (uint32_t)l, 42, &idx), 0);
    assert_true(rh_run_until_applied(&c, idx, 5000));
    printf("leader %d idx %llu viol %s\n", l, (unsigned long long)idx, c.violation ? c.violation : "-");
    assert_null(c.violation);
    rh_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(smoke)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
